"""Window arithmetic for :class:`~gpuvideo.timeseries.VideoTimeseriesGenerator` (pure, no I/O).

Conventions (frames are 0-based):

- window ``j`` of a video starts at ``start = start_index + j * stride`` and holds
  the ``length`` frames ``start + k * sampling_rate`` for ``k < length``;
- ``end_index`` is the last frame (inclusive) a window may use, default
  ``frame_count - 1``. When the target is the frame after the window
  (``target_frame="next"``, Keras ``TimeseriesGenerator``'s choice), that frame,
  ``start + length * sampling_rate``, must also be ``<= end_index``;
- with ``target_frame="last"`` the target frame is the window's last frame
  ``start + (length - 1) * sampling_rate``.

Windows of several videos are numbered video after video; a window never
straddles two videos. Only per-video counts are stored, so the memory used by
the index does not grow with the videos' length.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

TARGET_FRAMES = ("next", "last")


def check_window_args(length: int, sampling_rate: int, stride: int, start_index: int) -> None:
    for name, v, low in (("length", length, 1), ("sampling_rate", sampling_rate, 1), ("stride", stride, 1),
                         ("start_index", start_index, 0)):
        if int(v) != v or v < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")


def frames_needed(length: int, sampling_rate: int, target_frame: str | None = None) -> int:
    """Frames from a window's start to the last frame it needs (target frame included), inclusive."""
    span = (length - 1) * sampling_rate + 1
    if target_frame == "next":
        span += sampling_rate
    elif target_frame not in (None, "last"):
        raise ValueError(f"target_frame must be one of {TARGET_FRAMES}, got {target_frame!r}")
    return span


def resolve_end(frame_count: int, end_index: int | None) -> int:
    """Inclusive last usable frame; ``end_index`` past the video's last frame raises (never shortened)."""
    if end_index is None:
        return frame_count - 1
    end = int(end_index)
    if end < 0:
        raise ValueError(f"end_index must be >= 0, got {end_index}")
    if end >= frame_count:
        raise ValueError(f"end_index={end} is past the last frame {frame_count - 1} of the video")
    return end


def count_windows(frame_count: int, length: int, sampling_rate: int = 1, stride: int = 1, start_index: int = 0,
                  end_index: int | None = None, target_frame: str | None = None) -> int:
    """Number of windows of a video of ``frame_count`` frames (0 when it is too short)."""
    check_window_args(length, sampling_rate, stride, start_index)
    end = resolve_end(frame_count, end_index)
    room = end - start_index + 1 - frames_needed(length, sampling_rate, target_frame)
    return 0 if room < 0 else room // stride + 1


def window_starts(frame_count: int, length: int, sampling_rate: int = 1, stride: int = 1, start_index: int = 0,
                  end_index: int | None = None, target_frame: str | None = None) -> np.ndarray:
    """First frame of every window, int64."""
    n = count_windows(frame_count, length, sampling_rate, stride, start_index, end_index, target_frame)
    return start_index + stride * np.arange(n, dtype=np.int64)


def window_frames(start, length: int, sampling_rate: int = 1) -> np.ndarray:
    """Frame indices of the window(s) starting at ``start`` (scalar -> ``(length,)``, array -> ``(n, length)``)."""
    s = np.asarray(start, dtype=np.int64)
    return s[..., None] + sampling_rate * np.arange(length, dtype=np.int64)


def target_frame_of(start, length: int, sampling_rate: int = 1, target_frame: str = "next"):
    """Frame whose label is the window's target: the one after the window (``"next"``) or its last (``"last"``)."""
    s = np.asarray(start, dtype=np.int64)
    if target_frame == "next":
        return s + length * sampling_rate
    if target_frame == "last":
        return s + (length - 1) * sampling_rate
    raise ValueError(f"target_frame must be one of {TARGET_FRAMES}, got {target_frame!r}")


@dataclass(frozen=True)
class WindowIndex:
    """Windows of several videos, numbered ``0 .. total - 1`` video after video.

    ``counts[v]`` windows for video ``v``; window ``g`` of video ``v`` (``offsets[v] <= g``)
    starts at ``start_index + (g - offsets[v]) * stride``.
    """
    counts: tuple
    length: int
    sampling_rate: int
    stride: int
    start_index: int

    @classmethod
    def build(cls, frame_counts: Sequence[int], length: int, sampling_rate: int = 1, stride: int = 1,
              start_index: int = 0, end_index: int | None = None, target_frame: str | None = None) -> "WindowIndex":
        counts = tuple(count_windows(n, length, sampling_rate, stride, start_index, end_index, target_frame)
                       for n in frame_counts)
        return cls(counts, int(length), int(sampling_rate), int(stride), int(start_index))

    @property
    def offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.counts, dtype=np.int64)])

    @property
    def total(self) -> int:
        return int(sum(self.counts))

    def locate(self, g) -> tuple[np.ndarray, np.ndarray]:
        """(video number, window start frame) of global window id(s) ``g``."""
        g = np.asarray(g, dtype=np.int64)
        if g.size and (g.min() < 0 or g.max() >= self.total):
            raise IndexError(f"window id outside [0, {self.total})")
        off = self.offsets
        v = np.searchsorted(off, g, side="right") - 1
        start = self.start_index + (g - off[v]) * self.stride
        return v, start


def nearest_available(available: np.ndarray) -> np.ndarray:
    """For a boolean mask over a window's frames, the position of the nearest available frame for each position.

    Available positions map to themselves; ties go to the earlier frame. Raises
    ``ValueError`` when nothing is available.
    """
    available = np.asarray(available, dtype=bool)
    pos = np.flatnonzero(available)
    if pos.size == 0:
        raise ValueError("no available frame")
    k = np.arange(available.size)
    right = np.searchsorted(pos, k, side="left").clip(0, pos.size - 1)
    left = (right - 1).clip(0, pos.size - 1)
    dl = np.abs(k - pos[left])
    dr = np.abs(pos[right] - k)
    return np.where(dl <= dr, pos[left], pos[right])
