"""Random per-sequence augmentation: one draw per clip, applied to every frame alike."""
from __future__ import annotations

from typing import Callable

import numpy as np


def make_transform(transformation) -> Callable[[np.ndarray, np.random.Generator], np.ndarray] | None:
    """Normalise ``transformation`` to ``f(clip, rng) -> clip`` for float32 ``(T, H, W, C)`` clips.

    Accepts ``None``, an object with the legacy ``ImageDataGenerator`` interface
    (``get_random_transform(shape, seed)`` + ``apply_transform(x, params)``), or
    a plain callable ``(clip, rng) -> clip`` returning the same shape.
    """
    if transformation is None:
        return None
    if hasattr(transformation, "get_random_transform") and hasattr(transformation, "apply_transform"):
        def legacy(clip, rng):
            params = transformation.get_random_transform(clip.shape[1:], seed=int(rng.integers(2 ** 31 - 1)))
            return np.stack([transformation.apply_transform(f, params) for f in clip]).astype(clip.dtype, copy=False)
        return legacy
    if callable(transformation):
        def plain(clip, rng):
            out = np.asarray(transformation(clip, rng))
            if out.shape != clip.shape:
                raise ValueError(f"transformation changed the clip shape {clip.shape} -> {out.shape}")
            return out.astype(clip.dtype, copy=False)
        return plain
    raise TypeError("transformation must be None, an ImageDataGenerator-like object or a callable (clip, rng) -> clip")
