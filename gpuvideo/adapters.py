"""Generators as framework datasets (host arrays; device-resident batches come with the GPU backend)."""
from __future__ import annotations


def to_tf_dataset(gen, repeat: bool = False):
    """A ``tf.data.Dataset`` of ``gen``'s batches, one epoch (or endless with ``repeat``).

    Auto-sharding is turned off: gpuvideo generators shard their samples
    themselves (``shard_index``/``num_shards``), so under a multi-worker
    strategy each worker's dataset is already its own share. ``on_epoch_end``
    runs after each pass.
    """
    import tensorflow as tf

    x0, y0 = gen[0]
    spec = (tf.TensorSpec((None,) + x0.shape[1:], tf.as_dtype(x0.dtype)),
            tf.TensorSpec((None,) + y0.shape[1:], tf.as_dtype(y0.dtype)))

    def batches():
        while True:
            for i in range(len(gen)):
                yield gen[i]
            gen.on_epoch_end()
            if not repeat:
                return

    ds = tf.data.Dataset.from_generator(batches, output_signature=spec)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return ds.with_options(options).prefetch(2)
