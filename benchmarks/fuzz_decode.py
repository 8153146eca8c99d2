"""Long fuzzing campaign of gpuvideo's index and decoder (see gpuvideo/testing/fuzz.py).

Mutated copies of small index-coded files of every container and codec (H.264 in MP4/MKV/TS/MOV, MPEG-4 Part 2
and MJPEG in AVI, VP8/VP9 in WebM, MPEG-2 in MPEG-PS, HEVC, AV1, FFV1, Theora) are indexed and decoded one by one
in a child process with a time limit per case. Writes a Markdown report (and the summary as JSON next to it):
cases, outcomes per seed file, failures (exceptions other than VideoError, crashes, hangs) with their inputs
kept, the longest case, the child's peak and final memory, and the frames served with the wrong content
(damage FFmpeg's decoders do not see).

    python benchmarks/fuzz_decode.py --cases 20000 --out benchmarks/results/fuzz_decode.md
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

if not os.environ.get("PYTHONPATH"):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _mib(b: int) -> str:
    return f"{b / 2 ** 20:.0f} MiB"


def report(s: dict, args, versions: dict) -> str:
    lines = [
        "# Fuzzing the index and the decoder",
        "",
        f"`python benchmarks/fuzz_decode.py --cases {args.cases} --seed {args.seed} --timeout {args.timeout:g}` "
        f"on {os.cpu_count()} CPU cores ({platform.machine()}, shared machine), "
        f"PyAV {versions['av']} / FFmpeg {versions['ffmpeg']}, {time.strftime('%Y-%m-%d')}.",
        "",
        "Each case: a seed file (index-coded, 24 frames of 64x48) mutated once (bit flips anywhere, in the "
        "first or last KiB; random, zeroed, inserted, repeated or deleted chunks; a cut; or 2-3 of these), then "
        "`index_videos` and `PyAVReader` (a tolerant read of every frame, strict reads of the first, middle and "
        "last frames, a resized read) in a child process with a time limit and a 4 GiB address-space cap.",
        "",
        "## Summary",
        "",
        "| figure | value |",
        "|---|---|",
        f"| cases | {s['cases']} ({len(s['per_seed'])} seed files) |",
        f"| failures (exception other than VideoError, crash, hang) | **{len(s['failures'])}** |",
        f"| rejected at indexing (VideoError) | {s['outcomes'].get('bad', 0)} |",
        f"| every frame decoded | {s['outcomes'].get('all', 0)} |",
        f"| some frames missing (withheld or lost) | {s['outcomes'].get('partial', 0)} |",
        f"| no frame decodable | {s['outcomes'].get('none', 0)} |",
        f"| longest case | {s['max_seconds']:.2f} s ({s['slowest_case']}) |",
        f"| mean time per case | {1000 * s['mean_seconds']:.1f} ms |",
        f"| wall time | {s['seconds']:.0f} s |",
        f"| child's peak RSS | {_mib(s['peak_rss'])} |",
        f"| child's RSS after its first / last case | {_mib(s['rss_first'])} / {_mib(s['rss_last'])} |",
        "| child's RSS every tenth of the run | " + ", ".join(_mib(b) for _, b in s.get("rss_samples", [])) + " |",
        f"| cases serving frames with another frame's content | {s['cases_with_wrong_frames']} "
        f"({s['wrong_frames']} frames) |",
        "",
        "The last line is damage FFmpeg's decoders cannot see (a flipped bit inside entropy-coded data that still "
        "parses, VP9 and MJPEG errors, which FFmpeg does not flag); those frames are served as decoded. Every "
        "other damaged frame FFmpeg reports is withheld (missing), with the frames that depend on it.",
        "",
        "## Outcomes per seed file",
        "",
        "| seed file | cases | rejected | all frames | some missing | none | failures |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in sorted(s["per_seed"]):
        c = s["per_seed"][name]
        fails = sum(c.get(k, 0) for k in ("exception", "crash", "hang"))
        lines.append(f"| {name} | {sum(c.values())} | {c.get('bad', 0)} | {c.get('all', 0)} | "
                     f"{c.get('partial', 0)} | {c.get('none', 0)} | {fails} |")
    lines += ["", "## Failures", ""]
    if not s["failures"]:
        lines.append("None.")
    for f in s["failures"]:
        lines.append(f"- case {f['case']}, {f['seed_file']}, {f['mutation']}: **{f['status']}**; input kept as "
                     f"`{f['file']}`\n\n  ```\n  {f['detail'][-800:]}\n  ```")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds per case before it counts as a hang")
    ap.add_argument("--work", default=None, help="folder for seed files, the current case and failing inputs")
    ap.add_argument("--out", default=None, help="Markdown report (JSON summary next to it)")
    args = ap.parse_args(argv)

    import av

    from gpuvideo.testing.fuzz import campaign, write_seeds

    work = Path(args.work or tempfile.mkdtemp(prefix="gpuvideo-fuzz-"))
    extra = {}
    theora = Path(__file__).resolve().parents[1] / "tests" / "data" / "index_theora.ogv"
    if theora.exists():
        extra["theora.ogv"] = theora
    seeds = write_seeds(work / "seeds", extra=extra)
    t0 = time.perf_counter()

    def progress(done, total):
        print(f"{done}/{total} cases, {time.perf_counter() - t0:.0f} s", flush=True)

    summary = campaign(seeds, args.cases, seed=args.seed, timeout=args.timeout, workdir=work / "run",
                       progress=progress)
    versions = {"av": av.__version__, "ffmpeg": ".".join(map(str, av.library_versions["libavformat"]))}
    try:
        versions["ffmpeg"] = av.ffmpeg_version_info
    except AttributeError:
        pass
    text = report(summary, args, versions)
    print(text)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        out.with_suffix(".json").write_text(json.dumps(summary, indent=1))
    return 1 if summary["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
