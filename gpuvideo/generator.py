"""``VideoFrameGenerator``: keras_video's generator, same parameters, without its bugs.

Data path: :mod:`~gpuvideo.discovery` finds files, :mod:`~gpuvideo.splits`
splits them, :mod:`~gpuvideo.probe` indexes them (cached), :mod:`~gpuvideo.sampling`
chooses frame indices, and :class:`~gpuvideo.dataset.ClipDataset` decodes and batches.
"""
from __future__ import annotations

import logging


from .cache import DEFAULT_CACHE_BYTES
from .dataset import ClipDataset, Sample
from .discovery import find_files
from .errors import BadVideoReport, VideoError, check_on_error
from .probe import ProbeCache, VideoInfo, default_cache_path, index_videos
from .sampling import SAMPLING_MODES, clip_indices
from .sharding import resolve_shard, shard

log = logging.getLogger("gpuvideo")


class VideoFrameGenerator(ClipDataset):
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
    ``progress`` (tqdm bars), ``shard_index``/``num_shards`` (this worker's
    share of the samples, ``shard_index::num_shards`` of them; by default read
    from ``TF_CONFIG`` under a multi-worker strategy; needs ``seed``),
    ``backend`` (``'auto'``: GPU when CUDA, DALI and NVDEC are all present, else
    CPU, the reason logged once; ``'cpu'``: PyAV/FFmpeg; ``'gpu'``: DALI + NVDEC,
    files NVDEC cannot decode fall back to PyAV; ``'dali-cpu'``: DALI's CPU
    decoder, for tests), ``device_batches`` (with ``backend='gpu'``: batches stay
    on the GPU as CuPy arrays; see :mod:`gpuvideo.adapters`), and Keras's
    ``workers``, ``use_multiprocessing``, ``max_queue_size``.

    Output of ``gen[i]``: ``x`` float32 ``(batch_size, nb_frames, height, width, nb_channel)``,
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
                 progress: bool = True, workers: int = 1, use_multiprocessing: bool = False,
                 max_queue_size: int = 10, shard_index: int | None = None, num_shards: int | None = None,
                 backend: str = "auto", device_batches: bool = False, _subset=None):
        if split is not None:
            if split_val is not None:
                raise ValueError("give split_val or its old name split, not both")
            log.warning("`split` is deprecated, use `split_val`")
            split_val = split
        if sampling not in SAMPLING_MODES:
            raise ValueError(f"sampling must be one of {SAMPLING_MODES}, got {sampling!r}")
        if int(nb_frames) < 1:
            raise ValueError(f"nb_frames must be >= 1, got {nb_frames}")
        check_on_error(on_error)
        self.shard_index, self.num_shards = resolve_shard(shard_index, num_shards)
        if self.num_shards > 1 and seed is None and (split_val or split_test or shuffle):
            raise ValueError("with several shards give seed=, so that every worker splits and orders alike")
        self.nb_frames = int(nb_frames)
        self.sampling = sampling
        self.glob_pattern = glob_pattern
        self.use_headers = bool(use_headers)
        self.split_val, self.split_test = split_val, split_test
        self._options = dict(
            rescale=rescale, nb_frames=nb_frames, batch_size=batch_size, target_shape=target_shape,
            nb_channel=nb_channel, glob_pattern=glob_pattern, use_headers=use_headers, seed=seed,
            sampling=sampling, on_error=on_error, interpolation=interpolation, cache_bytes=cache_bytes,
            index_cache=index_cache, decode_threads=decode_threads, progress=progress,
            use_frame_cache=use_frame_cache, workers=workers, use_multiprocessing=use_multiprocessing,
            max_queue_size=max_queue_size, shard_index=self.shard_index, num_shards=self.num_shards,
            backend=backend, device_batches=device_batches)
        report = BadVideoReport()
        if _subset is None:
            from .splits import split_files

            classes, files = find_files(glob_pattern, classes)
            infos = self._index([f for fs in files.values() for f in fs], index_cache, progress, report, on_error)
            usable = {c: [f for f in fs if f in infos] for c, fs in files.items()}
            empty = [c for c, fs in usable.items() if not fs]
            if empty:
                raise FileNotFoundError(f"no readable video for class(es) {empty} with pattern {glob_pattern!r}; "
                                        f"unreadable: {[b.path for b in report.items()]}")
            train, val, test = split_files(usable, split_val, split_test, seed)
            self._splits = {"validation": val, "test": test}
            kind = "train"
        else:
            kind, classes, train, infos, report = _subset
            self._splits = {}
        self._kind = kind
        self.validation = [f for c in classes for f in self._splits.get("validation", {}).get(c, [])]
        self.test = [f for c in classes for f in self._splits.get("test", {}).get(c, [])]
        samples = [s for label, c in enumerate(classes) for f in train[c]
                   for s in self._samples_for(infos[f], label)]
        samples, epoch_samples = shard(samples, self.shard_index, self.num_shards)
        if not samples:
            raise ValueError(f"the {kind} split of {glob_pattern!r} holds no sample"
                             + (f" for shard {self.shard_index} of {self.num_shards}" if self.num_shards > 1 else ""))
        self._setup(samples=samples, infos=infos, classes=classes, batch_size=batch_size,
                    target_shape=target_shape, nb_channel=nb_channel, rescale=rescale, shuffle=shuffle,
                    transformation=transformation, use_frame_cache=use_frame_cache, cache_bytes=cache_bytes,
                    seed=seed, on_error=on_error, interpolation=interpolation, decode_threads=decode_threads,
                    workers=workers, use_multiprocessing=use_multiprocessing, max_queue_size=max_queue_size,
                    report=report, epoch_samples=epoch_samples, backend=backend,
                    device_batches=device_batches)
        log.info("%s: %d classes, %d files, %d samples, %d batches", kind, len(classes),
                 len({s.path for s in samples}), len(samples), len(self))

    # ------------------------------------------------------------------ indexing and sampling
    @staticmethod
    def _index(paths, index_cache, progress, report, on_error) -> dict[str, VideoInfo]:
        cache = ProbeCache(default_cache_path() if index_cache is True else (index_cache or None))
        out = {}
        for path, res in index_videos(paths, cache, progress=progress).items():
            if isinstance(res, VideoError):
                if on_error == "raise":
                    raise res
                report.add(path, "index", res.reason)
            else:
                out[path] = res
        return out

    def _frames_per_sample(self) -> int:
        """Frames decoded per sample (the optical-flow generator needs one more)."""
        return self.nb_frames

    def _samples_for(self, info: VideoInfo, label: int) -> list[Sample]:
        """Samples of one video: a single clip here; the sliding generator makes windows."""
        n = self._frames_per_sample()
        if info.frame_count < n:
            log.info("%s has %d frames, fewer than %d: frames are repeated", info.path, info.frame_count, n)
        return [Sample(info.path, label, clip_indices(info.frame_count, n, self.sampling))]

    # ------------------------------------------------------------------ derived generators
    def _derived_options(self) -> dict:
        """Constructor keywords that rebuild this generator (subclasses add theirs)."""
        return dict(self._options)

    def _derive(self, kind: str):
        if not self._splits:
            raise ValueError(f"this is a {self._kind} generator: ask the training generator")
        by_class = {c: self._splits[kind].get(c, []) for c in self._classes}
        if not any(by_class.values()):
            raise ValueError(f"no {kind} split: pass split_{'val' if kind == 'validation' else 'test'} "
                             f"to the generator")
        opts = self._derived_options()
        return type(self)(**opts, shuffle=False, transformation=None,
                          _subset=(kind, self._classes, by_class, self._infos, self.bad_files))

    def get_validation_generator(self):
        """Generator over the validation split: no augmentation, fixed order."""
        return self._derive("validation")

    def get_test_generator(self):
        """Generator over the test split: no augmentation, fixed order."""
        return self._derive("test")
