"""Parameters and host-side constants for Farneback dense optical flow.

Everything here is host-side Python / NumPy (with ``cv2.getGaussianKernel``
for the pyramid taps) and mirrors the way OpenCV's CPU implementation of
``cv::calcOpticalFlowFarneback`` derives its constants, so that both the
NumPy reference (:mod:`gpuvideo.farneback.reference`) and the CUDA kernels
(``kernels/farneback.cu``) are fed exactly the same numbers.

Conventions used throughout the package:

* images are ``(H, W)`` (or batched ``(N, H, W)``), row-major;
* polynomial-expansion planes are ``(H, W, 5)`` float32 in OpenCV's channel
  order ``(r_y, r_x, r_yy, r_xx, r_xy)``;
* flow is ``(H, W, 2)`` float32 ``(dx, dy)`` in pixels of the level it lives on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

__all__ = [
    "OPTFLOW_USE_INITIAL_FLOW",
    "OPTFLOW_FARNEBACK_GAUSSIAN",
    "MIN_PYRAMID_SIZE",
    "UPDATE_REGULARIZER",
    "FarnebackParams",
    "PyramidLevel",
    "PolyExpansionCoeffs",
    "pyramid_sizes",
    "poly_expansion_coeffs",
    "gaussian_blur_sigma",
    "gaussian_blur_ksize",
    "gaussian_kernel_1d",
    "pyramid_blur_kernel",
    "border_weights",
    "gaussian_window_kernel",
    "cv_round",
    "resize_linear_coords",
]

#: ``cv2.OPTFLOW_USE_INITIAL_FLOW`` - not supported by this package.
OPTFLOW_USE_INITIAL_FLOW = 4
#: ``cv2.OPTFLOW_FARNEBACK_GAUSSIAN`` - Gaussian instead of box window.
OPTFLOW_FARNEBACK_GAUSSIAN = 256
#: OpenCV stops adding pyramid levels once a side would drop below this.
MIN_PYRAMID_SIZE = 32
#: Added to the 2x2 determinant in the per-pixel solve (OpenCV constant).
UPDATE_REGULARIZER = 1e-3

_FLT_EPSILON = float(np.finfo(np.float32).eps)
_SUPPORTED_FLAGS = (0, OPTFLOW_FARNEBACK_GAUSSIAN)


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


@dataclass(frozen=True)
class FarnebackParams:
    """Arguments of ``cv2.calcOpticalFlowFarneback`` (same names and defaults).

    * ``pyr_scale``: image scale between pyramid levels, ``0 < pyr_scale < 1``.
    * ``levels``: number of pyramid levels *above* the full-resolution one
      (``0`` = no pyramid); fewer are used for small images, see
      :func:`pyramid_sizes`.
    * ``winsize``: averaging window side in pixels, ``>= 3``.  OpenCV uses a
      window of ``2 * (winsize // 2) + 1`` pixels, so an even ``winsize``
      behaves like ``winsize + 1`` (box weights stay ``1 / winsize**2``).
    * ``iterations``: solver iterations per level, ``>= 1``.
    * ``poly_n``: polynomial-expansion neighbourhood, 5 or 7 (the only sizes
      OpenCV's GPU/OpenCL paths accept).
    * ``poly_sigma``: Gaussian sigma of the expansion; ``< FLT_EPSILON`` means
      ``0.3 * poly_n`` as in OpenCV.
    * ``flags``: ``0`` or ``OPTFLOW_FARNEBACK_GAUSSIAN`` (256).
      ``OPTFLOW_USE_INITIAL_FLOW`` (4) is rejected.
    """

    pyr_scale: float = 0.5
    levels: int = 3
    winsize: int = 15
    iterations: int = 3
    poly_n: int = 5
    poly_sigma: float = 1.1
    flags: int = 0

    def __post_init__(self) -> None:
        ps = self.pyr_scale
        if isinstance(ps, bool) or not isinstance(ps, (int, float, np.floating, np.integer)):
            raise ValueError(f"pyr_scale must be a number, got {ps!r}")
        if not (math.isfinite(float(ps)) and 0.0 < float(ps) < 1.0):
            raise ValueError(f"pyr_scale must satisfy 0 < pyr_scale < 1, got {ps!r}")
        if not _is_int(self.levels) or self.levels < 0:
            raise ValueError(f"levels must be an integer >= 0, got {self.levels!r}")
        if not _is_int(self.winsize) or self.winsize < 3:
            raise ValueError(f"winsize must be an integer >= 3, got {self.winsize!r}")
        if not _is_int(self.iterations) or self.iterations < 1:
            raise ValueError(f"iterations must be an integer >= 1, got {self.iterations!r}")
        if not _is_int(self.poly_n) or self.poly_n not in (5, 7):
            raise ValueError(f"poly_n must be 5 or 7, got {self.poly_n!r}")
        sig = self.poly_sigma
        if isinstance(sig, bool) or not isinstance(sig, (int, float, np.floating, np.integer)):
            raise ValueError(f"poly_sigma must be a number, got {sig!r}")
        if not math.isfinite(float(sig)) or float(sig) < 0.0:
            raise ValueError(f"poly_sigma must be finite and >= 0, got {sig!r}")
        if not _is_int(self.flags):
            raise ValueError(f"flags must be an integer, got {self.flags!r}")
        if self.flags & OPTFLOW_USE_INITIAL_FLOW:
            raise ValueError("flags: OPTFLOW_USE_INITIAL_FLOW (4) is not supported")
        if self.flags not in _SUPPORTED_FLAGS:
            raise ValueError(
                f"flags must be 0 or OPTFLOW_FARNEBACK_GAUSSIAN (256), got {self.flags!r}"
            )

    @property
    def gaussian_window(self) -> bool:
        """True when the flag-256 Gaussian window replaces the box window."""
        return bool(self.flags & OPTFLOW_FARNEBACK_GAUSSIAN)

    @property
    def half_window(self) -> int:
        """``m = winsize // 2``; the window covers ``2*m + 1`` pixels."""
        return self.winsize // 2

    def as_cv2_args(self) -> tuple:
        """Positional args after ``(prev, next, flow)`` for ``cv2.calcOpticalFlowFarneback``."""
        return (float(self.pyr_scale), int(self.levels), int(self.winsize),
                int(self.iterations), int(self.poly_n), float(self.poly_sigma),
                int(self.flags))


class PyramidLevel(NamedTuple):
    """One pyramid level as OpenCV builds it.

    ``index`` 0 is full resolution.  ``scale`` is ``pyr_scale**index``
    (computed by repeated multiplication, like OpenCV), ``height``/``width``
    are ``round(H*scale)``/``round(W*scale)``, and the level image is the
    full-resolution frame blurred with a ``blur_ksize`` Gaussian of
    ``blur_sigma`` (0 = OpenCV's fixed 3-tap ``[1, 2, 1] / 4``) and then
    bilinearly resized to ``(height, width)``.
    """

    index: int
    height: int
    width: int
    scale: float
    blur_sigma: float
    blur_ksize: int


class PolyExpansionCoeffs(NamedTuple):
    """Polynomial-expansion constants (``FarnebackPrepareGaussian``).

    ``g``, ``xg``, ``xxg``: float32 arrays of length ``2*n + 1`` indexed by
    offset ``-n..n`` (``g`` is the normalised Gaussian, ``xg = x*g``,
    ``xxg = x*x*g``).  ``ig11, ig03, ig33, ig55``: float64 entries of the
    inverse 6x6 normal matrix used to turn filter responses into
    coefficients.
    """

    n: int
    g: np.ndarray
    xg: np.ndarray
    xxg: np.ndarray
    ig11: float
    ig03: float
    ig33: float
    ig55: float


def cv_round(value: float) -> int:
    """``cvRound``: round half to even (what ``lrint`` does by default)."""
    return int(round(float(value)))


def _level_scale(pyr_scale: float, k: int) -> float:
    scale = 1.0
    for _ in range(k):
        scale *= float(pyr_scale)
    return scale


def gaussian_blur_sigma(scale: float) -> float:
    """Sigma (full-resolution pixels) of the blur applied before resizing to ``scale``.

    OpenCV: ``sigma = (1/scale - 1) * 0.5``; 0 at full resolution.
    """
    return (1.0 / float(scale) - 1.0) * 0.5


def gaussian_blur_ksize(scale: float) -> int:
    """Odd kernel size of that blur: ``max(cvRound(5*sigma) | 1, 3)``."""
    return max(cv_round(gaussian_blur_sigma(scale) * 5.0) | 1, 3)


def gaussian_kernel_1d(ksize: int, sigma: float) -> np.ndarray:
    """``cv2.getGaussianKernel(ksize, sigma, CV_32F)`` as float32 ``(ksize,)`` host taps.

    ``sigma <= 0`` means OpenCV's default for ``ksize``. The CUDA path gets its
    taps from here too (computed on the host, copied to the device once).
    """
    import cv2

    ksize = int(ksize)
    if ksize < 1 or ksize % 2 == 0:
        raise ValueError(f"ksize must be odd and >= 1, got {ksize}")
    return np.ascontiguousarray(cv2.getGaussianKernel(ksize, float(sigma), cv2.CV_32F).ravel(), np.float32)


def pyramid_blur_kernel(scale: float) -> np.ndarray:
    """The 1-D float32 taps (length ``gaussian_blur_ksize(scale)``) of the pre-resize blur."""
    return gaussian_kernel_1d(gaussian_blur_ksize(scale), gaussian_blur_sigma(scale))


def pyramid_sizes(height: int, width: int, params: FarnebackParams) -> list[PyramidLevel]:
    """Pyramid levels OpenCV actually uses for an ``height x width`` frame.

    Returns a list ordered from full resolution (``index`` 0) to the coarsest
    level; processing runs over it in reverse.  ``len(result) - 1`` is the
    number of levels used: OpenCV counts levels while
    ``min(H, W) * pyr_scale**k >= 32`` (strictly: it stops at the first ``k``
    whose scaled width *or* height is below 32), capped at ``params.levels``.
    """
    height, width = int(height), int(width)
    if height < 1 or width < 1:
        raise ValueError(f"frame size must be positive, got {height}x{width}")
    used = 0
    scale = 1.0
    while used < params.levels:
        scale *= float(params.pyr_scale)
        if width * scale < MIN_PYRAMID_SIZE or height * scale < MIN_PYRAMID_SIZE:
            break
        used += 1
    out = []
    for k in range(used + 1):
        s = _level_scale(params.pyr_scale, k)
        out.append(PyramidLevel(
            index=k,
            height=cv_round(height * s),
            width=cv_round(width * s),
            scale=s,
            blur_sigma=gaussian_blur_sigma(s),
            blur_ksize=gaussian_blur_ksize(s),
        ))
    return out


def poly_expansion_coeffs(poly_n: int, poly_sigma: float) -> PolyExpansionCoeffs:
    """Gaussian weights and inverse-matrix constants of the polynomial expansion.

    Same arithmetic as OpenCV: taps evaluated in float32, normalised by a
    float64 sum, ``xg``/``xxg`` rounded to float32, then the 6x6 matrix ``G``
    of the weighted least-squares fit (basis ``1, x, y, x^2, y^2, xy``) is
    built in float64 and inverted.
    """
    n = int(poly_n)
    sigma = float(poly_sigma)
    if sigma < _FLT_EPSILON:
        sigma = n * 0.3
    x = np.arange(-n, n + 1)
    g = np.exp(-(x * x).astype(np.float64) / (2.0 * sigma * sigma)).astype(np.float32)
    s = 1.0 / float(np.sum(g.astype(np.float64)))
    g = (g.astype(np.float64) * s).astype(np.float32)
    xg = (x.astype(np.float32) * g).astype(np.float32)
    xxg = ((x * x).astype(np.float32) * g).astype(np.float32)

    # Products in float32 (as OpenCV's float expressions), sums in float64.
    gy, gx = np.meshgrid(g, g, indexing="ij")
    xx = np.meshgrid(x, x, indexing="ij")[1].astype(np.float32)
    yy = np.meshgrid(x, x, indexing="ij")[0].astype(np.float32)
    w = (gy * gx).astype(np.float32)
    wxx = (w * xx * xx).astype(np.float32)
    G = np.zeros((6, 6), dtype=np.float64)
    G[0, 0] = w.astype(np.float64).sum()
    G[1, 1] = wxx.astype(np.float64).sum()
    G[3, 3] = (wxx * xx * xx).astype(np.float64).sum()
    G[5, 5] = (wxx * yy * yy).astype(np.float64).sum()
    G[2, 2] = G[0, 3] = G[0, 4] = G[3, 0] = G[4, 0] = G[1, 1]
    G[4, 4] = G[3, 3]
    G[3, 4] = G[4, 3] = G[5, 5]
    inv = np.linalg.inv(G)
    return PolyExpansionCoeffs(
        n=n, g=g, xg=xg, xxg=xxg,
        ig11=float(inv[1, 1]), ig03=float(inv[0, 3]),
        ig33=float(inv[3, 3]), ig55=float(inv[5, 5]),
    )


def border_weights() -> np.ndarray:
    """float32 ``(5,)`` weights for the 5 pixels nearest each image edge.

    In the update-matrices step every coefficient of a pixel at distance
    ``d < 5`` from an edge is multiplied by ``border[d]`` (a product over
    the x and y edges), de-weighting unreliable border expansions.
    """
    return np.asarray([0.14, 0.14, 0.4472, 0.4472, 0.4472], dtype=np.float32)


def gaussian_window_kernel(winsize: int) -> np.ndarray:
    """float32 ``(2*m + 1,)`` Gaussian window, ``m = winsize // 2``, flag-256 path.

    ``sigma = 0.3 * m``; taps ``exp(-i^2 / (2 sigma^2))`` rounded to float32,
    normalised by their float64 sum (OpenCV's CPU implementation).
    """
    m = int(winsize) // 2
    sigma = m * 0.3
    half = np.empty(m + 1, dtype=np.float32)
    half[0] = 1.0
    s = 1.0
    for i in range(1, m + 1):
        t = np.float32(math.exp(-i * i / (2.0 * sigma * sigma)))
        half[i] = t
        s += float(t) * 2.0
    s = 1.0 / s
    half = (half.astype(np.float64) * s).astype(np.float32)
    return np.concatenate([half[:0:-1], half]).astype(np.float32)


def resize_linear_coords(src_size: int, dst_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-output-index source taps of OpenCV's bilinear resize along one axis.

    Returns ``(i0, i1, w0, w1)``: int32 indices of the two source samples
    (already clamped to ``[0, src_size-1]``) and their float32 weights.
    Coordinates are half-pixel centred,
    ``f = float32((d + 0.5) * src/dst - 0.5)``; weights ``1 - frac, frac``.
    Outside the source the sample is clamped (weight ``1, 0``).
    """
    scale = 1.0 / (float(dst_size) / float(src_size))
    d = np.arange(dst_size, dtype=np.float64)
    f = ((d + 0.5) * scale - 0.5).astype(np.float32)
    i0 = np.floor(f).astype(np.int64)
    frac = (f - i0.astype(np.float32)).astype(np.float32)
    low = i0 < 0
    frac[low] = 0.0
    i0[low] = 0
    high = i0 >= src_size - 1
    frac[high] = 0.0
    i0[high] = src_size - 1
    i1 = np.minimum(i0 + 1, src_size - 1)
    w0 = (np.float32(1.0) - frac).astype(np.float32)
    return i0.astype(np.int32), i1.astype(np.int32), w0, frac
