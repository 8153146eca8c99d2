"""Soak: 1,000+ batches through ``model.fit`` with Keras workers (threads, then processes), bad files included.

Watches what leaks in long runs: resident memory (this process and its worker
processes, through psutil), open files and threads, read at the start (after
the first epoch) and at the end. The data set mixes good videos with broken
ones (truncated, zero bytes, not a video, damaged bytes), so the bad-input
paths run all along. Every batch must be full and finite.

    python benchmarks/soak.py [--batches 1000] [--write benchmarks/results/soak.md]
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def make_data(root: Path) -> str:
    """4 classes x 12 good videos plus 3 broken files per class."""
    from gpuvideo.synthetic import make_action_dataset

    pattern = make_action_dataset(root, videos_per_class=12, nb_frames=40, width=96, height=64, progress=False)
    for k, cls in enumerate(sorted(p.name for p in root.iterdir())):
        good = sorted((root / cls).iterdir())[0].read_bytes()
        (root / cls / "z_truncated.mp4").write_bytes(good[:len(good) // 2])
        (root / cls / "z_empty.avi").write_bytes(b"")
        (root / cls / "z_text.mp4").write_text("not a video\n" * 50)
        damaged = bytearray(good)
        damaged[len(damaged) // 3: len(damaged) // 3 + 512] = np.random.default_rng(k).integers(
            0, 256, 512, dtype=np.uint8).tobytes()
        (root / cls / "z_damaged.mp4").write_bytes(bytes(damaged))
    return pattern


def usage(proc) -> dict:
    """RSS of the process tree (MiB), open files and threads of this process."""
    tree = [proc] + proc.children(recursive=True)
    rss = 0
    for p in tree:
        try:
            rss += p.memory_info().rss
        except Exception:   # noqa: BLE001 - a worker that just ended
            pass
    return {"rss_mib": rss / 2 ** 20, "processes": len(tree), "open_files": len(os.listdir("/proc/self/fd")),
            "threads": proc.num_threads()}


def soak(pattern: str, batches: int, multiprocessing: bool) -> dict:
    import keras
    import psutil

    import gpuvideo

    gen = gpuvideo.VideoFrameGenerator(glob_pattern=pattern, nb_frames=6, batch_size=8, target_shape=(64, 48),
                                       seed=0, index_cache=None, progress=False, workers=2,
                                       use_multiprocessing=multiprocessing)
    seen = {"batches": 0, "bad": 0}

    class Check(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen["batches"] += 1
            if not np.isfinite(logs["loss"]):
                seen["bad"] += 1

    model = keras.Sequential([keras.Input((6, 48, 64, 3)), keras.layers.GlobalAveragePooling3D(),
                              keras.layers.Dense(gen.classes_count, activation="softmax")])
    model.compile("adam", "categorical_crossentropy")
    proc = psutil.Process()
    model.fit(gen, epochs=1, verbose=0, callbacks=[Check()])
    start = usage(proc)
    epochs = max(1, batches // len(gen))
    t0 = time.perf_counter()
    model.fit(gen, epochs=epochs, verbose=0, callbacks=[Check()])
    seconds = time.perf_counter() - t0
    end = usage(proc)
    return {"mode": "processes" if multiprocessing else "threads", "batches": seen["batches"], "seconds": seconds,
            "nonfinite_losses": seen["bad"], "bad_files": len(gen.bad_files), "start": start, "end": end}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batches", type=int, default=1000)
    ap.add_argument("--write", help="markdown file for the table")
    args = ap.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="gpuvideo-soak-"))
    try:
        pattern = make_data(root / "data")
        rows = [soak(pattern, args.batches, mp) for mp in (False, True)]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    from gpuvideo.benchmarking import machine_info

    m = machine_info(REPO)
    lines = [f"{m['date']}, commit {m['git_head']}, {m['cpus']} CPUs; `python benchmarks/soak.py --batches "
             f"{args.batches}`; 48 good videos and 16 broken files (4 kinds), batch 8, 2 Keras workers", "",
             "| workers | batches | s | bad files | non-finite losses | RSS start -> end (MiB, with workers) "
             "| open files | threads |", "|---|---:|---:|---:|---:|---|---|---|"]
    for r in rows:
        s, e = r["start"], r["end"]
        lines.append(f"| {r['mode']} | {r['batches']} | {r['seconds']:.0f} | {r['bad_files']} | "
                     f"{r['nonfinite_losses']} | {s['rss_mib']:.0f} -> {e['rss_mib']:.0f} "
                     f"({(e['rss_mib'] / s['rss_mib'] - 1) * 100:+.1f}%) | {s['open_files']} -> {e['open_files']} | "
                     f"{s['threads']} -> {e['threads']} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        Path(args.write).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
