"""Long videos on DALI: does a batch of windows cost the same in a 2,000- and a 20,000-frame file?

``VideoTimeseriesGenerator(backend='dali-cpu')`` (DALI's CPU decoder: VP9) on two
VP9 files made of index-coded frames, the same windows (length 16, stride 4,
batch 8, 112x112) near the start of both files and near the end of the long one.
Each batch hands DALI a GOP excerpt (:mod:`gpuvideo.decode.excerpt`); the
``whole file`` rows hand it the whole file instead (gpuvideo before the
excerpts), for comparison. Rounds alternate the set-ups; medians are reported.
``--device gpu`` runs the same on NVDEC (``backend='gpu'``).

    python benchmarks/bench_dali_long.py [--batches 20] [--rounds 3] [--write results/dali_long_cpu.md]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def make_video(n: int) -> str:
    from gpuvideo.synthetic import index_frame, write_once

    return write_once(REPO / "bench_data" / f"dali_long_{n}_vp9.webm",
                      (index_frame(i, 160, 120) for i in range(n)), codec="vp9")


def rate(path: str, backend: str, at_end: bool, batches: int, whole: bool) -> float:
    """Windows/s over ``batches`` batches, from the start of the file or from its last windows."""
    import gpuvideo
    from gpuvideo.decode import dali_decoder
    from gpuvideo.synthetic import read_index

    gen = gpuvideo.VideoTimeseriesGenerator(path, None, length=16, stride=4, batch_size=8, target_shape=(112, 112),
                                            backend=backend, index_cache=None, prefetch=0)
    first = len(gen) - batches - 1 if at_end else 0
    real = dali_decoder.worth_excerpting
    if whole:
        dali_decoder.worth_excerpting = lambda *a: False
    try:
        gen[first]                                            # warm-up: the pipeline is built
        t0 = time.perf_counter()
        for b in range(first + 1, first + 1 + batches):
            x = gen[b]
        dt = time.perf_counter() - t0
    finally:
        dali_decoder.worth_excerpting = real
    assert [read_index(f) for f in x[0]] == gen.batch_info(first + batches)[0].frames.tolist()
    assert gen.decoder.stats["fallback"] == 0, "DALI did not decode these files"
    gen.close()
    return batches * 8 / dt


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--write", help="markdown file for the table")
    args = ap.parse_args(argv)
    backend = "dali-cpu" if args.device == "cpu" else "gpu"
    short, long = make_video(2000), make_video(20000)
    setups = [("2,000 frames, first windows", short, False, False),
              ("20,000 frames, first windows", long, False, False),
              ("20,000 frames, last windows", long, True, False),
              ("2,000 frames, first windows, whole file", short, False, True),
              ("20,000 frames, last windows, whole file", long, True, True)]
    rates = {s[0]: [] for s in setups}
    for r in range(args.rounds):
        for name, path, at_end, whole in (setups if r % 2 == 0 else setups[::-1]):
            rates[name].append(rate(path, backend, at_end, args.batches, whole))
    base = statistics.median(rates[setups[0][0]])
    lines = [f"backend={backend}, {args.batches} batches of 8 windows (16 frames, stride 4, 112x112), "
             f"median of {args.rounds} interleaved rounds, {os.cpu_count()} CPUs", "",
             "| set-up | windows/s | vs 2,000 frames |", "|---|---:|---:|"]
    for name, *_ in setups:
        m = statistics.median(rates[name])
        lines.append(f"| {name} | {m:.1f} | {m / base:.2f}x |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        Path(args.write).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
