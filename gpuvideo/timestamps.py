"""Frame times in seconds, from a file's own presentation timestamps (variable frame rate safe).

Frame ``f`` of a video is shown ``(pts[f] - pts[0]) * time_base`` seconds after
its first frame, with ``pts`` and ``time_base`` as :mod:`gpuvideo.probe` reads
them from the stream. Files whose timestamps are unknown fall back to
``f / fps``.
"""
from __future__ import annotations

import numpy as np

from .videoinfo import VideoInfo


def has_timestamps(info: VideoInfo) -> bool:
    """True when ``info`` holds one timestamp per frame and the stream's time base."""
    return bool(info.time_base) and len(info.pts) == info.frame_count and info.frame_count > 0


def frame_times(info: VideoInfo) -> np.ndarray:
    """Seconds from the first frame to each frame: float64 ``(frame_count,)``, ascending, ``[0] == 0``."""
    if has_timestamps(info):
        num, den = info.time_base
        pts = np.asarray(info.pts, np.int64)
        return (pts - pts[0]) * (num / den)
    return np.arange(info.frame_count, dtype=np.float64) / info.fps


def frame_duration(times: np.ndarray, frame: int, fps: float) -> float:
    """Seconds frame ``frame`` stays on screen: up to the next frame, or the median step for the last one."""
    if frame + 1 < len(times):
        return float(times[frame + 1] - times[frame])
    if len(times) > 1:
        return float(np.median(np.diff(times)))
    return 1.0 / fps if fps > 0 else 0.0


def frames_between(times: np.ndarray, start: float, end: float) -> tuple[int, int]:
    """``(first, last)`` frames shown at ``start <= t < end`` seconds (``last < first`` when none)."""
    first = int(np.searchsorted(times, start, side="left"))
    last = int(np.searchsorted(times, end, side="left")) - 1
    return first, last
