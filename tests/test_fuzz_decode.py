"""Fuzz the index and the decoder: mutated copies of small files of every container and codec the tests make,
each indexed and decoded in a child process with a time limit. No exception but VideoError, no crash, no hang,
bounded memory. CI runs a few hundred cases (GPUVIDEO_FUZZ_CASES, GPUVIDEO_FUZZ_SEED to change them);
benchmarks/fuzz_decode.py runs long campaigns."""
import os
from pathlib import Path

import numpy as np
import pytest

from gpuvideo.testing.fuzz import MUTATIONS, campaign, mutate, write_seeds

CASES = int(os.environ.get("GPUVIDEO_FUZZ_CASES", "320"))
SEED = int(os.environ.get("GPUVIDEO_FUZZ_SEED", "20261130"))
TIMEOUT = 30.0


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    theora = Path(__file__).parent / "data" / "index_theora.ogv"
    out = write_seeds(tmp_path_factory.mktemp("fuzz_seeds"), extra={"theora.ogv": theora})
    assert len(out) >= 14
    return out


def test_mutations_are_reproducible_and_change_the_file(seeds):
    data = Path(seeds["h264.mp4"]).read_bytes()
    for kind in MUTATIONS:
        a, what = mutate(data, np.random.default_rng(5), kind)
        b, _ = mutate(data, np.random.default_rng(5), kind)
        assert a == b and a != data and what, kind


def test_fuzzed_files_never_crash_hang_or_leak(seeds, tmp_path):
    summary = campaign(seeds, CASES, seed=SEED, timeout=TIMEOUT, workdir=tmp_path)
    report = "\n".join(f"case {f['case']} {f['seed_file']} ({f['mutation']}): {f['status']}: {f['detail'][-600:]}"
                       for f in summary["failures"])
    assert not summary["failures"], report
    assert sum(summary["outcomes"].values()) == CASES and set(summary["per_seed"]) == set(seeds)
    # every kind of outcome shows up: the mutations reach the index and the decoder
    assert summary["outcomes"].get("bad") and summary["outcomes"].get("all") and summary["outcomes"].get("partial")
    assert summary["max_seconds"] < TIMEOUT
    assert summary["peak_rss"] < 1 << 30
    assert summary["rss_last"] - summary["rss_first"] < 256 << 20
