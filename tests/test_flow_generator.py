"""OpticalFlowGenerator on real encoded videos: API, shapes, ranges, derived generators, bad input."""
import numpy as np
import pytest

import gpuvideo.flow as flow_module
from gpuvideo import motion
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


@pytest.mark.parametrize("method", [METHOD_OPTICAL_FLOW, METHOD_FLOW_MASK, METHOD_DIFF_MASK, METHOD_ABS_DIFF])
@pytest.mark.parametrize("nb_channel", [1, 3])
def test_batches_shape_and_range(action_dataset, method, nb_channel):
    gen = OpticalFlowGenerator(glob_pattern=action_dataset, nb_frames=3, method=method, nb_channel=nb_channel,
                               **COMMON)
    assert gen._frames_per_sample() == 4
    assert all(len(s.indices) == 4 for s in gen.samples)
    x, y = gen[1]
    assert x.shape == (4, 3, 32, 48, nb_channel) and x.dtype == np.float32
    assert y.shape == (4, 4)
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert x.max() > 0.05          # the shapes move: there is motion to see


def test_pipeline_equals_motion_ops_on_decoded_frames(action_dataset):
    """gen[i] = rescale(motion_images(uint8 RGB clip at target size)), per sample."""
    gen = OpticalFlowGenerator(glob_pattern=action_dataset, nb_frames=2, method=METHOD_FLOW_MASK,
                               rescale=1 / 100.0, **COMMON)
    x, _ = gen[0]
    clip = gen.decoded_clip(gen.batch_info(0)[0].sample)
    assert clip.dtype == np.uint8 and clip.shape == (3, 32, 48, 3)
    np.testing.assert_allclose(x[0], motion.motion_images(clip, METHOD_FLOW_MASK) / 100.0, rtol=1e-5, atol=1e-5)
    # the per-pair methods of keras_video give the same images (before rescale)
    np.testing.assert_allclose(gen.flow_mask((clip[0], clip[1])), x[0, 0] * 100.0, rtol=1e-4, atol=1e-3)
    np.testing.assert_array_equal(gen.make_optical_flow((clip[1], clip[2])),
                                  motion.motion_images(clip[1:], METHOD_OPTICAL_FLOW)[0])
    np.testing.assert_array_equal(gen.absdiff((clip[0], clip[1])),
                                  motion.motion_images(clip[:2], METHOD_ABS_DIFF)[0])
    assert gen.diff_mask((clip[0], clip[1])).shape == (32, 48, 3)


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
