"""Excerpts of long videos: the few GOPs a request needs, remuxed (not re-encoded) into an in-memory file.

DALI's ``fn.decoders.video`` takes an encoded file and indexes all of it on
every run: handing it a whole hour of video for a batch of windows costs
time in proportion to the video's length. :func:`gop_excerpt` copies only
the packets that decode the presentation frames ``first..last`` (from the
keyframe at or before ``first``) into a Matroska file in memory, so a batch
costs the same at the start and at the end of a long video. Frame ``i`` of the
source is frame ``i - start`` of the excerpt.

Packets are taken in decode order from the keyframe on; packets of frames
shown before the keyframe (the leading pictures of an open GOP) are left out,
and the copy stops once every frame up to ``last`` has been seen, which also
keeps the later reference frames that B-frames before ``last`` need.
"""
from __future__ import annotations

import bisect
import io

from ..errors import VideoError
from ..videoinfo import VideoInfo

#: files with at most this many frames are handed over whole
MIN_FRAMES = 256


def worth_excerpting(info: VideoInfo, first: int, last: int) -> bool:
    """True when an excerpt of ``first..last`` is much smaller than ``info``'s file (and can be made)."""
    if not info.seekable or info.frame_count <= MIN_FRAMES:
        return False
    k = info.keyframes[bisect.bisect_right(info.keyframes, first) - 1] if info.keyframes[0] <= first else 0
    return 2 * (last - k + 1) < info.frame_count


def gop_excerpt(info: VideoInfo, first: int, last: int) -> tuple[bytes, int]:
    """Matroska bytes that decode frames ``first..last`` of ``info``'s file, and ``start``, the source index of
    the excerpt's frame 0 (the keyframe at or before ``first``). Raises :class:`VideoError` when the packets
    cannot be copied (a damaged file, a stream the Matroska muxer refuses)."""
    import av

    kf = info.keyframes
    start = kf[bisect.bisect_right(kf, first) - 1] if kf and kf[0] <= first else 0
    pts_start = info.pts[start]
    wanted = set(info.pts[start:last + 1])
    buf = io.BytesIO()
    try:
        with av.open(info.path) as src:
            stream = src.streams.video[0]
            src.seek(pts_start, stream=stream, backward=True, any_frame=False)
            with av.open(buf, "w", format="matroska") as out:
                copy = out.add_stream_from_template(stream)
                _copy_packets(src.demux(stream), copy, out, pts_start, wanted)
    except VideoError:
        raise
    except Exception as e:   # demuxer or muxer errors: the caller hands over the whole file instead
        raise VideoError(info.path, f"cannot excerpt frames {first}..{last}: {type(e).__name__}: {e}") from e
    if wanted:
        raise VideoError(info.path, f"cannot excerpt frames {first}..{last}: {len(wanted)} frame(s) not found")
    return buf.getvalue(), start


def _copy_packets(packets, copy, out, pts_start: int, wanted: set) -> None:
    started = False
    for packet in packets:
        if packet.size == 0 or packet.pts is None:
            continue
        if not started:
            if packet.pts != pts_start:      # the seek lands at or before the keyframe
                continue
            started = True
        if packet.pts < pts_start:           # leading pictures of an open GOP: shown before the keyframe
            continue
        wanted.discard(packet.pts)
        packet.stream = copy
        out.mux(packet)
        if not wanted:
            return
