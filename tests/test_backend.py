"""The generators' ``backend=`` keyword: choice, and the DALI path against the PyAV path through real generators.

In CI (no GPU) the DALI path runs with DALI's CPU decoder (``backend='dali-cpu'``, VP9/MJPEG; other
codecs fall back to PyAV). The same comparisons with ``backend='gpu'`` carry the ``gpu`` marker.
"""
import logging

import numpy as np
import pytest

import gpuvideo
from gpuvideo.decode.select import gpu_status, resolve_backend
from gpuvideo.synthetic import read_index, write_index_video

HAS_GPU = gpu_status()[0]


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """Two classes, each with VP9, MJPEG, H.264 and MPEG-4 index videos of different lengths."""
    root = tmp_path_factory.mktemp("mixed")
    for c, n in [("a", 40), ("b", 33)]:
        write_index_video(root / c / "v.webm", n, width=128, height=96, codec="vp9")
        write_index_video(root / c / "m.avi", n + 7, width=128, height=96, codec="mjpeg")
        write_index_video(root / c / "h.mp4", n + 3, width=128, height=96, codec="h264")
        write_index_video(root / c / "p.avi", n + 11, width=128, height=96, codec="mpeg4_bframes")
    return str(root / "{classname}" / "*")


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


def _same_frames(a, b, batches, tol):
    for i in batches:
        (xa, ya), (xb, yb) = a[i], b[i]
        assert xa.shape == xb.shape and xa.dtype == xb.dtype == np.float32
        np.testing.assert_array_equal(ya, yb)
        assert [[read_index(f) for f in c] for c in xa] == [[read_index(f) for f in c] for c in xb]
        assert np.abs(xa - xb).max() * 255 <= tol


def _dali_or_skip(backend):
    if backend == "dali-cpu":
        pytest.importorskip("nvidia.dali")


@pytest.mark.parametrize("backend", ["dali-cpu", pytest.param("gpu", marks=pytest.mark.gpu)])
@pytest.mark.parametrize("sampling", ["uniform", "legacy"])
@pytest.mark.parametrize("nb_channel", [3, 1])
def test_frame_generator_same_frames_on_dali(mixed, backend, sampling, nb_channel):
    _dali_or_skip(backend)
    a, b = _pair(gpuvideo.VideoFrameGenerator, mixed, backend, nb_frames=5, sampling=sampling, nb_channel=nb_channel)
    assert a.backend == backend
    _same_frames(a, b, range(len(a)), tol=4)
    if backend == "dali-cpu":
        assert a.decoder.stats["dali"] > 0 and a.decoder.stats["fallback"] > 0    # VP9/MJPEG in DALI, others PyAV
    decoder = a.decoder
    assert decoder.pipelines > 0
    a.close()
    assert decoder.pipelines == 0 and a.decoder is not decoder       # closed; a new one is made on demand


@pytest.mark.parametrize("backend", ["dali-cpu", pytest.param("gpu", marks=pytest.mark.gpu)])
def test_sliding_and_flow_same_frames_on_dali(mixed, backend):
    _dali_or_skip(backend)
    a, b = _pair(gpuvideo.SlidingFrameGenerator, mixed, backend, nb_frames=4, sequence_time=0.6)
    _same_frames(a, b, [0, len(a) // 2, len(a) - 1], tol=4)
    fa, fb = _pair(gpuvideo.OpticalFlowGenerator, mixed, backend, nb_frames=3, method=gpuvideo.METHOD_ABS_DIFF)
    xa, _ = fa[0]
    xb, _ = fb[0]
    assert xa.shape == xb.shape == (8, 3, 48, 64, 3)
    # the clips behind the motion images are the same frames
    for sa, sb in zip(fa.samples, fb.samples):
        assert sa.path == sb.path and np.array_equal(sa.indices, sb.indices)


@pytest.mark.parametrize("backend", ["dali-cpu", pytest.param("gpu", marks=pytest.mark.gpu)])
def test_timeseries_same_windows_on_dali(mixed, backend, tmp_path):
    _dali_or_skip(backend)
    import glob
    videos = sorted(glob.glob(mixed.replace("{classname}", "*")))
    kw = dict(length=4, sampling_rate=3, stride=5, batch_size=4, target_shape=(64, 48), index_cache=None)
    a = gpuvideo.VideoTimeseriesGenerator(videos, None, backend=backend, **kw)
    b = gpuvideo.VideoTimeseriesGenerator(videos, None, backend="cpu", **kw)
    assert len(a) == len(b)
    for i in range(len(a)):
        xa, xb = a[i], b[i]
        assert [[read_index(f) for f in w] for w in xa] == [[read_index(f) for f in w] for w in xb]
        assert np.abs(xa - xb).max() * 255 <= 4
    a.close()
