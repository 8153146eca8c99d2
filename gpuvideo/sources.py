"""Where a clip generator's videos and labels come from: class folders, a plain list of files, or a table.

A :class:`Source` is a list of :class:`Item` (a video, or a segment of one, with
the row of its target) and the targets themselves. The clip generators
(:class:`~gpuvideo.generator.VideoFrameGenerator` and its subclasses) only read
sources, so every way of naming videos gets the same indexing, splits, bad-input
handling, balancing and batching:

- :func:`folder_source`: keras_video's ``videos/{classname}/*.avi`` (one-hot ``y``);
- :func:`file_source`: paths or a glob without ``{classname}`` (no ``y``, for ``model.predict``);
- :func:`gpuvideo.tables.table_source`: a DataFrame or CSV file (classes, several
  labels per video, numeric targets, segments).
"""
from __future__ import annotations

import dataclasses
import glob
import os
from typing import Literal, Sequence

import numpy as np

from .discovery import PLACEHOLDER, find_files, is_candidate
from .timestamps import frame_times, frames_between
from .videoinfo import VideoInfo
from . import remote

SegmentUnit = Literal["frame", "second"]


@dataclasses.dataclass(frozen=True)
class Item:
    """One labelled unit: the video ``path``, the row of its target in :attr:`Source.targets` (-1: none),
    its class number ``group`` (0 when the source has no single class per item) and its ``segment``:
    ``(start, end)`` in the source's ``unit`` (frames: both included; seconds: ``start <= t < end``),
    or None for the whole video."""
    path: str
    row: int = -1
    group: int = 0
    segment: tuple | None = None


@dataclasses.dataclass(frozen=True)
class Source:
    """Items and targets of a clip generator.

    ``targets``: float32 ``(rows, ...)`` or None (batches are ``x`` only).
    ``classes``: class names (sorted unless given), or None. ``single_label``:
    each item has exactly one class, its ``group`` (splits are then made per
    class, and ``class_weight``/``class_balance`` work). ``names``: the label text
    of each target row (for :meth:`label_name`), or None. ``describe``: the
    source in words, for messages.
    """
    items: tuple
    targets: np.ndarray | None
    classes: tuple | None
    single_label: bool
    describe: str
    unit: SegmentUnit = "frame"
    names: tuple | None = None

    def paths(self) -> list[str]:
        """Distinct video paths, in item order."""
        return list(dict.fromkeys(it.path for it in self.items))

    def label_name(self, row: int) -> str | None:
        """The label text of target row ``row`` (class name; several joined by ``|``), or None."""
        if self.names is None or row < 0:
            return None
        return self.names[row]

    def without_targets(self) -> "Source":
        """The same items with no ``y`` (label names stay, e.g. for :meth:`~gpuvideo.rows.PredictionRows.rows`)."""
        return dataclasses.replace(self, targets=None)

    def groups(self, items: Sequence[Item]) -> dict[str, list[str]]:
        """Files per split group: per class name when each file has one class, else one group ``""``."""
        by_file: dict[str, set] = {}
        for it in items:
            by_file.setdefault(it.path, set()).add(it.group)
        if self.single_label and self.classes and all(len(g) == 1 for g in by_file.values()):
            out: dict[str, list[str]] = {}
            for path, g in by_file.items():
                out.setdefault(self.classes[next(iter(g))], []).append(path)
            return out
        return {"": list(by_file)}


def folder_source(glob_pattern: str, classes: Sequence[str] | None = None) -> Source:
    """Class folders: files of class ``c`` match ``glob_pattern`` with ``c`` for ``{classname}``; ``y`` one-hot
    float32 ``(classes_count,)`` in sorted class order."""
    names, files = find_files(glob_pattern, list(classes) if classes else None)
    items = tuple(Item(f, c, c) for c, name in enumerate(names) for f in files[name])
    return Source(items, np.eye(len(names), dtype=np.float32), tuple(names), True, repr(glob_pattern),
                  names=tuple(names))


def file_source(videos, classes: Sequence[str] | None = None) -> Source:
    """Unlabelled videos: a path, a list of paths (kept in the order given) or a glob (sorted matches);
    a glob with ``{classname}`` gives class folders (``classes``: which) whose names stay known, but no ``y``."""
    if isinstance(videos, (str, os.PathLike)):
        pattern = str(videos)
        if PLACEHOLDER in pattern:
            return folder_source(pattern, classes).without_targets()
        if glob.has_magic(pattern):
            paths = (remote.glob_files(pattern) if remote.is_remote(pattern)
                     else sorted({p for p in glob.glob(pattern, recursive=True) if is_candidate(p)}))
            if not paths:
                raise FileNotFoundError(f"no video file matches {pattern!r}")
        else:
            paths = [pattern]
        describe = repr(pattern)
    else:
        paths = [str(v) for v in videos]
        if not paths:
            raise ValueError("no video given")
        describe = f"{len(paths)} listed file(s)"
    if classes:
        raise ValueError(f"classes are read from a glob with {PLACEHOLDER}; {describe} has none")
    return Source(tuple(Item(p) for p in paths), None, None, False, describe)


def item_span(info: VideoInfo, item: Item, unit: SegmentUnit = "frame") -> tuple[int, int]:
    """``(first frame, frame count)`` of ``item`` in its video ``info``: the whole video, or its segment (a
    segment running past the end is cut there; one with no frame of the video raises ``ValueError``)."""
    if item.segment is None:
        return 0, info.frame_count
    start, end = item.segment
    if unit == "second":
        first, last = frames_between(frame_times(info), start, end)
    else:
        first, last = int(start), min(int(end), info.frame_count - 1)
    if last < first:
        raise ValueError(f"{item.path}: segment {start}..{end} ({unit}s) holds no frame of the video "
                         f"({info.frame_count} frames, {info.duration:.2f} s)")
    return first, last - first + 1
