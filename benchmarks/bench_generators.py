"""gpuvideo's CPU path against keras-video-generators 1.0.14 on the same files.

Both generators read the same videos with batch_size 8, nb_frames 5,
target_shape (112, 112) and shuffling on, each with its own defaults otherwise.
Prints clips per second for both and the ratio gpuvideo / keras_video.

By default a UCF101-like set is generated (once) under ``bench_data/`` (git-ignored):
4 classes x 24 MPEG-4 Part 2 AVI, 320x240, 150 frames (6 s at 25 fps), GOP 12::

    pip install --no-deps keras-video-generators==1.0.14
    python benchmarks/bench_generators.py --epochs 5 --json /tmp/generators_cpu.json

What is timed (wall clock, ``time.perf_counter``; CPU time of the whole process
with ``time.process_time``):

- gpuvideo, first epoch: the constructor (indexing every file into an empty
  index cache in a temporary folder) and one full epoch, no warm-up.
- gpuvideo, warm epochs: the median of ``--epochs`` further full epochs
  (``gen[i]`` for every batch, then ``on_epoch_end()``).
- gpuvideo ``workers=2``: the same generator built with ``workers=2`` and read
  through Keras's own ``PyDatasetAdapter`` (the iterator ``model.fit`` uses).
- keras_video: one warm-up batch, then the median of ``--epochs`` full epochs.
  keras_video 1.0.14 keeps every decoded clip in a cache it never turns off
  (whatever ``use_frame_cache`` says), so from its second epoch on it would not
  decode at all; its cache is emptied before each timed epoch so that every
  epoch decodes, as gpuvideo's default (no cache) does. The cached figure is
  printed as well, for information, next to gpuvideo with ``use_frame_cache=True``.

clips/s = clips returned / seconds; keras_video's ``len()`` is floor(files / batch),
gpuvideo's ceil(samples / batch) (the last batch is completed), so each side's
own clip count is used. Other processes on the machine slow both sides: the load
average is recorded with the figures.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

BATCH_SIZE = 8
NB_FRAMES = 5
TARGET_SHAPE = (112, 112)


# --------------------------------------------------------------------------- data
def make_data(root: Path, videos_per_class: int, frames: int, width: int, height: int) -> str:
    from gpuvideo.synthetic import make_action_dataset

    return make_action_dataset(root, videos_per_class=videos_per_class, nb_frames=frames, width=width,
                               height=height, codecs=("mpeg4",), progress=False)


def describe_data(pattern: str) -> dict:
    import glob

    import av

    files = sorted(glob.glob(pattern.replace("{classname}", "*")))
    if not files:
        raise SystemExit(f"no file matches {pattern!r}")
    with av.open(files[0]) as c:
        s = c.streams.video[0]
        info = dict(codec=s.codec_context.name, width=s.codec_context.width, height=s.codec_context.height,
                    frames=s.frames, fps=float(s.average_rate or 0))
    return dict(pattern=pattern, files=len(files), first_file=info,
                bytes=sum(os.path.getsize(f) for f in files))


# --------------------------------------------------------------------------- timing
class Timer:
    def __enter__(self):
        self.w, self.c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.w
        self.cpu = time.process_time() - self.c


def epoch_by_index(gen) -> int:
    """Read every batch with ``gen[i]``, then ``on_epoch_end()``; returns the clips read."""
    clips = 0
    for i in range(len(gen)):
        x, _ = gen[i]
        clips += len(x)
    gen.on_epoch_end()
    return clips


def summarise(name: str, runs: list[tuple[int, float, float]], **extra) -> dict:
    """``runs``: (clips, wall s, cpu s) per epoch -> median clips/s and CPU ms per clip."""
    rates = [c / w for c, w, _ in runs]
    return dict(name=name, epochs=len(runs), clips_per_epoch=runs[0][0],
                clips_per_s=statistics.median(rates), clips_per_s_min=min(rates), clips_per_s_max=max(rates),
                cpu_ms_per_clip=statistics.median(cpu / c * 1e3 for c, _, cpu in runs), **extra)


# --------------------------------------------------------------------------- gpuvideo
def bench_gpuvideo(pattern: str, epochs: int, tmp: str) -> list[dict]:
    from gpuvideo import VideoFrameGenerator

    with Timer() as t_index:
        gen = VideoFrameGenerator(glob_pattern=pattern, batch_size=BATCH_SIZE, nb_frames=NB_FRAMES,
                                  target_shape=TARGET_SHAPE, index_cache=os.path.join(tmp, "index.json"))
    with Timer() as t_first:
        clips = epoch_by_index(gen)
    first = dict(name="gpuvideo, first epoch (cold index)", epochs=1, clips_per_epoch=clips,
                 index_s=t_index.wall, epoch_s=t_first.wall,
                 clips_per_s=clips / (t_index.wall + t_first.wall),
                 clips_per_s_decode_only=clips / t_first.wall,
                 cpu_ms_per_clip=(t_index.cpu + t_first.cpu) / clips * 1e3)
    runs = []
    for _ in range(epochs):
        with Timer() as t:
            clips = epoch_by_index(gen)
        runs.append((clips, t.wall, t.cpu))
    warm = summarise("gpuvideo, warm epochs (defaults)", runs, decode_threads=gen.decoding.decode_threads)
    return [first, warm]


def bench_gpuvideo_workers(pattern: str, epochs: int, tmp: str, workers: int) -> dict | None:
    """Through Keras's PyDatasetAdapter (what ``model.fit`` iterates), ``workers`` threads."""
    try:
        from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter
    except ImportError as e:  # private Keras path: skip rather than fail
        print(f"(workers={workers} skipped: {e})", file=sys.stderr)
        return None
    from gpuvideo import VideoFrameGenerator

    gen = VideoFrameGenerator(glob_pattern=pattern, batch_size=BATCH_SIZE, nb_frames=NB_FRAMES,
                              target_shape=TARGET_SHAPE, index_cache=os.path.join(tmp, "index.json"),
                              workers=workers)
    adapter = PyDatasetAdapter(gen, shuffle=False)
    gen[0]   # warm-up batch

    def one_epoch():
        clips = 0
        adapter.on_epoch_begin()
        for x, _ in adapter.get_numpy_iterator():
            clips += len(x)
        adapter.on_epoch_end()
        return clips

    runs = []
    for _ in range(epochs):
        with Timer() as t:
            clips = one_epoch()
        runs.append((clips, t.wall, t.cpu))
    return summarise(f"gpuvideo, workers={workers} (Keras PyDatasetAdapter)", runs)


def bench_gpuvideo_cached(pattern: str, epochs: int, tmp: str) -> dict:
    from gpuvideo import VideoFrameGenerator

    gen = VideoFrameGenerator(glob_pattern=pattern, batch_size=BATCH_SIZE, nb_frames=NB_FRAMES,
                              target_shape=TARGET_SHAPE, index_cache=os.path.join(tmp, "index.json"),
                              use_frame_cache=True)
    epoch_by_index(gen)   # fills the cache
    runs = []
    for _ in range(epochs):
        with Timer() as t:
            clips = epoch_by_index(gen)
        runs.append((clips, t.wall, t.cpu))
    return summarise("gpuvideo, use_frame_cache=True, cached epochs (info)", runs)


# --------------------------------------------------------------------------- keras_video
def bench_keras_video(pattern: str, epochs: int) -> list[dict]:
    from gpuvideo.benchmarking import import_keras_video

    kv = import_keras_video()
    with contextlib.redirect_stdout(io.StringIO()):   # it prints its file counts
        gen = kv.VideoFrameGenerator(glob_pattern=pattern, batch_size=BATCH_SIZE, nb_frames=NB_FRAMES,
                                     target_shape=TARGET_SHAPE)
    # keras_video 1.0.14's always-on clip cache (a name-mangled private dict)
    cache = getattr(gen, "_VideoFrameGenerator__frame_cache", None)
    if not isinstance(cache, dict):
        raise RuntimeError("keras_video's frame cache attribute was not found: is it 1.0.14?")
    gen[0]   # warm-up batch
    runs = []
    for _ in range(epochs):
        cache.clear()
        with Timer() as t:
            clips = epoch_by_index(gen)
        runs.append((clips, t.wall, t.cpu))
    decoding = summarise("keras_video 1.0.14, every epoch decodes", runs)
    cached_runs = []
    for _ in range(epochs):
        with Timer() as t:
            clips = epoch_by_index(gen)
        cached_runs.append((clips, t.wall, t.cpu))
    cached = summarise("keras_video 1.0.14, its always-on cache (info)", cached_runs)
    return [decoding, cached]


# --------------------------------------------------------------------------- report
def print_table(rows: list[dict], ratio: float | None) -> None:
    print()
    print("| generator | clips/s (median) | min-max | CPU ms/clip | clips/epoch |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        spread = f"{r['clips_per_s_min']:.0f}-{r['clips_per_s_max']:.0f}" if "clips_per_s_min" in r else "-"
        print(f"| {r['name']} | {r['clips_per_s']:.1f} | {spread} | {r['cpu_ms_per_clip']:.2f} | "
              f"{r['clips_per_epoch']} |")
    first = next((r for r in rows if r.get("index_s") is not None), None)
    if first:
        print(f"\ngpuvideo first epoch: index {first['index_s']:.2f} s + epoch {first['epoch_s']:.2f} s "
              f"({first['clips_per_s_decode_only']:.1f} clips/s without the indexing)")
    if ratio is not None:
        print(f"\nratio gpuvideo (warm, defaults) / keras_video (decoding): {ratio:.2f}x")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", help="glob pattern with {classname}; default: generate the synthetic set")
    ap.add_argument("--root", default=str(REPO / "bench_data" / "ucf_like_320x240_mpeg4"),
                    help="where the synthetic set is written (reused when present)")
    ap.add_argument("--videos-per-class", type=int, default=24)
    ap.add_argument("--frames", type=int, default=150, help="frames per generated video")
    ap.add_argument("--epochs", type=int, default=5, help="timed epochs per generator (median reported)")
    ap.add_argument("--workers", type=int, default=2, help="gpuvideo workers for the PyDatasetAdapter row "
                                                           "(0: skip)")
    ap.add_argument("--no-keras-video", action="store_true", help="time gpuvideo only")
    ap.add_argument("--no-extras", action="store_true", help="skip the workers and cached rows")
    ap.add_argument("--json", help="write the figures and machine details to this file")
    args = ap.parse_args(argv)

    pattern = args.data or make_data(Path(args.root), args.videos_per_class, args.frames, 320, 240)
    data = describe_data(pattern)
    print(f"data: {data['files']} files matching {pattern} ({data['first_file']})", flush=True)
    load_before = os.getloadavg()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="gpuvideo-bench-") as tmp:
        rows += bench_gpuvideo(pattern, args.epochs, tmp)
        kv_rows = [] if args.no_keras_video else bench_keras_video(pattern, args.epochs)
        if not args.no_extras:
            if args.workers:
                w = bench_gpuvideo_workers(pattern, args.epochs, tmp, args.workers)
                if w:
                    rows.append(w)
            rows.append(bench_gpuvideo_cached(pattern, args.epochs, tmp))
    rows[2:2] = kv_rows[:1]
    rows += kv_rows[1:]
    load_after = os.getloadavg()
    warm = next(r for r in rows if r["name"].startswith("gpuvideo, warm"))
    kvd = next((r for r in rows if r["name"].startswith("keras_video") and "decodes" in r["name"]), None)
    ratio = warm["clips_per_s"] / kvd["clips_per_s"] if kvd else None
    print_table(rows, ratio)
    print(f"\nload average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min)")
    if args.json:
        from gpuvideo.benchmarking import machine_info

        out = dict(machine=machine_info(REPO), command=" ".join([Path(sys.executable).name, *sys.argv]),
                   settings=dict(batch_size=BATCH_SIZE, nb_frames=NB_FRAMES, target_shape=TARGET_SHAPE,
                                 shuffle=True, epochs=args.epochs),
                   data=data, rows=rows, ratio=ratio, loadavg_before=load_before, loadavg_after=load_after)
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
