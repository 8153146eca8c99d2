"""``gpuvideo inspect``: what is in a video dataset, per class and per file, before training on it.

:func:`inspect_dataset` probes every file matched by a glob pattern (with a
progress bar, through the same index and cache as the generators) and reports
codecs, resolutions, frame rates, frame counts (the container header against
the count of packets, and against decoded frames with ``decode=True``),
variable frame rate (from the presentation timestamps), whether NVDEC can
decode each file (:func:`gpuvideo.decode.select.nvdec_supported` when present)
and, for unreadable files, why. :func:`format_report` renders the result as
text; the dict itself is what ``gpuvideo inspect --json`` writes.
"""
from __future__ import annotations

import glob
import logging
import os
import statistics
from collections import Counter

from ..decode.select import nvdec_supported
from ..discovery import PLACEHOLDER
from ..errors import VideoError
from ..probe import VideoInfo, index_videos, open_cache
from . import EXIT_FAILURE, EXIT_OK, progress

log = logging.getLogger("gpuvideo")

#: class name used when the pattern has no ``{classname}``
NO_CLASS = "(all)"


def add_parser(sub, common) -> None:
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
    i.set_defaults(func=run)


def run(args) -> int:
    import json
    import sys

    report = inspect_dataset(args.pattern, decode=args.decode, progress=progress(args),
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
    return EXIT_FAILURE if args.strict and report["unreadable"] else EXIT_OK


def frame_rate_mode(pts: list[int]) -> str:
    """``"constant"``, ``"variable"`` or ``"unknown"`` (fewer than 3 timestamps) from sorted timestamps.

    Steps may differ by one tick of the time base (rounding, e.g. 29.97 fps in a
    1/1000 time base gives 33 and 34) or by 1% of the median step and still count
    as constant.
    """
    if len(pts) < 3:
        return "unknown"
    steps = [b - a for a, b in zip(pts, pts[1:])]
    med = statistics.median(steps)
    tol = max(1.0, 0.01 * abs(med))
    return "variable" if any(abs(s - med) > tol for s in steps) else "constant"


def find_dataset_files(pattern: str) -> dict[str, list[str]]:
    """Class -> sorted files. Without ``{classname}`` every file goes to one class :data:`NO_CLASS`.

    Raises ``FileNotFoundError`` when nothing matches.
    """
    if PLACEHOLDER in pattern:
        from ..discovery import find_files

        _, files = find_files(pattern)
        return files
    files = sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
    if not files:
        raise FileNotFoundError(f"no file matches {pattern!r}")
    return {NO_CLASS: files}


def _file_record(path: str, cls: str, res, decoded, nvdec) -> dict:
    rec = {"path": path, "class": cls, "size_bytes": _size(path)}
    if isinstance(res, VideoError):
        rec.update(ok=False, error=res.reason)
        return rec
    info: VideoInfo = res
    ok, reason = nvdec(info)
    rec.update(ok=True, error=None, codec=info.codec, pix_fmt=info.pix_fmt, width=info.width,
               height=info.height, fps=round(float(info.fps), 3), frames=info.frame_count,
               header_frames=info.header_frame_count or None, duration_s=round(info.duration, 3),
               keyframes=len(info.keyframes), frame_rate=frame_rate_mode(info.pts),
               nvdec=bool(ok), nvdec_reason=reason, rotation=info.rotation, truncated=info.truncated,
               lost_frames=len(info.lost))
    rec["vfr"] = rec["frame_rate"] == "variable"
    issues = list(info.warnings)
    if info.rotation:
        issues.append(f"display rotation {info.rotation} degrees (shown as {info.display_width}x"
                      f"{info.display_height}; apply_rotation=False keeps the stored orientation)")
    mismatch = bool(info.header_frame_count and info.header_frame_count != info.frame_count)
    if mismatch and not info.truncated:
        issues.append(f"header says {info.header_frame_count} frames, stream has {info.frame_count}")
    if decoded is not None:
        if isinstance(decoded, VideoError):
            rec["decoded_frames"] = None
            issues.append(f"decoding fails: {decoded.reason}")
        else:
            rec["decoded_frames"] = decoded.frame_count
            if decoded.frame_count != info.frame_count:
                mismatch = True
                issues.append(f"{decoded.frame_count} frames decode, {info.frame_count} packets")
    if rec["vfr"]:
        issues.append("variable frame rate")
    if not info.seekable:
        issues.append("no usable timestamps (read from the start, never seeked)")
    rec["frame_count_mismatch"] = mismatch
    rec["issues"] = issues
    return rec


def _size(path: str):
    try:
        return os.path.getsize(path)
    except OSError:
        return None


def _class_summary(records: list[dict]) -> dict:
    good = [r for r in records if r["ok"]]
    frames = [r["frames"] for r in good]
    return {
        "files": len(records),
        "readable": len(good),
        "unreadable": len(records) - len(good),
        "codecs": dict(Counter(r["codec"] for r in good).most_common()),
        "pix_fmts": dict(Counter(r["pix_fmt"] for r in good).most_common()),
        "resolutions": dict(Counter(f"{r['width']}x{r['height']}" for r in good).most_common()),
        "fps": dict(Counter(f"{r['fps']:g}" for r in good).most_common()),
        "frames": ({"min": min(frames), "median": statistics.median(frames), "max": max(frames),
                    "total": sum(frames)} if frames else None),
        "frame_count_mismatch": sum(1 for r in good if r["frame_count_mismatch"]),
        "vfr": sum(1 for r in good if r["vfr"]),
        "rotated": sum(1 for r in good if r["rotation"]),
        "truncated": sum(1 for r in good if r["truncated"]),
        "nvdec": sum(1 for r in good if r["nvdec"]),
        "bytes": sum(r["size_bytes"] or 0 for r in records),
    }


def inspect_dataset(pattern: str, decode: bool = False, progress: bool = True, index_cache=True,
                    threads: int | None = None) -> dict:
    """Probe every file matching ``pattern``; returns ``{"pattern", "classes", "files", "totals", ...}``.

    ``classes`` maps each class to its summary (file counts, codecs, resolutions,
    fps, frame counts, mismatches, VFR and NVDEC counts); ``files`` holds one
    record per file (``ok``, ``error`` or ``codec``, ``pix_fmt``, ``width``,
    ``height``, ``fps``, ``frames`` (packets), ``header_frames``,
    ``decoded_frames`` (with ``decode=True``), ``frame_rate``, ``vfr``,
    ``nvdec``, ``nvdec_reason``, ``issues``). ``index_cache``: True for the
    generators' cache, a path, or None (memory only).
    """
    by_class = find_dataset_files(pattern)
    paths = [p for fs in by_class.values() for p in fs]
    cache = open_cache(index_cache)
    found = index_videos(paths, cache, progress=progress, threads=threads, report_warnings=False)
    decoded = {}
    if decode:
        readable = [p for p in paths if not isinstance(found[p], VideoError)]
        decoded = index_videos(readable, cache, count_by_decoding=True, progress=progress, threads=threads)
    nvdec = nvdec_supported
    files = [_file_record(p, cls, found[p], decoded.get(p) if decode else None, nvdec)
             for cls, fs in by_class.items() for p in fs]
    classes = {cls: _class_summary([r for r in files if r["class"] == cls]) for cls in by_class}
    totals = _class_summary(files)
    return {
        "pattern": pattern,
        "decoded": bool(decode),
        "nvdec_rule": f"{nvdec.__module__}.{nvdec.__name__}",
        "classes": classes,
        "totals": totals,
        "files": files,
        "unreadable": [{"path": r["path"], "class": r["class"], "error": r["error"]} for r in files if not r["ok"]],
    }


# --------------------------------------------------------------------------- text report
def _counter_text(d: dict, limit: int = 3) -> str:
    items = list(d.items())
    text = ", ".join(f"{k} ({v})" if len(items) > 1 else str(k) for k, v in items[:limit])
    if len(items) > limit:
        text += f", +{len(items) - limit} more"
    return text or "-"


def text_table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(out)


def format_report(report: dict, max_files: int = 20) -> str:
    """Readable text: one row per class (and a total), then unreadable files and files with issues."""
    headers = ["class", "files", "bad", "codecs", "resolutions", "fps", "frames min/med/max", "count!=",
               "truncated", "VFR", "rotated", "NVDEC"]
    rows = []
    for name, s in list(report["classes"].items()) + [("TOTAL", report["totals"])]:
        fr = s["frames"]
        rows.append([name, str(s["files"]), str(s["unreadable"]), _counter_text(s["codecs"]),
                     _counter_text(s["resolutions"]), _counter_text(s["fps"]),
                     f"{fr['min']}/{fr['median']:g}/{fr['max']}" if fr else "-",
                     str(s["frame_count_mismatch"]), str(s["truncated"]), str(s["vfr"]), str(s["rotated"]),
                     f"{s['nvdec']}/{s['readable']}"])
    out = [f"dataset {report['pattern']}: {report['totals']['files']} files in {len(report['classes'])} "
           f"class(es), {report['totals']['bytes'] / 2 ** 20:.1f} MiB"
           + (" (frames counted by decoding)" if report["decoded"] else ""),
           "", text_table(headers, rows)]
    bad = report["unreadable"]
    if bad:
        out += ["", f"unreadable files ({len(bad)}):"]
        out += [f"  {b['path']}: {b['error']}" for b in bad[:max_files]]
        if len(bad) > max_files:
            out.append(f"  ... {len(bad) - max_files} more (see --json)")
    flagged = [r for r in report["files"] if r["ok"] and (r["issues"] or not r["nvdec"])]
    if flagged:
        out += ["", f"files to look at ({len(flagged)}):"]
        for r in flagged[:max_files]:
            notes = list(r["issues"]) + ([] if r["nvdec"] else [f"not NVDEC: {r['nvdec_reason']}"])
            out.append(f"  {r['path']}: {'; '.join(notes)}")
        if len(flagged) > max_files:
            out.append(f"  ... {len(flagged) - max_files} more (see --json)")
    return "\n".join(out) + "\n"
