"""Frame times from the file's own timestamps: the stream time base in VideoInfo, VFR files, the cache."""
import json

import numpy as np
import pytest

from gpuvideo.probe import CACHE_VERSION, ProbeCache, VideoInfo, index_videos, probe
from gpuvideo.synthetic import index_frame, write_index_video, write_timed_video
from gpuvideo.timestamps import frame_duration, frame_times, frames_between

#: seconds at which each frame of the variable-frame-rate test video is shown
VFR_TIMES = [0.0, 0.04, 0.08, 0.2, 0.24, 0.5, 0.54, 0.58, 1.0, 1.04, 1.3, 1.34]


@pytest.fixture(scope="module")
def vfr_video(tmp_path_factory):
    path = tmp_path_factory.mktemp("vfr") / "vfr.mkv"
    return str(write_timed_video(path, (index_frame(i) for i in range(len(VFR_TIMES))), VFR_TIMES))


def test_vfr_times_come_from_the_timestamps(vfr_video):
    info = probe(vfr_video)
    assert info.time_base == (1, 1000)
    assert info.frame_count == len(VFR_TIMES)
    np.testing.assert_allclose(frame_times(info), VFR_TIMES, atol=1e-9)
    # fps alone would put frame 8 at 8 / 25 = 0.32 s instead of 1.0 s
    assert abs(info.frame_count / info.fps - VFR_TIMES[-1]) > 0.5


def test_time_base_per_container(tmp_path):
    mp4 = probe(str(write_index_video(tmp_path / "a.mp4", 10, codec="h264")))
    avi = probe(str(write_index_video(tmp_path / "a.avi", 10, codec="mpeg4")))
    for info in (mp4, avi):
        assert info.time_base is not None
        np.testing.assert_allclose(frame_times(info), np.arange(10) / 25.0, atol=1e-9)
    assert avi.time_base == (1, 25)


def test_time_base_survives_the_index_cache(tmp_path, vfr_video):
    cache_file = tmp_path / "index.json"
    first = index_videos([vfr_video], ProbeCache(cache_file), progress=False)[vfr_video]
    data = json.loads(cache_file.read_text())
    assert data["version"] == CACHE_VERSION
    again = ProbeCache(cache_file).get(vfr_video)
    assert isinstance(again, VideoInfo) and again.time_base == first.time_base == (1, 1000)
    np.testing.assert_allclose(frame_times(again), VFR_TIMES, atol=1e-9)


def test_old_cache_version_is_ignored(tmp_path, vfr_video):
    cache_file = tmp_path / "index.json"
    index_videos([vfr_video], ProbeCache(cache_file), progress=False)
    data = json.loads(cache_file.read_text())
    data["version"] = 1
    cache_file.write_text(json.dumps(data))
    assert ProbeCache(cache_file).get(vfr_video) is None


def test_fallback_without_timestamps():
    info = VideoInfo("x", 5, 10.0, 8, 8, "h264", "yuv420p", 5)
    np.testing.assert_allclose(frame_times(info), [0, 0.1, 0.2, 0.3, 0.4])


def test_frames_between_and_duration():
    times = np.asarray(VFR_TIMES)
    assert frames_between(times, 0.2, 0.58) == (3, 6)          # 0.2 <= t < 0.58
    assert frames_between(times, 0.1, 0.15) == (3, 2)          # no frame shown then
    assert frames_between(times, 0.0, 99) == (0, len(times) - 1)
    assert frame_duration(times, 4, 25.0) == pytest.approx(0.26)
    assert frame_duration(times, len(times) - 1, 25.0) == pytest.approx(np.median(np.diff(times)))
