"""``ClipDataset``: the Keras side. Turns a list of samples (file + frame indices) into batches.

It owns batching, the epoch order, per-sample random transforms, the clip
cache, parallel decoding inside a batch and the replacement of unusable
videos; subclasses only decide which samples exist (see ``generator.py``).
"""
from __future__ import annotations

import logging
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import keras
import numpy as np

from .cache import ClipCache
from .decode import backends, open_reader
from .errors import BadVideoReport, VideoError, check_on_error
from .ops import INTERPOLATIONS, array_module, prepare_clip, rescale as rescale_op
from .probe import VideoInfo
from .transform import make_transform

log = logging.getLogger("gpuvideo")


@dataclass(frozen=True)
class Sample:
    """One item of an epoch: ``indices`` (int64) of frames to read from ``path``, class ``label``."""
    path: str
    label: int
    indices: np.ndarray


class EndlessIterator:
    """``next(gen)`` walks the batches forever, calling ``on_epoch_end`` on wrap-around (as keras_video did)."""
    _current = 0

    def __next__(self):
        batch = self[self._current]
        self._current += 1
        if self._current >= len(self):
            self._current = 0
            self.on_epoch_end()
        return batch

    next = __next__


class ClipDataset(EndlessIterator, keras.utils.PyDataset):
    """Batches ``x`` float32 ``(B, nb_frames, H, W, C)`` and one-hot ``y`` float32 ``(B, classes)``.

    NumPy arrays, except with ``device_batches=True`` on the GPU backend: then
    both are CuPy arrays on the GPU (no host copy), for
    :func:`gpuvideo.adapters.to_torch` / :func:`~gpuvideo.adapters.to_jax` or your own loop.

    ``len(ds) = ceil(samples / batch_size)``; the last batch is completed with
    samples from the start of the epoch order, so every batch has ``batch_size``
    items (with sharding, ``samples`` is the largest shard's size, so every
    worker runs the same number of steps). Also an endless iterator: ``next(ds)`` walks the batches and calls
    :meth:`on_epoch_end` on wrap-around (as keras_video did).
    """

    def _setup(self, *, samples: list[Sample], infos: dict[str, VideoInfo], classes: list[str],
               batch_size: int, target_shape, nb_channel: int, rescale, shuffle: bool, transformation,
               use_frame_cache: bool, cache_bytes: int, seed, on_error: str, interpolation: str,
               decode_threads, workers: int, use_multiprocessing: bool, max_queue_size: int,
               report: BadVideoReport | None = None, epoch_samples: int | None = None,
               backend: str = "auto", device_batches: bool = False):
        super().__init__(workers=workers, use_multiprocessing=use_multiprocessing, max_queue_size=max_queue_size)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if len(target_shape) != 2:
            raise ValueError(f"target_shape must be (width, height), got {target_shape}")
        if nb_channel not in (1, 3):
            raise ValueError(f"nb_channel must be 1 or 3, got {nb_channel}")
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {INTERPOLATIONS}")
        if not samples:
            raise ValueError("no sample to serve")
        self.samples = samples
        # samples per epoch: at least len(samples); more when shards are padded to equal length
        self.epoch_samples = max(len(samples), int(epoch_samples or 0))
        self._infos = infos
        self._classes = list(classes)
        self.batch_size = int(batch_size)
        self.target_shape = tuple(int(v) for v in target_shape)
        self.nb_channel = int(nb_channel)
        self.rescale = rescale
        self.shuffle = bool(shuffle)
        self.transformation = transformation
        self._transform = make_transform(transformation)
        self.use_frame_cache = bool(use_frame_cache)
        self.cache = ClipCache(cache_bytes) if use_frame_cache else None
        self.seed = int(np.random.SeedSequence(seed).entropy % (2 ** 63)) if seed is None else int(seed)
        self.on_error = check_on_error(on_error)
        self.interpolation = interpolation
        self.decode_threads = int(decode_threads or min(self.batch_size, os.cpu_count() or 1))
        self.bad_files = report if report is not None else BadVideoReport()
        self.backend = backends.resolve(backend)
        self.device_batches = bool(device_batches)
        if self.device_batches and self.backend == "gpu" and hasattr(transformation, "apply_transform"):
            raise ValueError("ImageDataGenerator transformations work on host arrays: use device_batches=False "
                             "or a callable (clip, rng) -> clip that accepts CuPy arrays")
        self._dali = None
        self._by_label: dict[int, list[int]] = {}
        for i, s in enumerate(samples):
            self._by_label.setdefault(s.label, []).append(i)
        self._pool = None
        self._pool_pid = None
        self._pool_lock = threading.Lock()
        self.epoch = 0
        self._current = 0
        self._order = self._epoch_order()

    # ------------------------------------------------------------------ epoch
    def _epoch_order(self) -> np.ndarray:
        n = len(self.samples)
        if not self.shuffle:
            return np.arange(n)
        return np.random.default_rng([self.seed, self.epoch]).permutation(n)

    def on_epoch_end(self):
        """Next epoch: new order (when shuffling) and new random transforms."""
        self.epoch += 1
        self._order = self._epoch_order()

    def __len__(self) -> int:
        return math.ceil(self.epoch_samples / self.batch_size)

    # ------------------------------------------------------------------ keras_video compatibility
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

    # ------------------------------------------------------------------ batches
    def __getitem__(self, index: int):
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"batch {index} out of range for {n} batches")
        start = index * self.batch_size
        ids = [int(self._order[(start + k) % len(self.samples)]) for k in range(self.batch_size)]
        clips = self._load_batch(ids)
        xp = array_module(clips[0])          # cupy with device_batches on the GPU backend, else numpy
        x = xp.stack(clips)
        y = np.zeros((len(ids), len(self._classes)), np.float32)
        y[np.arange(len(ids)), [self.samples[i].label for i in ids]] = 1.0
        return x, (y if xp is np else xp.asarray(y))

    def _map(self, fn, items):
        items = list(items)
        if self.decode_threads <= 1 or len(items) == 1:
            return [fn(i) for i in items]
        with self._pool_lock:
            if self._pool is None or self._pool_pid != os.getpid():   # new after fork
                self._pool = ThreadPoolExecutor(self.decode_threads, thread_name_prefix="gpuvideo-decode")
                self._pool_pid = os.getpid()
            pool = self._pool
        return list(pool.map(fn, items))

    def _load_batch(self, ids: list[int]) -> list[np.ndarray]:
        """Float32 clips for sample ``ids``: decoded in one call, unusable videos replaced
        by others of the same class, then post-processed and transformed."""
        chosen = list(ids)
        tried = [0] * len(ids)
        clips: list = [None] * len(ids)
        pending = list(range(len(ids)))
        while pending:
            for k in pending:           # videos already known bad are replaced before decoding
                while self.samples[chosen[k]].path in self.bad_files:
                    tried[k] += 1
                    chosen[k] = self._replacement(ids[k], tried[k])
            results = self._decode_many([self.samples[chosen[k]] for k in pending])
            retry = []
            for k, res in zip(pending, results):
                if isinstance(res, Exception):
                    if self.on_error == "raise":
                        raise res
                    self.bad_files.add(self.samples[chosen[k]].path, "decode", str(getattr(res, "reason", res)))
                    retry.append(k)
                else:
                    clips[k] = res
            pending = retry

        def finish(k: int) -> np.ndarray:
            clip = self._postprocess(clips[k])
            if self._transform is not None:
                clip = self._transform(clip, np.random.default_rng([self.seed, self.epoch, ids[k]]))
            return clip

        return self._map(finish, range(len(ids)))

    def _decode_many(self, samples: list[Sample]) -> list:
        """Cached uint8 clip or the exception, per sample.

        CPU: clips decoded in parallel threads. DALI backends: one pipeline run for
        every sample of the batch not in the cache.
        """
        if self.backend == "cpu":
            def one(sample):
                try:
                    return self._clip(sample)
                except (VideoError, IndexError) as e:
                    return e
            return self._map(one, samples)
        keys = [(s.path, s.indices.tobytes()) for s in samples]
        out = [self.cache.get(k) if self.cache is not None else None for k in keys]
        todo = [k for k, hit in enumerate(out) if hit is None]
        if todo:
            if self._dali is None:
                self._dali = backends.dali_decoder(self.backend, self.batch_size, self.target_shape,
                                                   self._decode_channels(), self.interpolation)
            decoded = self._dali.decode([(self._infos[samples[k].path], samples[k].indices) for k in todo])
            for k, res in zip(todo, decoded):
                if isinstance(res, Exception):
                    out[k] = res
                    continue
                out[k] = res if self.device_batches else backends.to_host(res)
                if self.cache is not None:
                    self.cache.put(keys[k], out[k])
        return out

    def _decode_channels(self) -> int:
        """Channels of the cached clip (the optical-flow generator keeps RGB)."""
        return self.nb_channel

    def _replacement(self, sample_id: int, tried: int) -> int:
        peers = self._by_label[self.samples[sample_id].label]
        pos = peers.index(sample_id)
        for k in range(tried, len(peers) + 1):
            cand = peers[(pos + k) % len(peers)]
            if self.samples[cand].path not in self.bad_files:
                return cand
        cls = self._classes[self.samples[sample_id].label]
        raise VideoError(self.samples[sample_id].path, f"every video of class {cls!r} is unusable; "
                                                       f"see the generator's bad_files")

    def _clip(self, sample: Sample) -> np.ndarray:
        """uint8 ``(T, H, W, C)`` for ``sample``, from the cache or decoded and prepared."""
        key = (sample.path, sample.indices.tobytes())
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                return hit
        clip = self._decode(sample)
        if self.cache is not None:
            self.cache.put(key, clip)
        return clip

    def _decode(self, sample: Sample) -> np.ndarray:
        with open_reader(self._infos[sample.path]) as reader:
            frames = reader.read(sample.indices)
        return self._prepare(frames)

    def _prepare(self, frames: np.ndarray) -> np.ndarray:
        """Decoded RGB uint8 ``(T, H, W, 3)`` -> the uint8 clip that is cached (resized, grey if asked)."""
        return prepare_clip(frames, self.target_shape, self.nb_channel, self.interpolation)

    def _postprocess(self, clip: np.ndarray) -> np.ndarray:
        """Cached uint8 clip -> float32 model input (before the random transform): ``clip * rescale``."""
        return rescale_op(clip, self.rescale)

    def close(self) -> None:
        """Release decoder pipelines and threads (also done when the generator is deleted)."""
        dali, self._dali = getattr(self, "_dali", None), None
        if dali is not None:
            dali.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
        pool = getattr(self, "_pool", None)
        if pool is not None and self._pool_pid == os.getpid():
            pool.shutdown(wait=False)
