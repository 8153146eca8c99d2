"""Probe videos once (frame count, fps, keyframes, timestamps) and cache the result on disk.

The cache is one JSON file (no pickle) keyed by absolute path, file size and
mtime, so an unchanged dataset is indexed once. Frame counts come from
demuxing every packet (no decoding), so a header that lies is corrected; with
``count_by_decoding=True`` frames are counted by decoding them.
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

from .errors import VideoError
from .remote import file_size, index_keyframes, is_remote, open_container, stamp

log = logging.getLogger(__name__)

CACHE_VERSION = 1


@dataclass
class VideoInfo:
    """What the decoders and samplers need to know about one file.

    ``pts`` holds the presentation timestamps (stream time base) of every frame in
    presentation order, or is empty when the container gives none (then frames
    are counted from the start and the file is never seeked). ``keyframes`` are
    0-based frame indices of keyframes, ascending.
    """
    path: str
    frame_count: int
    fps: float
    width: int
    height: int
    codec: str
    pix_fmt: str
    header_frame_count: int
    keyframes: list[int] = field(default_factory=list)
    pts: list[int] = field(default_factory=list)

    @property
    def duration(self) -> float:
        """Seconds, from frame count and fps."""
        return self.frame_count / self.fps if self.fps > 0 else 0.0

    @property
    def seekable(self) -> bool:
        return len(self.pts) == self.frame_count and len(self.keyframes) > 0

    def to_json(self) -> dict:
        d = asdict(self)
        d["pts"] = _pack_pts(self.pts)
        return d

    @classmethod
    def from_json(cls, d: dict) -> "VideoInfo":
        d = dict(d)
        d["pts"] = _unpack_pts(d["pts"])
        return cls(**d)


def _pack_pts(pts: list[int]):
    """Constant-step timestamps are stored as ``{"start", "step", "count"}``."""
    if len(pts) >= 2:
        step = pts[1] - pts[0]
        if all(b - a == step for a, b in zip(pts, pts[1:])):
            return {"start": pts[0], "step": step, "count": len(pts)}
    return list(pts)


def _unpack_pts(p) -> list[int]:
    if isinstance(p, dict):
        return list(range(p["start"], p["start"] + p["step"] * p["count"], p["step"])) if p["step"] else [p["start"]] * p["count"]
    return list(p)


def probe(path: str, count_by_decoding: bool = False) -> VideoInfo:
    """Open ``path`` with PyAV and measure it; raises :class:`VideoError` on unusable input."""
    path = str(path)
    try:
        if file_size(path) == 0:
            raise VideoError(path, "empty file (0 bytes)")
        container = open_container(path, index_only=not count_by_decoding)
    except VideoError:
        raise
    except Exception as e:  # PyAV raises many error types for non-video input
        raise VideoError(path, f"cannot open: {e}") from e
    with container:
        if not container.streams.video:
            raise VideoError(path, "no video stream")
        stream = container.streams.video[0]
        cc = stream.codec_context
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        header = int(stream.frames or 0)
        pts, key_pts = [], []
        try:
            if count_by_decoding:
                stream.thread_type = "AUTO"
                for frame in container.decode(stream):
                    pts.append(frame.pts)
                    if frame.key_frame:
                        key_pts.append(frame.pts)
            else:
                for packet in container.demux(stream):
                    if packet.size == 0:   # flush packet
                        continue
                    pts.append(packet.pts)
                    if packet.is_keyframe:
                        key_pts.append(packet.pts)
        except Exception as e:
            if not pts:
                raise VideoError(path, f"cannot read packets: {e}") from e
            log.warning("%s: stream ends early after %d frames (%s)", path, len(pts), e)
        key_pts = index_keyframes(container, pts, key_pts)   # MP4 in object storage: from its stss box
        width, height = cc.width, cc.height
        codec, pix_fmt = cc.name, str(cc.pix_fmt)
    count = len(pts)
    if count == 0:
        raise VideoError(path, "no frames")
    if width <= 0 or height <= 0:
        raise VideoError(path, "unknown frame size")
    if header and header != count:
        log.debug("%s: header says %d frames, stream has %d", path, header, count)
    if fps <= 0:
        fps = 25.0
        log.warning("%s: unknown frame rate, assuming 25 fps", path)
    keyframes: list[int] = []
    if all(p is not None for p in pts) and len(set(pts)) == count:
        pts = sorted(pts)
        where = {p: i for i, p in enumerate(pts)}
        keyframes = sorted(where[p] for p in key_pts if p in where)
    else:
        pts = []
    return VideoInfo(path=path, frame_count=count, fps=fps, width=width, height=height,
                     codec=codec, pix_fmt=pix_fmt, header_frame_count=header,
                     keyframes=keyframes, pts=pts)


def default_cache_path() -> Path:
    """``$GPUVIDEO_CACHE_DIR`` or ``$XDG_CACHE_HOME/gpuvideo`` or ``~/.cache/gpuvideo``, file ``index.json``."""
    base = os.environ.get("GPUVIDEO_CACHE_DIR")
    if not base:
        base = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "gpuvideo")
    return Path(base) / "index.json"


class ProbeCache:
    """JSON cache of :class:`VideoInfo` (and of probe failures) keyed by path, size and mtime.

    ``path=None`` keeps the cache in memory only. Writes are atomic (temp file + rename).
    """

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        self._entries: dict[str, dict] = {}
        self._dirty = False
        if self.path is not None and self.path.exists():
            try:
                data = json.loads(self.path.read_text())
                if data.get("version") == CACHE_VERSION:
                    self._entries = data.get("entries", {})
            except (OSError, ValueError) as e:
                log.warning("ignoring unreadable index cache %s: %s", self.path, e)

    @staticmethod
    def _key(path: str, count_by_decoding: bool):
        if is_remote(path):   # what the store reports: size and ETag (or modification time)
            return path, stamp(path) + [bool(count_by_decoding)]
        st = os.stat(path)
        return os.path.abspath(path), [st.st_size, st.st_mtime_ns, bool(count_by_decoding)]

    def get(self, path: str, count_by_decoding: bool = False):
        """Cached :class:`VideoInfo`, a cached :class:`VideoError`, or None."""
        try:
            key, stamp = self._key(path, count_by_decoding)
        except OSError:
            return None
        e = self._entries.get(key)
        if e is None or e.get("stamp") != stamp:
            return None
        if "error" in e:
            return VideoError(path, e["error"])
        info = VideoInfo.from_json(e["info"])
        info.path = str(path)
        return info

    def put(self, path: str, value, count_by_decoding: bool = False) -> None:
        try:
            key, stamp = self._key(path, count_by_decoding)
        except OSError:
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
        if self.path is None or not self._dirty:
            return
        with self._lock:
            payload = json.dumps({"version": CACHE_VERSION, "entries": self._entries})
            self._dirty = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".index-", suffix=".json")
            with os.fdopen(fd, "w") as f:
                f.write(payload)
            os.replace(tmp, self.path)
        except OSError as e:
            log.warning("cannot write index cache %s: %s", self.path, e)


def index_videos(paths: Iterable[str], cache: ProbeCache | None = None, count_by_decoding: bool = False,
                 threads: int | None = None, progress: bool = True) -> dict[str, VideoInfo | VideoError]:
    """Probe every path (cached ones are not reopened); returns path -> info or error. Shows a tqdm bar."""
    from tqdm.auto import tqdm

    paths = list(paths)
    cache = cache if cache is not None else ProbeCache(None)
    results: dict[str, VideoInfo | VideoError] = {}
    todo = []
    for p in paths:
        hit = cache.get(p, count_by_decoding)
        if hit is None:
            todo.append(p)
        else:
            results[p] = hit

    def work(p):
        try:
            return p, probe(p, count_by_decoding)
        except VideoError as e:
            return p, e

    if todo:
        threads = threads or min(8, os.cpu_count() or 1)
        with ThreadPoolExecutor(threads) as pool:
            for p, r in tqdm(pool.map(work, todo), total=len(todo), desc="indexing videos",
                             unit="file", disable=not progress or len(todo) < 2):
                results[p] = r
                cache.put(p, r, count_by_decoding)
        cache.save()
    return {p: results[p] for p in paths}


def open_cache(index_cache) -> ProbeCache:
    """The generators' ``index_cache``: True (:func:`default_cache_path`), a path, or None/False (memory only)."""
    if index_cache is True:
        return ProbeCache(default_cache_path())
    if index_cache in (None, False):
        return ProbeCache(None)
    return ProbeCache(index_cache)
