"""``gpuvideo bench``: gpuvideo's generators measured on this machine, with every backend available here.

:func:`run_bench` times, on generated data (default) or on a dataset pattern:

- :class:`~gpuvideo.generator.VideoFrameGenerator`: clips/s and frames/s, per decode backend;
- :class:`~gpuvideo.flow.OpticalFlowGenerator`: flow pairs/s, per Farneback backend
  (``cv2``; ``cupy`` and ``opencv-cuda`` where a GPU allows them);
- :class:`~gpuvideo.timeseries.VideoTimeseriesGenerator`: windows/s on a long video;
- baselines where installed (:mod:`gpuvideo.benchmarking`): keras-video-generators
  1.0.14 and the seek-per-frame ``cv2.VideoCapture`` recipe.

Each row also records the process's peak resident memory so far (a
high-water mark, so it never decreases from row to row) and the GPU memory in
use (CuPy; ``None``, printed "n/a", without a GPU). Every timed pass first
reads one warm-up batch; a rate is the median over ``epochs`` passes.
:func:`write_outputs` writes ``bench.json`` and a bar chart ``bench.png``
(matplotlib, Agg).
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ..benchmarking import (gpu_memory_mib, import_keras_video, machine_info, median_rate, peak_rss_mib,
                            seek_recipe, timed_passes)
from . import EXIT_FAILURE, EXIT_OK, progress as _progress

log = logging.getLogger("gpuvideo")

def add_parser(sub, common) -> None:
    b = sub.add_parser("bench", parents=[common], help="benchmark the generators on this machine",
                       description="Time VideoFrameGenerator (clips/s, frames/s) for each decode backend, "
                                   "OpticalFlowGenerator (flow pairs/s) for each Farneback backend, the long-video "
                                   "timeseries generator (windows/s) and, where installed, keras-video-generators "
                                   "1.0.14 and the seek-per-frame cv2 recipe as baselines. Prints a table with "
                                   "peak RSS and GPU memory and writes OUT/bench.json and OUT/bench.png.")
    b.add_argument("--data", metavar="PATTERN", help="benchmark on your videos (a glob with {classname}); "
                                                     "default: generated videos")
    b.add_argument("--out", default="bench_results", metavar="DIR",
                   help="folder for bench.json and bench.png (default: %(default)s)")
    b.add_argument("--quick", action="store_true", help="tiny data, one pass: a check that everything runs")
    b.add_argument("--no-baselines", action="store_true", help="time gpuvideo only")
    b.add_argument("--epochs", type=int, default=None, help="timed passes per benchmark (median reported)")
    b.add_argument("--workdir", default="bench_data", help="where generated videos are written and reused "
                                                          "(default: %(default)s)")
    b.add_argument("--seed", type=int, default=0)
    b.set_defaults(func=run)


def run(args) -> int:
    res = run_bench(data=args.data, quick=args.quick, baselines=not args.no_baselines, workdir=args.workdir,
                    epochs=args.epochs, seed=args.seed, progress=_progress(args))
    if not res["rows"]:
        log.error("no benchmark could run")
        return EXIT_FAILURE
    sys.stdout.write(format_table(res))
    js, png = write_outputs(res, args.out)
    sys.stdout.write(f"wrote {js} and {png}\n")
    return EXIT_OK


#: settings of a full run and of ``quick=True`` (tests, a first look)
PRESETS = {
    "full": dict(videos_per_class=16, video_frames=64, width=320, height=240, batch_size=8, nb_frames=5,
                 target_shape=(112, 112), epochs=3, long_frames=3000, long_width=320, long_height=240,
                 length=16, stride=4, ts_batch=16, recipe_windows=48),
    "quick": dict(videos_per_class=3, video_frames=12, width=64, height=48, batch_size=4, nb_frames=4,
                  target_shape=(64, 48), epochs=1, long_frames=120, long_width=64, long_height=48,
                  length=4, stride=4, ts_batch=8, recipe_windows=8),
}


def _x_len(batch) -> int:
    x = batch[0] if isinstance(batch, tuple) else batch
    return len(x)


def _row(name: str, workload: str, backend: str, items: int, times: list[float], per_item: int,
         baseline: bool = False, **extra) -> dict:
    rate = median_rate(items, times)
    row = dict(name=name, workload=workload, backend=backend, baseline=baseline, items_per_pass=items,
               passes=len(times), seconds=round(sum(times), 4), clips_per_s=None, frames_per_s=None,
               flow_pairs_per_s=None, windows_per_s=None)
    if workload == "clips":
        row.update(clips_per_s=rate, frames_per_s=rate * per_item)
    elif workload == "flow":
        row.update(clips_per_s=rate, flow_pairs_per_s=rate * per_item)
    elif workload == "windows":
        row.update(windows_per_s=rate, frames_per_s=rate * per_item)
    row.update(peak_rss_mib=round(peak_rss_mib(), 1), gpu_mem_mib=gpu_memory_mib(), **extra)
    return row


# --------------------------------------------------------------------------- what is available
def decode_backends() -> list[str]:
    """Decode backends to time: ``cpu``, plus ``gpu`` when NVDEC works here."""
    from ..decode.select import gpu_status

    ok, reason = gpu_status()
    if not ok:
        log.info("bench: no GPU decoding (%s)", reason)
    return ["cpu", "gpu"] if ok else ["cpu"]


def flow_backends() -> list[str]:
    """Farneback backends to time: ``cv2`` and, where usable, ``cupy`` and ``opencv-cuda``."""
    from ..opticalflow import _cupy_impl, opencv_cuda_available

    out = ["cv2"]
    try:
        import cupy

        if cupy.cuda.is_available():
            _cupy_impl()
            out.append("cupy")
    except Exception as e:  # noqa: BLE001
        log.info("bench: no CuPy Farneback (%s)", e)
    if opencv_cuda_available():
        out.append("opencv-cuda")
    return out


def keras_video_module(notes: list[str]):
    """keras_video 1.0.14 (see :func:`gpuvideo.benchmarking.import_keras_video`), or None with a note why."""
    try:
        return import_keras_video()
    except Exception as e:  # noqa: BLE001 - not installed, or does not import here
        notes.append(f"keras_video baseline skipped: {type(e).__name__}: {e}")
        return None


# --------------------------------------------------------------------------- data
def make_data(workdir, preset: dict, seed: int = 0, progress: bool = True) -> tuple[str, str]:
    """Generated clip dataset (H.264 and MPEG-4) and one long H.264 video under ``workdir`` (reused)."""
    from ..synthetic import make_action_dataset, textured_frames, write_once

    p = preset
    root = Path(workdir) / f"bench_{p['width']}x{p['height']}_{p['videos_per_class']}x{p['video_frames']}"
    pattern = make_action_dataset(root, videos_per_class=p["videos_per_class"], nb_frames=p["video_frames"],
                                  width=p["width"], height=p["height"], seed=seed, progress=progress)
    long_path = Path(workdir) / f"bench_long_{p['long_frames']}_{p['long_width']}x{p['long_height']}.mp4"
    return pattern, write_once(long_path, textured_frames(p["long_frames"], p["long_width"], p["long_height"], seed))


def _long_videos_of(pattern: str, progress: bool, cache_path: str, limit: int = 4) -> list[str]:
    """The longest readable files of a dataset (for the timeseries benchmark on ``--data``)."""
    from ..discovery import find_files
    from ..errors import VideoError
    from ..probe import ProbeCache, index_videos

    _, files = find_files(pattern)
    found = index_videos([f for fs in files.values() for f in fs], ProbeCache(cache_path), progress=progress)
    good = sorted((v for v in found.values() if not isinstance(v, VideoError)), key=lambda i: -i.frame_count)
    return [v.path for v in good[:limit]]


# --------------------------------------------------------------------------- benchmarks
def bench_frames(pattern, p, backend, index_path, seed, progress) -> dict:
    from ..generator import VideoFrameGenerator

    t0 = time.perf_counter()
    gen = VideoFrameGenerator(glob_pattern=pattern, batch_size=p["batch_size"], nb_frames=p["nb_frames"],
                              target_shape=p["target_shape"], index_cache=index_path, seed=seed, progress=progress,
                              backend=backend)
    index_s = time.perf_counter() - t0
    items, times = timed_passes(gen.__getitem__, len(gen), p["epochs"], _x_len, gen.on_epoch_end)
    return _row(f"gpuvideo VideoFrameGenerator ({backend})", "clips", backend, items, times, p["nb_frames"],
                index_s=round(index_s, 3), files=gen.files_count)


def bench_flow(pattern, p, flow_backend, index_path, seed) -> dict:
    from ..flow import OpticalFlowGenerator

    gen = OpticalFlowGenerator(glob_pattern=pattern, batch_size=p["batch_size"], nb_frames=p["nb_frames"],
                               target_shape=p["target_shape"], index_cache=index_path, seed=seed, progress=False,
                               flow_backend=flow_backend)
    items, times = timed_passes(gen.__getitem__, len(gen), p["epochs"], _x_len, gen.on_epoch_end)
    return _row(f"gpuvideo OpticalFlowGenerator (flow {flow_backend})", "flow", flow_backend, items, times,
                p["nb_frames"])


def bench_timeseries(videos, p, index_path) -> dict:
    from ..timeseries import VideoTimeseriesGenerator

    gen = VideoTimeseriesGenerator(videos, None, length=p["length"], stride=p["stride"], batch_size=p["ts_batch"],
                                   target_shape=p["target_shape"], index_cache=index_path)
    items, times = timed_passes(gen.__getitem__, len(gen), p["epochs"], _x_len, gen.on_epoch_end)
    return _row("gpuvideo VideoTimeseriesGenerator (cpu)", "windows", "cpu", items, times, p["length"],
                videos=len(gen.videos))


def bench_keras_video(kv, pattern, p, flow: bool) -> dict:
    cls = kv.OpticalFlowGenerator if flow else kv.VideoFrameGenerator
    with contextlib.redirect_stdout(io.StringIO()):   # it prints its file counts
        gen = cls(glob_pattern=pattern, batch_size=p["batch_size"], nb_frames=p["nb_frames"],
                  target_shape=p["target_shape"])
    # keras_video 1.0.14 keeps every decoded clip in a cache it never turns off: empty it before each
    # batch so that every batch decodes, as gpuvideo's default (no cache) does
    cache = getattr(gen, "_VideoFrameGenerator__frame_cache", None)

    def get(i):
        if isinstance(cache, dict):
            cache.clear()
        with contextlib.redirect_stdout(io.StringIO()):
            return gen[i]

    n = len(gen)
    if n == 0:
        raise ValueError("keras_video gives no batch for this dataset (fewer files than batch_size)")
    items, times = timed_passes(get, n, p["epochs"], _x_len, gen.on_epoch_end)
    name = "keras_video 1.0.14 " + ("OpticalFlowGenerator" if flow else "VideoFrameGenerator")
    return _row(name, "flow" if flow else "clips", "cpu", items, times, p["nb_frames"], baseline=True)


def bench_recipe(video, p, notes) -> dict | None:
    try:
        n = p["recipe_windows"]
        it = seek_recipe(video, p["length"], 1, p["stride"], n + p["ts_batch"], tuple(p["target_shape"]),
                         p["ts_batch"])
        next(it)                                          # warm-up batch
        done, t0 = 0, time.perf_counter()
        for batch in it:
            done += len(batch)
            if done >= n:
                break
        seconds = time.perf_counter() - t0
    except Exception as e:  # noqa: BLE001 - TensorFlow's TimeseriesGenerator missing, video too short...
        notes.append(f"seek-per-frame recipe skipped: {type(e).__name__}: {e}")
        return None
    return _row("recipe: TimeseriesGenerator + cv2 seek per frame", "windows", "cpu", done, [seconds],
                p["length"], baseline=True)


def _step(kind: str, arg: str, c: dict) -> dict | None:
    if kind == "frames":
        return bench_frames(c["pattern"], c["p"], arg, c["index_path"], c["seed"], c["progress"])
    if kind == "flow":
        return bench_flow(c["pattern"], c["p"], arg, c["index_path"], c["seed"])
    if kind == "timeseries":
        if not c["long_videos"]:
            c["notes"].append("timeseries benchmark skipped: no readable video")
            return None
        return bench_timeseries(c["long_videos"], c["p"], c["index_path"])
    if kind == "recipe":
        return bench_recipe(c["long_videos"][0], c["p"], c["notes"]) if c["long_videos"] else None
    return bench_keras_video(c["kv"], c["pattern"], c["p"], flow=(arg == "flow"))


def _run_step(kind: str, arg: str, ctx: dict) -> dict | None:
    """One benchmark row; a failing GPU backend or baseline is noted, never loses the other rows."""
    log.info("bench: %s %s", kind, arg)
    try:
        return _step(kind, arg, ctx)
    except Exception as e:  # noqa: BLE001
        if kind in ("frames", "flow") and arg in ("cpu", "cv2"):
            raise          # the data itself is unusable
        log.warning("bench: %s %s failed: %s", kind, arg, e, exc_info=log.isEnabledFor(logging.DEBUG))
        ctx["notes"].append(f"{kind} {arg} failed: {type(e).__name__}: {e}")
        return None


def run_bench(data: str | None = None, quick: bool = False, baselines: bool = True, workdir="bench_data",
              epochs: int | None = None, seed: int = 0, progress: bool = True) -> dict:
    """Run every benchmark available here; returns ``{"machine", "settings", "data", "rows", "notes"}``."""
    from tqdm.auto import tqdm

    p = dict(PRESETS["quick" if quick else "full"])
    if epochs is not None:
        if epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {epochs}")
        p["epochs"] = int(epochs)
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="gpuvideo-bench-") as tmp:
        index_path = os.path.join(tmp, "index.json")
        if data is None:
            pattern, long_video = make_data(workdir, p, seed, progress)
            long_videos = [long_video]
        else:
            from ..discovery import find_files
            find_files(data)      # FileNotFoundError / ValueError early, before any timing
            pattern = data
            long_videos = _long_videos_of(data, progress, index_path)
        kv = keras_video_module(notes) if baselines else None
        steps = [("frames", b) for b in decode_backends()] + [("flow", b) for b in flow_backends()]
        steps.append(("timeseries", "cpu"))
        if baselines:
            steps += [("recipe", "cpu")]
            if kv is not None:
                steps += [("kv", "frames"), ("kv", "flow")]
        rows = []
        for kind, arg in tqdm(steps, desc="benchmarks", unit="run", disable=not progress):
            ctx = dict(pattern=pattern, p=p, index_path=index_path, seed=seed, progress=progress,
                       long_videos=long_videos, kv=kv, notes=notes)
            row = _run_step(kind, arg, ctx)
            if row is not None:
                rows.append(row)
    for n in notes:
        log.info("bench: %s", n)
    settings = {k: (list(v) if isinstance(v, tuple) else v) for k, v in p.items()}
    return dict(version=1, machine=machine_info(), quick=bool(quick), settings=settings,
                data=dict(pattern=pattern, long_videos=long_videos, generated=data is None),
                rows=rows, notes=notes,
                peak_rss_note="peak_rss_mib is the process's high-water mark (ru_maxrss) after each row")


# --------------------------------------------------------------------------- output
def _fmt(v, digits: int = 1) -> str:
    return "n/a" if v is None else f"{v:,.{digits}f}"


def format_table(result: dict) -> str:
    """A text table: one row per benchmark, rates, peak RSS and GPU memory ("n/a" without a GPU)."""
    from .inspect import text_table

    headers = ["benchmark", "backend", "clips/s", "frames/s", "flow pairs/s", "windows/s", "peak RSS MiB",
               "GPU mem MiB"]
    rows = [[r["name"], r["backend"], _fmt(r["clips_per_s"]), _fmt(r["frames_per_s"], 0),
             _fmt(r["flow_pairs_per_s"], 0), _fmt(r["windows_per_s"]), _fmt(r["peak_rss_mib"], 0),
             _fmt(r["gpu_mem_mib"], 0)] for r in result["rows"]]
    m = result["machine"]
    head = (f"gpuvideo {m['gpuvideo']} on {m['cpus']} CPU(s), GPU: {m['gpu'] or 'none'}; "
            f"data: {result['data']['pattern']}" + (" (quick)" if result.get("quick") else ""))
    out = [head, "", text_table(headers, rows)]
    if result["notes"]:
        out += [""] + [f"note: {n}" for n in result["notes"]]
    return "\n".join(out) + "\n"


def plot(result: dict, path) -> Path:
    """Bar chart PNG: one panel per workload (clips/s, flow pairs/s, windows/s); baselines in grey."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    panels = [("clips", "clips_per_s", "VideoFrameGenerator: clips/s"),
              ("flow", "flow_pairs_per_s", "OpticalFlowGenerator: flow pairs/s"),
              ("windows", "windows_per_s", "long video: windows/s")]
    panels = [(w, k, t, [r for r in result["rows"] if r["workload"] == w]) for w, k, t in panels]
    panels = [x for x in panels if x[3]] or [("none", None, "no benchmark ran", [])]
    height = sum(0.9 + 0.45 * max(1, len(x[3])) for x in panels) + 0.6
    fig = Figure(figsize=(9, height), dpi=100)
    axes = fig.subplots(len(panels), 1, squeeze=False, height_ratios=[max(1, len(x[3])) + 1 for x in panels])
    for ax, (_, key, title, rows) in zip(axes[:, 0], panels):
        ax.set_title(title, fontsize=10, loc="left")
        if not rows:
            ax.axis("off")
            continue
        vals = [r[key] or 0.0 for r in rows]
        names = [r["name"].replace("gpuvideo ", "") for r in rows]
        ys = np.arange(len(rows))[::-1]
        bars = ax.barh(ys, vals, color=["0.6" if r["baseline"] else "C0" for r in rows])
        ax.set_yticks(ys, names, fontsize=8)
        ax.bar_label(bars, labels=[f"{v:,.1f}" for v in vals], fontsize=8, padding=3)
        ax.set_xlim(0, max(vals + [1e-9]) * 1.25)
        ax.tick_params(axis="x", labelsize=8)
    m = result["machine"]
    fig.suptitle(f"gpuvideo bench: {m['cpus']} CPU(s), GPU {m['gpu'] or 'none'}"
                 + (" (quick)" if result.get("quick") else ""), fontsize=11)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def write_outputs(result: dict, out_dir) -> tuple[Path, Path]:
    """``out_dir/bench.json`` and ``out_dir/bench.png``; returns both paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    js = out_dir / "bench.json"
    js.write_text(json.dumps(result, indent=2) + "\n")
    png = plot(result, out_dir / "bench.png")
    return js, png
