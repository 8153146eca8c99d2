import json
import os
import shutil

import numpy as np
import pytest

from gpuvideo.decode import PyAVReader, decode_all
from gpuvideo.errors import VideoError
from gpuvideo.probe import CACHE_VERSION, ProbeCache, index_videos, probe
from gpuvideo.synthetic import read_index, write_index_video

CODECS = ["h264", "mpeg4", "mpeg4_bframes", "mjpeg", "vp9", "theora"]


@pytest.mark.parametrize("codec", CODECS)
def test_probe_counts_frames(index_videos, codec):
    info = probe(index_videos[codec])
    assert info.frame_count == 60
    assert info.fps == pytest.approx(25.0)
    assert (info.width, info.height) == (160, 120)
    assert info.keyframes[0] == 0
    assert info.seekable


@pytest.mark.parametrize("codec", CODECS)
def test_reader_is_exact_against_sequential_decode(index_videos, codec):
    path = index_videos[codec]
    full = decode_all(path)
    assert [read_index(f) for f in full] == list(range(60))
    reader = PyAVReader(probe(path))
    rng = np.random.default_rng(20261130)   # seeded: a failing request list reproduces
    requests = [[0, 30, 59], [59], [1, 2, 3], [40, 41, 58], [5, 5, 50, 2], [13, 37], [36, 48]]
    requests += [sorted(rng.choice(60, size=k, replace=False).tolist()) for k in (1, 4, 9) for _ in range(3)]
    for ind in requests:
        got = reader.read(ind)
        assert got.dtype == np.uint8 and got.shape == (len(ind), 120, 160, 3)
        np.testing.assert_array_equal(got, full[ind])
        assert [read_index(g) for g in got] == ind
    reader.close()


def test_reader_decodes_forward_and_seeks_only_past_keyframes(index_videos):
    info = probe(index_videos["mpeg4"])     # keyframes every 12 frames
    assert info.keyframes == [0, 12, 24, 36, 48]
    with PyAVReader(info) as r:
        r.read([0, 1, 2])
        r.read([3, 5])                       # continues forward, no seek
        assert r.seeks == 0 and r.decoded == 6
        r.read([40])                         # past keyframe 36: seek there, decode 36..40
        assert r.seeks == 1 and r.decoded == 11
        r.read([10])                         # behind: must go back (from the start, keyframe 0)
        assert r.decoded == 22


def test_reader_rejects_indices_outside_the_video(index_videos):
    with PyAVReader(probe(index_videos["h264"])) as r:
        with pytest.raises(IndexError):
            r.read([59, 60])
        with pytest.raises(IndexError):
            r.read([-1])


def test_probe_rejects_bad_files(tmp_path, index_videos):
    empty = tmp_path / "empty.avi"
    empty.write_bytes(b"")
    text = tmp_path / "notes.avi"
    text.write_text("this is not a video\n" * 100)
    for path, reason in [(empty, "empty"), (text, "cannot open")]:
        with pytest.raises(VideoError, match=reason):
            probe(str(path))


def test_truncated_file_counts_what_remains(tmp_path, index_videos):
    src = index_videos["mpeg4"]
    cut = tmp_path / "cut.avi"
    data = open(src, "rb").read()
    cut.write_bytes(data[: len(data) // 2])
    info = probe(str(cut))
    assert 0 < info.frame_count < 60
    with PyAVReader(info) as r:
        got = r.read(list(range(info.frame_count - 3)))
    assert [read_index(f) for f in got] == list(range(info.frame_count - 3))


def test_header_is_corrected(tmp_path):
    # WebM has no frame count in its header: counting packets finds the real one
    path = write_index_video(tmp_path / "v.webm", 33, codec="vp9")
    info = probe(str(path))
    assert info.header_frame_count == 0 and info.frame_count == 33
    assert probe(str(path), count_by_decoding=True).frame_count == 33


def test_cache_is_json_keyed_by_size_and_mtime(tmp_path, index_videos, monkeypatch):
    video = tmp_path / "a.mp4"
    shutil.copy(index_videos["h264"], video)
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\0" * 1000)
    cache_file = tmp_path / "cache" / "index.json"
    out = _index([str(video), str(bad)], cache_file)
    assert out[str(video)].frame_count == 60 and isinstance(out[str(bad)], VideoError)
    data = json.loads(cache_file.read_text())
    assert data["version"] == CACHE_VERSION and len(data["entries"]) == 2

    import gpuvideo.probe as probe_mod
    calls = []
    real = probe_mod.probe
    monkeypatch.setattr(probe_mod, "probe", lambda p, c=False: calls.append(p) or real(p, c))
    out2 = _index([str(video), str(bad)], cache_file)
    assert calls == [] and out2[str(video)].frame_count == 60 and out2[str(video)].pts == out[str(video)].pts
    assert isinstance(out2[str(bad)], VideoError)
    # a changed file is probed again
    os.utime(video, ns=(1, 1))
    _index([str(video)], cache_file)
    assert calls == [str(video)]


def _index(paths, cache_file):
    return index_videos(paths, ProbeCache(cache_file), progress=False)
