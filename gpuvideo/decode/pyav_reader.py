"""CPU decoding with PyAV (FFmpeg): exact frame indices, forward decoding, keyframe seeks.

Frames are identified by their presentation timestamps, so a frame that is lost
never shifts the others. Damaged frames are never served: the reader withholds
the frames :mod:`gpuvideo.decode.damage` finds unreliable, and every frame of a
keyframe interval (group of pictures) that contains a frame whose packet is
absent from the file (:attr:`~gpuvideo.videoinfo.VideoInfo.lost`).

A packet the decoder rejects is skipped (and counted in ``corrupt_packets``):
:meth:`PyAVReader.read` raises only when a frame it was asked for is missing.
With ``skip_corrupt_packets=True`` a demuxer error is skipped too instead of
ending the stream, and :meth:`PyAVReader.read_available` returns the frames that
could be decoded together with the indices of those that could not.
"""
from __future__ import annotations

import bisect
import logging
from typing import Sequence

import numpy as np

from ..errors import VideoError
from ..lifetime import Closing
from ..remote import open_container
from ..videoinfo import VideoInfo
from .damage import DamageTracker, tracked_frames

log = logging.getLogger(__name__)


#: (what, path) already logged by this process: a file's oddity is logged once, not once per reader
_LOGGED: set = set()


def _log_once(level: int, what: str, path: str, msg: str, *args) -> None:
    key = (what, path)
    if key in _LOGGED:
        return
    if len(_LOGGED) > 100_000:
        _LOGGED.clear()
    _LOGGED.add(key)
    log.log(level, msg, *args)


class _Unmapped(Exception):
    """A decoded frame's timestamp is not in the probed table."""


class PyAVReader(Closing):
    """Reads frames by 0-based presentation index from one file.

    ``threads``: FFmpeg decoder threads (0 lets FFmpeg choose). Frames are
    converted to RGB only when they are wanted. ``skip_corrupt_packets``: keep
    demuxing past a damaged part of the container (see the module doc; packets
    the decoder rejects are always skipped).
    ``seek_cost``: a seek is done only when it skips more than this many frames
    (0: whenever a keyframe lies between the position and the next wanted frame).
    ``apply_rotation``: turn frames upright as the container's display matrix
    asks (:attr:`VideoInfo.rotation`), as FFmpeg's command line does; frames then
    have the display size (:attr:`VideoInfo.display_width` x ``display_height``).
    ``decoder_options``: FFmpeg decoder options, e.g. ``{"err_detect": "explode"}``
    (stricter error detection: most damaged MJPEG frames are then rejected
    rather than concealed, at the risk of rejecting sloppy but watchable files).
    ``skip_unwanted``: while decoding towards a wanted frame, the decoder skips
    pictures that no request wants and no other picture refers to (B-frames;
    FFmpeg's ``skip_frame = NONREF``), with one decoding thread, for the codecs
    and containers in ``SKIP_CODECS``/``SKIP_CONTAINERS``. Served frames are
    unchanged; should a wanted frame ever go missing while skipping, the request
    is read again without it and the file is never skipped in again.

    Statistics: ``seeks``, ``decoded`` (frames out of the decoder), ``skipped_packets``,
    ``corrupt_packets`` (packets skipped), ``damaged_frames`` (frames withheld as
    damaged or unreliable), ``resized_frames`` (frames of another size than the
    file's first, scaled to it when no size is asked; logged once per file and
    process).
    """

    #: consecutive demuxer errors after which a damaged stream is considered ended
    MAX_DEMUX_ERRORS = 64
    #: codecs whose unwanted non-reference pictures are skipped (B-frames): their packets' timestamps are
    #: those of the pictures they hold in these containers (not in AVI, whose timestamps are decode order)
    SKIP_CODECS = frozenset({"h264", "hevc", "mpeg4", "mpeg2video", "mpeg1video"})
    SKIP_CONTAINERS = frozenset({"mov", "mp4", "matroska", "webm", "mpegts"})

    def __init__(self, info: VideoInfo, threads: int = 1, skip_corrupt_packets: bool = False, seek_cost: int = 0,
                 apply_rotation: bool = True, decoder_options: dict | None = None, skip_unwanted: bool = True):
        self.info = info
        self.skip_unwanted = bool(skip_unwanted)
        self._skip_below = None      # packets before this timestamp that no request wants may be skipped
        self._wanted_pts: set = set()
        self.skipped_packets = 0     # packets sent while the decoder skipped unwanted non-reference pictures
        self.decoder_options = {str(k): str(v) for k, v in (decoder_options or {}).items()}
        self.seek_cost = max(0, int(seek_cost))
        self.threads = threads
        self.skip_corrupt_packets = bool(skip_corrupt_packets)
        self.rotation = int(getattr(info, "rotation", 0) or 0) % 360 if apply_rotation else 0
        self._mapped_any = False
        self.corrupt_packets = 0     # packets skipped: rejected by the decoder, or demux errors (skip_corrupt_packets)
        self.damaged_frames = 0      # frames withheld as damaged
        self.resized_frames = 0      # frames whose size differs from the file's (scaled to it)
        self._container = None
        self._frames = None          # iterator of (av.VideoFrame, reliable)
        self._tracker = None
        self._pos = 0                # index of the next frame the iterator yields
        self._floor = 0              # frames before this index (leading pictures after a seek) are ignored
        self._counting = not info.seekable
        self._seek_broken = False    # a seek did not land where it should: this file is read forward only
        self._tried_seek = False     # the container was moved by a seek attempt
        self._pts_index = {p: i for i, p in enumerate(info.pts)} if info.seekable else {}
        self._lost_gops = info.lost_intervals()     # never served: frames there may reference a lost one
        self._why: dict[int, str] = {}   # index -> why it was withheld (for error messages)
        self.seeks = 0               # statistics, for tests and benchmarks
        self.decoded = 0

    def _in_lost_gop(self, i: int) -> bool:
        if not self._lost_gops:
            return False
        j = bisect.bisect_right(self._lost_gops, (i, float("inf"))) - 1
        return j >= 0 and self._lost_gops[j][0] <= i < self._lost_gops[j][1]

    # ------------------------------------------------------------------ lifecycle
    def _open(self):
        try:
            self._container = open_container(self.info.path)
            stream = self._container.streams.video[0]
        except Exception as e:
            self._container = None
            raise VideoError(self.info.path, f"cannot open: {e}") from e
        if self.threads != 1:
            stream.thread_type = "AUTO"
            stream.thread_count = self.threads
        if self.decoder_options:
            stream.codec_context.options = dict(self.decoder_options)
        self._stream = stream
        self._restart()
        self._pos = 0
        self._floor = 0
        self._tried_seek = False

    def _restart(self, demux=None, first=None) -> None:
        """A fresh frame iterator (after opening or seeking): damage tracking starts over."""
        self._tracker = DamageTracker(by_pts=not self._counting, frame_threads=self.threads != 1)
        self._frames = tracked_frames(self._container, self._stream, self._tracker, demux, first,
                                      tolerant=self.skip_corrupt_packets, max_errors=self.MAX_DEMUX_ERRORS,
                                      on_skip=self._skipped, path=self.info.path,
                                      unwanted=self._unwanted if self._can_skip() else None)

    def _can_skip(self) -> bool:
        """Whether unwanted non-reference pictures may be skipped in this file: frames are placed by timestamp,
        one decoding thread, a codec and container where a packet's timestamp is its picture's."""
        if not self.skip_unwanted or self._counting or self.threads != 1:
            return False
        formats = set(self._container.format.name.split(","))
        return self._stream.codec_context.name in self.SKIP_CODECS and bool(formats & self.SKIP_CONTAINERS)

    def _unwanted(self, pts) -> bool:
        """A packet no current request needs: before the last wanted frame and not wanted (later packets
        may hold the next request's frames)."""
        if pts is None or self._skip_below is None or pts >= self._skip_below or pts in self._wanted_pts:
            return False
        self.skipped_packets += 1
        return True

    def _skipped(self) -> None:
        self.corrupt_packets += 1

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
        self._container = None
        self._frames = None
        self._tracker = None

    # ------------------------------------------------------------------ positioning
    def _seek_to(self, first: int) -> None:
        """Put the iterator at or before frame ``first``, at a keyframe."""
        if self._container is None:
            self._open()
        kf = self.info.keyframes
        k = kf[bisect.bisect_right(kf, first) - 1] if kf and kf[0] <= first else 0
        if self._counting or k == 0 or self._seek_broken:
            if self._pos == 0 and self.decoded == 0 and not self._tried_seek:
                return
            self.close()
            self._open()
            return
        # Containers without an index (MPEG-TS, MPEG-PS) seek by timestamp and may land after the keyframe or
        # in the middle of a packet, with timestamps of their own. A landing is kept only when the keyframe's
        # packet comes within a few packets, each with a timestamp of the index; otherwise seek a few frames
        # earlier, and when that fails too, decode from the start (and never seek this file again).
        landed = None
        step = (self.info.pts[-1] - self.info.pts[0]) // max(1, self.info.frame_count - 1)
        for ts, budget in ((self.info.pts[k], 16), (self.info.pts[k] - 8 * step, 48)):
            landed = self._try_seek(ts, self.info.pts[k], budget)
            if landed is not None:
                break
        self.seeks += 1
        if landed is None:
            _log_once(logging.INFO, "seek", self.info.path,
                      "%s: seeking is unreliable in this file; it is decoded forward from the start instead",
                      self.info.path)
            self._seek_broken = True
            self.close()
            self._open()
            return
        self._restart(*landed)
        self._pos = None   # known again from the first frame's timestamp
        self._floor = k    # pictures that precede the keyframe (open GOP) reference frames before the seek

    def _try_seek(self, ts: int, key_pts: int, budget: int):
        """Seek to timestamp ``ts``; ``(demux iterator, packets read)`` when the packet of the keyframe at
        ``key_pts`` comes within ``budget`` packets that all have timestamps of the index, else None."""
        self._tried_seek = True
        read = []
        try:
            self._container.seek(ts, stream=self._stream, backward=True, any_frame=False)
            demux = self._container.demux(self._stream)
            while len(read) < budget:
                packet = next(demux)
                if packet.size == 0:
                    continue
                if packet.pts not in self._pts_index:
                    break
                read.append(packet)
                if packet.pts == key_pts and packet.is_keyframe:
                    return demux, read
                if packet.is_keyframe and packet.pts > key_pts:
                    break
        except Exception as e:   # StopIteration or a damaged container
            log.debug("%s: seek to %s failed (%s)", self.info.path, ts, e)
            return None
        log.debug("%s: seek to %s did not land on the keyframe at %s", self.info.path, ts, key_pts)
        return None

    def _needs_seek(self, first: int) -> bool:
        if self._container is None or self._pos is None or first < self._pos:
            return True
        if self._counting or self._seek_broken:
            return False
        # a keyframe between here and ``first`` makes seeking cheaper than decoding forward, when it lies
        # more than ``seek_cost`` frames ahead (a seek flushes the decoder: not worth it for a few frames)
        kf = self.info.keyframes
        j = bisect.bisect_right(kf, first) - 1
        return j >= 0 and kf[j] - self._pos > self.seek_cost

    def _index_of(self, frame) -> int:
        if self._counting:
            return self._pos
        idx = self._pts_index.get(frame.pts)
        if idx is None:
            if self._mapped_any:
                # a frame with a timestamp the index does not have (made up by the decoder for a damaged
                # stream): never numbered by position, which would shift the frames after it
                log.debug("%s: frame with unknown timestamp %s dropped", self.info.path, frame.pts)
                return None
            raise _Unmapped(frame.pts)
        self._mapped_any = True
        return idx

    # ------------------------------------------------------------------ reading
    def read(self, indices: Sequence[int], size: tuple[int, int] | None = None) -> np.ndarray:
        """Frames at ``indices`` as uint8 ``(n, H, W, 3)`` RGB.

        ``size`` = (width, height) lets FFmpeg's scaler resize while converting
        (bilinear); by default frames keep the file's (display) resolution. Raises
        :class:`VideoError` when a frame cannot be decoded or is damaged, and
        :class:`IndexError` for an index outside ``[0, frame_count)``.
        """
        idx = self._check(indices)
        got = self._collect_any(sorted(set(idx.tolist())), size, strict=True)[0]
        return np.stack([got[i] for i in idx.tolist()])

    def read_available(self, indices: Sequence[int], size: tuple[int, int] | None = None
                       ) -> tuple[dict[int, np.ndarray], list[int]]:
        """Decode what can be decoded: ``({index: uint8 (H, W, 3) RGB}, sorted missing indices)``.

        Never raises :class:`VideoError` for frames that are lost or damaged
        (truncated file, corrupt packets, frames the decoder concealed, lost
        packets): they are listed as missing. Raises :class:`IndexError` for an
        index outside ``[0, frame_count)`` and :class:`VideoError` when the file
        cannot be opened at all.
        """
        idx = self._check(indices)
        return self._collect_any(sorted(set(idx.tolist())), size, strict=False)

    def _check(self, indices) -> np.ndarray:
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size == 0:
            raise ValueError("no frame indices given")
        if idx.min() < 0 or idx.max() >= self.info.frame_count:
            raise IndexError(f"{self.info.path}: frame indices {idx.min()}..{idx.max()} outside "
                             f"[0, {self.info.frame_count})")
        return idx

    def _collect_any(self, wanted: list[int], size, strict: bool):
        skipped = self.skipped_packets
        try:
            got, missing = self._collect_mapped(wanted, size, strict)
        except VideoError:
            if self.skipped_packets == skipped:
                raise
            got, missing = {}, wanted
        if missing and self.skipped_packets != skipped:
            # never trust skipping for a missing frame: read the request again without it, in this file for good
            log.debug("%s: frames %s missing while unwanted pictures were skipped; reading again without skipping",
                      self.info.path, missing[:5])
            self.skip_unwanted = False
            self.close()
            return self._collect_mapped(wanted, size, strict)
        return got, missing

    def _collect_mapped(self, wanted: list[int], size, strict: bool):
        if not self._counting:     # what _unwanted needs: this request's frames (``wanted`` is sorted)
            self._wanted_pts = {self.info.pts[i] for i in wanted}
            self._skip_below = self.info.pts[wanted[-1]]
        try:
            return self._collect(wanted, size, strict)
        except _Unmapped as e:
            log.info("%s: timestamp %s not in the index, decoding from the start", self.info.path, e)
            self._counting = True
            self.close()
            return self._collect(wanted, size, strict)

    def _convert(self, frame, size) -> np.ndarray:
        """RGB uint8 ``(H, W, 3)``: scaled to ``size`` (display orientation) or to the file's size, turned upright."""
        # threads=1: swscale's own threads cost more than they save on one frame
        kwargs = {"format": "rgb24", "threads": 1}
        if size is not None:
            w, h = int(size[0]), int(size[1])
            if self.rotation % 180:
                w, h = h, w
            kwargs.update(width=w, height=h, interpolation="BILINEAR")
        elif (frame.width, frame.height) != (self.info.width, self.info.height):
            _log_once(logging.WARNING, "size", self.info.path,
                      "%s: frame size changes mid-stream (%dx%d, the file starts at %dx%d): such frames are scaled "
                      "to %dx%d", self.info.path, frame.width, frame.height, self.info.width, self.info.height,
                      self.info.width, self.info.height)
            self.resized_frames += 1
            kwargs.update(width=self.info.width, height=self.info.height, interpolation="BILINEAR")
        a = frame.to_ndarray(**kwargs)
        if self.rotation:
            a = np.ascontiguousarray(np.rot90(a, k=-(self.rotation // 90)))
        return a

    def _note_rejected(self, indices) -> None:
        """Remember why frames whose packet the decoder rejected (they never come out) are missing."""
        tr = self._tracker
        if tr is None or self._counting or not tr.bad:
            return
        for i in indices:
            if i not in self._why and self.info.pts[i] in tr.bad:
                self._why[i] = f"damaged ({tr.reason or 'a packet is lost'})"

    def _collect(self, wanted: list[int], size, strict: bool = True):
        """Decode forward to each wanted frame in turn, seeking first when a keyframe lies
        between the position and that frame (see ``seek_cost``)."""
        got: dict[int, np.ndarray] = {}
        want = set(wanted)
        ended = False
        for target in wanted:
            if target in got:
                continue
            if self._needs_seek(target):
                self._note_rejected([i for i in wanted if i < target and i not in got])
                self._seek_to(target)
            ended = True
            try:
                for frame, reliable in self._frames:
                    i = self._index_of(frame)
                    self.decoded += 1
                    if i is None or i < self._floor:
                        continue
                    self._pos = i + 1
                    if not reliable or self._in_lost_gop(i):
                        self.damaged_frames += 1
                        if i in want:
                            self._why[i] = ("damaged (" + (self._tracker.reason or "a packet is lost") + ")"
                                            if not reliable else "its keyframe interval lost a packet")
                    elif i in want and i not in got:
                        got[i] = self._convert(frame, size)
                    if i >= target:
                        ended = False
                        break
            except _Unmapped:
                raise
            except Exception as e:
                near, self._pos = self._pos, None   # a failed generator yields nothing more
                if strict:
                    raise VideoError(self.info.path, f"decode error near frame {near}: {e}") from e
                log.debug("%s: decode error near frame %s: %s", self.info.path, near, e)
                ended = False
                break
            if ended:
                break
        missing = [i for i in wanted if i not in got]
        if missing:
            reached = self._pos
            if ended:   # the iterator is spent: the next read must reopen or seek
                self._pos = None
            lost = set(self.info.lost)
            self._note_rejected(missing)
            why = [f"frame {i} {self._why[i]}" if i in self._why else f"frame {i} is lost (its packet is missing)"
                   for i in missing if i in self._why or i in lost][:1]
            if strict:
                raise VideoError(self.info.path, f"frames {missing[:5]}{'...' if len(missing) > 5 else ''} "
                                                 f"could not be decoded ("
                                                 + (why[0] if why else f"stream ends at frame {reached}") + ")")
        self._why.clear()
        return got, missing


def decode_all(path: str) -> np.ndarray:
    """Every frame of ``path`` in presentation order, uint8 ``(T, H, W, 3)`` RGB (tests/reference)."""
    with open_container(path) as c:
        return np.stack([f.to_ndarray(format="rgb24", threads=1) for f in c.decode(c.streams.video[0])])
