"""The generators' ``backend=`` keyword: choice, and the DALI path against the PyAV path through real generators.

In CI (no GPU) the DALI path runs with DALI's CPU decoder (``backend='dali-cpu'``): it decodes VP9 and
MJPEG; H.264 and MPEG-4 fall back to PyAV, so for those files the comparison is PyAV against PyAV and must
be bit-identical (the test ids say so). The same comparisons with ``backend='gpu'`` carry the ``gpu``
marker; there the videos are 320x240, NVDEC decodes every file (H.264 with B-frames, MPEG-4, VP9, MJPEG)
and the tests assert that nothing fell back to PyAV.
"""
import logging
from pathlib import Path

import numpy as np
import pytest

import gpuvideo
from gpuvideo.decode.select import gpu_status, resolve_backend
from gpuvideo.synthetic import read_index, write_index_video

HAS_GPU = gpu_status()[0]


#: file name -> codec of the index videos in the ``mixed`` datasets
MIXED_FILES = {"v.webm": "vp9", "m.avi": "mjpeg", "h.mp4": "h264", "p.avi": "mpeg4_bframes"}
#: codecs DALI's CPU decoder takes; with backend='dali-cpu' the others are decoded by the PyAV fallback, so their
#: comparisons are PyAV against PyAV (bit-identical); with backend='gpu' NVDEC decodes all four
DALI_CPU_CODECS = {"vp9", "mjpeg"}
#: test ids say what each backend's comparison really compares
BACKENDS = [pytest.param("dali-cpu", id="dali_cpu-vp9_mjpeg_by_dali-h264_mpeg4_pyav_vs_pyav"),
            pytest.param("gpu", marks=pytest.mark.gpu, id="gpu-nvdec_h264_bframes_mpeg4_vp9_mjpeg")]


def _write_mixed(root, width, height):
    """Two classes, each with VP9, MJPEG, H.264 (B-frames) and MPEG-4 (B-frames) index videos of different lengths."""
    for c, n in [("a", 40), ("b", 33)]:
        for name, extra in zip(MIXED_FILES, (0, 7, 3, 11)):
            write_index_video(root / c / name, n + extra, width=width, height=height, codec=MIXED_FILES[name])
    return str(root / "{classname}" / "*")


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """128x96 index videos, for DALI's CPU decoder."""
    return _write_mixed(tmp_path_factory.mktemp("mixed"), 128, 96)


@pytest.fixture(scope="module")
def mixed_gpu(tmp_path_factory):
    """320x240: inside NVDEC's sizes for every codec (VP9 needs 128x128), so NVDEC decodes every file."""
    return _write_mixed(tmp_path_factory.mktemp("mixed_gpu"), 320, 240)


def _mixed_for(request, backend):
    return request.getfixturevalue("mixed_gpu" if backend == "gpu" else "mixed")


def _by_dali(backend, path) -> bool:
    """Is ``path`` decoded by DALI (not the PyAV fallback) on ``backend``?"""
    return backend == "gpu" or MIXED_FILES[Path(path).name] in DALI_CPU_CODECS


def _check_decoders(gen, backend):
    """DALI decoded what it should: on the GPU every file (no fallback), on the CPU VP9/MJPEG and only those."""
    stats = gen.decoder.stats
    assert stats["dali"] > 0, stats
    if backend == "gpu":
        assert stats["fallback"] == 0, f"NVDEC left files to PyAV: {stats}"
    else:
        assert stats["fallback"] > 0, stats


def test_backend_choice(caplog):
    with pytest.raises(ValueError, match="backend"):
        resolve_backend("tpu")
    assert resolve_backend("cpu") == "cpu" and resolve_backend("dali-cpu") == "dali-cpu"
    if HAS_GPU:
        assert resolve_backend("auto") == "gpu"
        return
    assert resolve_backend("auto") == "cpu"
    with pytest.raises(RuntimeError, match="not available"):
        resolve_backend("gpu")


def test_auto_on_a_machine_without_gpu_logs_why(mixed, caplog):
    if HAS_GPU:
        pytest.skip("this machine has a GPU")
    from gpuvideo.decode import select
    select.reset_cache()
    with caplog.at_level(logging.INFO, logger="gpuvideo"):
        gen = gpuvideo.VideoFrameGenerator(glob_pattern=mixed, nb_frames=3, target_shape=(32, 24),
                                           index_cache=None, progress=False)
    assert gen.backend == "cpu"
    assert any("backend='auto' decodes on the CPU" in r.getMessage() for r in caplog.records)


def _pair(cls, mixed, backend, **kw):
    kw = dict(glob_pattern=mixed, batch_size=8, target_shape=(64, 48), shuffle=False, index_cache=None,
              progress=False, **kw)
    return cls(backend=backend, **kw), cls(backend="cpu", **kw)


def _same_frames(a, b, batches, tol, backend):
    """Same labels and frames (read_index) everywhere; pixels of DALI-decoded files within ``tol`` of PyAV's,
    files both sides decode with PyAV bit-identical."""
    for i in batches:
        (xa, ya), (xb, yb) = a[i], b[i]
        assert xa.shape == xb.shape and xa.dtype == xb.dtype == np.float32
        np.testing.assert_array_equal(ya, yb)
        assert [[read_index(f) for f in c] for c in xa] == [[read_index(f) for f in c] for c in xb]
        for s, ca, cb in zip(a.batch_info(i), xa, xb):
            if _by_dali(backend, s.path):
                assert np.abs(ca - cb).max() * 255 <= tol, s.path
            else:
                np.testing.assert_array_equal(ca, cb, err_msg=f"{s.path}: PyAV on both sides")


def _dali_or_skip(backend):
    if backend == "dali-cpu":
        pytest.importorskip("nvidia.dali")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("sampling", ["uniform", "legacy"])
@pytest.mark.parametrize("nb_channel", [3, 1])
def test_frame_generator_dali_vs_pyav(request, backend, sampling, nb_channel):
    _dali_or_skip(backend)
    a, b = _pair(gpuvideo.VideoFrameGenerator, _mixed_for(request, backend), backend, nb_frames=5,
                 sampling=sampling, nb_channel=nb_channel)
    assert a.backend == backend
    _same_frames(a, b, range(len(a)), 4, backend)
    _check_decoders(a, backend)
    decoder = a.decoder
    assert decoder.pipelines > 0
    a.close()
    assert decoder.pipelines == 0 and a.decoder is not decoder       # closed; a new one is made on demand


@pytest.mark.parametrize("backend", BACKENDS)
def test_sliding_generator_dali_vs_pyav(request, backend):
    _dali_or_skip(backend)
    a, b = _pair(gpuvideo.SlidingFrameGenerator, _mixed_for(request, backend), backend, nb_frames=4,
                 sequence_time=0.6)
    _same_frames(a, b, [0, len(a) // 2, len(a) - 1], 4, backend)
    _check_decoders(a, backend)


def test_mixed_h264_has_b_frames(mixed):
    """The "H.264 with B-frames" of these comparisons: packets of the H.264 files come out of presentation order
    (``mixed_gpu`` is written by the same function at another size)."""
    import glob

    import av
    paths = glob.glob(str(Path(mixed).parent).replace("{classname}", "*") + "/h.mp4")
    assert len(paths) == 2
    for path in paths:
        with av.open(path) as c:
            pts = [p.pts for p in c.demux(c.streams.video[0]) if p.pts is not None]
        assert pts != sorted(pts), f"{path}: no B-frames"


# ------------------------------------------------------------------- motion images of the two backends
@pytest.fixture(scope="module")
def moving(tmp_path_factory):
    """4 classes x 4 moving-shape videos, one per codec: VP9, MJPEG (DALI's CPU decoder), H.264, MPEG-4.

    Farneback needs moving content: on the index videos (a different number every frame) frames within
    2 levels give flow pictures up to 255 levels apart, on these within a few."""
    from gpuvideo.synthetic import make_action_dataset
    return make_action_dataset(tmp_path_factory.mktemp("moving"), videos_per_class=4, nb_frames=16, width=128,
                               height=96, codecs=("vp9", "mjpeg", "h264", "mpeg4"), progress=False)


@pytest.fixture(scope="module")
def moving_gpu(tmp_path_factory):
    from gpuvideo.synthetic import make_action_dataset
    return make_action_dataset(tmp_path_factory.mktemp("moving_gpu"), videos_per_class=4, nb_frames=16, width=320,
                               height=240, codecs=("vp9", "mjpeg", "h264", "mpeg4"), progress=False)


#: method -> (max, mean) difference allowed, in levels, between the motion images of DALI-decoded and
#: PyAV-decoded clips (64x48, 3 channels). DALI converts chroma with bilinear upsampling, FFmpeg's swscale
#: does not: the RGB frames differ by up to 18 levels at chroma edges (mean 1.0-1.2), their greys (luma,
#: where chroma cancels) by 1-2. Measured over these 8 DALI clips, then the bound:
#: - abs diff: max 3, mean <= 0.38. Grey frames within 2 levels give |a - b| within 4: (4, 1).
#: - diff mask: max 3.8, mean <= 0.10 (the blurred difference is within 4/255, the RGB average within the
#:   chroma error, weighted by the mask): (8, 0.5).
#: - flow mask: max 8.3, mean <= 0.30 (the blurred flow picture as mask): (16, 1).
#: - optical flow: max 33 at one pixel (hue flips where the flow is near zero and nearly black), mean <= 0.90,
#:   99th percentile <= 6: (64, 2).
#: Each mean bound is below what the wrong frames give: the same clips' motion images of the next pair
#: differ from PyAV's by a mean of 9.6-39 (flow), 4.2-13 (flow mask), 1.5-11 (diff mask), 6.5-29 (abs diff).
MOTION_TOL = {gpuvideo.METHOD_ABS_DIFF: (4, 1.0), gpuvideo.METHOD_DIFF_MASK: (8, 0.5),
              gpuvideo.METHOD_FLOW_MASK: (16, 1.0), gpuvideo.METHOD_OPTICAL_FLOW: (64, 2.0)}


def _codec(path):
    from gpuvideo.probe import probe
    return probe(path).codec


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", [gpuvideo.METHOD_OPTICAL_FLOW, gpuvideo.METHOD_FLOW_MASK,
                                    gpuvideo.METHOD_DIFF_MASK, gpuvideo.METHOD_ABS_DIFF])
def test_flow_generator_motion_images_dali_vs_pyav(request, backend, method):
    _dali_or_skip(backend)
    data = request.getfixturevalue("moving_gpu" if backend == "gpu" else "moving")
    fa, fb = _pair(gpuvideo.OpticalFlowGenerator, data, backend, nb_frames=3, method=method)
    top, mean = MOTION_TOL[method]
    seen = {"dali": 0, "pyav": 0}
    for i in range(len(fa)):
        (xa, ya), (xb, yb) = fa[i], fb[i]
        assert xa.shape == xb.shape == (8, 3, 48, 64, 3)
        np.testing.assert_array_equal(ya, yb)
        for sa, sb, ma, mb in zip(fa.batch_info(i), fb.batch_info(i), xa, xb):
            assert sa.path == sb.path and np.array_equal(sa.frames, sb.frames)
            if backend == "gpu" or _codec(sa.path) in DALI_CPU_CODECS:
                seen["dali"] += 1
                d = np.abs(ma - mb) * 255
                assert d.max() <= top and d.mean() <= mean, (sa.path, float(d.max()), float(d.mean()))
            else:                             # PyAV decoded both: the same motion images, bit for bit
                seen["pyav"] += 1
                np.testing.assert_array_equal(ma, mb, err_msg=f"{sa.path}: PyAV on both sides")
    assert seen["dali"] >= 8 and (backend == "gpu" or seen["pyav"] >= 8), seen
    _check_decoders(fa, backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_timeseries_dali_vs_pyav(request, backend):
    _dali_or_skip(backend)
    import glob
    videos = sorted(glob.glob(_mixed_for(request, backend).replace("{classname}", "*")))
    kw = dict(length=4, sampling_rate=3, stride=5, batch_size=4, target_shape=(64, 48), index_cache=None)
    a = gpuvideo.VideoTimeseriesGenerator(videos, None, backend=backend, **kw)
    b = gpuvideo.VideoTimeseriesGenerator(videos, None, backend="cpu", **kw)
    assert len(a) == len(b)
    for i in range(len(a)):
        xa, xb = a[i], b[i]
        assert [[read_index(f) for f in w] for w in xa] == [[read_index(f) for f in w] for w in xb]
        for s, wa, wb in zip(a.batch_info(i), xa, xb):
            if _by_dali(backend, s.path):
                assert np.abs(wa - wb).max() * 255 <= 4, s.path
            else:
                np.testing.assert_array_equal(wa, wb, err_msg=f"{s.path}: PyAV on both sides")
    _check_decoders(a, backend)
    a.close()
