"""Cost of the reader's damage tracking on healthy files: PyAVReader against a bare PyAV decode loop.

Writes textured test videos (H.264 .mp4 with B-frames, MPEG-4 .avi, VP9 .webm) and times, best of
``--repeat`` runs, in CPU time of this process (steadier than wall time on a shared machine):

- ``bare``: ``container.decode`` + ``to_ndarray(rgb24)`` on every frame, one thread (what any reader must do);
- ``reader_all``: ``PyAVReader.read`` over every frame, 16 at a time;
- ``reader_clips``: ``PyAVReader.read`` of 8-frame uniform clips from a fresh reader (seek + decode).

Run it with ``PYTHONPATH`` pointing at two checkouts to compare two versions of the reader.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

if not os.environ.get("PYTHONPATH"):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402


def _bare(path: str) -> int:
    import av

    n = 0
    with av.open(path) as c:
        c.streams.video[0].thread_count = 1   # as PyAVReader(threads=1)
        for f in c.decode(c.streams.video[0]):
            f.to_ndarray(format="rgb24", threads=1)
            n += 1
    return n


def _reader_all(info) -> int:
    from gpuvideo.decode import PyAVReader

    with PyAVReader(info) as r:
        for a in range(0, info.frame_count, 16):
            r.read(range(a, min(a + 16, info.frame_count)))
    return info.frame_count


def _reader_clips(info, clips: int = 12) -> int:
    from gpuvideo.decode import PyAVReader
    from gpuvideo.sampling import uniform_indices

    rng = np.random.default_rng(0)
    n = 0
    for _ in range(clips):
        a = int(rng.integers(0, info.frame_count - 64))
        idx = a + uniform_indices(64, 8)
        with PyAVReader(info) as r:
            r.read(idx)
        n += len(idx)
    return n


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--dir", default=None, help="where the test videos are written (default: a temp folder)")
    args = ap.parse_args(argv)
    from gpuvideo.probe import probe
    from gpuvideo.synthetic import moving_shape_frames, write_video

    w, h = map(int, args.size.split("x"))
    root = Path(args.dir or tempfile.mkdtemp(prefix="gpuvideo-bench-"))
    frames = moving_shape_frames("right", args.frames, w, h, np.random.default_rng(1))
    print(f"# reader overhead: {args.frames} frames {w}x{h}, best of {args.repeat}; gpuvideo from "
          f"{os.path.dirname(__import__('gpuvideo').__file__)}")
    print("| codec | bare decode fps (CPU) | reader, all frames fps (CPU) | reader / bare | reader, 8-frame clips/s (CPU) |")
    print("|---|---|---|---|---|")
    for codec, suffix in (("h264", ".mp4"), ("mpeg4", ".avi"), ("vp9", ".webm")):
        path = root / f"bench_{codec}_{w}x{h}{suffix}"
        if not path.exists():
            write_video(path, frames, 25, codec)
        info = probe(str(path))
        best = {}
        for _ in range(args.repeat):
            for name, fn in (("bare", lambda: _bare(str(path))), ("all", lambda: _reader_all(info)),
                             ("clips", lambda: _reader_clips(info))):
                t = time.process_time()
                n = fn()
                dt = time.process_time() - t
                best[name] = min(best.get(name, float("inf")), dt / n)
        print(f"| {codec} | {1 / best['bare']:.0f} | {1 / best['all']:.0f} | {best['bare'] / best['all']:.3f} | "
              f"{1 / best['clips'] / 8:.1f} |")


if __name__ == "__main__":
    main()
