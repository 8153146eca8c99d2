"""Shared fixtures (index-coded videos in several codecs, written once per session) and the GPU gate.

Tests marked ``gpu`` skip, with the reason, where :func:`gpu_available` says no;
``GPUVIDEO_REQUIRE_GPU=1`` turns every such skip into a failure.
"""
import functools
import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

DATA = Path(__file__).parent / "data"
REPO = str(Path(__file__).resolve().parents[1])
# subprocesses started by the tests import this checkout, not an installed copy
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (REPO, os.environ.get("PYTHONPATH", "")) if p)


#: GPUVIDEO_REQUIRE_GPU=1: a GPU run must not pass by skipping (gpu-marked tests that skip fail instead)
REQUIRE_GPU = os.environ.get("GPUVIDEO_REQUIRE_GPU", "") not in ("", "0")


@functools.lru_cache(maxsize=1)
def gpu_available() -> tuple[bool, str]:
    """``(ok, reason)``: can tests run CuPy on a CUDA device here? The one GPU detection of the suite.

    Tests marked ``gpu`` skip with ``reason`` when ``ok`` is False. Tests that
    also decode with DALI+NVDEC check ``gpuvideo.decode.select.gpu_status()``
    on top of this (driver, libnvcuvid, DALI).
    """
    try:
        import cupy
    except Exception as e:  # noqa: BLE001 - ImportError or a broken install
        return False, f"CuPy is not importable ({type(e).__name__}: {e}); pip install 'cupy-cuda13x[ctk]'"
    try:
        count = int(cupy.cuda.runtime.getDeviceCount())
    except Exception as e:  # noqa: BLE001 - CUDARuntimeError without driver or device
        return False, f"CuPy {cupy.__version__} sees no CUDA device ({type(e).__name__}: {e})"
    if count < 1:
        return False, f"CuPy {cupy.__version__} sees no CUDA device (check CUDA_VISIBLE_DEVICES and the driver)"
    return True, f"{count} CUDA device(s), CuPy {cupy.__version__}"


#: reason of the tests skipped without TensorFlow; .ci/run allows it only in its torch-backend job
NO_TENSORFLOW = "needs TensorFlow (gpuvideo[tensorflow]), not installed"


def pytest_collection_modifyitems(config, items):
    import importlib.util

    if importlib.util.find_spec("tensorflow") is None:
        no_tf = pytest.mark.skip(reason=NO_TENSORFLOW)
        for item in items:
            if "tensorflow" in item.keywords:
                item.add_marker(no_tf)
    ok, reason = gpu_available()
    if ok:
        return
    # a failure instead under GPUVIDEO_REQUIRE_GPU=1 (pytest_runtest_makereport)
    skip = pytest.mark.skip(reason=f"needs a CUDA GPU: {reason}")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With GPUVIDEO_REQUIRE_GPU=1 a gpu-marked test that skips (any reason, any phase) is a failure."""
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_GPU and report.skipped and "gpu" in item.keywords and not hasattr(report, "wasxfail"):
        why = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"GPUVIDEO_REQUIRE_GPU=1: GPU test skipped instead of running: {why}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """With GPUVIDEO_REQUIRE_GPU=1 a test module that skips at import (e.g. importorskip) is a failure."""
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_GPU and report.skipped:
        why = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"GPUVIDEO_REQUIRE_GPU=1: module {collector.nodeid} skipped at import: {why}"


#: codec name -> file suffix for index-coded fixture videos
FIXTURE_CODECS = {"h264": ".mp4", "mpeg4": ".avi", "mpeg4_bframes": ".avi", "mjpeg": ".avi", "vp9": ".webm",
                  "theora": ".ogv"}


@pytest.fixture(scope="session")
def index_videos(tmp_path_factory):
    """codec -> path of a 60-frame 160x120 video whose frame i spells i (Theora from tests/data)."""
    from gpuvideo.synthetic import write_index_video

    root = tmp_path_factory.mktemp("index_videos")
    out = {}
    for codec, suffix in FIXTURE_CODECS.items():
        path = root / f"idx_{codec}{suffix}"
        if codec == "theora":
            shutil.copy(DATA / "index_theora.ogv", path)
        else:
            write_index_video(path, 60, codec=codec)
        out[codec] = str(path)
    return out


@pytest.fixture(scope="session")
def action_dataset(tmp_path_factory):
    """Glob pattern of a small moving-shapes dataset: 4 classes x 10 videos of 24 frames."""
    from gpuvideo.synthetic import make_action_dataset

    root = tmp_path_factory.mktemp("actions")
    return make_action_dataset(root, videos_per_class=10, nb_frames=24, width=96, height=64, progress=False)
