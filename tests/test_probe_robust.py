"""Probe and index cache on odd input: damaged caches, not-videos, truncated files, lost packets, rotation."""
import json
import logging
import os
import zipfile

import numpy as np
import pytest

from gpuvideo.errors import VideoError
from gpuvideo.probe import CACHE_VERSION, ProbeCache, VideoInfo, index_videos, probe
from gpuvideo.synthetic import index_frame, remux, write_index_video
from gpuvideo.testing.writers import animated_gif


def _cache_warnings(caplog):
    return [r for r in caplog.records if r.levelno >= logging.WARNING and "index cache" in r.getMessage()]


# ---------------------------------------------------------------------------- index cache

@pytest.fixture(scope="module")
def one_video(tmp_path_factory):
    return str(write_index_video(tmp_path_factory.mktemp("cache") / "v.mp4", 12))


def _good_entry(video):
    cache = ProbeCache(None)
    cache.put(video, probe(video))
    return next(iter(cache._entries.items()))


@pytest.mark.parametrize("content", [
    "[]", "null", "42", '"text"', "{}", '{"version": %d}' % CACHE_VERSION,
    '{"version": %d, "entries": []}' % CACHE_VERSION, '{"version": %d, "entries": null}' % CACHE_VERSION,
    "{not json", "\x00\x01\x02",
])
def test_cache_that_is_not_ours_is_ignored_once_and_rebuilt(tmp_path, one_video, caplog, content):
    cache_file = tmp_path / "index.json"
    cache_file.write_text(content)
    with caplog.at_level(logging.INFO, logger="gpuvideo"):
        out = index_videos([one_video], ProbeCache(cache_file), progress=False)
    assert out[one_video].frame_count == 12
    assert len(_cache_warnings(caplog)) == 1
    data = json.loads(cache_file.read_text())
    assert data["version"] == CACHE_VERSION and len(data["entries"]) == 1
    assert not list(tmp_path.glob(".index-*"))


def test_bad_entries_are_dropped_one_by_one(tmp_path, one_video, caplog):
    key, good = _good_entry(one_video)
    info = good["info"]
    bad_entries = {
        "a string": "not an entry",
        "a list": [1, 2],
        "no stamp": {"info": info},
        "no info": {"stamp": good["stamp"]},
        "no pts": {"stamp": good["stamp"], "info": {k: v for k, v in info.items() if k != "pts"}},
        "wrong type": {"stamp": good["stamp"], "info": {**info, "frame_count": "12"}},
        "negative": {"stamp": good["stamp"], "info": {**info, "frame_count": -3}},
        "bad rotation": {"stamp": good["stamp"], "info": {**info, "rotation": 45}},
        "keyframe out of range": {"stamp": good["stamp"], "info": {**info, "keyframes": [0, 99]}},
        "bad packed pts": {"stamp": good["stamp"], "info": {**info, "pts": {"start": 0, "step": "x", "count": 12}}},
        "extra field": {"stamp": good["stamp"], "info": {**info, "surprise": 1}},
        "error not a string": {"stamp": good["stamp"], "error": 3},
    }
    cache_file = tmp_path / "index.json"
    cache_file.write_text(json.dumps({"version": CACHE_VERSION, "entries": {key: good, **bad_entries}}))
    with caplog.at_level(logging.INFO, logger="gpuvideo"):
        cache = ProbeCache(cache_file)
    assert len(_cache_warnings(caplog)) == 1 and "12 bad entries" in _cache_warnings(caplog)[0].getMessage()
    assert set(cache._entries) == {key}
    assert cache.get(one_video).frame_count == 12        # the good entry still serves
    cache.save()                                          # rewritten without the bad ones
    assert set(json.loads(cache_file.read_text())["entries"]) == {key}


def test_old_cache_version_is_rebuilt_silently(tmp_path, one_video, caplog):
    cache_file = tmp_path / "index.json"
    cache_file.write_text(json.dumps({"version": 1, "entries": {"x": {"stamp": [1, 2, False], "info": {}}}}))
    with caplog.at_level(logging.INFO, logger="gpuvideo"):
        out = index_videos([one_video], ProbeCache(cache_file), progress=False)
    assert out[one_video].frame_count == 12 and not _cache_warnings(caplog)
    assert json.loads(cache_file.read_text())["version"] == CACHE_VERSION


def test_cache_path_that_is_a_directory_leaves_nothing_behind(tmp_path, one_video, caplog):
    cache_dir = tmp_path / "index.json"
    cache_dir.mkdir()
    for _ in range(3):
        with caplog.at_level(logging.INFO, logger="gpuvideo"):
            caplog.clear()
            out = index_videos([one_video], ProbeCache(cache_dir), progress=False)
            assert out[one_video].frame_count == 12
            assert len(_cache_warnings(caplog)) == 1
    assert os.listdir(tmp_path) == ["index.json"] and os.listdir(cache_dir) == []


def test_failed_write_removes_its_temp_file(tmp_path, one_video, monkeypatch, caplog):
    cache_file = tmp_path / "index.json"
    cache = ProbeCache(cache_file)
    cache.put(one_video, probe(one_video))

    def refuse(src, dst):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "replace", refuse)
    with caplog.at_level(logging.WARNING, logger="gpuvideo"):
        cache.save()
    assert os.listdir(tmp_path) == [] and len(_cache_warnings(caplog)) == 1


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes to read-only folders anyway")
def test_read_only_cache_folder(tmp_path, one_video, caplog):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with caplog.at_level(logging.WARNING, logger="gpuvideo"):
            out = index_videos([one_video], ProbeCache(folder / "index.json"), progress=False)
        assert out[one_video].frame_count == 12 and len(_cache_warnings(caplog)) == 1
        assert os.listdir(folder) == []
    finally:
        folder.chmod(0o700)


def test_videoinfo_json_round_trip_keeps_new_fields():
    info = VideoInfo(path="x", frame_count=4, fps=25.0, width=64, height=48, codec="h264", pix_fmt="yuv420p",
                     header_frame_count=5, keyframes=[0], pts=[0, 1, 2, 3], rotation=90, lost=[2], truncated=True,
                     warnings=["truncated: header says 5 frames, stream has 3"])
    back = VideoInfo.from_json(json.loads(json.dumps(info.to_json())))
    assert back == info and (back.display_width, back.display_height) == (48, 64)
    assert back.truncation.startswith("truncated: header says 5")


# ---------------------------------------------------------------------------- not videos

def _encode(ext, img):
    import cv2
    ok, buf = cv2.imencode(ext, img)
    assert ok
    return buf.tobytes()


@pytest.fixture(scope="module")
def not_videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("not_videos")
    img = index_frame(5)
    files = {
        "png.avi": (_encode(".png", img), "'png_pipe' image demuxer"),
        "jpeg.mp4": (_encode(".jpg", img), "'jpeg_pipe' image demuxer"),
        "bmp.avi": (_encode(".bmp", img), "'bmp_pipe' image demuxer"),
        "webp.mkv": (_encode(".webp", img), "'webp_pipe' image demuxer"),
        "tiff.avi": (_encode(".tiff", img), "'tiff_pipe' image demuxer"),
        "notes.txt": (b"class notes\n" * 200, "'tty' demuxer"),
        "readme.nfo": (b"release info\n" * 50, "'tty' demuxer"),
        "text.avi": (b"this is not a video\n" * 100, "cannot open"),
        "data.mp4": (json.dumps({"frames": list(range(100))}).encode(), "cannot open"),
        "random.avi": (np.random.default_rng(0).integers(0, 256, 20000, dtype=np.uint8).tobytes(), "cannot open"),
        "zero.avi": (b"", "empty file"),
    }
    out = {}
    for name, (data, reason) in files.items():
        (root / name).write_bytes(data)
        out[name] = (str(root / name), reason)
    with zipfile.ZipFile(root / "archive.avi", "w") as z:
        z.writestr("a.txt", "hello " * 1000)
    out["archive.avi"] = (str(root / "archive.avi"), "cannot open")
    animated_gif(root / "still.avi", 1)
    out["still.avi"] = (str(root / "still.avi"), "not a video: a still image")
    (root / "dir.avi").mkdir()
    out["dir.avi"] = (str(root / "dir.avi"), "is a directory")
    (root / "loop.avi").symlink_to(root / "loop.avi")
    out["loop.avi"] = (str(root / "loop.avi"), "cannot open")
    return out


@pytest.mark.parametrize("name", ["png.avi", "jpeg.mp4", "bmp.avi", "webp.mkv", "tiff.avi", "notes.txt", "readme.nfo",
                                  "text.avi", "data.mp4", "random.avi", "zero.avi", "archive.avi", "still.avi",
                                  "dir.avi", "loop.avi"])
def test_not_a_video_is_a_video_error(not_videos, name):
    path, reason = not_videos[name]
    with pytest.raises(VideoError, match=reason.replace("(", r"\(")):
        probe(path)
    res = index_videos([path], progress=False)[path]      # and index_videos returns it, never raises
    assert isinstance(res, VideoError) and reason in res.reason


def test_an_animated_gif_is_a_video(tmp_path):
    animated_gif(tmp_path / "anim.gif", 6)
    info = probe(str(tmp_path / "anim.gif"))
    assert info.frame_count == 6 and not info.warnings


# ---------------------------------------------------------------------------- truncation

GOOD = {"h264": ".mp4", "mpeg4": ".avi", "mpeg4_bframes": ".avi", "mjpeg": ".avi", "vp9": ".webm"}


@pytest.mark.parametrize("codec", list(GOOD) + ["theora"])
def test_intact_files_have_no_warnings(index_videos, codec):
    info = probe(index_videos[codec])
    assert not info.truncated and info.warnings == [] and info.lost == [] and info.rotation == 0
    assert info.truncation is None


def test_faststart_mp4_is_not_truncated(tmp_path):
    path = write_index_video(tmp_path / "fs.mp4", 60, container_options={"movflags": "faststart"})
    info = probe(str(path))
    assert info.frame_count == 60 and not info.truncated and not info.warnings


@pytest.mark.parametrize("codec,frac", [("mpeg4", 0.5), ("mjpeg", 0.5), ("mjpeg", 0.9), ("mpeg4_bframes", 0.9),
                                        ("h264_faststart", 0.5), ("h264_faststart", 0.9), ("vp9", 0.5),
                                        ("vp9", 0.9)])
def test_truncated_files_are_reported(tmp_path, codec, frac, caplog):
    if codec == "h264_faststart":
        src = write_index_video(tmp_path / "src.mp4", 60, container_options={"movflags": "faststart"})
    else:
        src = write_index_video(tmp_path / f"src{GOOD[codec]}", 60, codec=codec)
    data = src.read_bytes()
    cut = tmp_path / f"cut{src.suffix}"
    cut.write_bytes(data[:int(len(data) * frac)])
    info = probe(str(cut))
    assert info.truncated and 0 < info.frame_count < 60
    if codec == "vp9":   # WebM has no frame count: the header's duration says how long the stream should be
        assert info.header_frame_count == 0 and info.truncation.startswith("truncated: header says 2.400 s")
    else:
        assert info.truncation.startswith("truncated: header says 60 frames, stream has ")
    with caplog.at_level(logging.WARNING, logger="gpuvideo"):
        res = index_videos([str(cut)], progress=False)
        index_videos([str(cut)], progress=False, report_warnings=False)
    assert res[str(cut)].truncated
    lines = [r for r in caplog.records if str(cut) in r.getMessage()]
    assert len(lines) == 1 and "truncated: header says" in lines[0].getMessage()
    with pytest.raises(VideoError, match="truncated: header says"):
        probe(str(cut), drop_truncated=True)
    dropped = index_videos([str(cut)], progress=False, drop_truncated=True)[str(cut)]
    assert isinstance(dropped, VideoError) and dropped.reason.startswith("truncated")


def test_truncated_files_in_the_cache_keep_their_report(tmp_path):
    src = write_index_video(tmp_path / "src.avi", 60, codec="mjpeg")
    cut = tmp_path / "cut.avi"
    cut.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    cache = tmp_path / "index.json"
    first = index_videos([str(cut)], ProbeCache(cache), progress=False)[str(cut)]
    again = index_videos([str(cut)], ProbeCache(cache), progress=False)[str(cut)]
    assert again == first and again.truncated
    assert isinstance(index_videos([str(cut)], ProbeCache(cache), progress=False, drop_truncated=True)[str(cut)],
                      VideoError)


# ---------------------------------------------------------------------------- lost packets, rotation

def _packet_types(path):
    import av
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        out = []
        for p in c.demux(s):
            if p.size:
                out.append((p.pts, p.is_keyframe))
    pts = sorted(p for p, _ in out)
    return [(pts.index(p), k) for p, k in out]   # (display index, keyframe) in decode order


def _a_b_frame_packet(path):
    """Decode-order number of a packet shown before the packet decoded just before it (a B-frame), mid-file."""
    order = _packet_types(path)
    for k in range(len(order) // 3, len(order)):
        if order[k][0] < order[k - 1][0] and not order[k][1]:
            return k, order[k][0]
    raise AssertionError("no B-frame")


@pytest.mark.parametrize("codec,suffix", [("h264", ".mp4"), ("mpeg4_bframes", ".avi"), ("h264", ".mkv")])
def test_a_lost_packet_is_a_lost_frame_not_a_shift(tmp_path, codec, suffix):
    src = write_index_video(tmp_path / f"src{suffix}", 120, codec=codec)
    k, shown = _a_b_frame_packet(src)
    dst = remux(src, tmp_path / f"lost{suffix}", skip=[k])
    info = probe(str(dst))
    assert info.frame_count == 120 and info.lost == [shown]
    assert info.seekable and any("1 lost frame" in w for w in info.warnings)
    assert info.pts == probe(str(src)).pts
    (a, b), = info.lost_intervals()
    assert a <= shown < b and a in info.keyframes and (b in info.keyframes or b == info.frame_count)


def test_variable_frame_rate_is_not_lost_frames(tmp_path):
    rng = np.random.default_rng(0)
    times = np.cumsum(np.r_[0, rng.choice([0.02, 0.04, 0.1], 59)])
    for suffix, codec in ((".mkv", "h264"), (".webm", "vp9"), (".mp4", "h264")):
        info = probe(str(write_index_video(tmp_path / f"vfr{suffix}", 60, codec=codec, timestamps=times)))
        assert info.frame_count == 60 and info.lost == [] and not info.truncated and not info.warnings


@pytest.mark.parametrize("rotation", [90, 180, 270])
@pytest.mark.parametrize("codec,suffix", [("h264", ".mp4"), ("h264", ".mkv"), ("mpeg4", ".mp4")])
def test_rotation_is_read_from_the_display_matrix(tmp_path, rotation, codec, suffix):
    path = write_index_video(tmp_path / f"r{rotation}{suffix}", 6, 160, 96, codec=codec, rotation=rotation)
    info = probe(str(path))
    assert info.rotation == rotation and (info.width, info.height) == (160, 96)
    assert (info.display_width, info.display_height) == ((96, 160) if rotation % 180 else (160, 96))


def test_last_packet_cut_short_is_truncation(tmp_path):
    src = write_index_video(tmp_path / "src.avi", 48, codec="mjpeg")
    cut = tmp_path / "cut.avi"
    cut.write_bytes(src.read_bytes()[: int(src.stat().st_size * 0.97)])   # the index and half the last frame
    info = probe(str(cut))
    assert info.truncated and info.truncation == "truncated: header says 48 frames, stream has 47 and one cut short"
    assert info.frame_count == 47        # the frame cut short is not part of the video


@pytest.mark.parametrize("at,reason", [(0.5, "data lost in the middle"), (0.3, "not a keyframe")])
def test_avi_that_lost_data_is_a_video_error(tmp_path, at, reason):
    """AVI numbers frames as it reads them: after lost data, numbers would shift; the file is rejected."""
    src = write_index_video(tmp_path / "src.avi", 48, codec="mpeg4_bframes")
    data = src.read_bytes()
    a = int(len(data) * at)
    bad = tmp_path / "bad.avi"
    bad.write_bytes(data[:a] + bytes(range(256)) * 8 + data[a + 2048:])
    with pytest.raises(VideoError, match=reason):
        probe(str(bad))


@pytest.mark.skipif(not hasattr(os, "sched_getscheduler"), reason="Linux scheduling calls")
def test_encoding_av1_leaves_thread_scheduling_alone(tmp_path):
    """SVT-AV1 switches the calling thread to real-time scheduling (as root); write_video restores it, or every
    thread started later (decoding pools) would run SCHED_FIFO."""
    before = os.sched_getscheduler(0), os.sched_getparam(0)
    try:
        write_index_video(tmp_path / "v.mkv", 4, 64, 48, codec="av1")
    except Exception as e:   # no AV1 encoder in this build
        pytest.skip(f"no AV1 encoder: {e}")
    assert (os.sched_getscheduler(0), os.sched_getparam(0)) == before
