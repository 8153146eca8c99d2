"""``VideoFrameGenerator``: keras_video's generator, same parameters, without its bugs.

Data path: :mod:`~gpuvideo.discovery` finds files, :mod:`~gpuvideo.probe`
indexes them (cached), :mod:`~gpuvideo.splits` splits them, :mod:`~gpuvideo.sampling`
chooses frame indices, and :class:`~gpuvideo.dataset.VideoDataset` decodes and batches.
"""
from __future__ import annotations

import copy
import logging
from dataclasses import dataclass

import numpy as np

from .cache import DEFAULT_CACHE_BYTES
from .dataset import VideoDataset
from .discovery import find_files
from .errors import VideoError
from .options import AugmentOptions, BatchOptions, ClipOptions, DecodeOptions, FrameOptions
from .probe import VideoInfo, index_videos, open_cache
from .sampling import clip_indices
from .splits import split_files

log = logging.getLogger("gpuvideo")


@dataclass(frozen=True)
class Sample:
    """One clip: ``indices`` (int64) of frames to read from ``path``, class number ``label``."""
    path: str
    label: int
    indices: np.ndarray


class VideoFrameGenerator(VideoDataset):
    """Batches of ``nb_frames`` frames per video, labelled by class folder.

    Positional parameters, order and defaults are keras_video 1.0.14's:

    - ``rescale``: factor applied to uint8 pixels (default 1/255 -> [0, 1]).
    - ``nb_frames``: frames per clip.
    - ``classes``: class names (sorted copy; discovered from the pattern when None).
    - ``batch_size``; ``use_frame_cache``: keep decoded clips under ``cache_bytes``.
    - ``target_shape``: (width, height) of the output frames.
    - ``shuffle``: new sample order each epoch.
    - ``transformation``: ``ImageDataGenerator``-like or callable ``(clip, rng) -> clip``;
      one random draw per clip, applied to every frame (training split only).
    - ``split_test`` / ``split_val``: per-class fractions (``split`` is an alias of ``split_val``).
    - ``nb_channel``: 3 (RGB) or 1 (grey, BT.601 luma).
    - ``glob_pattern``: path pattern with one ``{classname}``.
    - ``use_headers``: True counts frames by demuxing packets (fast, corrects the
      header); False counts them by decoding every frame (slow, for broken files).

    Keyword-only additions: ``seed`` (splits, order, transforms), ``sampling``
    (``'uniform'`` or ``'legacy'``), ``on_error`` (``'skip'``: log, report in
    ``bad_files`` and replace with a same-class video; ``'raise'``),
    ``interpolation`` (``'linear'`` or ``'area'``), ``cache_bytes``,
    ``index_cache`` (True: ``~/.cache/gpuvideo/index.json``; a path; or None for
    memory only), ``decode_threads`` (clips decoded in parallel per batch),
    ``progress`` (tqdm bars), ``complete_last_batch`` (default True: every batch
    has ``batch_size`` clips; False: the last one is shorter, for ``model.predict``),
    ``shard_index``/``num_shards`` (this worker's share of the samples,
    ``shard_index::num_shards`` of them; by default read from ``TF_CONFIG`` under
    a multi-worker strategy; needs ``seed``), ``backend`` (``'auto'``: GPU when
    CUDA, DALI and NVDEC are all present, else CPU, the reason logged once;
    ``'cpu'``: PyAV/FFmpeg; ``'gpu'``: DALI + NVDEC, files NVDEC cannot decode
    fall back to PyAV; ``'dali-cpu'``: DALI's CPU decoder, for tests),
    ``device_batches`` (with ``backend='gpu'``: batches stay on the GPU as CuPy
    arrays; see :mod:`gpuvideo.adapters`), ``device_id`` (the GPU; default the
    launcher's ``LOCAL_RANK``, else CuPy's current device), ``prefetch`` (batches
    read ahead in a background thread; default 1 on the GPU backend with one
    Keras worker, else 0), ``dtype`` of ``x`` (``'float32'``, ``'float16'``,
    ``'bfloat16'``, or ``'uint8'``: the decoded values without rescale, for a model
    that rescales itself), and Keras's ``workers``,
    ``use_multiprocessing``, ``max_queue_size``. The options are validated once,
    in :mod:`gpuvideo.options`.

    Output of ``gen[i]``: ``x`` ``(batch_size, nb_frames, height, width, nb_channel)`` (float32 by default),
    ``y`` float32 one-hot ``(batch_size, classes_count)`` in sorted class order.
    """

    def __init__(self, rescale=1 / 255.0, nb_frames: int = 5, classes: list | None = None,
                 batch_size: int = 16, use_frame_cache: bool = False, target_shape: tuple = (224, 224),
                 shuffle: bool = True, transformation=None, split_test: float | None = None,
                 split_val: float | None = None, nb_channel: int = 3,
                 glob_pattern: str = "./videos/{classname}/*.avi", use_headers: bool = True, *,
                 split: float | None = None, seed: int | None = None, sampling: str = "uniform",
                 on_error: str = "skip", interpolation: str = "linear",
                 cache_bytes: int = DEFAULT_CACHE_BYTES, index_cache=True, decode_threads: int | None = None,
                 progress: bool = True, complete_last_batch: bool = True, workers: int = 1,
                 use_multiprocessing: bool = False, max_queue_size: int = 10, shard_index: int | None = None,
                 num_shards: int | None = None, backend: str = "auto", device_batches: bool = False,
                 device_id: int | None = None, prefetch: int | None = None, dtype: str = "float32"):
        args = dict(locals())
        if split is not None:
            if split_val is not None:
                raise ValueError("give split_val or its old name split, not both")
            log.warning("`split` is deprecated, use `split_val`")
            args["split_val"] = split_val = split
        self.clip = self._clip_options(args)
        super().__init__(FrameOptions.pick(args),
                         DecodeOptions.pick(args, ffmpeg_threads=1, max_open_readers=4, seek_cost=0,
                                            resize_in_decoder=False, on_bad_frames="skip"),
                         BatchOptions.pick(args), AugmentOptions.pick(args),
                         workers, use_multiprocessing, max_queue_size)
        if self.num_shards > 1 and seed is None and (split_val or split_test or shuffle):
            raise ValueError("with several shards give seed=, so that every worker splits and orders alike")
        self.glob_pattern = glob_pattern
        self.use_headers = bool(use_headers)
        self.split_val, self.split_test = split_val, split_test

        classes, files = find_files(glob_pattern, classes)
        self._infos = self._index([f for fs in files.values() for f in fs], index_cache, progress)
        usable = {c: [f for f in fs if f in self._infos] for c, fs in files.items()}
        empty = [c for c, fs in usable.items() if not fs]
        if empty:
            raise FileNotFoundError(f"no readable video for class(es) {empty} with pattern {glob_pattern!r}; "
                                    f"unreadable: {[b.path for b in self.report.files()]}")
        self._classes = list(classes)
        train, val, test = split_files(usable, split_val, split_test, seed)
        self._split_files = {"train": train, "validation": val, "test": test}
        self.validation = [f for c in classes for f in val[c]]
        self.test = [f for c in classes for f in test[c]]
        self._use_split("train")

    # ------------------------------------------------------------------ indexing and samples
    def _clip_options(self, args: dict) -> ClipOptions:
        """Which frames a clip holds; the sliding generator adds its window settings."""
        return ClipOptions.pick(args)

    def _index(self, paths: list[str], index_cache, progress: bool) -> dict[str, VideoInfo]:
        out = {}
        found = index_videos(paths, open_cache(index_cache), count_by_decoding=not self.use_headers,
                             progress=progress)
        for path, res in found.items():
            if isinstance(res, VideoError):
                if self.decoding.on_error == "raise":
                    raise res
                self.report.add_file(path, "index", res.reason)
            else:
                out[path] = res
        return out

    def _use_split(self, kind: str) -> None:
        files = self._split_files[kind]
        self._kind = kind
        self._all_samples = [s for label, c in enumerate(self._classes) for f in files[c]
                             for s in self._samples_for(self._infos[f], label)]
        if not self._all_samples:
            raise ValueError(f"the {kind} split of {self.glob_pattern!r} holds no sample")
        self._by_label: dict[int, list[int]] = {}
        for i, s in enumerate(self._all_samples):
            self._by_label.setdefault(s.label, []).append(i)
        self._start(len(self._all_samples))
        log.info("%s: %d classes, %d files, %d samples, %d batches", kind, len(self._classes),
                 len({s.path for s in self.samples}), len(self.samples), len(self))

    def _frames_per_sample(self) -> int:
        """Frames decoded per sample (the optical-flow generator needs one more)."""
        return self.clip.nb_frames

    def _samples_for(self, info: VideoInfo, label: int) -> list[Sample]:
        """Samples of one video: a single clip here; the sliding generator makes windows."""
        n = self._frames_per_sample()
        if info.frame_count < n:
            log.info("%s has %d frames, fewer than %d: frames are repeated", info.path, info.frame_count, n)
        return [Sample(info.path, label, clip_indices(info.frame_count, n, self.clip.sampling))]

    # ------------------------------------------------------------------ VideoDataset hooks
    def _request(self, sample: int):
        s = self._all_samples[sample]
        return self._infos[s.path], s.indices

    def _label_name(self, sample: int) -> str:
        return self._classes[self._all_samples[sample].label]

    def _targets(self, ids: list[int]):
        y = np.zeros((len(ids), len(self._classes)), np.float32)
        y[np.arange(len(ids)), [self._all_samples[i].label for i in ids]] = 1.0
        return y

    def _replace(self, sample: int, tried: int, state: dict) -> int:
        """The next video of the same class (in file order) that is not known to be unusable."""
        peers = self._by_label[self._all_samples[sample].label]
        pos = peers.index(sample)
        for k in range(1, len(peers) + 1):
            cand = peers[(pos + k) % len(peers)]
            if not self._is_bad(cand):
                return cand
        cls = self._classes[self._all_samples[sample].label]
        raise VideoError(self._all_samples[sample].path, f"every video of class {cls!r} is unusable; "
                                                         f"see the generator's bad_files")

    # ------------------------------------------------------------------ keras_video compatibility
    @property
    def samples(self) -> list[Sample]:
        """This shard's samples; ``gen.samples[gen._order[k]]`` is the k-th of the epoch."""
        return [self._all_samples[i] for i in self._ids]

    @property
    def classes(self) -> list[str]:
        return list(self._classes)

    @property
    def classes_count(self) -> int:
        return len(self._classes)

    @property
    def files(self) -> list[str]:
        return sorted({s.path for s in self.samples})

    @property
    def files_count(self) -> int:
        return len(self.files)

    @property
    def cache(self):
        """The clip cache (``use_frame_cache=True``), or None."""
        return getattr(self.decoder, "cache", None) if self.decoding.use_frame_cache else None

    # ------------------------------------------------------------------ derived generators
    def _derive(self, kind: str):
        if self._kind != "train":
            raise ValueError(f"this is a {self._kind} generator: ask the training generator")
        if not any(self._split_files[kind].values()):
            raise ValueError(f"no {kind} split: pass split_{'val' if kind == 'validation' else 'test'} "
                             f"to the generator")
        gen = copy.copy(self)
        gen.batching = self.batching.replace(shuffle=False)
        gen.augment = AugmentOptions(None)
        gen._use_split(kind)
        return gen

    def get_validation_generator(self):
        """Generator over the validation split: no augmentation, fixed order."""
        return self._derive("validation")

    def get_test_generator(self):
        """Generator over the test split: no augmentation, fixed order."""
        return self._derive("test")
