"""CuPy driver for the batched Farneback kernels in ``kernels/farneback.cu``.

The kernels follow :mod:`gpuvideo.farneback.reference` pass by pass; this
module only allocates buffers, computes host-side constants with
:mod:`gpuvideo.farneback.params` / :func:`reference.resize_linear_coords`, and
launches.  CuPy is imported lazily inside functions.
"""

from __future__ import annotations

import logging

import numpy as np

from .params import (
    FarnebackParams,
    border_weights,
    gaussian_window_kernel,
    poly_expansion_coeffs,
    pyramid_blur_kernel,
    pyramid_sizes,
)
from .reference import resize_linear_coords

__all__ = ["farneback_cupy", "KERNEL_OPTIONS"]

logger = logging.getLogger(__name__)

#: NVRTC options.  ``--fmad=false`` keeps multiply-adds unfused, like the
#: CPU reference, so results do not drift through FMA rounding.
KERNEL_OPTIONS = ("--std=c++17", "--fmad=false")
_BLOCK = 256
_MAX_GRID = 2 ** 31 - 1


def _launch(kernel, total: int, args) -> None:
    grid = max(1, min((int(total) + _BLOCK - 1) // _BLOCK, _MAX_GRID))
    kernel((grid,), (_BLOCK,), args)


def _tables(cp, src_h: int, src_w: int, dst_h: int, dst_w: int):
    """Device resize tables (x0, x1, ax0, ax1, y0, y1, ay0, ay1)."""
    xs = resize_linear_coords(src_w, dst_w)
    ys = resize_linear_coords(src_h, dst_h)
    return tuple(cp.asarray(a) for a in xs + ys)


def farneback_cupy(prev, next, params: FarnebackParams | None = None):  # noqa: A002
    """Batched dense flow on the GPU, same result as ``cv2.calcOpticalFlowFarneback``.

    .. warning:: NOT YET RUN ON A GPU.  The kernels compile with nvcc (sm_90)
       and mirror the NumPy reference pass by pass, but this function has not
       been executed; ``tests/test_farneback_gpu.py`` is the acceptance test.

    ``prev``, ``next``: uint8 CuPy arrays ``(N, H, W)`` (``(H, W)`` is treated
    as ``N = 1``).  Returns a float32 CuPy array ``(N, H, W, 2)`` of
    ``(dx, dy)`` in pixels.  All N pairs go through the same kernel launches
    (one launch per pass and pyramid level).
    """
    import cupy as cp

    from ..cuda_kernels import load_module

    if params is None:
        params = FarnebackParams()
    prev = cp.asarray(prev)
    next = cp.asarray(next)  # noqa: A001
    if prev.ndim == 2:
        prev, next = prev[None], next[None]  # noqa: A001
    if prev.ndim != 3 or prev.shape != next.shape:
        raise ValueError(f"expected two (N, H, W) arrays of equal shape, got "
                         f"{prev.shape} and {next.shape}")
    if prev.dtype != cp.uint8 or next.dtype != cp.uint8:
        raise ValueError(f"frames must be uint8, got {prev.dtype} and {next.dtype}")
    n_pairs, H, W = (int(s) for s in prev.shape)
    if n_pairs == 0:
        return cp.zeros((0, H, W, 2), cp.float32)

    mod = load_module("farneback", KERNEL_OPTIONS)
    k_rows = mod.get_function("fb_blur_rows_u8")
    k_cols_resize = mod.get_function("fb_blur_cols_resize")
    k_pe_cols = mod.get_function("fb_poly_exp_cols")
    k_pe_rows = mod.get_function("fb_poly_exp_rows")
    k_update = mod.get_function("fb_update_matrices")
    k_resize_flow = mod.get_function("fb_resize_flow")
    if params.gaussian_window:
        k_win_cols = mod.get_function("fb_gauss_cols")
        k_win_rows = mod.get_function("fb_gauss_rows_solve")
    else:
        k_win_cols = mod.get_function("fb_box_cols")
        k_win_rows = mod.get_function("fb_box_rows_solve")

    i32, f32, f64 = np.int32, np.float32, np.float64
    B = 2 * n_pairs
    frames = cp.ascontiguousarray(cp.concatenate([prev, next], axis=0))  # (2N, H, W)
    rowblur = cp.empty((B, H, W), cp.float32)

    coeffs = poly_expansion_coeffs(params.poly_n, params.poly_sigma)
    pn = coeffs.n
    g = cp.asarray(coeffs.g[pn:])
    xg = cp.asarray(coeffs.xg[pn:])
    xxg = cp.asarray(coeffs.xxg[pn:])
    m = params.half_window
    win = cp.asarray(gaussian_window_kernel(params.winsize)) if params.gaussian_window else None
    box_scale = f64(1.0 / (params.winsize * params.winsize))
    mult = f32(1.0 / float(params.pyr_scale))
    bw = cp.asarray(border_weights())
    nb = i32(bw.size)

    levels = pyramid_sizes(H, W, params)
    logger.debug("farneback_cupy: N=%d %dx%d, %d pyramid levels", n_pairs, H, W, len(levels))
    flow = None
    for level in reversed(levels):
        h, w = level.height, level.width
        total_b = B * h * w
        total_n = n_pairs * h * w

        # 1. pyramid level of all 2N frames
        taps = pyramid_blur_kernel(level.scale)
        taps_d = cp.asarray(taps)
        r = i32(taps.size // 2)
        _launch(k_rows, B * H * W, (frames, rowblur, i32(B), i32(H), i32(W), taps_d, r))
        img = cp.empty((B, h, w), cp.float32)
        identity = i32(1 if (h, w) == (H, W) else 0)
        tabs = _tables(cp, H, W, h, w)
        _launch(k_cols_resize, total_b,
                (rowblur, img, i32(B), i32(H), i32(W), i32(h), i32(w), taps_d, r)
                + tabs + (identity,))

        # 2. polynomial expansion -> R (2N, h, w, 5)
        v3 = cp.empty((B, h, w, 3), cp.float32)
        _launch(k_pe_cols, total_b, (img, v3, i32(B), i32(h), i32(w), g, xg, xxg, i32(pn)))
        R = cp.empty((B, h, w, 5), cp.float32)
        _launch(k_pe_rows, total_b,
                (v3, R, i32(B), i32(h), i32(w), g, xg, xxg, i32(pn),
                 f64(coeffs.ig11), f64(coeffs.ig03), f64(coeffs.ig33), f64(coeffs.ig55)))
        del v3, img

        # 3. flow initialisation
        if flow is None:
            new_flow = cp.zeros((n_pairs, h, w, 2), cp.float32)
        else:
            ph, pw = int(flow.shape[1]), int(flow.shape[2])
            new_flow = cp.empty((n_pairs, h, w, 2), cp.float32)
            _launch(k_resize_flow, total_n,
                    (flow, new_flow, i32(n_pairs), i32(ph), i32(pw), i32(h), i32(w))
                    + _tables(cp, ph, pw, h, w) + (mult,))
        flow = new_flow

        # 4./5. matrices, window average + solve, re-linearise
        M = cp.empty((n_pairs, h, w, 5), cp.float32)
        V5 = cp.empty_like(M)
        _launch(k_update, total_n, (R, flow, M, i32(n_pairs), i32(h), i32(w), bw, nb))
        for it in range(params.iterations):
            if params.gaussian_window:
                _launch(k_win_cols, total_n, (M, V5, i32(n_pairs), i32(h), i32(w), win, i32(m)))
                _launch(k_win_rows, total_n, (V5, flow, i32(n_pairs), i32(h), i32(w), win, i32(m)))
            else:
                _launch(k_win_cols, total_n, (M, V5, i32(n_pairs), i32(h), i32(w), i32(m)))
                _launch(k_win_rows, total_n,
                        (V5, flow, i32(n_pairs), i32(h), i32(w), i32(m), box_scale))
            if it < params.iterations - 1:
                _launch(k_update, total_n, (R, flow, M, i32(n_pairs), i32(h), i32(w), bw, nb))
    return flow
