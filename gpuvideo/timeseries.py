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
are one decoder request; the decoder keeps its files open between batches. In
order (``shuffle=False``) consecutive batches continue decoding forward; the
reader seeks only when the next frame lies past the next keyframe. With
``shuffle=True`` windows come in random order, so most batches seek.

Undecodable frames (truncated file, corrupt packets) are reported in
``bad_frames`` (video and frame index, logged once) and, following
``on_bad_frames``: ``"fill"`` completes the window from its nearest decodable
frame (earlier one on ties; a window with no decodable frame is skipped),
``"skip"`` replaces the window by the next good window of the epoch order, and
``"raise"`` raises :class:`~gpuvideo.errors.VideoError`. A video that cannot be
opened at all is reported in ``bad_files`` and its windows are skipped.
Batches keep their size.
"""
from __future__ import annotations

import logging
import os

import numpy as np

from .dataset import VideoDataset
from .decode import Request
from .errors import MissingFrames, VideoError
from .options import AugmentOptions, BatchOptions, DecodeOptions, FrameOptions, TargetFrame, check_choice
from .targets import CallableTargets, PerFrameTargets, make_targets
from .videoinfo import VideoInfo
from .windows import WindowIndex, check_window_args, nearest_available, target_frame_of, window_frames

log = logging.getLogger("gpuvideo")

_ACTIONS = {"fill": "windows completed from the nearest decodable frame", "skip": "their windows are skipped",
            "raise": "raising"}


class VideoTimeseriesGenerator(VideoDataset):
    """Sliding windows of frames over one or several (long) videos, as Keras batches.

    Parameters follow Keras's ``TimeseriesGenerator`` (on frames, see the module doc):

    - ``videos``: a path or :class:`~gpuvideo.videoinfo.VideoInfo`, or a list of them.
    - ``targets``: None (batches are ``x`` only), per-frame array(s), a CSV path or a
      DataFrame (``target_column``, ``frame_column``, ``video_column``), or a callable
      ``(video_path, frame_indices) -> target``; see :mod:`gpuvideo.targets`.
    - ``length`` frames per window, ``sampling_rate`` frames between them, windows every
      ``stride`` frames from ``start_index``; ``end_index``: last usable frame (inclusive;
      past the video's end raises). ``target_frame``: ``"next"`` (default) or ``"last"``.
    - ``shuffle``: a new random window order each epoch (seeded by ``seed``; Keras's
      ``TimeseriesGenerator`` draws with replacement instead). ``reverse``: frames of
      each window in reverse order.
    - ``batch_size``; ``complete_last_batch`` (default False, as Keras: the last batch
      is shorter, so ``model.predict(gen)`` returns one output per window, in order);
      True fills it with windows from the start of the epoch order.
    - ``target_shape`` (width, height) or None for the file's size, ``nb_channel`` 1 or 3,
      ``rescale`` (x is float32 ``frame * rescale``), ``dtype`` (``'float32'``, ``'float16'``,
      ``'bfloat16'``, or ``'uint8'``: the frames as decoded, no rescale), ``transformation`` (see
      :func:`gpuvideo.transform.make_transform`; one draw per window).
    - ``on_bad_frames``: ``"fill"``, ``"skip"`` or ``"raise"`` (see the module doc).
    - ``decode_threads``: videos of a batch decoded in parallel; ``ffmpeg_threads``:
      FFmpeg threads per open file (default 0: FFmpeg chooses; a long video is read by one
      reader, so its decoder's own threads are what runs in parallel). ``resize_in_decoder``: True
      resizes while converting to RGB (FFmpeg bilinear: faster, but pixels differ
      from OpenCV's by a few levels); False (default) decodes at full size and
      resizes with OpenCV (``interpolation``), as the other generators do.
    - ``backend``: ``'auto'``, ``'cpu'``, ``'gpu'`` or ``'dali-cpu'``, as in
      :class:`~gpuvideo.generator.VideoFrameGenerator`. With DALI each batch's
      frames of a video are decoded in one pipeline run, from an excerpt of the GOPs
      they need (the cost of a batch does not grow with the video's length).
      ``device_id``, ``prefetch``, ``apply_rotation``, ``drop_truncated``: as in
      :class:`~gpuvideo.generator.VideoFrameGenerator` (truncated videos and lost frames are
      listed in ``gen.warnings``; their missing frames follow ``on_bad_frames``).
    - ``max_open_readers``: idle open files kept (least recently used closed).
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
                 complete_last_batch: bool = False, seed: int | None = None, decode_threads: int | None = None,
                 ffmpeg_threads: int = 0, resize_in_decoder: bool = False, interpolation: str = "linear",
                 max_open_readers: int = 4, seek_cost: int = 16, backend: str = "auto",
                 device_id: int | None = None, prefetch: int | None = None, dtype: str = "float32",
                 apply_rotation: bool = True, drop_truncated: bool = False,
                 shard_index: int | None = None, num_shards: int | None = None, index_cache=True,
                 progress: bool = False, workers: int = 1, use_multiprocessing: bool = False,
                 max_queue_size: int = 10):
        args = dict(locals())
        if length is None:
            raise ValueError("length (frames per window) is required")
        check_window_args(length, sampling_rate, stride, start_index)
        check_choice("target_frame", target_frame, TargetFrame)
        decoding = DecodeOptions.pick(args, use_frame_cache=False, cache_bytes=0, device_batches=False,
                                      on_error="raise" if on_bad_frames == "raise" else "skip")
        super().__init__(FrameOptions.pick(args), decoding, BatchOptions.pick(args), AugmentOptions.pick(args),
                         workers, use_multiprocessing, max_queue_size)
        self.length, self.sampling_rate, self.stride = int(length), int(sampling_rate), int(stride)
        self.start_index, self.end_index = int(start_index), end_index
        self.reverse, self.target_frame = bool(reverse), target_frame
        self.infos = self._infos(videos, index_cache, progress)
        self.videos = [i.path for i in self.infos]
        counts = [i.frame_count for i in self.infos]
        self._targets_ = make_targets(targets, self.videos, counts, target_column, frame_column, video_column)
        self.windows = self._window_index(counts)
        self.classes = getattr(self._targets_, "classes", None)
        self._span = (self.length - 1) * self.sampling_rate + 1
        self._bad_windows: set[int] = set()
        self._start(self.windows.total)

    # ------------------------------------------------------------------ setup
    def _infos(self, videos, index_cache, progress) -> list[VideoInfo]:
        if isinstance(videos, (str, os.PathLike, VideoInfo)):
            videos = [videos]
        videos = list(videos)
        if not videos:
            raise ValueError("no video given")
        paths = [str(v) for v in videos if not isinstance(v, VideoInfo)]
        found = self._index_files(paths, index_cache, progress) if paths else {}
        out = []
        for v in videos:
            info = v if isinstance(v, VideoInfo) else found[str(v)]
            if isinstance(info, VideoError):
                raise info
            out.append(info)
        return out

    def _window_index(self, counts: list[int]) -> WindowIndex:
        # windows must leave room for the next frame only when its label is read from per-frame targets
        per_frame = isinstance(self._targets_, PerFrameTargets)
        try:
            windows = WindowIndex.build(counts, self.length, self.sampling_rate, self.stride, self.start_index,
                                        self.end_index, self.target_frame if per_frame else None)
        except ValueError as e:
            raise ValueError(f"{e} (videos: {self.videos})") from None
        for v, n in enumerate(windows.counts):
            if n == 0:
                log.warning("%s (%d frames) is too short for one window", self.videos[v], counts[v])
            elif per_frame:
                starts = self.start_index + self.stride * np.arange(n, dtype=np.int64)
                self._targets_.check(v, target_frame_of(starts, self.length, self.sampling_rate, self.target_frame),
                                     self.videos[v])
        if windows.total == 0:
            raise ValueError("no window fits in the videos with these length/sampling_rate/start/end settings")
        return windows

    def _native_size(self):
        rotate = self.decoding.apply_rotation
        sizes = {(i.display_width, i.display_height) if rotate else (i.width, i.height) for i in self.infos}
        if len(sizes) > 1:
            raise ValueError(f"videos have different sizes {sorted(sizes)}: give target_shape")
        return sizes.pop()

    # ------------------------------------------------------------------ windows
    @property
    def num_windows(self) -> int:
        return self.windows.total

    @property
    def target_shape(self) -> tuple:
        return self.frames.target_shape or self._native_size()

    def window(self, window_id: int) -> tuple[str, np.ndarray]:
        """``(video path, frame indices)`` of window ``window_id`` (numbered video after video)."""
        v, s = self.windows.locate(window_id)
        return self.videos[int(v)], window_frames(int(s), self.length, self.sampling_rate)

    @property
    def seeks(self) -> int:
        """Keyframe seeks done by this process's readers so far."""
        return self.decoder.seeks

    @property
    def decoded(self) -> int:
        """Frames decoded by this process's readers so far."""
        return self.decoder.decoded

    # ------------------------------------------------------------------ VideoDataset hooks
    def _request(self, sample: int):
        v, s = self.windows.locate(sample)
        frames = window_frames(int(s), self.length, self.sampling_rate)
        return self.infos[int(v)], frames[::-1] if self.reverse else frames

    def _keep_recent(self) -> int:
        return 0 if self.batching.shuffle else self._span

    def _plan(self, ids: list[int]):
        """One request per video: the union of its windows' frames (plus, in order, the frames the
        next batch's windows share, which the reader passes anyway)."""
        v, starts = self.windows.locate(ids)
        plan = []
        for video in np.unique(v):
            sel = np.flatnonzero(v == video)
            union = np.unique(window_frames(starts[sel], self.length, self.sampling_rate))
            if not self.batching.shuffle:
                union = self._with_shared_tail(union, int(starts[sel].max()))
            uses = [(int(k), np.searchsorted(union, self._request(ids[k])[1])) for k in sel]
            plan.append((Request(self.infos[int(video)], union), uses))
        return plan

    def _with_shared_tail(self, union: np.ndarray, last_start: int) -> np.ndarray:
        """``union`` plus the frames of its last span that the next windows (in order) will use."""
        r = self.sampling_rate
        top = int(union[-1])
        tail = np.arange(max(0, top - self._span + 1), top + 1)
        residues = {(last_start + m * self.stride) % r for m in range(1, r + 1)}
        tail = tail[np.isin(tail % r, list(residues))]
        return np.union1d(union, tail)

    def _usable(self, sample: int, request: Request, result, positions):
        policy = self.decoding.on_bad_frames
        if isinstance(result, MissingFrames):
            self.report.add_frames(request.info.path, result.missing, _ACTIONS[policy])
            if policy == "raise":
                raise result
            ok = result.present[positions]
            if ok.all():
                return result.clip[positions]
            if policy == "skip" or not ok.any():
                self._bad_windows.add(sample)
                return None
            return result.clip[positions[nearest_available(ok)]]
        return super()._usable(sample, request, result, positions)

    def _is_bad(self, sample: int) -> bool:
        return sample in self._bad_windows or super()._is_bad(sample)

    def _replace(self, sample: int, tried: int, state: dict) -> int:
        """The next good window after this batch in the epoch order."""
        while True:
            if state["drawn"] >= max(1000, self.batch_size * 10):
                raise VideoError(self.videos[0] if len(self.videos) == 1 else str(self.videos),
                                 "too many windows with undecodable frames; see bad_frames")
            g = self.sample_at(state["next_pos"] + state["drawn"], state["order"])
            state["drawn"] += 1
            if not self._is_bad(g):
                return g

    def _targets(self, ids: list[int]):
        if self._targets_ is None:
            return None
        v, s = self.windows.locate(ids)
        if isinstance(self._targets_, CallableTargets):
            out = [self._targets_.get_one(self.videos[int(a)], window_frames(int(b), self.length, self.sampling_rate))
                   for a, b in zip(v, s)]
            y = np.asarray(out)
            return y.astype(np.float32) if y.dtype.kind in "biuf" else y
        tf = target_frame_of(s, self.length, self.sampling_rate, self.target_frame)
        return np.stack([self._targets_.get(int(a), np.int64(b)) for a, b in zip(v, tf)])
