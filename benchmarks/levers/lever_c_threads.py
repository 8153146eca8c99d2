"""Lever c: parallelism for W1's pattern (many small MPEG-4 files, 8 uniform frames each, 112x112).
Each clip: open, demux once for keyframes, seek + forward decode of the fewest frames, wanted frames
converted as today (rgb24 full size + cv2.resize INTER_LINEAR). Variants: one thread; FFmpeg threads
(AUTO / FRAME / SLICE, 2); a pool of 2 Python threads over clips; a pool of 2 processes over clips
(fork, started and warm before timing; clips come back pickled). Interleaved rounds, median.

    python benchmarks/levers/lever_c_threads.py [--rounds 5] [--files 96]
"""
import argparse
import multiprocessing
import os
import time
from concurrent.futures import ThreadPoolExecutor

import av
import numpy as np

import common

SIZE = (112, 112)


def clip(job):
    path, wanted, thread_type, threads = job
    with av.open(path) as c:
        s = c.streams.video[0]
        if thread_type:
            s.thread_type = thread_type
        s.thread_count = threads
        order, _, keyframes = common.bp.demux_index(c, s)
        return common.seek_decode_clip(c, s, order, keyframes, wanted, SIZE)


def _pid(_):
    time.sleep(0.05)
    return os.getpid()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--files", type=int, default=96)
    ap.add_argument("--w2", action="store_true", help="W2's files (1080p H.264) instead of W1's")
    args = ap.parse_args()
    files = (sorted(str(p) for p in (common.DATA / "w2").glob("*/*.mp4")) if args.w2 else common.w1_files(args.files))
    global SIZE
    SIZE = (224, 224) if args.w2 else SIZE
    wanted = [common.bp.uniform_indices(common.bp.scan(p).frame_count, 8) for p in files]
    jobs = lambda tt, n: [(p, w, tt, n) for p, w in zip(files, wanted)]
    threads = ThreadPoolExecutor(2)
    procs = multiprocessing.get_context("fork").Pool(2)
    seen = set()
    while len(seen) < 2:
        seen |= set(procs.map(_pid, range(4), chunksize=1))
    ref = [clip(j) for j in jobs(None, 1)]
    variants = {
        "1 thread (baseline)": lambda: [clip(j) for j in jobs(None, 1)],
        "FFmpeg AUTO, 2 threads": lambda: [clip(j) for j in jobs("AUTO", 2)],
        "FFmpeg FRAME, 2 threads": lambda: [clip(j) for j in jobs("FRAME", 2)],
        "FFmpeg SLICE, 2 threads": lambda: [clip(j) for j in jobs("SLICE", 2)],
        "2 Python threads over clips": lambda: list(threads.map(clip, jobs(None, 1))),
        "2 processes over clips (fork pool, chunksize 1)": lambda: procs.map(clip, jobs(None, 1), chunksize=1),
        "2 processes over clips (fork pool, chunksize 4)": lambda: procs.map(clip, jobs(None, 1), chunksize=4),
    }
    for name, fn in variants.items():     # exactness: same frames whatever the parallelism
        out = fn()
        assert all(np.array_equal(a, b) for a, b in zip(out, ref)), name
    print(f"load average {common.load()}; {len(files)} files, 8 frames each")
    med, allt = common.interleaved(variants, args.rounds)
    base = med["1 thread (baseline)"]
    print("| variant | clips/s | gain vs 1 thread | CPU/wall of this process | rounds (s) |")
    print("|---|---:|---:|---:|---|")
    for n in variants:
        cpu = "(workers)" if "processes" in n else f"{common.CPU[n]:.2f}"
        print(f"| {n} | {len(files) / med[n]:.0f} | {base / med[n]:.2f}x | {cpu} | "
              f"{', '.join(f'{t:.2f}' for t in allt[n])} |")
    procs.close()
    threads.shutdown()


if __name__ == "__main__":
    main()
