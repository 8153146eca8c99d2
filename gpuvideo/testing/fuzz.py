"""Fuzzing the index and the decoder: mutated copies of small valid files of every container and codec.

:func:`write_seeds` writes the small valid files, :func:`mutate` damages a copy (bit flips, overwritten,
inserted, repeated or deleted chunks, cuts, in the header, the middle or the tail) and :func:`run_case`
indexes and decodes one file as the generators do, returning what happened. Anything but a
:class:`~gpuvideo.errors.VideoError` escaping ``run_case`` is a bug; run it in a child process
(:class:`gpuvideo.testing.Isolated`) to catch hangs and crashes too. ``tests/test_fuzz_decode.py`` runs a few
hundred cases; ``benchmarks/fuzz_decode.py`` runs long campaigns.
"""
from __future__ import annotations

import os
import shutil
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..synthetic import quiet_svt_av1, write_index_video

#: seed files: name -> (codec, write_index_video keyword arguments)
SEEDS = {
    "h264.mp4": ("h264", {}),
    "h264_faststart.mp4": ("h264", {"container_options": {"movflags": "faststart"}}),
    "h264.mkv": ("h264", {}),
    "h264.ts": ("h264", {}),
    "h264.mov": ("h264", {}),
    "mpeg4.avi": ("mpeg4", {}),
    "mpeg4_bframes.avi": ("mpeg4_bframes", {}),
    "mjpeg.avi": ("mjpeg", {}),
    "vp9.webm": ("vp9", {}),
    "vp8.webm": ("vp8", {}),
    "mpeg2.mpg": ("mpeg2", {}),
    "hevc.mp4": ("hevc", {}),
    "av1.mkv": ("av1", {}),
    "ffv1.mkv": ("ffv1", {}),
    "h264_rot90.mp4": ("h264", {"rotation": 90}),
}

#: mutation kinds :func:`mutate` draws from
MUTATIONS = ("flip", "flips", "overwrite", "zero", "insert", "repeat", "delete", "cut", "header", "tail", "combo")


def write_seeds(root: str | os.PathLike, frames: int = 24, width: int = 64, height: int = 48,
                extra: dict[str, str] | None = None) -> dict[str, Path]:
    """Write the seed files (index-coded, ``frames`` frames of ``width`` x ``height``) under ``root``;
    ``extra`` maps more names to existing files to copy in (e.g. a Theora file). Returns name -> path; a seed
    whose encoder this PyAV lacks is left out."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    out = {}
    with quiet_svt_av1():
        for name, (codec, kw) in SEEDS.items():
            path = root / name
            try:
                if not path.exists():
                    write_index_video(path, frames, width, height, codec=codec, **kw)
                out[name] = path
            except Exception:   # encoder missing from this build
                if path.exists():
                    path.unlink()
    for name, src in (extra or {}).items():
        shutil.copy(src, root / name)
        out[name] = root / name
    return out


def _span(rng, n: int, lo: int = 1, hi: int = 4096) -> int:
    return int(rng.integers(lo, max(lo + 1, min(hi, n // 2 + 2))))


def mutate(data: bytes, rng: np.random.Generator, kind: str | None = None) -> tuple[bytes, str]:
    """A damaged copy of ``data`` and a short description of what was done (reproducible from ``rng``)."""
    kind = kind or MUTATIONS[int(rng.integers(len(MUTATIONS)))]
    b = bytearray(data)
    n = len(b)
    if n < 16:
        return bytes(b), "too small"
    if kind == "combo":
        out, what = bytes(b), []
        for _ in range(int(rng.integers(2, 4))):
            k = MUTATIONS[int(rng.integers(len(MUTATIONS) - 1))]
            out, w = mutate(out, rng, k)
            what.append(w)
        return out, " + ".join(what)
    if kind in ("flip", "flips", "header", "tail"):
        count = 1 if kind == "flip" else int(rng.integers(2, 33))
        if kind == "header":
            lo, hi = 0, min(n, 1024)
        elif kind == "tail":
            lo, hi = max(0, n - 1024), n
        else:
            lo, hi = 0, n
        at = rng.integers(lo, hi, size=count)
        for i in at:
            b[int(i)] ^= 1 << int(rng.integers(0, 8))
        return bytes(b), f"{kind}: {count} bit flip(s) at {sorted(int(i) for i in at)[:4]}..."
    at = int(rng.integers(0, n))
    size = _span(rng, n)
    if kind == "overwrite":
        b[at:at + size] = rng.integers(0, 256, len(b[at:at + size]), dtype=np.uint8).tobytes()
        return bytes(b), f"overwrite {size} random bytes at {at}"
    if kind == "zero":
        b[at:at + size] = bytes(len(b[at:at + size]))
        return bytes(b), f"zero {size} bytes at {at}"
    if kind == "insert":
        return bytes(b[:at]) + rng.integers(0, 256, size, dtype=np.uint8).tobytes() + bytes(b[at:]), \
            f"insert {size} random bytes at {at}"
    if kind == "repeat":
        src = int(rng.integers(0, n))
        chunk = bytes(b[src:src + size])
        return bytes(b[:at]) + chunk + bytes(b[at:]), f"repeat {len(chunk)} bytes from {src} at {at}"
    if kind == "delete":
        return bytes(b[:at]) + bytes(b[at + size:]), f"delete {size} bytes at {at}"
    if kind == "cut":
        return bytes(b[:at]), f"cut at {at} of {n}"
    raise ValueError(f"unknown mutation {kind!r}")


def _rss_now() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def run_case(path: str, max_frames: int = 300, index_coded: bool = True, rotation: int = 0) -> dict:
    """Index ``path`` and decode it (tolerant read of every frame, strict reads, a resized read).

    Returns ``{"outcome": "bad"|"all"|"partial"|"none", "frames", "served", "missing", "wrong", "strict_errors",
    "reason", "rss"}``: ``wrong`` counts served frames whose content spells another index (damage the
    decoder could not see); ``rss`` is this process's resident memory after the case. Only VideoError is
    handled: any other exception propagates.
    """
    from ..decode import PyAVReader
    from ..errors import VideoError
    from ..probe import index_videos
    from .corpus import index_of

    res = index_videos([path], progress=False, report_warnings=False)[path]
    if isinstance(res, VideoError):
        return {"outcome": "bad", "reason": res.reason[:120], "frames": 0, "served": 0, "missing": 0, "wrong": 0,
                "strict_errors": 0, "rss": _rss_now()}
    info = res
    n = min(info.frame_count, max_frames)
    with PyAVReader(info, skip_corrupt_packets=True) as reader:
        got, missing = reader.read_available(range(n))
    wrong = sum(1 for i, f in got.items() if index_coded and index_of(f, rotation) != i) if index_coded else 0
    served = len(got)
    shapes = {f.shape for f in got.values()}
    if len(shapes) > 1:
        raise AssertionError(f"frames of several shapes {shapes}")
    got.clear()
    strict_errors = 0
    picks = sorted({0, n // 2, n - 1})
    with PyAVReader(info) as reader:
        for i in picks:
            try:
                reader.read([i])
            except VideoError:
                strict_errors += 1
    with PyAVReader(info, skip_corrupt_packets=True) as reader:
        frames, _ = reader.read_available(picks, size=(32, 24))
        if any(f.shape != (24, 32, 3) for f in frames.values()):
            raise AssertionError("resized frames of the wrong shape")
    outcome = "all" if not missing else ("none" if not served else "partial")
    return {"outcome": outcome, "reason": "; ".join(info.warnings)[:120], "frames": info.frame_count,
            "served": served, "missing": len(missing), "wrong": wrong, "strict_errors": strict_errors,
            "rss": _rss_now()}


def campaign(seeds: dict[str, Path], cases: int, seed: int = 0, timeout: float = 20.0,
             workdir: str | os.PathLike | None = None, memory_limit: int | None = 4 << 30,
             progress: Callable[[int, int], None] | None = None) -> dict:
    """Run ``cases`` mutated copies of ``seeds`` (round robin) through :func:`run_case` in a child process.

    Each case may take ``timeout`` seconds (then the child is killed: a hang) and the child's address space
    is capped at ``memory_limit`` bytes. Failures (an exception other than VideoError, a crash, a hang) are
    saved under ``workdir/failures`` with their mutation. Returns a summary: ``cases``, ``per_seed``
    (name -> outcome counts), ``outcomes``, ``failures`` (list of dicts), ``max_seconds`` (and its case),
    ``mean_seconds``, ``peak_rss`` (bytes, the child's peak), ``rss_first``/``rss_last`` (the child's resident
    memory after its first and last case, for leaks), ``rss_samples`` ((cases done, bytes) every tenth),
    ``wrong_frames`` and ``cases_with_wrong_frames`` (frames served with content of another index: damage the
    decoders cannot see), ``seconds``, ``restarts`` (of the child). ``progress``: called with (done, cases)
    now and then.
    """
    import tempfile
    import time

    from .isolate import Isolated

    work = Path(workdir or tempfile.mkdtemp(prefix="gpuvideo-fuzz-"))
    work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = sorted(seeds)
    data = {k: Path(seeds[k]).read_bytes() for k in names}
    tally = _Tally()
    start = time.perf_counter()
    with Isolated(timeout=timeout, memory_limit=memory_limit) as runner:
        for k in range(cases):
            name = names[k % len(names)]
            blob, what = mutate(data[name], rng)
            case = work / f"case{Path(name).suffix}"
            case.write_bytes(blob)
            rotation = SEEDS.get(name, (None, {}))[1].get("rotation", 0)
            status, r = _run_isolated(runner, case, rotation)
            if status in _FAILED:
                keep = work / "failures" / f"{k:06d}_{name}"
                keep.parent.mkdir(exist_ok=True)
                keep.write_bytes(blob)
                tally.failures.append({"case": k, "seed_file": name, "mutation": what, "status": status,
                                       "detail": str(r)[-2000:] if status != "hang" else f"over {timeout} s",
                                       "file": str(keep)})
            else:
                tally.served(k, cases, r, runner, f"{name}: {what}")
            tally.per_seed[name][status] += 1
            tally.outcomes[status] += 1
            if progress is not None and (k + 1) % 100 == 0:
                progress(k + 1, cases)
    if case.exists():
        case.unlink()
    return tally.summary(cases, seed, time.perf_counter() - start, runner.restarts)


#: what :func:`_run_isolated` reports for a case that failed
_FAILED = ("hang", "crash", "exception")


def _run_isolated(runner, case: Path, rotation: int) -> tuple[str, dict | str | None]:
    """:func:`run_case` on ``case`` in ``runner``'s child: ``(outcome, its result)``, or ``("hang", None)``,
    ``("crash", why)``, ``("exception", message and child traceback)``."""
    from .isolate import ChildCrashed, RemoteError

    try:
        r = runner.call(run_case, str(case), 300, True, rotation)
        return r["outcome"], r
    except TimeoutError:
        return "hang", None
    except ChildCrashed as e:
        return "crash", str(e)
    except RemoteError as e:
        return "exception", f"{e}\n{e.remote_traceback}"


@dataclass
class _Tally:
    """What a :func:`campaign` has seen so far (see its doc for the fields of :meth:`summary`)."""
    per_seed: dict = field(default_factory=lambda: defaultdict(Counter))
    outcomes: Counter = field(default_factory=Counter)
    failures: list = field(default_factory=list)
    times: list = field(default_factory=list)
    slowest: tuple = (0.0, "")
    rss_first: int = 0
    rss_last: int = 0
    rss_samples: list = field(default_factory=list)
    wrong_frames: int = 0
    cases_wrong: int = 0
    peak: int = 0

    def served(self, k: int, cases: int, r: dict, runner, label: str) -> None:
        """Count case ``k`` of ``cases``, which :func:`run_case` finished with result ``r``."""
        self.wrong_frames += r["wrong"]
        self.cases_wrong += r["wrong"] > 0
        self.rss_first = self.rss_first or r["rss"]
        self.rss_last = r["rss"]
        if (k + 1) % max(1, cases // 10) == 0:
            self.rss_samples.append((k + 1, r["rss"]))
        self.times.append(runner.last_seconds)
        self.slowest = max(self.slowest, (runner.last_seconds, label))
        self.peak = max(self.peak, runner.peak_rss)

    def summary(self, cases: int, seed: int, seconds: float, restarts: int) -> dict:
        return {"cases": cases, "seed": seed, "per_seed": {k: dict(v) for k, v in self.per_seed.items()},
                "outcomes": dict(self.outcomes), "failures": self.failures, "max_seconds": self.slowest[0],
                "slowest_case": self.slowest[1], "mean_seconds": float(np.mean(self.times)) if self.times else 0.0,
                "peak_rss": self.peak, "rss_first": self.rss_first, "rss_last": self.rss_last,
                "rss_samples": self.rss_samples, "wrong_frames": self.wrong_frames,
                "cases_with_wrong_frames": self.cases_wrong, "seconds": seconds, "restarts": restarts}
