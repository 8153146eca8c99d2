"""Sharding from every launcher: precedence rules, torchrun (gloo) and Keras/JAX multi-process runs on loopback."""
import json
import logging
import os
import socket
import subprocess
import sys
import textwrap

import pytest

from gpuvideo import sharding
from gpuvideo.sharding import default_device_id, local_rank, shard_from_environment

LAUNCH_VARS = ("TF_CONFIG", "RANK", "WORLD_SIZE", "LOCAL_RANK", "KERAS_DISTRIBUTION_PROCESS_ID",
               "KERAS_DISTRIBUTION_NUM_PROCESSES", "CUDA_VISIBLE_DEVICES")


@pytest.fixture
def clean_env(monkeypatch):
    for var in LAUNCH_VARS:
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_and_keras_variables(clean_env):
    assert shard_from_environment() == (0, 1)
    clean_env.setenv("RANK", "3")
    clean_env.setenv("WORLD_SIZE", "4")
    assert shard_from_environment() == (3, 4)
    clean_env.setenv("KERAS_DISTRIBUTION_PROCESS_ID", "3")
    clean_env.setenv("KERAS_DISTRIBUTION_NUM_PROCESSES", "4")
    assert shard_from_environment() == (3, 4)
    clean_env.setenv("WORLD_SIZE", "1")          # one process: not a multi-process launch
    assert shard_from_environment() == (3, 4)


def test_precedence_and_disagreement_warning(clean_env, caplog):
    clean_env.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["h:1", "h:2"]},
                                              "task": {"type": "worker", "index": 1}}))
    clean_env.setenv("RANK", "0")
    clean_env.setenv("WORLD_SIZE", "3")
    with caplog.at_level(logging.WARNING, logger="gpuvideo"):
        assert shard_from_environment() == (1, 2)
    assert "TF_CONFIG says shard 1 of 2, RANK says 0 of 3: using TF_CONFIG" in caplog.text
    assert sharding.SOURCES.index("TF_CONFIG") < sharding.SOURCES.index("KERAS_DISTRIBUTION") \
        < sharding.SOURCES.index("RANK")


@pytest.mark.parametrize("env,needle", [({"RANK": "1"}, "set both or neither"),
                                        ({"RANK": "2", "WORLD_SIZE": "2"}, "not in"),
                                        ({"RANK": "x", "WORLD_SIZE": "2"}, "invalid literal")])
def test_bad_launcher_variables_are_ignored_with_a_warning(clean_env, caplog, env, needle):
    for k, v in env.items():
        clean_env.setenv(k, v)
    with caplog.at_level(logging.WARNING, logger="gpuvideo"):
        assert shard_from_environment() == (0, 1)
    assert "ignoring unreadable RANK" in caplog.text and needle in caplog.text


def test_local_rank_picks_the_device(clean_env):
    assert local_rank() == 0 and default_device_id() == 0
    clean_env.setenv("LOCAL_RANK", "3")
    assert local_rank() == 3 and default_device_id() == 3
    clean_env.setenv("CUDA_VISIBLE_DEVICES", "5")          # the launcher gave this process one device
    assert default_device_id() == 0
    clean_env.setenv("CUDA_VISIBLE_DEVICES", "4,5")
    assert default_device_id() == 1
    clean_env.setenv("LOCAL_RANK", "-1")
    with pytest.raises(ValueError, match="LOCAL_RANK"):
        local_rank()


def _run_two(cmds, env, timeout=240):
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=e)
             for c, e in zip(cmds, env)]
    outs = []
    try:
        for p in procs:
            outs.append(p.communicate(timeout=timeout)[0])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, out in zip(procs, outs):
        assert p.returncode == 0, out[-4000:]
    return outs


def _check_shards(results, whole_count):
    shards = sorted(tuple(r["shard"]) for r in results)
    assert shards == [(0, 2), (1, 2)]
    a, b = ({(p, tuple(f)) for p, f in r["samples"]} for r in results)
    assert not a & b and len(a | b) == whole_count
    assert results[0]["batches"] == results[1]["batches"]


@pytest.mark.slow
def test_torchrun_two_processes_gloo(action_dataset, tmp_path):
    """``torchrun --nproc-per-node=2`` (torch.distributed.run) on loopback: each rank gets its own shard
    from RANK/WORLD_SIZE and from the gloo process group, and LOCAL_RANK as its device."""
    pytest.importorskip("torch")
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(f"""
        import json, os
        os.environ["KERAS_BACKEND"] = "torch"
        from gpuvideo import VideoFrameGenerator, sharding
        before = sharding.shard_from_environment()          # from RANK / WORLD_SIZE
        import torch, torch.distributed as dist
        dist.init_process_group("gloo")
        gen = VideoFrameGenerator(glob_pattern={str(action_dataset)!r}, nb_frames=2, batch_size=3,
                                  target_shape=(16, 16), seed=0, index_cache=None, progress=False)
        steps = torch.tensor([len(gen)])
        dist.all_reduce(steps, op=dist.ReduceOp.MAX)
        for i in range(len(gen)):
            x, y = gen[i]
            assert x.shape == (3, 2, 16, 16, 3)
        out = {{"shard": [gen.shard_index, gen.num_shards], "env": list(before), "batches": len(gen),
               "max_batches": int(steps), "local_rank": sharding.local_rank(),
               "device": sharding.default_device_id(),
               "samples": [[s.path, s.indices.tolist()] for s in gen.samples]}}
        json.dump(out, open(os.path.join({str(tmp_path)!r}, f"rank{{dist.get_rank()}}.json"), "w"))
        dist.destroy_process_group()
    """))
    env = {k: v for k, v in os.environ.items() if k not in LAUNCH_VARS}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc-per-node=2",
           "--master-addr=127.0.0.1", f"--master-port={_free_port()}", str(script)]
    _run_two([cmd], [env])
    results = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    from gpuvideo import VideoFrameGenerator
    whole = VideoFrameGenerator(glob_pattern=action_dataset, nb_frames=2, batch_size=3, target_shape=(16, 16),
                                seed=0, index_cache=None, progress=False, shard_index=0, num_shards=1)
    _check_shards(results, len(whole.samples))
    for r, res in enumerate(results):
        assert res["shard"] == res["env"] == [r, 2] and res["local_rank"] == res["device"] == r
        assert res["batches"] == res["max_batches"]


@pytest.mark.slow
def test_keras_distribution_on_jax_two_processes(action_dataset, tmp_path):
    """Two processes join through ``keras.distribution.initialize`` (JAX on CPU, gloo collectives), take their
    shards from ``jax.process_index()``, and train one epoch with ``DataParallel``: both end with the same
    weights (gradients are averaged across processes)."""
    pytest.importorskip("jax")
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(f"""
        import json, os, sys
        os.environ["KERAS_BACKEND"] = "jax"
        import keras
        keras.distribution.initialize()      # KERAS_DISTRIBUTION_* from the environment
        import numpy as np
        from gpuvideo import VideoFrameGenerator
        gen = VideoFrameGenerator(glob_pattern={str(action_dataset)!r}, nb_frames=2, batch_size=4,
                                  target_shape=(16, 16), seed=0, index_cache=None, progress=False)
        # gpuvideo shards the samples itself: Keras must not shard them again
        keras.distribution.set_distribution(keras.distribution.DataParallel(
            devices=keras.distribution.list_devices(), auto_shard_dataset=False))
        model = keras.Sequential([keras.Input((2, 16, 16, 3)), keras.layers.Flatten(),
                                  keras.layers.Dense(gen.classes_count, activation="softmax")])
        model.compile(keras.optimizers.SGD(0.1), "categorical_crossentropy")
        hist = model.fit(gen, epochs=1, verbose=0)
        out = {{"shard": [gen.shard_index, gen.num_shards], "batches": len(gen),
               "weights": float(np.abs(model.get_weights()[0]).sum()),
               "samples": [[s.path, s.indices.tolist()] for s in gen.samples]}}
        json.dump(out, open(os.path.join({str(tmp_path)!r}, f"proc{{gen.shard_index}}.json"), "w"))
    """))
    port = _free_port()
    base = {k: v for k, v in os.environ.items() if k not in LAUNCH_VARS}
    envs = [dict(base, KERAS_DISTRIBUTION_JOB_ADDRESSES=f"127.0.0.1:{port}", KERAS_DISTRIBUTION_NUM_PROCESSES="2",
                 KERAS_DISTRIBUTION_PROCESS_ID=str(i), JAX_PLATFORMS="cpu") for i in range(2)]
    _run_two([[sys.executable, str(script)]] * 2, envs)
    results = [json.loads((tmp_path / f"proc{r}.json").read_text()) for r in range(2)]
    from gpuvideo import VideoFrameGenerator
    whole = VideoFrameGenerator(glob_pattern=action_dataset, nb_frames=2, batch_size=4, target_shape=(16, 16),
                                seed=0, index_cache=None, progress=False, shard_index=0, num_shards=1)
    _check_shards(results, len(whole.samples))
    assert results[0]["weights"] == pytest.approx(results[1]["weights"], rel=1e-6)
