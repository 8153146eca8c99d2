"""Videos and labels from a table: a pandas ``DataFrame`` or a CSV file, one row per sample.

Used by :meth:`~gpuvideo.generator.VideoFrameGenerator.from_dataframe`, with
Keras's ``flow_from_dataframe`` names:

- ``x_col``: the video paths; relative ones are joined to ``directory`` (None:
  the current folder for a DataFrame, the CSV file's folder for a CSV path).
- ``y_col`` and ``class_mode``:

  - ``"categorical"``: class names; ``y`` one-hot float32 ``(classes_count,)``. A
    cell holding a list (or, with ``label_sep``, a string such as ``"run|jump"``)
    gives several labels: ``y`` is then multi-hot;
  - ``"binary"``: two classes; ``y`` float32 ``()``, 0 or 1 (index in ``classes``);
  - ``"sparse"``: ``y`` float32 ``()``, the class index;
  - ``"raw"``: numbers, regression targets: one column (cells may be arrays of
    any one shape) or a list of columns; ``y`` float32 ``(...)``;
  - None: no ``y``.

  ``classes``: the class names and their order (default: every label found,
  sorted); rows with a label outside them are left out (logged).
- ``start_col``/``end_col``: a segment per row (several rows per video, e.g.
  action segments): frames ``start..end`` (both included) with
  ``segment_unit="frame"``, or frames shown at ``start <= t < end`` seconds (the
  file's own timestamps) with ``"second"``. Each row is one sample whose frames
  are chosen inside its segment.

A missing label, a non-numeric ``raw`` value or a backwards segment raises
``ValueError`` naming the row (numbered from 0, the header not counted).
"""
from __future__ import annotations

import csv
import logging
import math
import os
import typing
from typing import Sequence

import numpy as np

from .options import check_choice
from .sources import Item, SegmentUnit, Source

log = logging.getLogger("gpuvideo")

ClassMode = typing.Literal["categorical", "binary", "sparse", "raw", None]
#: the table arguments that also describe which videos to predict on (see ``for_prediction``)
TABLE_ARGS = ("directory", "x_col", "start_col", "end_col", "segment_unit")


def is_table(obj) -> bool:
    """A DataFrame-like object (has ``columns``) or a path ending in ``.csv``."""
    if hasattr(obj, "columns"):
        return True
    return isinstance(obj, (str, os.PathLike)) and str(obj).lower().endswith(".csv")


def read_table(table) -> tuple[dict[str, list], str | None]:
    """Columns of ``table`` (DataFrame or CSV path) as lists, and the folder relative paths start from."""
    if hasattr(table, "columns"):
        return {str(c): list(table[c]) for c in table.columns}, None
    with open(table, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{table}: no rows")
    return {k: [r[k] for r in rows] for k in rows[0]}, os.path.dirname(os.path.abspath(table))


def table_source(table, directory: str | os.PathLike | None = None, x_col: str = "filename",
                 y_col: str | Sequence[str] | None = "class", class_mode: ClassMode = "categorical",
                 classes: Sequence[str] | None = None, label_sep: str | None = None, start_col: str | None = None,
                 end_col: str | None = None, segment_unit: SegmentUnit = "frame") -> Source:
    """The :class:`~gpuvideo.sources.Source` of a table (see the module doc)."""
    check_choice("class_mode", class_mode, ClassMode)
    check_choice("segment_unit", segment_unit, SegmentUnit)
    cols, csv_root = read_table(table)
    wanted = [x_col] + ([] if class_mode is None else _as_list(y_col))
    wanted += [c for c in (start_col, end_col) if c is not None]
    absent = [c for c in wanted if c not in cols]
    if absent:
        raise ValueError(f"column(s) {absent} not in the table's columns {list(cols)}")
    root = str(directory) if directory is not None else csv_root
    paths = [_path(v, root, i) for i, v in enumerate(cols[x_col])]
    segments = _segments(cols, start_col, end_col, segment_unit, len(paths))
    if class_mode is None:
        keep, targets, groups, names, found, single = list(range(len(paths))), None, None, None, None, False
    elif class_mode == "raw":
        keep, targets, groups, names, found, single = list(range(len(paths))), _numbers(cols, y_col), None, None, \
            None, False
    else:
        keep, targets, groups, names, found = _classes(cols[y_col], class_mode, classes, label_sep)
        single = groups is not None
    items = tuple(Item(paths[i], k, groups[k] if groups else 0, segments[i]) for k, i in enumerate(keep))
    where = f"table {table!r}" if isinstance(table, (str, os.PathLike)) else "the DataFrame"
    return Source(items, targets, found, single, where, segment_unit, names)


def _as_list(cols) -> list[str]:
    if cols is None:
        raise ValueError("give y_col (or class_mode=None for no labels)")
    return [cols] if isinstance(cols, str) else list(cols)


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip())


def _path(value, root: str | None, row: int) -> str:
    if _missing(value):
        raise ValueError(f"row {row}: no video path")
    p = os.path.expanduser(str(value))
    return p if os.path.isabs(p) or not root else os.path.join(root, p)


def _number(value, what: str, row: int) -> float:
    try:
        if _missing(value):
            raise ValueError
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"row {row}: {what} must be a number, got {value!r}") from None


def _segments(cols: dict, start_col, end_col, unit: str, n: int) -> list:
    if start_col is None and end_col is None:
        return [None] * n
    if start_col is None or end_col is None:
        raise ValueError("give both start_col and end_col for segments")
    out = []
    for row, (a, b) in enumerate(zip(cols[start_col], cols[end_col])):
        start, end = _number(a, start_col, row), _number(b, end_col, row)
        if unit == "frame":
            if start != int(start) or end != int(end):
                raise ValueError(f"row {row}: frame segment {a!r}..{b!r} is not whole frames "
                                 f"(segment_unit='second' for times)")
            start, end = int(start), int(end)
        if start < 0 or end < start:
            raise ValueError(f"row {row}: segment {a!r}..{b!r} must have 0 <= start <= end")
        out.append((start, end))
    return out


def _numbers(cols: dict, y_col) -> np.ndarray:
    """``raw`` targets: float32 ``(rows,)`` or ``(rows, columns)``, or ``(rows,) + shape`` for array cells."""
    names = _as_list(y_col)
    if not isinstance(y_col, str):
        n = len(cols[names[0]])
        return np.array([[_number(cols[c][r], c, r) for c in names] for r in range(n)],
                        np.float32).reshape(n, len(names))
    cells = []
    for r, v in enumerate(cols[y_col]):
        a = np.asarray(v, dtype=object)
        if a.ndim == 0:
            cells.append(np.float32(_number(v, y_col, r)))
        else:
            cells.append(np.array([_number(e, y_col, r) for e in a.reshape(-1)], np.float32).reshape(a.shape))
    shapes = {c.shape for c in cells}
    if len(shapes) > 1:
        raise ValueError(f"column {y_col!r} holds targets of different shapes {sorted(shapes)}")
    return np.stack(cells).astype(np.float32)


def _labels(value, label_sep: str | None, row: int) -> list[str]:
    if isinstance(value, (list, tuple, set, frozenset, np.ndarray)):
        labels = [str(v) for v in value]
    elif _missing(value):
        labels = []
    elif label_sep is not None and isinstance(value, str):
        labels = [v.strip() for v in value.split(label_sep) if v.strip()]
    else:
        labels = [str(value)]
    if not labels:
        raise ValueError(f"row {row}: no label")
    return sorted(set(labels))


def _classes(column: list, class_mode: str, classes, label_sep):
    """``(kept rows, targets, class per kept row or None when several labels, label names, classes)``."""
    labels = [_labels(v, label_sep, r) for r, v in enumerate(column)]
    found = list(classes) if classes else sorted({lab for ls in labels for lab in ls})
    index = {c: k for k, c in enumerate(found)}
    if len(index) != len(found):
        raise ValueError(f"duplicate class names in {found}")
    keep = [r for r, ls in enumerate(labels) if all(lab in index for lab in ls)]
    if len(keep) < len(labels):
        log.info("%d table row(s) have labels outside classes %s and are left out", len(labels) - len(keep), found)
    if not keep:
        raise ValueError(f"no row has a label in classes {found}")
    multi = any(len(labels[r]) > 1 for r in keep)
    if multi and class_mode != "categorical":
        raise ValueError(f"several labels per row need class_mode='categorical', not {class_mode!r}")
    if class_mode == "binary" and len(found) != 2:
        raise ValueError(f"class_mode='binary' needs exactly 2 classes, got {found}")
    ids = [[index[lab] for lab in labels[r]] for r in keep]
    if class_mode == "categorical":
        targets = np.zeros((len(keep), len(found)), np.float32)
        for k, cs in enumerate(ids):
            targets[k, cs] = 1.0
    else:
        targets = np.array([cs[0] for cs in ids], np.float32)
    groups = None if multi else [cs[0] for cs in ids]
    names = tuple("|".join(labels[r]) for r in keep)
    return keep, targets, groups, names, tuple(found)
