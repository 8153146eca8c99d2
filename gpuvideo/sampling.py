"""Frame-index choice: pure functions of (frame count, fps, parameters), no I/O.

Every function returns a 1-D ``numpy.int64`` array of 0-based frame indices in
presentation order, each in ``[0, frame_count - 1]``. Indices may repeat when a
video is shorter than the clip asked for (the nearest available frame is used).
"""
from __future__ import annotations

import math

import numpy as np

SAMPLING_MODES = ("uniform", "legacy")


def _check(frame_count: int, nb_frames: int) -> None:
    if nb_frames < 1:
        raise ValueError(f"nb_frames must be >= 1, got {nb_frames}")
    if frame_count < 1:
        raise ValueError(f"frame_count must be >= 1, got {frame_count}")


def uniform_indices(frame_count: int, nb_frames: int) -> np.ndarray:
    """``nb_frames`` indices spread evenly over the video, first and last included.

    Frame ``i`` of ``n`` is ``floor(i * (T - 1) / (n - 1) + 0.5)``; with ``n == 1``
    the middle frame ``(T - 1) // 2`` is used.
    """
    _check(frame_count, nb_frames)
    if nb_frames == 1:
        return np.array([(frame_count - 1) // 2], dtype=np.int64)
    i = np.arange(nb_frames, dtype=np.int64)
    # exact integer form of floor(i*(T-1)/(n-1) + 0.5)
    num = 2 * i * (frame_count - 1) + (nb_frames - 1)
    return num // (2 * (nb_frames - 1))


def legacy_indices(frame_count: int, nb_frames: int) -> np.ndarray:
    """keras_video 1.0.14's choice: T rounded up to even, step ``s = max(1, T // (n-1))``.

    keras_video kept 1-based frame ``j`` when ``j == 1``, ``j % s == 0`` or
    ``j == T`` until ``n`` were kept (0-based ``0, s-1, 2s-1, ...``). Where it
    ran out of frames (and dropped the video) the last available frame is repeated.
    """
    _check(frame_count, nb_frames)
    t_even = frame_count + (frame_count % 2)
    step = max(1, t_even // max(1, nb_frames - 1))
    kept = np.unique(np.concatenate([[1], np.arange(step, t_even + 1, step), [t_even]]))
    kept = kept[:nb_frames] - 1
    idx = np.minimum(np.array(kept, dtype=np.int64), frame_count - 1)
    if len(idx) < nb_frames:
        idx = np.concatenate([idx, np.full(nb_frames - len(idx), idx[-1], dtype=np.int64)])
    return idx


def clip_indices(frame_count: int, nb_frames: int, mode: str = "uniform") -> np.ndarray:
    """Dispatch on ``mode`` (one of :data:`SAMPLING_MODES`)."""
    if mode == "uniform":
        return uniform_indices(frame_count, nb_frames)
    if mode == "legacy":
        return legacy_indices(frame_count, nb_frames)
    raise ValueError(f"sampling must be one of {SAMPLING_MODES}, got {mode!r}")


def sliding_windows(frame_count: int, fps: float, nb_frames: int,
                    sequence_time: float | None = None, window_stride: int = 1) -> np.ndarray:
    """Windows of ``SlidingFrameGenerator``: shape ``(nb_windows, nb_frames)``.

    A window spans ``S`` frames: ``round(sequence_time * fps)`` when
    ``sequence_time`` (seconds) is given, else the whole video (``S = T``), capped
    at ``T``. Inside a window frames are ``step = max(1, S // nb_frames)`` apart;
    window ``w`` starts at frame ``w * window_stride`` and holds
    ``start + k * step`` for ``k < nb_frames``. Windows slide until the last one
    ends on or before the last frame, so there are
    ``(T - (nb_frames - 1) * step - 1) // window_stride + 1`` of them.
    E.g. T=60, fps=30, nb_frames=6, sequence_time=1: step 5, windows
    ``[0, 5, ..., 25]``, ``[1, 6, ..., 26]``, ... ``[34, 39, ..., 59]``.
    A video too short for one window gives one window of
    :func:`uniform_indices` (frames repeated).
    """
    _check(frame_count, nb_frames)
    if window_stride < 1:
        raise ValueError(f"window_stride must be >= 1, got {window_stride}")
    if sequence_time is not None:
        if sequence_time <= 0:
            raise ValueError(f"sequence_time must be > 0 seconds, got {sequence_time}")
        if not fps or fps <= 0 or not math.isfinite(fps):
            raise ValueError("sequence_time needs a known frame rate")
        span = min(frame_count, int(round(sequence_time * fps)))
    else:
        span = frame_count
    step = max(1, span // nb_frames)
    last_start = frame_count - (nb_frames - 1) * step - 1
    if last_start < 0:
        return uniform_indices(frame_count, nb_frames)[None, :]
    starts = np.arange(0, last_start + 1, window_stride, dtype=np.int64)
    return starts[:, None] + step * np.arange(nb_frames, dtype=np.int64)[None, :]
