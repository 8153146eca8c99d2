"""Speed of two gpuvideo commits on the same work, interleaved: is a change slower?

Each round runs every workload once per commit, in a fresh subprocess whose
``PYTHONPATH`` is that commit's checkout (a temporary ``git worktree``), and
alternates which commit goes first; the table gives the median rate of each
and the ratio new/old. Workloads use only the public API both commits share:

- ``clips``: ``VideoFrameGenerator``, 96 MPEG-4 AVI 320x240 (generated), batch 8, 5 frames, 112x112;
- ``flow``: ``OpticalFlowGenerator`` on the same files, method 1;
- ``windows``: ``VideoTimeseriesGenerator``, one 640x480 H.264 video of 3,000 frames, length 16, stride 4,
  112x112 (complete_last_batch=False on both commits).

Usage::

    python benchmarks/compare_commits.py OLD NEW [--rounds 3] [--write results/x.md]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "bench_data"

_WORKLOAD = r"""
import json, os, sys, time, warnings
warnings.filterwarnings("ignore")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import gpuvideo
kind, pattern, long_video = sys.argv[1:4]
common = dict(batch_size=8, target_shape=(112, 112), index_cache=None, progress=False, seed=0)
if kind == "clips":
    gen = gpuvideo.VideoFrameGenerator(glob_pattern=pattern, nb_frames=5, **common)
elif kind == "flow":
    gen = gpuvideo.OpticalFlowGenerator(glob_pattern=pattern, nb_frames=5, **common)
else:
    gen = gpuvideo.VideoTimeseriesGenerator(long_video, None, length=16, stride=4, batch_size=16,
                                            target_shape=(112, 112), index_cache=None,
                                            complete_last_batch=False)
n = len(gen) if kind != "windows" else min(len(gen), 60)
gen[0]
t0 = time.perf_counter()
items = 0
for i in range(n):
    b = gen[i]
    items += len(b[0] if isinstance(b, tuple) else b)
print(json.dumps({"rate": items / (time.perf_counter() - t0)}))
"""


def make_data() -> tuple[str, str]:
    sys.path.insert(0, str(REPO))
    from gpuvideo.synthetic import make_action_dataset, textured_frames, write_once

    pattern = make_action_dataset(DATA / "compare_320x240_mpeg4", videos_per_class=24, nb_frames=150, width=320,
                                  height=240, codecs=("mpeg4",), progress=False)
    long_video = write_once(DATA / "compare_long_3000_640x480.mp4", textured_frames(3000, 640, 480))
    return pattern, long_video


def run_once(checkout: Path, kind: str, pattern: str, long_video: str) -> float:
    env = dict(os.environ, PYTHONPATH=str(checkout), KERAS_BACKEND=os.environ.get("KERAS_BACKEND", "tensorflow"))
    out = subprocess.run([sys.executable, "-c", _WORKLOAD, kind, pattern, long_video], env=env, cwd=checkout,
                         capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(f"{kind} at {checkout}: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])["rate"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", default="clips,flow,windows")
    ap.add_argument("--write", help="markdown file for the table")
    args = ap.parse_args(argv)
    pattern, long_video = make_data()
    kinds = args.only.split(",")
    with tempfile.TemporaryDirectory(prefix="gpuvideo-compare-") as tmp:
        trees = {}
        for name in ("old", "new"):
            rev = getattr(args, name)
            trees[name] = Path(tmp) / name
            subprocess.run(["git", "worktree", "add", "--detach", str(trees[name]), rev], cwd=REPO, check=True,
                           capture_output=True)
        try:
            rates = {(k, n): [] for k in kinds for n in trees}
            for r in range(args.rounds):
                order = ["old", "new"] if r % 2 == 0 else ["new", "old"]
                for kind in kinds:
                    for name in order:
                        rates[(kind, name)].append(run_once(trees[name], kind, pattern, long_video))
        finally:
            for t in trees.values():
                subprocess.run(["git", "worktree", "remove", "--force", str(t)], cwd=REPO, capture_output=True)
    lines = [f"old = {args.old}, new = {args.new}, {args.rounds} interleaved rounds, {os.cpu_count()} CPUs, "
             f"load average {os.getloadavg()[0]:.2f}", "",
             "| workload | old (median) | new (median) | new / old |", "|---|---:|---:|---:|"]
    for kind in kinds:
        o, n = statistics.median(rates[(kind, "old")]), statistics.median(rates[(kind, "new")])
        unit = "windows/s" if kind == "windows" else "clips/s"
        lines.append(f"| {kind} | {o:.1f} {unit} | {n:.1f} {unit} | {n / o:.2f}x |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        Path(args.write).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
