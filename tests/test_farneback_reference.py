"""NumPy Farneback reference vs cv2.calcOpticalFlowFarneback (CPU)."""

import cv2
import numpy as np
import pytest

from gpuvideo.farneback import FarnebackParams, farneback_reference, pyramid_sizes
from gpuvideo.farneback import reference as ref
from gpuvideo.farneback.params import pyramid_blur_kernel

MEAN_GATE = 0.01   # px, mean end-point error vs cv2
P99_GATE = 0.05    # px, 99th percentile
TIGHT_MEAN = 1e-4  # px, regression gate: the reference is measured at ~1e-6

CONFIGS = {
    "default": FarnebackParams(),
    "poly7": FarnebackParams(poly_n=7, poly_sigma=1.5),
    "gauss256": FarnebackParams(flags=256),
    "poly7_gauss256": FarnebackParams(poly_n=7, poly_sigma=1.5, flags=256),
}


@pytest.fixture
def rng():
    seed = np.random.SeedSequence().entropy  # fresh input every run
    print(f"seed={seed}")  # shown by pytest on failure
    return np.random.default_rng(seed)


def smooth_texture(rng, h, w, sigma=2.0, pad=24):
    t = rng.random((h + 2 * pad, w + 2 * pad)).astype(np.float32)
    t = cv2.GaussianBlur(t, (0, 0), sigma)
    return (t - t.min()) / (t.max() - t.min() + 1e-12)


def shifted_pair(rng, h, w, dx, dy, pad=24):
    """Textured uint8 frames; ``next`` is ``prev`` moved by (dx, dy) px."""
    t = smooth_texture(rng, h, w, pad=pad)
    size = (w + 2 * pad, h + 2 * pad)
    a = cv2.warpAffine(t, np.float32([[1, 0, 0], [0, 1, 0]]), size, flags=cv2.INTER_CUBIC)
    b = cv2.warpAffine(t, np.float32([[1, 0, -dx], [0, 1, -dy]]), size,
                       flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP)
    crop = (slice(pad, pad + h), slice(pad, pad + w))
    to8 = lambda x: (np.clip(x[crop], 0, 1) * 255).round().astype(np.uint8)  # noqa: E731
    return to8(a), to8(b)


def real_looking_pair(rng, h, w):
    """Shapes + gradient + noise, moved by a small rotation/zoom/shift."""
    img = np.zeros((h, w), np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img += 60 * xx / w + 40 * yy / h
    for _ in range(12):
        c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        col = float(rng.uniform(0, 255))
        if rng.random() < 0.5:
            cv2.circle(img, c, int(rng.integers(4, max(5, h // 4))), col, -1, cv2.LINE_AA)
        else:
            d = (int(rng.integers(5, w // 3)), int(rng.integers(5, h // 3)))
            cv2.rectangle(img, c, (c[0] + d[0], c[1] + d[1]), col, -1)
    img = cv2.GaussianBlur(img, (0, 0), 1.0) + rng.normal(0, 3, (h, w)).astype(np.float32)
    A = cv2.getRotationMatrix2D((w / 2, h / 2), float(rng.uniform(-2, 2)), float(rng.uniform(0.98, 1.02)))
    A[:, 2] += rng.uniform(-3, 3, 2)
    nxt = cv2.warpAffine(img, A, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    nxt += rng.normal(0, 2, (h, w)).astype(np.float32)
    to8 = lambda x: np.clip(x, 0, 255).round().astype(np.uint8)  # noqa: E731
    return to8(img), to8(nxt)


def epe_stats(a, b):
    e = np.linalg.norm(a.astype(np.float64) - b.astype(np.float64), axis=-1)
    return float(e.mean()), float(np.percentile(e, 99)), float(e.max())


def cv2_flow(a, b, p):
    return cv2.calcOpticalFlowFarneback(a, b, None, *p.as_cv2_args())


# ---------------------------------------------------------------- step checks
@pytest.mark.parametrize("scale", [1.0, 0.5, 0.25, 0.125])
def test_pyramid_blur_matches_cv2(rng, scale):
    img = (rng.random((77, 103)) * 255).astype(np.float32)
    k = pyramid_blur_kernel(scale)
    s = (1 / scale - 1) * 0.5
    want = cv2.GaussianBlur(img, (k.size, k.size), s, s)
    np.testing.assert_allclose(ref.sep_filter_reflect101(img, k), want, rtol=0, atol=1e-4)


@pytest.mark.parametrize("src, dst", [((61, 81), (122, 162)), ((40, 30), (81, 59)),
                                       ((33, 47), (33, 47))])
def test_flow_resize_matches_cv2(rng, src, dst):
    f = rng.standard_normal(src + (2,)).astype(np.float32) * 4
    want = cv2.resize(f, dst[::-1], interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(ref.resize_linear(f, *dst), want, rtol=0, atol=1e-5)


@pytest.mark.parametrize("dst", [(49, 66), (25, 33), (12, 17), (200, 300)])
def test_image_resize_matches_cv2(rng, dst):
    img = (rng.random((97, 131)) * 255).astype(np.float32)
    want = cv2.resize(img, dst[::-1], interpolation=cv2.INTER_LINEAR)
    # cv2's 1-channel float path differs by a few float32 ulps of 255
    np.testing.assert_allclose(ref.resize_linear(img, *dst), want, rtol=0, atol=5e-3)


def test_box_blur_is_replicate_box_filter(rng):
    M = rng.standard_normal((40, 57, 5)).astype(np.float32)
    got = ref.box_blur5(M, 15)
    want = np.stack([cv2.boxFilter(M[..., c].astype(np.float64), -1, (15, 15), normalize=True,
                                   borderType=cv2.BORDER_REPLICATE) for c in range(5)], -1)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------- full flow
@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("size", [(120, 160), (137, 211)])
def test_reference_matches_cv2_synthetic(rng, name, size):
    p = CONFIGS[name]
    h, w = size
    dx, dy = rng.uniform(-4, 4, 2)
    a, b = shifted_pair(rng, h, w, dx, dy)
    got = farneback_reference(a, b, p)
    want = cv2_flow(a, b, p)
    assert got.shape == (h, w, 2) and got.dtype == np.float32
    mean, p99, mx = epe_stats(got, want)
    msg = f"{name} {size} shift=({dx:.3f},{dy:.3f}) mean={mean:.3e} p99={p99:.3e} max={mx:.3e}"
    assert mean <= MEAN_GATE and p99 <= P99_GATE, msg
    assert mean <= TIGHT_MEAN, msg
    # the synthetic motion is actually recovered (the comparison is not vacuous)
    interior = want[16:-16, 16:-16]
    assert np.median(np.abs(interior - np.float32([dx, dy]))) < 0.25, msg


@pytest.mark.parametrize("name", ["default", "gauss256"])
def test_reference_matches_cv2_real_looking(rng, name):
    p = CONFIGS[name]
    a, b = real_looking_pair(rng, 180, 240)
    mean, p99, mx = epe_stats(farneback_reference(a, b, p), cv2_flow(a, b, p))
    assert mean <= MEAN_GATE and p99 <= P99_GATE, (mean, p99, mx)
    assert mean <= TIGHT_MEAN, (mean, p99, mx)


@pytest.mark.parametrize("h, w, kw", [
    (64, 64, dict(levels=5)),                       # exactly one level (32x32)
    (63, 65, dict(levels=5)),                       # no level fits
    (90, 120, dict(pyr_scale=0.8, levels=6)),       # non-0.5 scale, truncated
    (100, 130, dict(pyr_scale=0.7, winsize=21, iterations=5)),
    (70, 80, dict(levels=0, winsize=10)),           # even winsize
])
def test_reference_pyramid_edge_cases(rng, h, w, kw):
    p = FarnebackParams(**kw)
    a, b = shifted_pair(rng, h, w, *rng.uniform(-2, 2, 2))
    mean, p99, mx = epe_stats(farneback_reference(a, b, p), cv2_flow(a, b, p))
    assert mean <= TIGHT_MEAN and p99 <= P99_GATE, (pyramid_sizes(h, w, p), mean, p99, mx)


#: sides of 9 px or less: OpenCV's border test differs from "within 5 px of an edge" there
TINY = [(1, 1), (1, 7), (3, 5), (4, 64), (6, 8), (7, 9), (9, 9), (9, 40), (40, 9), (5, 64), (64, 5), (10, 10)]


@pytest.mark.parametrize("name", ["default", "gauss256", "poly7"])
@pytest.mark.parametrize("h, w", TINY)
def test_reference_matches_cv2_on_tiny_frames(name, h, w):
    rng = np.random.default_rng([h, w, len(name)])   # seeded: failures reproduce
    p = CONFIGS[name]
    a, b = shifted_pair(rng, h, w, *rng.uniform(-3, 3, 2))
    mean, p99, mx = epe_stats(farneback_reference(a, b, p), cv2_flow(a, b, p))
    assert mean <= TIGHT_MEAN and p99 <= P99_GATE, (mean, p99, mx)


def _within_5px(h, w):
    """The rule the reference used before: every pixel within 5 px of an edge is de-weighted."""
    bw = ref.border_weights()

    def axis(n):
        s = np.ones(n, np.float32)
        for d in range(min(5, n)):
            s[d] *= bw[d]
            s[n - 1 - d] *= bw[d]
        return s

    return (axis(h)[:, None] * axis(w)[None, :]).astype(np.float32)


def test_tiny_frames_need_opencvs_border_rule(monkeypatch):
    """From 10 px up both rules agree; under 10 px "within 5 px" is far from cv2 (the tiny-frame gate is sharp)."""
    for h, w in [(10, 10), (10, 37), (64, 11), (120, 160)]:
        np.testing.assert_allclose(ref.border_scale(h, w), _within_5px(h, w), rtol=1e-6)
    rng = np.random.default_rng(940)
    a, b = shifted_pair(rng, 9, 40, 1.5, -0.5)
    p = FarnebackParams()
    monkeypatch.setattr(ref, "border_scale", _within_5px)
    mean, _, _ = epe_stats(farneback_reference(a, b, p), cv2_flow(a, b, p))
    assert mean > 0.05
    monkeypatch.undo()
    mean, _, _ = epe_stats(farneback_reference(a, b, p), cv2_flow(a, b, p))
    assert mean <= TIGHT_MEAN


def test_comparison_detects_a_wrong_parameter(rng):
    """Sanity check that the gates can fail: a different winsize must be caught."""
    a, b = shifted_pair(rng, 120, 160, 2.3, -1.7)
    got = farneback_reference(a, b, FarnebackParams(winsize=11))
    mean, _, _ = epe_stats(got, cv2_flow(a, b, FarnebackParams()))
    assert mean > TIGHT_MEAN


def test_reference_rejects_bad_input():
    a = np.zeros((40, 40), np.uint8)
    with pytest.raises(ValueError):
        farneback_reference(a, np.zeros((40, 41), np.uint8))
    with pytest.raises(ValueError):
        farneback_reference(a.astype(np.float32), a)
    with pytest.raises(ValueError):
        farneback_reference(np.zeros((2, 40, 40), np.uint8), np.zeros((2, 40, 40), np.uint8))
