"""Probe videos once (frame count, fps, keyframes, timestamps) and cache the result on disk.

The cache is one JSON file (no pickle) keyed by absolute path, file size and
mtime, so an unchanged dataset is indexed once. Frame counts come from
demuxing every packet (no decoding), so a header that lies is corrected; with
``count_by_decoding=True`` frames are counted by decoding them.
"""
from __future__ import annotations

import bisect
import json
import logging
import os
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

from .errors import VideoError
from .remote import file_size, index_keyframes, is_remote, open_container, stamp

log = logging.getLogger(__name__)

#: version of the cache file's schema; a cache written with another version is rebuilt
CACHE_VERSION = 3     # 3: time_base, rotation, lost frames, truncation, warnings

#: demuxers that read still pictures (FFmpeg's ``image2``, ``image2pipe`` and every ``*_pipe``)
_IMAGE_DEMUXERS = ("image2", "image2pipe")
#: demuxers that render text or ANSI art as pictures (``tty`` takes .txt/.nfo/... files) and filter graphs
_TEXT_DEMUXERS = ("tty", "bin", "xbin", "adf", "idf")
#: decoders that draw text (the ``tty`` demuxer's stream)
_TEXT_CODECS = ("ansi", "bintext", "xbin", "idf")
#: animated-picture formats: a video when they hold more than one frame, a still image otherwise
_ANIMATION_DEMUXERS = ("gif", "apng")
#: a timestamp gap of up to this many frame steps is filled with lost frames (a longer one is a jump)
MAX_LOST_RUN = 64
#: packets fed to the decoder at most while probing for the first frame (display rotation, real size)
_FIRST_FRAME_PACKETS = 64


@dataclass
class VideoInfo:
    """What the decoders and samplers need to know about one file.

    ``pts`` holds the presentation timestamps (stream time base) of every frame in
    presentation order, or is empty when the container gives none (then frames
    are counted from the start and the file is never seeked). ``keyframes`` are
    0-based frame indices of keyframes, ascending. ``time_base``: ``(num, den)``
    of the video stream, so frame ``f`` is shown at ``pts[f] * num / den``
    seconds (None when the container gives none).

    ``width``/``height`` are the coded (stored) frame size in pixels;
    ``rotation`` is how many degrees clockwise (0, 90, 180 or 270) the picture is
    turned for display (the container's display matrix, the convention of the
    old ``rotate`` tag: a portrait phone video is usually 90), and
    :attr:`display_width`/:attr:`display_height` the size once turned.

    ``lost`` lists the 0-based indices of frames whose packets are absent from
    the file: holes in an otherwise constant-step timestamp sequence (one gap
    of 2 to 64 steps, or up to 1% of the steps in longer files; every other step
    equal). They count in
    ``frame_count`` (so indices follow presentation time and a lost packet never
    shifts the frames after it) but can never be decoded, and the frames of
    their keyframe interval are not served either (they may reference the lost
    one). A constant-rate file whose camera skipped a frame looks the same and
    is treated the same way.

    ``truncated`` is True when the stream ends before its header says
    (``header_frame_count`` when the container gives one, else the Matroska/WebM
    duration); the file's intact frames are still served. ``warnings`` holds one
    human-readable line per problem found at indexing (truncation, lost frames,
    damaged packets, a stream that ends with a read error), e.g.
    ``"truncated: header says 60 frames, stream has 29"``.
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
    rotation: int = 0
    lost: list[int] = field(default_factory=list)
    truncated: bool = False
    warnings: list[str] = field(default_factory=list)
    time_base: tuple[int, int] | None = None

    @property
    def duration(self) -> float:
        """Seconds, from frame count and fps."""
        return self.frame_count / self.fps if self.fps > 0 else 0.0

    @property
    def seekable(self) -> bool:
        return len(self.pts) == self.frame_count and len(self.keyframes) > 0

    @property
    def display_width(self) -> int:
        """Width in pixels of the frames as displayed (``height`` when ``rotation`` is 90 or 270)."""
        return self.height if self.rotation % 180 else self.width

    @property
    def display_height(self) -> int:
        """Height in pixels of the frames as displayed (``width`` when ``rotation`` is 90 or 270)."""
        return self.width if self.rotation % 180 else self.height

    @property
    def truncation(self) -> str | None:
        """The ``warnings`` line that describes the truncation, or None when the file is not truncated."""
        if not self.truncated:
            return None
        return next((w for w in self.warnings if w.startswith("truncated")), "truncated")

    def lost_intervals(self) -> list[tuple[int, int]]:
        """``[start, end)`` frame ranges never served because a frame there is lost: the keyframe interval
        around each index of ``lost`` (its frames may reference the lost one), merged, ascending."""
        out: list[tuple[int, int]] = []
        kf = self.keyframes
        for h in self.lost:
            j = bisect.bisect_right(kf, h) - 1
            a = kf[j] if j >= 0 else 0
            b = kf[j + 1] if j + 1 < len(kf) else self.frame_count
            if out and out[-1][1] >= a:
                out[-1] = (out[-1][0], max(out[-1][1], b))
            else:
                out.append((a, b))
        return out

    def to_json(self) -> dict:
        d = asdict(self)
        d["pts"] = _pack_pts(self.pts)
        return d

    @classmethod
    def from_json(cls, d: dict) -> "VideoInfo":
        """Inverse of :meth:`to_json`; raises ``ValueError`` on anything else (fields, types, values)."""
        if not isinstance(d, dict):
            raise ValueError(f"expected an object, got {type(d).__name__}")
        missing = _FIELDS.keys() - d.keys()
        extra = d.keys() - _FIELDS.keys()
        if missing or extra:
            raise ValueError(f"fields missing {sorted(missing)} / unknown {sorted(extra)}")
        d = dict(d)
        d["pts"] = _unpack_pts(d["pts"])
        for name, check in _FIELDS.items():
            if not check(d[name]):
                raise ValueError(f"bad value for {name!r}: {str(d[name])[:80]}")
        if d["time_base"] is not None:
            d["time_base"] = tuple(d["time_base"])
        info = cls(**d)
        n = info.frame_count
        if info.pts and len(info.pts) != n:
            raise ValueError("pts and frame_count disagree")
        if any(not 0 <= k < n for k in info.keyframes) or any(not 0 <= k < n for k in info.lost):
            raise ValueError("frame index out of range")
        return info


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_int_list(v) -> bool:
    return isinstance(v, list) and all(_is_int(x) for x in v)


_FIELDS = {
    "path": lambda v: isinstance(v, str),
    "frame_count": lambda v: _is_int(v) and v > 0,
    "fps": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < 1e6,
    "width": lambda v: _is_int(v) and v > 0,
    "height": lambda v: _is_int(v) and v > 0,
    "codec": lambda v: isinstance(v, str),
    "pix_fmt": lambda v: isinstance(v, str),
    "header_frame_count": lambda v: _is_int(v) and v >= 0,
    "keyframes": _is_int_list,
    "pts": _is_int_list,
    "rotation": lambda v: v in (0, 90, 180, 270) and _is_int(v),
    "lost": _is_int_list,
    "truncated": lambda v: isinstance(v, bool),
    "warnings": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
    "time_base": lambda v: v is None or (isinstance(v, (list, tuple)) and len(v) == 2 and all(_is_int(x) for x in v)
                                         and v[1] > 0),
}


def _pack_pts(pts: list[int]):
    """Constant-step timestamps are stored as ``{"start", "step", "count"}``."""
    if len(pts) >= 2:
        step = pts[1] - pts[0]
        if all(b - a == step for a, b in zip(pts, pts[1:])):
            return {"start": pts[0], "step": step, "count": len(pts)}
    return list(pts)


def _unpack_pts(p) -> list[int]:
    if isinstance(p, dict):
        if set(p) != {"start", "step", "count"} or not all(_is_int(v) for v in p.values()):
            raise ValueError("bad packed timestamps")
        if not 0 <= p["count"] <= 10 ** 9:
            raise ValueError("bad timestamp count")
        return list(range(p["start"], p["start"] + p["step"] * p["count"], p["step"])) if p["step"] else [p["start"]] * p["count"]
    if not isinstance(p, list):
        raise ValueError("bad timestamps")
    return list(p)


def _not_a_video(path: str, container, stream) -> None:
    """Raise :class:`VideoError` when FFmpeg reads ``path`` as a picture or as text rather than as a video."""
    names = [n.strip() for n in str(container.format.name).split(",")]
    for name in names:
        if name.endswith("_pipe") or name in _IMAGE_DEMUXERS:
            raise VideoError(path, f"not a video: FFmpeg reads it with the {name!r} image demuxer")
        if name in _TEXT_DEMUXERS or name == "lavfi":
            raise VideoError(path, f"not a video: FFmpeg renders it as a picture with the {name!r} demuxer "
                                   "(text or a filter graph)")
    if stream.codec_context.name in _TEXT_CODECS:
        raise VideoError(path, f"not a video: its stream is text drawn by the {stream.codec_context.name!r} decoder")
    disposition = int(stream.disposition)
    import av

    if disposition & int(av.stream.Disposition.attached_pic):
        raise VideoError(path, "not a video: its only picture stream is an attached picture (cover art)")


def _rotation_of(frame) -> int:
    """Clockwise display rotation in degrees (0/90/180/270) from a decoded frame's display matrix."""
    try:
        ccw = float(frame.rotation)
    except Exception:   # no side data access on this frame
        return 0
    return int(round(-ccw / 90.0)) % 4 * 90


def _header_duration(container, stream) -> float:
    """Seconds the Matroska/WebM header gives the video track (0 when unknown or not Matroska)."""
    if "matroska" not in str(container.format.name):
        return 0.0
    tag = (stream.metadata or {}).get("DURATION")
    if tag:
        try:
            h, m, s = tag.split(":")
            return int(h) * 3600 + int(m) * 60 + float(s)
        except ValueError:
            pass
    if len(container.streams) == 1 and container.duration:
        return container.duration / 1e6
    return 0.0


def _fill_lost(pts: list[int]) -> tuple[list[int], list[int], list[str]]:
    """Sorted unique timestamps -> (timestamps with holes filled, indices of lost frames, notes).

    Only for a constant frame rate: every step equal but one (or 1% of them in
    longer files) that is an exact multiple of it, 2..``MAX_LOST_RUN`` steps;
    each such gap is a run of lost frames. Timestamps with any other irregularity (jitter,
    variable frame rate) are left alone; longer gaps are reported only.
    """
    if len(pts) < 3:
        return pts, [], []
    steps = Counter(b - a for a, b in zip(pts, pts[1:]))
    step = steps.most_common(1)[0][0]
    odd = {d: c for d, c in steps.items() if d != step}
    if step <= 0 or not odd:
        return pts, [], []
    fill = all(d % step == 0 for d in odd) and sum(odd.values()) <= max(1, (len(pts) - 1) // 100)
    out, lost, notes = [pts[0]], [], []
    for a, b in zip(pts, pts[1:]):
        gap = b - a
        if gap != step and fill and 2 <= gap // step <= MAX_LOST_RUN:
            for t in range(a + step, b, step):
                lost.append(len(out))
                out.append(t)
        elif gap != step and fill:
            notes.append(f"timestamps jump by {gap // step} frame steps after frame {len(out) - 1}")
        out.append(b)
    return out, lost, notes


def probe(path: str, count_by_decoding: bool = False, drop_truncated: bool = False) -> VideoInfo:
    """Open ``path`` with PyAV and measure it; raises :class:`VideoError` on unusable input.

    Not videos are unusable: pictures and text that FFmpeg can open (image
    demuxers such as ``png_pipe`` or ``image2``, the ``tty`` text renderer, a
    one-frame GIF, cover art), as are files without frames. A truncated file is
    usable (see :attr:`VideoInfo.truncated`) unless ``drop_truncated=True``.
    Problems are returned in :attr:`VideoInfo.warnings`, not logged (see
    :func:`index_videos`).
    """
    path = str(path)
    try:
        if not is_remote(path) and os.path.isdir(path):
            raise VideoError(path, "is a directory")
        if file_size(path) == 0:
            raise VideoError(path, "empty file (0 bytes)")
        container = open_container(path, index_only=not count_by_decoding)
    except VideoError:
        raise
    except Exception as e:  # PyAV raises many error types for non-video input
        raise VideoError(path, f"cannot open: {e}") from e
    warnings: list[str] = []
    with container:
        if not container.streams.video:
            raise VideoError(path, "no video stream")
        stream = container.streams.video[0]
        _not_a_video(path, container, stream)
        fmt = str(container.format.name)
        cc = stream.codec_context
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        header = int(stream.frames or 0)
        header_seconds = _header_duration(container, stream)
        tb = float(stream.time_base) if stream.time_base else 0.0
        cc.thread_count = 1 if not count_by_decoding else 0
        if count_by_decoding:
            cc.thread_type = "AUTO"
        pts, key_pts, decoded_pts = [], [], []
        packets = damaged = 0
        last_corrupt = False
        renumbered = None
        first = None
        is_avi = "avi" in fmt.split(",")
        avi_index = _avi_index(container, stream)
        try:
            for packet in container.demux(stream):
                if packet.size == 0:   # flush packet
                    continue
                if avi_index:
                    renumbered = _avi_renumbered(avi_index, packet)
                    if renumbered:
                        break
                if is_avi and packets == 0 and not packet.is_keyframe:
                    renumbered = ("damaged: the stream starts with a frame that is not a keyframe (its beginning is "
                                  "lost, and AVI numbers frames from the first one it finds): frame numbers unknown")
                    break
                packets += 1
                pts.append(packet.pts)
                if packet.is_keyframe:
                    key_pts.append(packet.pts)
                last_corrupt = packet.is_corrupt
                if packet.is_corrupt:
                    damaged += 1
                if count_by_decoding or (first is None and packets <= _FIRST_FRAME_PACKETS):
                    try:
                        frames = packet.decode()
                    except Exception as e:
                        log.debug("%s: packet at pts %s does not decode (%s)", path, packet.pts, e)
                        continue
                    for f in frames:
                        if first is None:
                            first = f
                        decoded_pts.append(f.pts)
            if count_by_decoding:
                for f in cc.decode(None):
                    if first is None:
                        first = f
                    decoded_pts.append(f.pts)
        except Exception as e:
            if not pts:
                raise VideoError(path, f"cannot read packets: {e}") from e
            warnings.append(f"stream ends with a read error after {len(pts)} packets ({e})")
        key_pts = index_keyframes(container, pts, key_pts)   # MP4 in object storage: from its stss box
        if renumbered:
            raise VideoError(path, renumbered)
        if first is None and not count_by_decoding:
            try:   # a stream whose first frames need more packets than fed above: flush what was sent
                first = next(iter(cc.decode(None)), None)
            except Exception:
                first = None
        width, height = cc.width, cc.height
        if first is not None and first.width > 0 and first.height > 0:
            width, height = first.width, first.height
        codec, pix_fmt = cc.name, str(cc.pix_fmt or (first.format.name if first is not None else None))
        rotation = _rotation_of(first) if first is not None else 0
        time_base = (stream.time_base.numerator, stream.time_base.denominator) if stream.time_base else None
    if count_by_decoding:
        out = set(decoded_pts)
        key_pts = [p for p in key_pts if p in out]
        pts = decoded_pts
    elif last_corrupt and pts[-1] is not None and all(p is not None and p < pts[-1] for p in pts[:-1]):
        # the file ends inside its last frame (last in display order too): that frame is not in the video
        pts.pop()
    count = len(pts)
    if count == 0:
        raise VideoError(path, "no frames")
    if width <= 0 or height <= 0:
        raise VideoError(path, "unknown frame size")
    if count == 1 and any(n in _ANIMATION_DEMUXERS for n in fmt.split(",")):
        raise VideoError(path, f"not a video: a still image (one frame, read with the {fmt!r} demuxer)")
    if fps <= 0:
        fps = 25.0
        warnings.append("unknown frame rate, assuming 25 fps")
    keyframes: list[int] = []
    lost: list[int] = []
    if all(p is not None for p in pts) and len(set(pts)) == count:
        pts, lost, notes = _fill_lost(sorted(pts))
        warnings.extend(notes)
        where = {p: i for i, p in enumerate(pts)}
        keyframes = sorted(where[p] for p in key_pts if p in where)
    else:
        pts = []
    if lost:
        warnings.append(f"{len(lost)} lost frame(s) (missing packets): {_some(lost)}")
    if damaged - int(last_corrupt):   # the last one, cut short by the end of the file, is a truncation
        warnings.append(f"{damaged - int(last_corrupt)} damaged packet(s) (unreadable data)")
    truncated = False
    complete = packets - int(last_corrupt)   # a last packet cut short by the end of the file does not count
    cut_short = " and one cut short" if last_corrupt else ""
    if header > 0 and complete + len(lost) < header:
        truncated = True
        warnings.insert(0, f"truncated: header says {header} frames, stream has {complete}{cut_short}")
    elif header == 0 and header_seconds > 0 and pts and tb > 0:
        end = (pts[-1] - pts[0]) * tb + 1.0 / fps
        if end < header_seconds - 1.5 / fps or last_corrupt:
            truncated = True
            warnings.insert(0, f"truncated: header says {header_seconds:.3f} s (about {round(header_seconds * fps)} "
                               f"frames), stream has {len(pts)} frames ({end:.3f} s){cut_short}")
    elif last_corrupt:
        truncated = True
        warnings.insert(0, f"truncated: the stream ends in the middle of frame {packets - 1}")
    for w in warnings:
        log.debug("%s: %s", path, w)
    info = VideoInfo(path=path, frame_count=len(pts) or count, fps=fps, width=width, height=height,
                     codec=codec, pix_fmt=pix_fmt, header_frame_count=header, keyframes=keyframes, pts=pts,
                     rotation=rotation, lost=lost, truncated=truncated, warnings=warnings, time_base=time_base)
    if drop_truncated and truncated:
        raise VideoError(path, info.truncation)
    return info


def _avi_index(container, stream) -> dict[int, int]:
    """AVI only: byte position of each video chunk's data -> frame number in decode order, from the file's
    index (idx1/OpenDML); empty for other containers or an AVI without an index."""
    if "avi" not in str(container.format.name).split(","):
        return {}
    try:
        entries = stream.index_entries
        return {int(e.pos) + 8: int(e.timestamp) for e in (entries[i] for i in range(len(entries)))}
    except Exception:   # an old PyAV without index_entries, or a damaged index
        return {}


def _avi_renumbered(index: dict[int, int], packet) -> str | None:
    """Why the frame numbers of an AVI cannot be trusted from ``packet`` on, or None.

    AVI has no timestamps: the demuxer numbers chunks as it reads them, so after data lost in the middle of
    the file (it skips to the next readable chunk) every later frame gets the number of an earlier one. The
    file's index says which frame each chunk holds: when the two disagree, frame numbers are unknown."""
    if packet.pos is None or packet.dts is None:
        return None
    expected = index.get(int(packet.pos))
    if expected is None or expected == packet.dts:
        return None
    return (f"damaged: data lost in the middle of the stream (the chunk at byte {packet.pos} is frame {expected} "
            f"by the AVI index, read as frame {packet.dts}): frame numbers after it are unknown")


def _some(indices: list[int], k: int = 8) -> str:
    return ", ".join(map(str, indices[:k])) + (", ..." if len(indices) > k else "")


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
        if not (isinstance(stamp, list) and len(stamp) == 3 and _is_int(stamp[0])
                and (_is_int(stamp[1]) or stamp[1] is None or isinstance(stamp[1], str))
                and isinstance(stamp[2], bool)):
            raise ValueError("bad stamp")
        if set(entry) == {"stamp", "error"} and isinstance(entry["error"], str):
            return entry
        if set(entry) == {"stamp", "info"}:
            VideoInfo.from_json(entry["info"])
            return entry
        raise ValueError(f"unexpected fields {sorted(entry)}")

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

    def put(self, path: str, value, count_by_decoding: bool = False) -> None:
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


def index_videos(paths: Iterable[str], cache: ProbeCache | None = None, count_by_decoding: bool = False,
                 threads: int | None = None, progress: bool = True, drop_truncated: bool = False,
                 report_warnings: bool = True) -> dict[str, VideoInfo | VideoError]:
    """Probe every path (cached ones are not reopened); returns path -> info or error. Shows a tqdm bar.

    Every error is a :class:`VideoError` (never another exception). Each file
    with :attr:`VideoInfo.warnings` (truncated, lost frames, ...) is logged once
    per call at WARNING, whether it was probed or found in the cache
    (``report_warnings=False`` leaves that to the caller). ``drop_truncated=True``
    turns truncated files into :class:`VideoError` (reason ``"truncated: ..."``).
    """
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
        except Exception as e:   # anything else PyAV/FFmpeg raises on odd input is a bad file too
            log.debug("%s: probe failed", p, exc_info=True)
            return p, VideoError(p, f"cannot probe: {type(e).__name__}: {e}")

    if todo:
        threads = threads or min(8, os.cpu_count() or 1)
        with ThreadPoolExecutor(threads) as pool:
            for p, r in tqdm(pool.map(work, todo), total=len(todo), desc="indexing videos",
                             unit="file", disable=not progress or len(todo) < 2):
                results[p] = r
                cache.put(p, r, count_by_decoding)
        cache.save()
    out = {}
    for p in paths:
        r = results[p]
        if isinstance(r, VideoInfo) and r.warnings and report_warnings:
            log.warning("%s: %s", p, "; ".join(r.warnings))
        if isinstance(r, VideoInfo) and drop_truncated and r.truncated:
            r = VideoError(p, r.truncation)
        out[p] = r
    return out


def open_cache(index_cache) -> ProbeCache:
    """The generators' ``index_cache``: True (:func:`default_cache_path`), a path, or None/False (memory only)."""
    if index_cache is True:
        return ProbeCache(default_cache_path())
    if index_cache in (None, False):
        return ProbeCache(None)
    return ProbeCache(index_cache)
