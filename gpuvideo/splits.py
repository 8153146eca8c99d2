"""Per-class train / validation / test splits (pure, reproducible with a seed)."""
from __future__ import annotations

import numpy as np


def _check_fraction(name, v):
    if v is not None and not 0.0 < v < 1.0:
        raise ValueError(f"{name} must be in (0, 1) or None, got {v}")


def split_files(files_by_class: dict[str, list[str]], split_val: float | None = None,
                split_test: float | None = None, seed: int | None = None):
    """Split each class's files: ``int(split_val * n)`` for validation, then
    ``int(split_test * (n - n_val))`` of the rest for test (keras_video's rule).

    Returns three dicts class -> files (train, val, test), each list sorted.
    With the same ``seed`` and files the split is the same.
    """
    _check_fraction("split_val", split_val)
    _check_fraction("split_test", split_test)
    rng = np.random.default_rng(seed)
    train, val, test = {}, {}, {}
    for cls in sorted(files_by_class):
        files = sorted(files_by_class[cls])
        n = len(files)
        order = rng.permutation(n)
        n_val = int((split_val or 0.0) * n)
        n_test = int((split_test or 0.0) * (n - n_val))
        val[cls] = sorted(files[i] for i in order[:n_val])
        test[cls] = sorted(files[i] for i in order[n_val:n_val + n_test])
        train[cls] = sorted(files[i] for i in order[n_val + n_test:])
    return train, val, test
