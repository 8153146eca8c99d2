"""Per-frame timelines from window predictions: one score per frame, its time, and intervals above a threshold.

``model.predict(gen)`` over a :class:`~gpuvideo.timeseries.VideoTimeseriesGenerator`
(or any generator whose rows are windows, such as the sliding one) gives one
output per window. :func:`timeline` turns them into one score per frame:

- a window *covers* the frames from its first to its last frame (frames that
  ``sampling_rate`` skips included);
- ``rule="mean"`` (default): a frame's score is the mean of the outputs of the
  windows that cover it; ``rule="max"``: their maximum;
- frames no window covers (before ``start_index``, after the last window) get
  NaN, and ``windows`` (how many windows cover each frame) is 0 there.

Rows flagged ``bad`` by :meth:`~gpuvideo.rows.PredictionRows.rows` (a window
replaced because its frames could not be decoded) are left out. Times are
seconds from the video's first frame, from the file's own timestamps (see
:mod:`gpuvideo.timestamps`), so variable-frame-rate files are placed right.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np

from .options import check_choice
from .timestamps import frame_duration, frame_times

Rule = Literal["mean", "max"]
_CHUNK = 1 << 20          # frames expanded at once by the "max" rule


class Interval(NamedTuple):
    """Frames ``first_frame..last_frame`` (both included) of ``video`` scoring at or above the threshold, shown
    from ``start`` to ``end`` seconds (``end``: when the last frame gives way to the next); ``peak`` score."""
    video: str
    first_frame: int
    last_frame: int
    start: float
    end: float
    peak: float


def frame_scores(first: np.ndarray, last: np.ndarray, outputs: np.ndarray, frame_count: int,
                 rule: str = "mean") -> tuple[np.ndarray, np.ndarray]:
    """Scores of the frames of one video from its windows (pure; see the module doc).

    ``first``/``last``: int ``(n,)`` first and last frame of each window;
    ``outputs``: ``(n, ...)``. Returns float64 scores ``(frame_count, ...)``
    (NaN where no window covers the frame) and int64 window counts ``(frame_count,)``.
    """
    check_choice("rule", rule, Rule)
    first, last = np.asarray(first, np.int64), np.asarray(last, np.int64)
    out = np.asarray(outputs, np.float64)
    shape = out.shape[1:]
    out = out.reshape(len(out), -1)
    if len(out) != len(first) or len(first) != len(last):
        raise ValueError(f"{len(first)} windows but {len(out)} outputs")
    if len(first) and (first.min() < 0 or last.max() >= frame_count or (last < first).any()):
        raise ValueError(f"windows outside the video's {frame_count} frames")
    counts = np.zeros(frame_count + 1, np.int64)
    np.add.at(counts, first, 1)
    np.add.at(counts, last + 1, -1)
    counts = np.cumsum(counts)[:frame_count]
    if rule == "mean":
        acc = np.zeros((frame_count + 1, out.shape[1]))
        np.add.at(acc, first, out)
        np.add.at(acc, last + 1, -out)
        with np.errstate(invalid="ignore", divide="ignore"):
            scores = np.cumsum(acc, axis=0)[:frame_count] / counts[:, None]
    else:
        scores = np.full((frame_count, out.shape[1]), -np.inf)
        lens = last - first + 1
        start = 0
        while start < len(first):
            stop = start + max(1, int(np.searchsorted(np.cumsum(lens[start:]), _CHUNK)))
            n = lens[start:stop]
            idx = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n) + np.repeat(first[start:stop], n)
            np.maximum.at(scores, idx, np.repeat(out[start:stop], n, axis=0))
            start = stop
    scores[counts == 0] = np.nan
    return scores.reshape((frame_count,) + shape), counts


@dataclass(frozen=True)
class Timeline:
    """One row per frame, video after video: ``video`` (index into ``videos``), ``frame``, ``time`` (seconds
    from the video's first frame), ``score`` (float64 ``(frames,) + output shape``, NaN where no window covers
    the frame) and ``windows`` (windows covering the frame)."""
    videos: tuple
    video: np.ndarray
    frame: np.ndarray
    time: np.ndarray
    score: np.ndarray
    windows: np.ndarray

    def scores(self, column: int | None = None) -> np.ndarray:
        """1-D scores: ``score`` itself, or its ``column`` for outputs with several values per window."""
        s = self.score.reshape(len(self.score), -1)
        if column is None:
            if s.shape[1] != 1:
                raise ValueError(f"outputs have {s.shape[1]} values per window: choose a column")
            column = 0
        return s[:, column]

    def intervals(self, threshold: float = 0.5, column: int | None = None, min_frames: int = 1) -> list[Interval]:
        """Runs of consecutive frames of one video scoring ``>= threshold`` (NaN never does), at least
        ``min_frames`` long, in timeline order."""
        s = self.scores(column)
        above = np.nan_to_num(s, nan=-np.inf) >= threshold
        out = []
        for v, path in enumerate(self.videos):
            rows = np.flatnonzero(self.video == v)
            edges = np.diff(np.concatenate([[0], above[rows].astype(np.int8), [0]]))
            times = self.time[rows]
            for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1):
                if b - a + 1 < min_frames:
                    continue
                end = times[b] + frame_duration(times, b, 0.0)
                out.append(Interval(path, int(self.frame[rows[a]]), int(self.frame[rows[b]]), float(times[a]),
                                    float(end), float(np.max(s[rows[a:b + 1]]))))
        return out

    def columns(self) -> dict[str, np.ndarray | list]:
        """The table as columns: ``video`` (path), ``frame``, ``time``, ``score`` (or ``score_0``, ``score_1``,
        ... for several values per window) and ``windows``."""
        cols: dict = {"video": [self.videos[v] for v in self.video], "frame": self.frame, "time": self.time}
        flat = self.score.reshape(len(self.score), -1)
        if flat.shape[1] == 1:
            cols["score"] = flat[:, 0]
        else:
            cols.update({f"score_{k}": flat[:, k] for k in range(flat.shape[1])})
        cols["windows"] = self.windows
        return cols

    def to_dataframe(self):
        """The table as a pandas ``DataFrame`` (see :meth:`columns`)."""
        import pandas as pd

        return pd.DataFrame(self.columns())

    def to_csv(self, path: str | os.PathLike) -> None:
        """Write the table (see :meth:`columns`) as CSV; NaN scores are empty cells."""
        cols = self.columns()
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(list(cols))
            for row in zip(*cols.values()):
                w.writerow([_cell(v) for v in row])


def _cell(v) -> str:
    if isinstance(v, (float, np.floating)):
        return "" if np.isnan(v) else f"{float(v):.9g}"
    return str(v)


def timeline(gen, predictions, rule: str = "mean") -> Timeline:
    """Per-frame scores of every video with windows in ``gen`` from ``predictions = model.predict(gen)``
    (one row per window, ``(gen.num_rows, ...)``); see the module doc for the rule."""
    predictions = np.asarray(predictions)
    rows = gen.rows()
    if len(predictions) != len(rows):
        raise ValueError(f"{len(predictions)} predictions for {len(rows)} rows of the generator: pass "
                         f"model.predict(gen) of this generator (complete_last_batch=False)")
    by_video: dict[str, list[int]] = {}
    for k, r in enumerate(rows):
        if not r.bad:
            by_video.setdefault(r.path, []).append(k)
    parts, videos = [], []
    for v, (path, ks) in enumerate(by_video.items()):
        info = gen._request(rows[ks[0]].sample)[0]
        first = np.array([rows[k].frames.min() for k in ks])
        last = np.array([rows[k].frames.max() for k in ks])
        scores, counts = frame_scores(first, last, predictions[ks], info.frame_count, rule)
        n = info.frame_count
        parts.append((np.full(n, v), np.arange(n), frame_times(info), scores, counts))
        videos.append(path)
    if not parts:
        raise ValueError("no usable window")
    cat = [np.concatenate(p) for p in zip(*parts)]
    return Timeline(tuple(videos), *cat)
