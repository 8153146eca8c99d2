"""Motion ops (gpuvideo.motion) and the Farneback backend interface (gpuvideo.opticalflow) against OpenCV."""
import importlib.util
import re

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


# ----------------------------------------------------------------------------- ops (found by the mutation run)
class _FakeDevice:
    """Stands in for a CuPy array: ops tells device arrays apart by their type's module."""
    __module__ = "cupy._core.core"

    def __init__(self, host):
        self.host = host

    def get(self):
        return self.host


def test_array_module_and_to_host(monkeypatch):
    import sys
    import types

    from gpuvideo import ops
    a = np.arange(6).reshape(2, 3)
    assert ops.array_module(a) is np and ops.to_host(a) is a
    fake_cupy = types.ModuleType("cupy")
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy)
    dev = _FakeDevice(a)
    assert ops.is_device_array(dev) and ops.array_module(dev) is fake_cupy
    assert ops.to_host(dev) is a
    with pytest.raises(TypeError, match="^resize of device arrays is done by the GPU decode path$"):
        ops.resize(type("ndarray", (_FakeDevice,), {"shape": (2, 8, 8, 3), "__module__": "cupy._core.core"})(a),
                   (4, 4))


def test_to_grey_other_dtypes_shapes_and_empty_clips():
    from gpuvideo import ops
    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 256, (3, 7, 9, 3), dtype=np.uint8)
    want = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in rgb])[..., None]
    for x in (rgb, rgb.astype(np.int32), rgb.astype(np.uint16), rgb.astype(np.float32)):
        got = ops.to_grey(x)
        assert got.dtype == np.uint8 and got.shape == (3, 7, 9, 1)
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(ops.to_grey(rgb[1]), want[1])                       # one frame
    assert ops.to_grey(np.array([255, 0, 0], np.uint8)).tolist() == [76]               # one pixel: 0.299 * 255
    assert ops.to_grey(np.array([[0, 255, 0]], np.uint8)).tolist() == [[150]]
    assert ops.to_grey(np.array([0, 0, 255], np.int32)).tolist() == [29]
    empty = ops.to_grey(np.zeros((0, 7, 9, 3), np.uint8))
    assert empty.shape == (0, 7, 9, 1) and empty.dtype == np.uint8


@pytest.mark.parametrize("interpolation,flag", [("linear", cv2.INTER_LINEAR), ("area", cv2.INTER_AREA)])
def test_resize_is_cv2_per_frame_and_keeps_the_channel_axis(interpolation, flag):
    from gpuvideo import ops
    rng = np.random.default_rng(6)
    for c in (3, 1):
        clip = rng.integers(0, 256, (2, 3, 30, 40, c), dtype=np.uint8)
        got = ops.resize(clip, (25, 14), interpolation)
        assert got.shape == (2, 3, 14, 25, c) and got.dtype == np.uint8
        for i in range(2):
            for t in range(3):
                want = cv2.resize(clip[i, t], (25, 14), interpolation=flag).reshape(14, 25, c)
                np.testing.assert_array_equal(got[i, t], want)
        np.testing.assert_array_equal(ops.resize(clip[0, 1], (25, 14), interpolation), got[0, 1])   # one frame
    assert ops.resize(clip, (40, 30)) is clip                                       # already that size
    assert ops.resize(clip, (40, 20)).shape == (2, 3, 20, 40, 1)                    # one side only
    assert ops.resize(clip, (20, 30)).shape == (2, 3, 30, 20, 1)


def test_rescale_and_prepare_clip():
    from gpuvideo import ops
    clip = np.array([[[[0, 128, 255]]]], np.uint8)
    for factor in (None, 1):
        out = ops.rescale(clip, factor)
        assert out.dtype == np.float32 and out.tolist() == [[[[0.0, 128.0, 255.0]]]]
    out = ops.rescale(clip, 1 / 255)
    assert out.dtype == np.float32 and np.allclose(out, clip / 255.0, atol=1e-7)
    assert ops.rescale(clip, 2, dtype="float64").dtype == np.float64
    assert ops.rescale(clip, 2).tolist() == [[[[0.0, 256.0, 510.0]]]]
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, (2, 30, 40, 3), dtype=np.uint8)
    np.testing.assert_array_equal(ops.prepare_clip(rgb, (20, 15)), ops.resize(rgb, (20, 15)))
    np.testing.assert_array_equal(ops.prepare_clip(rgb, (20, 15), 1), ops.to_grey(ops.resize(rgb, (20, 15))))
    np.testing.assert_array_equal(ops.prepare_clip(rgb, (20, 15), 3, "area"), ops.resize(rgb, (20, 15), "area"))
    area = ops.prepare_clip(rgb, (25, 14), 3, "area")                      # not a 2x step: area != linear
    np.testing.assert_array_equal(area, ops.resize(rgb, (25, 14), "area"))
    assert not np.array_equal(area, ops.resize(rgb, (25, 14), "linear"))
    assert ops.prepare_clip(rgb, (40, 30)) is rgb
    for bad in (0, 2, 4):
        with pytest.raises(ValueError, match=f"^nb_channel must be 1 or 3, got {bad}$"):
            ops.prepare_clip(rgb, (20, 15), bad)


def test_rescale_is_float32_arithmetic():
    """uint8 * rescale computed in float32 with the factor rounded to float32 (as on the GPU), for every level."""
    from gpuvideo import ops
    levels = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1)
    np.testing.assert_array_equal(ops.rescale(levels, 1 / 255), levels.astype(np.float32) * np.float32(1 / 255))
    np.testing.assert_array_equal(ops.rescale(levels, 0.1), levels.astype(np.float32) * np.float32(0.1))


class _DeviceLike(np.ndarray):
    """A NumPy array that gpuvideo.ops takes for a CuPy array (its type's module), to run the device branches."""


_DeviceLike.__module__ = "cupy._core.core"


def _fake_cupy(monkeypatch):
    """``cupy`` = a module that makes _DeviceLike arrays with NumPy's functions (asarray/array give device arrays)."""
    import sys
    import types
    fake = types.ModuleType("cupy")
    fake.__getattr__ = lambda name: getattr(np, name)
    fake.asarray = lambda a, dtype=None: np.asarray(a, dtype).view(_DeviceLike)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    return fake


def test_to_grey_uses_cv2_for_numpy_uint8_and_the_formula_elsewhere(monkeypatch):
    """cv2.cvtColor is the NumPy uint8 path (47x faster than the formula); device arrays never reach cv2."""
    from gpuvideo import ops
    _fake_cupy(monkeypatch)
    calls = []
    real = cv2.cvtColor
    monkeypatch.setattr(cv2, "cvtColor", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    rng = np.random.default_rng(8)
    rgb = rng.integers(0, 256, (2, 5, 6, 3), dtype=np.uint8)
    want = ops.to_grey(rgb)
    assert len(calls) == 1
    for other in (rgb.astype(np.int32), rgb.view(_DeviceLike)):
        got = ops.to_grey(other)
        np.testing.assert_array_equal(np.asarray(got), want)
    assert len(calls) == 1
    assert ops.is_device_array(ops.to_grey(rgb.view(_DeviceLike)))
    ops.to_grey(rgb[:0])                                                 # empty: no cv2 call either
    assert len(calls) == 1


def test_rescale_on_device_arrays_takes_the_factor_from_the_array_module(monkeypatch):
    from gpuvideo import ops
    fake = _fake_cupy(monkeypatch)
    made = []
    fake.asarray = lambda a, dtype=None: (made.append((a, dtype)), np.asarray(a, dtype).view(_DeviceLike))[1]
    dev = np.arange(4, dtype=np.uint8).reshape(1, 2, 2, 1).view(_DeviceLike)
    out = ops.rescale(dev, 0.5)
    assert made == [(0.5, "float32")] and ops.is_device_array(out) and out.dtype == np.float32
    np.testing.assert_array_equal(np.asarray(out), np.arange(4).reshape(1, 2, 2, 1) * np.float32(0.5))


# ----------------------------------------------------------------------------- motion (found by the mutation run)
class _Device(np.ndarray):
    """CuPy's rules on the CPU, to run the device branches of gpuvideo.motion without a GPU.

    gpuvideo takes it for a CuPy array (its type's module); like CuPy, it refuses NumPy functions
    (``np.pad(device)``) and NumPy-array operands (``device * np.ndarray``), while the ``cupy`` module
    of :func:`_cupy_on_the_cpu` runs NumPy on it. ``.device.id`` and ``.get()`` are CuPy's."""

    device_id = 0

    def __array_function__(self, func, types, args, kwargs):
        raise TypeError(f"numpy.{func.__name__} called on a device array (CuPy does no implicit conversion)")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        outs = kwargs.get("out") or ()
        if any(type(a) is np.ndarray for a in inputs + tuple(outs)):
            raise TypeError("Unsupported type <class 'numpy.ndarray'> (a NumPy array operand of a device array)")
        plain = [a.view(np.ndarray) if isinstance(a, _Device) else a for a in inputs]
        if outs:
            kwargs["out"] = tuple(o.view(np.ndarray) for o in outs)
        result = getattr(ufunc, method)(*plain, **kwargs)
        return outs[0] if outs else _on_device(result)

    @property
    def device(self):
        import types
        return types.SimpleNamespace(id=self.device_id)

    def get(self):
        return np.array(self.view(np.ndarray))


_Device.__module__ = "cupy._core.core"


def _no_none(v):
    if v is None:
        raise TypeError("Unsupported type <class 'NoneType'>")      # as cupy.where
    return v


def _on_device(x):
    if isinstance(x, np.ndarray) and not isinstance(x, _Device):
        return x.view(_Device)
    if isinstance(x, (list, tuple)):
        return type(x)(_on_device(v) for v in x)
    return x


def _to_plain(x):
    if isinstance(x, _Device):
        return x.view(np.ndarray)
    if isinstance(x, (list, tuple)):
        return type(x)(_to_plain(v) for v in x)
    return x


@pytest.fixture
def cupy_on_the_cpu(monkeypatch):
    """``cupy`` = NumPy's functions on _Device arrays; cv2 refuses to be called on the device path."""
    import contextlib
    import sys
    import types

    fake = types.ModuleType("cupy")
    fake.devices = []

    def attr(name):
        v = getattr(np, name)
        if callable(v) and not isinstance(v, type) and not isinstance(v, np.ufunc):
            return lambda *a, **k: _on_device(v(*_to_plain(a), **{n: _to_plain(x) for n, x in k.items()}))
        return v
    fake.__getattr__ = attr
    fake.cuda = types.SimpleNamespace(Device=lambda i=None: (fake.devices.append(i), contextlib.nullcontext())[1])
    fake.where = lambda c, *xy: _on_device(np.where(*_to_plain((c,) + tuple(_no_none(v) for v in xy))))
    # CuPy's signature: the axis is required
    fake.take_along_axis = lambda a, indices, axis: _on_device(np.take_along_axis(_to_plain(a), _to_plain(indices), axis))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    motion.cv2_hsv_simd_lanes()            # measured once with cv2 (cached), before cv2 is refused below
    for name in ("GaussianBlur", "cvtColor", "cartToPolar", "calcOpticalFlowFarneback"):
        real = getattr(cv2, name)

        def guard(*a, _real=real, _name=name, **k):
            if fake.device_path:
                raise AssertionError(f"cv2.{_name} called on the device path")
            return _real(*a, **k)
        monkeypatch.setattr(cv2, name, guard)
    fake.device_path = False
    sectors = motion._device_sectors
    sectors.cache_clear()
    yield fake
    sectors.cache_clear()                  # no stand-in table left in the cache


def _dev(a, device_id=0):
    d = np.array(a).view(_Device)
    d.device_id = device_id
    return d


def test_device_stand_in_behaves_like_cupy(cupy_on_the_cpu):
    from gpuvideo import ops
    d = _dev(np.arange(4.0))
    assert ops.is_device_array(d) and ops.array_module(d) is cupy_on_the_cpu
    with pytest.raises(TypeError):
        np.pad(d, 1)
    with pytest.raises(TypeError):
        d * np.ones(4)
    assert ops.is_device_array(d * 2) and ops.is_device_array(cupy_on_the_cpu.pad(d, 1))
    assert type(ops.to_host(d)) is np.ndarray


def test_motion_arithmetic_on_device_arrays_equals_numpy(cupy_on_the_cpu, clip):
    a, b = clip[0, 0], clip[0, 1]
    cupy_on_the_cpu.device_path = True
    for f, args in ((motion.absdiff, (a, b)), (motion.average, (a, b)),
                    (motion.masked_average, (np.full(a.shape[:-1] + (1,), 0.5, np.float32), a, b))):
        got = f(*[_dev(x) for x in args])
        assert motion.is_device_array(got)
        cupy_on_the_cpu.device_path = False
        np.testing.assert_array_equal(got.get(), f(*args))
        cupy_on_the_cpu.device_path = True
    grey = clip[..., :1].copy()
    rgb3 = motion.to_channels(_dev(grey), 3)
    assert motion.is_device_array(rgb3) and np.array_equal(rgb3.get(), np.repeat(grey, 3, axis=-1))


@pytest.mark.parametrize("shape", [(40, 50, 3), (2, 40, 50, 1), (1, 2, 24, 30, 3)])
def test_gaussian_blur_device_and_numpy_paths(cupy_on_the_cpu, shape, monkeypatch):
    """NumPy: cv2.GaussianBlur per image (any leading shape, a single image too); device: the separable
    filter in the array module, no cv2; both equal cv2 with the sigma given."""
    rng = np.random.default_rng(9)
    x = rng.uniform(0, 255, shape).astype(np.float32)
    x0 = x.copy()
    flat = x.reshape((-1,) + shape[-3:])
    for sigma in (0.0, 2.0):
        ref = np.stack([cv2.GaussianBlur(im, (15, 15), sigma, borderType=cv2.BORDER_REFLECT_101).reshape(im.shape)
                        for im in flat]).reshape(shape)
        np.testing.assert_allclose(motion.gaussian_blur(x, sigma=sigma), ref, atol=1e-4)
        np.testing.assert_allclose(motion.gaussian_blur(x, sigma=sigma, impl="xp"), ref, atol=2e-3)
        cupy_on_the_cpu.device_path = True
        got = motion.gaussian_blur(_dev(x), sigma=sigma)
        cupy_on_the_cpu.device_path = False
        assert motion.is_device_array(got) and got.dtype == np.float32
        np.testing.assert_allclose(got.get(), ref, atol=2e-3)
    u8 = (x > 128).astype(np.uint8)
    assert motion.gaussian_blur(u8).dtype == np.float32                       # uint8 in: float32 out
    np.testing.assert_array_equal(x, x0)                                      # the input is left alone


def test_motion_errors_say_what_was_wrong(cupy_on_the_cpu, clip):
    d = _dev(np.zeros((4, 4, 3), np.float32))
    for f, arg in ((motion.gaussian_blur, d), (motion.hsv_to_rgb, _dev(np.zeros((4, 4, 3), np.uint8))),
                   (motion.flow_to_hsv, _dev(np.zeros((4, 4, 2), np.float32)))):
        with pytest.raises(TypeError, match="^impl='cv2' needs NumPy arrays$"):
            f(arg, impl="cv2")
        with pytest.raises(ValueError, match="^impl must be 'cv2', 'xp' or None, got 'gpu'$"):
            f(np.zeros((4, 4, 3 if f is not motion.flow_to_hsv else 2), np.float32), impl="gpu")
    with pytest.raises(ValueError, match=r"^expected \(\.\.\., H, W, C\) images, got shape \(4, 4\)$"):
        motion.gaussian_blur(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="^cannot turn 2 channels into 3$"):
        motion.to_channels(np.zeros((2, 2, 2), np.uint8), 3)
    with pytest.raises(ValueError, match="^cannot turn 3 channels into 2$"):
        motion.to_channels(np.zeros((2, 2, 3), np.uint8), 2)
    with pytest.raises(ValueError, match="^cannot turn 1 channels into 2$"):
        motion.to_channels(np.zeros((2, 2, 1), np.uint8), 2)
    with pytest.raises(ValueError, match=r"^method must be one of \(1, 2, 3, 4\), got 5$"):
        motion.motion_images(clip, 5)
    with pytest.raises(ValueError, match=r"^output must be one of \('picture', 'raw'\), got 'vectors'$"):
        motion.motion_images(clip, output="vectors")
    with pytest.raises(ValueError, match="^nb_channel must be 1 or 3, got 2$"):
        motion.motion_images(clip, nb_channel=2)
    for bad in (clip[..., :1], clip[0, :1], clip[0, 0]):
        with pytest.raises(ValueError, match=r"^expected uint8 RGB \(\.\.\., T >= 2, H, W, 3\), got shape "
                                             + re.escape(str(bad.shape)) + "$"):
            motion.motion_images(bad)


def test_hsv_to_rgb_on_device_uses_the_device_table(cupy_on_the_cpu, monkeypatch):
    hsv = np.stack(np.meshgrid(np.arange(180), [0, 60, 255], indexing="ij"), -1).reshape(1, 180 * 3, 2)
    hsv = np.concatenate([hsv, np.full(hsv.shape[:-1] + (1,), 200)], -1).astype(np.uint8)   # every hue, 3 sats
    ref = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    used = []
    real = motion._device_sectors
    monkeypatch.setattr(motion, "_device_sectors", lambda i: (used.append(i), real(i))[1])
    cupy_on_the_cpu.device_path = True
    got = motion.hsv_to_rgb(_dev(hsv, device_id=3))
    assert motion.is_device_array(got) and got.dtype == np.uint8
    np.testing.assert_array_equal(got.get(), ref)
    assert used == [3] and cupy_on_the_cpu.devices == [3]                  # the table on the array's device
    narrow = np.ascontiguousarray(hsv[:, :37])                          # shorter than a SIMD block: all rounded
    cupy_on_the_cpu.device_path = False
    np.testing.assert_array_equal(motion.hsv_to_rgb(_dev(narrow, 3)).get(), cv2.cvtColor(narrow, cv2.COLOR_HSV2RGB))


def test_hsv_to_rgb_xp_any_leading_shape_and_rounding():
    """Flow colours (S = 255, every hue and value) as one image, a batch and a batch of clips, rows of 80
    pixels (one SIMD block and a scalar tail): xp equals cv2, uint8. With lanes=0 every pixel is rounded (OpenCV's
    scalar formula, written out below), over a grid of hues, saturations and values."""
    h, v = np.meshgrid(np.arange(180), np.arange(256), indexing="ij")
    hsv = np.stack([h, np.full_like(h, 255), v], -1).astype(np.uint8).reshape(-1, 80, 3)        # (576, 80, 3)
    ref = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    for shaped in (hsv, hsv.reshape(2, 288, 80, 3), hsv.reshape(2, 4, 72, 80, 3)):
        got = motion.hsv_to_rgb(shaped, impl="xp")
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got.reshape(ref.shape), ref)
    h, s, v = np.meshgrid(np.arange(180), np.arange(0, 256, 15), np.arange(0, 256, 17), indexing="ij")
    grid = np.stack([h, s, v], -1).astype(np.uint8).reshape(-1, 2, 81, 3)    # 81: every column sees every v
    np.testing.assert_array_equal(motion.hsv_to_rgb(grid, impl="xp", lanes=0), _hsv_rounded(grid))


def _hsv_rounded(im):
    """OpenCV's formula in float32, rounded to nearest (its scalar loop), written out."""
    hh = im[..., 0].astype(np.float32) * np.float32(6.0 / 180.0)
    s = im[..., 1].astype(np.float32) * np.float32(1.0 / 255.0)
    v = im[..., 2].astype(np.float32) * np.float32(1.0 / 255.0)
    sector = np.floor(hh)
    f = hh - sector
    sector = sector.astype(int) % 6
    one = np.float32(1.0)
    tab = np.stack([v, v * (one - s), v * (one - s * f), v * (one - s * (one - f))], -1)
    idx = np.array([(0, 3, 1), (2, 0, 1), (1, 0, 3), (1, 2, 0), (3, 1, 0), (0, 1, 2)])[sector]
    rgb = np.take_along_axis(tab, idx, -1)
    rgb = np.where((s == 0)[..., None], v[..., None], rgb)
    return np.clip(np.rint(rgb * np.float32(255.0)), 0, 255).astype(np.uint8)


def test_flow_to_hsv_hue_edges_and_value_scale(cupy_on_the_cpu):
    """Angles just below 0 and at 359-360 degrees wrap to hue 0; tiny spans give V = 0; V is rounded and
    clipped to 255; device arrays take the xp path."""
    flow = np.zeros((1, 1, 6, 2), np.float32)
    flow[0, 0, 0] = (1.0, -1e-3)                                        # -0.06 deg -> 359.94 -> hue 180 -> 0
    flow[0, 0, 1] = (1.0, 0.0)                                          # 0 deg
    flow[0, 0, 2] = (np.cos(np.radians(-0.5)), np.sin(np.radians(-0.5)))   # 359.5 -> 180 -> 0
    flow[0, 0, 3] = (np.cos(np.radians(-1.5)), np.sin(np.radians(-1.5)))   # 358.5 -> 179.25+0.5 -> 179
    flow[0, 0, 4] = (np.cos(np.radians(0.9)), np.sin(np.radians(0.9)))     # 0.9 -> 0.95 -> 0
    flow[0, 0, 5] = (0.0, 0.5)                                          # 90 deg, slowest
    for impl in ("xp", "cv2"):
        hsv = motion.flow_to_hsv(flow, impl=impl)
        assert hsv.dtype == np.uint8
        assert hsv[0, 0, :, 0].tolist() == [0, 0, 0, 179, 0, 45], impl
        assert hsv[0, 0, :, 1].tolist() == [255] * 6
        assert hsv[0, 0, :, 2].tolist() == [255, 255, 255, 255, 255, 0], impl
    cupy_on_the_cpu.device_path = True
    dev = motion.flow_to_hsv(_dev(flow))
    cupy_on_the_cpu.device_path = False
    assert motion.is_device_array(dev)
    np.testing.assert_array_equal(dev.get(), motion.flow_to_hsv(flow, impl="xp"))
    # a span just above 1e-6 is scaled (V = 255 at the fastest pixel), one at or below it is not
    tiny = np.zeros((1, 2, 2), np.float32)
    tiny[0, 1, 0] = 2e-6
    assert motion.flow_to_hsv(tiny, impl="xp")[..., 2].tolist() == [[0, 255]]
    tiny[0, 1, 0] = 1e-6
    assert motion.flow_to_hsv(tiny, impl="xp")[..., 2].tolist() == [[0, 0]]
    # V rounds to nearest: magnitudes 0, 1, 2 scale to 0, 127.5 -> 128, 255
    ramp = np.zeros((1, 3, 2), np.float32)
    ramp[0, :, 0] = [0, 1, 2]
    assert motion.flow_to_hsv(ramp, impl="xp")[..., 2].tolist() == [[0, 128, 255]]


def test_flow_to_picture_passes_impl_to_both_steps(monkeypatch):
    seen = []
    real_hsv, real_rgb = motion.flow_to_hsv, motion.hsv_to_rgb
    monkeypatch.setattr(motion, "flow_to_hsv", lambda f, impl=None: (seen.append(("hsv", impl)), real_hsv(f, impl))[1])
    monkeypatch.setattr(motion, "hsv_to_rgb", lambda h, impl=None: (seen.append(("rgb", impl)), real_rgb(h, impl))[1])
    motion.flow_to_picture(np.ones((2, 3, 2), np.float32), impl="xp")
    assert seen == [("hsv", "xp"), ("rgb", "xp")]


def test_motion_images_on_device_batches(cupy_on_the_cpu, clip, monkeypatch):
    """The device branch: one Farneback call on the whole batch (identical pairs zeroed after it), masks and
    pictures in the array module, no host round trip; the same images as on the host."""
    from gpuvideo import opticalflow
    calls = []
    real = opticalflow.farneback

    def fake_farneback(prev, nxt, params=None, *, backend=None):
        calls.append((motion.is_device_array(prev), motion.is_device_array(nxt), prev.shape, params, backend))
        on_device = motion.is_device_array(prev)
        host = [x.get() if on_device else x for x in (prev, nxt)]
        cupy_on_the_cpu.device_path = False
        out = real(*host, params, backend="cv2")
        cupy_on_the_cpu.device_path = on_device
        return _dev(out) if on_device else out
    monkeypatch.setattr(opticalflow, "farneback", fake_farneback)
    still = clip.copy()
    still[1, 2] = still[1, 1]                                           # one identical pair
    params = FarnebackParams(levels=2)
    for method in METHODS:
        for nb_channel in (1, 3):
            calls.clear()
            want = motion.motion_images(still, method, nb_channel, params, backend="cv2")
            if method in (METHOD_OPTICAL_FLOW, METHOD_FLOW_MASK):
                assert calls == [(False, False, (5, 48, 64), params, "cv2")]        # the moving pairs only
            calls.clear()
            cupy_on_the_cpu.device_path = True
            got = motion.motion_images(_dev(still), method, nb_channel, params, backend="cv2")
            cupy_on_the_cpu.device_path = False
            assert motion.is_device_array(got) and got.dtype == want.dtype and got.shape == want.shape
            if method in (METHOD_OPTICAL_FLOW, METHOD_FLOW_MASK):
                assert calls == [(True, True, (6, 48, 64), params, "cv2")]          # the whole batch, once
            if method == METHOD_OPTICAL_FLOW:   # the device computes hue with arctan2 (impl='xp'), exactly
                raw = motion.motion_images(still, method, output="raw", params=params, backend="cv2")
                want = motion.to_channels(motion.flow_to_picture(raw, impl="xp"), nb_channel)
                np.testing.assert_array_equal(got.get(), want)
            elif method == METHOD_ABS_DIFF:
                np.testing.assert_array_equal(got.get(), want)
            else:                                # masks: xp blur and xp hue against cv2's
                d = np.abs(got.get().astype(np.float64) - want)
                assert d.max() <= 3 and d.mean() < 0.05, (method, nb_channel, d.max(), d.mean())
            assert not got.get()[1, 1].any()                                 # identical frames: no motion
    cupy_on_the_cpu.device_path = True
    raw = motion.motion_images(_dev(still), METHOD_OPTICAL_FLOW, output="raw", params=params, backend="cv2")
    cupy_on_the_cpu.device_path = False
    assert raw.shape == (2, 3, 48, 64, 2) and not raw.get()[1, 1].any() and raw.get()[0].any()


def test_motion_images_pass_params_and_backend_on_the_host(clip, monkeypatch):
    from gpuvideo import opticalflow
    seen = []
    real = opticalflow.farneback
    monkeypatch.setattr(opticalflow, "farneback",
                        lambda p, n, params=None, *, backend=None: (seen.append((params, backend)),
                                                                     real(p, n, params, backend=backend))[1])
    params = FarnebackParams(iterations=2)
    motion.motion_images(clip, METHOD_FLOW_MASK, params=params, backend="cv2")
    assert seen == [(params, "cv2")]
    with pytest.raises(ValueError, match="backend"):
        motion.motion_images(clip, METHOD_OPTICAL_FLOW, backend="tpu")


def test_masks_are_blurred_float_pictures(clip, monkeypatch):
    """The blur of both masks gets float32 images (uint8 in cv2.GaussianBlur would round the mask)."""
    dtypes = []
    real = motion.gaussian_blur
    monkeypatch.setattr(motion, "gaussian_blur", lambda x, *a, **k: (dtypes.append(x.dtype), real(x, *a, **k))[1])
    motion.motion_images(clip, METHOD_DIFF_MASK)
    motion.motion_images(clip, METHOD_FLOW_MASK)
    assert dtypes == [np.float32, np.float32]


def test_numpy_inputs_take_the_opencv_paths(monkeypatch):
    """NumPy arrays go through cv2 (GaussianBlur, cvtColor, cartToPolar) by default, one call per image."""
    counts = {}
    for name in ("GaussianBlur", "cvtColor", "cartToPolar"):
        real = getattr(cv2, name)
        monkeypatch.setattr(cv2, name, lambda *a, _r=real, _n=name, **k: (counts.__setitem__(_n, counts.get(_n, 0) + 1),
                                                                         _r(*a, **k))[1])
    motion.gaussian_blur(np.zeros((3, 8, 9, 1), np.float32))
    motion.hsv_to_rgb(np.zeros((2, 8, 9, 3), np.uint8))
    motion.flow_to_hsv(np.zeros((4, 8, 9, 2), np.float32))
    assert counts == {"GaussianBlur": 3, "cvtColor": 2, "cartToPolar": 4}


@pytest.mark.parametrize("shape", [(6, 7), (3, 6, 7), (2, 3, 6, 7)])
def test_flow_to_hsv_any_leading_shape(shape):
    rng = np.random.default_rng(12)
    flow = rng.normal(0, 2, shape + (2,)).astype(np.float32)
    for impl in ("cv2", "xp"):
        hsv = motion.flow_to_hsv(flow, impl=impl)
        assert hsv.shape == shape + (3,) and hsv.dtype == np.uint8
        flat = flow.reshape((-1,) + shape[-2:] + (2,))
        np.testing.assert_array_equal(hsv.reshape((-1,) + shape[-2:] + (3,)),
                                      np.stack([motion.flow_to_hsv(f[None], impl=impl)[0] for f in flat]))


def test_flow_to_hsv_value_in_float32_and_no_invalid_casts():
    """V = rint((m - min) * float32(255 / (max - min))) in float32 (2000 random images: float64 would round some
    differently), and images without any speed difference give 0 without a NaN cast on the way."""
    import warnings
    rng = np.random.default_rng(0)
    mag = rng.uniform(0, 10, (2000, 1, 64)).astype(np.float32)
    flow = np.stack([mag, np.zeros_like(mag)], -1)
    lo = mag.min(axis=(1, 2), keepdims=True)
    scale = np.float32(255.0) / (mag.max(axis=(1, 2), keepdims=True) - lo)
    want = np.clip(np.rint((mag - lo) * scale), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(motion.flow_to_hsv(flow, impl="xp")[..., 2], want)
    still = np.zeros((2, 3, 4, 2), np.float32)
    still[1] = 0.5                                                       # uniform speed: no difference either
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for impl in ("xp", "cv2"):
            assert not motion.flow_to_hsv(still, impl=impl)[..., 2].any()


def test_flow_to_hsv_zero_span_on_device(cupy_on_the_cpu):
    still = np.zeros((2, 3, 4, 2), np.float32)
    still[1, 0, 0] = (1.0, 0.0)
    cupy_on_the_cpu.device_path = True
    hsv = motion.flow_to_hsv(_dev(still))
    cupy_on_the_cpu.device_path = False
    assert not hsv.get()[0, ..., 2].any() and hsv.get()[1, 0, 0, 2] == 255


def test_hsv_to_rgb_hues_past_179_like_cv2():
    """uint8 hues 180..255 (outside OpenCV's range, which it wraps by sector) give cv2's colours too."""
    h, v = np.meshgrid(np.arange(180, 256), np.arange(0, 256, 5), indexing="ij")
    hsv = np.stack([h, np.full_like(h, 255), v], -1).astype(np.uint8)
    np.testing.assert_array_equal(motion.hsv_to_rgb(hsv, impl="xp"), cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB))
