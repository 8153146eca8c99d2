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


def textured_frames(n: int, width: int = 640, height: int = 480, seed: int = 0):
    """A smooth random texture drifting right and down, with a bright square bouncing over it."""
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(height // 16 + 2, (width + 2 * n) // 16 + 2, 3), dtype=np.uint8)
    for t in range(n):
        dx = t % 64
        tex = cv2.resize(small[:, dx // 16: dx // 16 + width // 16 + 2], (width + 32, height + 32),
                         interpolation=cv2.INTER_LINEAR)
        frame = np.ascontiguousarray(tex[t % 16: t % 16 + height, dx % 16: dx % 16 + width])
        x = int((np.sin(t / 37.0) * 0.4 + 0.5) * (width - 60))
        y = int((np.cos(t / 23.0) * 0.4 + 0.5) * (height - 60))
        frame[y:y + 60, x:x + 60] = (240, 230, 40)
        yield frame


def long_video(n: int, width: int = 640, height: int = 480, codec: str = "h264") -> str:
    """``bench_data/long_{n}_{w}x{h}.mp4`` (written once)."""
    from gpuvideo.synthetic import DEFAULT_SUFFIX, write_video

    path = ROOT / "bench_data" / f"long_{n}_{width}x{height}_{codec}{DEFAULT_SUFFIX[codec]}"
    if not path.exists():
        tmp = path.with_name("tmp_" + path.name)
        write_video(tmp, textured_frames(n, width, height), fps=25, codec=codec)
        os.replace(tmp, path)
    return str(path)


def recipe(path: str, length: int, sampling_rate: int, stride: int, n_windows: int, size, batch_size: int):
    """The common recipe, written as users write it."""
    import cv2
    from tensorflow.keras.preprocessing.sequence import TimeseriesGenerator

    cap = cv2.VideoCapture(path)
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    idx = np.arange(total)
    tsg = TimeseriesGenerator(idx, idx, length=length * sampling_rate, sampling_rate=sampling_rate, stride=stride,
                              batch_size=batch_size)
    done = 0
    for b in range(len(tsg)):
        windows, _ = tsg[b]
        batch = []
        for w in windows:
            cap = cv2.VideoCapture(path)
            clip = []
            for f in w:
                cap.set(cv2.CAP_PROP_POS_FRAMES, int(f))
                ok, frame = cap.read()
                if not ok:
                    print(f"failed to read frame {f}")
                    continue
                frame = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                clip.append(cv2.resize(frame, size).astype(np.float32) / 255.0)
            cap.release()
            if len(clip) == len(w):
                batch.append(np.stack(clip))
            done += 1
            if done >= n_windows:
                break
        yield np.stack(batch)
        if done >= n_windows:
            return


def main():
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
                                   decode_threads=args.decode_threads,
                                   resize_in_decoder=args.decoder_resize, **common)
    labels = np.zeros(gen.infos[0].frame_count, np.float32)
    gen = VideoTimeseriesGenerator(path, labels, batch_size=args.batch_size, target_shape=size,
                                   complete_last_batch=False, index_cache=False,
                                   decode_threads=args.decode_threads,
                                   resize_in_decoder=args.decoder_resize, **common)
    n = args.recipe_windows
    print(f"video {path}: {gen.infos[0].frame_count} frames {gen.infos[0].width}x{gen.infos[0].height} "
          f"{gen.infos[0].codec}; windows: length={args.length} sampling_rate={args.sampling_rate} "
          f"stride={args.stride}, {gen.num_windows} in all; batch {args.batch_size}; output {size}")

    t0 = time.perf_counter()
    rec = np.concatenate(list(recipe(path, n_windows=n, size=size, batch_size=args.batch_size, **common)))
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
                                    decode_threads=args.decode_threads,
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
