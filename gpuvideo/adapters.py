"""Generators as framework datasets.

- :func:`to_tf_dataset`: a ``tf.data.Dataset`` of host batches (for multi-worker strategies).
- :func:`to_torch` / :func:`to_jax`: a ``keras.utils.PyDataset`` whose batches are torch / JAX
  arrays handed over through DLPack, without a copy: with ``device_batches=True`` on the GPU
  backend the CuPy batch becomes a CUDA tensor at the same device address; host (NumPy)
  batches become CPU tensors sharing their memory. Use them in a custom loop or in
  ``model.fit`` with ``KERAS_BACKEND=torch`` / ``jax``.
"""
from __future__ import annotations

import keras

from .ops import to_host


def to_tf_dataset(gen, repeat: bool = False):
    """A ``tf.data.Dataset`` of ``gen``'s batches, one epoch (or endless with ``repeat``).

    Auto-sharding is turned off: gpuvideo generators shard their samples
    themselves (``shard_index``/``num_shards``), so under a multi-worker
    strategy each worker's dataset is already its own share. ``on_epoch_end``
    runs after each pass. Batches pass through host memory. Needs TensorFlow
    (``pip install 'gpuvideo[tensorflow]'``); on other Keras backends pass the generator
    itself to ``model.fit``, or use :func:`to_torch` / :func:`to_jax`.
    """
    try:
        import tensorflow as tf
    except ImportError as e:
        raise ImportError(f"to_tf_dataset needs TensorFlow ({e}): pip install 'gpuvideo[tensorflow]'. Without it, "
                          f"pass the generator itself to model.fit (any Keras backend) or use gpuvideo.to_torch / "
                          f"gpuvideo.to_jax") from None

    x0, y0 = (to_host(a) for a in gen[0])
    spec = (tf.TensorSpec((None,) + x0.shape[1:], tf.as_dtype(x0.dtype)),
            tf.TensorSpec((None,) + y0.shape[1:], tf.as_dtype(y0.dtype)))

    def batches():
        while True:
            for i in range(len(gen)):
                x, y = gen[i]
                yield to_host(x), to_host(y)
            gen.on_epoch_end()
            if not repeat:
                return

    ds = tf.data.Dataset.from_generator(batches, output_signature=spec)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return ds.with_options(options).prefetch(2)




class DLPackDataset(keras.utils.PyDataset):
    """``gen``'s batches converted by ``convert`` (a DLPack importer); same length and epochs as ``gen``."""

    def __init__(self, gen, convert, workers: int = 1, use_multiprocessing: bool = False, max_queue_size: int = 10):
        super().__init__(workers=workers, use_multiprocessing=use_multiprocessing, max_queue_size=max_queue_size)
        self.gen = gen
        self._convert = convert

    def __len__(self) -> int:
        return len(self.gen)

    def __getitem__(self, index: int):
        return tuple(self._convert(a) for a in self.gen[index])

    def on_epoch_end(self):
        self.gen.on_epoch_end()


def to_torch(gen, **kwargs) -> DLPackDataset:
    """Batches as ``torch.Tensor`` (``torch.from_dlpack``: same memory, CUDA for GPU batches)."""
    import torch

    return DLPackDataset(gen, torch.from_dlpack, **kwargs)


def to_jax(gen, **kwargs) -> DLPackDataset:
    """Batches as ``jax.Array`` (``jax.dlpack.from_dlpack``; JAX may copy host arrays it cannot align)."""
    import jax.dlpack

    return DLPackDataset(gen, jax.dlpack.from_dlpack, **kwargs)
