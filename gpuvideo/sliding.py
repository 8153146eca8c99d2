"""``SlidingFrameGenerator``: several clips per video, one per window position."""
from __future__ import annotations

import logging

import numpy as np

from .generator import VideoFrameGenerator, _where
from .options import ClipOptions
from .sampling import sliding_windows
from .videoinfo import VideoInfo

log = logging.getLogger("gpuvideo")


class SlidingFrameGenerator(VideoFrameGenerator):
    """Every window of every video is a sample, and returns its own frames.

    ``sequence_time`` (seconds, converted with each video's own fps) is the span
    a window covers; None spans the whole video. Frames inside a window are
    ``max(1, span // nb_frames)`` apart and windows start every ``window_stride``
    frames (keyword-only, default 1). See :func:`gpuvideo.sampling.sliding_windows`
    for the exact rule; ``len(gen) = ceil(total windows / batch_size)``.
    All other parameters are :class:`~gpuvideo.generator.VideoFrameGenerator`'s.
    """

    def __init__(self, *args, sequence_time: float | None = None, window_stride: int = 1, **kwargs):
        self._window = {"sequence_time": sequence_time, "window_stride": window_stride}
        super().__init__(*args, **kwargs)

    def _clip_options(self, args: dict) -> ClipOptions:
        return ClipOptions.pick(args, **self._window)

    def _clips(self, info: VideoInfo, first: int, count: int) -> list[np.ndarray]:
        """Windows over frames ``first .. first + count - 1`` (the whole video, or a table's segment)."""
        n = self._frames_per_sample()
        windows = sliding_windows(count, info.fps, n, self.clip.sequence_time, self.clip.window_stride)
        if count < n:
            log.info("%s has %d frames, fewer than %d: frames are repeated", _where(info, first, count), count, n)
        return list(first + windows)
