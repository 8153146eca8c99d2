"""Motion ops (gpuvideo.motion) and the Farneback backend interface (gpuvideo.opticalflow) against OpenCV."""
import importlib.util

import cv2
import numpy as np
import pytest

from gpuvideo import motion, opticalflow
from gpuvideo.farneback.params import FarnebackParams
from gpuvideo.motion import METHOD_ABS_DIFF, METHOD_DIFF_MASK, METHOD_FLOW_MASK, METHOD_OPTICAL_FLOW, METHODS


def _textured(rng, n, h, w):
    small = rng.uniform(0, 255, (n, h // 4, w // 4, 3)).astype(np.float32)
    return np.stack([np.clip(cv2.resize(s, (w, h), interpolation=cv2.INTER_CUBIC), 0, 255) for s in small]
                    ).astype(np.uint8)


@pytest.fixture(scope="module")
def clip():
    """uint8 RGB (2, 4, 48, 64, 3): two clips of 4 frames with motion between frames."""
    rng = np.random.default_rng(3)
    base = _textured(rng, 2, 64, 80)
    frames = [[b[2 + t:50 + t, 3 + 2 * t:67 + 2 * t] for t in range(4)] for b in base]
    return np.ascontiguousarray(np.array(frames, np.uint8))


# ----------------------------------------------------------------------------- grey, device check
def test_to_grey_numpy_path_equals_the_integer_formula():
    """cv2 on NumPy uint8, the fixed-point formula elsewhere (CuPy): the same bytes for every colour tried."""
    from gpuvideo import ops

    rng = np.random.default_rng(11)
    rgb = rng.integers(0, 256, (4, 2, 257, 1031, 3), dtype=np.uint8)
    rgb[0, 0, 0, :256] = np.arange(256)[:, None]         # every grey level
    w = np.asarray(ops.GREY_WEIGHTS, np.int64)
    want = ((rgb.astype(np.int64) @ w + (1 << (ops.GREY_SHIFT - 1))) >> ops.GREY_SHIFT).astype(np.uint8)
    got = ops.to_grey(rgb)
    assert got.shape == rgb.shape[:-1] + (1,) and got.dtype == np.uint8
    np.testing.assert_array_equal(got[..., 0], want)
    np.testing.assert_array_equal(ops.to_grey(rgb[:, :, ::3, 1::2]), ops.to_grey(rgb.astype(np.int32)[:, :, ::3, 1::2]))
    np.testing.assert_array_equal(ops.to_grey(rgb[0, 0, 5]), want[0, 0, 5, :, None])


def test_is_device_array():
    from gpuvideo import ops

    assert not ops.is_device_array(np.zeros(3)) and not ops.is_device_array(3.0)
    fake = type("ndarray", (), {"__module__": "cupy._core.core"})()
    assert ops.is_device_array(fake)


# ----------------------------------------------------------------------------- abs diff, blur, average
def test_absdiff_equals_cv2_on_grey_frames(clip):
    a, b = clip[0, 0], clip[0, 1]
    ga, gb = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), cv2.cvtColor(b, cv2.COLOR_RGB2GRAY)
    np.testing.assert_array_equal(motion.absdiff(ga, gb), cv2.absdiff(ga, gb))
    out = motion.motion_images(clip, METHOD_ABS_DIFF, nb_channel=1)
    assert out.dtype == np.uint8 and out.shape == (2, 3, 48, 64, 1)
    for c in range(2):
        for t in range(3):
            g0 = cv2.cvtColor(clip[c, t], cv2.COLOR_RGB2GRAY)
            g1 = cv2.cvtColor(clip[c, t + 1], cv2.COLOR_RGB2GRAY)
            np.testing.assert_array_equal(out[c, t, ..., 0], cv2.absdiff(g0, g1))
    rgb = motion.motion_images(clip, METHOD_ABS_DIFF, nb_channel=3)
    assert rgb.shape[-1] == 3
    np.testing.assert_array_equal(rgb, np.repeat(out, 3, axis=-1))


@pytest.mark.parametrize("shape", [(3, 40, 50, 3), (2, 5, 9, 1), (1, 64, 33, 1)])
def test_gaussian_blur_xp_matches_cv2(shape):
    x = np.random.default_rng(0).uniform(0, 255, shape).astype(np.float32)
    ref = np.stack([cv2.GaussianBlur(img, (15, 15), 0).reshape(img.shape) for img in x])
    np.testing.assert_allclose(motion.gaussian_blur(x, impl="cv2"), ref, atol=1e-4)
    np.testing.assert_allclose(motion.gaussian_blur(x, impl="xp"), ref, atol=2e-3)


def test_diff_mask_formula(clip):
    out = motion.motion_images(clip, METHOD_DIFF_MASK, nb_channel=3)
    assert out.dtype == np.float32 and out.shape == (2, 3, 48, 64, 3)
    a, b = clip[1, 1], clip[1, 2]
    d = cv2.absdiff(cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), cv2.cvtColor(b, cv2.COLOR_RGB2GRAY)).astype(np.float32)
    mask = cv2.GaussianBlur(d, (15, 15), 0) / 255.0
    want = (a.astype(np.float32) + b.astype(np.float32)) / 2 * mask[..., None]
    np.testing.assert_allclose(out[1, 1], want, atol=1e-3)
    assert 0 <= out.min() and out.max() <= 255


# ----------------------------------------------------------------------------- HSV -> RGB, exact
def test_hsv_to_rgb_xp_is_exact_for_every_flow_colour():
    """S = 255 (flow pictures): every (hue, value), in SIMD-wide rows and in scalar tails."""
    h = np.repeat(np.arange(180), 256)
    v = np.tile(np.arange(256), 180)
    hsv = np.stack([h, np.full_like(h, 255), v], -1).astype(np.uint8)
    for layout in (hsv.reshape(1, 180, 256, 3), hsv.reshape(1, 46080 // 15, 15, 3),
                   hsv.reshape(1, 46080 // 45, 45, 3)):
        np.testing.assert_array_equal(motion.hsv_to_rgb(layout, impl="xp"), motion.hsv_to_rgb(layout, impl="cv2"))
        np.testing.assert_array_equal(motion.hsv_to_rgb(layout[0], impl="cv2"),
                                      cv2.cvtColor(layout[0], cv2.COLOR_HSV2RGB))


@pytest.mark.parametrize("hw", [(112, 112), (31, 97), (3, 5), (64, 320)])
def test_hsv_to_rgb_xp_is_exact_for_any_saturation(hw):
    rng = np.random.default_rng(hw[1])
    hsv = np.stack([rng.integers(0, 180, (2,) + hw), rng.integers(0, 256, (2,) + hw),
                    rng.integers(0, 256, (2,) + hw)], -1).astype(np.uint8)
    ref = np.stack([cv2.cvtColor(x, cv2.COLOR_HSV2RGB) for x in hsv])
    np.testing.assert_array_equal(motion.hsv_to_rgb(hsv, impl="xp"), ref)


def test_simd_lanes_probe_is_consistent():
    lanes = motion.cv2_hsv_simd_lanes()
    assert lanes >= 0
    if lanes:   # with the rounding rule of the other path everything would differ somewhere
        hsv = np.zeros((1, 4 * lanes, 3), np.uint8)
        hsv[..., 0], hsv[..., 1], hsv[..., 2] = 2, 255, 255
        assert not np.array_equal(motion.hsv_to_rgb(hsv, impl="xp", lanes=0), cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB))


# ----------------------------------------------------------------------------- flow pictures
@pytest.mark.parametrize("impl", ["cv2", "xp"])
@pytest.mark.parametrize("dx, dy, hue", [(1, 0, 0), (0, 1, 45), (-1, 0, 90), (0, -1, 135), (1, 1, 23),
                                         (2, -2, 158), (-1, -0.01, 90)])
def test_flow_to_hsv_hue_is_direction(dx, dy, hue, impl):
    flow = np.zeros((2, 10, 12, 2), np.float32)
    flow[:, 3:7, 4:8] = (dx, dy)
    hsv = motion.flow_to_hsv(flow, impl=impl)
    assert hsv.dtype == np.uint8
    got = hsv[:, 3:7, 4:8, 0].astype(int)
    if impl == "xp":
        assert np.all(got == hue)
    else:   # cv2.cartToPolar's angle is good to ~0.3 degree: 45/2 = 22.5 may round either way
        assert np.all(np.abs((got - hue + 90) % 180 - 90) <= (1 if hue in (23, 158) else 0))
    assert np.all(hsv[..., 1] == 255)
    assert np.all(hsv[:, 3:7, 4:8, 2] == 255) and np.all(hsv[:, 0, 0, 2] == 0)


def test_flow_to_hsv_cv2_and_xp_agree():
    flow = np.random.default_rng(5).normal(0, 2, (3, 40, 50, 2)).astype(np.float32)
    a, b = motion.flow_to_hsv(flow, impl="cv2").astype(int), motion.flow_to_hsv(flow, impl="xp").astype(int)
    assert np.abs((a[..., 0] - b[..., 0] + 90) % 180 - 90).max() <= 1
    assert np.mean(a[..., 0] != b[..., 0]) < 0.02
    assert np.abs(a[..., 2] - b[..., 2]).max() <= 1
    assert np.all(a[..., 1] == b[..., 1])


def test_flow_to_hsv_value_is_minmax_per_image():
    flow = np.zeros((2, 4, 4, 2), np.float32)
    flow[0, ..., 0] = np.arange(16).reshape(4, 4) + 10.0     # magnitudes 10..25
    flow[1, ..., 1] = 0.01 * np.arange(16).reshape(4, 4)     # a slow pair still spans 0..255
    v = motion.flow_to_hsv(flow)[..., 2].astype(int)
    for i in range(2):
        assert v[i].min() == 0 and v[i].max() == 255
    np.testing.assert_array_equal(v[0].ravel(), np.rint(np.arange(16) * 17.0).astype(int))


def test_zero_or_uniform_flow_gives_a_black_picture():
    flow = np.zeros((1, 8, 8, 2), np.float32)
    np.testing.assert_array_equal(motion.flow_to_picture(flow), 0)
    flow[...] = (1.5, 0)
    np.testing.assert_array_equal(motion.flow_to_picture(flow), 0)


def test_flow_to_picture_colours():
    flow = np.zeros((1, 2, 2, 2), np.float32)
    flow[0, 0, 0] = (3, 0)      # right: red
    flow[0, 0, 1] = (-3, 0)     # left: cyan
    pic = motion.flow_to_picture(flow)[0]
    np.testing.assert_array_equal(pic[0, 0], (255, 0, 0))
    np.testing.assert_array_equal(pic[0, 1], (0, 255, 255))
    np.testing.assert_array_equal(pic[1, 1], (0, 0, 0))
    big = np.random.default_rng(0).normal(0, 2, (2, 37, 70, 2)).astype(np.float32)
    hsv = motion.flow_to_hsv(big)
    np.testing.assert_array_equal(motion.flow_to_picture(big), motion.hsv_to_rgb(hsv, impl="xp"))


# ----------------------------------------------------------------------------- whole-clip pipeline
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("nb_channel", [1, 3])
def test_motion_images_shapes_ranges_and_still_frames(clip, method, nb_channel):
    out = motion.motion_images(clip, method, nb_channel)
    assert out.shape == (2, 3, 48, 64, nb_channel)
    assert out.min() >= 0 and out.max() <= 255 and out.max() > 20
    still = np.repeat(clip[:, :1], 3, axis=1)
    np.testing.assert_array_equal(motion.motion_images(still, method, nb_channel), 0)


def test_flow_mask_formula(clip):
    out = motion.motion_images(clip[:1, :2], METHOD_FLOW_MASK, nb_channel=3)[0, 0]
    pic = motion.motion_images(clip[:1, :2], METHOD_OPTICAL_FLOW, nb_channel=3)[0, 0]
    mask = cv2.GaussianBlur(pic.astype(np.float32), (15, 15), 0) / 255.0
    avg = (clip[0, 0].astype(np.float32) + clip[0, 1]) / 2
    np.testing.assert_allclose(out, avg * mask, atol=1e-3)
    grey = motion.motion_images(clip[:1, :2], METHOD_OPTICAL_FLOW, nb_channel=1)[0, 0]
    np.testing.assert_array_equal(grey[..., 0], cv2.cvtColor(pic, cv2.COLOR_RGB2GRAY))


def test_raw_flow_is_farneback_on_8bit_grey(clip):
    raw = motion.motion_images(clip, METHOD_OPTICAL_FLOW, output="raw")
    assert raw.dtype == np.float32 and raw.shape == (2, 3, 48, 64, 2)
    g0 = cv2.cvtColor(clip[1, 2], cv2.COLOR_RGB2GRAY)
    g1 = cv2.cvtColor(clip[1, 3], cv2.COLOR_RGB2GRAY)
    ref = cv2.calcOpticalFlowFarneback(g0, g1, None, 0.5, 3, 15, 3, 5, 1.1, 0)
    np.testing.assert_array_equal(raw[1, 2], ref)
    # the frames move by (+2, +1) px per step: the flow is (-2, -1) where content is tracked
    med = np.median(raw[:, :, 10:-10, 10:-10].reshape(-1, 2), axis=0)
    np.testing.assert_allclose(med, (-2, -1), atol=0.1)


def test_motion_images_rejects_bad_input(clip):
    with pytest.raises(ValueError):
        motion.motion_images(clip, 7)
    with pytest.raises(ValueError):
        motion.motion_images(clip[:, :1], METHOD_ABS_DIFF)
    with pytest.raises(ValueError):
        motion.motion_images(clip, METHOD_ABS_DIFF, nb_channel=2)
    with pytest.raises(ValueError):
        motion.motion_images(clip, METHOD_OPTICAL_FLOW, output="vectors")


# ----------------------------------------------------------------------------- Farneback backend interface
def test_farneback_cv2_backend_matches_cv2(clip):
    g = motion.to_grey(clip[0])[..., 0]
    params = FarnebackParams(levels=2, winsize=9, iterations=2)
    out = opticalflow.farneback(g[:-1], g[1:], params)
    assert out.shape == (3, 48, 64, 2) and out.dtype == np.float32
    for i in range(3):
        np.testing.assert_array_equal(out[i], cv2.calcOpticalFlowFarneback(g[i], g[i + 1], None,
                                                                           0.5, 2, 9, 2, 5, 1.1, 0))
    single = opticalflow.farneback(g[0], g[1], (0.5, 2, 9, 2, 5, 1.1, 0), backend="cv2")
    np.testing.assert_array_equal(single, out[0])
    assert opticalflow.default_backend(g) == "cv2"


def test_farneback_params_and_errors(clip):
    assert opticalflow.make_params(None) == FarnebackParams()
    assert opticalflow.make_params({"levels": 1}).levels == 1
    g = motion.to_grey(clip[0])[..., 0]
    with pytest.raises(TypeError):
        opticalflow.farneback(g.astype(np.float32), g.astype(np.float32))
    with pytest.raises(ValueError):
        opticalflow.farneback(g[:2], g[:3])
    with pytest.raises(ValueError):
        opticalflow.farneback(g, g, backend="magic")
    with pytest.raises(ValueError):
        opticalflow.farneback(g, g, {"winsize": 1})


@pytest.mark.skipif(opticalflow.opencv_cuda_available(), reason="this cv2 has CUDA")
def test_opencv_cuda_backend_says_why_it_is_missing(clip):
    g = motion.to_grey(clip[0])[..., 0]
    with pytest.raises(RuntimeError, match="CUDA"):
        opticalflow.farneback(g[:1], g[1:2], backend="opencv-cuda")


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="CuPy is installed")
def test_cupy_backend_says_why_it_is_missing(clip):
    g = motion.to_grey(clip[0])[..., 0]
    with pytest.raises((RuntimeError, ImportError), match="[Cc]u[Pp]y"):
        opticalflow.farneback(g[:1], g[1:2], backend="cupy")
