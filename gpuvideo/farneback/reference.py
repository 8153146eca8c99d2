"""NumPy reference implementation of OpenCV's Farneback optical flow.

This module is the *specification* the CUDA kernels in ``kernels/farneback.cu``
follow: each function below is one pass of the GPU pipeline, written with the
same arithmetic (precision, border handling, rounding) as OpenCV's CPU code
path of ``cv2.calcOpticalFlowFarneback``.  It is vectorised NumPy and is meant
for correctness, not speed.

Pipeline per pyramid level ``k`` (coarsest first):

1. ``blur_and_resize``: the float32 *full-resolution* frame is blurred with a
   separable Gaussian (reflect-101 borders) and bilinearly resized to the level
   size (OpenCV does not blur the previous level; it starts from the full frame
   every time).
2. ``poly_expansion``: per-pixel quadratic fit -> ``(h, w, 5)`` coefficients.
3. flow init: zeros at the coarsest level, else ``upscale_flow`` of the
   previous level's flow (bilinear, times ``1/pyr_scale``).
4. ``update_matrices``: per-pixel ``(G11, G12, G22, h1, h2)`` from both
   expansions sampled along the current flow, with border de-weighting.
5. ``iterations`` times: window-average the matrices (``box_blur5`` or
   ``gaussian_blur5``), ``solve_flow`` (2x2 solve with a ``1e-3`` regulariser),
   and (except after the last iteration) ``update_matrices`` again.
"""

from __future__ import annotations

import numpy as np

from .params import (
    UPDATE_REGULARIZER,
    FarnebackParams,
    PolyExpansionCoeffs,
    border_weights,
    gaussian_window_kernel,
    poly_expansion_coeffs,
    pyramid_blur_kernel,
    pyramid_sizes,
    resize_linear_coords,
)

__all__ = [
    "farneback_reference",
    "sep_filter_reflect101",
    "resize_linear",
    "blur_and_resize",
    "poly_expansion",
    "border_scale",
    "update_matrices",
    "box_blur5",
    "gaussian_blur5",
    "solve_flow",
    "upscale_flow",
]

# --------------------------------------------------------------------------
# pyramid construction
# --------------------------------------------------------------------------
def sep_filter_reflect101(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Separable symmetric filter with reflect-101 borders (``cv2.GaussianBlur``).

    ``img``: float32 ``(H, W)``; ``kernel``: float32 ``(K,)``, K odd.  Rows are
    filtered first, then columns, each accumulated in float32.
    """
    img = np.asarray(img, dtype=np.float32)
    kernel = np.asarray(kernel, dtype=np.float32)
    h, w = img.shape
    r = kernel.size // 2
    # np.pad's "reflect" is OpenCV's BORDER_REFLECT_101, also when r >= the side
    padded = np.pad(img, ((0, 0), (r, r)), mode="reflect")
    tmp = np.zeros((h, w), dtype=np.float32)
    for i in range(kernel.size):
        tmp += kernel[i] * padded[:, i:i + w]
    padded = np.pad(tmp, ((r, r), (0, 0)), mode="reflect")
    out = np.zeros((h, w), dtype=np.float32)
    for i in range(kernel.size):
        out += kernel[i] * padded[i:i + h, :]
    return out


def resize_linear(img: np.ndarray, dst_h: int, dst_w: int) -> np.ndarray:
    """``cv2.resize(img, (dst_w, dst_h), interpolation=INTER_LINEAR)`` for float32.

    ``img``: ``(H, W)`` or ``(H, W, C)`` float32.  Horizontal pass then
    vertical pass, float32 arithmetic.  Same size returns a copy.
    """
    img = np.asarray(img, dtype=np.float32)
    h, w = img.shape[:2]
    if (h, w) == (dst_h, dst_w):
        return img.copy()
    x0, x1, ax0, ax1 = resize_linear_coords(w, dst_w)
    y0, y1, ay0, ay1 = resize_linear_coords(h, dst_h)
    extra = (None,) * (img.ndim - 2)
    ax0 = ax0[(None, slice(None)) + extra]
    ax1 = ax1[(None, slice(None)) + extra]
    rows = img[:, x0] * ax0 + img[:, x1] * ax1
    ay0 = ay0[(slice(None), None) + extra]
    ay1 = ay1[(slice(None), None) + extra]
    return (rows[y0] * ay0 + rows[y1] * ay1).astype(np.float32)


def blur_and_resize(frame_f32: np.ndarray, level) -> np.ndarray:
    """Level image: full-resolution float32 frame -> Gaussian blur -> resize.

    ``level`` is a :class:`~gpuvideo.farneback.params.PyramidLevel`.
    """
    blurred = sep_filter_reflect101(frame_f32, pyramid_blur_kernel(level.scale))
    return resize_linear(blurred, level.height, level.width)


# --------------------------------------------------------------------------
# polynomial expansion
# --------------------------------------------------------------------------
def _clamped_rows(a: np.ndarray, offset: int) -> np.ndarray:
    h = a.shape[0]
    idx = np.clip(np.arange(h) + offset, 0, h - 1)
    return a[idx]


def poly_expansion(img: np.ndarray, coeffs: PolyExpansionCoeffs) -> np.ndarray:
    """Quadratic polynomial expansion of a float32 ``(H, W)`` image.

    Returns float32 ``(H, W, 5)`` = ``(r_y, r_x, r_yy, r_xx, r_xy)`` (OpenCV's
    layout).  Vertical correlation in float32 with clamped rows, horizontal in
    float64 with replicated columns, then scaled by the ``ig*`` constants.
    """
    img = np.asarray(img, dtype=np.float32)
    n = coeffs.n
    g, xg, xxg = coeffs.g[n:], coeffs.xg[n:], coeffs.xxg[n:]
    h, w = img.shape
    # vertical pass: (sum g*I, sum y*g*I, sum y^2*g*I)
    v0 = img * g[0]
    v1 = np.zeros_like(img)
    v2 = np.zeros_like(img)
    for k in range(1, n + 1):
        up = _clamped_rows(img, -k)
        dn = _clamped_rows(img, k)
        p = up + dn
        v0 = v0 + g[k] * p
        v1 = v1 + xg[k] * (dn - up)
        v2 = v2 + xxg[k] * p
    # horizontal pass in float64 with replicated borders
    cols = np.clip(np.arange(-n, w + n), 0, w - 1)
    v0p, v1p, v2p = v0[:, cols], v1[:, cols], v2[:, cols]
    c = slice(n, n + w)
    b1 = v0p[:, c].astype(np.float64) * float(g[0])
    b2 = np.zeros((h, w), np.float64)
    b3 = v1p[:, c].astype(np.float64) * float(g[0])
    b4 = np.zeros((h, w), np.float64)
    b5 = v2p[:, c].astype(np.float64) * float(g[0])
    b6 = np.zeros((h, w), np.float64)
    for k in range(1, n + 1):
        r = slice(n + k, n + k + w)
        lft = slice(n - k, n - k + w)
        tg = (v0p[:, r] + v0p[:, lft]).astype(np.float64)
        b1 += tg * float(g[k])
        b4 += tg * float(xxg[k])
        b2 += (v0p[:, r] - v0p[:, lft]).astype(np.float64) * float(xg[k])
        b3 += (v1p[:, r] + v1p[:, lft]).astype(np.float64) * float(g[k])
        b6 += (v1p[:, r] - v1p[:, lft]).astype(np.float64) * float(xg[k])
        b5 += (v2p[:, r] + v2p[:, lft]).astype(np.float64) * float(g[k])
    out = np.empty((h, w, 5), np.float32)
    out[..., 0] = b3 * coeffs.ig11
    out[..., 1] = b2 * coeffs.ig11
    out[..., 2] = b1 * coeffs.ig03 + b5 * coeffs.ig33
    out[..., 3] = b1 * coeffs.ig03 + b4 * coeffs.ig33
    out[..., 4] = b6 * coeffs.ig55
    return out


# --------------------------------------------------------------------------
# flow iterations
# --------------------------------------------------------------------------
def border_scale(h: int, w: int) -> np.ndarray:
    """float32 ``(H, W)`` factor applied to every pixel's coefficients in :func:`update_matrices`.

    OpenCV de-weights a pixel when ``x`` or ``y`` passes its test
    ``(unsigned)(i - nb) >= (unsigned)(n - 2*nb)`` (``nb = 5`` weights from
    :func:`~gpuvideo.farneback.params.border_weights`): for a side of 10 px or
    more that means "within 5 px of an edge", but for a side under 10 px only
    the pixels with ``n - 5 <= i < 5`` pass, and the others are left as they
    are (unless the other axis passes). A pixel that passes gets
    ``((w_left * w_right) * w_top) * w_bottom``, each factor the weight of its
    distance to that edge, or 1 beyond ``nb`` (float32, OpenCV's order).
    """
    bw = border_weights()
    nb = bw.size
    one = np.float32(1.0)

    def sides(n: int):
        i = np.arange(n)
        low = np.where(i < nb, bw[np.minimum(i, nb - 1)], one).astype(np.float32)
        high = np.where(i >= n - nb, bw[np.clip(n - 1 - i, 0, nb - 1)], one).astype(np.float32)
        passes = ((i - nb) % 2 ** 32) >= ((n - 2 * nb) % 2 ** 32)       # OpenCV's unsigned comparison
        return low, high, passes

    xl, xr, xp = sides(w)
    yt, yb, yp = sides(h)
    scale = ((xl * xr)[None, :] * yt[:, None]) * yb[:, None]
    return np.where(xp[None, :] | yp[:, None], scale, one).astype(np.float32)


def update_matrices(R0: np.ndarray, R1: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Per-pixel normal equations ``(G11, G12, G22, h1, h2)`` float32 ``(H, W, 5)``.

    ``R1`` is sampled bilinearly at ``(x + dx, y + dy)``; where the 2x2
    neighbourhood is not fully inside the image the ``R1`` term is dropped
    (OpenCV's rule).  Pixels near an edge are de-weighted by
    :func:`border_scale` (OpenCV's test, which is not "within 5 px" on sides
    under 10 px).
    """
    h, w = flow.shape[:2]
    f32 = np.float32
    dx = flow[..., 0].astype(f32)
    dy = flow[..., 1].astype(f32)
    fx = np.arange(w, dtype=f32)[None, :] + dx
    fy = np.arange(h, dtype=f32)[:, None] + dy
    x1 = np.floor(fx)
    y1 = np.floor(fy)
    fx = (fx - x1).astype(f32)
    fy = (fy - y1).astype(f32)
    inside = (x1 >= 0) & (x1 < w - 1) & (y1 >= 0) & (y1 < h - 1)
    xi = np.where(inside, x1, 0).astype(np.int64)
    yi = np.where(inside, y1, 0).astype(np.int64)
    one = f32(1.0)
    a00 = (one - fx) * (one - fy)
    a01 = fx * (one - fy)
    a10 = (one - fx) * fy
    a11 = fx * fy
    p00 = R1[yi, xi]
    p01 = R1[yi, np.minimum(xi + 1, w - 1)]
    p10 = R1[np.minimum(yi + 1, h - 1), xi]
    p11 = R1[np.minimum(yi + 1, h - 1), np.minimum(xi + 1, w - 1)]
    s = (a00[..., None] * p00 + a01[..., None] * p01
         + a10[..., None] * p10 + a11[..., None] * p11).astype(f32)
    half, quarter = f32(0.5), f32(0.25)
    r2 = np.where(inside, s[..., 0], f32(0))
    r3 = np.where(inside, s[..., 1], f32(0))
    r4 = np.where(inside, (R0[..., 2] + s[..., 2]) * half, R0[..., 2])
    r5 = np.where(inside, (R0[..., 3] + s[..., 3]) * half, R0[..., 3])
    r6 = np.where(inside, (R0[..., 4] + s[..., 4]) * quarter, R0[..., 4] * half)
    r2 = (R0[..., 0] - r2) * half
    r3 = (R0[..., 1] - r3) * half
    r2 = r2 + r4 * dy + r6 * dx
    r3 = r3 + r6 * dy + r5 * dx
    sc = border_scale(h, w)
    r2, r3, r4, r5, r6 = (r * sc for r in (r2, r3, r4, r5, r6))
    M = np.empty((h, w, 5), f32)
    M[..., 0] = r4 * r4 + r6 * r6
    M[..., 1] = (r4 + r5) * r6
    M[..., 2] = r5 * r5 + r6 * r6
    M[..., 3] = r4 * r2 + r6 * r3
    M[..., 4] = r6 * r2 + r5 * r3
    return M


def box_blur5(M: np.ndarray, winsize: int) -> np.ndarray:
    """Window sums of ``M`` ``(H, W, 5)``: float64, replicated borders.

    Window ``2*m + 1`` with ``m = winsize // 2``, normalised by
    ``1 / winsize**2`` (OpenCV's exact weighting, also for even winsize).
    """
    m = int(winsize) // 2
    h, w = M.shape[:2]
    a = M.astype(np.float64)
    rows = np.clip(np.arange(-m - 1, h + m), 0, h - 1)
    c = np.cumsum(a[rows], axis=0)
    v = c[2 * m + 1:] - c[:h]
    cols = np.clip(np.arange(-m - 1, w + m), 0, w - 1)
    c = np.cumsum(v[:, cols], axis=1)
    out = c[:, 2 * m + 1:] - c[:, :w]
    return out * (1.0 / (int(winsize) * int(winsize)))


def gaussian_blur5(M: np.ndarray, winsize: int) -> np.ndarray:
    """Gaussian-window average of ``M`` ``(H, W, 5)`` (flag 256): float32.

    Vertical then horizontal correlation with
    :func:`~gpuvideo.farneback.params.gaussian_window_kernel`, replicated
    borders, float32 accumulation.
    """
    k = gaussian_window_kernel(winsize)
    m = k.size // 2
    h, w = M.shape[:2]
    a = M.astype(np.float32)
    v = a * k[m]
    for i in range(1, m + 1):
        v = v + (_clamped_rows(a, i) + _clamped_rows(a, -i)) * k[m + i]
    cols = np.clip(np.arange(-m, w + m), 0, w - 1)
    vp = v[:, cols]
    out = vp[:, m:m + w] * k[m]
    for i in range(1, m + 1):
        out = out + k[m + i] * (vp[:, m - i:m - i + w] + vp[:, m + i:m + i + w])
    return out.astype(np.float32)


def solve_flow(S: np.ndarray) -> np.ndarray:
    """Solve the averaged 2x2 systems; ``S`` ``(H, W, 5)`` -> flow float32 ``(H, W, 2)``.

    ``dx = (g11*h2 - g12*h1) / det``, ``dy = (g22*h1 - g12*h2) / det`` with
    ``det = g11*g22 - g12^2 + 1e-3``, evaluated in float64.
    """
    s = S.astype(np.float64)
    g11, g12, g22, h1, h2 = (s[..., i] for i in range(5))
    idet = 1.0 / (g11 * g22 - g12 * g12 + UPDATE_REGULARIZER)
    flow = np.empty(S.shape[:2] + (2,), np.float32)
    flow[..., 0] = (g11 * h2 - g12 * h1) * idet
    flow[..., 1] = (g22 * h1 - g12 * h2) * idet
    return flow


def upscale_flow(flow: np.ndarray, dst_h: int, dst_w: int, pyr_scale: float) -> np.ndarray:
    """Coarse-to-fine flow transfer: bilinear resize, then ``* (1/pyr_scale)`` (float32)."""
    up = resize_linear(flow, dst_h, dst_w)
    return (up * np.float32(1.0 / float(pyr_scale))).astype(np.float32)


# --------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------
def _check_frame(name: str, a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D grey frame (H, W), got shape {a.shape}")
    if a.dtype != np.uint8:
        raise ValueError(f"{name} must be uint8, got {a.dtype}")
    return a


def farneback_reference(prev: np.ndarray, next: np.ndarray,  # noqa: A002 - cv2 naming
                        params: FarnebackParams | None = None) -> np.ndarray:
    """Dense flow from ``prev`` to ``next`` following OpenCV step by step.

    ``prev``, ``next``: uint8 ``(H, W)``.  Returns float32 ``(H, W, 2)``
    ``(dx, dy)`` in pixels, matching
    ``cv2.calcOpticalFlowFarneback(prev, next, None, *params.as_cv2_args())``.
    """
    if params is None:
        params = FarnebackParams()
    prev = _check_frame("prev", prev)
    next = _check_frame("next", next)  # noqa: A001
    if prev.shape != next.shape:
        raise ValueError(f"prev and next shapes differ: {prev.shape} vs {next.shape}")
    h, w = prev.shape
    levels = pyramid_sizes(h, w, params)
    coeffs = poly_expansion_coeffs(params.poly_n, params.poly_sigma)
    frames = (prev.astype(np.float32), next.astype(np.float32))
    flow = None
    for level in reversed(levels):
        R0, R1 = (poly_expansion(blur_and_resize(f, level), coeffs) for f in frames)
        if flow is None:
            flow = np.zeros((level.height, level.width, 2), np.float32)
        else:
            flow = upscale_flow(flow, level.height, level.width, params.pyr_scale)
        M = update_matrices(R0, R1, flow)
        for it in range(params.iterations):
            if params.gaussian_window:
                S = gaussian_blur5(M, params.winsize)
            else:
                S = box_blur5(M, params.winsize)
            flow = solve_flow(S)
            if it < params.iterations - 1:
                M = update_matrices(R0, R1, flow)
    return flow
