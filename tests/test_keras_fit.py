"""The generators drive Keras 3's model.fit, with thread and process workers."""
import subprocess
import sys

import numpy as np
import pytest

from gpuvideo import VideoFrameGenerator


def _tiny_model(nb_frames, h, w, c, classes):
    import keras

    model = keras.Sequential([
        keras.Input((nb_frames, h, w, c)),
        keras.layers.Conv3D(4, 3, activation="relu"),
        keras.layers.GlobalAveragePooling3D(),
        keras.layers.Dense(classes, activation="softmax"),
    ])
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.mark.parametrize("workers,mp", [(1, False), (2, False), (2, True)])
def test_model_fit_with_workers(action_dataset, workers, mp):
    gen = VideoFrameGenerator(glob_pattern=action_dataset, nb_frames=4, batch_size=4, target_shape=(32, 24),
                              split_val=0.25, seed=0, index_cache=None, progress=False,
                              workers=workers, use_multiprocessing=mp)
    assert gen.workers == workers and gen.use_multiprocessing == mp
    val = gen.get_validation_generator()
    model = _tiny_model(4, 24, 32, 3, gen.classes_count)
    hist = model.fit(gen, validation_data=val, epochs=2, verbose=0)
    assert len(hist.history["loss"]) == 2 and np.isfinite(hist.history["loss"]).all()
    assert "val_accuracy" in hist.history
    assert len(gen.bad_files) == 0


def test_import_needs_no_gpu_library():
    code = ("import sys, gpuvideo, gpuvideo.generator, gpuvideo.sliding; "
            "bad = [m for m in ('cupy', 'nvidia.dali') if m in sys.modules]; "
            "assert not bad, bad; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_other_keras_backends_import_and_batch(action_dataset, backend):
    pytest.importorskip(backend)
    code = (f"import os; os.environ['KERAS_BACKEND']='{backend}'; import gpuvideo; "
            f"g = gpuvideo.VideoFrameGenerator(glob_pattern={action_dataset!r}, nb_frames=2, batch_size=2, "
            f"target_shape=(16, 16), index_cache=None, progress=False); x, y = g[0]; assert x.shape == (2, 2, 16, 16, 3)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
