"""The CPU decoder (gpuvideo.decode.pyav_decoder): exact frames per request, prepared frames, the pool of open
readers (reuse, bounds, fork), the frames kept for overlapping requests, partial clips. Small and fast: this is
the mutation run's test subset for the module, beside test_probe_decode.py and test_reader_tolerant.py."""
import re

import numpy as np
import pytest

from gpuvideo.decode import PyAVReader, check_request
from gpuvideo.decode.pyav_decoder import PyAVDecoder, ReaderPool
from gpuvideo.errors import MissingFrames, VideoError
from gpuvideo.ops import prepare_clip
from gpuvideo.probe import probe
from gpuvideo.synthetic import read_index


@pytest.fixture(scope="module")
def infos(index_videos):
    return {c: probe(p) for c, p in index_videos.items()}


def _ref(info, idx, size=None, channels=3):
    with PyAVReader(info) as r:
        frames = r.read(idx)
    return prepare_clip(frames, size or (info.width, info.height), channels)


@pytest.mark.parametrize("codec", ["h264", "mpeg4_bframes", "vp9"])
def test_requests_give_exactly_their_frames_prepared(infos, codec):
    info = infos[codec]
    d = PyAVDecoder((40, 30), 1)
    reqs = [(info, [5, 3, 3, 59]), (info, np.arange(10, 20)), (info, [0]), (info, [59, 0, 30, 30])]
    out = d.decode(reqs)
    for (_, idx), clip in zip(reqs, out):
        assert clip.shape == (len(idx), 30, 40, 1) and clip.dtype == np.uint8
        np.testing.assert_array_equal(clip, _ref(info, idx, (40, 30), 1))
    native = PyAVDecoder().decode_one((info, [7, 2]))
    assert native.shape == (2, 120, 160, 3) and [read_index(f) for f in native] == [7, 2]
    d.close()


def test_bad_requests_are_returned_not_raised(infos):
    d = PyAVDecoder()
    out = d.decode([(infos["h264"], []), (infos["h264"], [60]), (infos["h264"], [-1]), (infos["h264"], [59])])
    assert isinstance(out[0], ValueError) and isinstance(out[1], IndexError) and isinstance(out[2], IndexError)
    assert read_index(out[3][0]) == 59
    assert isinstance(check_request((infos["h264"], [])), ValueError)
    info, idx = check_request((infos["h264"], [[3, 4]]))
    assert idx.dtype == np.int64 and idx.tolist() == [3, 4]
    d.close()


def test_a_file_read_in_order_is_decoded_once(infos):
    """Consecutive requests on one video keep its reader: every frame decoded once, no seek."""
    info = infos["h264"]
    d = PyAVDecoder(max_open_readers=2)
    for start in range(0, 60, 10):
        clip = d.decode_one((info, np.arange(start, start + 10)))
        assert [read_index(f) for f in clip] == list(range(start, start + 10))
    assert d.decoded == 60 and d.seeks == 0
    d.close()
    assert d.decoded == 60 and d.seeks == 0            # closed readers still count


def test_pool_reuses_the_nearest_reader_and_bounds_idle_ones(infos):
    pool = ReaderPool(max_idle=2)
    a, b = infos["h264"], infos["vp9"]
    s1 = pool.acquire(a, 0)
    s2 = pool.acquire(a, 0)
    assert s1 is not s2                                     # busy readers are not shared
    s1.last, s2.last = 10, 40
    pool.release(s1)
    pool.release(s2)
    assert pool.acquire(a, 45) is s2                        # the one just before frame 45
    assert pool.acquire(a, 12) is s1
    pool.release(s1)
    pool.release(s2)
    s3 = pool.acquire(b, 0)
    assert s3 not in (s1, s2) and s3.reader.info.path == b.path
    pool.release(s3)                                        # three idle: the least recently used is closed
    assert len(pool._idle) == 2 and s1.reader._container is None
    s4 = pool.acquire(b, 0)
    assert s4 is s3
    pool.release(s4, keep=False)                            # not kept: closed
    assert len(pool._idle) == 1 and s4 not in [s for _, s in pool._idle.values()]
    pool.close()
    assert not pool._idle


def test_slot_distance():
    from gpuvideo.decode.pyav_decoder import _Slot
    s = _Slot(reader=None)
    assert s.last == -1 and s.recent == {}
    s.last = 10
    assert s.distance(10) == 1 << 40 and s.distance(9) == 1 << 40      # behind: must go back
    assert s.distance(11) == 1 and s.distance(30) == 20
    s.recent = {9: None}
    assert s.distance(9) == 0


def test_pool_after_fork_leaves_inherited_readers_alone(infos, monkeypatch):
    import os
    pool = ReaderPool(max_idle=3)
    slot = pool.acquire(infos["h264"], 0)
    slot.reader.read([1])
    pool.release(slot)
    busy = pool.acquire(infos["vp9"], 0)
    parent = os.getpid()
    monkeypatch.setattr(os, "getpid", lambda: parent + 1)                # as in a forked child
    fresh = pool.acquire(infos["h264"], 2)
    fresh.reader.read([3])
    assert fresh is not slot and slot in pool._orphans and busy in pool._orphans
    assert slot.reader._container is not None                              # not closed by the child
    pool.release(fresh)
    assert fresh.reader.info.path == infos["h264"].path and len(pool._idle) == 1
    monkeypatch.setattr(os, "getpid", lambda: parent + 2)                  # close() in another process: no-op
    pool.close()
    assert fresh.reader._container is not None


def test_keep_recent_serves_overlapping_windows_without_going_back(infos):
    info = infos["mpeg4_bframes"]
    d = PyAVDecoder((40, 30), 3, keep_recent=8)
    first = d.decode_one((info, np.arange(20, 28)))
    decoded = d.decoded
    second = d.decode_one((info, np.arange(24, 32)))           # overlaps the last 4 frames
    assert d.decoded - decoded == 4 and d.seeks <= 1
    np.testing.assert_array_equal(second[:4], first[4:])
    np.testing.assert_array_equal(second, _ref(info, np.arange(24, 32), (40, 30)))
    slot = next(iter(d.pool._idle.values()))[1]
    assert sorted(slot.recent) == list(range(24, 32)) and slot.last == 31
    decoded = d.decoded
    third = d.decode_one((info, [29, 40]))                     # 29 kept (within 8 of 31), 40 decoded forward
    np.testing.assert_array_equal(third, _ref(info, [29, 40], (40, 30)))
    key = max(k for k in info.keyframes if k <= 40)            # past the position 32: a seek to it
    assert key > 32 and d.decoded - decoded == 40 - key + 1
    assert sorted(slot.recent) == [40]                          # only frames > 40 - 8 stay
    d.close()
    plain = PyAVDecoder((40, 30), 3)
    plain.decode_one((info, np.arange(20, 28)))
    assert next(iter(plain.pool._idle.values()))[1].recent == {}           # keep_recent=0 keeps nothing
    plain.close()


def test_keep_recent_keeps_only_frames_near_the_last(infos):
    info = infos["h264"]
    d = PyAVDecoder(keep_recent=3)
    d.decode_one((info, [1, 5, 9, 10, 12]))
    slot = next(iter(d.pool._idle.values()))[1]
    assert sorted(slot.recent) == [10, 12]                    # > 12 - 3
    d.close()


def test_truncated_file_gives_the_partial_clip(infos, tmp_path):
    src = infos["mpeg4"]
    data = open(src.path, "rb").read()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    info = probe(src.path)
    info = type(info)(**{**info.__dict__, "path": str(cut)})
    d = PyAVDecoder()
    res = d.decode_one((info, [2, 59, 2, 58]))
    assert isinstance(res, MissingFrames) and res.missing == [58, 59]
    assert res.present.tolist() == [True, False, True, False]
    assert [read_index(f) for f in res.clip[[0, 2]]] == [2, 2]
    assert not res.clip[[1, 3]].any()
    gone = type(info)(**{**info.__dict__, "path": str(tmp_path / "nothing.avi")})
    err = d.decode_one((gone, [0]))
    assert isinstance(err, VideoError) and not isinstance(err, MissingFrames)
    assert not any(s.reader.info.path == gone.path for _, s in d.pool._idle.values())   # not kept
    d.close()


def test_resize_in_decoder_uses_ffmpegs_scaler(infos):
    info = infos["vp9"]
    a = PyAVDecoder((40, 30), 3, resize_in_decoder=True).decode_one((info, [3, 4]))
    b = PyAVDecoder((40, 30), 3).decode_one((info, [3, 4]))
    with PyAVReader(info) as r:
        want = r.read([3, 4], size=(40, 30))
    np.testing.assert_array_equal(a, want)
    assert a.shape == b.shape == (2, 30, 40, 3) and not np.array_equal(a, b)
    assert [read_index(f) for f in a] == [3, 4]


# ---------------------------------------------------------------- PyAVReader (found by the mutation run)
def _with(info, **changes):
    return type(info)(**{**info.__dict__, **changes})


def test_reader_defaults_seek_past_any_keyframe_ahead(infos):
    info = infos["mpeg4"]                                      # keyframes every 12 frames
    assert info.keyframes[:3] == [0, 12, 24]
    with PyAVReader(info) as r:
        assert (r.threads, r.skip_corrupt_packets, r.seek_cost) == (1, False, 0)
        r.read(np.arange(11))                                  # position 11, keyframe 12 one frame ahead
        r.read([12])
        assert r.seeks == 1 and r.decoded == 12                # seek_cost 0: seeks even for a gap of one
        r.read([30])
        r.read([55])
        assert r.seeks == 3
    with PyAVReader(info, seek_cost=-5) as r:                  # negative seek_cost is 0
        assert r.seek_cost == 0


def test_reader_index_errors_and_shapes(infos):
    info = infos["h264"]
    with PyAVReader(info) as r:
        with pytest.raises(ValueError, match="^no frame indices given$"):
            r.read([])
        with pytest.raises(IndexError, match=f"^{re.escape(info.path)}: frame indices -1..3 outside \\[0, 60\\)$"):
            r.read([3, -1])
        assert [read_index(f) for f in r.read([[4, 2], [2, 9]])] == [4, 2, 2, 9]     # any shape, flattened
        got, missing = r.read_available(np.array([[7], [1]]))
        assert sorted(got) == [1, 7] and missing == []


def test_reader_cannot_open(tmp_path, infos):
    bad = _with(infos["h264"], path=str(tmp_path / "missing.mp4"))
    with pytest.raises(VideoError, match="cannot open") as e:
        PyAVReader(bad).read([0])
    assert e.value.path == bad.path


def test_reader_missing_frames_error_names_the_file_and_frames(infos, tmp_path):
    src = infos["mpeg4"]
    data = open(src.path, "rb").read()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    info = _with(src, path=str(cut))
    with PyAVReader(info) as r:    # the plain reader stops at the damaged packet or at the cut, whichever FFmpeg meets first
        with pytest.raises(VideoError, match=r"decode error near frame \d+: |frames \[50\] could not be decoded") as e:
            r.read([3, 50])
    assert e.value.path == str(cut)
    with PyAVReader(info, skip_corrupt_packets=True) as r:      # the tolerant one reads to the end
        with pytest.raises(VideoError) as e:
            r.read([3, 50, 51, 52, 53, 54, 55])
    assert e.value.path == str(cut)
    msg = str(e.value)
    assert "frames [50, 51, 52, 53, 54]... could not be decoded (stream ends at frame " in msg
    reached = int(msg.split("stream ends at frame ")[1].split(")")[0])
    assert 3 < reached < 50
    with PyAVReader(info, skip_corrupt_packets=True) as r:
        with pytest.raises(VideoError) as e:
            r.read([50, 51])
    assert "frames [50, 51] could not be decoded" in str(e.value) and "..." not in str(e.value)
    with PyAVReader(info, skip_corrupt_packets=True) as r:
        got, missing = r.read_available([3, 50])
        assert sorted(got) == [3] and missing == [50]


def test_reader_counts_frames_when_timestamps_are_not_in_the_index(infos, caplog):
    """Timestamps that the index does not know: the reader decodes from the start and counts frames."""
    import logging
    info = infos["mpeg4_bframes"]
    shifted = _with(info, pts=[p + 10 ** 6 for p in info.pts])
    with caplog.at_level(logging.INFO, logger="gpuvideo"):
        for tolerant in (False, True):
            with PyAVReader(shifted, skip_corrupt_packets=tolerant) as r:
                assert [read_index(f) for f in r.read([5, 2, 40])] == [5, 2, 40]
                assert [read_index(f) for f in r.read([41, 45])] == [41, 45]
                assert r.seeks == 0
    assert sum("not in the index, decoding from the start" in m.getMessage() for m in caplog.records) == 2


def test_tolerant_reader_drops_a_frame_whose_timestamp_is_unknown(infos):
    """Once frames were mapped, a frame with a made-up timestamp is dropped (reported missing), the others keep
    their indices; the plain reader raises rather than serve a frame it cannot place."""
    info = infos["mpeg4"]
    pts = list(info.pts)
    pts[4] = pts[4] + 10 ** 6                                   # frame 4's real timestamp is not in the index
    broken = _with(info, pts=pts)
    with PyAVReader(broken, skip_corrupt_packets=True) as r:
        got, missing = r.read_available([3, 4, 7])
        assert sorted(got) == [3, 7] and missing == [4]
        assert [read_index(got[i]) for i in (3, 7)] == [3, 7]
    with PyAVReader(broken, skip_corrupt_packets=True) as r:   # wanted frames decoded on the way stay
        got, missing = r.read_available([4, 5, 9])
        assert sorted(got) == [5, 9] and missing == [4]
    with PyAVReader(broken) as r:                               # the plain reader never guesses: frame 4 is missing
        with pytest.raises(VideoError, match=r"frames \[4\] could not be decoded"):
            r.read([3, 4, 7])


def test_reader_without_timestamps_counts_forward_without_reopening(infos):
    info = infos["h264"]
    counting = _with(info, keyframes=[], pts=[])
    assert not counting.seekable
    with PyAVReader(counting) as r:
        assert [read_index(f) for f in r.read([5])] == [5]
        assert [read_index(f) for f in r.read([10])] == [10]
        assert r.decoded == 11 and r.seeks == 0                 # forward: no reopening
        assert [read_index(f) for f in r.read([2])] == [2]      # back: from the start again
        assert r.decoded == 14


def test_reader_and_excerpt_when_the_first_keyframe_is_not_frame_0(infos):
    """A keyframe list that does not start at 0 (open GOP): frames before it are decoded from the start."""
    from gpuvideo.decode import excerpt
    info = infos["mpeg4"]
    late = _with(info, keyframes=[12, 24, 36, 48])
    with PyAVReader(late) as r:
        assert [read_index(f) for f in r.read([5, 13, 30])] == [5, 13, 30]
    _, start = excerpt.gop_excerpt(late, 5, 8)
    assert start == 0
    for first, want in ((12, 12), (15, 12), (30, 24)):
        assert excerpt.gop_excerpt(late, first, first + 2)[1] == want


def test_excerpt_has_exactly_the_frames_asked_without_b_frames(infos):
    import io

    import av
    from gpuvideo.decode import excerpt
    info = infos["mpeg4"]                                       # no B-frames: packets in presentation order
    for first, last in ((0, 10), (13, 20), (30, 47), (50, 59)):
        data, start = excerpt.gop_excerpt(info, first, last)
        with av.open(io.BytesIO(data)) as c:
            got = [read_index(f.to_ndarray(format="rgb24")) for f in c.decode(c.streams.video[0])]
        assert got == list(range(start, last + 1)), (first, last)


def test_excerpt_errors_name_the_file(infos, tmp_path):
    from gpuvideo.decode import excerpt
    info = infos["mpeg4"]
    with pytest.raises(VideoError, match=r"^.*cannot excerpt frames 50\.\.59: 1 frame\(s\) not found") as e:
        excerpt.gop_excerpt(_with(info, pts=info.pts[:-1] + [10 ** 9]), 50, 59)
    assert e.value.path == info.path
    gone = _with(info, path=str(tmp_path / "gone.avi"))
    with pytest.raises(VideoError, match=r"cannot excerpt frames 3\.\.5: \w+Error: ") as e:
        excerpt.gop_excerpt(gone, 3, 5)
    assert e.value.path == gone.path


def test_when_an_excerpt_is_worth_it():
    """Files of more than 256 frames, when the GOPs from the keyframe before ``first`` to ``last`` are less than
    half of the file."""
    from gpuvideo.decode.excerpt import MIN_FRAMES, worth_excerpting
    from gpuvideo.probe import VideoInfo

    def info(n, keyframes):
        return VideoInfo(path="/x.mp4", frame_count=n, fps=25.0, width=64, height=48, codec="h264",
                         pix_fmt="yuv420p", header_frame_count=n, keyframes=keyframes, pts=list(range(n)))
    assert MIN_FRAMES == 256
    assert not worth_excerpting(info(256, [0, 128]), 200, 210)             # 256 frames: whole file
    assert worth_excerpting(info(257, [0, 128]), 200, 210)
    a = info(300, [0, 100, 200])
    assert worth_excerpting(a, 0, 148) and not worth_excerpting(a, 0, 149)   # 2 * 149 < 300 <= 2 * 150
    assert worth_excerpting(a, 100, 248) and not worth_excerpting(a, 100, 249)
    assert worth_excerpting(a, 150, 248) and not worth_excerpting(a, 150, 249)   # from keyframe 100
    b = info(300, [10, 100, 200])                                            # first keyframe after frame 0
    assert worth_excerpting(b, 5, 148) and not worth_excerpting(b, 5, 149)   # from frame 0
    assert worth_excerpting(b, 10, 158) and not worth_excerpting(b, 10, 159)  # from keyframe 10
    assert worth_excerpting(b, 50, 158) and not worth_excerpting(b, 50, 159)
    assert not worth_excerpting(b, 50, 199)
    assert not worth_excerpting(info(300, []), 0, 5) and not worth_excerpting(
        VideoInfo(**{**a.__dict__, "pts": []}), 200, 210)                    # no timestamps: never


# ---------------------------------------------------------------- pool and decoder details
def test_pool_defaults_and_the_readers_it_makes(infos):
    pool = ReaderPool()
    assert (pool.max_idle, pool.ffmpeg_threads, pool.seek_cost) == (4, 1, 0)
    assert ReaderPool(max_idle=0).max_idle == 1
    pool = ReaderPool(ffmpeg_threads=3, seek_cost=7)
    r = pool.acquire(infos["h264"], 0).reader
    assert (r.threads, r.seek_cost, r.skip_corrupt_packets) == (3, 7, True)
    d = PyAVDecoder()
    assert (d.pool.max_idle, d.pool.ffmpeg_threads, d.pool.seek_cost, d._map.threads, d._map.name) == \
        (4, 1, 0, 1, "gpuvideo-decode")
    d = PyAVDecoder(max_open_readers=2, ffmpeg_threads=2, seek_cost=5, threads=3)
    assert (d.pool.max_idle, d.pool.ffmpeg_threads, d.pool.seek_cost, d._map.threads) == (2, 2, 5, 3)


def test_pool_ties_go_to_the_reader_idle_longest(infos):
    pool = ReaderPool()
    a = infos["h264"]
    s1, s2 = pool.acquire(a, 0), pool.acquire(a, 0)
    s1.last = s2.last = 10
    pool.release(s1)
    pool.release(s2)
    assert pool.acquire(a, 20) is s1


def test_pool_counts_add_up_over_closed_and_live_readers(infos):
    pool = ReaderPool(max_idle=1)
    a, b = infos["mpeg4"], infos["vp9"]
    s1 = pool.acquire(a, 0)
    s1.reader.read([0])
    s1.reader.read([40])                                        # one seek, 1 + 5 frames
    pool.release(s1)
    s2 = pool.acquire(b, 0)
    s2.reader.read([2])
    pool.release(s2)                                            # s1 closed (max_idle 1): counts kept
    s3 = pool.acquire(a, 0)
    s3.reader.read([1])
    s3.reader.read([30])                                        # live: one seek, 2 + 7 frames
    assert pool.seeks == 2 and pool.decoded == 6 + 3 + 9
    pool.release(s3)                                            # s2 closed
    pool.close()                                                # s3 closed
    assert pool.seeks == 2 and pool.decoded == 18


def test_pool_after_two_forks_keeps_every_inherited_reader(infos, monkeypatch):
    import os
    pool = ReaderPool()
    parent = os.getpid()
    first = pool.acquire(infos["h264"], 0)
    pool.release(first)
    monkeypatch.setattr(os, "getpid", lambda: parent + 1)
    second = pool.acquire(infos["vp9"], 0)
    pool.release(second)
    monkeypatch.setattr(os, "getpid", lambda: parent + 2)
    pool.acquire(infos["mpeg4"], 0)
    assert first in pool._orphans and second in pool._orphans


def test_decoder_picks_among_several_idle_readers_of_a_file(infos):
    info = infos["h264"]
    d = PyAVDecoder()
    s1, s2 = d.pool.acquire(info, 0), d.pool.acquire(info, 0)
    s1.reader.read([2])
    s2.reader.read([40])
    s1.last, s2.last = 2, 40
    d.pool.release(s1)
    d.pool.release(s2)
    before = d.decoded
    assert [read_index(f) for f in d.decode_one((info, [42, 43]))] == [42, 43]
    assert d.decoded - before == 3                              # the reader at 40 went on: 41, 42, 43
    d.close()


def test_nothing_decodable_gives_zeros_of_the_file_size(infos, tmp_path):
    src = infos["mpeg4"]
    data = open(src.path, "rb").read()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    info = _with(src, path=str(cut))
    res = PyAVDecoder().decode_one((info, [58, 59]))
    assert isinstance(res, MissingFrames) and res.path == str(cut) and res.missing == [58, 59]
    assert res.clip.shape == (2, 120, 160, 3) and res.clip.dtype == np.uint8 and not res.clip.any()
    res = PyAVDecoder((40, 30), 1).decode_one((info, [59]))
    assert res.clip.shape == (1, 30, 40, 1) and res.clip.dtype == np.uint8


def test_frame_size_change_is_an_error(infos, monkeypatch):
    info = infos["h264"]
    d = PyAVDecoder()
    sizes = iter([(10, 12), (10, 14)])
    monkeypatch.setattr(d, "_prepare", lambda frame, info: np.zeros(next(sizes) + (3,), np.uint8))
    res = d.decode_one((info, [1, 2]))
    assert isinstance(res, VideoError) and res.path == info.path
    assert "frame size changes within the video ([(10, 12, 3), (10, 14, 3)]); give target_shape" in str(res)


def test_decoder_interpolation_reaches_the_resize(infos):
    info = infos["vp9"]
    area = PyAVDecoder((25, 14), 3, "area").decode_one((info, [3]))
    with PyAVReader(info) as r:
        native = r.read([3])
    np.testing.assert_array_equal(area, prepare_clip(native, (25, 14), 3, "area"))
    assert not np.array_equal(area, prepare_clip(native, (25, 14), 3, "linear"))


@pytest.fixture(scope="module")
def with_audio(tmp_path_factory):
    """60 index frames of H.264 (B-frames) with an AAC audio track beside them: readers must take the video only."""
    import av
    from gpuvideo.synthetic import index_frame
    path = tmp_path_factory.mktemp("audio") / "with_audio.mp4"
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 160, 120, "yuv420p"
        v.options = {"g": "12", "bf": "2"}
        a = c.add_stream("aac", rate=16000)
        a.layout = "mono"
        for i in range(60):
            for pkt in v.encode(av.VideoFrame.from_ndarray(index_frame(i, 160, 120), format="rgb24")):
                c.mux(pkt)
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 640), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, i * 640
            for pkt in a.encode(frame):
                c.mux(pkt)
        for stream in (v, a):
            for pkt in stream.encode():
                c.mux(pkt)
    return probe(str(path))


def test_a_video_with_sound_reads_its_pictures_only(with_audio):
    import io

    import av
    from gpuvideo.decode import decode_all, excerpt
    info = with_audio
    assert info.frame_count == 60
    for tolerant in (False, True):
        with PyAVReader(info, skip_corrupt_packets=tolerant) as r:
            assert [read_index(f) for f in r.read([0, 5, 30, 59, 2])] == [0, 5, 30, 59, 2]
            assert r.corrupt_packets == 0
    assert [read_index(f) for f in decode_all(info.path)] == list(range(60))
    data, start = excerpt.gop_excerpt(info, 30, 40)
    with av.open(io.BytesIO(data)) as c:
        assert len(c.streams) == 1
        got = [read_index(f.to_ndarray(format="rgb24")) for f in c.decode(c.streams.video[0])]
    assert got[:40 - start + 1] == list(range(start, 41))


def test_reader_counts_no_damage_on_good_files(infos):
    for codec in ("h264", "mpeg4_bframes", "vp9"):
        with PyAVReader(infos[codec], skip_corrupt_packets=True) as r:
            assert [read_index(f) for f in r.read([0, 59])] == [0, 59]
            assert r.corrupt_packets == 0


def test_missing_frame_lists_end_with_dots_past_five(infos, tmp_path):
    src = infos["mpeg4"]
    data = open(src.path, "rb").read()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    info = _with(src, path=str(cut))
    with PyAVReader(info, skip_corrupt_packets=True) as r:
        with pytest.raises(VideoError) as e:
            r.read([50, 51, 52, 53, 54])
    assert "frames [50, 51, 52, 53, 54] could not be decoded" in str(e.value)
    with PyAVReader(info) as r:                                  # plain reader, read_available: no raise
        got, missing = r.read_available([3, 20, 50])
    assert 3 in got and 50 in missing and sorted(list(got) + missing) == [3, 20, 50]


def test_counting_fallback_keeps_size_and_strictness(infos, tmp_path, caplog):
    import logging
    info = infos["mpeg4"]
    shifted = _with(info, pts=[p + 10 ** 6 for p in info.pts])
    with caplog.at_level(logging.INFO, logger="gpuvideo.decode.pyav_reader"):
        with PyAVReader(shifted) as r:
            frames = r.read([4, 9], size=(40, 30))
    assert frames.shape == (2, 30, 40, 3)
    with PyAVReader(info) as r:
        np.testing.assert_array_equal(frames, r.read([4, 9], size=(40, 30)))
    assert any(f"timestamp {info.pts[0]} not in the index" in m.getMessage() for m in caplog.records)
    data = open(info.path, "rb").read()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    with PyAVReader(_with(shifted, path=str(cut)), skip_corrupt_packets=True) as r:
        got, missing = r.read_available([3, 50])                 # counting, not strict: no raise
    assert sorted(got) == [3] and missing == [50]


def test_tolerant_reader_goes_on_past_an_undecodable_packet(infos, tmp_path):
    """16 bytes overwritten at the start of two H.264 packets make libavcodec raise on them: the tolerant reader
    counts them, treats the frames that may reference them (up to the next keyframe) as missing and decodes
    everything after that keyframe exactly; the plain reader raises, naming the damaged frame."""
    import av
    info = infos["h264"]
    with av.open(info.path) as c:
        packets = [(p.pos, p.size) for p in c.demux(c.streams.video[0]) if p.size]
    data = bytearray(open(info.path, "rb").read())
    for k in (20, 30):                                          # both inside one keyframe interval here
        pos, _ = packets[k]
        data[pos:pos + 16] = b"\xff" * 16
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    bad = _with(info, path=str(damaged))
    with PyAVReader(bad, skip_corrupt_packets=True) as r:
        got, missing = r.read_available(range(60))
        assert r.corrupt_packets >= 2
        lo = max(k for k in info.keyframes if k <= 20)              # the keyframes around the damage bound it
        hi = min(k for k in info.keyframes if k > 30)
        assert missing and lo <= min(missing) and max(missing) < hi
        assert sorted(got) == [i for i in range(60) if i not in missing]
        assert all(read_index(f) == i for i, f in got.items())
        assert set(range(lo)) | set(range(hi, 60)) <= set(got)
    with PyAVReader(bad) as r:
        with pytest.raises(VideoError, match=r"could not be decoded \(frame \d+ damaged"):
            r.read(range(60))
