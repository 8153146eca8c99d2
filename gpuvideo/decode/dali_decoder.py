"""Decoding with NVIDIA DALI: NVDEC on the GPU (``device='gpu'``) or libavcodec on the CPU (``device='cpu'``).

One :meth:`DaliClipDecoder.decode` call decodes every request of a generator
batch in one pipeline run. Encoded file bytes go in through
``fn.external_source`` and ``fn.decoders.video`` is given the exact frame
indices of each request (its ``frames`` argument input: any order,
duplicates allowed), so any sampling (uniform, legacy, sliding or timeseries
windows, random access) decodes exactly the frames the CPU reader would.

Inside the pipeline (on the GPU for ``device='gpu'``):

* resize to ``size`` = (width, height) with ``fn.resize`` (linear, no
  antialiasing: pixel-centre aligned like ``cv2.INTER_LINEAR``; measured
  within 1 level of OpenCV);
* grey with OpenCV's fixed-point weights in integer arithmetic (exact).

``interpolation='area'`` has no DALI equivalent of ``cv2.INTER_AREA``: frames
are then decoded at full size and resized on the host with
:func:`gpuvideo.ops.prepare_clip` (for ``device='gpu'`` that is a round trip
through host memory).

Files the device cannot decode (see :mod:`gpuvideo.decode.select`) and files
DALI rejects at run time go to the ``fallback`` decoder (a
:class:`~gpuvideo.decode.pyav_decoder.PyAVDecoder`), the reason logged once per file. Pipelines are kept per (process id, thread id): a forked
worker builds its own and never touches (or destroys) its parent's.
DALI is imported lazily: importing this module needs neither DALI nor CUDA.
"""
from __future__ import annotations

import logging
import os
import threading
from typing import Sequence

import numpy as np

from ..ops import GREY_WEIGHTS, GREY_SHIFT, prepare_clip
from ..probe import VideoInfo
from . import check_request
from .select import dali_supported, log_once

log = logging.getLogger("gpuvideo")

# Pipelines owned by another process (inherited through fork). Destroying them in the child would wait
# on threads that do not exist there, so they are parked here and never freed in that process.
_FOREIGN: list = []


def _device_array(device: str):
    """Module used for outputs: cupy (device='gpu', when importable) or numpy."""
    if device == "gpu":
        try:
            import cupy
            return cupy
        except Exception:
            return np
    return np


class DaliDecoder:
    """Decode ``[(VideoInfo, indices), ...]`` into uint8 clips ``(len(indices), h, w, nb_channel)``.

    ``device``: ``'gpu'`` (NVDEC, outputs CuPy arrays, or NumPy when CuPy is
    missing) or ``'cpu'`` (DALI's CPU decoder, VP8/VP9/MJPEG only, outputs
    NumPy). ``batch_size``: most requests per pipeline run (longer request
    lists are split). ``size`` = (width, height) or None for each file's own
    resolution. ``nb_channel``: 3 (RGB) or 1 (grey). ``num_threads``: DALI CPU
    threads. ``device_id``: CUDA device (default 0; ignored for ``'cpu'``,
    whose pipelines use ``device_id=None`` so that no GPU is needed).
    ``use_mmap``: hand DALI memory-mapped files instead of reading them
    (cheaper for long videos of which few frames are needed). ``fallback``: the
    decoder for files DALI cannot take (default: a PyAV decoder with the same
    size, channels and interpolation). Arguments are validated by the
    generators' options (:mod:`gpuvideo.options`), not again here.
    """

    def __init__(self, device: str = "gpu", batch_size: int = 8, size: tuple[int, int] | None = None,
                 nb_channel: int = 3, interpolation: str = "linear", num_threads: int | None = None,
                 device_id: int | None = None, use_mmap: bool = True, fallback=None):
        if device not in ("cpu", "gpu"):
            raise ValueError(f"device must be 'cpu' or 'gpu', got {device!r}")
        if fallback is None:
            from .pyav_decoder import PyAVDecoder
            fallback = PyAVDecoder(size, nb_channel, interpolation)
        self.fallback = fallback
        self.device = device
        self.batch_size = int(batch_size)
        self.size = None if size is None else (int(size[0]), int(size[1]))
        self.nb_channel = int(nb_channel)
        self.interpolation = interpolation
        self.num_threads = int(num_threads or max(1, min(4, os.cpu_count() or 1)))
        self.device_id = None if device == "cpu" else int(device_id or 0)
        self.use_mmap = bool(use_mmap)
        # resize/grey inside the pipeline unless the interpolation has no DALI equivalent
        self._in_pipeline = interpolation == "linear"
        self._pipes: dict[tuple, object] = {}
        self._lock = threading.Lock()
        self._rejected: dict[str, str] = {}   # path -> why DALI failed on it at run time
        self.stats = {"dali": 0, "fallback": 0, "runs": 0}

    # ------------------------------------------------------------------ pipelines
    def _key(self) -> tuple:
        return (os.getpid(), threading.get_ident(), self.device, self.device_id, self.batch_size, self.size,
                self.nb_channel, self._in_pipeline)

    def _build(self):
        import nvidia.dali.fn as fn
        import nvidia.dali.types as types
        from nvidia.dali import pipeline_def

        in_pipeline = self._in_pipeline
        size, nb_channel, device = self.size, self.nb_channel, self.device

        @pipeline_def(batch_size=self.batch_size, num_threads=self.num_threads, device_id=self.device_id,
                      prefetch_queue_depth=1, exec_async=False, exec_pipelined=False)
        def clip_pipeline():
            encoded = fn.external_source(name="encoded", dtype=types.UINT8, ndim=1, no_copy=True)
            frames = fn.external_source(name="frames", dtype=types.INT32, ndim=1)
            video = fn.decoders.video(encoded, frames=frames, device="mixed" if device == "gpu" else "cpu")
            if in_pipeline and size is not None:
                video = fn.resize(video, size=[size[1], size[0]], interp_type=types.INTERP_LINEAR,
                                  antialias=False, dtype=types.UINT8)
            if in_pipeline and nb_channel == 1:
                c = fn.cast(video, dtype=types.INT32)
                w = GREY_WEIGHTS
                y = (c[:, :, :, 0] * w[0] + c[:, :, :, 1] * w[1] + c[:, :, :, 2] * w[2]
                     + (1 << (GREY_SHIFT - 1))) // (1 << GREY_SHIFT)
                video = fn.expand_dims(fn.cast(y, dtype=types.UINT8), axes=[3], new_axis_names="C")
            return video

        pipe = clip_pipeline()
        pipe.build()
        return pipe

    def _pipeline(self):
        key = self._key()
        with self._lock:
            pipe = self._pipes.get(key)
            if pipe is not None:
                return pipe
            self._park_foreign()
            self._prune_dead_threads()
        pipe = self._build()
        with self._lock:
            self._pipes[key] = pipe
        return pipe

    def _park_foreign(self) -> None:
        """Move pipelines made by another process (before a fork) out of reach of their destructor."""
        pid = os.getpid()
        for k in [k for k in self._pipes if k[0] != pid]:
            _FOREIGN.append(self._pipes.pop(k))

    def _prune_dead_threads(self) -> None:
        alive = {t.ident for t in threading.enumerate()}
        pid = os.getpid()
        for k in [k for k in self._pipes if k[0] == pid and k[1] not in alive]:
            del self._pipes[k]

    def _drop_pipeline(self) -> None:
        with self._lock:
            self._pipes.pop(self._key(), None)

    @property
    def pipelines(self) -> int:
        """Number of live pipelines of this process (tests)."""
        pid = os.getpid()
        return sum(1 for k in self._pipes if k[0] == pid)

    def _close_pipelines(self) -> None:
        with self._lock:
            self._park_foreign()
            had = bool(self._pipes)
            self._pipes.clear()
        if had:
            try:
                from nvidia.dali import backend as dali_backend
                dali_backend.ReleaseUnusedMemory()
            except Exception as e:   # not fatal: memory is released when the process ends
                log.debug("DALI ReleaseUnusedMemory failed: %s", e)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            pid = os.getpid()
            pipes = getattr(self, "_pipes", {})
            for k in [k for k in pipes if k[0] != pid]:
                _FOREIGN.append(pipes.pop(k))
            pipes.clear()
        except Exception:
            pass

    # ------------------------------------------------------------------ decoding
    def supported(self, info: VideoInfo) -> tuple[bool, str]:
        """``(ok, reason)``: will this decoder send ``info`` to DALI (or to the PyAV fallback)?"""
        why = self._rejected.get(info.path)
        if why is not None:
            return False, why
        return dali_supported(info, self.device, self.device_id or 0)

    def decode(self, requests: Sequence[tuple[VideoInfo, np.ndarray]]) -> list:
        """Per request, uint8 ``(len(indices), h, w, nb_channel)`` frames at exactly those indices, or the
        exception that prevented it (see :mod:`gpuvideo.decode`).

        Arrays are NumPy for ``device='cpu'``, CuPy (NumPy without CuPy) for ``device='gpu'``.
        """
        results: list = [None] * len(requests)
        todo: list[int] = []
        checked = [check_request(r) for r in requests]
        for i, c in enumerate(checked):
            if isinstance(c, Exception):
                results[i] = c
                continue
            info, idx = c
            ok, reason = self.supported(info)
            if ok:
                todo.append(i)
            else:
                log_once(f"fallback:{self.device}:{info.path}", logging.INFO,
                         "%s decoded on the CPU with PyAV instead of DALI (%s): %s",
                         info.path, self.device, reason)
                results[i] = self._fallback(info, idx)
        for start in range(0, len(todo), self.batch_size):
            chunk = todo[start:start + self.batch_size]
            self._decode_chunk([(i,) + checked[i] for i in chunk], results)
        return results

    def _encoded(self, path: str) -> np.ndarray:
        if self.use_mmap and os.path.getsize(path) > 0:
            return np.memmap(path, dtype=np.uint8, mode="r")
        return np.fromfile(path, dtype=np.uint8)

    def _decode_chunk(self, items: list[tuple[int, VideoInfo, np.ndarray]], results: list) -> None:
        try:
            outs = self._run([(info, idx) for _, info, idx in items])
        except Exception as e:
            if len(items) == 1:
                i, info, idx = items[0]
                self._reject(info, f"DALI failed: {type(e).__name__}: {_short(e)}")
                results[i] = self._fallback(info, idx)
                return
            log.debug("DALI batch of %d failed (%s); retrying file by file", len(items), _short(e))
            for item in items:
                self._decode_chunk([item], results)
            return
        for (i, info, idx), out in zip(items, outs):
            expect = self._expected_shape(info, len(idx))
            if tuple(out.shape) != expect:
                self._reject(info, f"DALI returned shape {tuple(out.shape)}, expected {expect}")
                results[i] = self._fallback(info, idx)
                continue
            results[i] = out
            self.stats["dali"] += 1

    def _expected_shape(self, info: VideoInfo, n: int) -> tuple[int, ...]:
        w, h = self.size if self.size is not None else (info.width, info.height)
        return (n, h, w, self.nb_channel)

    def _run(self, reqs: list[tuple[VideoInfo, np.ndarray]]) -> list:
        pipe = self._pipeline()
        encoded = [self._encoded(info.path) for info, _ in reqs]
        frames = [idx.astype(np.int32) for _, idx in reqs]
        try:
            pipe.feed_input("encoded", encoded)
            pipe.feed_input("frames", frames)
            (out,) = pipe.run()
            self.stats["runs"] += 1
            clips = self._to_arrays(out, len(reqs))
        except Exception:
            self._drop_pipeline()   # a failed pipeline is not reused
            raise
        finally:
            del encoded
        if not self._in_pipeline:
            clips = [self._prepare_host(c) for c in clips]
        return clips

    def _to_arrays(self, out, n: int) -> list:
        """Own copies of the pipeline's outputs (its buffers are reused by the next run)."""
        if self.device == "cpu":
            return [np.array(out[k], copy=True) for k in range(n)]
        xp = _device_array("gpu")
        if xp is np:
            host = out.as_cpu()
            return [np.array(host[k], copy=True) for k in range(n)]
        import cupy
        cupy.cuda.runtime.deviceSynchronize()   # DALI's stream is not CuPy's: wait for the outputs
        return [cupy.array(cupy.asarray(out[k]), copy=True) for k in range(n)]

    def _prepare_host(self, clip):
        """interpolation without a DALI equivalent: resize/grey with the ops layer on the host."""
        xp = _device_array(self.device)
        host = clip.get() if hasattr(clip, "get") else clip
        host = self._prepare(host)
        return xp.asarray(host) if xp is not np else host

    def _prepare(self, frames: np.ndarray) -> np.ndarray:
        if self.size is None:
            return prepare_clip(frames, (frames.shape[2], frames.shape[1]), self.nb_channel, self.interpolation)
        return prepare_clip(frames, self.size, self.nb_channel, self.interpolation)

    def _reject(self, info: VideoInfo, reason: str) -> None:
        self._rejected[info.path] = reason
        log_once(f"fallback:{self.device}:{info.path}", logging.WARNING,
                 "%s decoded on the CPU with PyAV instead of DALI (%s): %s",
                 info.path, self.device, reason)

    def _fallback(self, info: VideoInfo, idx: np.ndarray):
        """The fallback decoder's clip (or error); on the GPU device the clip is then copied to the GPU."""
        self.stats["fallback"] += 1
        clip = self.fallback.decode_one((info, idx))
        xp = _device_array(self.device)
        if isinstance(clip, Exception) or xp is np:
            return clip
        return xp.asarray(clip)

    def close(self) -> None:
        """Free this process's pipelines (and DALI's unused pooled memory) and the fallback's files."""
        self._close_pipelines()
        self.fallback.close()


def _short(e: BaseException, limit: int = 300) -> str:
    s = str(e).strip().splitlines()
    s = s[0] if s else type(e).__name__
    return s if len(s) <= limit else s[:limit] + "..."
