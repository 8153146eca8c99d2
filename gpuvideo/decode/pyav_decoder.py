"""The CPU decoder: :class:`PyAVReader` (FFmpeg) behind the :class:`~gpuvideo.decode.Decoder` interface.

Open files are kept between requests in a :class:`ReaderPool` (per process,
least recently used closed first), so consecutive requests on one video keep
decoding forward instead of reopening and seeking. A request holds its reader
alone while it decodes; requests run in parallel on ``threads`` threads.

With ``keep_recent = k`` each reader also keeps the prepared frames of its
last request that lie within ``k`` frames of that request's last frame: a
following request that shares them (overlapping windows read in order) gets
them without decoding backwards.
"""
from __future__ import annotations

import logging
import os
from collections import OrderedDict

import numpy as np

from ..errors import MissingFrames, VideoError
from ..ops import prepare_clip
from ..parallel import ThreadMap
from ..videoinfo import VideoInfo
from . import Request, check_request
from .pyav_reader import PyAVReader
from ..parallel import ForkSafeLock

log = logging.getLogger("gpuvideo")


class _Slot:
    """An open reader, the last frame it was asked for, and the prepared frames kept for the next request."""
    __slots__ = ("reader", "last", "recent")

    def __init__(self, reader: PyAVReader):
        self.reader = reader
        self.last = -1
        self.recent: dict[int, np.ndarray] = {}

    def distance(self, first: int) -> int:
        """How far this reader is from frame ``first`` (0: it holds it; large: it must go back)."""
        if first in self.recent:
            return 0
        return first - self.last if first > self.last else 1 << 40


class ReaderPool:
    """Readers kept open between requests; ``acquire``/``release`` give one to a request alone.

    At most ``max_idle`` idle readers stay open (least recently used closed).
    Readers inherited through ``fork`` are never touched in the child (their
    FFmpeg threads do not exist there): they are set aside, unclosed.
    """

    def __init__(self, max_idle: int = 4, ffmpeg_threads: int = 1, seek_cost: int = 0, apply_rotation: bool = True):
        self.apply_rotation = bool(apply_rotation)
        self.max_idle = max(1, int(max_idle))
        self.ffmpeg_threads = int(ffmpeg_threads)
        self.seek_cost = int(seek_cost)
        self._lock = ForkSafeLock()
        self._idle: OrderedDict[int, tuple[str, _Slot]] = OrderedDict()
        self._pid = os.getpid()
        self._orphans: list = []
        self._closed_seeks = 0
        self._closed_decoded = 0
        self._busy: set[_Slot] = set()

    def _check_fork(self) -> None:
        if self._pid != os.getpid():
            self._orphans += [s for _, s in self._idle.values()] + list(self._busy)
            self._idle.clear()
            self._busy = set()
            self._pid = os.getpid()

    def acquire(self, info: VideoInfo, first: int) -> _Slot:
        """The idle reader of ``info`` nearest before frame ``first``, or a new one."""
        with self._lock:
            self._check_fork()
            best = None
            for key, (path, slot) in self._idle.items():
                if path == info.path and (best is None or slot.distance(first) < best[1].distance(first)):
                    best = (key, slot)
            if best is not None:
                del self._idle[best[0]]
                self._busy.add(best[1])
                return best[1]
        slot = _Slot(PyAVReader(info, threads=self.ffmpeg_threads, skip_corrupt_packets=True,
                                apply_rotation=self.apply_rotation,
                                seek_cost=self.seek_cost))
        with self._lock:
            self._busy.add(slot)
        return slot

    def release(self, slot: _Slot, keep: bool = True) -> None:
        """Hand ``slot`` back (``keep=False``: close it, e.g. a file that cannot be opened)."""
        with self._lock:
            self._busy.discard(slot)
            retire = [slot]
            if keep and self._pid == os.getpid():
                self._idle[id(slot)] = (slot.reader.info.path, slot)
                retire = [self._idle.popitem(last=False)[1][1] for _ in range(len(self._idle) - self.max_idle)]
            self._count(retire)
        self._close(retire)

    def close(self) -> None:
        """Close this process's idle readers."""
        with self._lock:
            if self._pid != os.getpid():
                return
            retire = [s for _, s in self._idle.values()]
            self._idle.clear()
            self._count(retire)
        self._close(retire)

    def _count(self, slots: list[_Slot]) -> None:
        self._closed_seeks += sum(s.reader.seeks for s in slots)
        self._closed_decoded += sum(s.reader.decoded for s in slots)

    @staticmethod
    def _close(slots: list[_Slot]) -> None:
        for s in slots:
            s.recent.clear()
            s.reader.close()

    def _totals(self) -> tuple[int, int]:
        with self._lock:
            live = [s for _, s in self._idle.values()] + list(self._busy)
            return (self._closed_seeks + sum(s.reader.seeks for s in live),
                    self._closed_decoded + sum(s.reader.decoded for s in live))

    @property
    def seeks(self) -> int:
        """Keyframe seeks of this process's readers so far."""
        return self._totals()[0]

    @property
    def decoded(self) -> int:
        """Frames decoded by this process's readers so far."""
        return self._totals()[1]


class PyAVDecoder:
    """Decodes requests with FFmpeg, prepares frames with :func:`gpuvideo.ops.prepare_clip`.

    ``size`` = (width, height) or None (each file's own size), ``channels`` 3 or
    1, ``interpolation`` ``'linear'`` or ``'area'``. ``threads``: requests decoded
    in parallel. ``ffmpeg_threads``, ``seek_cost``, ``max_open_readers``: see
    :class:`ReaderPool`. ``resize_in_decoder``: FFmpeg's scaler resizes while
    converting to RGB (bilinear; a few levels off OpenCV's). ``keep_recent``:
    see the module doc. ``apply_rotation``: frames turned as displayed (``size`` is then
    the displayed size).
    """

    def __init__(self, size=None, channels: int = 3, interpolation: str = "linear", *, threads: int = 1,
                 ffmpeg_threads: int = 1, seek_cost: int = 0, max_open_readers: int = 4,
                 resize_in_decoder: bool = False, keep_recent: int = 0, apply_rotation: bool = True):
        self.size = None if size is None else (int(size[0]), int(size[1]))
        self.channels = int(channels)
        self.interpolation = interpolation
        self.resize_in_decoder = bool(resize_in_decoder)
        self.keep_recent = int(keep_recent)
        self.pool = ReaderPool(max_open_readers, ffmpeg_threads, seek_cost, apply_rotation)
        self._map = ThreadMap(threads, "gpuvideo-decode")

    def decode(self, requests) -> list:
        return self._map.map(self.decode_one, requests)

    def decode_one(self, request: Request):
        """The prepared clip of one request, or the exception that prevented it."""
        checked = check_request(request)
        if isinstance(checked, Exception):
            return checked
        info, idx = checked
        wanted = np.unique(idx)
        slot = self.pool.acquire(info, int(wanted[0]))
        keep = True
        try:
            block, present = self._read(slot, wanted)
        except VideoError as e:
            keep = False
            return e
        finally:
            self.pool.release(slot, keep)
        pos = np.searchsorted(wanted, idx)
        clip = block if len(wanted) == len(idx) and (wanted == idx).all() else block[pos]
        if not present.all():
            return MissingFrames(info.path, clip, present[pos], wanted[~present].tolist())
        return clip

    def _read(self, slot: _Slot, wanted: np.ndarray):
        """Prepared frames ``(len(wanted), h, w, c)`` (zeros where missing) and the present mask."""
        have = {f: slot.recent[f] for f in wanted.tolist() if f in slot.recent}
        todo = [f for f in wanted.tolist() if f not in have]
        if todo:
            resize = self.size if self.resize_in_decoder else None
            got, _ = slot.reader.read_available(todo, resize)
            for f, frame in got.items():
                have[f] = self._prepare(frame, slot.reader.info)
            got.clear()
        slot.last = int(wanted[-1])
        if self.keep_recent:
            low = slot.last - self.keep_recent
            slot.recent = {f: a for f, a in have.items() if f > low}
        if not have:
            info = slot.reader.info
            w, h = self.size or ((info.display_width, info.display_height) if self.pool.apply_rotation
                                 else (info.width, info.height))
            return np.zeros((len(wanted), h, w, self.channels), np.uint8), np.zeros(len(wanted), bool)
        shapes = {a.shape for a in have.values()}
        if len(shapes) > 1:
            raise VideoError(slot.reader.info.path, f"frame size changes within the video ({sorted(shapes)}); "
                                                    f"give target_shape to resize every frame to one size")
        block = np.zeros((len(wanted),) + shapes.pop(), np.uint8)
        present = np.zeros(len(wanted), bool)
        for j, f in enumerate(wanted.tolist()):
            a = have.get(f)
            if a is not None:
                block[j] = a
                present[j] = True
        return block, present

    def _prepare(self, frame: np.ndarray, info: VideoInfo) -> np.ndarray:
        """Decoded RGB uint8 ``(H, W, 3)`` -> uint8 ``(h, w, channels)`` at ``size``."""
        size = self.size or (frame.shape[1], frame.shape[0])
        return prepare_clip(frame[None], size, self.channels, self.interpolation)[0]

    @property
    def seeks(self) -> int:
        return self.pool.seeks

    @property
    def decoded(self) -> int:
        return self.pool.decoded

    def close(self) -> None:
        self.pool.close()
        self._map.close()
