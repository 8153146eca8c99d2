"""Speed: VideoTimeseriesGenerator against the usual TimeseriesGenerator + cv2.VideoCapture recipe.

The recipe (as users write it): Keras's TimeseriesGenerator over frame indices
gives the windows; for every window the file is opened with cv2.VideoCapture,
each frame is reached with ``CAP_PROP_POS_FRAMES`` and read, converted to RGB,
resized, scaled; failed reads are printed and dropped.

Both produce the same windows (length, sampling_rate, stride) and the same
output (float32 RGB at ``--size``, scaled by 1/255). The recipe is slow, so it
runs on the first ``--recipe-windows`` windows; gpuvideo runs on the same
windows and on a full pass. Usage::

    python benchmarks/bench_timeseries.py [--frames 20000] [--length 16] [--stride 4]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def long_video(n: int, width: int = 640, height: int = 480, codec: str = "h264") -> str:
    """``bench_data/long_{n}_{w}x{h}.mp4`` (written once)."""
    from gpuvideo.synthetic import DEFAULT_SUFFIX, textured_frames, write_once

    path = ROOT / "bench_data" / f"long_{n}_{width}x{height}_{codec}{DEFAULT_SUFFIX[codec]}"
    return write_once(path, textured_frames(n, width, height), fps=25, codec=codec)


def main():
    from gpuvideo.benchmarking import seek_recipe

    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=20000)
    ap.add_argument("--length", type=int, default=16)
    ap.add_argument("--sampling-rate", type=int, default=1)
    ap.add_argument("--stride", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--size", type=int, nargs=2, default=(112, 112))
    ap.add_argument("--recipe-windows", type=int, default=64)
    ap.add_argument("--codec", default="h264")
    ap.add_argument("--decode-threads", type=int, default=1)
    ap.add_argument("--decoder-resize", action="store_true",
                    help="resize in FFmpeg's scaler (faster; pixels differ from cv2.resize)")
    args = ap.parse_args()

    from gpuvideo.timeseries import VideoTimeseriesGenerator

    path = long_video(args.frames, codec=args.codec)
    size = tuple(args.size)
    common = dict(length=args.length, sampling_rate=args.sampling_rate, stride=args.stride)
    # same windows: the recipe uses TimeseriesGenerator's default target (next frame), so do we
    gen = VideoTimeseriesGenerator(path, lambda v, f: 0, batch_size=args.batch_size, target_shape=size,
                                   complete_last_batch=False, index_cache=False,
                                   ffmpeg_threads=args.decode_threads,
                                   resize_in_decoder=args.decoder_resize, **common)
    labels = np.zeros(gen.infos[0].frame_count, np.float32)
    gen = VideoTimeseriesGenerator(path, labels, batch_size=args.batch_size, target_shape=size,
                                   complete_last_batch=False, index_cache=False,
                                   ffmpeg_threads=args.decode_threads,
                                   resize_in_decoder=args.decoder_resize, **common)
    n = args.recipe_windows
    print(f"video {path}: {gen.infos[0].frame_count} frames {gen.infos[0].width}x{gen.infos[0].height} "
          f"{gen.infos[0].codec}; windows: length={args.length} sampling_rate={args.sampling_rate} "
          f"stride={args.stride}, {gen.num_windows} in all; batch {args.batch_size}; output {size}")

    t0 = time.perf_counter()
    rec = np.concatenate(list(seek_recipe(path, n_windows=n, size=size, batch_size=args.batch_size, **common)))
    t_rec = time.perf_counter() - t0

    t0 = time.perf_counter()
    ours = []
    for i in range(len(gen)):
        ours.append(gen[i][0])
        if sum(len(o) for o in ours) >= n:
            break
    ours = np.concatenate(ours)[:n]
    t_ours = time.perf_counter() - t0
    gen.close()

    diff = np.abs(rec - ours[:len(rec)]).mean() * 255
    print(f"recipe:   {len(rec)} windows in {t_rec:.2f} s = {len(rec) / t_rec:.1f} windows/s")
    print(f"gpuvideo: {len(ours)} windows in {t_ours:.2f} s = {len(ours) / t_ours:.1f} windows/s "
          f"(same windows; mean |difference| {diff:.2f} grey levels: decoders/resizers differ slightly)")
    print(f"ratio (same windows): {t_rec / t_ours * len(ours) / len(rec):.1f}x")

    gen2 = VideoTimeseriesGenerator(path, labels, batch_size=args.batch_size, target_shape=size,
                                    complete_last_batch=False, index_cache=False,
                                    ffmpeg_threads=args.decode_threads,
                                   resize_in_decoder=args.decoder_resize, **common)
    t0 = time.perf_counter()
    count = 0
    for i in range(len(gen2)):
        count += len(gen2[i][0])
    t_full = time.perf_counter() - t0
    print(f"gpuvideo full pass: {count} windows in {t_full:.1f} s = {count / t_full:.1f} windows/s, "
          f"{gen2.decoded} frames decoded, {gen2.seeks} seeks")
    print(f"ratio (full pass vs recipe): {count / t_full / (len(rec) / t_rec):.1f}x")


if __name__ == "__main__":
    main()
