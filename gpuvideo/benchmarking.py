"""What gpuvideo's benchmarks share: the machine's description, memory readings, timed passes, and the
baselines users would otherwise run (keras_video 1.0.14, the seek-per-frame ``cv2`` recipe).

Used by ``gpuvideo bench`` and by the scripts in the repository's ``benchmarks/`` folder.
"""
from __future__ import annotations

import importlib
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np


# --------------------------------------------------------------------------- the machine
def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, MiB (``ru_maxrss``: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2 ** 20 if sys.platform == "darwin" else peak / 1024


def gpu_memory_mib() -> float | None:
    """GPU memory in use on the current device (MiB) through CuPy, or None without CuPy or a GPU."""
    try:
        import cupy

        if not cupy.cuda.is_available():
            return None
        free, total = cupy.cuda.runtime.memGetInfo()
        return (total - free) / 2 ** 20
    except Exception:  # noqa: BLE001 - no CuPy, no driver, no device: "n/a"
        return None


def gpu_name() -> str | None:
    try:
        import cupy

        if not cupy.cuda.is_available():
            return None
        props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        name = props.get("name", b"")
        return name.decode() if isinstance(name, bytes) else str(name)
    except Exception:  # noqa: BLE001
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_head(repo) -> str | None:
    if repo is None:
        return None
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True,
                              check=True).stdout.strip()
    except Exception:  # noqa: BLE001 - not a checkout, no git
        return None


def _version(dist: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:  # noqa: BLE001
        return None


def machine_info(repo=None) -> dict:
    """Date, git commit of ``repo`` (when given), CPU, core count, GPU and library versions."""
    import av
    import cv2

    from . import __version__

    return dict(date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), git_head=_git_head(repo),
                gpuvideo=__version__, cpu_model=_cpu_model(), cpus=os.cpu_count(),
                python=platform.python_version(), platform=platform.platform(), numpy=np.__version__,
                opencv=cv2.__version__, pyav=av.__version__, keras=_version("keras"), gpu=gpu_name(),
                keras_video_generators=_version("keras-video-generators"))


# --------------------------------------------------------------------------- timing
def timed_passes(get, n_batches: int, epochs: int, count, on_epoch_end=None) -> tuple[int, list[float]]:
    """Read batch 0 (warm-up), then ``epochs`` passes of ``n_batches``; returns (items per pass, seconds)."""
    count(get(0))
    times, items = [], 0
    for _ in range(epochs):
        items = 0
        t0 = time.perf_counter()
        for i in range(n_batches):
            items += count(get(i))
        times.append(time.perf_counter() - t0)
        if on_epoch_end is not None:
            on_epoch_end()
    return items, times


def median_rate(items: int, times: list[float]) -> float:
    """Median of ``items / t`` over the passes (0 when nothing ran)."""
    return statistics.median(items / t for t in times) if times and items else 0.0


# --------------------------------------------------------------------------- baselines
def _legacy_image_data_generator():
    for mod, attr in (("tensorflow.keras.preprocessing.image", "ImageDataGenerator"),
                      ("keras.src.legacy.preprocessing.image", "ImageDataGenerator")):
        try:
            return getattr(importlib.import_module(mod), attr)
        except (ImportError, AttributeError):
            continue

    class ImageDataGenerator:  # a name only: keras_video needs it unless a transformation is passed
        def __init__(self, *args, **kwargs):
            raise NotImplementedError("no legacy ImageDataGenerator in this Keras/TensorFlow")

    return ImageDataGenerator


def import_keras_video():
    """keras-video-generators 1.0.14 (``keras_video``), unmodified, imported on Keras 3 / NumPy 2.

    Only the names the installed package looks up are put back: Keras 3 dropped
    ``keras.preprocessing.image.ImageDataGenerator`` from its public module (the
    legacy class is still shipped), ``keras.utils.Sequence`` is ``PyDataset``'s
    alias, and NumPy 1.24 removed ``np.int``. Install the package without its
    (old) pins: ``pip install --no-deps keras-video-generators==1.0.14``.
    """
    import keras
    import keras.preprocessing.image as kimage

    if not hasattr(kimage, "ImageDataGenerator"):
        kimage.ImageDataGenerator = _legacy_image_data_generator()
    if not hasattr(kimage, "img_to_array"):
        kimage.img_to_array = keras.utils.img_to_array
    if not hasattr(keras.utils, "Sequence"):
        keras.utils.Sequence = keras.utils.PyDataset
    if "int" not in np.__dict__:
        np.int = int
    try:
        return importlib.import_module("keras_video")
    except ModuleNotFoundError as e:
        raise ModuleNotFoundError(
            "keras_video is not installed: pip install --no-deps keras-video-generators==1.0.14") from e


def seek_recipe(path: str, length: int, sampling_rate: int, stride: int, n_windows: int, size, batch_size: int):
    """Batches of windows the way users write it without gpuvideo: Keras's ``TimeseriesGenerator`` over
    frame indices, and per window a ``cv2.VideoCapture`` seeking to every frame (``CAP_PROP_POS_FRAMES``),
    BGR->RGB, ``cv2.resize`` to ``size``, ``/ 255``. Failed reads are dropped, as users' loops do.
    Yields float32 ``(batch, length, h, w, 3)`` until ``n_windows`` windows are done."""
    import cv2
    from tensorflow.keras.preprocessing.sequence import TimeseriesGenerator

    cap = cv2.VideoCapture(path)
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    idx = np.arange(total)
    tsg = TimeseriesGenerator(idx, idx, length=length * sampling_rate, sampling_rate=sampling_rate, stride=stride,
                              batch_size=batch_size)
    done = 0
    for b in range(len(tsg)):
        windows, _ = tsg[b]
        batch = []
        for w in windows:
            cap = cv2.VideoCapture(path)
            clip = []
            for f in w:
                cap.set(cv2.CAP_PROP_POS_FRAMES, int(f))
                ok, frame = cap.read()
                if ok:
                    clip.append(cv2.resize(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), size).astype(np.float32) / 255.0)
            cap.release()
            if len(clip) == len(w):
                batch.append(np.stack(clip))
            done += 1
            if done >= n_windows:
                break
        yield np.stack(batch)
        if done >= n_windows:
            return
