"""Skipping unwanted non-reference pictures (FFmpeg's skip_frame=NONREF) changes no frame that is served."""
import numpy as np
import pytest

from gpuvideo.decode import PyAVReader
from gpuvideo.probe import probe
from gpuvideo.synthetic import read_index, write_index_video

# (codec, suffix, container format): B-frames in containers whose packet timestamps are the pictures' own
SKIPPING = [("h264", ".mp4", None), ("h264", ".mkv", None), ("h264", ".ts", "mpegts"),
            ("mpeg4_bframes", ".mp4", None), ("mpeg4_bframes", ".mkv", None), ("mpeg2", ".ts", "mpegts"),
            ("hevc", ".mp4", None)]


@pytest.fixture(scope="module")
def bframe_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("bframes")
    out = {}
    for codec, suffix, fmt in SKIPPING + [("mpeg4_bframes", ".avi", None)]:
        path = root / f"{codec}{suffix}"
        write_index_video(path, 90, codec=codec, container_format=fmt)
        out[(codec, suffix)] = probe(str(path))
    return out


def _requests(rng, n=90):
    """Sorted frame requests: uniform clips, random sets, consecutive spans, and one going backwards."""
    reqs = [list(np.linspace(0, n - 1, 8).round().astype(int)), sorted(rng.choice(n, 5, replace=False).tolist())]
    reqs += [list(range(s, s + 10)) for s in range(0, 40, 10)]
    reqs += [[3, 4, 50], [int(n - 1)], [0, 1, 2]]
    return reqs


@pytest.mark.parametrize("codec,suffix", [(c, s) for c, s, _ in SKIPPING])
def test_frames_are_the_same_with_and_without_skipping(bframe_files, codec, suffix):
    info = bframe_files[(codec, suffix)]
    rng = np.random.default_rng(7)
    reqs = _requests(rng)
    with PyAVReader(info) as fast, PyAVReader(info, skip_unwanted=False) as full:
        for req in reqs:
            a, b = fast.read(req), full.read(req)
            assert [read_index(f) for f in a] == req
            np.testing.assert_array_equal(a, b)
        assert fast.skip_unwanted                               # never fell back
        assert fast.skipped_packets > 0 and full.skipped_packets == 0
        assert fast.decoded < full.decoded                      # pictures the decoder did not make


def test_no_skipping_where_packet_times_are_decode_order(bframe_files):
    info = bframe_files[("mpeg4_bframes", ".avi")]
    with PyAVReader(info) as r:
        frames = r.read([5, 30, 77])
        assert [read_index(f) for f in frames] == [5, 30, 77]
        assert r.skipped_packets == 0


def test_frame_threads_and_tolerant_reads_too(bframe_files):
    info = bframe_files[("h264", ".mp4")]
    with PyAVReader(info, threads=2) as r:                      # several decoding threads: never skips
        assert [read_index(f) for f in r.read([10, 40])] == [10, 40] and r.skipped_packets == 0
    with PyAVReader(info, skip_corrupt_packets=True) as r:
        got, missing = r.read_available([2, 33, 61, 88])
        assert not missing and sorted(got) == [2, 33, 61, 88] and r.skipped_packets > 0
        assert all(read_index(f) == i for i, f in got.items())


def test_a_frame_lost_to_skipping_is_read_again_without_it(bframe_files, caplog):
    """Should a skipped picture ever be one a request needs, the request is read again, and the reader
    stops skipping in that file."""
    import logging
    info = bframe_files[("h264", ".mp4")]
    with PyAVReader(info) as r:
        r._unwanted = lambda pts: (setattr(r, "skipped_packets", r.skipped_packets + 1) or True)
        r.close()                                               # the next iterator takes the patched predicate
        with caplog.at_level(logging.DEBUG, logger="gpuvideo.decode.pyav_reader"):
            frames = r.read([20, 21, 22, 45])
        assert [read_index(f) for f in frames] == [20, 21, 22, 45]
        assert not r.skip_unwanted
        assert "reading again without skipping" in caplog.text
        got, missing = r.read_available([60, 61])
        assert sorted(got) == [60, 61] and not missing


def test_generators_serve_the_same_batches_with_skipping(tmp_path, monkeypatch):
    from gpuvideo import VideoFrameGenerator

    for k in range(3):
        (tmp_path / f"c{k % 2}").mkdir(exist_ok=True)
        write_index_video(tmp_path / f"c{k % 2}" / f"v{k}.mp4", 70 + 10 * k, codec="h264")

    def batches():
        gen = VideoFrameGenerator(glob_pattern=str(tmp_path / "{classname}" / "*.mp4"), nb_frames=6, batch_size=2,
                                  target_shape=(80, 60), shuffle=False, index_cache=None, progress=False)
        out = [gen[i][0].copy() for i in range(len(gen))]
        skipped = sum(s.reader.skipped_packets for _, s in gen.decoder.pool._idle.values())
        gen.close()
        return out, skipped

    fast, skipped = batches()
    monkeypatch.setattr(PyAVReader, "SKIP_CODECS", frozenset())
    full, none = batches()
    assert skipped > 0 and none == 0
    for a, b in zip(fast, full):
        np.testing.assert_array_equal(a, b)
