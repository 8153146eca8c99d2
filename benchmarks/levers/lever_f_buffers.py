"""Lever f: host batch arrays recycled (gpuvideo.buffers.BatchBuffers) vs a fresh array per batch, on W1 and
W3 with gpuvideo's defaults otherwise; variants alternate within each round, medians reported.

    python benchmarks/levers/lever_f_buffers.py [--rounds 5]
"""
import argparse
import statistics
import time

import common

import gpuvideo


def w3(keep):
    gen = gpuvideo.VideoTimeseriesGenerator(common.w3_file(), None, length=16, stride=4, batch_size=16,
                                            target_shape=(224, 224), shuffle=False, index_cache=None,
                                            progress=False)
    gen._buffers.keep = keep
    t = time.perf_counter()
    for b in range(25):
        gen[b]
    rate = 400 / (time.perf_counter() - t)
    gen.close()
    return rate


def w1(keep):
    gen = gpuvideo.VideoFrameGenerator(glob_pattern=str(common.DATA / "w1" / "{classname}" / "*.avi"), nb_frames=8,
                                       batch_size=8, target_shape=(112, 112), shuffle=False, index_cache=None,
                                       progress=False)
    gen._buffers.keep = keep
    t = time.perf_counter()
    for b in range(len(gen)):
        gen[b]
    rate = len(gen) * 8 / (time.perf_counter() - t)
    gen.close()
    return rate


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    print("load average", common.load())
    res = {}
    for r in range(args.rounds):
        for keep in ((0, 3) if r % 2 == 0 else (3, 0)):
            res.setdefault(("W3 windows/s", keep), []).append(w3(keep))
            res.setdefault(("W1 clips/s", keep), []).append(w1(keep))
    print("| work | fresh array per batch | recycled | gain |\n|---|---:|---:|---:|")
    for work in ("W1 clips/s", "W3 windows/s"):
        a, b = statistics.median(res[(work, 0)]), statistics.median(res[(work, 3)])
        print(f"| {work} | {a:.0f} | {b:.0f} | {b / a:.2f}x |")


if __name__ == "__main__":
    main()
