"""Probe videos once (frame count, fps, keyframes, timestamps) and cache the result on disk.

The cache is one JSON file (no pickle) keyed by absolute path, file size and
mtime, so an unchanged dataset is indexed once. Frame counts come from
demuxing every packet (no decoding), so a header that lies is corrected; with
``count_by_decoding=True`` frames are counted by decoding them.

:func:`probe` measures one file, step by step: open it and reject what is not a
video (:mod:`gpuvideo.streamcheck`), read the stream's header, demux the packet
table (decoding the first frame for its real size and display rotation), number
the frames by timestamp (filling lost ones), and compare the stream with its
header (truncation). :func:`index_videos` probes many files through the cache
(:mod:`gpuvideo.index_cache`); the result is a :class:`~gpuvideo.videoinfo.VideoInfo`.
"""
from __future__ import annotations

import logging
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Iterable, NamedTuple

from .errors import VideoError
from .index_cache import CACHE_VERSION, ProbeCache, default_cache_path, open_cache
from .remote import index_keyframes
from .streamcheck import AviNumbering, open_video, reject_still_image, video_stream
from .videoinfo import VideoInfo

__all__ = ["VideoInfo", "probe", "index_videos", "ProbeCache", "CACHE_VERSION", "MAX_LOST_RUN",
           "default_cache_path", "open_cache"]

log = logging.getLogger(__name__)

#: a timestamp gap of up to this many frame steps is filled with lost frames (a longer one is a jump)
MAX_LOST_RUN = 64
#: packets fed to the decoder at most while probing for the first frame (display rotation, real size)
_FIRST_FRAME_PACKETS = 64


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
    container = open_video(path, index_only=not count_by_decoding)
    with container:
        stream = video_stream(path, container)
        header = _read_header(container, stream)
        table = _demux(path, container, stream, count_by_decoding)
        width, height, codec, pix_fmt, rotation = _picture(stream, table.first)
        time_base = (stream.time_base.numerator, stream.time_base.denominator) if stream.time_base else None
    pts, key_pts = table.frame_pts(count_by_decoding)
    count = len(pts)
    if count == 0:
        raise VideoError(path, "no frames")
    if width <= 0 or height <= 0:
        raise VideoError(path, "unknown frame size")
    reject_still_image(path, count, header.fmt)
    warnings = table.warnings
    fps = header.fps
    if fps <= 0:
        fps = 25.0
        warnings.append("unknown frame rate, assuming 25 fps")
    pts, keyframes, lost, notes = _number_frames(pts, key_pts)
    warnings.extend(notes + table.damage_notes(lost))
    truncation = _truncation(header, table, pts, len(lost), fps)
    if truncation:
        warnings.insert(0, truncation)
    for w in warnings:
        log.debug("%s: %s", path, w)
    info = VideoInfo(path=path, frame_count=len(pts) or count, fps=fps, width=width, height=height,
                     codec=codec, pix_fmt=pix_fmt, header_frame_count=header.frames, keyframes=keyframes, pts=pts,
                     rotation=rotation, lost=lost, truncated=truncation is not None, warnings=warnings,
                     time_base=time_base)
    if drop_truncated and info.truncated:
        raise VideoError(path, info.truncation)
    return info


# ----------------------------------------------------------------------------------------------- header

class _Header(NamedTuple):
    """What the container says about the video stream before any packet is read."""
    fmt: str          # demuxer name(s), comma-separated
    fps: float        # frames per second, 0 when unknown
    frames: int       # frame count, 0 when unknown
    seconds: float    # Matroska/WebM duration in seconds, 0 when unknown
    tb: float         # seconds per timestamp unit, 0 when unknown


def _read_header(container, stream) -> _Header:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return _Header(str(container.format.name), float(rate) if rate else 0.0, int(stream.frames or 0),
                   _header_duration(container, stream), float(stream.time_base) if stream.time_base else 0.0)


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


# ----------------------------------------------------------------------------------------------- packets

@dataclass
class _PacketTable:
    """What demuxing the video stream found: timestamps (stream time base) in decode order."""
    pts: list = field(default_factory=list)            # every packet's
    key_pts: list = field(default_factory=list)        # keyframe packets'
    decoded_pts: list = field(default_factory=list)    # decoded frames' (every frame with count_by_decoding)
    packets: int = 0
    damaged: int = 0                                   # packets the demuxer flagged as corrupt
    last_corrupt: bool = False                         # the last packet is one of them (cut short by the end)
    first: object = None                               # the first decoded frame (real size, rotation), or None
    warnings: list = field(default_factory=list)

    def add(self, packet) -> None:
        """Record one demuxed packet (not the demuxer's empty flush packet)."""
        self.packets += 1
        self.pts.append(packet.pts)
        if packet.is_keyframe:
            self.key_pts.append(packet.pts)
        self.last_corrupt = packet.is_corrupt
        if packet.is_corrupt:
            self.damaged += 1

    def took(self, frames) -> None:
        """Record decoded frames."""
        for f in frames:
            if self.first is None:
                self.first = f
            self.decoded_pts.append(f.pts)

    def frame_pts(self, by_decoding: bool) -> tuple[list, list]:
        """``(frame timestamps, keyframe timestamps)``: the decoded frames' with ``by_decoding``, else the
        packets', less a last frame cut short by the end of the file."""
        if by_decoding:
            out = set(self.decoded_pts)
            return self.decoded_pts, [p for p in self.key_pts if p in out]
        pts = self.pts
        if self.last_corrupt and pts[-1] is not None and all(p is not None and p < pts[-1] for p in pts[:-1]):
            # the file ends inside its last frame (last in display order too): that frame is not in the video
            pts = pts[:-1]
        return pts, self.key_pts

    def damage_notes(self, lost: list[int]) -> list[str]:
        """Warnings for lost frames and damaged packets (the last packet, cut short, is a truncation instead)."""
        notes = []
        if lost:
            notes.append(f"{len(lost)} lost frame(s) (missing packets): {_some(lost)}")
        if self.damaged - int(self.last_corrupt):
            notes.append(f"{self.damaged - int(self.last_corrupt)} damaged packet(s) (unreadable data)")
        return notes


def _demux(path: str, container, stream, count_by_decoding: bool) -> _PacketTable:
    """Every packet of ``stream``, decoding the first ones (every one with ``count_by_decoding``); raises
    :class:`VideoError` when no packet can be read or when AVI frame numbers cannot be trusted."""
    cc = stream.codec_context
    cc.thread_count = 1 if not count_by_decoding else 0
    if count_by_decoding:
        cc.thread_type = "AUTO"
    table = _PacketTable()
    avi = AviNumbering(container, stream)
    renumbered = None
    try:
        for packet in container.demux(stream):
            if packet.size == 0:   # flush packet
                continue
            renumbered = avi.broken(packet, first=table.packets == 0)
            if renumbered:
                break
            table.add(packet)
            if count_by_decoding or (table.first is None and table.packets <= _FIRST_FRAME_PACKETS):
                try:
                    frames = packet.decode()
                except Exception as e:
                    log.debug("%s: packet at pts %s does not decode (%s)", path, packet.pts, e)
                    continue
                table.took(frames)
        if count_by_decoding:
            table.took(cc.decode(None))
    except Exception as e:
        if not table.pts:
            raise VideoError(path, f"cannot read packets: {e}") from e
        table.warnings.append(f"stream ends with a read error after {len(table.pts)} packets ({e})")
    table.key_pts = index_keyframes(container, table.pts, table.key_pts)   # MP4 in object storage: its stss box
    if renumbered:
        raise VideoError(path, renumbered)
    if table.first is None and not count_by_decoding:
        try:   # a stream whose first frames need more packets than fed above: flush what was sent
            table.first = next(iter(cc.decode(None)), None)
        except Exception:
            table.first = None
    return table


def _picture(stream, first) -> tuple[int, int, str, str, int]:
    """``(width, height, codec, pix_fmt, rotation)``: the size of the first decoded frame when there is one
    (the codec's otherwise), its display rotation (degrees clockwise)."""
    cc = stream.codec_context
    width, height = cc.width, cc.height
    if first is not None and first.width > 0 and first.height > 0:
        width, height = first.width, first.height
    pix_fmt = str(cc.pix_fmt or (first.format.name if first is not None else None))
    return width, height, cc.name, pix_fmt, _rotation_of(first) if first is not None else 0


def _rotation_of(frame) -> int:
    """Clockwise display rotation in degrees (0/90/180/270) from a decoded frame's display matrix."""
    try:
        ccw = float(frame.rotation)
    except Exception:   # no side data access on this frame
        return 0
    return int(round(-ccw / 90.0)) % 4 * 90


# ----------------------------------------------------------------------------------------------- frames

def _number_frames(pts: list, key_pts: list) -> tuple[list[int], list[int], list[int], list[str]]:
    """Frame timestamps (any order) -> ``(pts, keyframes, lost, notes)`` in presentation order, lost
    frames filled in (see :func:`_fill_lost`). Timestamps that are missing or repeat give no table: ``pts``
    and ``keyframes`` empty (frames are then counted from the start)."""
    if not (all(p is not None for p in pts) and len(set(pts)) == len(pts)):
        return [], [], [], []
    pts, lost, notes = _fill_lost(sorted(pts))
    where = {p: i for i, p in enumerate(pts)}
    return pts, sorted(where[p] for p in key_pts if p in where), lost, notes


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


def _truncation(header: _Header, table: _PacketTable, pts: list[int], lost: int, fps: float) -> str | None:
    """The ``truncated: ...`` warning when the stream ends before its header says (or inside its last
    frame), else None. ``pts``: the numbered frames' timestamps; ``lost``: how many of them are lost."""
    complete = table.packets - int(table.last_corrupt)   # a last packet cut short by the end of the file does not count
    cut_short = " and one cut short" if table.last_corrupt else ""
    if header.frames > 0 and complete + lost < header.frames:
        return f"truncated: header says {header.frames} frames, stream has {complete}{cut_short}"
    if header.frames == 0 and header.seconds > 0 and pts and header.tb > 0:
        end = (pts[-1] - pts[0]) * header.tb + 1.0 / fps
        if end < header.seconds - 1.5 / fps or table.last_corrupt:
            return (f"truncated: header says {header.seconds:.3f} s (about {round(header.seconds * fps)} "
                    f"frames), stream has {len(pts)} frames ({end:.3f} s){cut_short}")
        return None
    if table.last_corrupt:
        return f"truncated: the stream ends in the middle of frame {table.packets - 1}"
    return None


def _some(indices: list[int], k: int = 8) -> str:
    return ", ".join(map(str, indices[:k])) + (", ..." if len(indices) > k else "")


# ----------------------------------------------------------------------------------------------- many files

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
