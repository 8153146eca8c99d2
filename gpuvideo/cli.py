"""Command line: ``gpuvideo demo`` (more commands to come: bench, inspect, preview)."""
from __future__ import annotations

import argparse
import logging
import os
import sys

from . import __version__


def _demo(args) -> int:
    from .demo import run_demo

    res = run_demo(workdir=args.workdir, data=args.data, epochs=args.epochs, seed=args.seed,
                   progress=not args.quiet)
    out = sys.stdout
    out.write(f"classes: {', '.join(res['classes'])} ({res['files']} videos)\n")
    out.write(f"validation accuracy: {res['val_accuracy']:.3f}\n")
    out.write(f"clips per second: {res['loader_clips_per_second']:.1f} (loader alone), "
              f"{res['train_clips_per_second']:.1f} (while training)\n")
    if res["bad_files"]:
        out.write(f"skipped {len(res['bad_files'])} unusable video(s), see the log\n")
    if args.data is None and res["val_accuracy"] <= 0.9:
        out.write("validation accuracy is not above 0.90 on the sample data: something is wrong\n")
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gpuvideo", description="Video batches for Keras, on the GPU or the CPU.")
    p.add_argument("--version", action="version", version=f"gpuvideo {__version__}")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-v info, -vv debug)")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="train a small model on a built-in sample dataset (no data needed)",
                       description="Generate a moving-shapes dataset (class = direction of motion, real H.264 "
                                   "and MPEG-4 files), train a Conv3D model with model.fit on gpuvideo's "
                                   "generators, print validation accuracy and clips per second.")
    d.add_argument("--data", metavar="PATTERN", help="use your videos: a glob with {classname}, "
                                                     "e.g. 'videos/{classname}/*.avi'")
    d.add_argument("--workdir", default="demo_data", help="where the sample videos are written (default: %(default)s)")
    d.add_argument("--epochs", type=int, default=6)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    d.set_defaults(func=_demo)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError) as e:
        logging.getLogger("gpuvideo").error("%s", e)
        return 2


if __name__ == "__main__":
    sys.exit(main())
