"""OpticalFlowGenerator on real encoded videos: API, shapes, ranges, derived generators, bad input."""
import numpy as np
import pytest

import gpuvideo.flow as flow_module
from gpuvideo.flow import (METHOD_ABS_DIFF, METHOD_DIFF_MASK, METHOD_FLOW_MASK, METHOD_OPTICAL_FLOW,
                           OpticalFlowGenerator)
from gpuvideo.generator import VideoFrameGenerator
from gpuvideo.synthetic import moving_shape_frames, write_video

COMMON = dict(batch_size=4, target_shape=(48, 32), shuffle=False, index_cache=None, progress=False, seed=0)


def test_constants_are_keras_videos():
    assert (METHOD_OPTICAL_FLOW, METHOD_FLOW_MASK, METHOD_DIFF_MASK, METHOD_ABS_DIFF) == (1, 2, 3, 4)
    for name in ("METHOD_OPTICAL_FLOW", "METHOD_FLOW_MASK", "METHOD_DIFF_MASK", "METHOD_ABS_DIFF",
                 "OpticalFlowGenerator"):
        assert name in flow_module.__all__


# ---------------------------------------------------------------------------------------------- reference
# Written here with OpenCV only (no gpuvideo code), from the definitions in the README:
# grey = COLOR_RGB2GRAY; abs diff = cv2.absdiff of the grey frames; masks = GaussianBlur 15x15 of the
# difference or of the flow picture, / 255, times the average of the two frames (RGB, or grey for one
# channel); flow picture = Farneback (0.5, flowlevel, winsize, iterations, 5, 1.1, 0) on the grey frames,
# hue = angle / 2, S = 255, V = min-max normalised magnitude, HSV -> RGB (-> grey for one channel).
def _ref_picture(a, b, nb_channel, levels=3, winsize=15, iterations=3):
    import cv2

    if np.array_equal(a, b):
        return np.zeros(a.shape + (nb_channel,), np.uint8)       # still pair: no motion (README)
    flow = cv2.calcOpticalFlowFarneback(a, b, None, 0.5, levels, winsize, iterations, 5, 1.1, 0)
    mag, ang = cv2.cartToPolar(flow[..., 0], flow[..., 1], angleInDegrees=True)
    hsv = np.empty(a.shape + (3,), np.uint8)
    hsv[..., 0] = np.floor(ang / 2 + 0.5).astype(np.int64) % 180
    hsv[..., 1] = 255
    span = float(mag.max() - mag.min())
    hsv[..., 2] = np.rint((mag - mag.min()) * np.float32(255 / span)) if span > 1e-6 else 0
    rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    return rgb if nb_channel == 3 else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)[..., None]


def reference_motion(rgb, method, nb_channel):
    """uint8 RGB frames (T, H, W, 3) -> float32 (T-1, H, W, nb_channel) motion images in pixel units."""
    import cv2

    grey = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in rgb])
    frames = rgb if nb_channel == 3 else grey[..., None]
    out = []
    for t in range(len(rgb) - 1):
        a, b = grey[t], grey[t + 1]
        if method in (METHOD_ABS_DIFF, METHOD_DIFF_MASK):
            picture = cv2.absdiff(a, b)[..., None]
            if method == METHOD_ABS_DIFF:
                out.append(np.repeat(picture, nb_channel, axis=-1).astype(np.float32))
                continue
        else:
            picture = _ref_picture(a, b, nb_channel)
            if method == METHOD_OPTICAL_FLOW:
                out.append(picture.astype(np.float32))
                continue
        blurred = cv2.GaussianBlur(picture.astype(np.float32), (15, 15), 0).reshape(picture.shape)
        average = (frames[t].astype(np.float32) + frames[t + 1].astype(np.float32)) / 2
        out.append(blurred / 255 * average)
    return np.stack(out)


#: tolerance in pixel units: flow pictures may round V one step apart (float32 vs double); the rest is exact
#: up to float32 rounding
TOLERANCE = {METHOD_OPTICAL_FLOW: 1.0, METHOD_FLOW_MASK: 0.02, METHOD_DIFF_MASK: 0.02, METHOD_ABS_DIFF: 0.0}
#: action_dataset's videos have 24 frames; nb_frames=3 reads 4 frames, uniform: floor(i * 23 / 3 + 0.5)
FRAMES_24_4 = [0, 8, 15, 23]
NATIVE = (96, 64)     # action_dataset's frame size: no resize, so the decoded frames are the generator's input


@pytest.mark.parametrize("method", [METHOD_OPTICAL_FLOW, METHOD_FLOW_MASK, METHOD_DIFF_MASK, METHOD_ABS_DIFF])
@pytest.mark.parametrize("nb_channel", [1, 3])
def test_batches_equal_an_opencv_reference(action_dataset, method, nb_channel):
    """gen[1] against motion images computed here with OpenCV on frames decoded with PyAV.

    With shuffle=False and no split, batch b holds the files of gen.files (sorted: class, then name)
    number b*batch_size ... b*batch_size + batch_size - 1; each gives frames FRAMES_24_4.
    """
    from gpuvideo.decode.pyav_reader import decode_all

    gen = OpticalFlowGenerator(glob_pattern=action_dataset, nb_frames=3, method=method, nb_channel=nb_channel,
                               **dict(COMMON, target_shape=NATIVE))
    assert all(s.indices.tolist() == FRAMES_24_4 for s in gen.samples)
    x, y = gen[1]
    assert x.shape == (4, 3, 64, 96, nb_channel) and x.dtype == np.float32
    assert y.shape == (4, 4)
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert x.max() > 0.05          # the shapes move: there is motion to see
    files = gen.files
    assert len(files) == 40
    for k in range(4):
        path = files[4 + k]
        assert gen.classes[int(y[k].argmax())] in path
        want = reference_motion(decode_all(path)[FRAMES_24_4], method, nb_channel)
        assert want.max() > 10     # moving content, not a blank comparison
        np.testing.assert_allclose(x[k] * 255.0, want, rtol=0, atol=TOLERANCE[method] + 1e-3,
                                   err_msg=f"{path} method {method} nb_channel {nb_channel}")


def test_per_pair_methods_equal_the_reference(action_dataset):
    """keras_video's per-pair methods, before rescale, on frames decoded here; gen[0] with rescale 1/100."""
    from gpuvideo.decode.pyav_reader import decode_all

    gen = OpticalFlowGenerator(glob_pattern=action_dataset, nb_frames=2, method=METHOD_FLOW_MASK,
                               rescale=1 / 100.0, **dict(COMMON, target_shape=NATIVE))
    x, _ = gen[0]
    # gen.files[0], frames floor(i * 23 / 2 + 0.5) for i = 0, 1, 2
    clip = decode_all(gen.files[0])[[0, 12, 23]]
    assert clip.dtype == np.uint8 and clip.shape == (3, 64, 96, 3)
    np.testing.assert_allclose(x[0] * 100.0, reference_motion(clip, METHOD_FLOW_MASK, 3), rtol=0, atol=0.02)
    pair = (clip[0], clip[1])
    for method, fn in ((METHOD_FLOW_MASK, gen.flow_mask), (METHOD_DIFF_MASK, gen.diff_mask),
                       (METHOD_ABS_DIFF, gen.absdiff), (METHOD_OPTICAL_FLOW, gen.make_optical_flow)):
        got = fn(pair)
        want = reference_motion(clip[:2], method, 3)[0]
        assert got.shape == (64, 96, 3) and want.max() > 10, method
        np.testing.assert_allclose(np.asarray(got, np.float32), want, rtol=0, atol=TOLERANCE[method] + 1e-3,
                                   err_msg=f"method {method}")
    assert gen.absdiff(pair).dtype == np.uint8 and gen.make_optical_flow(pair).dtype == np.uint8


def test_raw_flow_follows_the_class_direction(action_dataset):
    """Raw (dx, dy): the mean flow where things move points the way the class says."""
    gen = OpticalFlowGenerator(glob_pattern=action_dataset, nb_frames=3, flow_output="raw", **COMMON)
    assert gen.rescale == pytest.approx(1 / 255.0)       # but raw flow is not rescaled
    want = {"down": (0, 1), "left": (-1, 0), "right": (1, 0), "up": (0, -1)}
    checked = 0
    for i in range(2):
        x, y = gen[i]
        assert x.shape[-1] == 2
        for clip, label in zip(x, y.argmax(1)):
            v = clip.reshape(-1, 2)
            fast = v[np.hypot(v[:, 0], v[:, 1]) > 0.5]
            direction = fast.mean(0) / np.linalg.norm(fast.mean(0))
            assert np.dot(direction, want[gen.classes[label]]) > 0.8
            checked += 1
    assert checked == 8


def test_validation_and_test_generators_keep_flow_parameters(action_dataset):
    gen = OpticalFlowGenerator(glob_pattern=action_dataset, nb_frames=2, method=METHOD_DIFF_MASK, flowlevel=1,
                               iterations=2, winsize=9, split_val=0.2, split_test=0.2, nb_channel=1, **COMMON)
    for derived in (gen.get_validation_generator(), gen.get_test_generator()):
        assert isinstance(derived, OpticalFlowGenerator)
        assert (derived.method, derived.flowlevel, derived.iterations, derived.winsize) == (METHOD_DIFF_MASK, 1, 2, 9)
        assert derived.nb_frames == 2 and derived.flow_params == gen.flow_params
        x, _ = derived[0]
        assert x.shape == (4, 2, 32, 48, 1)


def test_flow_parameters_reach_farneback(action_dataset):
    kw = dict(glob_pattern=action_dataset, nb_frames=2, flow_output="raw", **COMMON)
    a = OpticalFlowGenerator(**kw)[0][0]
    b = OpticalFlowGenerator(winsize=5, iterations=1, flowlevel=0, **kw)[0][0]
    assert not np.allclose(a, b)


def test_single_frame_video_gives_zero_motion(tmp_path):
    rng = np.random.default_rng(0)
    write_video(tmp_path / "a" / "one.avi", moving_shape_frames("left", 1, 64, 48, rng), codec="mpeg4")
    write_video(tmp_path / "b" / "many.avi", moving_shape_frames("right", 12, 64, 48, rng), codec="mpeg4")
    for method in (METHOD_OPTICAL_FLOW, METHOD_FLOW_MASK, METHOD_DIFF_MASK, METHOD_ABS_DIFF):
        gen = OpticalFlowGenerator(glob_pattern=str(tmp_path / "{classname}" / "*.avi"), nb_frames=4,
                                   method=method, batch_size=2, target_shape=(64, 48), shuffle=False,
                                   index_cache=None, progress=False)
        x, y = gen[0]
        one = list(gen.classes).index("a")
        assert x.shape == (2, 4, 48, 64, 3)
        np.testing.assert_array_equal(x[one], 0)
        assert x[1 - one].max() > 0


def test_bad_video_is_replaced_like_other_generators(tmp_path):
    rng = np.random.default_rng(1)
    for cls in ("left", "right"):
        for i in range(2):
            write_video(tmp_path / cls / f"v{i}.avi", moving_shape_frames(cls, 8, 64, 48, rng), codec="mpeg4")
    (tmp_path / "left" / "broken.avi").write_bytes(b"not a video at all" * 100)
    kw = dict(glob_pattern=str(tmp_path / "{classname}" / "*.avi"), nb_frames=3, batch_size=2,
              target_shape=(32, 32), shuffle=False, index_cache=None, progress=False)
    gen = OpticalFlowGenerator(**kw)
    base = VideoFrameGenerator(**kw)
    assert [b.path for b in gen.bad_files.items()] == [b.path for b in base.bad_files.items()]
    assert any("broken" in b.path for b in gen.bad_files.items())
    x, _ = gen[0]
    assert x.shape == (2, 3, 32, 32, 3) and np.isfinite(x).all()
    with pytest.raises(Exception):
        OpticalFlowGenerator(on_error="raise", **kw)


def test_bad_arguments_are_refused(action_dataset):
    with pytest.raises(ValueError, match="method"):
        OpticalFlowGenerator(glob_pattern=action_dataset, method=5, **COMMON)
    with pytest.raises(ValueError, match="flow_output"):
        OpticalFlowGenerator(glob_pattern=action_dataset, flow_output="vectors", **COMMON)
    with pytest.raises(ValueError, match="raw"):
        OpticalFlowGenerator(glob_pattern=action_dataset, method=METHOD_ABS_DIFF, flow_output="raw", **COMMON)
    with pytest.raises(ValueError, match="winsize"):
        OpticalFlowGenerator(glob_pattern=action_dataset, winsize=1, **COMMON)
    with pytest.raises(ValueError, match="flow_backend"):
        OpticalFlowGenerator(glob_pattern=action_dataset, flow_backend="gpu", **COMMON)
    with pytest.raises(ValueError, match="nb_frames"):
        OpticalFlowGenerator(glob_pattern=action_dataset, nb_frames=0, **COMMON)
