"""Per-frame targets for :class:`~gpuvideo.timeseries.VideoTimeseriesGenerator`.

Accepted forms (see :func:`make_targets`):

- ``None``: batches are ``x`` only;
- one array (one video) or a list of arrays / a ``{path: array}`` dict (several
  videos) whose first axis is the video's frame count: ``array[f]`` is frame
  ``f``'s label or value;
- a CSV file or a pandas ``DataFrame`` with one row per frame: the column
  ``target_column`` holds the values; an optional ``frame_column`` (default
  ``"frame"``) gives each row's frame index (otherwise rows are frames 0, 1, ...),
  and an optional ``video_column`` (default ``"video"``) says which video a row
  belongs to (full path or file name). Text labels become class ids in sorted
  order (``classes``);
- a callable ``(video_path, frame_indices) -> target`` called per window.
"""
from __future__ import annotations

import csv
import os
from typing import Callable, Sequence

import numpy as np


class PerFrameTargets:
    """Per-video arrays of per-frame targets; ``classes`` is set when text labels were mapped to ids."""

    def __init__(self, arrays: list[np.ndarray], known: list[np.ndarray] | None = None,
                 classes: list[str] | None = None):
        self.arrays = arrays
        self.known = known            # per video boolean mask of labelled frames (None: all)
        self.classes = classes

    def check(self, video: int, frames: np.ndarray, path: str) -> None:
        """Raise ``ValueError`` if a target frame has no label."""
        if frames.size == 0:
            return
        if frames.max() >= len(self.arrays[video]):
            raise ValueError(f"{path}: target frame {int(frames.max())} has no label "
                             f"(labels cover {len(self.arrays[video])} frames)")
        if self.known is not None:
            bad = frames[~self.known[video][frames]]
            if bad.size:
                raise ValueError(f"{path}: target frames {bad[:5].tolist()} have no label")

    def get(self, video: int, frames: np.ndarray) -> np.ndarray:
        return self.arrays[video][frames]


class CallableTargets:
    def __init__(self, fn: Callable):
        self.fn = fn
        self.classes = None

    def get_one(self, path: str, frames: np.ndarray):
        return self.fn(path, frames)


def _read_csv(path) -> dict[str, list[str]]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{path}: no rows")
    return {k: [r[k] for r in rows] for k in rows[0]}


def _column(values) -> np.ndarray:
    a = np.asarray(values)
    if a.dtype.kind in "OUS":
        try:
            return a.astype(np.float64)
        except (TypeError, ValueError):
            return a.astype(str)
    return a


def _table(targets, paths: Sequence[str], frame_counts: Sequence[int], target_column, frame_column,
           video_column) -> PerFrameTargets:
    if isinstance(targets, (str, os.PathLike)):
        cols = {k: _column(v) for k, v in _read_csv(targets).items()}
    else:   # DataFrame-like
        cols = {str(k): _column(np.asarray(targets[k])) for k in targets.columns}
    if target_column is None:
        rest = [c for c in cols if c not in (frame_column, video_column)]
        if len(rest) != 1:
            raise ValueError(f"give target_column: the table has columns {list(cols)}")
        target_column = rest[0]
    if target_column not in cols:
        raise ValueError(f"target column {target_column!r} not in {list(cols)}")
    values = cols[target_column]
    classes = None
    if values.dtype.kind in "US":
        classes = sorted(set(values.tolist()))
        values = np.searchsorted(np.asarray(classes), values).astype(np.float32)
    else:
        values = values.astype(np.float32)
    n = len(values)
    if video_column in cols:
        names = cols[video_column].astype(str)
        owner = np.full(n, -1, np.int64)
        for v, p in enumerate(paths):
            for name in {p, os.path.abspath(p), os.path.basename(p)}:
                owner[names == name] = v
        if (owner < 0).any():
            raise ValueError(f"rows name videos not given to the generator: {sorted(set(names[owner < 0]))[:5]}")
    else:
        if len(paths) != 1:
            raise ValueError(f"several videos: the table needs a {video_column!r} column")
        owner = np.zeros(n, np.int64)
    arrays, known = [], []
    for v, count in enumerate(frame_counts):
        rows = np.flatnonzero(owner == v)
        if frame_column in cols:
            frames = cols[frame_column].astype(np.int64)[rows]
        else:
            frames = np.arange(rows.size)
        if frames.size and (frames.min() < 0 or frames.max() >= count):
            raise ValueError(f"{paths[v]}: labelled frames outside [0, {count})")
        arr = np.zeros(count, np.float32)
        mask = np.zeros(count, bool)
        arr[frames] = values[rows]
        mask[frames] = True
        arrays.append(arr)
        known.append(mask)
    return PerFrameTargets(arrays, known, classes)


def make_targets(targets, paths: Sequence[str], frame_counts: Sequence[int], target_column=None,
                 frame_column: str = "frame", video_column: str = "video"):
    """Normalise ``targets`` (see the module doc) to None, :class:`PerFrameTargets` or :class:`CallableTargets`."""
    if targets is None:
        return None
    if callable(targets) and not hasattr(targets, "columns"):
        return CallableTargets(targets)
    if isinstance(targets, (str, os.PathLike)) or hasattr(targets, "columns"):
        return _table(targets, paths, frame_counts, target_column, frame_column, video_column)
    if isinstance(targets, dict):
        by = {os.path.abspath(str(k)): v for k, v in targets.items()}
        try:
            arrays = [np.asarray(by[os.path.abspath(p)]) for p in paths]
        except KeyError as e:
            raise ValueError(f"no targets for video {e}") from None
    elif len(paths) > 1 or (isinstance(targets, (list, tuple)) and targets and np.ndim(targets[0]) >= 1
                            and len(targets) == 1):
        if len(targets) != len(paths):
            raise ValueError(f"{len(paths)} videos but {len(targets)} target arrays")
        arrays = [np.asarray(t) for t in targets]
    else:
        arrays = [np.asarray(targets)]
    out = []
    for p, a, count in zip(paths, arrays, frame_counts):
        if a.ndim == 0 or len(a) != count:
            raise ValueError(f"{p}: {count} frames but {0 if a.ndim == 0 else len(a)} per-frame targets")
        out.append(a.astype(np.float32) if a.dtype.kind in "biuf" else a)
    return PerFrameTargets(out)
