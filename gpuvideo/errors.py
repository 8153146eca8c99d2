"""Errors, and the one bad-input report every generator keeps (files and frames)."""
from __future__ import annotations

import fcntl
import json
import logging
import os
import tempfile
import uuid
from dataclasses import dataclass
from typing import Iterable

import numpy as np
from .parallel import ForkSafeLock

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
    """Record of unusable videos, undecodable frames and counted events; each logged once (WARNING).

    Shared by a generator and the validation/test generators derived from it
    (``gen.bad_files`` and ``gen.bad_frames`` are views of it), and across
    processes: entries also go to a small journal file (JSON lines, appended
    under an exclusive ``flock``), so what a forked Keras worker finds reaches
    the generator you hold, and a file is logged once per run whichever process
    found it. The journal is made on the first entry, in the temporary folder,
    and removed when the report that made it is deleted.
    """

    def __init__(self):
        self._lock = ForkSafeLock()
        self._files: dict[str, BadVideo] = {}
        self._frames: dict[str, set[int]] = {}
        self._counts: dict[str, int] = {}
        self._warnings: dict[str, str] = {}
        self._owner = os.getpid()
        self._journal = os.path.join(tempfile.gettempdir(), f"gpuvideo-report-{os.getpid()}-{uuid.uuid4().hex}.jsonl")
        self._read = 0                    # bytes of the journal merged so far

    # ------------------------------------------------------------------ the journal
    def _merge(self, line: str) -> None:
        e = json.loads(line)
        if "file" in e:
            self._files.setdefault(e["file"], BadVideo(e["file"], e["stage"], e["reason"]))
        elif "frames" in e:
            self._frames.setdefault(e["frames"], set()).update(e["indices"])
        elif "count" in e:
            self._counts[e["count"]] = self._counts.get(e["count"], 0) + e["n"]
        elif "warning" in e:
            self._warnings.setdefault(e["warning"], e["text"])

    def _sync(self) -> None:
        """Merge what other processes wrote (caller holds ``self._lock``)."""
        try:
            if os.path.getsize(self._journal) <= self._read:
                return
            with open(self._journal, encoding="utf-8") as f:
                f.seek(self._read)
                data = f.read()
        except OSError:
            return
        complete = data[:data.rfind("\n") + 1]
        for line in complete.splitlines():
            self._merge(line)
        self._read += len(complete.encode("utf-8"))

    def _append(self, entry: dict, is_new) -> bool:
        """Under the journal's lock: merge, then write ``entry`` if ``is_new()`` still holds; returns it."""
        with self._lock:
            try:
                f = open(self._journal, "a+", encoding="utf-8")
            except OSError as e:            # no writable temporary folder: this process only
                log.debug("bad-input journal unavailable (%s)", e)
                if not is_new():
                    return False
                self._merge(json.dumps(entry))
                return True
            with f:
                fcntl.flock(f, fcntl.LOCK_EX)
                self._sync()
                if not is_new():
                    return False
                line = json.dumps(entry) + "\n"
                f.write(line)
                f.flush()
                self._merge(line)
                self._read += len(line.encode("utf-8"))
                return True

    # ------------------------------------------------------------------ recording
    def add_file(self, path: str, stage: str, reason: str) -> bool:
        """Record an unusable video; returns False when it was already reported (by any process)."""
        if not self._append({"file": path, "stage": stage, "reason": reason}, lambda: path not in self._files):
            return False
        log.warning("skipping unusable video %s (%s): %s", path, stage, reason)
        return True

    def add_frames(self, path: str, frames: Iterable[int], action: str) -> None:
        """Record undecodable frames of ``path``; new ones are logged with ``action`` (what is done)."""
        frames = set(int(f) for f in frames)
        new: list[int] = []

        def is_new():
            new[:] = sorted(frames - self._frames.get(path, set()))
            return bool(new)

        if self._append({"frames": path, "indices": sorted(frames)}, is_new):
            shown = ", ".join(map(str, new[:10])) + (", ..." if len(new) > 10 else "")
            log.warning("%s: %d frame(s) cannot be decoded (%s); %s", path, len(new), shown, action)

    def add_warning(self, path: str, text: str) -> None:
        """Record a problem of a usable video found at indexing (truncation, lost frames...): logged once per run."""
        if self._append({"warning": path, "text": text}, lambda: path not in self._warnings):
            log.warning("%s: %s (its intact frames are served)", path, text)

    def warnings(self) -> dict[str, str]:
        """``{path: problems}`` of the usable videos whose index found something wrong (see :meth:`add_warning`)."""
        with self._lock:
            self._sync()
            return dict(self._warnings)

    def count(self, event: str, n: int = 1) -> None:
        """Count an event that is not a bad file, e.g. ``"dali_retries"`` (see :meth:`counts`)."""
        self._append({"count": event, "n": int(n)}, lambda: True)

    # ------------------------------------------------------------------ reading
    def counts(self) -> dict[str, int]:
        """Events counted so far: ``dali_fallback_files`` (files DALI failed on, decoded by PyAV from then
        on), ``dali_retries`` and ``dali_device_errors`` (runs that failed for the device, not a file)."""
        with self._lock:
            self._sync()
            return dict(self._counts)

    def has_file(self, path: str) -> bool:
        with self._lock:
            self._sync()
            return path in self._files

    def files(self) -> list[BadVideo]:
        with self._lock:
            self._sync()
            return list(self._files.values())

    def frames(self, path: str | None = None):
        """Sorted frame indices of ``path``, or every ``(path, frame)`` pair when ``path`` is None."""
        with self._lock:
            self._sync()
            if path is not None:
                return sorted(self._frames.get(path, ()))
            return sorted((p, f) for p, fs in self._frames.items() for f in fs)

    @property
    def bad_files(self) -> "BadFiles":
        return BadFiles(self)

    @property
    def bad_frames(self) -> "BadFrames":
        return BadFrames(self)

    def __del__(self):
        try:
            if os.getpid() == self._owner:
                os.unlink(self._journal)
        except Exception:
            pass


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
