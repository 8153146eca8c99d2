"""DALI decode rates: a bare DALI decode loop, DaliDecoder (batched clips) and the CPU (PyAV) path.

Same files, same requests for the two clip paths. On a machine without a GPU
use ``--device cpu`` (DALI's CPU decoder: VP8/VP9/MJPEG only); on the GPU
machine ``--device gpu --codec h264`` (or vp9, mpeg4, mjpeg, hevc).

    python benchmarks/bench_dali.py --device cpu --codec vp9
    python benchmarks/bench_dali.py --device gpu --codec h264 --files 16 --width 1280 --height 720

Prints one JSON line per measurement (and a summary table).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gpuvideo.decode import PyAVReader  # noqa: E402
from gpuvideo.ops import prepare_clip  # noqa: E402
from gpuvideo.probe import probe  # noqa: E402
from gpuvideo.synthetic import DEFAULT_SUFFIX, textured_frames, write_video  # noqa: E402


def make_files(root: Path, codec: str, files: int, frames: int, w: int, h: int) -> list[str]:
    out = []
    for k in range(files):
        p = root / f"bench_{codec}_{w}x{h}_{frames}_{k}{DEFAULT_SUFFIX[codec]}"
        if not p.exists():
            write_video(p, textured_frames(frames, w, h, k), codec=codec)
        out.append(str(p))
    return out


def uniform(n_total: int, n: int) -> np.ndarray:
    return np.linspace(0, n_total - 1, n).round().astype(np.int64)


def bench_raw(paths, device: str, threads: int, repeat: int) -> dict:
    """All frames of each file, one file per sample, batch = all files: decode only, no copies out."""
    import nvidia.dali.fn as fn
    import nvidia.dali.types as types
    from nvidia.dali import pipeline_def

    @pipeline_def(batch_size=len(paths), num_threads=threads, device_id=0 if device == "gpu" else None,
                  prefetch_queue_depth=1, exec_async=False, exec_pipelined=False)
    def pipe():
        enc = fn.external_source(name="enc", dtype=types.UINT8, ndim=1)
        return fn.decoders.video(enc, device="mixed" if device == "gpu" else "cpu")

    p = pipe()
    p.build()
    data = [np.fromfile(x, np.uint8) for x in paths]
    frames = 0
    p.feed_input("enc", data)
    p.run()   # warm-up
    t = time.perf_counter()
    for _ in range(repeat):
        p.feed_input("enc", data)
        (out,) = p.run()
        frames += sum(out[k].shape()[0] for k in range(len(paths)))
    dt = time.perf_counter() - t
    del p
    return {"what": "dali_raw_decode_all_frames", "frames": frames, "s": dt, "fps": frames / dt}


def make_requests(infos, batches: int, batch: int, nb_frames: int, seed: int):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(batches):
        reqs = []
        for _ in range(batch):
            info = infos[int(rng.integers(len(infos)))]
            start = int(rng.integers(0, max(1, info.frame_count - 4 * nb_frames)))
            reqs.append((info, start + uniform(min(4 * nb_frames, info.frame_count), nb_frames)))
        out.append(reqs)
    return out


def bench_decoder(device, size, nb_channel, threads, requests) -> dict:
    from gpuvideo.decode.dali_decoder import DaliDecoder

    batch = len(requests[0])
    with DaliDecoder(device, batch_size=batch, size=size, nb_channel=nb_channel, num_threads=threads) as d:
        d.decode(requests[0])   # warm-up (pipeline build)
        t = time.perf_counter()
        frames = 0
        for reqs in requests:
            out = d.decode(reqs)
            if device == "gpu":
                try:
                    import cupy
                    cupy.cuda.runtime.deviceSynchronize()
                except ImportError:
                    pass
            frames += sum(o.shape[0] for o in out)
        dt = time.perf_counter() - t
        stats = dict(d.stats)
    clips = len(requests) * batch
    return {"what": f"DaliDecoder[{device}]", "clips": clips, "frames": frames, "s": dt,
            "clips_per_s": clips / dt, "fps": frames / dt, "stats": stats}


def bench_cpu(size, nb_channel, threads, requests) -> dict:
    from concurrent.futures import ThreadPoolExecutor

    def one(req):
        info, idx = req
        with PyAVReader(info) as r:
            return prepare_clip(r.read(idx), size, nb_channel)

    batch = len(requests[0])
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, requests[0]))
        t = time.perf_counter()
        frames = 0
        for reqs in requests:
            frames += sum(c.shape[0] for c in pool.map(one, reqs))
        dt = time.perf_counter() - t
    clips = len(requests) * batch
    return {"what": f"PyAVReader+prepare_clip ({threads} threads)", "clips": clips, "frames": frames, "s": dt,
            "clips_per_s": clips / dt, "fps": frames / dt}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    ap.add_argument("--codec", default="vp9")
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--frames", type=int, default=120, help="frames per file")
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--batches", type=int, default=10)
    ap.add_argument("--nb-frames", type=int, default=8, help="frames per clip")
    ap.add_argument("--size", type=int, nargs=2, default=(112, 112), metavar=("W", "H"))
    ap.add_argument("--grey", action="store_true")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--raw-repeat", type=int, default=2)
    ap.add_argument("--data", default=os.path.join(tempfile.gettempdir(), "gpuvideo_bench_dali"))
    a = ap.parse_args(argv)

    root = Path(a.data)
    root.mkdir(parents=True, exist_ok=True)
    paths = make_files(root, a.codec, a.files, a.frames, a.width, a.height)
    infos = [probe(p) for p in paths]
    nb_channel = 1 if a.grey else 3
    size = tuple(a.size)
    requests = make_requests(infos, a.batches, a.batch, a.nb_frames, seed=0)
    head = {"device": a.device, "codec": a.codec, "files": a.files, "resolution": f"{a.width}x{a.height}",
            "frames_per_file": a.frames, "batch": a.batch, "clip_frames": a.nb_frames, "size": size,
            "nb_channel": nb_channel, "threads": a.threads, "cpus": os.cpu_count()}
    results = [bench_raw(paths, a.device, a.threads, a.raw_repeat),
               bench_decoder(a.device, size, nb_channel, a.threads, requests),
               bench_cpu(size, nb_channel, a.threads, requests)]
    for r in results:
        sys.stdout.write(json.dumps({**head, **r}) + "\n")
    sys.stdout.write("\n")
    for r in results:
        extra = f"  {r['clips_per_s']:8.1f} clips/s" if "clips_per_s" in r else ""
        sys.stdout.write(f"{r['what']:<45} {r['fps']:8.1f} frames/s{extra}\n")


if __name__ == "__main__":
    main()
