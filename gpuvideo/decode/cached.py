"""A decoder wrapped with a byte-bounded cache of its clips (``use_frame_cache=True``)."""
from __future__ import annotations

from ..cache import ClipCache
from . import Decoder


class CachedDecoder:
    """Serves repeated requests ``(video, indices)`` from a :class:`~gpuvideo.cache.ClipCache`
    of ``max_bytes``; the rest go to ``inner`` in one call. Errors are not cached."""

    def __init__(self, inner: Decoder, max_bytes: int):
        self.inner = inner
        self.cache = ClipCache(max_bytes)

    def decode(self, requests) -> list:
        keys = [(info.path, bytes(memoryview(_int64(idx)))) for info, idx in requests]
        out = [self.cache.get(k) for k in keys]
        todo = [k for k, hit in enumerate(out) if hit is None]
        if todo:
            for k, res in zip(todo, self.inner.decode([requests[k] for k in todo])):
                out[k] = res
                if not isinstance(res, Exception):
                    self.cache.put(keys[k], res)
        return out

    def decode_one(self, request):
        return self.decode([request])[0]

    def __getattr__(self, name):          # stats, seeks, fallback... of the wrapped decoder
        if name == "inner" or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.inner, name)

    def close(self) -> None:
        self.inner.close()


def _int64(idx):
    import numpy as np

    return np.ascontiguousarray(idx, dtype=np.int64)
