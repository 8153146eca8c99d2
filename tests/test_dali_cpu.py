"""DALI decode backend on the CPU (no GPU needed): frame choice, batching, fallback, resize/grey, backend choice.

DALI 2.4 decodes VP8, VP9 and MJPEG on the CPU, so the pipeline built for the
GPU (external_source bytes -> decoders.video(frames=...) -> resize -> grey)
is exercised here on such files; other codecs take the PyAV fallback.

Pixel tolerances (measured, see benchmarks/DALI_NOTES.md): DALI converts
YUV 4:2:0 to RGB with bilinear (centre-sited) chroma upsampling, FFmpeg's
swscale as PyAV calls it does not. On the grey index videos (no chroma) the
two agree within 2 levels; on coloured content they differ at sharp chroma
edges (mean ~2.6, max ~115) while DALI matches a bilinear-chroma BT.601
reference within 1. DALI's linear resize is within 1 level of cv2.INTER_LINEAR;
grey is computed with OpenCV's integer weights (exact on the same input).
"""
import logging
import multiprocessing as mp
import threading

import numpy as np
import pytest

from gpuvideo.decode import PyAVReader
from gpuvideo.decode import select
from gpuvideo.ops import prepare_clip
from gpuvideo.probe import VideoInfo, probe
from gpuvideo.synthetic import read_index, write_video


def _info(codec="h264", pix_fmt="yuv420p", seekable=True, width=320, height=240):
    return VideoInfo(path=f"/x.{codec}", frame_count=10, fps=25.0, width=width, height=height, codec=codec,
                     pix_fmt=pix_fmt, header_frame_count=10, keyframes=[0] if seekable else [],
                     pts=list(range(10)) if seekable else [])


# ---------------------------------------------------------------------------------------------- select.py
def test_auto_picks_cpu_without_cuda(caplog):
    select.reset_cache()
    ok, reason = select.gpu_status()
    if ok:
        pytest.skip("a usable GPU is present")
    assert "CUDA" in reason or "DALI" in reason
    with caplog.at_level(logging.INFO, logger="gpuvideo"):
        assert select.resolve_backend("auto") == "cpu"
        assert select.resolve_backend("auto") == "cpu"
    msgs = [r.getMessage() for r in caplog.records if "backend='auto'" in r.getMessage()]
    assert len(msgs) == 1 and reason in msgs[0]
    with pytest.raises(RuntimeError, match="not available"):
        select.resolve_backend("gpu")
    assert select.resolve_backend("cpu") == "cpu"
    with pytest.raises(ValueError):
        select.resolve_backend("cuda")


def test_no_cuda_reason_mentions_cuda(monkeypatch):
    select.reset_cache()
    monkeypatch.setattr(select, "_load_library", lambda names: None)
    ok, reason = select.gpu_status()
    assert not ok and "CUDA" in reason
    select.reset_cache()


def test_codec_tables():
    assert select.nvdec_supported(_info("h264"))[0]
    assert select.nvdec_supported(_info("hevc", "yuv420p10le"))[0]
    assert select.nvdec_supported(_info("mpeg4"))[0]
    assert select.nvdec_supported(_info("mjpeg", "yuvj420p"))[0]
    ok, why = select.nvdec_supported(_info("theora"))
    assert not ok and "theora" in why
    ok, why = select.nvdec_supported(_info("h264", "yuv422p"))
    assert not ok and "4:2:0" in why
    assert not select.nvdec_supported(_info("h264", "yuv444p"))[0]
    assert not select.nvdec_supported(_info("h264", seekable=False))[0]
    for codec in ("vp8", "vp9", "mjpeg"):
        assert select.dali_cpu_supported(_info(codec, "yuvj420p" if codec == "mjpeg" else "yuv420p"))[0]
    for codec in ("h264", "hevc", "mpeg4", "av1", "theora"):
        assert not select.dali_cpu_supported(_info(codec))[0]


def test_nvdec_table_follows_the_card(monkeypatch):
    from gpuvideo.decode import nvdec

    def on(cc):
        monkeypatch.setattr(nvdec, "compute_capability", lambda device_id=0: cc)

    on((9, 0))                                    # Hopper: the Turing/GA100/Hopper column
    ok, why = select.nvdec_supported(_info("av1"))
    assert not ok and "AV1" in why
    assert not select.nvdec_supported(_info("h264", "yuv420p10le"))[0]     # no H.264 High10 before Blackwell
    assert select.nvdec_supported(_info("hevc", "yuv444p"))[0]             # HEVC 4:4:4 from Turing on
    assert not select.nvdec_supported(_info("hevc", "yuv422p10le"))[0]
    ok, why = select.nvdec_supported(_info("vp9", width=128, height=96))   # below VP9's 128x128
    assert not ok and "128x128" in why
    assert not select.nvdec_supported(_info("mpeg4", width=4096, height=2160))[0]   # MPEG-4 stops at 2032
    on((8, 6))                                    # GA10x: AV1 decoder
    assert select.nvdec_supported(_info("av1"))[0]
    on((7, 0))                                    # Volta: no HEVC 4:4:4
    assert not select.nvdec_supported(_info("hevc", "yuv444p"))[0]
    on((10, 0))                                   # Blackwell: H.264 High10 and 4:2:2
    assert select.nvdec_supported(_info("h264", "yuv420p10le"))[0]
    assert select.nvdec_supported(_info("h264", "yuv422p"))[0]
    on((5, 0))                                    # first Maxwell: no VP9, no HEVC
    assert not select.nvdec_supported(_info("vp9"))[0] and not select.nvdec_supported(_info("hevc"))[0]
    assert nvdec.chroma_and_depth("yuvj420p") == (420, 8) and nvdec.chroma_and_depth("p010le") == (420, 10)
    assert nvdec.chroma_and_depth("rgb24") is None


def test_import_without_dali_is_lazy():
    import subprocess
    import sys
    code = ("import sys, gpuvideo, gpuvideo.decode.dali_decoder, gpuvideo.decode.select; "
            "sys.exit(1 if 'nvidia.dali' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# ---------------------------------------------------------------------------------------------- DALI CPU
@pytest.fixture(scope="module")
def dali():
    return pytest.importorskip("nvidia.dali")


@pytest.fixture(scope="module")
def infos(index_videos):
    return {c: probe(p) for c, p in index_videos.items()}


@pytest.fixture(scope="module")
def decoder(dali):
    from gpuvideo.decode.dali_decoder import DaliDecoder
    d = DaliDecoder("cpu", batch_size=4, num_threads=2)
    yield d
    d.close()


def _reference(info, idx, size=None, nb_channel=3):
    with PyAVReader(info) as r:
        frames = r.read(idx)
    return prepare_clip(frames, size or (info.width, info.height), nb_channel)


@pytest.mark.parametrize("codec", ["vp9", "mjpeg"])
def test_random_indices_match_pyav(decoder, infos, codec):
    info = infos[codec]
    rng = np.random.default_rng(7)
    reqs = [(info, rng.integers(0, info.frame_count, size=n)) for n in (1, 5, 12, 16)]
    reqs.append((info, np.array([59, 0, 30, 30, 0, 59])))   # any order, duplicates
    before = decoder.stats["dali"]
    out = decoder.decode(reqs)
    assert decoder.stats["dali"] - before == len(reqs)
    for (_, idx), clip in zip(reqs, out):
        assert isinstance(clip, np.ndarray) and clip.dtype == np.uint8
        assert clip.shape == (len(idx), 120, 160, 3)
        assert [read_index(f) for f in clip] == list(idx)
        diff = np.abs(clip.astype(int) - _reference(info, idx).astype(int))
        assert diff.max() <= 2, diff.max()


@pytest.fixture(scope="module")
def colour_video(tmp_path_factory):
    """30 coloured 320x240 frames (smooth gradients, moving red square) as VP9."""
    h, w = 240, 320
    yy, xx = np.mgrid[0:h, 0:w]

    def frames():
        for i in range(30):
            f = np.empty((h, w, 3), np.uint8)
            f[..., 0] = (128 + 100 * np.sin(xx / 13.0 + i / 5)).astype(np.uint8)
            f[..., 1] = (128 + 100 * np.cos(yy / 9.0 - i / 7)).astype(np.uint8)
            f[..., 2] = ((xx + yy + 3 * i) % 256).astype(np.uint8)
            f[40:80, 50 + i:90 + i] = [255, 0, 0]
            yield f
    path = tmp_path_factory.mktemp("dali_colour") / "colour_vp9.webm"
    write_video(path, frames(), codec="vp9")
    return probe(str(path))


def _bilinear_chroma_rgb(info, idx):
    """RGB from PyAV's YUV planes: bilinear chroma upsampling + BT.601 limited range (what DALI does)."""
    import av
    import cv2
    want = set(int(i) for i in idx)
    got = {}
    with av.open(info.path) as c:
        for k, f in enumerate(c.decode(c.streams.video[0])):
            if k in want:
                p = f.to_ndarray(format="yuv420p").astype(np.float32)
                h, w = f.height, f.width
                y, u, v = p[:h], p[h:h + h // 4].reshape(h // 2, w // 2), p[h + h // 4:].reshape(h // 2, w // 2)
                u = cv2.resize(u, (w, h), interpolation=cv2.INTER_LINEAR) - 128
                v = cv2.resize(v, (w, h), interpolation=cv2.INTER_LINEAR) - 128
                yc = 1.164383 * (y - 16)
                rgb = np.stack([yc + 1.596027 * v, yc - 0.391762 * u - 0.812968 * v, yc + 2.017232 * u], -1)
                got[k] = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    return np.stack([got[int(i)] for i in idx])


def test_colour_tolerance(decoder, colour_video):
    idx = np.array([0, 29, 7, 7, 15])
    clip = decoder.decode([(colour_video, idx)])[0]
    vs_dali_formula = np.abs(clip.astype(int) - _bilinear_chroma_rgb(colour_video, idx).astype(int))
    assert vs_dali_formula.max() <= 1
    vs_pyav = np.abs(clip.astype(int) - _reference(colour_video, idx).astype(int))
    assert vs_pyav.mean() < 4.0   # chroma siting differs from swscale's (measured mean 2.6)


@pytest.mark.parametrize("size,nb_channel", [((64, 48), 1), ((131, 97), 3), ((200, 150), 1), ((80, 60), 3)])
def test_resize_grey_in_pipeline_matches_ops(dali, decoder, colour_video, infos, size, nb_channel):
    from gpuvideo.decode.dali_decoder import DaliDecoder
    idx = np.arange(0, 30, 3)
    with DaliDecoder("cpu", batch_size=2, size=size, nb_channel=nb_channel) as d:
        for info in (colour_video, infos["vp9"]):
            native = decoder.decode([(info, idx)])[0]
            got = d.decode([(info, idx)])[0]
            assert got.shape == (len(idx), size[1], size[0], nb_channel)
            diff = np.abs(got.astype(int) - prepare_clip(native, size, nb_channel).astype(int))
            assert diff.max() <= 1, diff.max()
        assert [read_index(f) for f in d.decode([(infos["mjpeg"], idx)])[0]] == list(idx)


def test_area_interpolation_resizes_on_host(dali, infos):
    from gpuvideo.decode.dali_decoder import DaliDecoder
    idx = [4, 2]
    with DaliDecoder("cpu", batch_size=2, size=(40, 30), interpolation="area") as d:
        got = d.decode([(infos["vp9"], idx)])[0]
    with DaliDecoder("cpu", batch_size=2) as d:
        native = d.decode([(infos["vp9"], idx)])[0]
    np.testing.assert_array_equal(got, prepare_clip(native, (40, 30), 3, "area"))


def test_mixed_batch_with_fallback(dali, infos, caplog):
    from gpuvideo.decode.dali_decoder import DaliDecoder
    select.reset_cache()
    reqs = [(infos["vp9"], [3, 3, 59]), (infos["h264"], [10, 2, 59]), (infos["mjpeg"], [7, 1]),
            (infos["mpeg4_bframes"], [0, 33, 12]), (infos["theora"], [5, 6]), (infos["vp9"], [40]),
            (infos["mpeg4"], [59, 58]), (infos["mjpeg"], [0]), (infos["h264"], [1])]
    with DaliDecoder("cpu", batch_size=2, size=(80, 60), nb_channel=1) as d:
        with caplog.at_level(logging.INFO, logger="gpuvideo"):
            out = d.decode(reqs)
            out2 = d.decode(reqs)
        assert d.stats["dali"] == 2 * 4 and d.stats["fallback"] == 2 * 5
        assert d.stats["runs"] == 2 * 2   # 4 DALI requests in chunks of 2
    for (info, idx), clip, clip2 in zip(reqs, out, out2):
        assert clip.shape == (len(idx), 60, 80, 1)
        assert [read_index(f) for f in clip] == list(idx), info.path
        np.testing.assert_array_equal(clip, clip2)
        diff = np.abs(clip.astype(int) - _reference(info, idx, (80, 60), 1).astype(int))
        assert diff.max() <= 3, (info.path, diff.max())
    logged = [r.getMessage() for r in caplog.records if "instead of DALI" in r.getMessage()]
    assert len(logged) == 4   # h264, mpeg4_bframes, theora, mpeg4: once per file, not per request
    assert any("theora" in m for m in logged)


def test_runtime_rejection_falls_back_per_file(dali, infos, tmp_path, caplog):
    """A file DALI fails on (here: damaged) does not spoil the other requests of its batch."""
    from gpuvideo.decode.dali_decoder import DaliDecoder
    from gpuvideo.errors import VideoError
    bad = tmp_path / "bad.webm"
    bad.write_bytes(b"\x1a\x45\xdf\xa3" + bytes(range(256)) * 40)
    bad_info = VideoInfo(**{**infos["vp9"].__dict__, "path": str(bad)})
    reqs = [(infos["vp9"], [1, 2]), (bad_info, [0, 1]), (infos["mjpeg"], [9])]
    with DaliDecoder("cpu", batch_size=3) as d:
        with caplog.at_level(logging.WARNING, logger="gpuvideo"):
            out = d.decode(reqs)
        assert [read_index(f) for f in out[0]] == [1, 2]
        assert [read_index(f) for f in out[2]] == [9]
        assert isinstance(out[1], VideoError)
        assert not d.supported(bad_info)[0]        # remembered: not sent to DALI again
        assert [read_index(f) for f in d.decode([(infos["vp9"], [5])])[0]] == [5]
    assert any("bad.webm" in r.getMessage() for r in caplog.records)


def test_out_of_range_is_reported_per_request(decoder, infos):
    out = decoder.decode([(infos["vp9"], [60]), (infos["vp9"], [59]), (infos["mjpeg"], [])])
    assert isinstance(out[0], IndexError)
    assert read_index(out[1][0]) == 59
    assert isinstance(out[2], ValueError)


def test_pipelines_per_thread_and_close(dali, infos):
    from gpuvideo.decode.dali_decoder import DaliDecoder
    d = DaliDecoder("cpu", batch_size=2)
    results = {}
    release = threading.Event()

    def work(name, hold=False):
        results[name] = [read_index(f) for f in d.decode([(infos["vp9"], [name, 1])])[0]]
        if hold:
            release.wait(30)

    threads = [threading.Thread(target=work, args=(k, True)) for k in (10, 20)]
    for t in threads:
        t.start()
    while len(results) < 2 and all(t.is_alive() for t in threads):
        threading.Event().wait(0.01)
    assert d.pipelines == 2   # one per live thread
    release.set()
    for t in threads:
        t.join()
    work(30)                  # a new pipeline prunes those of finished threads
    assert results == {10: [10, 1], 20: [20, 1], 30: [30, 1]}
    assert d.pipelines == 1
    d.close()
    assert d.pipelines == 0
    assert [read_index(f) for f in d.decode([(infos["vp9"], [3])])[0]] == [3]   # usable after close
    d.close()


def _child_decode(d, info, q):
    q.put([read_index(f) for f in d.decode([(info, [11, 12])])[0]])
    d.close()


def test_forked_worker_does_not_hang(dali, infos):
    """The parent's pipelines are inherited by fork; the child builds its own and exits cleanly."""
    from gpuvideo.decode.dali_decoder import DaliDecoder
    d = DaliDecoder("cpu", batch_size=2)
    assert [read_index(f) for f in d.decode([(infos["vp9"], [1])])[0]] == [1]
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_child_decode, args=(d, infos["vp9"], q))
    p.start()
    p.join(60)
    if p.is_alive():
        p.kill()
        pytest.fail("forked child hung")
    assert p.exitcode == 0
    assert q.get(timeout=5) == [11, 12]
    assert d.pipelines == 1   # the parent's pipeline is untouched
    d.close()


def test_deleting_decoder_frees_pipelines(dali, infos):
    import gc
    import weakref
    from gpuvideo.decode.dali_decoder import DaliDecoder
    d = DaliDecoder("cpu", batch_size=2)
    d.decode([(infos["vp9"], [1, 2])])
    ref = weakref.ref(next(iter(d.pipes._slots.values())).pipe)
    del d
    gc.collect()
    assert ref() is None
