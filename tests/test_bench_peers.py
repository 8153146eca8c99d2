"""benchmarks/bench_peers.py: its smoke-test path runs, and its frame check catches wrong frames.

Only gpuvideo, PyAV and OpenCV are used here (torchcodec, decord2 and video-reader-rs
are optional peers, not installed in CI).
"""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_peers as bp  # noqa: E402


@pytest.fixture(scope="module")
def small_video(tmp_path_factory):
    """A 40-frame 160x120 MPEG-4 file of the benchmark's scenes, file number 5."""
    from gpuvideo.synthetic import write_video

    path = tmp_path_factory.mktemp("peers") / "f005.avi"
    write_video(path, bp.scene_frames(40, 160, 120, seed=3, file_id=5), 25, "mpeg4")
    return str(path)


def test_codes_survive_resizing():
    frames = np.stack(list(bp.scene_frames(3, 320, 240, seed=0, file_id=77)))
    small = np.stack([bp.resize_linear(f, (112, 112)) for f in frames])
    assert bp.read_codes(small).tolist() == [[0, 77], [1, 77], [2, 77]]


def test_uniform_indices_and_floor():
    assert bp.uniform_indices(150, 8) == [0, 21, 43, 64, 85, 106, 128, 149]
    # GOP 12: frame 0, then 21 from keyframe 12 (10 frames), 43 from 36 (8), ...
    assert bp.min_frames(list(range(0, 150, 12)), [0, 21]) == 1 + 10
    # forward decoding is cheaper than seeking back to an earlier keyframe
    assert bp.min_frames([0, 60], [43, 85]) == 44 + 26
    assert bp.min_frames([0, 60], [43, 50]) == 44 + 7


def test_check_catches_wrong_frames(small_video):
    idx = [0, 6, 11, 17, 22, 28, 33, 39]
    ref = bp.reference_frames(small_video, idx + [12], (112, 112))
    refs = [ref[i] for i in idx]
    right, decoded = bp.pyav_clip(small_video, idx, (112, 112))
    assert decoded == bp.min_frames(bp.scan(small_video).keyframes, idx)
    x = right.astype(np.float32) / 255
    assert bp.check_frames(x, idx, 5, refs) == []

    wrong = x.copy()
    wrong[2] = ref[12].astype(np.float32) / 255          # frame 12 where frame 11 belongs
    problems = bp.check_frames(wrong, idx, 5, refs)
    assert problems == ["frame 2: expected frame 11 of file 5, got frame 12 of file 5"]

    assert any("file 4" in p for p in bp.check_frames(x, idx, 4, refs))                  # another file
    assert any("channel order" in p for p in bp.check_frames(x[..., ::-1], idx, 5, refs))  # BGR, not RGB
    smeared = x.copy()
    smeared[3, 25:95] = smeared[3, 25:95].mean(axis=(0, 1))   # right code and patches, no picture between
    problems = bp.check_frames(smeared, idx, 5, refs)
    assert len(problems) == 1 and problems[0].startswith("frame 3") and "grey levels" in problems[0]
    assert bp.check_frames(x[:-1], idx, 5, refs)                                         # a frame missing
    assert bp.check_frames(right.astype(np.float32), idx, 5, refs)                       # not rescaled


def test_flow_check_catches_shifted_frames(small_video):
    idx = [0, 8, 16, 24, 31, 39]
    ref = bp.reference_frames(small_video, sorted(set(idx + [i + 1 for i in idx[:-1]] + [38])), (112, 112))
    pictures = bp.flow_pictures(np.stack([ref[i] for i in idx]))
    assert bp.check_flow(pictures.astype(np.float32) / 255, pictures) == []
    shifted = [i + 1 for i in idx[:-1]] + [38]
    other = bp.flow_pictures(np.stack([ref[i] for i in shifted]))
    assert bp.check_flow(other.astype(np.float32) / 255, pictures)


def test_quick_run(tmp_path):
    report = bp.main(["--quick", "--contestants", "gpuvideo,pyav,opencv", "--data", str(tmp_path),
                      "--json", str(tmp_path / "peers.json"), "--write", str(tmp_path / "peers.md")])
    assert [s["work"] for s in report["results"]] == ["W1", "W2", "W3", "W4"]
    for s in report["results"]:
        rows = {r["contestant"]: r for r in s["rows"]}
        assert set(rows) == ({"gpuvideo"} if s["work"] == "W4" else {"gpuvideo", "pyav", "opencv"})
        for r in rows.values():
            assert r["check"] == "ok", (s["work"], r)
            assert r["rate"] > 0
        assert s["floor_s"] > 0 and s["min_frames"] > 0
    w1 = report["results"][0]
    assert {r["contestant"]: r["decoded"] for r in w1["rows"]}["pyav"] == w1["min_frames"]
    assert "| W3 | gpuvideo |" in (tmp_path / "peers.md").read_text()
