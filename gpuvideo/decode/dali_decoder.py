"""Decoding with NVIDIA DALI: NVDEC on the GPU (``device='gpu'``) or libavcodec on the CPU (``device='cpu'``).

One :meth:`DaliDecoder.decode` call decodes every request of a generator batch
in as few pipeline runs as the batch size allows. Encoded bytes go in through
``fn.external_source`` and ``fn.decoders.video`` is given the exact frame
indices of each request (any order, duplicates allowed), so any sampling
decodes exactly the frames the CPU reader would. Long files are handed over
as excerpts of the GOPs a request needs (:mod:`gpuvideo.decode.excerpt`), so a
batch costs the same anywhere in an hour of video. The pipeline and the
stream-correct hand-over of its outputs are in :mod:`~gpuvideo.decode.dali_pipeline`.

Inside the pipeline: resize to ``size`` = (width, height) with ``fn.resize``
(linear, no antialiasing: pixel-centre aligned like ``cv2.INTER_LINEAR``;
within 1 level of OpenCV) and grey with OpenCV's fixed-point weights (exact).
``interpolation='area'`` has no DALI equivalent: frames are then decoded at
full size and resized on the host with :func:`gpuvideo.ops.prepare_clip`.

Failures: a file the device cannot decode (:mod:`gpuvideo.decode.select`) goes
to the ``fallback`` decoder before any run. A run that fails is retried file
by file; a file DALI fails on is remembered and goes to the fallback from
then on (logged once). Errors of the device rather than of a file (out of
memory, CUDA initialisation, a broken pipeline) are retried on a new pipeline
and, if they persist, that batch goes to the fallback without condemning its
files; both kinds are counted in the bad-input report (``report.counts()``).
DALI is imported lazily: importing this module needs neither DALI nor CUDA.
"""
from __future__ import annotations

import logging
import os
import re
import threading
from typing import Sequence

import numpy as np

from ..lifetime import Closing
from ..ops import is_device_array, prepare_clip, to_host
from ..videoinfo import VideoInfo
from . import check_request
from .dali_pipeline import PipelineSet, build_pipeline
from .excerpt import gop_excerpt, worth_excerpting
from .select import dali_supported, log_once

log = logging.getLogger("gpuvideo")

#: messages of errors that come from the device, not from a file
_TRANSIENT = re.compile(r"out of memory|CUDA_ERROR|cudaError|CUDA error|CUDA driver|initiali[sz]ation error|"
                        r"cuvid|NVDEC|not enough memory|cannot allocate|std::bad_alloc", re.IGNORECASE)
_OOM = re.compile(r"out of memory|cudaErrorMemoryAllocation|CUDA_ERROR_OUT_OF_MEMORY|cannot allocate|bad_alloc",
                  re.IGNORECASE)
#: attempts of a run that failed with a device error, before its requests go to the fallback
RETRIES = 2


def is_transient(error: BaseException) -> bool:
    """True for errors of the device (memory, CUDA, the decoder engine), which say nothing about the file."""
    return bool(_TRANSIENT.search(f"{type(error).__name__}: {error}"))


class DaliDecoder(Closing):
    """Decode ``[(VideoInfo, indices), ...]`` into uint8 clips ``(len(indices), h, w, nb_channel)``.

    ``device``: ``'gpu'`` (NVDEC, outputs CuPy arrays on ``device_id``) or
    ``'cpu'`` (DALI's CPU decoder, VP8/VP9/MJPEG only, outputs NumPy).
    ``batch_size``: most requests per pipeline run. ``size`` = (width, height) or
    None for each file's own resolution; ``nb_channel`` 3 or 1. ``num_threads``:
    DALI CPU threads. ``device_id``: CUDA device (ignored for ``'cpu'``, whose
    pipelines use ``device_id=None``, so no GPU is needed). ``fallback``: the
    decoder for files DALI cannot take (default: a PyAV decoder with the same
    size, channels and interpolation). ``report``: a
    :class:`~gpuvideo.errors.BadInputReport` counting fallbacks and device errors.
    ``apply_rotation``: files with a display rotation go to the fallback, which turns them.
    Arguments are validated by the generators' options, not again here.
    """

    def __init__(self, device: str = "gpu", batch_size: int = 8, size: tuple[int, int] | None = None,
                 nb_channel: int = 3, interpolation: str = "linear", num_threads: int | None = None,
                 device_id: int | None = None, fallback=None, report=None, apply_rotation: bool = True):
        if device not in ("cpu", "gpu"):
            raise ValueError(f"device must be 'cpu' or 'gpu', got {device!r}")
        if fallback is None:
            from .pyav_decoder import PyAVDecoder
            fallback = PyAVDecoder(size, nb_channel, interpolation, apply_rotation=apply_rotation)
        self.fallback = fallback
        self.report = report
        self.apply_rotation = bool(apply_rotation)
        self.device = device
        self.batch_size = int(batch_size)
        self.size = None if size is None else (int(size[0]), int(size[1]))
        self.nb_channel = int(nb_channel)
        self.interpolation = interpolation
        self.device_id = None if device == "cpu" else int(device_id or 0)
        # resize/grey inside the pipeline unless the interpolation has no DALI equivalent
        self._in_pipeline = interpolation == "linear"
        threads = int(num_threads or max(1, min(4, os.cpu_count() or 1)))
        self.pipes = PipelineSet(lambda: build_pipeline(device, self.batch_size, threads, self.device_id, self.size,
                                                        self.nb_channel, self._in_pipeline), device, self.device_id)
        self._rejected: dict[str, str] = {}   # path -> why DALI failed on it at run time
        self._lock = threading.Lock()
        self.stats = {"dali": 0, "fallback": 0, "runs": 0, "excerpts": 0, "transient": 0}

    @property
    def pipelines(self) -> int:
        """Live pipelines of this process (tests)."""
        return self.pipes.count

    def supported(self, info: VideoInfo) -> tuple[bool, str]:
        """``(ok, reason)``: will this decoder send ``info`` to DALI (or to the fallback)?"""
        why = self._rejected.get(info.path)
        if why is not None:
            return False, why
        if self.apply_rotation and getattr(info, "rotation", 0):
            return False, f"display rotation {info.rotation}: PyAV turns the frames (DALI does not)"
        return dali_supported(info, self.device, self.device_id or 0)

    # ------------------------------------------------------------------ decoding
    def decode(self, requests: Sequence[tuple[VideoInfo, np.ndarray]]) -> list:
        """Per request, the uint8 clip at exactly those indices or the exception that prevented it (see
        :mod:`gpuvideo.decode`). Arrays are NumPy for ``device='cpu'``, CuPy for ``device='gpu'``."""
        results: list = [None] * len(requests)
        todo: list[int] = []
        checked = [check_request(r) for r in requests]
        for i, c in enumerate(checked):
            if isinstance(c, Exception):
                results[i] = c
                continue
            ok, reason = self.supported(c[0])
            if ok:
                todo.append(i)
            else:
                log_once(f"fallback:{self.device}:{c[0].path}", logging.INFO,
                         "%s decoded on the CPU with PyAV instead of DALI (%s): %s", c[0].path, self.device, reason)
                results[i] = self._fallback(*c)
        for start in range(0, len(todo), self.batch_size):
            self._decode_chunk([(i,) + checked[i] for i in todo[start:start + self.batch_size]], results)
        return results

    def decode_one(self, request):
        return self.decode([request])[0]

    def _decode_chunk(self, items: list[tuple[int, VideoInfo, np.ndarray]], results: list) -> None:
        try:
            outs = self._run_retrying([(info, idx) for _, info, idx in items])
        except Exception as e:
            if is_transient(e):                      # the device, not the files: this batch only, on the CPU
                self._count("dali_device_errors")
                for i, info, idx in items:
                    results[i] = self._fallback(info, idx)
                return
            if len(items) > 1:
                log.debug("DALI batch of %d failed (%s); retrying file by file", len(items), _short(e))
                for item in items:
                    self._decode_chunk([item], results)
                return
            i, info, idx = items[0]
            self._reject(info, f"DALI failed: {type(e).__name__}: {_short(e)}")
            results[i] = self._fallback(info, idx)
            return
        for (i, info, idx), out in zip(items, outs):
            expect = self._expected_shape(info, len(idx))
            if tuple(out.shape) != expect:               # a short or odd result is an error, never served
                self._reject(info, f"DALI returned shape {tuple(out.shape)}, expected {expect}")
                results[i] = self._fallback(info, idx)
                continue
            results[i] = out
            self.stats["dali"] += 1

    def _run_retrying(self, reqs):
        for attempt in range(RETRIES + 1):
            try:
                return self._run(reqs)
            except Exception as e:
                self.pipes.drop()                    # a failed pipeline is not reused
                if not is_transient(e) or attempt == RETRIES:
                    raise
                self.stats["transient"] += 1
                self._count("dali_retries")
                if _OOM.search(str(e)):
                    log_once("dali-oom", logging.WARNING,
                             "DALI cannot allocate GPU memory (%s). If TensorFlow or JAX run in this process, they "
                             "map most of the GPU at start: set TF_FORCE_GPU_ALLOW_GROWTH=true or "
                             "XLA_PYTHON_CLIENT_PREALLOCATE=false before importing them.", _short(e))
                log.info("DALI run failed with a device error (%s); retrying on a new pipeline", _short(e))
        raise AssertionError("unreachable")

    def _run(self, reqs: list[tuple[VideoInfo, np.ndarray]]) -> list:
        encoded, frames = [], []
        for info, idx in reqs:
            data, start = self._encoded(info, idx)
            encoded.append(data)
            frames.append((idx - start).astype(np.int32))
        clips = self.pipes.run(encoded, frames)
        self.stats["runs"] += 1
        if not self._in_pipeline:
            clips = [self._prepare_host(c) for c in clips]
        return clips

    def _encoded(self, info: VideoInfo, idx: np.ndarray) -> tuple[np.ndarray, int]:
        """The bytes DALI gets for a request and the source index of their frame 0."""
        first, last = int(idx.min()), int(idx.max())
        if worth_excerpting(info, first, last):
            try:
                data, start = gop_excerpt(info, first, last)
                self.stats["excerpts"] += 1
                return np.frombuffer(data, np.uint8), start
            except Exception as e:   # noqa: BLE001 - hand over the whole file instead
                log_once(f"excerpt:{info.path}", logging.INFO, "%s: whole file handed to DALI (%s)", info.path, e)
        if os.path.getsize(info.path) > 0:
            return np.memmap(info.path, dtype=np.uint8, mode="r"), 0
        return np.fromfile(info.path, dtype=np.uint8), 0

    def _expected_shape(self, info: VideoInfo, n: int) -> tuple[int, ...]:
        w, h = self.size if self.size is not None else (info.width, info.height)
        return (n, h, w, self.nb_channel)

    def _prepare_host(self, clip):
        """Interpolations without a DALI equivalent: resize/grey with the ops layer on the host."""
        host = to_host(clip)
        size = self.size or (host.shape[2], host.shape[1])
        out = prepare_clip(host, size, self.nb_channel, self.interpolation)
        return self._to_device(out) if is_device_array(clip) else out

    def _to_device(self, clip):
        import cupy

        with cupy.cuda.Device(self.device_id):
            return cupy.asarray(clip)

    # ------------------------------------------------------------------ failures
    def _count(self, event: str) -> None:
        if self.report is not None:
            self.report.count(event)

    def _reject(self, info: VideoInfo, reason: str) -> None:
        with self._lock:
            self._rejected[info.path] = reason
        self._count("dali_fallback_files")
        log_once(f"fallback:{self.device}:{info.path}", logging.WARNING,
                 "%s decoded on the CPU with PyAV instead of DALI (%s): %s", info.path, self.device, reason)

    def _fallback(self, info: VideoInfo, idx: np.ndarray):
        """The fallback decoder's clip (or error); on the GPU device the clip is then copied to the GPU."""
        self.stats["fallback"] += 1
        clip = self.fallback.decode_one((info, idx))
        if isinstance(clip, Exception) or self.device == "cpu":
            return clip
        return self._to_device(clip)

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Free this process's pipelines (and DALI's unused pooled memory) and the fallback's files."""
        self.pipes.close()
        self.fallback.close()

    def __del__(self):
        """Not :meth:`close`: on deletion this process's pipelines are let go and other processes' parked."""
        try:
            self.pipes.forget_foreign()
        except Exception:
            pass


def _short(e: BaseException, limit: int = 300) -> str:
    s = str(e).strip().splitlines()
    s = s[0] if s else type(e).__name__
    return s if len(s) <= limit else s[:limit] + "..."
