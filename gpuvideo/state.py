"""Where a generator stands in its epochs, as a small JSON-able dict, and its validation on restore.

A generator's batches are a pure function of its samples, ``seed``, ``epoch``
and batch index (the epoch order and the random transforms are drawn from
``(seed, epoch)`` and ``(seed, epoch, sample)``), so ``(seed, epoch, position)``
is all it takes to continue exactly where a run stopped. ``position`` is the
number of batches of the epoch already consumed: after
:meth:`~gpuvideo.dataset.VideoDataset.set_state` the generator serves the rest
of that epoch, ``len(gen) = batches - position`` batches, ``gen[i]`` being
batch ``position + i``; the next epoch is whole again.

The state also records what must match for the batches to be the same:
generator class, split, shard, batch size, number of samples and batches,
and ``signature``, a digest of the samples' files, frames and labels (see :func:`signature`).
:class:`EndlessIterator` holds the position and walks the batches with ``next(gen)``.
"""
from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

VERSION = 1

#: keys of a state and what they hold
FIELDS = {
    "gpuvideo_state": "format version",
    "generator": "generator class name",
    "split": "'train', 'validation', 'test' or None",
    "seed": "seed of the epoch order and transforms",
    "epoch": "epoch number (0 for the first)",
    "position": "batches of this epoch already consumed",
    "batches": "batches per epoch",
    "batch_size": "samples per batch",
    "samples": "samples per epoch (this shard's, padded)",
    "shard": "[shard_index, num_shards]",
    "shuffle": "whether the order changes every epoch",
    "signature": "digest of the samples (file, frames, label)",
}
#: what must equal the generator's own value for a state to be restored
_MUST_MATCH = ("generator", "split", "seed", "shard", "batch_size", "samples", "batches", "shuffle", "signature")
_HINTS = {"seed": "build the generator with seed={saved}",
          "shard": "restore each process's own state (shard_index/num_shards as saved)",
          "signature": "the files, their frame counts, the sampling options or the classes differ from the run "
                       "that saved it"}


#: samples hashed by :func:`signature` at most (evenly spaced beyond that, so that it stays fast)
SIGNATURE_SAMPLES = 4096


def signature(gen) -> str:
    """Hex digest (16 chars) of this shard's samples in id order: path, frame indices and label of each
    (of :data:`SIGNATURE_SAMPLES` evenly spaced ones, and the count, when there are more)."""
    h = hashlib.sha256()
    ids = gen._ids
    h.update(str(len(ids)).encode())
    if len(ids) > SIGNATURE_SAMPLES:
        ids = ids[np.linspace(0, len(ids) - 1, SIGNATURE_SAMPLES).round().astype(np.int64)]
    for sample in ids.tolist():
        info, frames = gen._request(sample)
        h.update(str(info.path).encode())
        h.update(b"\0")
        h.update(np.asarray(frames, np.int64).tobytes())
        h.update(str(gen._label_name(sample)).encode())
        h.update(b"\1")
    return h.hexdigest()[:16]


def describe(gen, epoch: int, position: int) -> dict[str, Any]:
    """The state of ``gen`` at ``(epoch, position)`` (see :data:`FIELDS`)."""
    sig = gen.__dict__.get("_signature")
    if sig is None or sig[0] is not gen._ids:
        sig = (gen._ids, signature(gen))
        gen._signature = sig
    return {"gpuvideo_state": VERSION, "generator": type(gen).__name__, "split": getattr(gen, "_kind", None),
            "seed": int(gen.seed), "epoch": int(epoch), "position": int(position),
            "batches": int(gen.batches_per_epoch), "batch_size": int(gen.batch_size),
            "samples": int(gen.epoch_samples), "shard": [int(gen.shard_index), int(gen.num_shards)],
            "shuffle": bool(gen.batching.shuffle), "signature": sig[1]}


def check(gen, state) -> tuple[int, int]:
    """``(epoch, position)`` of ``state`` once it is shown to fit ``gen``; a finished epoch
    (``position == batches``) becomes the start of the next one. Raises ``ValueError`` naming each
    mismatch, with the value saved and the generator's own."""
    if not isinstance(state, dict):
        raise ValueError(f"a generator state is a dict (from get_state()), got {type(state).__name__}")
    missing = [k for k in FIELDS if k not in state]
    if missing:
        raise ValueError(f"not a gpuvideo generator state: missing {missing} (keys: {sorted(state)})")
    if state["gpuvideo_state"] != VERSION:
        raise ValueError(f"generator state version {state['gpuvideo_state']!r}; this gpuvideo reads {VERSION}")
    own = describe(gen, 0, 0)
    saved = {k: (list(v) if isinstance(v, tuple) else v) for k, v in state.items()}
    # the seed matters only when it draws something: an order (shuffle) or random transforms
    seeded = own["shuffle"] or gen._transform is not None
    bad = [k for k in _MUST_MATCH if saved[k] != own[k] and (k != "seed" or seeded)]
    if bad:
        lines = [f"  {k}: saved {saved[k]!r}, this generator {own[k]!r}"
                 + (f" ({_HINTS[k].format(saved=saved[k])})" if k in _HINTS else "") for k in bad]
        raise ValueError("this state was saved by a different generator or data:\n" + "\n".join(lines))
    epoch, position = state["epoch"], state["position"]
    for name, value, top in (("epoch", epoch, None), ("position", position, own["batches"])):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0 or (top is not None and value > top):
            bound = f"[0, {top}]" if top is not None else ">= 0"
            raise ValueError(f"state {name} must be an integer in {bound}, got {value!r}")
    if position == own["batches"]:
        return epoch + 1, 0
    return epoch, position


class EndlessIterator:
    """``next(gen)`` walks the batches forever, calling ``on_epoch_end`` on wrap-around (as keras_video did).

    Its counters are a generator's position: ``_current`` batches handed out by ``next`` in this epoch,
    after ``_offset`` consumed before a restored state."""
    _current = 0
    _offset = 0      # batches of this epoch consumed before a restored state (see :func:`check`)
    _requests = None  # batch indices asked for, in order (a list while ResumeCallback checks the order)

    def __next__(self):
        batch = self[self._current]
        self._current += 1
        if self._current >= len(self):
            self._current = 0
            self.on_epoch_end()
        return batch

    next = __next__
