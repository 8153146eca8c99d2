"""Batches handed to torch / JAX through DLPack without a copy, and to tf.data; Keras training on them."""
import json
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import gpuvideo
from gpuvideo.adapters import DLPackDataset

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class _Spy:
    """A generator stand-in that remembers the last batch it served."""

    def __init__(self, gen):
        self.gen, self.last, self.epochs = gen, None, 0

    def __len__(self):
        return len(self.gen)

    def __getitem__(self, i):
        self.last = self.gen[i]
        return self.last

    def on_epoch_end(self):
        self.epochs += 1
        self.gen.on_epoch_end()


def _gen(pattern, **kw):
    return gpuvideo.VideoFrameGenerator(glob_pattern=pattern, nb_frames=3, batch_size=4, target_shape=(32, 24),
                                        shuffle=False, index_cache=None, progress=False, **kw)


def test_device_batches_on_the_cpu_backend_are_the_same_numpy_batches(action_dataset):
    a, b = _gen(action_dataset, device_batches=True), _gen(action_dataset)
    (xa, ya), (xb, yb) = a[0], b[0]
    assert type(xa) is np.ndarray and type(ya) is np.ndarray
    np.testing.assert_array_equal(xa, xb)
    np.testing.assert_array_equal(ya, yb)


def test_to_torch_shares_the_batch_memory(action_dataset):
    torch = pytest.importorskip("torch")
    spy = _Spy(_gen(action_dataset))
    ds = DLPackDataset(spy, torch.from_dlpack)
    tx, ty = ds[1]
    x, y = spy.last
    assert isinstance(tx, torch.Tensor) and tx.shape == x.shape and tx.dtype == torch.float32
    assert tx.data_ptr() == x.ctypes.data and ty.data_ptr() == y.ctypes.data      # no copy
    assert len(ds) == len(spy)
    ds.on_epoch_end()
    assert spy.epochs == 1
    assert isinstance(gpuvideo.to_torch(_gen(action_dataset))[0][0], torch.Tensor)


def test_to_jax_values(action_dataset):
    """In a subprocess: JAX starts threads, and later tests fork Keras workers."""
    pytest.importorskip("jax")
    code = textwrap.dedent(f"""
        import numpy as np, jax, gpuvideo
        gen = gpuvideo.VideoFrameGenerator(glob_pattern={action_dataset!r}, nb_frames=3, batch_size=4,
                                           target_shape=(32, 24), shuffle=False, index_cache=None, progress=False)
        jx, jy = gpuvideo.to_jax(gen)[0]
        x, y = gen[0]
        assert isinstance(jx, jax.Array) and isinstance(jy, jax.Array)
        np.testing.assert_array_equal(np.asarray(jx), x)
        np.testing.assert_array_equal(np.asarray(jy), y)
        print("OK")
    """)
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0 and "OK" in out.stdout, out.stderr[-3000:]


#: epochs of the training runs below; their losses must be finite, end lower than they start and end below
#: chance (ln 4 = 1.386 for the 4 balanced classes of the moving-shapes sets: a model that learnt nothing)
FIT_EPOCHS = 8
CHANCE_LOSS = 1.386


def _fit_with_to_torch(pattern, timeout, **gen_kw):
    """``model.fit(gpuvideo.to_torch(gen))`` on the torch Keras backend, in a subprocess; its per-epoch losses.

    The same script serves the host batches (CPU backend, here) and the device batches (GPU test below), so
    the loss check of the GPU run is exercised on every machine."""
    code = textwrap.dedent(f"""
        import json, os
        os.environ["KERAS_BACKEND"] = "torch"
        import keras, torch, gpuvideo
        keras.utils.set_random_seed(0)
        gen = gpuvideo.VideoFrameGenerator(glob_pattern={pattern!r}, nb_frames=3, batch_size=4,
                                           target_shape=(32, 24), seed=0, index_cache=None, progress=False,
                                           **{gen_kw!r})
        ds = gpuvideo.to_torch(gen)
        print("ON_CUDA", bool(ds[0][0].is_cuda))
        model = keras.Sequential([keras.Input((3, 24, 32, 3)), keras.layers.Flatten(),
                                  keras.layers.Dense(gen.classes_count, activation="softmax")])
        model.compile(keras.optimizers.Adam(3e-4), "categorical_crossentropy")
        hist = model.fit(ds, epochs={FIT_EPOCHS}, verbose=0)
        print("LOSSES", json.dumps([float(v) for v in hist.history["loss"]]))
    """)
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines() if line.startswith(("LOSSES ", "ON_CUDA ")))
    return json.loads(lines["LOSSES"]), lines["ON_CUDA"] == "True"


def _check_training(losses):
    """The run learnt: one finite loss per epoch, the last below the first and below chance."""
    assert len(losses) == FIT_EPOCHS and all(math.isfinite(v) for v in losses), losses
    assert losses[-1] < losses[0], f"loss did not decrease over {FIT_EPOCHS} epochs: {losses}"
    assert losses[-1] < CHANCE_LOSS, f"final loss {losses[-1]:.3f} not below chance ({CHANCE_LOSS}): {losses}"


def test_model_fit_on_the_torch_backend_with_to_torch(small_actions):
    """The GPU training test's script and loss check on host batches (measured: 1.64 -> 1.03 over 8 epochs)."""
    pytest.importorskip("torch")
    losses, on_cuda = _fit_with_to_torch(small_actions, 300)
    assert not on_cuda
    _check_training(losses)


@pytest.mark.tensorflow
def test_to_tf_dataset_yields_the_epoch(action_dataset):
    gen = _gen(action_dataset)
    batches = list(gpuvideo.to_tf_dataset(gen))
    assert len(batches) == len(gen)
    np.testing.assert_array_equal(batches[0][0].numpy(), _gen(action_dataset)[0][0])


# ----------------------------------------------------------------------------- on a GPU

@pytest.fixture(scope="module")
def small_actions(tmp_path_factory):
    """4 classes x 4 moving-shape videos: the GPU tests' data, and the CPU training run that checks their loss test."""
    from gpuvideo.synthetic import make_action_dataset
    root = tmp_path_factory.mktemp("gpu_actions")
    return make_action_dataset(root, videos_per_class=4, nb_frames=24, width=96, height=64, progress=False)


@pytest.mark.gpu
def test_gpu_batches_stay_on_the_device_and_reach_torch_without_copy(small_actions):
    cupy = pytest.importorskip("cupy")
    torch = pytest.importorskip("torch")
    gen = _gen(small_actions, backend="gpu", device_batches=True)
    spy = _Spy(gen)
    tx, ty = DLPackDataset(spy, torch.from_dlpack)[0]
    x, y = spy.last
    assert isinstance(x, cupy.ndarray) and isinstance(y, cupy.ndarray)
    assert tx.is_cuda and tx.data_ptr() == x.data.ptr and ty.data_ptr() == y.data.ptr
    host = _gen(small_actions, backend="cpu")[0][0]
    assert np.abs(cupy.asnumpy(x) - host).max() * 255 <= 5        # same frames (decoder colour conversion)


@pytest.mark.gpu
def test_model_fit_on_gpu_decoded_batches_torch_backend(small_actions):
    pytest.importorskip("torch")
    losses, on_cuda = _fit_with_to_torch(small_actions, 600, backend="gpu", device_batches=True)
    assert on_cuda
    _check_training(losses)
