"""Host-side Farneback constants: validation and agreement with OpenCV."""

import math

import cv2
import numpy as np
import pytest

from gpuvideo.farneback import FarnebackParams, pyramid_sizes
from gpuvideo.farneback.params import (
    OPTFLOW_FARNEBACK_GAUSSIAN,
    OPTFLOW_USE_INITIAL_FLOW,
    border_weights,
    gaussian_blur_ksize,
    gaussian_blur_sigma,
    gaussian_kernel_1d,
    gaussian_window_kernel,
    poly_expansion_coeffs,
    pyramid_blur_kernel,
)


def test_defaults_match_cv2_call():
    p = FarnebackParams()
    assert p.as_cv2_args() == (0.5, 3, 15, 3, 5, 1.1, 0)
    assert OPTFLOW_USE_INITIAL_FLOW == cv2.OPTFLOW_USE_INITIAL_FLOW
    assert OPTFLOW_FARNEBACK_GAUSSIAN == cv2.OPTFLOW_FARNEBACK_GAUSSIAN
    with pytest.raises(Exception):
        p.levels = 4  # frozen


@pytest.mark.parametrize("kwargs, match", [
    (dict(poly_n=6), "poly_n"),
    (dict(poly_n=3), "poly_n"),
    (dict(pyr_scale=1.0), "pyr_scale"),
    (dict(pyr_scale=0.0), "pyr_scale"),
    (dict(pyr_scale=-0.5), "pyr_scale"),
    (dict(pyr_scale=float("nan")), "pyr_scale"),
    (dict(winsize=1), "winsize"),
    (dict(winsize=2), "winsize"),
    (dict(winsize=7.0), "winsize"),
    (dict(levels=-1), "levels"),
    (dict(iterations=0), "iterations"),
    (dict(poly_sigma=-1.0), "poly_sigma"),
    (dict(flags=OPTFLOW_USE_INITIAL_FLOW), "OPTFLOW_USE_INITIAL_FLOW"),
    (dict(flags=OPTFLOW_USE_INITIAL_FLOW | OPTFLOW_FARNEBACK_GAUSSIAN), "not supported"),
    (dict(flags=1), "flags"),
])
def test_invalid_params(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FarnebackParams(**kwargs)


def test_valid_params():
    FarnebackParams(poly_n=7, poly_sigma=1.5, flags=OPTFLOW_FARNEBACK_GAUSSIAN, winsize=4)
    assert FarnebackParams(winsize=15).half_window == 7
    assert FarnebackParams(flags=256).gaussian_window
    assert not FarnebackParams().gaussian_window


def test_pyramid_sizes_default_1080p():
    lv = pyramid_sizes(1080, 1920, FarnebackParams())
    assert [(l.height, l.width) for l in lv] == [(1080, 1920), (540, 960), (270, 480), (135, 240)]
    assert [l.scale for l in lv] == [1.0, 0.5, 0.25, 0.125]
    assert [l.blur_ksize for l in lv] == [3, 3, 9, 19]
    assert [l.blur_sigma for l in lv] == [0.0, 0.5, 1.5, 3.5]


@pytest.mark.parametrize("h, w, levels, expected", [
    (64, 64, 5, 1),      # 32 is still allowed
    (63, 200, 5, 0),     # 31.5 < 32 stops before the first level
    (200, 63, 5, 0),
    (128, 128, 5, 2),
    (1080, 1920, 10, 5),
    (1080, 1920, 0, 0),
])
def test_pyramid_level_count(h, w, levels, expected):
    lv = pyramid_sizes(h, w, FarnebackParams(levels=levels))
    assert len(lv) == expected + 1
    assert min(lv[-1].height, lv[-1].width) >= 32 or expected == 0


def test_pyramid_sizes_rounding_half_even():
    # cvRound(37 * 0.5) = cvRound(18.5) = 18 (banker's rounding), 75*0.5 -> 38
    lv = pyramid_sizes(75, 150, FarnebackParams(levels=1))
    assert (lv[1].height, lv[1].width) == (38, 75)
    lv = pyramid_sizes(74, 130, FarnebackParams(levels=1))
    assert (lv[1].height, lv[1].width) == (37, 65)
    lv = pyramid_sizes(90, 120, FarnebackParams(pyr_scale=0.8, levels=6))
    assert [(l.height, l.width) for l in lv] == [(90, 120), (72, 96), (58, 77), (46, 61), (37, 49)]


def test_blur_sigma_and_kernels_match_cv2():
    for scale in [1.0, 0.5, 0.25, 0.125, 0.8, 0.64]:
        sigma = gaussian_blur_sigma(scale)
        assert sigma == pytest.approx((1 / scale - 1) * 0.5)
        ksize = gaussian_blur_ksize(scale)
        assert ksize % 2 == 1 and ksize >= 3
        ours = pyramid_blur_kernel(scale)
        ref = cv2.getGaussianKernel(ksize, sigma, cv2.CV_32F).ravel()
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-7)
    for ksize in (1, 3, 5, 7, 9, 11, 15):      # 15: the motion masks' blur
        np.testing.assert_allclose(gaussian_kernel_1d(ksize, 0),
                                   cv2.getGaussianKernel(ksize, 0, cv2.CV_32F).ravel(), atol=1e-7)
    k = gaussian_kernel_1d(19, 3.5)
    assert k.dtype == np.float32 and k.shape == (19,) and k.flags.c_contiguous
    with pytest.raises(ValueError, match="ksize"):
        gaussian_kernel_1d(4, 1.0)


@pytest.mark.parametrize("n, sigma", [(5, 1.1), (7, 1.5), (5, 0.0)])
def test_poly_expansion_coeffs(n, sigma):
    c = poly_expansion_coeffs(n, sigma)
    assert c.g.dtype == np.float32 and c.g.shape == (2 * n + 1,)
    assert math.isclose(float(c.g.sum(dtype=np.float64)), 1.0, rel_tol=1e-6)
    x = np.arange(-n, n + 1)
    np.testing.assert_allclose(c.xg, x * c.g, rtol=1e-6)
    np.testing.assert_allclose(c.xxg, x * x * c.g, rtol=1e-6)
    np.testing.assert_array_equal(c.g, c.g[::-1])
    # Independent check: weighted least-squares fit of the 6-term quadratic
    # basis; the ig constants are entries of (B^T W B)^-1.
    yy, xx = np.meshgrid(x, x, indexing="ij")
    basis = np.stack([np.ones_like(xx), xx, yy, xx * xx, yy * yy, xx * yy], -1).reshape(-1, 6)
    wts = np.outer(c.g, c.g).astype(np.float64).ravel()
    inv = np.linalg.inv(basis.T.astype(np.float64) @ (basis * wts[:, None]))
    assert c.ig11 == pytest.approx(inv[1, 1], rel=1e-6)
    assert c.ig03 == pytest.approx(inv[0, 3], rel=1e-6)
    assert c.ig33 == pytest.approx(inv[3, 3], rel=1e-6)
    assert c.ig55 == pytest.approx(inv[5, 5], rel=1e-6)
    assert c.ig03 < 0 < c.ig11


def test_poly_sigma_zero_falls_back_to_0_3n():
    a = poly_expansion_coeffs(7, 0.0)
    b = poly_expansion_coeffs(7, 2.1)
    np.testing.assert_array_equal(a.g, b.g)


def test_border_weights():
    bw = border_weights()
    assert bw.dtype == np.float32 and bw.shape == (5,)
    np.testing.assert_array_equal(bw, np.float32([0.14, 0.14, 0.4472, 0.4472, 0.4472]))


@pytest.mark.parametrize("winsize", [3, 10, 15, 21])
def test_gaussian_window_kernel(winsize):
    k = gaussian_window_kernel(winsize)
    m = winsize // 2
    assert k.dtype == np.float32 and k.shape == (2 * m + 1,)
    assert math.isclose(float(k.sum(dtype=np.float64)), 1.0, rel_tol=1e-6)
    np.testing.assert_array_equal(k, k[::-1])
    ref = cv2.getGaussianKernel(2 * m + 1, 0.3 * m, cv2.CV_64F).ravel()
    np.testing.assert_allclose(k, ref, rtol=1e-6)
