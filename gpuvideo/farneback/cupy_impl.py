"""CuPy driver for the batched Farneback kernels in ``kernels/farneback.cu``.

The kernels follow :mod:`gpuvideo.farneback.reference` pass by pass, and so do the
functions here: :func:`_blur_and_resize`, :func:`_poly_expansion`,
:func:`_upscale_flow`, :func:`_update_matrices` and :func:`_window_and_solve`
(the reference's window average and ``solve_flow``, fused in one kernel).

Every host constant (pyramid sizes and blur taps, resize tables,
polynomial-expansion constants, window, border weights) comes from
:mod:`gpuvideo.farneback.params` and is copied to the device once per
(device, frame size, parameters): :func:`_device_plan` is cached, so a call with
shapes seen before makes no host-to-device copy at all; it only allocates,
launches and returns a device array. CuPy is imported lazily inside functions.
"""

from __future__ import annotations

import functools
import logging
from typing import NamedTuple

import numpy as np

from .params import (
    FarnebackParams,
    PyramidLevel,
    border_weights,
    gaussian_window_kernel,
    poly_expansion_coeffs,
    pyramid_blur_kernel,
    pyramid_sizes,
    resize_linear_coords,
)

__all__ = ["farneback_cupy", "clear_device_caches", "KERNEL_OPTIONS"]

logger = logging.getLogger(__name__)

#: NVRTC options.  ``--fmad=false`` keeps multiply-adds unfused, like the
#: CPU reference, so results do not drift through FMA rounding.
KERNEL_OPTIONS = ("--std=c++17", "--fmad=false")
_BLOCK = 256
#: most blocks per launch; every kernel is a grid-stride loop, so any cap is correct
#: (the tests lower it to make the loops wrap)
_MAX_GRID = 2 ** 31 - 1
#: (device, frame size, parameters) plans kept on the device
_PLAN_CACHE_SIZE = 32

i32, f32, f64 = np.int32, np.float32, np.float64


class _Level(NamedTuple):
    """Device constants of one pyramid level (kernel arguments, in kernel order)."""

    level: PyramidLevel
    taps: object            # float32 (K,) pre-resize blur
    radius: np.int32        # K // 2
    image_tables: tuple     # 8 resize tables full resolution -> level (x0, x1, ax0, ax1, y0, y1, ay0, ay1)
    identity: np.int32      # 1 at full resolution (plain copy, no resize)
    flow_tables: tuple      # 8 resize tables previous (coarser) level -> level; () at the coarsest


class _Plan(NamedTuple):
    """Device constants of one (device, frame size, parameters)."""

    levels: tuple           # _Level, coarsest first (processing order)
    g: object               # float32 (n+1,) polynomial-expansion taps, offsets 0..n
    xg: object
    xxg: object
    poly_n: np.int32
    ig: tuple               # float64 ig11, ig03, ig33, ig55
    window: object          # float32 (2m+1,) Gaussian window (flag 256) or None
    half_window: np.int32   # m = winsize // 2
    box_scale: np.float64   # 1 / winsize**2
    flow_mult: np.float32   # 1 / pyr_scale
    border: object          # float32 (nb,) border weights
    nb: np.int32


class _Kernels(NamedTuple):
    blur_rows: object
    blur_cols_resize: object
    poly_cols: object
    poly_rows: object
    update: object
    resize_flow: object
    window_cols: object
    window_rows_solve: object


def clear_device_caches() -> None:
    """Forget the constants kept on the device (they are rebuilt on the next call)."""
    _device_plan.cache_clear()


@functools.lru_cache(maxsize=_PLAN_CACHE_SIZE)
def _device_plan(device_id: int, height: int, width: int, params: FarnebackParams) -> _Plan:
    """Every host constant for ``height x width`` frames, copied once to device ``device_id``.

    Called with ``device_id`` current; the cache key keeps one plan per device.
    """
    import cupy as cp

    def dev(a):
        return cp.asarray(np.ascontiguousarray(a))

    def tables(src_h, src_w, dst_h, dst_w):
        return tuple(dev(t) for t in resize_linear_coords(src_w, dst_w) + resize_linear_coords(src_h, dst_h))

    levels = []
    prev = None
    for lv in reversed(pyramid_sizes(height, width, params)):
        taps = pyramid_blur_kernel(lv.scale)
        flow_tables = () if prev is None else tables(prev.height, prev.width, lv.height, lv.width)
        levels.append(_Level(lv, dev(taps), i32(taps.size // 2), tables(height, width, lv.height, lv.width),
                             i32((lv.height, lv.width) == (height, width)), flow_tables))
        prev = lv
    c = poly_expansion_coeffs(params.poly_n, params.poly_sigma)
    bw = border_weights()
    return _Plan(
        levels=tuple(levels), g=dev(c.g[c.n:]), xg=dev(c.xg[c.n:]), xxg=dev(c.xxg[c.n:]), poly_n=i32(c.n),
        ig=(f64(c.ig11), f64(c.ig03), f64(c.ig33), f64(c.ig55)),
        window=dev(gaussian_window_kernel(params.winsize)) if params.gaussian_window else None,
        half_window=i32(params.half_window), box_scale=f64(1.0 / (params.winsize * params.winsize)),
        flow_mult=f32(1.0 / float(params.pyr_scale)), border=dev(bw), nb=i32(bw.size))


def _kernels(gaussian_window: bool) -> _Kernels:
    from ..cuda_kernels import load_module

    mod = load_module("farneback", KERNEL_OPTIONS)
    win = ("fb_gauss_cols", "fb_gauss_rows_solve") if gaussian_window else ("fb_box_cols", "fb_box_rows_solve")
    names = ("fb_blur_rows_u8", "fb_blur_cols_resize", "fb_poly_exp_cols", "fb_poly_exp_rows",
             "fb_update_matrices", "fb_resize_flow") + win
    return _Kernels(*(mod.get_function(n) for n in names))


def _launch(kernel, total: int, args) -> None:
    grid = max(1, min((int(total) + _BLOCK - 1) // _BLOCK, _MAX_GRID))
    kernel((grid,), (_BLOCK,), args)


# --------------------------------------------------------------------------- one function per pass
def _blur_and_resize(cp, k: _Kernels, frames, rowblur, lv: _Level):
    """Pyramid level of all B frames: uint8 ``(B, H, W)`` -> float32 ``(B, h, w)`` (reference.blur_and_resize).

    ``rowblur``: float32 ``(B, H, W)`` scratch for the horizontal pass at full resolution.
    """
    B, H, W = (int(s) for s in frames.shape)
    h, w = lv.level.height, lv.level.width
    full = (i32(B), i32(H), i32(W))
    _launch(k.blur_rows, B * H * W, (frames, rowblur) + full + (lv.taps, lv.radius))
    img = cp.empty((B, h, w), cp.float32)
    _launch(k.blur_cols_resize, B * h * w,
            (rowblur, img) + full + (i32(h), i32(w), lv.taps, lv.radius) + lv.image_tables + (lv.identity,))
    return img


def _poly_expansion(cp, k: _Kernels, img, plan: _Plan):
    """Quadratic expansion: float32 ``(B, h, w)`` -> ``(B, h, w, 5)`` (reference.poly_expansion)."""
    B, h, w = (int(s) for s in img.shape)
    v3 = cp.empty((B, h, w, 3), cp.float32)
    dims = (i32(B), i32(h), i32(w))
    _launch(k.poly_cols, B * h * w, (img, v3) + dims + (plan.g, plan.xg, plan.xxg, plan.poly_n))
    R = cp.empty((B, h, w, 5), cp.float32)
    _launch(k.poly_rows, B * h * w, (v3, R) + dims + (plan.g, plan.xg, plan.xxg, plan.poly_n) + plan.ig)
    return R


def _upscale_flow(cp, k: _Kernels, flow, lv: _Level, plan: _Plan):
    """Coarse-to-fine transfer ``(N, hc, wc, 2)`` -> ``(N, h, w, 2)``, times 1/pyr_scale (reference.upscale_flow)."""
    n, hs, ws = (int(s) for s in flow.shape[:3])
    h, w = lv.level.height, lv.level.width
    out = cp.empty((n, h, w, 2), cp.float32)
    _launch(k.resize_flow, n * h * w,
            (flow, out, i32(n), i32(hs), i32(ws), i32(h), i32(w)) + lv.flow_tables + (plan.flow_mult,))
    return out


def _update_matrices(k: _Kernels, R, flow, M, plan: _Plan) -> None:
    """Per-pixel ``(G11, G12, G22, h1, h2)`` into ``M`` ``(N, h, w, 5)`` (reference.update_matrices)."""
    n, h, w = (int(s) for s in flow.shape[:3])
    _launch(k.update, n * h * w, (R, flow, M, i32(n), i32(h), i32(w), plan.border, plan.nb))


def _window_and_solve(k: _Kernels, M, V5, flow, plan: _Plan) -> None:
    """Window average of ``M`` and the 2x2 solve into ``flow`` (reference.box_blur5/gaussian_blur5 + solve_flow).

    ``V5``: float32 ``(N, h, w, 5)`` scratch for the vertical pass.
    """
    n, h, w = (int(s) for s in flow.shape[:3])
    dims = (i32(n), i32(h), i32(w))
    if plan.window is not None:
        _launch(k.window_cols, n * h * w, (M, V5) + dims + (plan.window, plan.half_window))
        _launch(k.window_rows_solve, n * h * w, (V5, flow) + dims + (plan.window, plan.half_window))
    else:
        _launch(k.window_cols, n * h * w, (M, V5) + dims + (plan.half_window,))
        _launch(k.window_rows_solve, n * h * w, (V5, flow) + dims + (plan.half_window, plan.box_scale))


# --------------------------------------------------------------------------- driver
def _check_frames(cp, prev, nxt):
    prev, nxt = cp.asarray(prev), cp.asarray(nxt)
    if prev.ndim == 2:
        prev, nxt = prev[None], nxt[None]
    if prev.ndim != 3 or prev.shape != nxt.shape:
        raise ValueError(f"expected two (N, H, W) arrays of equal shape, got {prev.shape} and {nxt.shape}")
    if prev.dtype != cp.uint8 or nxt.dtype != cp.uint8:
        raise ValueError(f"frames must be uint8, got {prev.dtype} and {nxt.dtype}")
    return prev, nxt


def farneback_cupy(prev, next, params: FarnebackParams | None = None):  # noqa: A002 - cv2's name
    """Batched dense flow on the GPU, same result as ``cv2.calcOpticalFlowFarneback``.

    .. warning:: NOT YET RUN ON A GPU.  The kernels compile with nvcc (sm_90)
       and run on the CPU under an emulation of CUDA's grid (with
       AddressSanitizer and UBSan), but not on a GPU;
       ``tests/test_farneback_gpu.py`` is the acceptance test.

    ``prev``, ``next``: uint8 CuPy arrays ``(N, H, W)`` (``(H, W)`` is treated
    as ``N = 1``), on the device the work runs on.  Returns a float32 CuPy
    array ``(N, H, W, 2)`` of ``(dx, dy)`` in pixels.  All N pairs go through
    the same launches (one per pass and pyramid level); constants stay on the
    device between calls, so nothing is copied from the host.
    """
    import cupy as cp

    params = FarnebackParams() if params is None else params
    prev, nxt = _check_frames(cp, prev, next)
    n_pairs, H, W = (int(s) for s in prev.shape)
    if n_pairs == 0:
        return cp.zeros((0, H, W, 2), cp.float32)
    with prev.device:       # kernels, scratch and constants on the frames' device
        return _run(cp, prev, nxt, params, _device_plan(int(prev.device.id), H, W, params))


def _run(cp, prev, nxt, params: FarnebackParams, plan: _Plan):
    """The pass sequence of reference.farneback_reference, all pairs at once, on the current device."""
    n_pairs, H, W = (int(s) for s in prev.shape)
    k = _kernels(params.gaussian_window)
    logger.debug("farneback_cupy: N=%d %dx%d, %d pyramid levels", n_pairs, H, W, len(plan.levels))
    frames = cp.ascontiguousarray(cp.concatenate([prev, nxt], axis=0))   # (2N, H, W): prev frames, then next
    rowblur = cp.empty((2 * n_pairs, H, W), cp.float32)
    flow = None
    for lv in plan.levels:
        R = _poly_expansion(cp, k, _blur_and_resize(cp, k, frames, rowblur, lv), plan)
        if flow is None:
            flow = cp.zeros((n_pairs, lv.level.height, lv.level.width, 2), cp.float32)
        else:
            flow = _upscale_flow(cp, k, flow, lv, plan)
        M = cp.empty((n_pairs, lv.level.height, lv.level.width, 5), cp.float32)
        V5 = cp.empty_like(M)
        _update_matrices(k, R, flow, M, plan)
        for it in range(params.iterations):
            _window_and_solve(k, M, V5, flow, plan)
            if it < params.iterations - 1:
                _update_matrices(k, R, flow, M, plan)
    return flow
