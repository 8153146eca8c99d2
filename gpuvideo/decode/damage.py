"""Which decoded frames can be trusted: damage followed from packets in decode order to frames in display order.

FFmpeg conceals decoding errors (it fills damaged areas from other frames), so
the reader tracks damage itself and treats as missing

- a frame whose packet the demuxer flags as corrupt (e.g. cut short), that the
  decoder rejects, or that the decoder marks corrupt (``AV_FRAME_FLAG_CORRUPT``
  or ``decode_error_flags``, PyAV's ``VideoFrame.is_corrupt``);
- every frame decoded after such a frame (in decode order) up to the next
  keyframe, and the leading pictures after that keyframe (they may reference the
  damaged frame), including frames that come out of the decoder before the
  damaged one (B-frames): a decoded frame is released only once every packet
  decoded before it has produced its frame or been found lost.

(Frames of a keyframe interval that lost a packet, :attr:`~gpuvideo.videoinfo.VideoInfo.lost`, are withheld by
the reader, from the index.) Damage that the decoder cannot see (a flipped bit inside entropy-coded data that
still parses, MJPEG and VP9 errors, which FFmpeg does not flag) is not detected.

:class:`DamageTracker` follows the packets and frames; :func:`tracked_frames` decodes a stream through one.
"""
from __future__ import annotations

import logging
from collections import deque
from typing import Callable, Iterator

log = logging.getLogger(__name__)


class DamageTracker:
    """Which decoded frames may be damaged, from packets in decode order and frames in output order.

    Packets are numbered in decode order (``seq``). Damage at packet ``s`` makes
    the frames of packets ``s, s+1, ...`` unreliable up to the next keyframe
    packet, and after that keyframe the leading packets whose timestamps precede
    it. Frames are buffered until every packet decoded before theirs has produced
    its frame (or was dropped by the decoder), so damage that the decoder reports
    late (on a frame output after frames that depend on it) still reaches them.

    ``by_pts=False`` (files without a usable timestamp table, where frames are
    counted): after the first damage every later frame is unreliable, because a
    lost frame would shift the count.
    """

    #: frames held back at most (a decoder's reorder delay is a few frames)
    MAX_BUFFER = 64
    #: packets remembered (decode order) for attributing damage found late
    LOG_SIZE = 1024

    def __init__(self, by_pts: bool, frame_threads: bool):
        self.by_pts = by_pts
        self.frame_threads = frame_threads
        self.seq = 0
        self.log: deque = deque(maxlen=self.LOG_SIZE)   # (seq, pts, key)
        self.pending: dict = {}                          # pts -> seq: sent, frame not out yet
        self.bad: set = set()                            # pts of unreliable frames
        # damage seen and no keyframe packet since; true at the start: frames decoded before the first keyframe
        # (a stream that starts mid-GOP, a cut-off start) have no reference to be decoded from
        self.taint_open = by_pts
        self._before_key = by_pts
        self.lead_kf = None                              # keyframe pts whose leading packets are tainted
        self.buf: deque = deque()                        # (frame, pts, seq) held back
        self.any_damage = False
        self.reason = ""

    def packet(self, pts, key: bool, corrupt: bool) -> int:
        """Take the next packet in decode order (timestamp, keyframe flag, the demuxer's corrupt flag);
        returns its ``seq``."""
        s = self.seq
        self.seq += 1
        if key:
            self.lead_kf = pts if self.taint_open else None
            self.taint_open = self._before_key = False
        elif self.lead_kf is not None:
            if pts is not None and pts < self.lead_kf:
                self.bad.add(pts)
            else:
                self.lead_kf = None
        if self.taint_open and pts is not None:
            self.bad.add(pts)
            if self._before_key and not self.reason:
                self.reason = "decoded before the stream's first keyframe"
        self.log.append((s, pts, key))
        if pts is not None and self.by_pts:
            self.pending[pts] = s
        if corrupt:
            self.damage(s, "the demuxer flagged a damaged packet")
        return s

    def error(self, s: int, reason: str) -> None:
        """The decoder rejected packet ``s`` (with frame threads, any packet still in flight)."""
        if self.frame_threads and self.pending:
            s = min(s, min(self.pending.values()))
        self.damage(s, reason)

    def lost_data(self, reason: str) -> None:
        """Data lost between packets (a demuxer error): damage from the next packet on."""
        self.any_damage = True
        self.reason = self.reason or reason
        self.taint_open = True

    def damage(self, s: int | None, reason: str) -> None:
        """Damage at packet ``s`` (None: the next one): taint it and what follows it up to the next keyframe."""
        self.any_damage = True
        self.reason = self.reason or reason
        if s is None:
            self.taint_open = True
            return
        state, kf = "taint", None
        for q, pts, key in self.log:
            if q < s:
                continue
            if state == "taint":
                if key and q > s:
                    state, kf = "lead", pts
                    continue
                if pts is not None:
                    self.bad.add(pts)
            elif kf is not None and pts is not None and pts < kf:
                self.bad.add(pts)
            else:
                state = "done"
                break
        if state == "taint":
            self.taint_open = True
        elif state == "lead":
            self.lead_kf = kf

    def frame(self, frame) -> list[tuple[object, bool]]:
        """Take one decoded frame; returns the frames now released, as (frame, reliable)."""
        if not self.by_pts:
            if frame.is_corrupt:
                self.damage(None, "the decoder flagged a damaged frame")
            return [(frame, not self.any_damage)]
        pts = frame.pts
        s = self.pending.pop(pts, None)
        if self.pending and pts is not None:
            for p in [p for p in self.pending if p < pts]:   # passed over: the decoder dropped them
                del self.pending[p]
        if frame.is_corrupt:
            if pts is not None:
                self.bad.add(pts)
            self.damage(s, "the decoder flagged a damaged frame")
        self.buf.append((frame, pts, s))
        return self.release(False)

    def release(self, all_: bool) -> list[tuple[object, bool]]:
        """Frames no earlier packet can still taint (every buffered frame with ``all_``), as (frame, reliable)."""
        out = []
        oldest = min(self.pending.values()) if self.pending and not all_ else None
        while self.buf:
            frame, pts, s = self.buf[0]
            if not all_ and s is not None and oldest is not None and oldest < s and len(self.buf) <= self.MAX_BUFFER:
                break
            self.buf.popleft()
            out.append((frame, pts not in self.bad))
        if all_:
            self.pending.clear()
        return out


def tracked_frames(container, stream, tracker: DamageTracker, demux=None, first=None, tolerant: bool = False,
                   max_errors: int = 64, on_skip: Callable[[], None] | None = None,
                   path: str = "", unwanted: Callable[[object], bool] | None = None) -> Iterator[tuple[object, bool]]:
    """Decoded frames of ``stream`` as ``(av.VideoFrame, reliable)``, released in presentation order by ``tracker``.

    ``demux``/``first``: a packet iterator already started and the packets it gave (after a seek). A packet
    the decoder rejects is skipped; with ``tolerant`` a demuxer error is skipped too (reading resumes after the
    bad chunk; ``max_errors`` in a row end the stream), else it propagates. ``on_skip`` is called for every
    packet skipped; ``path`` names the file in log messages. ``unwanted(pts)``: True for a packet whose picture
    is not needed; the decoder then skips it when no other picture refers to it (FFmpeg's ``skip_frame =
    NONREF``): it yields no frame, and the tracker counts it as dropped by the decoder."""
    tr = tracker
    if demux is None:
        demux = container.demux(stream)
    first = deque(first or ())
    errors = 0
    cc = stream.codec_context
    skipping = False
    if unwanted is not None:     # an earlier iterator on this stream may have left it skipping
        cc.skip_frame = "DEFAULT"
    while errors < max_errors:
        try:
            if first:
                packet = first.popleft()
            else:
                packet = next(demux)
        except StopIteration:
            break
        except Exception as e:   # damaged container: resume reading after the bad chunk
            if not tolerant:
                raise
            errors += 1
            if on_skip is not None:
                on_skip()
            log.debug("%s: demux error (%s), resuming", path, e)
            tr.lost_data(f"the demuxer lost data ({e})")
            demux = container.demux(stream)
            continue
        errors = 0
        if packet.size == 0:     # the demuxer's flush packet: handled after the loop
            continue
        s = tr.packet(packet.pts, packet.is_keyframe, packet.is_corrupt)
        if unwanted is not None and unwanted(packet.pts) != skipping:
            skipping = not skipping
            cc.skip_frame = "NONREF" if skipping else "DEFAULT"
        try:
            frames = packet.decode()
        except Exception as e:   # the frame is lost and those that depend on it withheld; the rest decodes
            if on_skip is not None:
                on_skip()
            log.debug("%s: packet at pts %s cannot be decoded (%s)", path, packet.pts, e)
            tr.error(s, f"the decoder rejected a packet ({e})")
            continue
        for f in frames:
            yield from tr.frame(f)
    if skipping:
        cc.skip_frame = "DEFAULT"
    try:
        for f in stream.codec_context.decode(None):
            yield from tr.frame(f)
    except Exception as e:
        log.debug("%s: flushing the decoder failed (%s)", path, e)
        tr.lost_data(f"flushing the decoder failed ({e})")
    yield from tr.release(True)
