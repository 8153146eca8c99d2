"""Host batch arrays recycled once nothing outside gpuvideo refers to them.

A fresh NumPy array of a batch's size (tens to hundreds of MB) is mapped from
the kernel page by page as it is first written, which costs a large share of
building a float32 batch (``benchmarks/levers/lever_e_windows.py``: 27.8 ms of
CPU per W3 batch into fresh arrays, 17.0 ms into a reused one). Training loops
drop each batch after its step, so they get the same memory back, already
mapped. At most ``keep`` arrays stay allocated after the caller let them go
(the dataset's ``close()`` frees them).

An array is reused only when its reference count shows that nothing but this
pool holds it: a batch the caller keeps, a view of it (views refer to the
array that owns the data), a tensor sharing its memory (``torch.from_numpy``,
TensorFlow and DLPack keep a reference) all keep it out of reuse.
"""
from __future__ import annotations

import sys

import numpy as np

from .parallel import ForkSafeLock

# references to a kept array that is free: the pool's list and getrefcount's own argument
_FREE_REFS = 2


class BatchBuffers:
    """Up to ``keep`` arrays handed out before; :meth:`empty` returns a free one of the same shape and
    dtype (its old contents still there: every element must be written) or a new one."""

    def __init__(self, keep: int = 3):
        self.keep = max(0, int(keep))
        self._kept: list[np.ndarray] = []
        self._lock = ForkSafeLock()
        self.reused = 0

    def empty(self, shape: tuple, dtype) -> np.ndarray:
        """Like ``np.empty(shape, dtype)``."""
        dtype = np.dtype(dtype)
        shape = tuple(int(s) for s in shape)
        with self._lock:
            for i in range(len(self._kept)):
                if (self._kept[i].shape == shape and self._kept[i].dtype == dtype
                        and sys.getrefcount(self._kept[i]) <= _FREE_REFS):
                    a = self._kept.pop(i)
                    self._kept.append(a)           # most recently handed out last
                    self.reused += 1
                    return a
            a = np.empty(shape, dtype)
            if self.keep:
                self._kept.append(a)
                if len(self._kept) > self.keep:
                    self._kept.pop(0)
            return a

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()
