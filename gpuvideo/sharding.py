"""Split samples between training processes: ``TF_CONFIG``, ``tf.distribute``, Keras/JAX, ``torchrun``.

Each process serves the samples ``shard_index::num_shards`` (:func:`shard`);
by default the pair comes from the launcher (:func:`shard_from_environment`).
:func:`local_rank` and :func:`default_device_id` say which GPU a process uses.
"""
from __future__ import annotations

import json
import logging
import math
import os
import sys

log = logging.getLogger("gpuvideo")


#: where :func:`shard_from_environment` looks, in this order (the first that describes several processes wins)
SOURCES = ("TF_CONFIG", "tf.distribute", "jax.distributed", "KERAS_DISTRIBUTION", "torch.distributed", "RANK")


def shard_from_environment() -> tuple[int, int]:
    """``(shard_index, num_shards)`` of this process under a multi-process launcher, else ``(0, 1)``.

    Sources, in order of precedence (:data:`SOURCES`); the first that describes
    more than one process wins, and any later one that disagrees is named in a warning:

    1. ``TF_CONFIG`` (``MultiWorkerMirroredStrategy``): one shard per chief/worker task.
    2. A running ``tf.distribute`` strategy with a cluster resolver (TensorFlow already imported).
    3. JAX's distributed runtime (``keras.distribution.initialize()`` or
       ``jax.distributed.initialize()`` already called): ``jax.process_index()``/``process_count()``.
    4. ``KERAS_DISTRIBUTION_PROCESS_ID``/``KERAS_DISTRIBUTION_NUM_PROCESSES`` (what
       ``keras.distribution.initialize()`` reads, before it is called).
    5. A ``torch.distributed`` process group already initialised: its rank and world size.
    6. ``RANK``/``WORLD_SIZE`` (``torchrun`` and other PyTorch launchers).
    """
    found = []
    for name, read in _READERS:
        try:
            got = read()
        except Exception as e:   # a source that cannot be read is skipped, and said why
            log.warning("ignoring unreadable %s for sharding: %s", name, e)
            got = None
        if got is not None and got[1] > 1:
            found.append((name, got))
    if not found:
        return 0, 1
    name, chosen = found[0]
    for other, got in found[1:]:
        if got != chosen:
            log.warning("sharding: %s says shard %d of %d, %s says %d of %d: using %s (pass shard_index/num_shards "
                        "to choose)", name, *chosen, other, *got, name)
    log.info("sharding from %s: shard %d of %d", name, *chosen)
    return chosen


def _from_tf_config():
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return None
    try:
        cfg = json.loads(raw)
        cluster, task = cfg.get("cluster", {}), cfg.get("task", {})
        workers = list(cluster.get("chief", [])) + list(cluster.get("worker", []))
        if len(workers) > 1 and task.get("type") in ("chief", "worker"):
            offset = len(cluster.get("chief", [])) if task["type"] == "worker" else 0
            return offset + int(task.get("index", 0)), len(workers)
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise ValueError(f"TF_CONFIG={raw!r}: {e}") from None
    return None


def _from_tf_strategy():
    tf = sys.modules.get("tensorflow")
    if tf is None or not tf.distribute.has_strategy():
        return None
    strategy = tf.distribute.get_strategy()
    resolver = getattr(strategy, "cluster_resolver", None)
    n = int(getattr(getattr(strategy, "extended", None), "_num_workers", 1) or 1)
    return (int(resolver.task_id), n) if resolver is not None and n > 1 else None


def _from_jax():
    jax = sys.modules.get("jax")
    if jax is None or not jax.distributed.is_initialized():
        return None     # process_count() before initialize() would start a single-process backend
    return int(jax.process_index()), int(jax.process_count())


def _from_keras_env():
    return _env_pair("KERAS_DISTRIBUTION_PROCESS_ID", "KERAS_DISTRIBUTION_NUM_PROCESSES")


def _from_torch():
    dist = sys.modules.get("torch.distributed")
    if dist is None or not dist.is_available() or not dist.is_initialized():
        return None
    return int(dist.get_rank()), int(dist.get_world_size())


def _from_rank_env():
    return _env_pair("RANK", "WORLD_SIZE")


def _env_pair(index_var: str, count_var: str):
    """``(int($index_var), int($count_var))`` when both are set, None when neither is."""
    index, count = os.environ.get(index_var), os.environ.get(count_var)
    if index is None and count is None:
        return None
    if index is None or count is None:
        raise ValueError(f"{index_var}={index!r} and {count_var}={count!r}: set both or neither")
    i, n = int(index), int(count)
    if not 0 <= i < n:
        raise ValueError(f"{index_var}={i} is not in [0, {count_var}={n})")
    return i, n


_READERS = (("TF_CONFIG", _from_tf_config), ("tf.distribute", _from_tf_strategy), ("jax.distributed", _from_jax),
            ("KERAS_DISTRIBUTION", _from_keras_env), ("torch.distributed", _from_torch), ("RANK", _from_rank_env))


def local_rank() -> int:
    """This process's rank on its machine: ``LOCAL_RANK`` (``torchrun``), else 0."""
    raw = os.environ.get("LOCAL_RANK")
    if raw is None:
        return 0
    try:
        rank = int(raw)
    except ValueError:
        raise ValueError(f"LOCAL_RANK must be an integer, got {raw!r}") from None
    if rank < 0:
        raise ValueError(f"LOCAL_RANK must be >= 0, got {rank}")
    return rank


def default_device_id() -> int:
    """The CUDA device this process uses by default: :func:`local_rank`, modulo the devices listed in
    ``CUDA_VISIBLE_DEVICES`` when it is set (launchers that give each process its own device list one)."""
    rank = local_rank()
    visible = [d for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    return rank % len(visible) if visible else rank


def resolve_shard(shard_index: int | None, num_shards: int | None) -> tuple[int, int]:
    """Validated ``(shard_index, num_shards)``; both None means :func:`shard_from_environment`."""
    if shard_index is None and num_shards is None:
        return shard_from_environment()
    if shard_index is None or num_shards is None:
        raise ValueError("give both shard_index and num_shards, or neither")
    if not (int(num_shards) >= 1 and 0 <= int(shard_index) < int(num_shards)):
        raise ValueError(f"need 0 <= shard_index < num_shards, got {shard_index}, {num_shards}")
    return int(shard_index), int(num_shards)


def shard(items: list, shard_index: int, num_shards: int) -> tuple[list, int]:
    """Items ``shard_index::num_shards`` (disjoint, together all items) and the size every shard
    is padded to, ``ceil(len(items) / num_shards)``, so all workers run the same number of steps."""
    if num_shards == 1:
        return list(items), len(items)
    return list(items)[shard_index::num_shards], math.ceil(len(items) / num_shards)
