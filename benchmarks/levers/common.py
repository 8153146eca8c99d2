"""Shared helpers for the lever experiments (issue 12). Standalone: uses PyAV, OpenCV, NumPy and
the benchmark's data (bench_data/peers_vN/full, written by bench_peers.py) plus a few extra files written here."""
import bisect
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

WT = Path(__file__).resolve().parents[2]       # the repository
sys.path.insert(0, str(WT / "benchmarks"))
sys.path.insert(0, str(WT))
import bench_peers as bp  # noqa: E402  (data generation, scan, uniform indices)

DATA = WT / "bench_data" / f"peers_v{bp.DATA_VERSION}" / "full"
EXTRA = WT / "bench_data" / "levers"


def w1_files(n=None):
    files = sorted(str(p) for p in (DATA / "w1").glob("*/*.avi"))
    return files[:n] if n else files


def w3_file():
    return str(DATA / "w3" / "long_20000.mp4")


def extra_files(kind, n=6, frames=150, size=(320, 240)):
    """Extra sets: 'mpeg4_bframes' (MPEG-4 with 2 B-frames, GOP 12), 'h264' (GOP 24, 2 B-frames, x264 veryfast)."""
    from gpuvideo.synthetic import write_video

    out = []
    for k in range(n):
        ext = ".mp4" if kind == "h264" else ".avi"
        p = EXTRA / f"{kind}_{size[0]}x{size[1]}_{frames}" / f"f{k:03d}{ext}"
        if not p.exists():
            p.parent.mkdir(parents=True, exist_ok=True)
            write_video(p, bp.scene_frames(frames, size[0], size[1], 500 + k, k), 25, kind)
        out.append(str(p))
    return out


CPU = {}      # name -> median CPU/wall ratio of this process in the last interleaved() call
CPU_S = {}    # name -> median CPU seconds of this process (children not counted) in the last call


def interleaved(funcs: dict, rounds: int):
    """Run each ``name -> f()`` once per round, order rotated; returns name -> median wall seconds (and all).

    Also fills ``CPU_S`` (median process CPU seconds: less sensitive than wall time to other
    processes on a shared machine, meaningful for single-threaded work) and ``CPU`` (CPU/wall)."""
    names = list(funcs)
    times = {n: [] for n in names}
    cpu = {n: [] for n in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for n in order:
            t0, c0 = time.perf_counter(), time.process_time()
            funcs[n]()
            times[n].append(time.perf_counter() - t0)
            cpu[n].append(time.process_time() - c0)
    CPU.clear()
    CPU.update({n: statistics.median(c / t for c, t in zip(cpu[n], times[n])) for n in names})
    CPU_S.clear()
    CPU_S.update({n: statistics.median(v) for n, v in cpu.items()})
    return {n: statistics.median(v) for n, v in times.items()}, times


def seek_decode_clip(c, s, order, keyframes, wanted, size):
    """A clip's frames ``(n, h, w, 3)`` uint8 at ``size`` (cv2 INTER_LINEAR) from an open container: seek to a
    wanted frame's keyframe when that skips frames, decode forward, convert the wanted frames only."""
    import cv2

    index_of = {p: i for i, p in enumerate(order)}
    got, pos, frames = {}, None, None
    for w in sorted(set(wanted)):
        k = keyframes[max(0, bisect.bisect_right(keyframes, w) - 1)]
        if frames is None or pos is None or pos > w or k > pos:
            c.seek(order[k], stream=s, backward=True, any_frame=False)
            frames = c.decode(s)
        for f in frames:
            i = index_of[f.pts]
            pos = i + 1
            if i in wanted and i not in got:
                got[i] = cv2.resize(f.to_ndarray(format="rgb24", threads=1), size, interpolation=cv2.INTER_LINEAR)
            if i >= w:
                break
    return np.stack([got[i] for i in wanted])


def full_decode(path, wanted=None):
    """{index: rgb24 full size} of every frame (or of ``wanted`` ones): sequential decode, no seeking (the truth)."""
    import av

    with av.open(path) as c:
        return {i: f.to_ndarray(format="rgb24") for i, f in enumerate(c.decode(c.streams.video[0]))
                if wanted is None or i in wanted}


def load():
    try:
        return os.getloadavg()
    except OSError:
        return None
