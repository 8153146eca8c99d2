"""Memory: peak RSS of one pass of VideoTimeseriesGenerator over a short and a 10x longer video.

Each pass runs in a fresh subprocess. We report the RSS after imports and
generator construction (baseline), the peak RSS of the pass (``ru_maxrss``), and
the growth over the baseline compared with the size of one batch. Usage::

    python benchmarks/bench_timeseries_memory.py [--short 2000] [--long 20000]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

CHILD = r"""
import json, os, resource, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np, psutil
from gpuvideo.timeseries import VideoTimeseriesGenerator
path, length, stride, batch, w, h = sys.argv[1], *map(int, sys.argv[2:7])
gen = VideoTimeseriesGenerator(path, None, length, stride=stride, batch_size=batch, target_shape=(w, h),
                               index_cache=False, complete_last_batch=False)
proc = psutil.Process()
base = proc.memory_info().rss
peak_sampled = base
t0 = time.perf_counter()
windows = 0
for i in range(len(gen)):
    x = gen[i]
    windows += len(x)
    if i % 10 == 0:
        peak_sampled = max(peak_sampled, proc.memory_info().rss)
    del x
elapsed = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps(dict(frames=gen.infos[0].frame_count, windows=windows, base=base, peak=peak,
                      batch_bytes=batch * length * h * w * 3 * 4, seconds=elapsed, decoded=gen.decoded,
                      seeks=gen.seeks)))
"""


def measure(path: str, length: int, stride: int, batch: int, size) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, path, str(length), str(stride), str(batch), *map(str, size)],
                         capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    from bench_timeseries import long_video

    ap = argparse.ArgumentParser()
    ap.add_argument("--short", type=int, default=2000)
    ap.add_argument("--long", type=int, default=20000)
    ap.add_argument("--length", type=int, default=16)
    ap.add_argument("--stride", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--size", type=int, nargs=2, default=(224, 224))
    args = ap.parse_args()
    mib = 1 / 2 ** 20
    rows = []
    for n in (args.short, args.long):
        r = measure(long_video(n), args.length, args.stride, args.batch_size, args.size)
        rows.append(r)
        print(f"{r['frames']:>6} frames 640x480: {r['windows']} windows in {r['seconds']:.1f} s; RSS after setup "
              f"{r['base'] * mib:.0f} MiB, peak {r['peak'] * mib:.0f} MiB, growth {(r['peak'] - r['base']) * mib:.0f} MiB"
              f" = {(r['peak'] - r['base']) / r['batch_bytes']:.2f} x one batch ({r['batch_bytes'] * mib:.0f} MiB)")
    a, b = rows
    print(f"peak RSS long/short: {b['peak'] / a['peak']:.3f} (difference {abs(b['peak'] - a['peak']) / a['peak'] * 100:.1f}%)")


if __name__ == "__main__":
    main()
