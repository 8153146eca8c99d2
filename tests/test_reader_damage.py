"""PyAVReader on damaged and odd files: no concealed frame served, frame numbers by timestamp, rotation,
frame-size changes, seeks in containers without an index."""
import logging
import shutil
import subprocess

import numpy as np
import pytest

from gpuvideo.decode import PyAVReader, decode_all
from gpuvideo.errors import VideoError
from gpuvideo.probe import probe
from gpuvideo.synthetic import read_index, remux, write_index_video, write_size_change_video

N = 120


def _packets(path):
    import av
    with av.open(str(path)) as c:
        return [(p.pos, p.size, p.pts, p.is_keyframe) for p in c.demux(c.streams.video[0]) if p.size]


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("damage")
    out = {}
    for codec, suffix in (("h264", ".mp4"), ("mpeg4", ".avi"), ("mpeg4_bframes", ".avi")):
        path = write_index_video(root / f"src_{codec}{suffix}", N, codec=codec)
        out[codec] = (path, decode_all(path), _packets(path))
    return out


def _overwrite_half_packet(src, dst, packet, rng):
    """Random bytes over the second half of one packet's payload (bit rot the decoder notices)."""
    pos, size = packet[0], packet[1]
    data = bytearray(src.read_bytes())
    start = pos + size // 2
    data[start:pos + size] = rng.integers(0, 256, pos + size - start, dtype=np.uint8).tobytes()
    dst.write_bytes(bytes(data))


@pytest.mark.parametrize("codec", ["h264", "mpeg4", "mpeg4_bframes"])
def test_bit_rot_serves_only_exact_frames(sources, codec, tmp_path):
    src, full, packets = sources[codec]
    rng = np.random.default_rng(7)
    order = sorted(p[2] for p in packets)
    withheld = 0
    for trial in range(8):
        k = int(rng.integers(3, len(packets) - 3))
        dst = tmp_path / f"rot{trial}{src.suffix}"
        _overwrite_half_packet(src, dst, packets[k], rng)
        info = probe(str(dst))
        assert info.frame_count == N
        damaged = order.index(packets[k][2])
        reader = PyAVReader(info, skip_corrupt_packets=True)
        got, missing = reader.read_available(range(N))
        # every frame that comes out is the one asked for, pixel for pixel; the damaged one never comes out
        assert all(np.array_equal(f, full[i]) for i, f in got.items()), trial
        assert damaged in missing
        assert len(got) >= N - 2 * 25              # only frames near the damage are withheld
        withheld += len(missing)
        # read() raises for a damaged frame, and still reads intact ones before the damage (a strict read
        # stops at the first decoding error on its way, as before)
        with pytest.raises(VideoError, match="could not be decoded|decode error"):
            PyAVReader(info).read([damaged])
        gop = max(kf for kf in info.keyframes if kf <= damaged)
        fine = [i for i in sorted(got) if i < gop - 4][-4:]   # the decoder's reorder delay reads ahead
        if fine:
            assert [read_index(f) for f in PyAVReader(info).read(fine)] == fine
    assert withheld > 0


@pytest.mark.parametrize("threads", [1, 0, 3])
def test_bit_rot_with_decoder_threads(sources, tmp_path, threads):
    src, full, packets = sources["h264"]
    rng = np.random.default_rng(3)
    for trial in range(4):
        dst = tmp_path / f"rot{trial}.mp4"
        _overwrite_half_packet(src, dst, packets[int(rng.integers(3, len(packets) - 3))], rng)
        got, missing = PyAVReader(probe(str(dst)), threads=threads, skip_corrupt_packets=True).read_available(range(N))
        assert missing and all(np.array_equal(f, full[i]) for i, f in got.items())


def _lost_packet(packets, kind):
    """(decode-order number, display index) of a mid-file B-frame packet (shown before the packet decoded just
    before it) or P-frame packet (a forward reference, not a keyframe)."""
    order = sorted(p[2] for p in packets)
    shown = [order.index(p[2]) for p in packets]
    for k in range(len(packets) // 3, len(packets) - 1):
        if packets[k][3]:
            continue
        if (kind == "B" and shown[k] < shown[k - 1]) or (kind == "P" and shown[k] > shown[k - 1] + 1):
            return k, shown[k]
    raise AssertionError(f"no {kind}-frame packet")


@pytest.mark.parametrize("codec,suffix,kind", [("h264", ".mp4", "B"), ("h264", ".mp4", "P"),
                                               ("mpeg4_bframes", ".avi", "B"), ("mpeg4_bframes", ".avi", "P"),
                                               ("h264", ".mkv", "B")])
def test_lost_packet_never_shifts_frames(tmp_path, codec, suffix, kind):
    src = write_index_video(tmp_path / f"src{suffix}", N, codec=codec)
    k, lost = _lost_packet(_packets(src), kind)
    dst = remux(src, tmp_path / f"lost{suffix}", skip=[k])
    info = probe(str(dst))
    # AVI has no timestamps: FFmpeg derives them from decode order, so the hole may sit a few frames off
    assert info.frame_count == N and (info.lost == [lost] or (suffix == ".avi" and len(info.lost) == 1))
    got, missing = PyAVReader(info, skip_corrupt_packets=True).read_available(range(N))
    assert lost in missing and len(got) >= N - 2 * 25
    assert all(read_index(f) == i for i, f in got.items())
    # any order of reads, with seeks: a frame is its own index or an error, never its neighbour
    reader = PyAVReader(info, skip_corrupt_packets=True)
    rng = np.random.default_rng(0)
    for _ in range(20):
        want = sorted(rng.choice(N, size=5, replace=False).tolist())
        g, m = reader.read_available(want)
        assert sorted(g) + m == sorted(want) or set(g) | set(m) == set(want)
        assert all(read_index(f) == i for i, f in g.items()) and lost not in g
    with pytest.raises(VideoError, match="could not be decoded"):
        PyAVReader(info).read([lost])
    first_gop = [i for i in range(info.keyframes[1])] if lost >= info.keyframes[1] else [N - 1]
    assert [read_index(f) for f in PyAVReader(info).read(first_gop)] == first_gop


def test_truncated_file_read_with_its_own_index(tmp_path):
    src = write_index_video(tmp_path / "src.avi", 90, codec="mpeg4_bframes")
    cut = tmp_path / "cut.avi"
    cut.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    info = probe(str(cut))
    assert info.truncated
    got, missing = PyAVReader(info, skip_corrupt_packets=True).read_available(range(info.frame_count))
    assert all(read_index(f) == i for i, f in got.items()) and len(got) >= info.frame_count - 3


def test_stream_starting_without_keyframe(tmp_path):
    """Frames decoded before the first keyframe (a stream cut at its start) have no reference: withheld."""
    src = write_size_change_video(tmp_path / "src.ts", sizes=((160, 120),), frames_per_size=60)
    data = src.read_bytes()
    packets = _packets(src)
    start = packets[3][0] // 188 * 188       # cut in TS packet units, after the first keyframe
    cut = tmp_path / "cut.ts"
    cut.write_bytes(data[start:])
    info = probe(str(cut))
    got, missing = PyAVReader(info, skip_corrupt_packets=True).read_available(range(info.frame_count))
    assert missing and all(read_index(f) == i + (60 - info.frame_count) for i, f in got.items())


def test_mjpeg_damage_with_stricter_error_detection(tmp_path):
    src = write_index_video(tmp_path / "src.avi", 40, codec="mjpeg")
    packets = _packets(src)
    rng = np.random.default_rng(1)
    caught = 0
    for trial in range(6):
        k = 5 + 5 * trial
        dst = tmp_path / f"rot{trial}.avi"
        _overwrite_half_packet(src, dst, packets[k], rng)
        info = probe(str(dst))
        reader = PyAVReader(info, skip_corrupt_packets=True, decoder_options={"err_detect": "explode"})
        got, missing = reader.read_available(range(40))
        caught += k in missing
        assert set(missing) <= {k}
        if missing:   # read() names the damaged frame, even across seeks
            with pytest.raises(VideoError, match=rf"frame {k} damaged \(the decoder rejected a packet"):
                PyAVReader(info, decoder_options={"err_detect": "explode"}).read([0, k, 39])
    assert caught >= 5


# ---------------------------------------------------------------------------- rotation and size changes

@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotation_is_applied(tmp_path, rotation):
    path = write_index_video(tmp_path / f"r{rotation}.mp4", 12, 160, 96, rotation=rotation)
    info = probe(str(path))
    stored = PyAVReader(info, apply_rotation=False).read([0, 5, 11])
    assert stored.shape == (3, 96, 160, 3) and [read_index(f) for f in stored] == [0, 5, 11]
    shown = PyAVReader(info).read([0, 5, 11])
    assert shown.shape == (3, info.display_height, info.display_width, 3)
    np.testing.assert_array_equal(shown, np.rot90(stored, k=-rotation // 90, axes=(1, 2)))
    sized = PyAVReader(info).read([5], size=(48, 80))      # size is (width, height) as displayed
    assert sized.shape == (1, 80, 48, 3)
    got, _ = PyAVReader(info, skip_corrupt_packets=True).read_available([5])
    assert got[5].shape == shown[1].shape and got[5].flags.c_contiguous


def test_rotation_matches_ffmpeg_command_line(tmp_path):
    exe = shutil.which("ffmpeg")
    if exe is None:
        pytest.skip("no ffmpeg executable")
    for rotation in (90, 180, 270):
        path = write_index_video(tmp_path / f"r{rotation}.mp4", 3, 160, 96, rotation=rotation)
        info = probe(str(path))
        raw = subprocess.run([exe, "-v", "error", "-i", str(path), "-frames:v", "1", "-f", "rawvideo",
                              "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
        cli = np.frombuffer(raw, np.uint8).reshape(info.display_height, info.display_width, 3)
        np.testing.assert_array_equal(PyAVReader(info).read([0])[0], cli)


def test_frame_size_change_mid_stream(tmp_path, caplog):
    path = write_size_change_video(tmp_path / "sc.ts")
    info = probe(str(path))
    assert (info.width, info.height, info.frame_count) == (160, 120, 60)
    with caplog.at_level(logging.WARNING, logger="gpuvideo"):
        reader = PyAVReader(info)
        frames = reader.read(range(60))
        PyAVReader(info).read([40, 50])             # another reader of the same file: not logged again
    assert frames.shape == (60, 120, 160, 3) and [read_index(f) for f in frames] == list(range(60))
    assert reader.resized_frames == 30
    assert len([r for r in caplog.records if "frame size changes" in r.getMessage()]) == 1
    sized = PyAVReader(info).read([3, 31, 59], size=(64, 48))
    assert sized.shape == (3, 48, 64, 3) and [read_index(f) for f in sized] == [3, 31, 59]


def test_seeks_in_mpegts_land_before_the_keyframe(tmp_path):
    """MPEG-TS has no index: a seek to a keyframe's timestamp may land after it; the reader must not lose frames."""
    path = write_size_change_video(tmp_path / "sc.ts", sizes=((160, 120),), frames_per_size=90)
    info = probe(str(path))
    reader = PyAVReader(info)
    for want in ([50, 51], [13], [80, 89], [30, 31, 32], [0]):
        assert [read_index(f) for f in reader.read(want)] == want
    assert reader.seeks > 0


def test_mpeg_ps_seeks_fall_back_to_forward_decoding(tmp_path):
    """MPEG-PS seeks land mid-packet with timestamps of their own: the reader notices and reads forward."""
    path = write_index_video(tmp_path / "v.mpg", 90, codec="mpeg2")
    info = probe(str(path))
    reader = PyAVReader(info)
    rng = np.random.default_rng(0)
    for _ in range(8):
        want = sorted(rng.choice(90, size=4, replace=False).tolist())
        assert [read_index(f) for f in reader.read(want)] == want
