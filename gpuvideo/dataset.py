"""``VideoDataset``: the Keras side every generator shares.

It owns batching, the epoch order, seeding, sharding, decoding through one
:class:`~gpuvideo.decode.Decoder`, the bad-input report and the lifetime of
files, threads and pipelines. A subclass only says which samples exist
(:meth:`~VideoDataset._request`: the video and frame indices of sample ``i``),
what their targets are (:meth:`~VideoDataset._targets`), what replaces an
unusable sample (:meth:`~VideoDataset._replace`) and how a decoded clip
becomes model input (:meth:`~VideoDataset._postprocess`).

A batch is read in four steps: sample ids from the epoch order
(:meth:`batch_info` shows them), requests to the decoder (one per sample, or
grouped by :meth:`~VideoDataset._plan`), per-sample post-processing and random
transform (in parallel threads), and targets.
"""
from __future__ import annotations

import contextlib
import functools
import logging
import math
import os

import keras
import numpy as np

from .decode import Request, make_decoder, select
from .errors import BadInputReport, VideoError
from .ops import array_module, is_device_array, output_dtype, store, to_host
from .options import AugmentOptions, BatchOptions, DecodeOptions, FrameOptions
from . import state as _state
from .index_cache import open_cache
from .lifetime import ClosedOnDelete
from .buffers import BatchBuffers
from .parallel import ReadAhead, ThreadMap
from .probe import index_videos
from .rows import PredictionRows, SampleInfo
from .sharding import resolve_shard, shard
from .state import EndlessIterator
from .videoinfo import VideoInfo

log = logging.getLogger("gpuvideo")

#: attributes holding option objects (:mod:`gpuvideo.options`); their fields read as generator attributes
_OPTION_GROUPS = ("frames", "decoding", "batching", "augment", "clip", "motion")


class VideoDataset(EndlessIterator, PredictionRows, keras.utils.PyDataset, ClosedOnDelete):
    """Batches ``x`` ``(B,) + sample_shape`` in the ``dtype`` option's type, float32 by default (CuPy with
    ``device_batches`` on the GPU backend), and
    ``y`` from :meth:`_targets` (batches are ``x`` alone when it returns None).

    ``len(ds) = ceil(samples / batch_size)`` (with sharding, ``samples`` is the
    largest shard's size, so every worker runs the same number of steps). The
    last batch is completed from the start of the epoch order, or shorter with
    ``complete_last_batch=False``. Subclasses call :meth:`_start` once their samples exist.
    ``row_info``/``rows`` (:mod:`gpuvideo.rows`) map the rows of ``model.predict`` to files and frames.
    """

    def __init__(self, frames: FrameOptions, decoding: DecodeOptions, batching: BatchOptions,
                 augment: AugmentOptions, workers: int = 1, use_multiprocessing: bool = False,
                 max_queue_size: int = 10):
        super().__init__(workers=workers, use_multiprocessing=use_multiprocessing, max_queue_size=max_queue_size)
        self.frames, self.decoding, self.batching, self.augment = frames, decoding, batching, augment
        self.backend = select.resolve_backend(decoding.backend)
        if self.backend == "gpu" and use_multiprocessing:
            raise ValueError("backend='gpu' cannot run in forked workers (CUDA does not survive fork): use "
                             "use_multiprocessing=False with workers=N threads, or backend='cpu'")
        if decoding.device_batches and self.backend == "gpu" and \
                hasattr(augment.transformation, "apply_transform"):
            raise ValueError("ImageDataGenerator transformations work on host arrays: use device_batches=False "
                             "or a callable (clip, rng) -> clip that accepts CuPy arrays")
        self.shard_index, self.num_shards = resolve_shard(batching.shard_index, batching.num_shards)
        seed = batching.seed
        self.seed = int(np.random.SeedSequence().entropy % (2 ** 63)) if seed is None else int(seed)
        self.report = BadInputReport()

    def _index_files(self, paths: list[str], index_cache, progress: bool, count_by_decoding: bool = False) -> dict:
        """``{path: VideoInfo or VideoError}`` (:func:`gpuvideo.probe.index_videos` with this generator's
        ``drop_truncated``); problems of usable files go to the report's warnings, logged once per run."""
        found = index_videos(paths, open_cache(index_cache), count_by_decoding=count_by_decoding, progress=progress,
                             drop_truncated=self.decoding.drop_truncated, report_warnings=False)
        for path, res in found.items():
            if isinstance(res, VideoInfo) and res.warnings:
                self.report.add_warning(path, "; ".join(res.warnings))
        return found

    @property
    def warnings(self) -> dict[str, str]:
        """``{path: problems}`` of usable videos whose index found something wrong (truncated, lost frames)."""
        return self.report.warnings()

    # ------------------------------------------------------------------ per-dataset state
    def _start(self, num_samples: int) -> None:
        """Shard ``num_samples`` samples, reset the epoch and the decoder (also for derived generators)."""
        ids, self.epoch_samples = shard(list(range(num_samples)), self.shard_index, self.num_shards)
        if not ids:
            raise ValueError(f"shard {self.shard_index} of {self.num_shards} holds no sample "
                             f"({num_samples} in all)")
        self._ids = np.asarray(ids, np.int64)
        self._decoder = None
        self._post = ThreadMap(self.decoding.decode_threads or min(self.batch_size, _cpus()), "gpuvideo-post")
        self._ahead = ReadAhead()
        self._buffers = BatchBuffers()
        self._transform = self.augment.function
        self.epoch = 0
        self._current = self._offset = 0
        self._order = self._epoch_order()

    @property
    def decoder(self):
        """The decoder (made on first use, in the process that uses it)."""
        if self._decoder is None:
            size = self.frames.target_shape or self._native_size()
            self._decoder = make_decoder(self.backend, size, self._decode_channels(), self.frames.interpolation,
                                         self._decode_options(), self.batch_size, self._keep_recent(), self.report)
        return self._decoder

    def _decode_options(self) -> DecodeOptions:
        return self.decoding.replace(decode_threads=self.decoding.decode_threads
                                     or min(self.batch_size, _cpus()))

    def _epoch_order(self) -> np.ndarray:
        n = len(self._ids)
        if not self.batching.shuffle:
            return np.arange(n)
        return np.random.default_rng([self.seed, self.epoch]).permutation(n)

    def on_epoch_end(self):
        """Next epoch: new order (when shuffling) and new random transforms."""
        self.epoch += 1
        self._offset = 0
        self._order = self._epoch_order()

    def __len__(self) -> int:
        """Batches left in this epoch: :attr:`batches_per_epoch`, less those consumed before a
        restored state (:meth:`set_state`)."""
        return self.batches_per_epoch - self._offset

    @property
    def batches_per_epoch(self) -> int:
        return math.ceil(self.epoch_samples / self.batch_size)

    # ------------------------------------------------------------------ resuming (see gpuvideo.state)
    def get_state(self) -> dict:
        """Where this generator stands: a small JSON-able dict (seed, epoch, position, shard and what
        identifies the data); ``position`` counts the batches ``next(gen)`` has handed out. Under
        ``model.fit`` use :class:`gpuvideo.ResumeCallback`, which counts the batches the model received."""
        return _state.describe(self, self.epoch, self._offset + self._current)

    def set_state(self, state: dict) -> None:
        """Continue from ``state`` (from :meth:`get_state`): the rest of its epoch, then the next ones, exactly
        as the run that saved it. Raises ``ValueError`` naming what does not match this generator."""
        self.epoch, self._offset = _state.check(self, state)
        self._current = 0
        self._order = self._epoch_order()

    @property
    def batch_size(self) -> int:
        return self.batching.batch_size

    @property
    def bad_files(self):
        """Unusable videos: ``path in gen.bad_files``, ``gen.bad_files.items()`` -> :class:`~gpuvideo.errors.BadVideo`."""
        return self.report.bad_files

    @property
    def bad_frames(self):
        """Undecodable frames: ``gen.bad_frames.items()`` -> ``(path, frame)`` pairs."""
        return self.report.bad_frames

    def __getattr__(self, name):
        """Options read as attributes, as keras_video had them: ``gen.nb_frames``, ``gen.target_shape``..."""
        if not name.startswith("_") and name not in _OPTION_GROUPS:
            for group in _OPTION_GROUPS:
                opts = self.__dict__.get(group)
                if opts is not None and name in opts.__dataclass_fields__:
                    return getattr(opts, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # ------------------------------------------------------------------ which samples a batch holds
    def sample_at(self, position: int, order: np.ndarray | None = None) -> int:
        """Sample id at ``position`` of this epoch's order (wrapping around this shard's samples)."""
        order = self._order if order is None else order
        return self._slot_sample(int(self._ids[order[position % len(self._ids)]]))

    def _slot_sample(self, slot: int) -> int:
        """The sample that entry ``slot`` of ``_ids`` serves this epoch: itself, unless a subclass's ids are
        slots mapped to samples per epoch (class balancing, :mod:`gpuvideo.balance`). Batches fix their
        sample ids when they are asked for (:meth:`_batch`), so read-ahead keeps the epoch's draws."""
        return slot

    def _batch_index(self, index: int) -> int:
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"batch {index} out of range for {n} batches")
        return index

    def _batch(self, index: int) -> tuple[list[int], dict]:
        """Sample ids of batch ``index`` of this epoch, and the state its reading carries: the epoch, its
        order (fixed here, so a batch read ahead is the batch of the epoch it was asked in), and where
        replacements are drawn from."""
        first = (index + self._offset) * self.batch_size
        size = self.batch_size
        if not self.batching.complete_last_batch:
            size = min(size, self.epoch_samples - first)
        state = {"epoch": self.epoch, "order": self._order, "next_pos": first + size, "drawn": 0}
        return [self.sample_at(first + k, state["order"]) for k in range(size)], state

    def batch_info(self, index: int) -> list[SampleInfo]:
        """Files and frames of batch ``index`` in this epoch, in batch order (known bad samples replaced)."""
        ids, state = self._batch(self._batch_index(index))
        return [self.sample_info(self._substitute(i, state)) for i in ids]

    def sample_info(self, sample: int) -> SampleInfo:
        info, frames = self._request(sample)
        return SampleInfo(int(sample), info.path, np.asarray(frames, np.int64), self._label_name(sample))

    def decoded_clip(self, sample: int):
        """The decoded uint8 clip of ``sample`` ``(frames, h, w, c)``, before rescale or motion images;
        raises :class:`~gpuvideo.errors.VideoError` when it cannot be decoded."""
        result = self.decoder.decode([Request(*self._request(sample))])[0]
        if isinstance(result, Exception):
            raise result
        return result

    # ------------------------------------------------------------------ batches
    def __getitem__(self, index: int):
        index = self._batch_index(index)
        if self._requests is not None:
            self._requests.append(index)
        depth = self._prefetch_depth()
        if not depth:
            return self._read(*self._batch(index))
        # read-ahead decodes the next batches in the background; this thread turns the decoded clips of this
        # one into the batch meanwhile (float conversion, augmentation), so the two overlap even when the
        # consumer itself waits on nothing else
        key = (self.epoch, self._offset)
        upcoming = [((*key, j), functools.partial(self._fetch, *self._batch(j)))
                    for j in range(index + 1, min(len(self), index + 1 + depth))]
        return self._finish(*self._ahead.get((*key, index), lambda: self._fetch(*self._batch(index)), upcoming))

    def _prefetch_depth(self) -> int:
        p = self.decoding.prefetch
        if p is not None:
            return p
        return 1 if self.workers <= 1 and not self.use_multiprocessing else 0

    def _read(self, ids: list[int], state: dict):
        return self._finish(*self._fetch(ids, state))

    def _fetch(self, ids: list[int], state: dict) -> tuple[list[int], dict, dict, list[int]]:
        """The decoding half of a batch: ``(ids, state, {slot: uint8 clip}, failed slots)``; samples already
        known to be unusable are replaced first."""
        ids = list(ids)
        for s in range(len(ids)):
            ids[s] = self._substitute(ids[s], state)
        clips, failed = self._decode_slots(ids, list(range(len(ids))))
        return ids, state, clips, failed

    def _finish(self, ids: list[int], state: dict, clips: dict, failed: list[int]):
        """The batch from :meth:`_fetch`'s result: ``x`` or ``(x, y)``."""
        x, ids = self._load(ids, state, clips, failed)
        y = self._targets(ids)
        if y is None:
            return x
        return x, (array_module(x).asarray(y) if is_device_array(x) else y)

    def _load(self, ids: list[int], state: dict, clips: dict, failed: list[int]):
        """x for samples ``ids`` from decoded ``clips``; the ``failed`` slots are replaced and decoded again
        until every slot holds a usable clip. Returns (x, the ids actually used)."""
        x = None
        while True:
            if clips:
                if x is None:
                    x = self._allocate(len(ids), next(iter(clips.values())))
                with self._device():
                    self._postprocess_many(clips, x)
                    if self._transform is not None:
                        self._post.map(lambda s: self._augment(x, ids[s], s, state["epoch"]), list(clips))
            if not failed:
                return x, ids
            for s in failed:
                ids[s] = self._substitute(ids[s], state)
            clips, failed = self._decode_slots(ids, failed)

    def _substitute(self, sample: int, state: dict) -> int:
        """``sample``, or its replacement when it is already known to be unusable."""
        tried = 0
        while self._is_bad(sample):
            tried += 1
            sample = self._replace(sample, tried, state)
        return sample

    def _decode_slots(self, ids: list[int], slots: list[int]) -> tuple[dict, list[int]]:
        """Decode the samples in ``slots``: ``({slot: uint8 clip}, slots that failed)``."""
        plan = self._plan([ids[s] for s in slots])
        results = self.decoder.decode([req for req, _ in plan])
        clips, failed = {}, []
        for (req, uses), res in zip(plan, results):
            for k, positions in uses:
                clip = self._usable(ids[slots[k]], req, res, positions)
                if clip is None:
                    failed.append(slots[k])
                else:
                    clips[slots[k]] = self._placed(clip)
        return clips, failed

    def _plan(self, ids: list[int]) -> list[tuple[Request, list[tuple[int, np.ndarray | None]]]]:
        """Requests for samples ``ids``: ``[(request, [(k, positions)])]`` where sample ``ids[k]`` is
        ``result[positions]`` (None: the whole result). Default: one request per sample."""
        return [(Request(*self._request(i)), [(k, None)]) for k, i in enumerate(ids)]

    def _usable(self, sample: int, request: Request, result, positions):
        """The uint8 clip of ``sample`` from a decode ``result``, or None when it must be replaced."""
        if isinstance(result, Exception):
            if self.decoding.on_error == "raise":
                raise result
            self._mark_bad(sample, request, result)
            return None
        return result if positions is None else result[positions]

    def _postprocess_many(self, clips: dict, x) -> None:
        """``x[slot] = postprocess(clip)`` for every ``{slot: clip}``, clips in parallel threads."""
        self._post.map(lambda item: self._postprocess(item[1], x[item[0]]), list(clips.items()))

    def _augment(self, x, sample: int, slot: int, epoch: int) -> None:
        """The random transform of ``sample``, drawn from ``(seed, epoch, sample)``, applied to ``x[slot]``
        (in float32, then stored in ``x``'s dtype)."""
        clip = x[slot] if x.dtype == np.float32 else x[slot].astype(np.float32)
        store(self._transform(clip, np.random.default_rng([self.seed, epoch, sample])), x[slot])

    def _allocate(self, n: int, example):
        xp = array_module(example)
        shape, dtype = (n,) + self._sample_shape(example), output_dtype(self.frames.dtype, xp)
        return self._buffers.empty(shape, dtype) if xp is np else xp.empty(shape, dtype)

    def _keep_on_device(self) -> bool:
        return self.decoding.device_batches and self.backend == "gpu"

    def _placed(self, clip):
        """``clip`` where batches live: on the decoding GPU with device batches, else in host memory."""
        if not self._keep_on_device():
            return to_host(clip)
        if is_device_array(clip):
            return clip
        import cupy

        with self._device():
            return cupy.asarray(clip)

    def _device(self):
        """The decoding GPU as CuPy's current device (device batches), else a no-op context."""
        if not self._keep_on_device():
            return contextlib.nullcontext()
        import cupy

        return cupy.cuda.Device(getattr(self.decoder, "device_id", None) or 0)

    # ------------------------------------------------------------------ subclass hooks
    def _request(self, sample: int):
        """``(VideoInfo, frame indices)`` of ``sample``."""
        raise NotImplementedError

    def _targets(self, ids: list[int]):
        """``y`` for samples ``ids``, or None (batches are ``x`` alone)."""
        return None

    def _label_name(self, sample: int) -> str | None:
        return None

    def _is_bad(self, sample: int) -> bool:
        """True when ``sample`` is known to be unusable (it is then replaced before decoding)."""
        return self.report.has_file(self._request(sample)[0].path)

    def _mark_bad(self, sample: int, request: Request, error: Exception) -> None:
        self.report.add_file(request.info.path, "decode", str(getattr(error, "reason", error)))

    def _replace(self, sample: int, tried: int, state: dict) -> int:
        """The ``tried``-th replacement of an unusable ``sample`` (raise ``VideoError`` when none is left)."""
        raise VideoError(self._request(sample)[0].path, "unusable and nothing replaces it")

    def _decode_channels(self) -> int:
        """Channels the decoder prepares (the optical-flow generator keeps RGB)."""
        return self.frames.nb_channel

    def _keep_recent(self) -> int:
        """Frames the CPU decoder keeps after each request for the next one (see :mod:`~gpuvideo.decode.pyav_decoder`)."""
        return 0

    def _native_size(self):
        raise ValueError("target_shape is required")

    def _sample_shape(self, clip) -> tuple:
        """Shape of one sample of ``x`` given a decoded uint8 ``clip``."""
        return tuple(clip.shape)

    def _postprocess(self, clip, out) -> None:
        """Decoded uint8 ``clip`` -> model input written into ``out``: ``clip * rescale`` in ``out``'s dtype."""
        store(clip, out, self.frames.rescale)

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Release files, threads and pipelines (made again on demand); also done on deletion."""
        decoder, self._decoder = getattr(self, "_decoder", None), None
        if decoder is not None:
            decoder.close()
        for helper in (getattr(self, "_post", None), getattr(self, "_ahead", None)):
            if helper is not None:
                helper.close()
        if getattr(self, "_buffers", None) is not None:
            self._buffers.clear()


def _cpus() -> int:
    return os.cpu_count() or 1
