"""``VideoFrameGenerator``: keras_video's generator, same parameters, without its bugs.

Data path: a :mod:`~gpuvideo.sources` names the videos and their targets (class
folders found by :mod:`~gpuvideo.discovery`, a list of files, or a table),
:mod:`~gpuvideo.probe` indexes them (cached), :mod:`~gpuvideo.splits` splits them,
:mod:`~gpuvideo.sampling` chooses frame indices, and
:class:`~gpuvideo.dataset.VideoDataset` decodes and batches.
"""
from __future__ import annotations

import copy
import logging
import os
from dataclasses import dataclass

import numpy as np

from .cache import DEFAULT_CACHE_BYTES
from .balance import BalancedDraw, ClassBalance, class_weight
from .dataset import VideoDataset
from .errors import VideoError
from .options import AugmentOptions, BatchOptions, ClipOptions, DecodeOptions, FrameOptions, check_choice
from .remote import is_file
from .sampling import clip_indices
from .sources import Item, Source, file_source, folder_source, item_span
from .splits import split_files
from .videoinfo import VideoInfo

log = logging.getLogger("gpuvideo")


@dataclass(frozen=True)
class Sample:
    """One clip: ``indices`` (int64) of frames to read from ``path``, class number ``label`` (0 when the
    source has no single class per video), ``row`` of its target in the source (-1: none)."""
    path: str
    label: int
    indices: np.ndarray
    row: int = -1


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
    ``ffmpeg_threads`` (FFmpeg's decoder threads per open file; 0: FFmpeg chooses),
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
    read ahead in a background thread while the model trains; default 1 with one
    Keras worker, 0 with several, which read ahead themselves), ``dtype`` of ``x`` (``'float32'``, ``'float16'``,
    ``'bfloat16'``, or ``'uint8'``: the decoded values without rescale, for a model
    that rescales itself), ``class_balance`` (None; ``'oversample'`` or
    ``'undersample'``: every class gets as many samples per epoch as the largest,
    or smallest, class; see :mod:`gpuvideo.balance`), and Keras's ``workers``,
    ``use_multiprocessing``, ``max_queue_size``. The options are validated once,
    in :mod:`gpuvideo.options`.

    Output of ``gen[i]``: ``x`` ``(batch_size, nb_frames, height, width, nb_channel)`` (float32 by default),
    ``y`` float32 one-hot ``(batch_size, classes_count)`` in sorted class order.

    Other sources of videos (``source=``, a :class:`~gpuvideo.sources.Source`, replaces
    ``glob_pattern``/``classes``): :meth:`for_prediction` (unlabelled files, ``x`` only,
    for ``model.predict``; ``gen.rows()`` maps output rows to files and frames) and
    :meth:`from_dataframe` (labels from a table: classes, several labels, numbers, segments).
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
                 device_id: int | None = None, prefetch: int | None = None, dtype: str = "float32",
                 apply_rotation: bool = True, drop_truncated: bool = False, ffmpeg_threads: int = 1,
                 class_balance: str | None = None, source: Source | None = None):
        args = dict(locals())
        if split is not None:
            if split_val is not None:
                raise ValueError("give split_val or its old name split, not both")
            log.warning("`split` is deprecated, use `split_val`")
            args["split_val"] = split_val = split
        self.clip = self._clip_options(args)
        super().__init__(FrameOptions.pick(args),
                         DecodeOptions.pick(args, max_open_readers=4, seek_cost=0, resize_in_decoder=False,
                                            on_bad_frames="skip"),
                         BatchOptions.pick(args), AugmentOptions.pick(args),
                         workers, use_multiprocessing, max_queue_size)
        check_choice("class_balance", class_balance, ClassBalance)
        if self.num_shards > 1 and seed is None and (split_val or split_test or shuffle or class_balance):
            raise ValueError("with several shards give seed=, so that every worker splits and orders alike")
        self.glob_pattern = glob_pattern if source is None else None
        self.use_headers = bool(use_headers)
        self.split_val, self.split_test = split_val, split_test

        if source is not None and classes is not None:
            raise ValueError("classes goes with glob_pattern; a source names its own classes")
        self._source = source if source is not None else folder_source(glob_pattern, classes)
        self.class_balance = class_balance
        if class_balance and not self._has_classes():
            raise ValueError(f"class_balance={class_balance!r} needs one class per video (class folders, or a "
                             f"table with one class per row)")
        self._infos = self._index(self._source.paths(), index_cache, progress)
        self._classes = list(self._source.classes or [])
        items = [it for it in self._source.items if it.path in self._infos]
        self._check_usable(items)
        self._items = [(it, *item_span(self._infos[it.path], it, self._source.unit)) for it in items]
        train, val, test = split_files(self._source.groups(items), split_val, split_test, seed)
        self._split_files = {"train": train, "validation": val, "test": test}
        self.validation = [f for fs in val.values() for f in fs]
        self.test = [f for fs in test.values() for f in fs]
        self._use_split("train")

    # ------------------------------------------------------------------ other sources of videos
    @classmethod
    def for_prediction(cls, videos, **kwargs):
        """A generator for ``model.predict``: ``x`` only, every sample once, in a fixed order.

        ``videos``: a path, a list of paths (in that order), a glob (sorted
        matches; with ``{classname}`` the class names stay known in :meth:`rows`),
        or a table (DataFrame or CSV path, with ``x_col``, ``directory`` and the
        segment columns of :meth:`from_dataframe`). Rows follow the videos' order;
        the sliding generator gives each video's windows in turn. ``shuffle`` and
        ``complete_last_batch`` are False, there is no split, no transformation and
        one shard unless ``shard_index``/``num_shards`` are given. Other keyword
        arguments are the constructor's. ``gen.rows()`` maps output rows to files
        and frames. Unreadable files found while indexing have no row (they are in
        ``bad_files``); a video that fails to decode later keeps its row, filled
        with zeros and flagged ``bad`` in :meth:`rows`.
        """
        from .tables import TABLE_ARGS, is_table, table_source

        for name in ("split", "split_val", "split_test", "transformation", "class_balance"):
            if kwargs.get(name) is not None:
                raise ValueError(f"for_prediction takes no {name}")
        for name in ("shuffle", "complete_last_batch"):
            if kwargs.pop(name, False):
                raise ValueError(f"for_prediction sets {name}=False (one output row per sample, in order)")
        table = {k: kwargs.pop(k) for k in TABLE_ARGS if k in kwargs}
        if is_table(videos):
            source = table_source(videos, class_mode=None, **table)
        elif table:
            raise ValueError(f"{sorted(table)} are for tables (a DataFrame or a CSV path)")
        else:
            source = file_source(videos, kwargs.pop("classes", None))
        if kwargs.get("shard_index") is None and kwargs.get("num_shards") is None:
            kwargs.update(shard_index=0, num_shards=1)
        gen = cls(shuffle=False, complete_last_batch=False, source=source.without_targets(), **kwargs)
        gen._predicting = True
        return gen

    @classmethod
    def from_dataframe(cls, dataframe, directory=None, x_col: str = "filename", y_col="class", *,
                       class_mode: str | None = "categorical", classes=None, label_sep: str | None = None,
                       start_col: str | None = None, end_col: str | None = None, segment_unit: str = "frame",
                       **kwargs):
        """A generator whose videos and targets come from a table (Keras's ``flow_from_dataframe`` names).

        ``dataframe``: a pandas ``DataFrame`` or a CSV path; one row per sample.
        ``x_col``: video paths, relative ones joined to ``directory`` (None: the
        current folder, or the CSV file's folder). ``class_mode``:
        ``"categorical"`` (one-hot ``y``; multi-hot when cells hold lists or,
        with ``label_sep``, strings like ``"run|jump"``), ``"binary"``,
        ``"sparse"``, ``"raw"`` (numbers, ``y_col`` one column whose cells may be
        arrays, or a list of columns) or None. ``classes``: names and order of the
        classes (rows with other labels are left out). ``start_col``/``end_col``:
        a segment per row, in ``segment_unit`` ``"frame"`` (both ends included) or
        ``"second"`` (``start <= t < end``, the file's own timestamps); its frames
        are sampled inside it. Splits keep all rows of a video together (per class
        when every video has one class). Files that do not exist are reported in
        ``bad_files`` (logged once) and their rows left out. Other keyword
        arguments are the constructor's; see :mod:`gpuvideo.tables`.
        """
        from .tables import table_source

        source = table_source(dataframe, directory, x_col, y_col, class_mode, classes, label_sep, start_col,
                              end_col, segment_unit)
        return cls(source=source, **kwargs)

    # ------------------------------------------------------------------ indexing and samples
    def _clip_options(self, args: dict) -> ClipOptions:
        """Which frames a clip holds; the sliding generator adds its window settings."""
        return ClipOptions.pick(args)

    def _index(self, paths: list[str], index_cache, progress: bool) -> dict[str, VideoInfo]:
        out = {}
        present = {p: is_file(p) for p in paths}
        for path in [p for p in paths if not present[p]]:
            reason = "broken or looping symbolic link" if os.path.islink(path) else "file not found"
            if self.decoding.on_error == "raise":
                raise VideoError(path, reason)
            self.report.add_file(path, "index", reason)
        found = self._index_files([p for p in paths if present[p]], index_cache, progress,
                                  count_by_decoding=not self.use_headers)
        for path, res in found.items():
            if isinstance(res, VideoError):
                if self.decoding.on_error == "raise":
                    raise res
                self.report.add_file(path, "index", res.reason)
            else:
                out[path] = res
        return out

    def _check_usable(self, items: list[Item]) -> None:
        """Raise ``FileNotFoundError`` when no video, or no video of a class, can be read."""
        unreadable = [b.path for b in self.report.files()]
        if not items:
            raise FileNotFoundError(f"no readable video in {self._source.describe}; unreadable: {unreadable}")
        if self._source.single_label and self._source.targets is not None:
            empty = sorted(set(self._classes) - {self._classes[it.group] for it in items})
            if empty:
                raise FileNotFoundError(f"no readable video for class(es) {empty} with pattern "
                                        f"{self._source.describe}; unreadable: {unreadable}")

    def _use_split(self, kind: str) -> None:
        files = {f for fs in self._split_files[kind].values() for f in fs}
        self._kind = kind
        self._all_samples = [Sample(it.path, it.group, frames, it.row) for it, first, count in self._items
                             if it.path in files for frames in self._clips(self._infos[it.path], first, count)]
        if not self._all_samples:
            raise ValueError(f"the {kind} split of {self._source.describe} holds no sample")
        self._by_label: dict[int, list[int]] = {}
        for i, s in enumerate(self._all_samples):
            self._by_label.setdefault(s.label, []).append(i)
        self._draw = BalancedDraw(self._by_label, self.class_balance, self.seed) \
            if self.class_balance and kind == "train" else None
        self._start(self._draw.total if self._draw else len(self._all_samples))
        log.info("%s: %d classes, %d files, %d samples, %d batches", kind, len(self._classes),
                 len({s.path for s in self.samples}), len(self.samples), len(self))

    def _frames_per_sample(self) -> int:
        """Frames decoded per sample (the optical-flow generator needs one more)."""
        return self.clip.nb_frames

    def _clips(self, info: VideoInfo, first: int, count: int) -> list[np.ndarray]:
        """Frame indices of each sample of frames ``first .. first + count - 1`` of a video: one clip here;
        the sliding generator makes windows."""
        n = self._frames_per_sample()
        if count < n:
            log.info("%s has %d frames, fewer than %d: frames are repeated", _where(info, first, count), count, n)
        return [first + clip_indices(count, n, self.clip.sampling)]

    # ------------------------------------------------------------------ VideoDataset hooks
    def _request(self, sample: int):
        s = self._all_samples[sample]
        return self._infos[s.path], s.indices

    def _label_name(self, sample: int) -> str | None:
        return self._source.label_name(self._all_samples[sample].row)

    def _targets(self, ids: list[int]):
        if self._source.targets is None:
            return None
        return self._source.targets[[self._all_samples[i].row for i in ids]]

    def _replace(self, sample: int, tried: int, state: dict) -> int:
        """The next video of the same class (in file order) that is not known to be unusable."""
        label = self._all_samples[sample].label
        peers = self._by_label[label]
        pos = peers.index(sample)
        for k in range(1, len(peers) + 1):
            cand = peers[(pos + k) % len(peers)]
            if not self._is_bad(cand):
                return cand
        what = f"class {self._classes[label]!r}" if self._source.single_label and self._classes else "the dataset"
        raise VideoError(self._all_samples[sample].path, f"every video of {what} is unusable; "
                                                         f"see the generator's bad_files")

    def _slot_sample(self, slot: int) -> int:
        return slot if self._draw is None else self._draw.sample(slot, self.epoch)

    _predicting = False     # set by for_prediction: rows are kept, never replaced

    def _is_bad(self, sample: int) -> bool:
        return False if self._predicting else super()._is_bad(sample)

    def _usable(self, sample: int, request, result, positions):
        clip = super()._usable(sample, request, result, positions)
        if clip is None and self._predicting:      # reported in bad_files; the row stays, as zeros
            n = len(request.indices) if positions is None else len(positions)
            w, h = self.frames.target_shape
            clip = np.zeros((n, h, w, self._decode_channels()), np.uint8)     # moved to the GPU by _placed
        return clip

    # ------------------------------------------------------------------ keras_video compatibility
    @property
    def samples(self) -> list[Sample]:
        """This shard's samples; ``gen.samples[gen._order[k]]`` is the k-th of the epoch. With
        ``class_balance``, every sample of the split (the draws change each epoch; see ``batch_info``)."""
        if self._draw is not None:
            return list(self._all_samples)
        return [self._all_samples[i] for i in self._ids]

    # ------------------------------------------------------------------ class balance
    def _has_classes(self) -> bool:
        return self._source.single_label and self._source.targets is not None and bool(self._source.classes)

    def class_weight(self) -> dict[int, float]:
        """``{class index: weight}`` for ``model.fit(class_weight=...)``: ``n / (classes * n_class)`` over this
        generator's samples (clips or windows), so every class weighs the same in total."""
        if not self._has_classes():
            raise ValueError("class_weight needs one class per sample (class folders, or a table with one "
                             "class per row); this generator has " +
                             ("no targets" if self._source.targets is None else "several labels or numbers"))
        counts = {k: 0 for k in range(len(self._classes))}
        for s in self._all_samples:
            counts[s.label] += 1
        return class_weight(counts)

    @property
    def classes(self) -> list[str]:
        """Class names (empty when the videos have no classes: unlabelled or numeric targets)."""
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
        gen.class_balance = None
        gen._use_split(kind)
        return gen

    def get_validation_generator(self):
        """Generator over the validation split: no augmentation, fixed order."""
        return self._derive("validation")

    def get_test_generator(self):
        """Generator over the test split: no augmentation, fixed order."""
        return self._derive("test")


def _where(info: VideoInfo, first: int, count: int) -> str:
    if first == 0 and count == info.frame_count:
        return info.path
    return f"{info.path} [frames {first}-{first + count - 1}]"
