"""The index cache: :class:`VideoInfo` (and probe failures) of every file, in one JSON file on disk.

Entries are keyed by absolute path and stamped with the file's size and mtime
(for object storage: size and ETag or modification time), so an unchanged
dataset is indexed once and a changed file is probed again. The file is JSON,
never pickle, and never trusted: every entry is validated when it is loaded.
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from pathlib import Path

from .errors import VideoError
from .remote import is_remote, stamp
from .videoinfo import VideoInfo, is_int

#: the index's logger (cache messages kept the name they had when the cache lived in :mod:`gpuvideo.probe`)
log = logging.getLogger("gpuvideo.probe")

#: version of the cache file's schema; a cache written with another version is rebuilt
CACHE_VERSION = 3     # 3: time_base, rotation, lost frames, truncation, warnings


def default_cache_path() -> Path:
    """``$GPUVIDEO_CACHE_DIR`` or ``$XDG_CACHE_HOME/gpuvideo`` or ``~/.cache/gpuvideo``, file ``index.json``."""
    base = os.environ.get("GPUVIDEO_CACHE_DIR")
    if not base:
        base = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "gpuvideo")
    return Path(base) / "index.json"


class ProbeCache:
    """JSON cache of :class:`VideoInfo` (and of probe failures) keyed by path, size and mtime.

    ``path=None`` keeps the cache in memory only. Writes are atomic (temp file +
    rename; the temp file is removed when writing fails). The file is never
    trusted: content that is not what this version of gpuvideo writes (other JSON,
    a wrong schema, a bad entry) is ignored with one warning per cache and
    rebuilt; a cache of another ``version`` is rebuilt silently. A cache path
    that cannot be read or written (a directory, no permission) is reported once
    and the cache then lives in memory only.
    """

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        self._entries: dict[str, dict] = {}
        self._dirty = False
        self._broken = False      # path unusable: already reported, never written
        if self.path is not None and (self.path.exists() or self.path.is_symlink()):
            self._load()

    def _load(self) -> None:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError) as e:
            if isinstance(e, OSError) and not self.path.is_file():
                self._broken = True
                log.warning("index cache %s is not a regular file (%s): not used", self.path, e)
            else:
                log.warning("ignoring unreadable index cache %s (rebuilt): %s", self.path, e)
            return
        if not isinstance(data, dict) or not isinstance(data.get("entries"), dict):
            log.warning("ignoring index cache %s (rebuilt): not a gpuvideo index (%s)", self.path,
                        "no 'entries' object" if isinstance(data, dict) else f"a JSON {type(data).__name__}")
            return
        if data.get("version") != CACHE_VERSION:
            log.info("index cache %s has version %r, not %d: rebuilt", self.path, data.get("version"), CACHE_VERSION)
            return
        bad = 0
        for key, entry in data["entries"].items():
            try:
                self._entries[key] = self._check_entry(entry)
            except (ValueError, TypeError, KeyError, AttributeError) as e:
                bad += 1
                first_error = f"{key[:200]}: {e}"
                log.debug("index cache %s: bad entry %s", self.path, first_error)
        if bad:
            self._dirty = True   # rewrite without the bad entries
            log.warning("index cache %s: %d bad entr%s ignored (first: %s)", self.path, bad,
                        "y" if bad == 1 else "ies", first_error)

    @staticmethod
    def _check_entry(entry) -> dict:
        """The entry if it is well formed (``stamp`` and exactly one of ``error``/``info``), else ValueError."""
        if not isinstance(entry, dict):
            raise ValueError(f"entry is a JSON {type(entry).__name__}")
        stamp = entry.get("stamp")
        # local files: [size, mtime_ns, by decoding]; remote ones: [size, ETag/modification time or None, ...]
        if not (isinstance(stamp, list) and len(stamp) == 3 and is_int(stamp[0])
                and (is_int(stamp[1]) or stamp[1] is None or isinstance(stamp[1], str))
                and isinstance(stamp[2], bool)):
            raise ValueError("bad stamp")
        if set(entry) == {"stamp", "error"} and isinstance(entry["error"], str):
            return entry
        if set(entry) == {"stamp", "info"}:
            VideoInfo.from_json(entry["info"])
            return entry
        raise ValueError(f"unexpected fields {sorted(entry)}")

    @staticmethod
    def _key(path: str, count_by_decoding: bool) -> tuple[str, list]:
        if is_remote(path):   # what the store reports: size and ETag (or modification time)
            return path, stamp(path) + [bool(count_by_decoding)]
        st = os.stat(path)
        return os.path.abspath(path), [st.st_size, st.st_mtime_ns, bool(count_by_decoding)]

    def get(self, path: str, count_by_decoding: bool = False) -> VideoInfo | VideoError | None:
        """Cached :class:`VideoInfo`, a cached :class:`VideoError`, or None."""
        try:
            key, stamp = self._key(path, count_by_decoding)
        except (OSError, ValueError):
            return None
        e = self._entries.get(key)
        if e is None or e.get("stamp") != stamp:
            return None
        if "error" in e:
            return VideoError(path, e["error"])
        try:
            info = VideoInfo.from_json(e["info"])
        except (ValueError, TypeError, KeyError):   # checked at load; never trusted anyway
            return None
        info.path = str(path)
        return info

    def put(self, path: str, value: VideoInfo | VideoError, count_by_decoding: bool = False) -> None:
        """Remember ``value`` for ``path`` as it is now (size, mtime); a file that cannot be stat'ed is skipped."""
        try:
            key, stamp = self._key(path, count_by_decoding)
        except (OSError, ValueError):
            return
        entry = {"stamp": stamp}
        if isinstance(value, VideoError):
            entry["error"] = value.reason
        else:
            entry["info"] = value.to_json()
        with self._lock:
            self._entries[key] = entry
            self._dirty = True

    def save(self) -> None:
        """Write the cache (atomically); a failure is logged once and leaves no file behind."""
        if self.path is None or not self._dirty or self._broken:
            return
        with self._lock:
            payload = json.dumps({"version": CACHE_VERSION, "entries": self._entries})
            self._dirty = False
        tmp = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".index-", suffix=".json")
            with os.fdopen(fd, "w") as f:
                f.write(payload)
            os.replace(tmp, self.path)
            tmp = None
        except OSError as e:
            self._broken = True
            log.warning("cannot write index cache %s (kept in memory only): %s", self.path, e)
        finally:
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass


def open_cache(index_cache: bool | str | os.PathLike | None) -> ProbeCache:
    """The generators' ``index_cache``: True (:func:`default_cache_path`), a path, or None/False (memory only)."""
    if index_cache is True:
        return ProbeCache(default_cache_path())
    if index_cache in (None, False):
        return ProbeCache(None)
    return ProbeCache(index_cache)
