"""Command line: ``gpuvideo demo | bench | inspect | preview`` (``gpuvideo COMMAND --help`` for each).

Exit codes: 0 success, 1 failure (including a demo that does not learn), 2 usage
or data error (bad arguments, a pattern that matches nothing, an unusable
dataset). ``-v``/``-vv`` log more (INFO, DEBUG), ``-q`` logs errors only and
hides progress bars; both work before or after the command name.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from . import __version__

log = logging.getLogger("gpuvideo")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A command-line or data problem: exit code 2."""


def _progress(args) -> bool:
    return not getattr(args, "quiet", False)


# --------------------------------------------------------------------------- demo
def _demo(args) -> int:
    if args.long:
        return _demo_long(args)
    from .demo import run_demo

    res = run_demo(workdir=args.workdir, data=args.data, epochs=args.epochs if args.epochs is not None else 6,
                   seed=args.seed, progress=_progress(args))
    out = sys.stdout
    out.write(f"classes: {', '.join(res['classes'])} ({res['files']} videos)\n")
    out.write(f"validation accuracy: {res['val_accuracy']:.3f}\n")
    out.write(f"clips per second: {res['loader_clips_per_second']:.1f} (loader alone), "
              f"{res['train_clips_per_second']:.1f} (while training)\n")
    if res["bad_files"]:
        out.write(f"skipped {len(res['bad_files'])} unusable video(s), see the log\n")
    if args.data is None and res["val_accuracy"] <= 0.9:
        out.write("validation accuracy is not above 0.90 on the sample data: something is wrong\n")
        return EXIT_FAILURE
    return EXIT_OK


def _demo_long(args) -> int:
    if args.data is not None:
        raise UsageError("--long trains on a generated long video: it does not take --data")
    try:
        from .demo_long import run_long_demo
    except ImportError as e:
        log.error("the long-video demo is not available in this installation (gpuvideo.demo_long: %s)", e)
        return EXIT_FAILURE
    kwargs = {"seed": args.seed}
    if args.epochs is not None:
        kwargs["epochs"] = args.epochs
    res = run_long_demo(args.workdir, **kwargs)
    out = sys.stdout
    out.write("long-video demo: anomaly detection on one generated video (VideoTimeseriesGenerator)\n")
    chance = res.get("chance_accuracy")
    out.write(f"held-out accuracy: {res['accuracy']:.3f}"
              + (f" (always guessing the majority class: {chance:.3f})" if chance is not None else "") + "\n")
    out.write(f"windows per second: {res['windows_per_second']:.1f} (while training)\n")
    return EXIT_OK


# --------------------------------------------------------------------------- bench
def _bench(args) -> int:
    from .bench import format_table, run_bench, write_outputs

    res = run_bench(data=args.data, quick=args.quick, baselines=not args.no_baselines, workdir=args.workdir,
                    epochs=args.epochs, seed=args.seed, progress=_progress(args))
    if not res["rows"]:
        log.error("no benchmark could run")
        return EXIT_FAILURE
    sys.stdout.write(format_table(res))
    js, png = write_outputs(res, args.out)
    sys.stdout.write(f"wrote {js} and {png}\n")
    return EXIT_OK


# --------------------------------------------------------------------------- inspect
def _inspect(args) -> int:
    from .inspect_cmd import format_report, inspect_dataset

    report = inspect_dataset(args.pattern, decode=args.decode, progress=_progress(args),
                             index_cache=None if args.no_cache else True, threads=args.threads)
    if args.json:
        text = json.dumps(report, indent=2) + "\n"
        if args.json == "-":
            sys.stdout.write(text)
        else:
            with open(args.json, "w") as f:
                f.write(text)
    if args.json != "-":
        sys.stdout.write(format_report(report, max_files=args.max_files))
        if args.json:
            sys.stdout.write(f"wrote {args.json}\n")
    if args.strict and report["unreadable"]:
        return EXIT_FAILURE
    return EXIT_OK


# --------------------------------------------------------------------------- preview
def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
        if w < 2 or h < 2:
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 128x96, got {text!r}") from None
    return w, h


def _preview(args) -> int:
    from .preview import preview_batch

    gif = False if args.no_gif else (args.gif or True)
    res = preview_batch(out=args.out, generator=args.generator, method=args.method, data=args.data,
                        workdir=args.workdir, batch_size=args.batch_size, nb_frames=args.nb_frames,
                        target_shape=args.size, nb_channel=1 if args.grey else 3, batch_index=args.batch,
                        seed=args.seed, gif=gif, progress=_progress(args))
    out = sys.stdout
    out.write(f"batch of {res['shape'][0]} clips x {res['shape'][1]} images of {res['shape'][3]}x{res['shape'][2]} "
              f"from {res['pattern']}\n")
    out.write(f"classes in this batch: {', '.join(res['labels'])}\n")
    out.write(f"wrote {res['png']} ({res['png_size'][0]}x{res['png_size'][1]})")
    if res["gif"]:
        out.write(f" and {res['gif']} ({res['gif_size'][0]}x{res['gif_size'][1]}, {res['gif_frames']} frames)")
    out.write("\n")
    return EXIT_OK


# --------------------------------------------------------------------------- parser
def _common() -> argparse.ArgumentParser:
    """-v/-q for every command (SUPPRESS keeps the value given before the command name)."""
    c = argparse.ArgumentParser(add_help=False)
    g = c.add_argument_group("output")
    g.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                   help="more logging (-v info, -vv debug)")
    g.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                   help="errors only, no progress bars")
    return c


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    p = argparse.ArgumentParser(
        prog="gpuvideo", parents=[common],
        description="Video batches for Keras, on the GPU or the CPU.",
        epilog="exit codes: 0 ok, 1 failure, 2 usage or data error. 'gpuvideo COMMAND --help' for each command.")
    p.add_argument("--version", action="version", version=f"gpuvideo {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    d = sub.add_parser("demo", parents=[common], help="train a small model on a built-in sample dataset (no data needed)",
                       description="Generate a moving-shapes dataset (class = direction of motion, real H.264 "
                                   "and MPEG-4 files), train a Conv3D model with model.fit on gpuvideo's "
                                   "generators, print validation accuracy and clips per second. With --long: "
                                   "anomaly detection on one generated long video with VideoTimeseriesGenerator, "
                                   "printing held-out accuracy and windows per second.")
    d.add_argument("--data", metavar="PATTERN", help="use your videos: a glob with {classname}, "
                                                     "e.g. 'videos/{classname}/*.avi'")
    d.add_argument("--long", action="store_true", help="run the long-video (timeseries) demo instead")
    d.add_argument("--workdir", default="demo_data", help="where the sample videos are written (default: %(default)s)")
    d.add_argument("--epochs", type=int, default=None, help="training epochs (default: 6; --long: the long "
                                                            "demo's own default)")
    d.add_argument("--seed", type=int, default=0)
    d.set_defaults(func=_demo)

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
    b.set_defaults(func=_bench)

    i = sub.add_parser("inspect", parents=[common], help="report codecs, sizes, frame counts, VFR and NVDEC "
                                                         "support of a dataset",
                       description="Probe every file matching PATTERN (with a progress bar, through the index "
                                   "cache the generators use) and report, per class: file count, codecs, "
                                   "resolutions, fps, frame counts (header against stream, and against decoded "
                                   "frames with --decode), variable frame rate, NVDEC compatibility, and "
                                   "unreadable files with the reason.")
    i.add_argument("pattern", metavar="PATTERN", help="glob with {classname}, e.g. 'videos/{classname}/*.avi' "
                                                      "(without {classname}: one class)")
    i.add_argument("--json", metavar="FILE", help="also write the full report as JSON to FILE ('-': JSON only, "
                                                  "to stdout)")
    i.add_argument("--decode", action="store_true", help="also count frames by decoding every file (slow)")
    i.add_argument("--no-cache", action="store_true", help="do not read or write the index cache")
    i.add_argument("--threads", type=int, default=None, help="files probed in parallel (default: up to 8)")
    i.add_argument("--max-files", type=int, default=20, help="files listed per section of the text report")
    i.add_argument("--strict", action="store_true", help="exit with 1 when a file is unreadable")
    i.set_defaults(func=_inspect)

    v = sub.add_parser("preview", parents=[common], help="write a PNG grid and a GIF of one batch",
                       description="Read one batch of a generator and write a PNG grid of its clips labelled "
                                   "with class names (for the flow generator: frames with the motion images "
                                   "beneath them) and an animated GIF. Without --data, a small moving-shapes "
                                   "dataset is generated in WORKDIR/preview.")
    v.add_argument("--generator", choices=("frame", "sliding", "flow"), default="frame",
                   help="VideoFrameGenerator, SlidingFrameGenerator or OpticalFlowGenerator (default: %(default)s)")
    v.add_argument("--method", default="optical-flow",
                   help="flow generator method: optical-flow, flow-mask, diff-mask, abs-diff or 1-4 "
                        "(default: %(default)s)")
    v.add_argument("--data", metavar="PATTERN", help="glob with {classname}; default: a generated sample dataset")
    v.add_argument("--out", default="preview.png", metavar="PNG", help="PNG to write (default: %(default)s)")
    v.add_argument("--gif", metavar="GIF", help="GIF to write (default: the PNG's name with .gif)")
    v.add_argument("--no-gif", action="store_true", help="write the PNG only")
    v.add_argument("--batch", type=int, default=0, help="which batch (default: 0)")
    v.add_argument("--batch-size", type=int, default=4)
    v.add_argument("--nb-frames", type=int, default=5)
    v.add_argument("--size", type=_size, default=(128, 96), metavar="WxH", help="target_shape (default: 128x96)")
    v.add_argument("--grey", action="store_true", help="nb_channel=1")
    v.add_argument("--workdir", default="demo_data", help="where the sample dataset is written (default: %(default)s)")
    v.add_argument("--seed", type=int, default=0)
    v.set_defaults(func=_preview)
    return p


def _setup_logging(args) -> None:
    verbose, quiet = getattr(args, "verbose", 0), getattr(args, "quiet", False)
    if quiet:
        level = logging.ERROR
    else:
        level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("gpuvideo").setLevel(level)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)          # exits with 2 on usage errors, 0 on --help
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    _setup_logging(args)
    from .errors import VideoError

    try:
        return args.func(args)
    except UsageError as e:
        parser.exit(EXIT_USAGE, f"gpuvideo {args.command}: error: {e}\n")
    except (FileNotFoundError, ValueError, VideoError) as e:
        log.error("%s", e)
        return EXIT_USAGE
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130
    except Exception as e:  # noqa: BLE001 - a CLI reports, with the traceback at -v
        log.error("%s failed: %s: %s", args.command, type(e).__name__, e, exc_info=log.isEnabledFor(logging.INFO))
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
