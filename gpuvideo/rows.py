"""Which file and frames each output row of ``model.predict(gen)`` (and each sample) comes from.

``model.predict(gen)`` walks the batches in order, so its row ``r`` is the
sample at position ``r`` of the epoch order (see
:meth:`~gpuvideo.dataset.VideoDataset.sample_at`). :class:`PredictionRows` gives
every generator ``row_info(r)``, ``rows()`` and ``num_rows``; the rows are
those of the current epoch's order (fixed when ``shuffle=False``, as in
:meth:`~gpuvideo.generator.VideoFrameGenerator.for_prediction` and
:class:`~gpuvideo.timeseries.VideoTimeseriesGenerator`'s default).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .timestamps import frame_times


class SampleInfo(NamedTuple):
    """What sample ``sample`` of a generator holds: ``frames`` (int64) of the video ``path``; ``label``
    is its class name (clip generators) or None."""
    sample: int
    path: str
    frames: np.ndarray
    label: str | None = None


class RowInfo(NamedTuple):
    """Output row ``row`` of ``model.predict``: sample ``sample``, frames ``frames`` (int64, in the order the
    model sees them) of ``path``, shown at ``times`` (float64 seconds from the file's first frame, from its
    own timestamps); ``label``: class name(s) or None; ``bad``: the video (or window) is listed in
    ``bad_files``/``bad_frames`` as unusable, so the row holds zeros or a replacement, not this sample."""
    row: int
    sample: int
    path: str
    frames: np.ndarray
    times: np.ndarray
    label: str | None
    bad: bool


class PredictionRows:
    """``row_info``/``rows``/``num_rows`` for a :class:`~gpuvideo.dataset.VideoDataset`."""

    @property
    def num_rows(self) -> int:
        """Rows ``model.predict(gen)`` returns: the epoch's samples, or ``len(gen) * batch_size`` when
        ``complete_last_batch`` fills the last batch (the extra rows repeat the first samples)."""
        if self.batching.complete_last_batch:
            return len(self) * self.batch_size
        return self.epoch_samples

    def row_info(self, row: int) -> RowInfo:
        """What output row ``row`` of ``model.predict(gen)`` holds (negative rows count from the end)."""
        return self._row(row, {})

    def rows(self, as_dataframe: bool = False):
        """Every output row of ``model.predict(gen)``, in order: a list of :class:`RowInfo`, or with
        ``as_dataframe=True`` a pandas ``DataFrame`` with columns ``row, sample, path, first_frame,
        last_frame, first_time, last_time, frames, label, bad`` (times in seconds)."""
        times: dict = {}
        out = [self._row(r, times) for r in range(self.num_rows)]
        return rows_dataframe(out) if as_dataframe else out

    def _row(self, row: int, times: dict) -> RowInfo:
        n = self.num_rows
        r = row + n if row < 0 else row
        if not 0 <= r < n:
            raise IndexError(f"row {row} out of range for {n} rows")
        sample = self.sample_at(r)
        info, frames = self._request(sample)
        if info.path not in times:
            times[info.path] = frame_times(info)
        frames = np.asarray(frames, np.int64)
        bad = info.path in self.bad_files or self._is_bad(sample)
        return RowInfo(r, int(sample), info.path, frames, times[info.path][frames], self._label_name(sample),
                       bool(bad))


def rows_dataframe(rows: list[RowInfo]):
    """A pandas ``DataFrame`` of :class:`RowInfo` (see :meth:`PredictionRows.rows`)."""
    import pandas as pd

    return pd.DataFrame({
        "row": [r.row for r in rows],
        "sample": [r.sample for r in rows],
        "path": [r.path for r in rows],
        "first_frame": [int(r.frames.min()) for r in rows],
        "last_frame": [int(r.frames.max()) for r in rows],
        "first_time": [float(r.times.min()) for r in rows],
        "last_time": [float(r.times.max()) for r in rows],
        "frames": [r.frames.tolist() for r in rows],
        "label": [r.label for r in rows],
        "bad": [r.bad for r in rows],
    })
