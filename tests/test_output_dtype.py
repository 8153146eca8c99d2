"""dtype= on every generator: float16/bfloat16 are float32 narrowed, uint8 the decoded values (no rescale)."""
import numpy as np
import pytest

import gpuvideo

KW = dict(nb_frames=3, batch_size=4, target_shape=(32, 24), shuffle=False, index_cache=None, progress=False)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "uint8"])
def test_clip_batches_in_each_dtype(action_dataset, dtype):
    pattern = action_dataset
    ref, _ = gpuvideo.VideoFrameGenerator(glob_pattern=pattern, **KW)[1]
    x, y = gpuvideo.VideoFrameGenerator(glob_pattern=pattern, dtype=dtype, **KW)[1]
    assert str(x.dtype) == dtype and x.shape == ref.shape
    if dtype == "uint8":
        np.testing.assert_array_equal(x, np.rint(ref * 255).astype(np.uint8))      # no rescale
    else:
        np.testing.assert_allclose(x.astype(np.float32), ref, rtol=0, atol=2 ** -7)


def test_timeseries_uint8_and_a_model_that_rescales(index_videos):
    import keras

    gen = gpuvideo.VideoTimeseriesGenerator(index_videos["h264"], (np.arange(60) % 2).astype(np.float32), length=4,
                                            batch_size=8, target_shape=(32, 24), nb_channel=1, index_cache=None,
                                            dtype="uint8")
    ref = gpuvideo.VideoTimeseriesGenerator(index_videos["h264"], None, length=4, batch_size=8, target_shape=(32, 24),
                                            nb_channel=1, index_cache=None)
    x, y = gen[0]
    assert x.dtype == np.uint8 and x.nbytes * 4 == ref[0].nbytes
    np.testing.assert_array_equal(x, np.rint(ref[0] * 255).astype(np.uint8))
    model = keras.Sequential([keras.Input((4, 24, 32, 1)), keras.layers.Rescaling(1 / 255.0),
                              keras.layers.GlobalAveragePooling3D(), keras.layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy")
    history = model.fit(gen, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.parametrize("method", [gpuvideo.METHOD_OPTICAL_FLOW, gpuvideo.METHOD_DIFF_MASK])
def test_flow_uint8_rounds_the_images(action_dataset, method):
    kw = dict(glob_pattern=action_dataset, nb_frames=2, batch_size=2, target_shape=(48, 32), shuffle=False,
              index_cache=None, progress=False, method=method)
    ref, _ = gpuvideo.OpticalFlowGenerator(rescale=None, **kw)[0]
    x, _ = gpuvideo.OpticalFlowGenerator(dtype="uint8", **kw)[0]
    assert x.dtype == np.uint8
    np.testing.assert_array_equal(x, np.clip(np.rint(ref), 0, 255).astype(np.uint8))
    with pytest.raises(ValueError, match="float32 only"):
        gpuvideo.OpticalFlowGenerator(dtype="uint8", flow_output="raw", **{**kw, "method": 1})


def test_transforms_run_in_float_then_store(action_dataset):
    pattern = action_dataset
    flip = lambda clip, rng: clip[:, :, ::-1] * 0.5      # noqa: E731 - halves values: uint8 must round
    ref, _ = gpuvideo.VideoFrameGenerator(glob_pattern=pattern, transformation=flip, rescale=None, **KW)[0]
    x, _ = gpuvideo.VideoFrameGenerator(glob_pattern=pattern, transformation=flip, dtype="uint8", **KW)[0]
    np.testing.assert_array_equal(x, np.rint(ref).astype(np.uint8))
    with pytest.raises(ValueError, match="dtype"):
        gpuvideo.VideoFrameGenerator(glob_pattern=pattern, dtype="int8", **KW)
