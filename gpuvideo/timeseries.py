"""``VideoTimeseriesGenerator``: Keras ``TimeseriesGenerator`` semantics over the frames of long videos.

Frames are decoded on demand, forward through the file, and nothing is kept
beyond the batch being built, so memory does not grow with the videos' length.

Windows (see :mod:`gpuvideo.windows`): window ``j`` of a video starts at
``start_index + j * stride`` and holds frames ``start + k * sampling_rate`` for
``k < length``; ``end_index`` (inclusive, default the last frame) bounds every
frame a window uses, its target frame included. Windows never straddle two
videos; they are numbered video after video.

Targets (see :mod:`gpuvideo.targets`): by default a window's target is the label
of the frame right after it, ``start + length * sampling_rate`` — exactly what
Keras's ``TimeseriesGenerator`` picks when its ``length`` is ``length *
sampling_rate`` — and ``target_frame="last"`` takes the window's last frame
instead (the alignment of ``keras.utils.timeseries_dataset_from_array`` with
``targets`` shifted by ``(length - 1) * sampling_rate``).

Reading: the windows of a batch are grouped by video and each video's frames
(the union of its windows' frames, so overlapping windows share decoded frames)
are read with one call of a reader kept open per (process, thread, video). In
order (``shuffle=False``) consecutive batches continue decoding forward; the
reader seeks only when the next frame lies past the next keyframe. With
``shuffle=True`` windows come in random order, so most batches seek.

Undecodable frames (truncated file, corrupt packets) are reported in
``bad_frames`` (video and frame index, logged once) and, following
``on_bad_frames``: ``"fill"`` completes the window from its nearest decodable
frame (earlier one on ties; a window with no decodable frame is skipped),
``"skip"`` replaces the window by the next good window of the epoch order, and
``"raise"`` raises :class:`~gpuvideo.errors.VideoError`. Batches keep their size.
"""
from __future__ import annotations

import logging
import math
import os
import threading
from collections import OrderedDict
from typing import Sequence

import keras
import numpy as np

from .decode.pyav_reader import PyAVReader
from .dataset import EndlessIterator
from .sharding import resolve_shard, shard
from .decode import backends
from .errors import VideoError
from .ops import INTERPOLATIONS, prepare_clip
from .probe import ProbeCache, VideoInfo, default_cache_path, index_videos
from .targets import CallableTargets, PerFrameTargets, make_targets
from .transform import make_transform
from .windows import TARGET_FRAMES, WindowIndex, check_window_args, nearest_available, target_frame_of, \
    window_frames

log = logging.getLogger("gpuvideo")

BAD_FRAME_POLICIES = ("fill", "skip", "raise")


class BadFrameReport:
    """Thread-safe record of frames that could not be decoded; each (video, frame) is logged once."""

    def __init__(self):
        self._lock = threading.Lock()
        self._frames: dict[str, set[int]] = {}

    def add(self, path: str, frames: Sequence[int], action: str) -> None:
        with self._lock:
            known = self._frames.setdefault(path, set())
            new = sorted(set(int(f) for f in frames) - known)
            known.update(new)
        if new:
            shown = ", ".join(map(str, new[:10])) + (", ..." if len(new) > 10 else "")
            log.warning("%s: %d frame(s) cannot be decoded (%s); %s", path, len(new), shown, action)

    def items(self) -> list[tuple[str, int]]:
        """``(video path, frame index)`` pairs, sorted."""
        with self._lock:
            return sorted((p, f) for p, fs in self._frames.items() for f in fs)

    def frames(self, path: str) -> list[int]:
        with self._lock:
            return sorted(self._frames.get(path, ()))

    def __len__(self) -> int:
        with self._lock:
            return sum(len(v) for v in self._frames.values())


class _Slot:
    """An open reader and the few frames of its last read that the next windows may share."""
    __slots__ = ("reader", "carry")

    def __init__(self, reader: PyAVReader):
        self.reader = reader
        self.carry: dict[int, np.ndarray] = {}


class VideoTimeseriesGenerator(EndlessIterator, keras.utils.PyDataset):
    """Sliding windows of frames over one or several (long) videos, as Keras batches.

    Parameters follow Keras's ``TimeseriesGenerator`` (on frames, see the module doc):

    - ``videos``: a path or :class:`~gpuvideo.probe.VideoInfo`, or a list of them.
    - ``targets``: None (batches are ``x`` only), per-frame array(s), a CSV path or a
      DataFrame (``target_column``, ``frame_column``, ``video_column``), or a callable
      ``(video_path, frame_indices) -> target``; see :mod:`gpuvideo.targets`.
    - ``length`` frames per window, ``sampling_rate`` frames between them, windows every
      ``stride`` frames from ``start_index``; ``end_index``: last usable frame (inclusive;
      past the video's end raises). ``target_frame``: ``"next"`` (default) or ``"last"``.
    - ``shuffle``: a new random window order each epoch (seeded by ``seed``; Keras's
      ``TimeseriesGenerator`` draws with replacement instead). ``reverse``: frames of
      each window in reverse order.
    - ``batch_size``; ``complete_last_batch`` (default True) fills the last batch with
      windows from the start of the epoch order, as the other gpuvideo generators do;
      False makes it shorter, as Keras does.
    - ``target_shape`` (width, height) or None for the file's size, ``nb_channel`` 1 or 3,
      ``rescale`` (x is float32 ``frame * rescale``), ``transformation`` (see
      :func:`gpuvideo.transform.make_transform`; one draw per window).
    - ``on_bad_frames``: ``"fill"``, ``"skip"`` or ``"raise"`` (see the module doc).
    - ``decode_threads``: FFmpeg threads per reader (0: FFmpeg chooses).
      ``resize_in_decoder``: True resizes while converting to RGB (FFmpeg bilinear:
      faster, but pixels differ from OpenCV's by a few levels); False (default)
      decodes at full size and resizes with OpenCV (``interpolation``), as the
      other generators and the GPU backend do.
    - ``backend``: ``'auto'``, ``'cpu'``, ``'gpu'`` or ``'dali-cpu'``, as in
      :class:`~gpuvideo.generator.VideoFrameGenerator`. With DALI each batch's
      frames of a video are decoded in one pipeline run.
    - ``max_open_readers``: open files kept per thread (least recently used closed).
      ``seek_cost``: the reader seeks only to skip more than this many frames (it
      decodes forward through shorter gaps).
    - ``shard_index``/``num_shards``: this worker's windows (``shard_index::num_shards``
      of them, every shard padded to the same number of steps); by default read from
      ``TF_CONFIG`` under a multi-worker strategy.
    - ``workers``, ``use_multiprocessing``, ``max_queue_size``: ``PyDataset``'s.

    Batches: ``x`` float32 ``(batch, length, height, width, nb_channel)`` and ``y``
    ``(batch, ...)`` (float32 for numeric targets). Also an endless iterator: ``next(gen)``.
    """

    def __init__(self, videos, targets=None, length: int | None = None, sampling_rate: int = 1, stride: int = 1,
                 start_index: int = 0, end_index: int | None = None, shuffle: bool = False, reverse: bool = False,
                 batch_size: int = 32, *, target_frame: str = "next", target_column: str | None = None,
                 frame_column: str = "frame", video_column: str = "video", target_shape=(224, 224),
                 nb_channel: int = 3, rescale=1 / 255.0, transformation=None, on_bad_frames: str = "fill",
                 complete_last_batch: bool = True, seed: int | None = None, decode_threads: int = 1,
                 resize_in_decoder: bool = False, interpolation: str = "linear", max_open_readers: int = 4,
                 seek_cost: int = 16, backend: str = "auto", shard_index: int | None = None,
                 num_shards: int | None = None, index_cache=True, progress: bool = False, workers: int = 1, use_multiprocessing: bool = False,
                 max_queue_size: int = 10):
        super().__init__(workers=workers, use_multiprocessing=use_multiprocessing, max_queue_size=max_queue_size)
        if length is None:
            raise ValueError("length (frames per window) is required")
        check_window_args(length, sampling_rate, stride, start_index)
        if target_frame not in TARGET_FRAMES:
            raise ValueError(f"target_frame must be one of {TARGET_FRAMES}, got {target_frame!r}")
        if on_bad_frames not in BAD_FRAME_POLICIES:
            raise ValueError(f"on_bad_frames must be one of {BAD_FRAME_POLICIES}, got {on_bad_frames!r}")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if nb_channel not in (1, 3):
            raise ValueError(f"nb_channel must be 1 or 3, got {nb_channel}")
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {INTERPOLATIONS}")
        self.length, self.sampling_rate, self.stride = int(length), int(sampling_rate), int(stride)
        self.start_index, self.end_index = int(start_index), end_index
        self.shuffle, self.reverse, self.batch_size = bool(shuffle), bool(reverse), int(batch_size)
        self.target_frame = target_frame
        self.nb_channel, self.rescale = int(nb_channel), rescale
        self.transformation = transformation
        self._transform = make_transform(transformation)
        self.on_bad_frames = on_bad_frames
        self.complete_last_batch = bool(complete_last_batch)
        self.seed = int(np.random.SeedSequence().entropy % (2 ** 63)) if seed is None else int(seed)
        self.decode_threads = int(decode_threads)
        self.resize_in_decoder = bool(resize_in_decoder)
        self.interpolation = interpolation
        self.max_open_readers = max(1, int(max_open_readers))
        self.seek_cost = int(seek_cost)
        self.backend = backends.resolve(backend)
        self._dali = None

        self.infos = self._infos(videos, index_cache, progress)
        self.videos = [i.path for i in self.infos]
        if target_shape is None:
            sizes = {(i.width, i.height) for i in self.infos}
            if len(sizes) > 1:
                raise ValueError(f"videos have different sizes {sorted(sizes)}: give target_shape")
            target_shape = sizes.pop()
        if len(target_shape) != 2:
            raise ValueError(f"target_shape must be (width, height), got {target_shape}")
        self.target_shape = tuple(int(v) for v in target_shape)

        counts = [i.frame_count for i in self.infos]
        self._targets = make_targets(targets, self.videos, counts, target_column, frame_column, video_column)
        # windows must leave room for the next frame only when its label is read from per-frame targets
        need = target_frame if isinstance(self._targets, PerFrameTargets) else None
        try:
            self.windows = WindowIndex.build(counts, self.length, self.sampling_rate, self.stride, self.start_index,
                                             end_index, need)
        except ValueError as e:
            raise ValueError(f"{e} (videos: {self.videos})") from None
        for v, n in enumerate(self.windows.counts):
            if n == 0:
                log.warning("%s (%d frames) is too short for one window", self.videos[v], counts[v])
            elif isinstance(self._targets, PerFrameTargets):
                starts = self.start_index + self.stride * np.arange(n, dtype=np.int64)
                self._targets.check(v, target_frame_of(starts, self.length, self.sampling_rate, target_frame),
                                    self.videos[v])
        if self.windows.total == 0:
            raise ValueError("no window fits in the videos with these length/sampling_rate/start/end settings")
        self.classes = getattr(self._targets, "classes", None)
        self._span = (self.length - 1) * self.sampling_rate + 1
        self.shard_index, self.num_shards = resolve_shard(shard_index, num_shards)
        ids, self._epoch_windows = shard(list(range(self.windows.total)), self.shard_index, self.num_shards)
        if not ids:
            raise ValueError(f"shard {self.shard_index} of {self.num_shards} holds no window "
                             f"({self.windows.total} windows in all)")
        self._shard_ids = np.asarray(ids, np.int64)

        self.bad_frames = BadFrameReport()
        self._bad_windows: set[int] = set()
        self._unopenable: set[int] = set()
        self._lock = threading.Lock()
        self._readers: OrderedDict = OrderedDict()   # (pid, thread id, video) -> PyAVReader, LRU order
        self._orphans: list = []                      # readers inherited over fork: never touched
        self._closed_stats = [0, 0]
        self.epoch = 0
        self._current = 0
        self._order = self._epoch_order()

    # ------------------------------------------------------------------ setup
    @staticmethod
    def _infos(videos, index_cache, progress) -> list[VideoInfo]:
        if isinstance(videos, (str, os.PathLike, VideoInfo)):
            videos = [videos]
        videos = list(videos)
        if not videos:
            raise ValueError("no video given")
        paths = [str(v) for v in videos if not isinstance(v, VideoInfo)]
        if index_cache is True:
            cache = ProbeCache(default_cache_path())
        elif index_cache in (False, None):
            cache = ProbeCache(None)
        else:
            cache = ProbeCache(index_cache)
        found = index_videos(paths, cache, progress=progress) if paths else {}
        out = []
        for v in videos:
            info = v if isinstance(v, VideoInfo) else found[str(v)]
            if isinstance(info, VideoError):
                raise info
            out.append(info)
        return out

    # ------------------------------------------------------------------ epoch
    def _epoch_order(self):
        if not self.shuffle:
            return None
        return np.random.default_rng([self.seed, self.epoch]).permutation(len(self._shard_ids))

    def _window_id(self, pos: int) -> int:
        """Window at position ``pos`` of this epoch (wrapping around this shard's windows)."""
        pos %= len(self._shard_ids)
        return int(self._shard_ids[pos if self._order is None else self._order[pos]])

    def on_epoch_end(self):
        self.epoch += 1
        self._order = self._epoch_order()

    def __len__(self) -> int:
        return math.ceil(self._epoch_windows / self.batch_size)

    @property
    def num_windows(self) -> int:
        return self.windows.total

    def window(self, window_id: int) -> tuple[str, np.ndarray]:
        """``(video path, frame indices)`` of window ``window_id`` (numbered video after video)."""
        v, s = self.windows.locate(window_id)
        return self.videos[int(v)], window_frames(int(s), self.length, self.sampling_rate)

    # ------------------------------------------------------------------ readers
    def _reader(self, video: int) -> "_Slot":
        pid, tid = os.getpid(), threading.get_ident()
        key = (pid, tid, video)
        with self._lock:
            r = self._readers.get(key)
            if r is not None:
                self._readers.move_to_end(key)
                return r
            alive = {t.ident for t in threading.enumerate()}
            mine = 0
            for k in list(self._readers):
                if k[0] != pid:                    # inherited over fork: its decoder threads are not here
                    self._orphans.append(self._readers.pop(k))
                elif k[1] not in alive:
                    self._retire(self._readers.pop(k))
                elif k[1] == tid:
                    mine += 1
            if mine >= self.max_open_readers:
                oldest = next(k for k in self._readers if k[1] == tid)
                self._retire(self._readers.pop(oldest))
            r = _Slot(PyAVReader(self.infos[video], threads=self.decode_threads, skip_corrupt_packets=True,
                                     seek_cost=self.seek_cost))
            self._readers[key] = r
            return r

    def _retire(self, slot: "_Slot") -> None:
        self._closed_stats[0] += slot.reader.seeks
        self._closed_stats[1] += slot.reader.decoded
        slot.carry.clear()
        slot.reader.close()

    @property
    def seeks(self) -> int:
        """Keyframe seeks done by this process's readers so far."""
        with self._lock:
            return self._closed_stats[0] + sum(r.reader.seeks for k, r in self._readers.items() if k[0] == os.getpid())

    @property
    def decoded(self) -> int:
        """Frames decoded by this process's readers so far."""
        with self._lock:
            return self._closed_stats[1] + sum(r.reader.decoded for k, r in self._readers.items() if k[0] == os.getpid())

    def close(self) -> None:
        """Close the files and DALI pipelines this process opened (they reopen on demand)."""
        dali, self._dali = self._dali, None
        if dali is not None:
            dali.close()
        with self._lock:
            for k in [k for k in self._readers if k[0] == os.getpid()]:
                self._retire(self._readers.pop(k))

    # ------------------------------------------------------------------ batches
    def __getitem__(self, index: int):
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"batch {index} out of range for {n} batches")
        first = index * self.batch_size
        size = self.batch_size
        if not self.complete_last_batch:
            size = min(size, self._epoch_windows - first)
        ids = [self._window_id(first + k) for k in range(size)]
        x, ids = self._load(ids, next_pos=first + size)
        if self._targets is None:
            return x
        return x, self._targets_for(ids)

    def _targets_for(self, ids: list[int]):
        v, s = self.windows.locate(ids)
        if isinstance(self._targets, CallableTargets):
            out = [self._targets.get_one(self.videos[int(a)], window_frames(int(b), self.length, self.sampling_rate))
                   for a, b in zip(v, s)]
            y = np.asarray(out)
            return y.astype(np.float32) if y.dtype.kind in "biuf" else y
        tf = target_frame_of(s, self.length, self.sampling_rate, self.target_frame)
        return np.stack([self._targets.get(int(a), np.int64(b)) for a, b in zip(v, tf)])

    def _frame_shape(self) -> tuple[int, int, int]:
        return self.target_shape[1], self.target_shape[0], self.nb_channel

    def _read_video(self, video: int, frames: np.ndarray):
        """Prepared uint8 frames ``(u, h, w, c)`` for the sorted unique ``frames`` of one video, and a missing mask."""
        size = self.target_shape if self.resize_in_decoder else None
        h, w, c = self._frame_shape()
        out = np.zeros((len(frames), h, w, c), np.uint8)
        present = np.ones(len(frames), bool)
        slot = None
        if self.backend != "cpu" and video not in self._unopenable:
            return self._read_video_dali(video, frames, out, present)
        if video in self._unopenable:
            got, missing = {}, frames.tolist()
        else:
            slot = self._reader(video)
            # frames shared with the previous batch's last windows are kept, so reading never goes backwards
            carried = np.array([int(f) in slot.carry for f in frames], bool)
            for j in np.flatnonzero(carried):
                out[j] = slot.carry[int(frames[j])]
            todo = frames[~carried]
            try:
                got, missing = slot.reader.read_available(todo, size) if todo.size else ({}, [])
            except VideoError as e:   # the file cannot be opened at all (e.g. an mp4 cut before its index)
                if self.on_bad_frames == "raise":
                    raise
                log.warning("%s: %s; its windows are skipped", self.videos[video], e.reason)
                with self._lock:
                    self._unopenable.add(video)
                got, missing = {}, frames.tolist()
        if missing:
            present[np.searchsorted(frames, missing)] = False
        for f, a in got.items():
            out[np.searchsorted(frames, f)] = prepare_clip(a[None], self.target_shape, self.nb_channel,
                                                           self.interpolation)[0]
        got.clear()
        if slot is not None:
            # keep at most one window span (the most a later window can share with this batch)
            keep = frames > frames[-1] - self._span
            slot.carry = {int(f): out[j].copy() for j, f in zip(np.flatnonzero(keep & present), frames[keep & present])}
        return out, present

    def _read_video_dali(self, video: int, frames: np.ndarray, out: np.ndarray, present: np.ndarray):
        """DALI backends: the batch's frames of one video in one pipeline run (resize/grey inside)."""
        if self._dali is None:
            self._dali = backends.dali_decoder(self.backend, 1, self.target_shape, self.nb_channel,
                                               self.interpolation)
        res = self._dali.decode([(self.infos[video], frames)])[0]
        if isinstance(res, Exception):
            if self.on_bad_frames == "raise":
                raise res
            log.warning("%s: %s", self.videos[video], getattr(res, "reason", res))
            present[:] = False
        else:
            out[:] = backends.to_host(res)
        return out, present

    def _load(self, ids: list[int], next_pos: int):
        """x for windows ``ids`` (bad windows replaced when skipping); returns (x, final ids)."""
        h, w, c = self._frame_shape()
        x = np.empty((len(ids), self.length, h, w, c), np.float32)
        ids = list(ids)
        todo = list(range(len(ids)))
        tried = 0
        while todo:
            failed = self._fill(x, ids, todo)
            if not failed:
                break
            # skip: replace each failed window by the next good window after this batch in epoch order
            for b in failed:
                while True:
                    if tried >= max(1000, self.batch_size * 10):
                        raise VideoError(self.videos[0] if len(self.videos) == 1 else str(self.videos),
                                         "too many windows with undecodable frames; see bad_frames")
                    g = self._window_id(next_pos + tried)
                    tried += 1
                    if g not in self._bad_windows:
                        ids[b] = g
                        break
            todo = failed
        return x, ids

    def _with_shared_tail(self, union: np.ndarray, last_start: int) -> np.ndarray:
        """``union`` plus the frames of its last span that the next windows (in order) will use.

        They are decoded anyway on the way to this batch's last frame; converting them now
        and carrying them to the next batch keeps the reader going forward, never back.
        """
        r = self.sampling_rate
        top = int(union[-1])
        tail = np.arange(max(0, top - self._span + 1), top + 1)
        residues = {(last_start + m * self.stride) % r for m in range(1, r + 1)}
        tail = tail[np.isin(tail % r, list(residues))]
        return np.union1d(union, tail)

    def _fill(self, x: np.ndarray, ids: list[int], slots: list[int]) -> list[int]:
        """Fill ``x[slots]`` with windows ``ids[slots]``; returns the slots whose window must be replaced."""
        v, starts = self.windows.locate([ids[b] for b in slots])
        failed = []
        scale = None if self.rescale is None or self.rescale == 1 else np.float32(self.rescale)
        for video in np.unique(v):
            sel = np.flatnonzero(v == video)
            wf = window_frames(starts[sel], self.length, self.sampling_rate)   # (n, length)
            union = np.unique(wf)
            if not self.shuffle:
                union = self._with_shared_tail(union, int(starts[sel].max()))
            frames, present = self._read_video(int(video), union)
            path = self.videos[int(video)]
            if not present.all():
                action = {"fill": "windows completed from the nearest decodable frame",
                          "skip": "their windows are skipped", "raise": "raising"}[self.on_bad_frames]
                self.bad_frames.add(path, union[~present].tolist(), action)
                if self.on_bad_frames == "raise":
                    miss = union[~present]
                    raise VideoError(path, f"frames {miss[:5].tolist()}{'...' if miss.size > 5 else ''} "
                                           f"cannot be decoded")
            for row, j in enumerate(sel):
                b = slots[j]
                pos = np.searchsorted(union, wf[row])
                ok = present[pos]
                if not ok.all():
                    if self.on_bad_frames == "skip" or not ok.any():
                        with self._lock:
                            self._bad_windows.add(ids[b])
                        failed.append(b)
                        continue
                    pos = pos[nearest_available(ok)]
                if self.reverse:
                    pos = pos[::-1]
                if scale is None:
                    x[b] = frames[pos]
                else:
                    np.multiply(frames[pos], scale, out=x[b])
                if self._transform is not None:
                    rng = np.random.default_rng([self.seed, self.epoch, ids[b]])
                    x[b] = self._transform(x[b], rng)
        return failed

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
