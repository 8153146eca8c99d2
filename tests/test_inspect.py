"""gpuvideo inspect: per-class report and per-file JSON on a small dataset with a broken and a Theora file."""
import json
import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from gpuvideo import cli
from gpuvideo.decode.select import nvdec_supported
from gpuvideo.cli.inspect import format_report, frame_rate_mode, inspect_dataset
from gpuvideo.probe import VideoInfo

DATA = Path(__file__).parent / "data"


def _write_vfr(path):
    """8 frames of H.264 in Matroska with irregular timestamps (ms): a variable-frame-rate file."""
    import av

    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        s.time_base = s.codec_context.time_base = Fraction(1, 1000)
        s.options = {"bf": "0"}
        for i, pts in enumerate([0, 40, 80, 200, 240, 400, 440, 480]):
            f = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 20, np.uint8), format="rgb24")
            f.pts, f.time_base = pts, Fraction(1, 1000)
            for p in s.encode(f):
                out.mux(p)
        for p in s.encode(None):
            out.mux(p)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from gpuvideo.synthetic import make_action_dataset

    root = tmp_path_factory.mktemp("inspect")
    make_action_dataset(root, videos_per_class=3, nb_frames=12, width=64, height=48, progress=False)
    shutil.copy(DATA / "index_theora.ogv", root / "up" / "theora.ogv")
    (root / "left" / "broken.avi").write_bytes(np.random.default_rng(0).bytes(3000))
    _write_vfr(root / "right" / "vfr.mkv")
    return root


@pytest.fixture(autouse=True)
def _cache(monkeypatch, tmp_path):
    monkeypatch.setenv("GPUVIDEO_CACHE_DIR", str(tmp_path / "cache"))


def test_inspect_json(dataset, tmp_path, capsys):
    out = tmp_path / "report.json"
    assert cli.main(["-q", "inspect", str(dataset / "{classname}" / "*"), "--json", str(out)]) == 0
    text = capsys.readouterr().out
    rep = json.loads(out.read_text())
    assert set(rep["classes"]) == {"down", "left", "right", "up"}
    assert rep["totals"]["files"] == 15 and rep["totals"]["unreadable"] == 1
    up = rep["classes"]["up"]
    assert up["files"] == 4 and up["codecs"] == {"h264": 2, "mpeg4": 1, "theora": 1}
    assert up["resolutions"] == {"64x48": 3, "160x120": 1}
    assert up["frames"]["min"] == 12 and up["frames"]["max"] == 60
    assert rep["classes"]["left"]["unreadable"] == 1
    assert rep["classes"]["right"]["vfr"] == 1

    files = {Path(f["path"]).name + "@" + f["class"]: f for f in rep["files"]}
    broken = files["broken.avi@left"]
    assert broken["ok"] is False and broken["error"]
    assert rep["unreadable"] == [{"path": broken["path"], "class": "left", "error": broken["error"]}]
    theora = files["theora.ogv@up"]
    assert theora["ok"] and theora["codec"] == "theora" and theora["nvdec"] is False
    assert "theora" in theora["nvdec_reason"]
    assert (theora["width"], theora["height"], theora["frames"], theora["fps"]) == (160, 120, 60, 25.0)
    vfr = files["vfr.mkv@right"]
    assert vfr["vfr"] is True and vfr["frame_rate"] == "variable" and "variable frame rate" in vfr["issues"]
    h264 = files["clip_000.mp4@down"]
    for key in ("codec", "pix_fmt", "width", "height", "fps", "frames", "header_frames", "duration_s",
                "frame_rate", "vfr", "nvdec", "nvdec_reason", "frame_count_mismatch", "issues", "size_bytes"):
        assert key in h264, key
    assert h264["codec"] == "h264" and h264["nvdec"] is True and h264["vfr"] is False
    assert h264["frames"] == 12 and h264["frame_rate"] == "constant"
    # the text report names classes, the unreadable file with its reason, and the files to look at
    assert "TOTAL" in text and "broken.avi" in text and "theora" in text and "vfr.mkv" in text


def test_inspect_decode_counts_and_json_stdout(dataset, capsys):
    assert cli.main(["-q", "inspect", str(dataset / "down" / "*.mp4"), "--decode", "--json", "-",
                     "--no-cache"]) == 0
    rep = json.loads(capsys.readouterr().out)     # '-': JSON only on stdout
    assert list(rep["classes"]) == ["(all)"] and rep["decoded"] is True
    assert all(f["decoded_frames"] == f["frames"] == 12 for f in rep["files"])


def test_strict_exit_code(dataset):
    assert cli.main(["-q", "inspect", str(dataset / "{classname}" / "*.avi"), "--strict", "--no-cache"]) == 1


def test_frame_rate_mode():
    assert frame_rate_mode([0, 512, 1024, 1536]) == "constant"
    assert frame_rate_mode([0, 33, 67, 100, 133, 167]) == "constant"     # 29.97 fps in a 1/1000 time base
    assert frame_rate_mode([0, 40, 80, 200, 240]) == "variable"
    assert frame_rate_mode([0, 40]) == "unknown" and frame_rate_mode([]) == "unknown"


def _info(codec, pix_fmt="yuv420p"):
    return VideoInfo(path="x", frame_count=3, fps=25.0, width=320, height=240, codec=codec, pix_fmt=pix_fmt,
                     header_frame_count=3, keyframes=[0], pts=[0, 1, 2])


def test_nvdec_rules():
    for codec in ("h264", "hevc", "vp8", "vp9", "mpeg4", "mjpeg"):
        assert nvdec_supported(_info(codec))[0], codec
    assert not nvdec_supported(_info("theora"))[0]
    assert not nvdec_supported(_info("h264", "yuv422p"))[0]
    assert not nvdec_supported(_info("h264", "yuv444p"))[0]


def test_report_without_classname_and_missing(tmp_path):
    with pytest.raises(FileNotFoundError):
        inspect_dataset(str(tmp_path / "*.mp4"), progress=False, index_cache=None)
    with pytest.raises(FileNotFoundError):
        inspect_dataset(str(tmp_path / "{classname}" / "*.mp4"), progress=False, index_cache=None)


def test_format_report_lists_problems(dataset):
    rep = inspect_dataset(str(dataset / "{classname}" / "*"), progress=False, index_cache=None)
    text = format_report(rep, max_files=1)
    assert "unreadable files (1)" in text and "more (see --json)" in text


def test_inspect_reports_rotation_and_truncation(tmp_path):
    from gpuvideo.synthetic import write_index_video

    write_index_video(tmp_path / "phone" / "r.mp4", 12, 160, 96, rotation=90)
    data = (write_index_video(tmp_path / "phone" / "whole.avi", 60, codec="mpeg4")).read_bytes()
    (tmp_path / "phone" / "cut.avi").write_bytes(data[:len(data) // 2])
    report = inspect_dataset(str(tmp_path / "{classname}" / "*"), progress=False, index_cache=None)
    files = {r["path"].rsplit("/", 1)[1]: r for r in report["files"]}
    assert files["r.mp4"]["rotation"] == 90 and any("rotation 90" in i for i in files["r.mp4"]["issues"])
    assert files["cut.avi"]["truncated"] and any(i.startswith("truncated") for i in files["cut.avi"]["issues"])
    assert report["totals"]["rotated"] == 1 and report["totals"]["truncated"] == 1
    text = format_report(report)
    assert "rotated" in text and "truncated: header says 60 frames" in text
