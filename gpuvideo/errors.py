"""Errors, and the one bad-input report every generator keeps (files and frames)."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Iterable

import numpy as np

log = logging.getLogger("gpuvideo")


class VideoError(RuntimeError):
    """A video could not be probed or decoded; ``path`` and ``reason`` say which and why."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class MissingFrames(VideoError):
    """Some frames of a request could not be decoded (truncated file, damaged packets).

    ``clip`` is the request's uint8 ``(n, h, w, c)`` result with zeros where
    ``present`` (bool ``(n,)``, one per requested index) is False; ``missing``
    lists the frame indices that are absent, sorted.
    """

    def __init__(self, path: str, clip, present: np.ndarray, missing: list[int]):
        shown = ", ".join(map(str, missing[:5])) + (", ..." if len(missing) > 5 else "")
        super().__init__(path, f"frame(s) {shown} cannot be decoded")
        self.clip = clip
        self.present = present
        self.missing = missing


@dataclass(frozen=True)
class BadVideo:
    """One entry of a generator's ``bad_files``."""
    path: str
    stage: str    # "index" or "decode"
    reason: str


class BadInputReport:
    """Thread-safe record of unusable videos and undecodable frames; each logged once (WARNING).

    Shared by a generator and the validation/test generators derived from it.
    ``gen.bad_files`` and ``gen.bad_frames`` are views of it.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._files: dict[str, BadVideo] = {}
        self._frames: dict[str, set[int]] = {}
        self._counts: dict[str, int] = {}

    def add_file(self, path: str, stage: str, reason: str) -> bool:
        """Record an unusable video; returns False when it was already reported."""
        with self._lock:
            if path in self._files:
                return False
            self._files[path] = BadVideo(path, stage, reason)
        log.warning("skipping unusable video %s (%s): %s", path, stage, reason)
        return True

    def add_frames(self, path: str, frames: Iterable[int], action: str) -> None:
        """Record undecodable frames of ``path``; new ones are logged with ``action`` (what is done)."""
        with self._lock:
            known = self._frames.setdefault(path, set())
            new = sorted(set(int(f) for f in frames) - known)
            known.update(new)
        if new:
            shown = ", ".join(map(str, new[:10])) + (", ..." if len(new) > 10 else "")
            log.warning("%s: %d frame(s) cannot be decoded (%s); %s", path, len(new), shown, action)

    def count(self, event: str, n: int = 1) -> None:
        """Count an event that is not a bad file, e.g. ``"dali_retries"`` (see :meth:`counts`)."""
        with self._lock:
            self._counts[event] = self._counts.get(event, 0) + n

    def counts(self) -> dict[str, int]:
        """Events counted so far: ``dali_fallback_files`` (files DALI failed on, decoded by PyAV from then
        on), ``dali_retries`` and ``dali_device_errors`` (runs that failed for the device, not a file)."""
        with self._lock:
            return dict(self._counts)

    def has_file(self, path: str) -> bool:
        return path in self._files

    def files(self) -> list[BadVideo]:
        with self._lock:
            return list(self._files.values())

    def frames(self, path: str | None = None):
        """Sorted frame indices of ``path``, or every ``(path, frame)`` pair when ``path`` is None."""
        with self._lock:
            if path is not None:
                return sorted(self._frames.get(path, ()))
            return sorted((p, f) for p, fs in self._frames.items() for f in fs)

    @property
    def bad_files(self) -> "BadFiles":
        return BadFiles(self)

    @property
    def bad_frames(self) -> "BadFrames":
        return BadFrames(self)


class BadFiles:
    """``gen.bad_files``: ``path in gen.bad_files``, ``len``, ``items()`` -> list of :class:`BadVideo`."""

    def __init__(self, report: BadInputReport):
        self._report = report

    def __contains__(self, path: str) -> bool:
        return self._report.has_file(path)

    def __len__(self) -> int:
        return len(self._report.files())

    def items(self) -> list[BadVideo]:
        return self._report.files()

    def add(self, path: str, stage: str, reason: str) -> bool:
        return self._report.add_file(path, stage, reason)


class BadFrames:
    """``gen.bad_frames``: ``items()`` -> sorted ``(path, frame)`` pairs, ``frames(path)``, ``len``."""

    def __init__(self, report: BadInputReport):
        self._report = report

    def items(self) -> list[tuple[str, int]]:
        return self._report.frames()

    def frames(self, path: str) -> list[int]:
        return self._report.frames(path)

    def __len__(self) -> int:
        return len(self._report.frames())
