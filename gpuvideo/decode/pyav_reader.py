"""CPU decoding with PyAV (FFmpeg): exact frame indices, forward decoding, keyframe seeks."""
from __future__ import annotations

import bisect
import logging
from typing import Sequence

import numpy as np

from ..errors import VideoError
from ..probe import VideoInfo

log = logging.getLogger(__name__)


class _Unmapped(Exception):
    """A decoded frame's timestamp is not in the probed table."""


class PyAVReader:
    """Reads frames by 0-based presentation index from one file.

    ``threads``: FFmpeg decoder threads (0 lets FFmpeg choose). Frames are
    converted to RGB only when they are wanted.
    """

    def __init__(self, info: VideoInfo, threads: int = 1):
        self.info = info
        self.threads = threads
        self._container = None
        self._frames = None          # iterator of decoded av.VideoFrame
        self._pos = 0                # index of the next frame the iterator yields
        self._counting = not info.seekable
        self._pts_index = {p: i for i, p in enumerate(info.pts)} if info.seekable else {}
        self.seeks = 0               # statistics, for tests and benchmarks
        self.decoded = 0

    # ------------------------------------------------------------------ lifecycle
    def _open(self):
        import av

        try:
            self._container = av.open(self.info.path)
        except Exception as e:
            raise VideoError(self.info.path, f"cannot open: {e}") from e
        stream = self._container.streams.video[0]
        if self.threads != 1:
            stream.thread_type = "AUTO"
            stream.thread_count = self.threads
        self._stream = stream
        self._frames = self._container.decode(stream)
        self._pos = 0

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
        self._frames = self._container.decode(self._stream)
        self._pos = None   # known again from the first frame's timestamp
        self.seeks += 1

    def _needs_seek(self, first: int) -> bool:
        if self._container is None or self._pos is None or first < self._pos:
            return True
        if self._counting:
            return False
        # a keyframe between here and ``first`` makes seeking cheaper than decoding forward
        kf = self.info.keyframes
        j = bisect.bisect_right(kf, self._pos)
        return j < len(kf) and kf[j] <= first

    def _index_of(self, frame) -> int:
        if self._counting:
            return self._pos
        idx = self._pts_index.get(frame.pts)
        if idx is None:
            raise _Unmapped(frame.pts)
        return idx

    # ------------------------------------------------------------------ reading
    def read(self, indices: Sequence[int], size: tuple[int, int] | None = None) -> np.ndarray:
        """Frames at ``indices`` as uint8 ``(n, H, W, 3)`` RGB.

        ``size`` = (width, height) lets FFmpeg's scaler resize while converting
        (bilinear); by default frames keep the file's resolution. Raises
        :class:`VideoError` when a frame cannot be decoded and :class:`IndexError`
        for an index outside ``[0, frame_count)``.
        """
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size == 0:
            raise ValueError("no frame indices given")
        if idx.min() < 0 or idx.max() >= self.info.frame_count:
            raise IndexError(f"{self.info.path}: frame indices {idx.min()}..{idx.max()} outside "
                             f"[0, {self.info.frame_count})")
        wanted = sorted(set(idx.tolist()))
        try:
            got = self._collect(wanted, size)
        except _Unmapped as e:
            log.info("%s: timestamp %s not in the index, decoding from the start", self.info.path, e)
            self._counting = True
            self.close()
            got = self._collect(wanted, size)
        return np.stack([got[i] for i in idx.tolist()])

    def _collect(self, wanted: list[int], size) -> dict[int, np.ndarray]:
        if self._needs_seek(wanted[0]):
            self._seek_to(wanted[0])
        got: dict[int, np.ndarray] = {}
        want = set(wanted)
        last = wanted[-1]
        kwargs = {"format": "rgb24"}
        if size is not None:
            kwargs.update(width=int(size[0]), height=int(size[1]), interpolation="BILINEAR")
        try:
            for frame in self._frames:
                i = self._index_of(frame)
                self._pos = i + 1
                self.decoded += 1
                if i in want:
                    got[i] = frame.to_ndarray(**kwargs)
                    if len(got) == len(want):
                        break
                if i >= last:
                    break
        except _Unmapped:
            raise
        except Exception as e:
            raise VideoError(self.info.path, f"decode error near frame {self._pos}: {e}") from e
        missing = [i for i in wanted if i not in got]
        if missing:
            self._pos = None
            raise VideoError(self.info.path, f"frames {missing[:5]}{'...' if len(missing) > 5 else ''} "
                                             f"could not be decoded (stream ends at frame {self._pos})")
        return got


def decode_all(path: str) -> np.ndarray:
    """Every frame of ``path`` in presentation order, uint8 ``(T, H, W, 3)`` RGB (tests/reference)."""
    import av

    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(c.streams.video[0])])
