"""A byte-bounded LRU cache of decoded clips (NumPy or CuPy arrays)."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
from .parallel import ForkSafeLock

#: default budget of ``use_frame_cache=True``, per generator and process
DEFAULT_CACHE_BYTES = 512 * 2 ** 20


class ClipCache:
    """Keeps arrays under ``max_bytes`` in total, evicting the least recently used."""

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES):
        if max_bytes < 0:
            raise ValueError("max_bytes must be >= 0")
        self.max_bytes = int(max_bytes)
        self.nbytes = 0
        self.hits = self.misses = 0
        self._data: OrderedDict = OrderedDict()
        self._lock = ForkSafeLock()

    def get(self, key):
        with self._lock:
            arr = self._data.get(key)
            if arr is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return arr

    def put(self, key, arr: np.ndarray) -> None:
        size = arr.nbytes
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self.nbytes -= old.nbytes
            self._data[key] = arr
            self.nbytes += size
            while self.nbytes > self.max_bytes:
                _, ev = self._data.popitem(last=False)
                self.nbytes -= ev.nbytes

    def __len__(self):
        return len(self._data)
