"""flow_compat='keras_video' equals keras-video-generators 1.0.14's own motion methods on the same frames.

keras_video is a test/benchmark-only dependency (``pip install --no-deps keras-video-generators==1.0.14``,
done by ``make test``), imported through ``gpuvideo.benchmarking.import_keras_video``.
"""

import numpy as np
import pytest

import gpuvideo
from gpuvideo.flow_compat import keras_video_frames, keras_video_motion, keras_video_pair
from gpuvideo.synthetic import moving_shape_frames

METHODS = [gpuvideo.METHOD_OPTICAL_FLOW, gpuvideo.METHOD_FLOW_MASK, gpuvideo.METHOD_DIFF_MASK,
           gpuvideo.METHOD_ABS_DIFF]


@pytest.fixture(scope="module")
def keras_video():
    from gpuvideo.benchmarking import import_keras_video

    try:
        return import_keras_video()
    except ImportError as e:
        pytest.skip(f"keras-video-generators 1.0.14 not installed: {e}")


def _kv_generator(keras_video, nb_channel):
    cls = keras_video.flow.OpticalFlowGenerator
    gen = cls.__new__(cls)          # only the per-pair methods are used: no file scan
    gen.nb_channel, gen.flowlevel, gen.iterations, gen.winsize = nb_channel, 3, 3, 15
    return gen


@pytest.mark.tensorflow
@pytest.mark.parametrize("nb_channel", [3, 1])
@pytest.mark.parametrize("method", METHODS)
def test_pairs_equal_keras_video(keras_video, method, nb_channel):
    from keras.preprocessing.image import img_to_array

    clip = moving_shape_frames("right", 3, 64, 48, np.random.default_rng(1014 + 10 * method + nb_channel))
    frames = keras_video_frames(clip, nb_channel, 1 / 255.0)
    kv = _kv_generator(keras_video, nb_channel)
    kv_method = {gpuvideo.METHOD_OPTICAL_FLOW: kv.make_optical_flow, gpuvideo.METHOD_FLOW_MASK: kv.flow_mask,
                 gpuvideo.METHOD_DIFF_MASK: kv.diff_mask, gpuvideo.METHOD_ABS_DIFF: kv.absdiff}[method]
    for t in range(2):
        want = img_to_array(kv_method((frames[t], frames[t + 1])))
        got = keras_video_pair(frames[t], frames[t + 1], method, nb_channel)
        assert got.shape == want.shape and got.dtype == np.float32
        np.testing.assert_array_equal(got, want)


def test_generator_compat_output_is_keras_videos_and_differs_from_the_default(action_dataset):
    kw = dict(glob_pattern=action_dataset, nb_frames=3, batch_size=2, target_shape=(48, 32), shuffle=False,
              index_cache=None, progress=False)
    old = gpuvideo.OpticalFlowGenerator(flow_compat="keras_video", split_val=0.3, seed=0, **kw)
    new = gpuvideo.OpticalFlowGenerator(split_val=0.3, seed=0, **kw)
    assert old.get_validation_generator().flow_compat == "keras_video"
    x_old, _ = old[0]
    x_new, _ = new[0]
    clip = old.decoded_clip(old.batch_info(0)[0].sample)
    np.testing.assert_array_equal(x_old[0], keras_video_motion(clip, gpuvideo.METHOD_OPTICAL_FLOW, 3, 1 / 255.0))
    assert x_old.min() < 0          # the out-of-range colours keras_video produced
    assert 0 <= x_new.min() and x_new.max() <= 1
    with pytest.raises(ValueError, match="flow_compat"):
        gpuvideo.OpticalFlowGenerator(flow_compat="v2", **kw)
