"""Index MP4/MOV files in object storage without fetching their media data.

Counting frames exactly means demuxing every packet (:mod:`gpuvideo.probe`).
In an ISO-BMFF file (MP4, MOV, M4V, 3GP) the timing and size of every packet
are in the ``moov`` box, so the demuxer does not need the media bytes: a
:class:`~gpuvideo.remote.RemoteFile` given the payloads of the top-level
``mdat`` boxes as *holes* returns zeros there instead of fetching them
(:func:`media_holes`; the first ``keep`` bytes of each are fetched, so that
FFmpeg decodes the first frame and learns the pixel format). Packet key flags
can come from the payload, so keyframes are read from the video track's
``stss`` box instead (:func:`sync_samples`). Anything else (not ISO-BMFF,
fragmented, malformed) returns None: the file is then read in full.
"""
from __future__ import annotations

from typing import Callable, Iterator

#: first top-level box types of an ISO-BMFF file
_LEADING = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pdin", b"uuid"}
#: ``read(offset, n) -> bytes``
Reader = Callable[[int, int], bytes]


def boxes(read: Reader, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """``(type, payload start, box end)`` of the boxes in ``[start, end)``; ``ValueError`` when malformed."""
    pos = start
    while pos + 8 <= end:
        head = read(pos, 16)
        size, kind, header = int.from_bytes(head[:4], "big"), head[4:8], 8
        if size == 1:
            size, header = int.from_bytes(head[8:16], "big"), 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise ValueError(f"malformed box {kind!r} at byte {pos}")
        yield kind, pos + header, pos + size
        pos += size


def _child(read: Reader, start: int, end: int, kind: bytes):
    return next(((a, b) for k, a, b in boxes(read, start, end) if k == kind), None)


def media_holes(read: Reader, size: int, keep: int) -> list[tuple[int, int]] | None:
    """Byte ranges ``[a, b)`` of the top-level ``mdat`` payloads past their first ``keep`` bytes, or None
    when the file is not a plain ISO-BMFF file with its ``moov`` at the top level."""
    try:
        top = list(boxes(read, 0, size))
    except ValueError:
        return None
    kinds = [k for k, _, _ in top]
    if not top or kinds[0] not in _LEADING or b"moov" not in kinds or b"moof" in kinds:
        return None
    return [(a + keep, b) for k, a, b in top if k == b"mdat" and b - a > keep]


def sync_samples(read: Reader, size: int) -> list[int] | None:
    """1-based numbers (decode order) of the first video track's sync samples, from ``stss``; an empty
    list means every sample is one (no ``stss``); None: no video track found."""
    try:
        moov = _child(read, 0, size, b"moov")
        for kind, a, b in boxes(read, *moov) if moov else ():
            if kind != b"trak":
                continue
            mdia = _child(read, a, b, b"mdia")
            hdlr = mdia and _child(read, *mdia, b"hdlr")
            if not hdlr or read(hdlr[0] + 8, 4) != b"vide":
                continue
            minf = _child(read, *mdia, b"minf")
            stbl = minf and _child(read, *minf, b"stbl")
            if not stbl:
                return None
            stss = _child(read, *stbl, b"stss")
            if stss is None:
                return []
            data = read(stss[0], stss[1] - stss[0])
            count = int.from_bytes(data[4:8], "big")
            return [int.from_bytes(data[8 + 4 * i:12 + 4 * i], "big") for i in range(count)]
    except ValueError:
        return None
    return None


def keyframe_pts(decode_pts: list, sync: list[int]) -> list:
    """Timestamps of the sync samples, given every packet's timestamp in decode order."""
    if not sync:
        return list(decode_pts)
    return [decode_pts[k - 1] for k in sync if 0 < k <= len(decode_pts)]
