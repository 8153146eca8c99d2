"""The corpus of broken and odd videos (gpuvideo.testing.write_corpus) through index_videos and PyAVReader:
no exception but VideoError, no hang, the expected outcome for every file, nothing written beside the data."""
import os
from collections import Counter

import pytest

from gpuvideo.errors import VideoError
from gpuvideo.probe import ProbeCache, VideoInfo, index_videos
from gpuvideo.testing import ANY, BAD, EXACT, EXPECTED, REPORTED, SERVED, Isolated, examine, write_corpus

#: seconds one file may take (index + a full tolerant decode + a few strict reads), on a slow shared machine
PER_FILE_LIMIT = 60


def _snapshot(root):
    """Every path under ``root`` (links not followed) with its type, size and mtime."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            out[p] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    records = write_corpus(root)
    return root, records, _snapshot(root)


def test_corpus_covers_the_cases(corpus):
    _, records, _ = corpus
    assert 50 <= len(records) <= 90
    assert len({r.name for r in records}) == len(records) and all(r.expected in EXPECTED for r in records)
    kinds = Counter(r.kind for r in records)
    assert set(kinds) >= {"good", "odd", "truncated", "bitrot", "lost", "not_video", "filesystem"}
    outcomes = Counter(r.expected for r in records)
    assert all(outcomes[e] for e in (EXACT, REPORTED, SERVED, ANY, BAD))
    names = {r.name.split("/")[1] for r in records}
    for must in ("h264_10bit.mp4", "h264_422.mkv", "h264_444.mkv", "tiny_1x1.avi", "big_3840x2160.mp4", "vfr.mkv",
                 "rot90.mp4", "size_change.ts", "png.avi", "notes.txt", "zero.avi", "folder.avi", "loop.avi",
                 "mjpeg_50.avi", "h264_faststart_90.mp4", "h264_chunks.mp4", "mpeg4_chunks.avi", "h264_lost_b.mp4"):
        assert must in names, must


def _check(rec, out) -> list[str]:
    """What is wrong with ``out`` (from examine) for ``rec``; empty when the outcome is the expected one."""
    problems = []
    if out["status"] == "bad":
        if rec.expected != BAD:
            problems.append(f"rejected ({out['reason']}), expected {rec.expected}")
        elif rec.reason not in out["reason"]:
            problems.append(f"reason {out['reason']!r} lacks {rec.reason!r}")
        return problems
    if rec.expected == BAD:
        return [f"indexed ({out['frame_count']} frames, warnings {out['warnings']}), expected a VideoError"]
    if rec.expected == ANY:
        return []
    coded = rec.index_coded
    wrong = [i for i, v in out["indices"].items() if coded and v != i]
    wrong_strict = [i for i, v in out["strict"].items() if coded and v is not None and v != i]
    wrong_sized = [i for i, (shape, v) in out["resized"].items() if shape != (48, 64, 3) or (coded and v != i)]
    if wrong or wrong_strict or wrong_sized:
        problems.append(f"frames showing another index: {wrong[:8]} strict {wrong_strict} resized {wrong_sized}")
    if len({s for s in out["shapes"]}) > 1:
        problems.append(f"frames of several shapes {out['shapes']}")
    if rec.expected == EXACT:
        if out["warnings"]:
            problems.append(f"warnings {out['warnings']}")
        if out["frame_count"] != rec.frames or out["missing"]:
            problems.append(f"{out['frame_count']} frames, {len(out['missing'])} missing; expected {rec.frames}")
        if any(v is None for v in out["strict"].values()):
            problems.append(f"strict reads failed: {out['strict']}")
        if tuple(out["display_size"]) != tuple(rec.size) or out["rotation"] != rec.rotation:
            problems.append(f"display size {out['display_size']} rotation {out['rotation']}, expected {rec.size} "
                            f"{rec.rotation}")
        if out["shapes"] and out["shapes"][0] != (rec.size[1], rec.size[0], 3):
            problems.append(f"frames {out['shapes']}, expected {rec.size}")
    elif rec.expected == REPORTED:
        if not any(rec.reason in w for w in out["warnings"]):
            problems.append(f"warnings {out['warnings']} lack {rec.reason!r}")
    return problems


def test_every_file_has_its_expected_outcome(corpus):
    _, records, _ = corpus
    failures, slowest = [], (0.0, "")
    with Isolated(timeout=PER_FILE_LIMIT) as runner:
        for rec in records:
            try:
                out = runner.call(examine, rec.path, rec.rotation, rec.index_coded)
            except TimeoutError:
                failures.append(f"{rec.name}: hung (over {PER_FILE_LIMIT} s)")
                continue
            except Exception as e:   # anything but a handled VideoError is a crash
                failures.append(f"{rec.name}: {type(e).__name__}: {e}")
                continue
            slowest = max(slowest, (runner.last_seconds, rec.name))
            failures += [f"{rec.name} ({rec.note}): {p}" for p in _check(rec, out)]
        peak = runner.peak_rss
    assert not failures, "\n".join(failures)
    assert peak < 2 * 1024 ** 3, f"peak RSS {peak / 2 ** 20:.0f} MiB"


def test_index_videos_over_the_whole_corpus(corpus, tmp_path, caplog):
    root, records, _ = corpus
    paths = [r.path for r in records]
    cache = tmp_path / "cache" / "index.json"
    first = index_videos(paths, ProbeCache(cache), progress=False, threads=2)
    again = index_videos(paths, ProbeCache(cache), progress=False)          # from the cache
    dropped = index_videos(paths, ProbeCache(cache), progress=False, drop_truncated=True, report_warnings=False)
    for rec in records:
        a, b, c = first[rec.path], again[rec.path], dropped[rec.path]
        assert isinstance(a, (VideoInfo, VideoError)) and type(a) is type(b), rec.name
        assert (a == b) if isinstance(a, VideoInfo) else (a.reason == b.reason), rec.name
        assert isinstance(a, VideoError) == (rec.expected == BAD), rec.name
        if isinstance(a, VideoInfo) and a.truncated:
            assert isinstance(c, VideoError) and c.reason.startswith("truncated"), rec.name
        elif isinstance(a, VideoInfo):
            assert c == a, rec.name
    truncated = [r for r in records if r.expected == REPORTED and "truncated" in r.reason]
    assert truncated and all(first[r.path].truncated for r in truncated)


def test_nothing_written_beside_the_data(corpus, tmp_path):
    """Indexing (with a cache elsewhere) and decoding every file leave the data folder as it was."""
    root, records, before = corpus
    index_videos([r.path for r in records], ProbeCache(tmp_path / "index.json"), progress=False)
    for rec in records:
        try:
            examine(rec.path, rec.rotation, rec.index_coded, max_frames=8, strict_reads=1)
        except Exception:
            pass   # outcomes are checked above; here only the folder matters
    assert _snapshot(root) == before


def test_isolated_runner_survives_hangs_crashes_and_errors():
    import time

    from gpuvideo.testing.isolate import ChildCrashed, RemoteError, pid
    with Isolated(timeout=1.0) as runner:
        child = runner.call(pid)
        assert child != os.getpid() and runner.call(pid) == child      # one child serves many calls
        with pytest.raises(TimeoutError):
            runner.call(time.sleep, 5)
        assert runner.call(pid) != child                                # a new child after the kill
        with pytest.raises(ChildCrashed):
            runner.call(os._exit, 3)
        with pytest.raises(RemoteError, match="ValueError"):
            runner.call(int, "not a number")
        assert runner.call(int, "7") == 7 and runner.restarts == 2
