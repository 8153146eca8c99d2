"""One entry point for Farneback dense optical flow, whatever computes it.

:func:`farneback` takes batches of grey uint8 frames and returns float32
flow ``(N, H, W, 2)`` = ``(dx, dy)`` in pixels, the result of
``cv2.calcOpticalFlowFarneback(prev, next, None, *params.as_cv2_args())``.
Backends:

- ``"cv2"``: OpenCV on the CPU, one pair at a time (NumPy arrays).
- ``"cupy"``: batched CUDA kernels, ``gpuvideo.farneback.cupy_impl.farneback_cupy``
  (CuPy arrays; NumPy input is copied to the GPU and back).
- ``"opencv-cuda"``: ``cv2.cuda.FarnebackOpticalFlow`` from an OpenCV built
  with CUDA (PyPI wheels are not); results differ slightly from the CPU's.

``backend=None`` picks ``"cv2"`` for NumPy arrays and, for CuPy arrays,
``"cupy"`` or else ``"opencv-cuda"`` when available.
"""
from __future__ import annotations

import logging
import typing
from typing import Literal

import numpy as np

from .farneback.params import FarnebackParams
from .ops import is_device_array

log = logging.getLogger("gpuvideo")

#: Farneback backends (one vocabulary: the optical-flow generator's ``flow_backend`` takes these or None)
FlowBackend = Literal["cv2", "cupy", "opencv-cuda"]
FLOW_BACKENDS = typing.get_args(FlowBackend)


def make_params(params=None) -> FarnebackParams:
    """``FarnebackParams`` from None (defaults), a ``FarnebackParams``, a dict of its fields or cv2's 7-tuple."""
    if params is None:
        return FarnebackParams()
    if isinstance(params, FarnebackParams):
        return params
    if isinstance(params, dict):
        return FarnebackParams(**params)
    return FarnebackParams(*params)


def opencv_cuda_available() -> bool:
    """True when this cv2 has CUDA devices and ``cv2.cuda.FarnebackOpticalFlow``."""
    try:
        import cv2

        return bool(cv2.cuda.getCudaEnabledDeviceCount() > 0 and hasattr(cv2.cuda, "FarnebackOpticalFlow"))
    except Exception:  # noqa: BLE001 - any failure means "not available"
        return False


def _cupy_impl():
    try:
        from .farneback.cupy_impl import farneback_cupy
    except ImportError as e:
        raise RuntimeError("the 'cupy' Farneback backend is not available: gpuvideo.farneback.cupy_impl "
                           f"could not be imported ({e}); install CuPy or use backend='cv2'") from e
    return farneback_cupy


def default_backend(x) -> str:
    """Backend used for arrays like ``x`` when none is given."""
    if not is_device_array(x):
        return "cv2"
    try:
        _cupy_impl()
        return "cupy"
    except RuntimeError:
        if opencv_cuda_available():
            return "opencv-cuda"
        raise


def _check(prev, nxt):
    if prev.shape != nxt.shape:
        raise ValueError(f"prev and next differ in shape: {prev.shape} vs {nxt.shape}")
    if prev.dtype != np.uint8 or nxt.dtype != np.uint8:
        raise TypeError(f"Farneback frames must be uint8 grey, got {prev.dtype} and {nxt.dtype}")
    if prev.ndim not in (2, 3):
        raise ValueError(f"expected grey frames (N, H, W) or (H, W), got shape {prev.shape}")


def farneback(prev, next, params=None, *, backend: str | None = None):  # noqa: A002 - cv2's name
    """Dense flow from ``prev`` to ``next``: uint8 ``(N, H, W)`` (or ``(H, W)``) -> float32 ``(N, H, W, 2)``.

    ``params``: see :func:`make_params` (default: pyr_scale 0.5, levels 3,
    winsize 15, iterations 3, poly_n 5, poly_sigma 1.1, flags 0). The result
    lives where the input does (NumPy or CuPy) and has the input's leading shape.
    """
    _check(prev, next)
    p = make_params(params)
    single = prev.ndim == 2
    if single:
        prev, next = prev[None], next[None]
    backend = backend or default_backend(prev)
    if backend == "cv2":
        out = _farneback_cv2(prev, next, p)
    elif backend == "cupy":
        out = _farneback_cupy(prev, next, p)
    elif backend == "opencv-cuda":
        out = _farneback_opencv_cuda(prev, next, p)
    else:
        raise ValueError(f"backend must be one of {FLOW_BACKENDS}, got {backend!r}")
    return out[0] if single else out


def _farneback_cv2(prev, nxt, p: FarnebackParams):
    if is_device_array(prev):
        raise TypeError("backend 'cv2' needs NumPy arrays; use 'cupy' or 'opencv-cuda' for device arrays")
    import cv2

    n, h, w = prev.shape
    out = np.empty((n, h, w, 2), np.float32)
    args = p.as_cv2_args()
    for i in range(n):
        out[i] = cv2.calcOpticalFlowFarneback(prev[i], nxt[i], None, *args)
    return out


def _farneback_cupy(prev, nxt, p: FarnebackParams):
    fn = _cupy_impl()
    if not is_device_array(prev):
        try:
            import cupy
        except ImportError as e:
            raise RuntimeError("backend 'cupy' needs CuPy (e.g. pip install cupy-cuda13x) and a CUDA GPU") from e

        return cupy.asnumpy(fn(cupy.asarray(prev), cupy.asarray(nxt), p))
    return fn(prev, nxt, p)


def _farneback_opencv_cuda(prev, nxt, p: FarnebackParams):
    if not opencv_cuda_available():
        raise RuntimeError("backend 'opencv-cuda' needs an OpenCV built with CUDA (cv2.cuda.FarnebackOpticalFlow) "
                           "and a CUDA device; PyPI's opencv wheels have no CUDA")
    import cv2

    # all eight arguments: the CUDA class's defaults differ from calcOpticalFlowFarneback's
    algo = cv2.cuda.FarnebackOpticalFlow.create(p.levels, p.pyr_scale, False, p.winsize, p.iterations,
                                                p.poly_n, p.poly_sigma, p.flags)
    on_device = is_device_array(prev)
    host_prev = prev.get() if on_device else prev
    host_next = nxt.get() if on_device else nxt
    n, h, w = host_prev.shape
    out = np.empty((n, h, w, 2), np.float32)
    a, b = cv2.cuda_GpuMat(), cv2.cuda_GpuMat()
    for i in range(n):
        a.upload(np.ascontiguousarray(host_prev[i]))
        b.upload(np.ascontiguousarray(host_next[i]))
        out[i] = algo.calc(a, b, None).download()
    if on_device:
        import cupy

        return cupy.asarray(out)
    return out
