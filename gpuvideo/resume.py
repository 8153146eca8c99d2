"""``ResumeCallback``: ``model.fit`` stopped mid-epoch and restarted continues with exactly the same batches.

Keras 3's ``BackupAndRestore`` saves the weights and the epoch number only: a
run restarted from a mid-epoch backup (``save_freq=N``) replays the interrupted
epoch from its first batch. This callback saves, in one directory, the model's
weights (optimizer included, ``model.save_weights``) and the generator's state
(:mod:`gpuvideo.state`) at the same moment, and on restart it restores both:
the interrupted epoch goes on from the first batch the model had not received.

Position means batches *delivered to the model* (``on_train_batch_end``), not
batches read: Keras's workers read up to ``max_queue_size`` batches ahead, and
those are read again after a restart. The resumed epoch is shorter (Keras
notices that the generator ends early and moves on to the next epoch; its
"ran out of data" warning is silenced for that epoch).

Files in ``directory``: ``gpuvideo-resume.json`` (``gpuvideo-resume.shard-I-of-N.json``
for shard I of N) names the weights file ``resume-eEEEEE-bBBBBBB.weights.h5``
it goes with; the JSON file is replaced atomically after the weights are
written, so a crash while saving leaves the previous pair intact.
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
import warnings

import keras

log = logging.getLogger("gpuvideo")

_RAN_OUT = "Your input ran out of data"


class ResumeCallback(keras.callbacks.Callback):
    """Save the weights and ``generator``'s position every ``save_freq`` (``"epoch"`` or a number of
    batches) in ``directory``, and restore both when ``model.fit`` starts (use it instead of
    ``keras.callbacks.BackupAndRestore``).

    Needs ``model.fit(generator, shuffle=False, callbacks=[cb])``: the generator shuffles its
    samples itself (seeded), while Keras's own ``shuffle=True`` (the default) draws the batch order
    from Python's unseeded ``random``; a shuffled order is detected and raises. ``save_weights``:
    write the weights (default: on shard 0 only; every process writes its own generator state).
    ``delete_on_end``: remove the files when training completes.
    """

    def __init__(self, generator, directory: str | os.PathLike, save_freq="epoch", save_weights: bool | None = None,
                 delete_on_end: bool = False):
        super().__init__()
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1):
            raise ValueError(f"save_freq must be 'epoch' or a number of batches >= 1, got {save_freq!r}")
        self.generator = generator
        self.directory = os.fspath(directory)
        self.save_freq = save_freq
        self.save_weights = generator.shard_index == 0 if save_weights is None else bool(save_weights)
        self.delete_on_end = bool(delete_on_end)
        suffix = "" if generator.num_shards == 1 else f".shard-{generator.shard_index}-of-{generator.num_shards}"
        self.state_path = os.path.join(self.directory, f"gpuvideo-resume{suffix}.json")
        self._pending = None      # restored record, applied when its epoch begins
        # set when an epoch begins: Keras epoch, generator epoch, restored position, batches delivered
        self._since_save = 0
        self._filter = None

    # ------------------------------------------------------------------ restore
    def on_train_begin(self, logs=None):
        steps = (self.params or {}).get("steps")
        if steps is not None and steps != self.generator.batches_per_epoch:
            raise ValueError(f"ResumeCallback needs whole epochs of the generator ({self.generator.batches_per_epoch} "
                             f"batches), but fit runs {steps} steps per epoch: leave steps_per_epoch unset")
        record = self.load()
        if record is None:
            return
        self._check(record)
        if record.get("weights"):
            self._load_weights(os.path.join(self.directory, record["weights"]))
        self.model._initial_epoch = record["keras_epoch"]    # what keras.callbacks.BackupAndRestore sets too
        self._pending = record
        log.info("resuming at epoch %d, batch %d (from %s)", record["keras_epoch"],
                 record["generator"]["position"], self.state_path)

    def load(self) -> dict | None:
        """The saved record ``{"keras_epoch", "generator" (state), "weights"}``, or None when there is none."""
        if not os.path.exists(self.state_path):
            return None
        try:
            with open(self.state_path, encoding="utf-8") as f:
                record = json.load(f)
        except (OSError, ValueError) as e:
            raise ValueError(f"cannot read the resume state {self.state_path}: {e}") from e
        if not isinstance(record, dict) or not {"keras_epoch", "generator", "weights"} <= set(record):
            raise ValueError(f"{self.state_path} is not a gpuvideo resume state")
        return record

    def _check(self, record) -> None:
        from .state import check

        try:
            check(self.generator, record["generator"])
        except ValueError as e:
            raise ValueError(f"cannot resume from {self.state_path}: {e}") from None

    def _load_weights(self, path: str) -> None:
        if not os.path.exists(path):
            raise ValueError(f"{self.state_path} names the weights {path}, which do not exist")
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.model.trainable_variables)   # so that its variables load too
        self.model.load_weights(path)

    # ------------------------------------------------------------------ follow the epoch
    def on_epoch_begin(self, epoch, logs=None):
        gen = self.generator
        if self._pending is not None and epoch == self._pending["keras_epoch"]:
            gen.set_state(self._pending["generator"])
            if gen._offset:
                warnings.filterwarnings("ignore", message=_RAN_OUT, category=UserWarning)
                self._filter = warnings.filters[0]
        self._pending = None
        self._epoch, self._gen_epoch, self._start, self._delivered = epoch, gen.epoch, gen._offset, 0
        gen._requests = []

    def on_train_batch_end(self, batch, logs=None):
        self._delivered, step = batch + 1, batch + 1 - self._delivered
        if self.save_freq != "epoch":
            self._since_save += step
            if self._since_save >= self.save_freq:
                self._since_save = 0
                self.save()

    def on_epoch_end(self, epoch, logs=None):
        self._check_order()
        self._drop_filter()
        if self.save_freq == "epoch":
            self.save()

    def on_train_end(self, logs=None):
        """Save where training ended (so a later ``fit`` with more epochs goes on from there), or delete
        the files with ``delete_on_end``."""
        self._drop_filter()
        if not self.delete_on_end and hasattr(self, "_epoch"):
            self.save()
        self.generator._requests = None
        if self.delete_on_end:
            for name in os.listdir(self.directory) if os.path.isdir(self.directory) else []:
                if name == os.path.basename(self.state_path) or name.startswith("resume-e"):
                    os.remove(os.path.join(self.directory, name))

    def _drop_filter(self) -> None:
        if self._filter is not None:
            try:
                warnings.filters.remove(self._filter)
            except ValueError:
                pass
            self._filter = None

    def _check_order(self) -> None:
        """Raise when the batches were not asked for in order (``model.fit(shuffle=True)``). Thread workers
        take them in order but may start them a few places apart; forked workers are not seen here."""
        asked = self.generator._requests or []
        slack = max(1, self.generator.workers)
        if any(abs(index - k) > slack for k, index in enumerate(asked)):
            raise ValueError("model.fit asked for the batches out of order (its shuffle=True, the default): pass "
                             "shuffle=False to fit; the generator shuffles its samples itself, from its seed")

    # ------------------------------------------------------------------ save
    def save(self) -> None:
        """Write the weights and the position after the batches delivered so far (called on schedule)."""
        self._check_order()
        gen = self.generator
        position = self._start + self._delivered
        keras_epoch, gen_epoch = self._epoch, self._gen_epoch
        if position >= gen.batches_per_epoch:      # a finished epoch: resume at the start of the next
            keras_epoch, gen_epoch, position = keras_epoch + 1, gen_epoch + 1, 0
        from .state import describe

        weights = f"resume-e{keras_epoch:06d}-b{position:07d}.weights.h5" if self.save_weights else None
        os.makedirs(self.directory, exist_ok=True)
        if weights:
            self.model.save_weights(os.path.join(self.directory, weights), overwrite=True)
        record = {"keras_epoch": keras_epoch, "generator": describe(gen, gen_epoch, position), "weights": weights}
        old = self.load() if os.path.exists(self.state_path) else None
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".gpuvideo-resume-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(record, f)
        os.replace(tmp, self.state_path)
        if old and old.get("weights") and old["weights"] != weights:
            try:
                os.remove(os.path.join(self.directory, old["weights"]))
            except OSError:
                pass
