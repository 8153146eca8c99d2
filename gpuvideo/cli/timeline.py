"""``gpuvideo timeline MODEL VIDEO``: a window model's per-frame scores over a long video, as CSV and a plot.

The saved Keras model (``.keras``) takes windows ``(batch, length, height,
width, channels)``; unless given, ``--length``, ``--size`` and ``--grey`` are read
from its input shape. :func:`predict_timeline` runs ``model.predict`` over a
:class:`~gpuvideo.timeseries.VideoTimeseriesGenerator` and turns the window
outputs into one score per frame (:func:`gpuvideo.timeline.timeline`);
:func:`write_outputs` writes ``PREFIX.csv`` (one row per frame: video, frame,
time in seconds from the file's timestamps, score, windows),
``PREFIX_intervals.csv`` (runs of frames at or above ``--threshold``) and
``PREFIX.png`` (score against time, intervals shaded; matplotlib, Agg).
"""
from __future__ import annotations

import csv
import logging
import sys
from pathlib import Path

import numpy as np

from . import EXIT_OK, UsageError

log = logging.getLogger("gpuvideo")


def add_parser(sub, common) -> None:
    t = sub.add_parser("timeline", parents=[common], help="per-frame scores of a window model over a video: "
                                                          "CSV, intervals and a plot",
                       description="Run a saved Keras model on every window of VIDEO (VideoTimeseriesGenerator), "
                                   "average each frame's window outputs into one score per frame, and write "
                                   "PREFIX.csv, PREFIX_intervals.csv (frames scoring at or above --threshold) "
                                   "and PREFIX.png (score against time, intervals shaded).")
    t.add_argument("model", metavar="MODEL", help="saved Keras model (.keras) taking (batch, T, H, W, C) windows")
    t.add_argument("video", metavar="VIDEO", help="the video file")
    t.add_argument("--out", metavar="PREFIX", help="output prefix (default: VIDEO's name + '_timeline', "
                                                   "in the current folder)")
    t.add_argument("--length", type=int, help="frames per window (default: the model's input T)")
    t.add_argument("--size", type=_size, metavar="WxH", help="frame size (default: the model's input W, H)")
    t.add_argument("--grey", action="store_true", default=None, help="grey frames (default: model input C == 1)")
    t.add_argument("--stride", type=int, default=1, help="frames between window starts (default: %(default)s)")
    t.add_argument("--sampling-rate", type=int, default=1, help="frames between a window's frames (default: 1)")
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--rescale", type=float, default=1 / 255.0, help="x = frame * RESCALE (default: 1/255)")
    t.add_argument("--rule", choices=("mean", "max"), default="mean",
                   help="a frame's score: mean or max of the windows covering it (default: %(default)s)")
    t.add_argument("--threshold", type=float, default=0.5, help="intervals: score >= THRESHOLD (default: 0.5)")
    t.add_argument("--column", type=int, help="which output value, for models with several per window")
    t.add_argument("--min-frames", type=int, default=1, help="shortest interval kept, in frames (default: 1)")
    t.add_argument("--backend", default="auto", help="decode backend: auto, cpu, gpu, dali-cpu (default: auto)")
    t.set_defaults(func=run)


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"size must be WxH, e.g. 112x112, got {text!r}") from None
    return w, h


def window_settings(model, length: int | None = None, size=None, grey: bool | None = None) -> dict:
    """``length``, ``target_shape`` (w, h) and ``nb_channel`` from the arguments, else the model's input."""
    shape = tuple(model.input_shape)
    if len(shape) != 5:
        raise UsageError(f"the model takes inputs of shape {shape}: expected (batch, T, H, W, C) windows")
    _, t, h, w, c = shape
    length = length or t
    size = size or ((w, h) if w and h else None)
    channels = (1 if grey else 3) if grey is not None else c
    if not length or not size or channels not in (1, 3):
        raise UsageError(f"cannot tell window length, size and channels from the model input {shape}: "
                         f"give --length, --size and --grey")
    return {"length": int(length), "target_shape": tuple(int(v) for v in size), "nb_channel": int(channels)}


def predict_timeline(model, video, rule: str = "mean", verbose: int = 0, **gen_args):
    """``model.predict`` over every window of ``video`` -> :class:`~gpuvideo.timeline.Timeline`.

    ``gen_args`` go to :class:`~gpuvideo.timeseries.VideoTimeseriesGenerator`
    (``length``, ``target_shape``, ``nb_channel``, ``stride``...); targets are None
    and the last batch shorter, so there is one prediction per window.
    """
    from ..timeline import timeline
    from ..timeseries import VideoTimeseriesGenerator

    gen = VideoTimeseriesGenerator(video, None, shuffle=False, complete_last_batch=False, **gen_args)
    try:
        return timeline(gen, model.predict(gen, verbose=verbose), rule)
    finally:
        gen.close()


def write_outputs(tl, prefix, threshold: float = 0.5, column: int | None = None, min_frames: int = 1,
                  truth=None, title: str | None = None) -> dict:
    """Write ``PREFIX.csv``, ``PREFIX_intervals.csv`` and ``PREFIX.png``; returns their paths and the intervals.

    ``truth``: optional per-frame 0/1 array (the timeline's frames, in order) drawn as a band under the curve.
    """
    prefix = Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    paths = {"csv": prefix.with_name(prefix.name + ".csv"),
             "intervals_csv": prefix.with_name(prefix.name + "_intervals.csv"),
             "png": prefix.with_name(prefix.name + ".png")}
    tl.to_csv(paths["csv"])
    intervals = tl.intervals(threshold, column, min_frames)
    with open(paths["intervals_csv"], "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["video", "first_frame", "last_frame", "start", "end", "peak"])
        w.writerows([i.video, i.first_frame, i.last_frame, f"{i.start:.6f}", f"{i.end:.6f}", f"{i.peak:.6g}"]
                    for i in intervals)
    plot_timeline(tl, intervals, paths["png"], threshold, column, truth, title)
    return {**paths, "intervals": intervals}


def plot_timeline(tl, intervals, path, threshold: float, column: int | None = None, truth=None,
                  title: str | None = None) -> None:
    """Score against time (one panel per video), the threshold, intervals shaded, ``truth`` as a band."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    scores = tl.scores(column)
    fig = Figure(figsize=(10, 2.6 * len(tl.videos) + 0.4), dpi=100)
    axes = fig.subplots(len(tl.videos), 1, squeeze=False)[:, 0]
    for v, (ax, video) in enumerate(zip(axes, tl.videos)):
        rows = tl.video == v
        t, s = tl.time[rows], scores[rows]
        for k, i in enumerate(x for x in intervals if x.video == video):
            ax.axvspan(i.start, i.end, color="tab:red", alpha=0.25, lw=0, label="intervals" if k == 0 else None)
        if truth is not None:           # a band along the bottom of the panel (y in axes units)
            on = np.asarray(truth)[rows].astype(float)
            ax.fill_between(t, 0, 0.06 * on, step="post", color="black", lw=0, label="truth",
                            transform=ax.get_xaxis_transform())
        ax.plot(t, s, color="tab:blue", lw=1, label="score")
        ax.axhline(threshold, color="tab:red", ls="--", lw=0.8, label=f"threshold {threshold:g}")
        ax.set_xlim(t[0], t[-1] if len(t) > 1 else t[0] + 1)
        ax.set_ylabel("score")
        ax.set_title(Path(video).name, fontsize=9, loc="left")
        ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize=7, ncol=4, frameon=False)
    axes[-1].set_xlabel("time (s, from the file's timestamps)")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, format="png")


def run(args) -> int:
    import keras

    for name in ("stride", "sampling_rate", "batch_size", "min_frames"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if not Path(args.video).is_file():
        raise FileNotFoundError(f"no such video: {args.video}")
    model = keras.saving.load_model(args.model)
    settings = window_settings(model, args.length, args.size, args.grey)
    tl = predict_timeline(model, args.video, args.rule, stride=args.stride, sampling_rate=args.sampling_rate,
                          batch_size=args.batch_size, rescale=args.rescale, backend=args.backend, **settings)
    prefix = args.out or Path(args.video).stem + "_timeline"
    res = write_outputs(tl, prefix, args.threshold, args.column, args.min_frames,
                        title=f"{Path(args.model).name} on {Path(args.video).name}")
    report(res, sys.stdout)
    return EXIT_OK


def report(res: dict, out) -> None:
    """Print where the files are and the intervals found."""
    out.write(f"timeline: {res['csv']} (per frame), {res['intervals_csv']}, plot: {res['png']}\n")
    out.write(f"{len(res['intervals'])} interval(s) at or above the threshold\n")
    for i in res["intervals"][:20]:
        out.write(f"  {i.start:9.3f} s - {i.end:9.3f} s  frames {i.first_frame}-{i.last_frame}  peak {i.peak:.3f}\n")
    if len(res["intervals"]) > 20:
        out.write(f"  ... ({len(res['intervals']) - 20} more in {res['intervals_csv']})\n")
