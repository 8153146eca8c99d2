"""Known motion in, known flow out: shifts (sub-pixel and whole-pixel), rotation and zoom."""
import cv2
import numpy as np
import pytest

from gpuvideo import motion
from gpuvideo.flow import METHOD_OPTICAL_FLOW, OpticalFlowGenerator
from gpuvideo.synthetic import write_video

SIZE, OUT = 200, 128
MARGIN = 8


@pytest.fixture(scope="module")
def texture():
    """Smooth random RGB texture, 200x200 (frames are 128x128 crops of warps of it)."""
    rng = np.random.default_rng(7)
    small = rng.uniform(0, 255, (SIZE // 6, SIZE // 6, 3)).astype(np.float32)
    big = cv2.GaussianBlur(cv2.resize(small, (SIZE, SIZE), interpolation=cv2.INTER_CUBIC), (0, 0), 1.0)
    return np.clip(big, 0, 255).astype(np.uint8)


def _warp(img, m):
    o = (SIZE - OUT) // 2
    w = cv2.warpAffine(img, m, (SIZE, SIZE), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    return w[o:o + OUT, o:o + OUT]


def _truth(m):
    """Flow at each pixel of the first frame: where ``m`` sends it, minus where it is (crop coordinates)."""
    o = (SIZE - OUT) // 2
    ys, xs = np.mgrid[0:OUT, 0:OUT].astype(np.float64) + o
    return np.stack([m[0, 0] * xs + m[0, 1] * ys + m[0, 2] - xs, m[1, 0] * xs + m[1, 1] * ys + m[1, 2] - ys], -1)


def _epe(flow, truth):
    return float(np.hypot(*(flow - truth)[MARGIN:-MARGIN, MARGIN:-MARGIN].transpose(2, 0, 1)).mean())


def _pipeline_flow(a, b):
    return motion.motion_images(np.stack([a, b])[None], METHOD_OPTICAL_FLOW, output="raw")[0, 0]


SHIFTS = [(0.25, 0), (0, 0.5), (-0.75, 0.25), (1, 0), (1, 1), (2, -1), (-2.5, 1.5), (3, 0), (0, -3), (-2, 2)]


@pytest.mark.parametrize("dx, dy", SHIFTS)
def test_shift_is_recovered(texture, dx, dy):
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    flow = _pipeline_flow(_warp(texture, np.float32([[1, 0, 0], [0, 1, 0]])), _warp(texture, m))
    assert _epe(flow, _truth(m)) < 0.2


@pytest.mark.parametrize("angle, scale, limit", [(2.0, 1.0, 0.2), (-3.0, 1.0, 0.25), (0.0, 1.04, 0.2),
                                                 (0.0, 0.97, 0.2), (1.5, 1.02, 0.2)])
def test_rotation_and_zoom_are_recovered(texture, angle, scale, limit):
    m = cv2.getRotationMatrix2D((SIZE / 2 - 0.5, SIZE / 2 - 0.5), angle, scale).astype(np.float32)
    flow = _pipeline_flow(_warp(texture, np.float32([[1, 0, 0], [0, 1, 0]])), _warp(texture, m))
    truth = _truth(m)
    assert np.abs(truth).max() > 1.5       # a real motion, not a no-op
    assert _epe(flow, truth) < limit


@pytest.mark.parametrize("dx, dy", [(2, 0), (0, 2), (-2, 0), (0, -2), (1.5, 1.5), (-1.5, 1.5)])
def test_picture_hue_is_direction(texture, dx, dy):
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    a, b = _warp(texture, np.float32([[1, 0, 0], [0, 1, 0]])), _warp(texture, m)
    flow = motion.motion_images(np.stack([a, b])[None], METHOD_OPTICAL_FLOW, output="raw")
    hue = motion.flow_to_hsv(flow)[0, 0, MARGIN:-MARGIN, MARGIN:-MARGIN, 0].astype(float)
    want = (np.degrees(np.arctan2(dy, dx)) % 360) / 2
    err = np.abs((hue - want + 90) % 180 - 90)      # circular, hue units (2 degrees)
    assert np.median(err) <= 1.0
    # and the RGB picture the generator returns is that HSV picture
    pic = motion.motion_images(np.stack([a, b])[None], METHOD_OPTICAL_FLOW)[0, 0]
    hsv = motion.flow_to_hsv(flow)[0, 0]
    np.testing.assert_array_equal(pic, cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB))


def test_generator_recovers_shift_from_encoded_video(tmp_path, texture):
    """The whole path: encode, decode, sample, Farneback; raw flow in pixels of the target size."""
    d = np.array([1.5, -0.5])
    frames = [_warp(texture, np.float32([[1, 0, k * d[0]], [0, 1, k * d[1]]])) for k in range(4)]
    write_video(tmp_path / "moving" / "shift.avi", frames, codec="mjpeg")
    write_video(tmp_path / "still" / "still.avi", [frames[0]] * 4, codec="mpeg4")   # decodes to identical frames
    gen = OpticalFlowGenerator(glob_pattern=str(tmp_path / "{classname}" / "*.avi"), nb_frames=3,
                               batch_size=2, target_shape=(OUT, OUT), shuffle=False, flow_output="raw",
                               index_cache=None, progress=False)
    x, y = gen[0]
    assert x.shape == (2, 3, OUT, OUT, 2) and x.dtype == np.float32
    moving = x[list(gen.classes).index("moving")]
    for t in range(3):
        epe = np.hypot(*(moving[t, MARGIN:-MARGIN, MARGIN:-MARGIN] - d).transpose(2, 0, 1)).mean()
        assert epe < 0.2
    np.testing.assert_array_equal(x[list(gen.classes).index("still")], 0)
