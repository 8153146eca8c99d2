"""PyAVReader extensions: read_available on damaged files, seek_cost; plain read() unchanged."""
import dataclasses

import pytest

from gpuvideo.decode.pyav_reader import PyAVReader
from gpuvideo.errors import VideoError
from gpuvideo.probe import probe
from gpuvideo.synthetic import read_index, write_index_video


@pytest.fixture(scope="module")
def avi(tmp_path_factory):
    path = tmp_path_factory.mktemp("reader") / "v.avi"
    write_index_video(path, 90, codec="mpeg4_bframes")
    return path, probe(str(path))


def test_read_available_on_a_good_file(avi):
    path, info = avi
    r = PyAVReader(info, skip_corrupt_packets=True)
    got, missing = r.read_available([5, 3, 40, 41])
    assert missing == [] and sorted(got) == [3, 5, 40, 41]
    assert all(read_index(f) == i for i, f in got.items())


def test_truncated_file_lists_missing_frames(avi, tmp_path):
    path, info = avi
    cut = tmp_path / "cut.avi"
    data = path.read_bytes()
    cut.write_bytes(data[:len(data) // 2])
    info = dataclasses.replace(info, path=str(cut))
    r = PyAVReader(info, skip_corrupt_packets=True)
    got, missing = r.read_available(range(90))
    # the tail is missing; an intact keyframe just before the cut may still come out (B-frames decoded after it
    # are lost), and every frame that comes out is exact: frames next to the cut are withheld, not concealed
    assert missing and missing[-1] == 89 and set(range(missing[0] + 2, 90)) <= set(missing)
    assert len(got) > 10 and all(read_index(f) == i for i, f in got.items())
    with pytest.raises(VideoError, match="could not be decoded"):
        PyAVReader(info).read(range(80, 90))


def test_seek_cost_decodes_short_gaps_forward(avi):
    _, info = avi
    eager = PyAVReader(info)
    lazy = PyAVReader(info, seek_cost=30)
    for r in (eager, lazy):
        for a in range(0, 80, 14):
            frames = r.read([a, a + 1])
            assert [read_index(f) for f in frames] == [a, a + 1]
    assert eager.seeks > 0 and lazy.seeks == 0
