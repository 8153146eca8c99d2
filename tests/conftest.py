"""Shared fixtures: index-coded videos in several codecs, written once per session."""
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


def _cuda_available() -> bool:
    try:
        import cupy
        return bool(cupy.cuda.is_available())
    except Exception:
        return False


#: reason of the tests skipped without TensorFlow; .ci/run allows it only in its torch-backend job
NO_TENSORFLOW = "needs TensorFlow (gpuvideo[tensorflow]), not installed"


def pytest_collection_modifyitems(config, items):
    import importlib.util

    if importlib.util.find_spec("tensorflow") is None:
        no_tf = pytest.mark.skip(reason=NO_TENSORFLOW)
        for item in items:
            if "tensorflow" in item.keywords:
                item.add_marker(no_tf)
    if _cuda_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


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
