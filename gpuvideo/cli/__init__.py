"""Command line: ``gpuvideo demo | bench | inspect | preview | timeline`` (``gpuvideo COMMAND --help`` for each).

One module per command (:mod:`.demo`, :mod:`.bench`, :mod:`.inspect`,
:mod:`.preview`, :mod:`.timeline`), each with ``add_parser(subparsers, common)`` and the
function the command runs; heavy imports happen only when a command runs.

Exit codes: 0 success, 1 failure (including a demo that does not learn), 2 usage
or data error (bad arguments, a pattern that matches nothing, an unusable
dataset). ``-v``/``-vv`` log more (INFO, DEBUG), ``-q`` logs errors only and
hides progress bars; both work before or after the command name.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from .. import __version__

log = logging.getLogger("gpuvideo")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
COMMANDS = ("demo", "bench", "inspect", "preview", "timeline")


class UsageError(Exception):
    """A command-line or data problem: exit code 2."""


def progress(args) -> bool:
    """Progress bars unless ``-q``."""
    return not getattr(args, "quiet", False)


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
    for name in COMMANDS:
        importlib.import_module(f".{name}", __name__).add_parser(sub, common)
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
    # before any framework is imported: TensorFlow and JAX would otherwise map most of the GPU at start,
    # leaving DALI and CuPy nothing to allocate
    os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    _setup_logging(args)
    from ..errors import VideoError

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
