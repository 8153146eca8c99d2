"""Resumable epochs: get_state/set_state, and model.fit stopped mid-epoch then restarted with ResumeCallback
delivers exactly the batches (and ends with the weights) of an uninterrupted run."""
import hashlib
import json
import os

import numpy as np
import pytest

import gpuvideo
from gpuvideo import ResumeCallback, VideoFrameGenerator, VideoTimeseriesGenerator


def _jitter(clip, rng):
    """A random transform whose draw depends on (seed, epoch, sample)."""
    return clip * np.float32(rng.uniform(0.5, 1.0))


def _gen(pattern, **kw):
    args = dict(glob_pattern=pattern, nb_frames=2, batch_size=8, target_shape=(16, 12), seed=3, shuffle=True,
                transformation=_jitter, index_cache=None, progress=False)
    args.update(kw)
    return VideoFrameGenerator(**args)


def _digest(batch) -> str:
    x, y = batch
    return hashlib.sha1(np.ascontiguousarray(x).tobytes() + np.ascontiguousarray(y).tobytes()).hexdigest()[:16]


def test_next_resumes_mid_epoch_across_epochs(action_dataset):
    gen = _gen(action_dataset)
    assert len(gen) == gen.batches_per_epoch == 5
    whole = [_digest(next(gen)) for _ in range(13)]          # 2 epochs and 3 batches
    first = _gen(action_dataset)
    got = [_digest(next(first)) for _ in range(7)]
    state = json.loads(json.dumps(first.get_state()))       # JSON round trip
    assert (state["epoch"], state["position"], state["seed"], state["shard"]) == (1, 2, 3, [0, 1])
    again = _gen(action_dataset)
    again.set_state(state)
    assert len(again) == 3 and again.batches_per_epoch == 5
    got += [_digest(next(again)) for _ in range(6)]
    assert got == whole
    assert len(again) == 5                                   # the next epoch is whole again


def test_indexing_after_set_state_and_a_finished_epoch(action_dataset):
    ref = _gen(action_dataset)
    ref.on_epoch_end()
    ref.on_epoch_end()
    gen = _gen(action_dataset)
    state = gen.get_state()
    state.update(epoch=1, position=5)                        # epoch 1 finished: epoch 2 starts
    gen.set_state(state)
    assert gen.epoch == 2 and len(gen) == 5
    assert [_digest(gen[i]) for i in range(5)] == [_digest(ref[i]) for i in range(5)]
    state.update(epoch=2, position=4)
    gen.set_state(state)
    assert len(gen) == 1 and _digest(gen[0]) == _digest(ref[4])
    assert [s.sample for s in gen.batch_info(0)] == [s.sample for s in ref.batch_info(4)]
    with pytest.raises(IndexError):
        gen[1]


def test_sharded_and_timeseries_states(action_dataset, index_videos):
    parts = [_gen(action_dataset, shard_index=i, num_shards=2) for i in range(2)]
    states = [p.get_state() for p in parts]
    with pytest.raises(ValueError, match=r"shard: saved \[1, 2\], this generator \[0, 2\]"):
        parts[0].set_state(states[1])
    ts = VideoTimeseriesGenerator(index_videos["h264"], length=4, stride=2, batch_size=5, shuffle=True, seed=1,
                                  target_shape=(16, 12), index_cache=None)
    whole = [np.asarray(next(ts)).sum() for _ in range(8)]
    ts2 = VideoTimeseriesGenerator(index_videos["h264"], length=4, stride=2, batch_size=5, shuffle=True, seed=1,
                                   target_shape=(16, 12), index_cache=None)
    state = dict(ts.get_state(), epoch=0, position=3)
    ts2.set_state(state)
    assert [np.asarray(next(ts2)).sum() for _ in range(5)] == whole[3:]


def test_set_state_says_what_does_not_match(action_dataset, tmp_path):
    gen = _gen(action_dataset)
    state = gen.get_state()
    with pytest.raises(ValueError, match=r"seed: saved 3, this generator 4 \(build the generator with seed=3\)"):
        _gen(action_dataset, seed=4).set_state(state)
    with pytest.raises(ValueError, match=r"batch_size: saved 8, this generator 4"):
        _gen(action_dataset, batch_size=4).set_state(state)
    with pytest.raises(ValueError, match=r"signature: .*frame counts, the sampling options"):
        _gen(action_dataset, nb_frames=3).set_state(state)
    with pytest.raises(ValueError, match="split: saved 'train', this generator 'validation'"):
        _gen(action_dataset, split_val=0.5).get_validation_generator().set_state(
            _gen(action_dataset, split_val=0.5).get_state())
    for bad, needle in [(dict(state, position=6), r"position must be an integer in \[0, 5\]"),
                        (dict(state, epoch=-1), "epoch must be"), (dict(state, gpuvideo_state=9), "version 9"),
                        ({"epoch": 1}, "missing"), ([1, 2], "is a dict")]:
        with pytest.raises(ValueError, match=needle):
            gen.set_state(bad)
    # the seed does not matter when nothing is drawn from it
    plain = _gen(action_dataset, shuffle=False, transformation=None, seed=None)
    plain.set_state(dict(plain.get_state(), seed=99, position=2))
    assert len(plain) == 3


# ---------------------------------------------------------------------------------------------- model.fit
def _fit(gen, directory, log, epochs, stop_at=None, save_freq=2, shuffle=False):
    """Train a small model on ``gen`` with a ResumeCallback; record a digest of every batch the model
    receives; raise KeyboardInterrupt after batch ``stop_at = (epoch, batch)``."""
    import keras

    class Recorder(keras.layers.Layer):
        def call(self, x, training=None):
            if training:
                try:
                    log.append(hashlib.sha1(keras.ops.convert_to_numpy(x).tobytes()).hexdigest()[:16])
                except Exception:      # symbolic build
                    pass
            return x

    class Stop(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if stop_at == (self.epoch, batch):
                raise KeyboardInterrupt("stopped on purpose")

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2, 12, 16, 3)), Recorder(), keras.layers.Flatten(),
                              keras.layers.Dense(gen.classes_count, activation="softmax")])
    model.compile(keras.optimizers.Adam(0.01), "categorical_crossentropy", run_eagerly=True)
    cb = ResumeCallback(gen, directory, save_freq=save_freq)
    try:
        model.fit(gen, epochs=epochs, verbose=0, shuffle=shuffle, callbacks=[cb, Stop()])
    except KeyboardInterrupt:
        return None, cb
    return model.get_weights(), cb


# one worker also runs in CI's torch-backend job (which leaves out "slow" tests)
@pytest.mark.parametrize("workers,mp", [(1, False), pytest.param(2, False, marks=pytest.mark.slow),
                                        pytest.param(2, True, marks=pytest.mark.slow)])
def test_fit_interrupted_mid_epoch_continues_with_the_same_batches(action_dataset, tmp_path, workers, mp):
    kw = dict(workers=workers, use_multiprocessing=mp, max_queue_size=3)
    whole = []
    w_whole, _ = _fit(_gen(action_dataset, **kw), tmp_path / "a", whole, epochs=3)
    assert len(whole) == 15 and len(set(whole)) > 10

    part = []
    assert _fit(_gen(action_dataset, **kw), tmp_path / "b", part, epochs=3, stop_at=(1, 3))[0] is None
    assert len(part) == 9                                 # 5 + 4 batches, then the run died
    record = json.loads((tmp_path / "b" / "gpuvideo-resume.json").read_text())
    # save_freq=2 counts batches across epochs: saves after 2, 4, 6 and 8 batches, the last at epoch 1,
    # position 3; the generator's epoch is 2 there (fit calls on_epoch_end once before it starts)
    assert (record["keras_epoch"], record["generator"]["epoch"], record["generator"]["position"]) == (1, 2, 3)
    saved = 5 + 3                                          # batch 3 of epoch 1 is delivered again
    rest = []
    w_rest, cb = _fit(_gen(action_dataset, **kw), tmp_path / "b", rest, epochs=3)
    assert part[:saved] + rest == whole
    for a, b in zip(w_rest, w_whole):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    done = cb.load()
    assert (done["keras_epoch"], done["generator"]["position"]) == (3, 0)
    assert len([f for f in os.listdir(tmp_path / "b") if f.endswith(".weights.h5")]) == 1


@pytest.mark.slow
def test_fit_resume_at_an_epoch_boundary_and_wrong_generator(action_dataset, tmp_path):
    whole, part, rest = [], [], []
    _fit(_gen(action_dataset), tmp_path / "a", whole, epochs=2, save_freq="epoch")
    _fit(_gen(action_dataset), tmp_path / "b", part, epochs=2, save_freq="epoch", stop_at=(1, 1))
    _fit(_gen(action_dataset), tmp_path / "b", rest, epochs=2, save_freq="epoch")
    assert part[:5] + rest == whole and len(rest) == 5
    with pytest.raises(ValueError, match="(?s)cannot resume from .*seed: saved 3, this generator 5"):
        _fit(_gen(action_dataset, seed=5), tmp_path / "b", [], epochs=3)


def test_fit_with_keras_shuffling_is_refused(action_dataset, tmp_path):
    gen = _gen(action_dataset, batch_size=2)
    with pytest.raises(ValueError, match="shuffle=False"):
        _fit(gen, tmp_path, [], epochs=1, shuffle=True, save_freq=100)
    with pytest.raises(ValueError, match="save_freq"):
        ResumeCallback(gen, tmp_path, save_freq=0)


def test_public_names():
    assert gpuvideo.ResumeCallback is ResumeCallback
