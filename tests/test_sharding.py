"""Sharding across workers: disjoint shards covering the data, tf.distribute defaults, real strategies."""
import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest

from gpuvideo import SlidingFrameGenerator, VideoFrameGenerator
from gpuvideo.sharding import resolve_shard, shard, shard_from_environment

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _gen(pattern, cls=VideoFrameGenerator, **kw):
    return cls(glob_pattern=pattern, nb_frames=2, batch_size=3, target_shape=(16, 16), seed=0,
               index_cache=None, progress=False, **kw)


@pytest.mark.parametrize("n", [1, 2, 3, 7])
def test_shards_are_disjoint_cover_and_have_equal_length(action_dataset, n):
    whole = _gen(action_dataset)
    parts = [_gen(action_dataset, shard_index=i, num_shards=n) for i in range(n)]
    keys = [[(s.path, tuple(s.indices)) for s in p.samples] for p in parts]
    flat = [k for ks in keys for k in ks]
    assert len(flat) == len(set(flat)) == len(whole.samples)
    assert set(flat) == {(s.path, tuple(s.indices)) for s in whole.samples}
    assert len({len(p) for p in parts}) == 1            # same number of steps on every worker
    for p in parts:
        x, _ = p[len(p) - 1]
        assert x.shape[0] == 3


def test_sliding_windows_are_sharded_too(action_dataset):
    parts = [_gen(action_dataset, SlidingFrameGenerator, sequence_time=0.4, shard_index=i, num_shards=2)
             for i in range(2)]
    a, b = ({(s.path, tuple(s.indices)) for s in p.samples} for p in parts)
    assert not a & b and len(a) + len(b) == len(_gen(action_dataset, SlidingFrameGenerator,
                                                     sequence_time=0.4).samples)


def test_split_generators_keep_the_shard(action_dataset):
    gens = [_gen(action_dataset, split_val=0.3, shard_index=i, num_shards=2) for i in range(2)]
    vals = [g.get_validation_generator() for g in gens]
    assert vals[0].num_shards == 2 and vals[1].shard_index == 1
    assert not {s.path for s in vals[0].samples} & {s.path for s in vals[1].samples}
    assert sorted(gens[0].validation) == sorted(gens[1].validation)     # same split on both workers


def test_resolve_shard_rules(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert resolve_shard(None, None) == (0, 1)
    assert resolve_shard(1, 4) == (1, 4)
    for bad in [(4, 4), (-1, 2), (0, 0)]:
        with pytest.raises(ValueError):
            resolve_shard(*bad)
    with pytest.raises(ValueError, match="both"):
        resolve_shard(1, None)
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"chief": ["h:1"], "worker": ["h:2", "h:3"]},
                                                "task": {"type": "worker", "index": 1}}))
    assert shard_from_environment() == (2, 3)
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["h:2"]}, "task": {"type": "worker"}}))
    assert shard_from_environment() == (0, 1)
    assert shard(list(range(10)), 2, 3) == ([2, 5, 8], 4)


def test_seed_required_with_shards(action_dataset):
    with pytest.raises(ValueError, match="seed"):
        VideoFrameGenerator(glob_pattern=action_dataset, nb_frames=2, target_shape=(16, 16), index_cache=None,
                            progress=False, shard_index=0, num_shards=2)


@pytest.mark.tensorflow
@pytest.mark.slow
def test_fit_under_mirrored_strategy_on_two_logical_cpus(action_dataset):
    code = textwrap.dedent(f"""
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        import keras, gpuvideo
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        assert strategy.num_replicas_in_sync == 2
        gen = gpuvideo.VideoFrameGenerator(glob_pattern={action_dataset!r}, nb_frames=2, batch_size=4,
                                           target_shape=(16, 16), seed=0, index_cache=None, progress=False)
        assert gen.num_shards == 1
        with strategy.scope():
            model = keras.Sequential([keras.Input((2, 16, 16, 3)), keras.layers.Flatten(),
                                      keras.layers.Dense(gen.classes_count, activation="softmax")])
            model.compile("adam", "categorical_crossentropy")
        hist = model.fit(gen, epochs=1, verbose=0)
        print("LOSS", hist.history["loss"][0])
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "LOSS" in out.stdout


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.tensorflow
@pytest.mark.slow
def test_multi_worker_training_over_loopback_uses_disjoint_shards(action_dataset, tmp_path):
    """Two local processes under MultiWorkerMirroredStrategy train one epoch on their own shards.

    Keras 3's ``model.fit`` does not run under MultiWorkerMirroredStrategy
    (keras-team/keras#20585), so the workers train with ``strategy.run`` on
    :func:`gpuvideo.adapters.to_tf_dataset`; gradients are all-reduced, so both
    end with the same weights.
    """
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(f"""
        import json, sys
        import tensorflow as tf
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        import keras, numpy as np, gpuvideo
        from gpuvideo.adapters import to_tf_dataset
        gen = gpuvideo.VideoFrameGenerator(glob_pattern={action_dataset!r}, nb_frames=2, batch_size=4,
                                           target_shape=(16, 16), seed=0, index_cache=None, progress=False)
        dist = strategy.distribute_datasets_from_function(lambda ctx: to_tf_dataset(gen))
        with strategy.scope():
            model = keras.Sequential([keras.Input((2, 16, 16, 3)), keras.layers.Flatten(),
                                      keras.layers.Dense(gen.classes_count, activation="softmax")])
            opt = keras.optimizers.SGD(0.1)
        global_batch = gen.batch_size * strategy.num_replicas_in_sync

        @tf.function
        def step(x, y):
            def replica(x, y):
                with tf.GradientTape() as tape:
                    per_sample = keras.losses.categorical_crossentropy(y, model(x, training=True))
                    loss = tf.nn.compute_average_loss(per_sample, global_batch_size=global_batch)
                grads = tape.gradient(loss, model.trainable_variables)
                opt.apply_gradients(zip(grads, model.trainable_variables))
                return loss
            return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(replica, args=(x, y)), axis=None)

        losses = [float(step(x, y)) for x, y in dist]
        json.dump({{"shard": [gen.shard_index, gen.num_shards], "steps": len(losses), "batches": len(gen),
                    "samples": [[s.path, s.indices.tolist()] for s in gen.samples],
                    "weights": float(np.abs(model.get_weights()[0]).sum()), "loss": losses[-1]}},
                  open(sys.argv[1], "w"))
    """))
    procs = []
    for i in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}),
                   CUDA_VISIBLE_DEVICES="", PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
        procs.append(subprocess.Popen([sys.executable, str(script), str(tmp_path / f"w{i}.json")], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for p in procs:
        try:
            _, err = p.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            pytest.fail("multi-worker training did not finish in time")
        assert p.returncode == 0, err[-3000:]
    res = [json.load(open(tmp_path / f"w{i}.json")) for i in range(2)]
    assert [r["shard"] for r in res] == [[0, 2], [1, 2]]
    assert res[0]["steps"] == res[1]["steps"] == res[0]["batches"] == res[1]["batches"] > 0
    assert res[0]["weights"] == pytest.approx(res[1]["weights"], rel=1e-6)      # synchronised training
    a = {(p, tuple(i)) for p, i in res[0]["samples"]}
    b = {(p, tuple(i)) for p, i in res[1]["samples"]}
    assert a and b and not a & b and len(a | b) == len(_gen(action_dataset).samples)


@pytest.mark.parametrize("n", [2, 3])
def test_timeseries_windows_are_sharded(index_videos, n):
    from gpuvideo import VideoTimeseriesGenerator

    videos = [index_videos["h264"], index_videos["mpeg4"]]
    kw = dict(length=4, stride=3, batch_size=5, target_shape=(32, 24), index_cache=None, complete_last_batch=True)
    whole = VideoTimeseriesGenerator(videos, None, **kw)
    parts = [VideoTimeseriesGenerator(videos, None, shard_index=i, num_shards=n, shuffle=True, seed=1, **kw)
             for i in range(n)]
    ids = [set(p._ids.tolist()) for p in parts]
    assert sum(len(i) for i in ids) == len(set().union(*ids)) == whole.num_windows
    assert len({len(p) for p in parts}) == 1
    from gpuvideo.synthetic import read_index
    for p in parts:
        seen = set()
        for b in range(len(p)):
            x = p[b]
            assert x.shape[0] == 5
            seen.update(read_index(w[0]) for w in x)
        starts = {int(p.window(i)[1][0]) for i in p._ids}
        assert seen <= starts     # every window served comes from this shard
