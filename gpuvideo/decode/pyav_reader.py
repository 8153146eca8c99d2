"""CPU decoding with PyAV (FFmpeg): exact frame indices, forward decoding, keyframe seeks.

Damaged files: with ``skip_corrupt_packets=True`` a packet that the demuxer or
the decoder rejects is logged and skipped instead of ending the stream, and
:meth:`PyAVReader.read_available` returns the frames that could be decoded
together with the indices of those that could not (frames are identified by
their timestamps, so a lost frame never shifts the others).
"""
from __future__ import annotations

import bisect
import logging
from typing import Sequence

import numpy as np

from ..errors import VideoError
from ..probe import VideoInfo
from ..remote import open_container

log = logging.getLogger(__name__)


class _Unmapped(Exception):
    """A decoded frame's timestamp is not in the probed table."""


class PyAVReader:
    """Reads frames by 0-based presentation index from one file.

    ``threads``: FFmpeg decoder threads (0 lets FFmpeg choose). Frames are
    converted to RGB only when they are wanted. ``skip_corrupt_packets``: keep
    decoding past packets that fail to demux or decode (see the module doc).
    ``seek_cost``: a seek is done only when it skips more than this many frames
    (0: whenever a keyframe lies between the position and the next wanted frame).
    """

    #: consecutive demuxer errors after which a damaged stream is considered ended
    MAX_DEMUX_ERRORS = 64

    def __init__(self, info: VideoInfo, threads: int = 1, skip_corrupt_packets: bool = False, seek_cost: int = 0):
        self.info = info
        self.seek_cost = max(0, int(seek_cost))
        self.threads = threads
        self.skip_corrupt_packets = bool(skip_corrupt_packets)
        self._mapped_any = False
        self.corrupt_packets = 0     # packets skipped (skip_corrupt_packets=True)
        self._container = None
        self._frames = None          # iterator of decoded av.VideoFrame
        self._pos = 0                # index of the next frame the iterator yields
        self._counting = not info.seekable
        self._pts_index = {p: i for i, p in enumerate(info.pts)} if info.seekable else {}
        self.seeks = 0               # statistics, for tests and benchmarks
        self.decoded = 0

    # ------------------------------------------------------------------ lifecycle
    def _open(self):
        try:
            self._container = open_container(self.info.path)
        except Exception as e:
            raise VideoError(self.info.path, f"cannot open: {e}") from e
        stream = self._container.streams.video[0]
        if self.threads != 1:
            stream.thread_type = "AUTO"
            stream.thread_count = self.threads
        self._stream = stream
        self._frames = self._frame_iter()
        self._pos = 0

    def _frame_iter(self):
        if self.skip_corrupt_packets:
            return self._tolerant_frames()
        return self._container.decode(self._stream)

    def _tolerant_frames(self):
        """Decoded frames, skipping packets that fail to demux or decode (each is logged and counted)."""
        stream, errors = self._stream, 0
        demux = self._container.demux(stream)
        flushed = False
        while errors < self.MAX_DEMUX_ERRORS:
            try:
                packet = next(demux)
            except StopIteration:
                break
            except Exception as e:   # damaged container: resume reading after the bad chunk
                errors += 1
                self.corrupt_packets += 1
                log.debug("%s: demux error (%s), resuming", self.info.path, e)
                demux = self._container.demux(stream)
                continue
            errors = 0
            if packet.size == 0:
                flushed = True
            try:
                frames = packet.decode()
            except Exception as e:
                self.corrupt_packets += 1
                log.debug("%s: packet at pts %s cannot be decoded (%s)", self.info.path, packet.pts, e)
                continue
            yield from frames
        if not flushed:
            try:
                yield from stream.codec_context.decode(None)
            except Exception as e:
                log.debug("%s: flushing the decoder failed (%s)", self.info.path, e)

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
        self._container = None
        self._frames = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # ------------------------------------------------------------------ positioning
    def _seek_to(self, first: int) -> None:
        """Put the iterator at or before frame ``first``, at a keyframe."""
        if self._container is None:
            self._open()
        kf = self.info.keyframes
        k = kf[bisect.bisect_right(kf, first) - 1] if kf and kf[0] <= first else 0
        if self._counting or k == 0:
            if self._pos == 0 and self.decoded == 0:
                return
            self.close()
            self._open()
            return
        self._container.seek(self.info.pts[k], stream=self._stream, backward=True, any_frame=False)
        self._frames = self._frame_iter()
        self._pos = None   # known again from the first frame's timestamp
        self.seeks += 1

    def _needs_seek(self, first: int) -> bool:
        if self._container is None or self._pos is None or first < self._pos:
            return True
        if self._counting:
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
            if self.skip_corrupt_packets and self._mapped_any:
                return None   # a damaged frame with a made-up timestamp: dropped
            raise _Unmapped(frame.pts)
        self._mapped_any = True
        return idx

    # ------------------------------------------------------------------ reading
    def read(self, indices: Sequence[int], size: tuple[int, int] | None = None) -> np.ndarray:
        """Frames at ``indices`` as uint8 ``(n, H, W, 3)`` RGB.

        ``size`` = (width, height) lets FFmpeg's scaler resize while converting
        (bilinear); by default frames keep the file's resolution. Raises
        :class:`VideoError` when a frame cannot be decoded and :class:`IndexError`
        for an index outside ``[0, frame_count)``.
        """
        idx = self._check(indices)
        got = self._collect_any(sorted(set(idx.tolist())), size, strict=True)[0]
        return np.stack([got[i] for i in idx.tolist()])

    def read_available(self, indices: Sequence[int], size: tuple[int, int] | None = None
                       ) -> tuple[dict[int, np.ndarray], list[int]]:
        """Decode what can be decoded: ``({index: uint8 (H, W, 3) RGB}, sorted missing indices)``.

        Never raises :class:`VideoError` for frames that are lost (truncated file,
        corrupt packets, a decoder error): they are listed as missing. Raises
        :class:`IndexError` for an index outside ``[0, frame_count)`` and
        :class:`VideoError` when the file cannot be opened at all.
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
        try:
            return self._collect(wanted, size, strict)
        except _Unmapped as e:
            log.info("%s: timestamp %s not in the index, decoding from the start", self.info.path, e)
            self._counting = True
            self.close()
            return self._collect(wanted, size, strict)

    def _collect(self, wanted: list[int], size, strict: bool = True):
        """Decode forward to each wanted frame in turn, seeking first when a keyframe lies
        between the position and that frame (see ``seek_cost``)."""
        got: dict[int, np.ndarray] = {}
        want = set(wanted)
        # threads=1: swscale's own threads cost more than they save on one frame
        kwargs = {"format": "rgb24", "threads": 1}
        if size is not None:
            kwargs.update(width=int(size[0]), height=int(size[1]), interpolation="BILINEAR")
        ended = False
        for target in wanted:
            if target in got:
                continue
            if self._needs_seek(target):
                self._seek_to(target)
            ended = True
            try:
                for frame in self._frames:
                    i = self._index_of(frame)
                    self.decoded += 1
                    if i is None:
                        continue
                    self._pos = i + 1
                    if i in want and i not in got:
                        got[i] = frame.to_ndarray(**kwargs)
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
            if strict:
                raise VideoError(self.info.path, f"frames {missing[:5]}{'...' if len(missing) > 5 else ''} "
                                                 f"could not be decoded (stream ends at frame {reached})")
        return got, missing


def decode_all(path: str) -> np.ndarray:
    """Every frame of ``path`` in presentation order, uint8 ``(T, H, W, 3)`` RGB (tests/reference)."""
    with open_container(path) as c:
        return np.stack([f.to_ndarray(format="rgb24", threads=1) for f in c.decode(c.streams.video[0])])
