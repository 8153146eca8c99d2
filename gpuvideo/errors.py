"""Errors and the bad-input report shared by every generator."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

log = logging.getLogger("gpuvideo")

ON_ERROR = ("skip", "raise")


class VideoError(RuntimeError):
    """A video could not be probed or decoded; ``path`` and ``reason`` say which and why."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class BadVideo:
    """One entry of a generator's ``bad_files`` report."""
    path: str
    stage: str    # "index" or "decode"
    reason: str


class BadVideoReport:
    """Thread-safe list of bad videos; each path is logged once (at WARNING)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._items: dict[str, BadVideo] = {}

    def add(self, path: str, stage: str, reason: str) -> bool:
        """Record ``path``; returns False when it was already reported."""
        with self._lock:
            if path in self._items:
                return False
            self._items[path] = BadVideo(path, stage, reason)
        log.warning("skipping unusable video %s (%s): %s", path, stage, reason)
        return True

    def __contains__(self, path: str) -> bool:
        return path in self._items

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> list[BadVideo]:
        with self._lock:
            return list(self._items.values())


def check_on_error(on_error: str) -> str:
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
    return on_error
