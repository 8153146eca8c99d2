"""Split samples between training workers (multi-worker ``tf.distribute`` or any launcher)."""
from __future__ import annotations

import json
import logging
import math
import os
import sys

log = logging.getLogger("gpuvideo")


def shard_from_environment() -> tuple[int, int]:
    """``(shard_index, num_shards)`` of this process under a multi-worker strategy, else ``(0, 1)``.

    Reads ``TF_CONFIG`` (set for ``MultiWorkerMirroredStrategy``): one shard per
    worker/chief task; or, when TensorFlow is already imported and a strategy
    with a cluster resolver is active, its task id and worker count.
    """
    raw = os.environ.get("TF_CONFIG")
    if raw:
        try:
            cfg = json.loads(raw)
            cluster, task = cfg.get("cluster", {}), cfg.get("task", {})
            workers = list(cluster.get("chief", [])) + list(cluster.get("worker", []))
            if len(workers) > 1 and task.get("type") in ("chief", "worker"):
                offset = len(cluster.get("chief", [])) if task["type"] == "worker" else 0
                return offset + int(task.get("index", 0)), len(workers)
        except (ValueError, TypeError, KeyError) as e:
            log.warning("ignoring unreadable TF_CONFIG for sharding: %s", e)
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        try:
            if tf.distribute.has_strategy():
                strategy = tf.distribute.get_strategy()
                resolver = getattr(strategy, "cluster_resolver", None)
                n = int(getattr(strategy.extended, "_num_workers", 1) or 1)
                if resolver is not None and n > 1:
                    return int(resolver.task_id), n
        except Exception as e:   # strategies without these attributes
            log.debug("no sharding from tf.distribute: %s", e)
    return 0, 1


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
