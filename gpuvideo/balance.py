"""Class balance: weights for ``model.fit(class_weight=...)`` and epochs that draw every class evenly.

:class:`BalancedDraw` gives every class ``m`` slots per epoch: ``m`` is the
largest class's sample count with ``"oversample"``, the smallest with
``"undersample"``. Slot ``s`` belongs to class ``s % C`` (``C`` classes, in
class order), as its ``s // C``-th draw, so an epoch in slot order cycles
through the classes. A class's draws for epoch ``e`` are its samples in a
random order, followed by further random orders until there are ``m``
(oversampling: every sample at least once per epoch, and no sample more than
once more than any other of its class; undersampling: a different subset each
epoch). The orders come from ``numpy.random.default_rng([seed, epoch, class])``,
so an epoch's draws are the same on every worker and in every run with the same
``seed``.
"""
from __future__ import annotations

import math
import threading
from typing import Literal, Mapping, Sequence

import numpy as np

ClassBalance = Literal[None, "oversample", "undersample"]


def class_weight(counts: Mapping[int, int]) -> dict[int, float]:
    """``{class: n / (C * n_class)}`` for ``model.fit(class_weight=...)``: every class weighs the same in total
    (``n`` samples, ``C`` classes with at least one sample)."""
    present = {c: n for c, n in counts.items() if n > 0}
    total = sum(present.values())
    return {int(c): total / (len(present) * n) for c, n in sorted(present.items())}


class BalancedDraw:
    """Per-epoch mapping from slots ``0 .. total - 1`` to sample ids (see the module doc)."""

    def __init__(self, by_class: Mapping[int, Sequence[int]], mode: str, seed: int):
        if mode not in ("oversample", "undersample"):
            raise ValueError(f"class_balance must be 'oversample', 'undersample' or None, got {mode!r}")
        self.classes = sorted(c for c, ids in by_class.items() if len(ids))
        self.members = [np.asarray(by_class[c], np.int64) for c in self.classes]
        sizes = [len(m) for m in self.members]
        self.per_class = max(sizes) if mode == "oversample" else min(sizes)
        self.seed = int(seed)
        self._lock = threading.Lock()
        self._cached: tuple[int, np.ndarray] | None = None

    @property
    def total(self) -> int:
        """Slots per epoch: ``classes * per_class``."""
        return len(self.classes) * self.per_class

    def sample(self, slot: int, epoch: int) -> int:
        """Sample id drawn for ``slot`` in ``epoch``."""
        return int(self.table(epoch)[slot % len(self.classes), slot // len(self.classes)])

    def table(self, epoch: int) -> np.ndarray:
        """int64 ``(classes, per_class)``: each class's draws in ``epoch``."""
        with self._lock:
            if self._cached is None or self._cached[0] != epoch:
                self._cached = (epoch, np.stack([self._draws(k, epoch) for k in range(len(self.classes))]))
            return self._cached[1]

    def _draws(self, k: int, epoch: int) -> np.ndarray:
        members = self.members[k]
        rng = np.random.default_rng([self.seed, epoch, self.classes[k]])
        rounds = math.ceil(self.per_class / len(members))
        return np.concatenate([rng.permutation(members) for _ in range(rounds)])[:self.per_class]
