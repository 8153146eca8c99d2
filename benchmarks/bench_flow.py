"""Optical flow on the CPU: Farneback pairs per second, and OpticalFlowGenerator against keras_video's.

1. Flow pairs/s at 224x224, 640x480 and 1280x720 (textured frames shifted by
   (1.5, -0.75) px): ``gpuvideo.opticalflow.farneback`` (cv2, default
   parameters 0.5, 3, 15, 3, 5, 1.1, 0) one pair at a time, then two pairs at
   a time on two threads; and ``gpuvideo.motion.flow_to_picture`` alone.
2. OpticalFlowGenerator batches/s, gpuvideo against keras-video-generators
   1.0.14 (imported through ``gpuvideo.benchmarking.import_keras_video``), on
   ``make_action_dataset(width=320, height=240, codecs=("mpeg4",))`` (4 classes
   x 24 MPEG-4 AVI, 32 frames), batch 8, nb_frames 5, target 112x112, method
   METHOD_OPTICAL_FLOW, each with its own defaults otherwise. Every batch of an
   epoch is read with ``gen[i]``; the median of ``--epochs`` epochs is reported.
   keras_video keeps every decoded clip in an always-on cache: its cache is
   emptied before each timed epoch so that both sides decode (gpuvideo's
   default has no cache); the cached figures of both are printed for information.
   Epochs of the four set-ups are interleaved (load on a shared machine varies).

    pip install --no-deps keras-video-generators==1.0.14
    python benchmarks/bench_flow.py --write benchmarks/results/flow_cpu.md
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

SIZES = {"224x224": (224, 224), "640x480": (640, 480), "1280x720": (1280, 720)}
BATCH, NB_FRAMES, TARGET = 8, 5, (112, 112)


def pairs(width, height, n, seed=0):
    import cv2

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        small = rng.uniform(0, 255, (height // 8 + 2, width // 8 + 2)).astype(np.float32)
        big = cv2.resize(small, (width + 16, height + 16), interpolation=cv2.INTER_CUBIC)
        m = np.float32([[1, 0, 1.5], [0, 1, -0.75]])
        moved = cv2.warpAffine(big, m, (width + 16, height + 16), flags=cv2.INTER_CUBIC)
        out.append((np.clip(big[8:-8, 8:-8], 0, 255).astype(np.uint8),
                    np.clip(moved[8:-8, 8:-8], 0, 255).astype(np.uint8)))
    return out


def bench_pairs(seconds: float) -> list[dict]:
    from gpuvideo.motion import flow_to_picture
    from gpuvideo.opticalflow import farneback

    rows = []
    for name, (w, h) in SIZES.items():
        data = pairs(w, h, 4)
        prev = np.stack([a for a, _ in data])
        nxt = np.stack([b for _, b in data])
        farneback(prev[:1], nxt[:1])                       # warm-up
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            farneback(prev, nxt)
            n += len(prev)
        one = n / (time.perf_counter() - t0)
        with ThreadPoolExecutor(2) as pool:
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < seconds:
                list(pool.map(lambda i: farneback(prev[i:i + 1], nxt[i:i + 1]), range(len(prev))))
                n += len(prev)
            two = n / (time.perf_counter() - t0)
        flow = farneback(prev, nxt)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds / 2:
            flow_to_picture(flow)
            n += len(flow)
        pic = n / (time.perf_counter() - t0)
        rows.append(dict(size=name, pairs_s_1=one, ms_pair=1e3 / one, pairs_s_2=two, picture_s=pic))
        print(f"{name:>9}: {one:7.1f} pairs/s ({1e3 / one:6.1f} ms/pair) one thread, {two:7.1f} pairs/s "
              f"on 2 threads; flow_to_picture {pic:7.0f} /s", flush=True)
    return rows


def epoch(gen) -> tuple[int, float]:
    t0 = time.perf_counter()
    for i in range(len(gen)):
        gen[i]
    gen.on_epoch_end()
    return len(gen), time.perf_counter() - t0


def median_rate(runs):
    return statistics.median(b / t for b, t in runs)


def make_gpuvideo(pattern: str, cache: bool, tmp: str):
    from gpuvideo.flow import OpticalFlowGenerator

    gen = OpticalFlowGenerator(glob_pattern=pattern, batch_size=BATCH, nb_frames=NB_FRAMES, target_shape=TARGET,
                               use_frame_cache=cache, index_cache=os.path.join(tmp, "index.json"), progress=False)
    gen[0]
    if cache:
        epoch(gen)   # fill the cache
    return gen


def make_keras_video(pattern: str):
    from gpuvideo.benchmarking import import_keras_video

    kv = import_keras_video()
    with contextlib.redirect_stdout(io.StringIO()):   # it prints its file counts
        gen = kv.OpticalFlowGenerator(glob_pattern=pattern, batch_size=BATCH, nb_frames=NB_FRAMES,
                                      target_shape=TARGET)
    cache = getattr(gen, "_VideoFrameGenerator__frame_cache", None)
    if not isinstance(cache, dict):
        raise RuntimeError("keras_video's frame cache attribute was not found: is it 1.0.14?")
    gen[0]
    return gen, cache


def bench_generators(pattern: str, epochs: int, tmp: str) -> dict:
    """Epochs of the four set-ups interleaved, so that a change of machine load hits all of them alike."""
    ours, ours_cached = make_gpuvideo(pattern, False, tmp), make_gpuvideo(pattern, True, tmp)
    kv, kv_cache = make_keras_video(pattern)
    runs = {"ours": [], "ours_cached": [], "kv": [], "kv_cached": []}
    for _ in range(epochs):
        runs["ours"].append(epoch(ours))
        kv_cache.clear()
        runs["kv"].append(epoch(kv))
        runs["ours_cached"].append(epoch(ours_cached))
        runs["kv_cached"].append(epoch(kv))        # its cache is full after the epoch above
    return {k: median_rate(v) for k, v in runs.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(REPO / "bench_data" / "flow_320x240"), help="dataset folder (reused)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3.0, help="time per flow-pairs figure")
    ap.add_argument("--write", help="markdown file for the figures")
    args = ap.parse_args(argv)

    import tempfile

    from gpuvideo.synthetic import make_action_dataset

    from gpuvideo.benchmarking import machine_info

    info = machine_info(REPO)
    info.update(load_average=" ".join(f"{x:.2f}" for x in os.getloadavg()))
    print(" | ".join(f"{k}: {v}" for k, v in info.items()))
    rows = bench_pairs(args.seconds)
    pattern = make_action_dataset(args.data, width=320, height=240, codecs=("mpeg4",), progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        r = bench_generators(pattern, args.epochs, tmp)
    ours, ours_cached, kv, kv_cached = r["ours"], r["ours_cached"], r["kv"], r["kv_cached"]
    info["load average after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"OpticalFlowGenerator batches/s (batch {BATCH}, {NB_FRAMES} frames, 112x112): gpuvideo {ours:.2f}, "
          f"keras_video {kv:.2f}, ratio {ours / kv:.2f}x (both decoding); cached: gpuvideo {ours_cached:.2f}, "
          f"keras_video {kv_cached:.2f}, ratio {ours_cached / kv_cached:.2f}x")
    if args.write:
        lines = ["# Optical flow on the CPU", "",
                 "Measured with `python benchmarks/bench_flow.py --write benchmarks/results/flow_cpu.md`.", ""]
        lines += [f"- {k}: {v}" for k, v in info.items()]
        lines += ["", "## Farneback pairs per second", "",
                  "`gpuvideo.opticalflow.farneback` (cv2 backend; 0.5, 3, 15, 3, 5, 1.1, 0), textured uint8 grey "
                  "pairs shifted by (1.5, -0.75) px; `flow_to_picture` is the HSV picture alone.", "",
                  "| size | pairs/s, 1 thread | ms/pair | pairs/s, 2 threads | flow_to_picture/s |",
                  "|---|---|---|---|---|"]
        lines += [f"| {r['size']} | {r['pairs_s_1']:.1f} | {r['ms_pair']:.1f} | {r['pairs_s_2']:.1f} | "
                  f"{r['picture_s']:.0f} |" for r in rows]
        lines += ["", "## OpticalFlowGenerator against keras-video-generators 1.0.14", "",
                  f"`make_action_dataset(width=320, height=240, codecs=('mpeg4',))`: 4 classes x 24 MPEG-4 AVI "
                  f"of 32 frames. Batch {BATCH}, nb_frames {NB_FRAMES}, target 112x112, METHOD_OPTICAL_FLOW, "
                  f"default settings otherwise; median of {args.epochs} epochs of `gen[i]` over every batch, the "
                  f"set-ups' epochs interleaved.", "",
                  "| | gpuvideo | keras_video | ratio |", "|---|---|---|---|",
                  f"| batches/s, every epoch decodes (gpuvideo default; keras_video's cache emptied) | {ours:.2f} | "
                  f"{kv:.2f} | {ours / kv:.2f}x |",
                  f"| batches/s, clips cached (gpuvideo `use_frame_cache=True`; keras_video's always-on cache) | "
                  f"{ours_cached:.2f} | {kv_cached:.2f} | {ours_cached / kv_cached:.2f}x |", "",
                  "keras_video's output is not the same quantity: it runs Farneback on frames scaled to [0, 1] "
                  "(flow shrunk to almost zero) and returns float HSV->BGR values from about -64770 to 255; "
                  "gpuvideo runs it on the 8-bit frames and returns an RGB picture in [0, 1].", ""]
        Path(args.write).write_text("\n".join(lines))
        print("written", args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
