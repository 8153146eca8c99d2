"""Which decode backend to use, per generator and per file.

Backends (the ``backend=`` keyword of every generator): ``'auto'`` (GPU when
CUDA, DALI and NVDEC are all there, else CPU), ``'cpu'`` (PyAV/FFmpeg), ``'gpu'``
(DALI + NVDEC), ``'dali-cpu'`` (DALI's CPU decoder: VP8/VP9/MJPEG only, other
files fall back to PyAV; slow, meant for testing the DALI pipeline without a GPU).

Nothing here raises on a machine without CUDA or without DALI, and nothing
initialises CUDA unless the cheaper checks (driver library, NVDEC library,
DALI import) have passed. Results are cached per process; tests reset them
with :func:`reset_cache`.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import threading

from ..options import Backend, choices
from . import nvdec

log = logging.getLogger("gpuvideo")

BACKENDS = choices(Backend)

#: PyAV codec names that DALI 2.4's CPU decoder accepts
DALI_CPU_CODECS = {"vp8": "VP8", "vp9": "VP9", "mjpeg": "MJPEG"}
#: 8-bit 4:2:0 pixel formats for DALI's CPU (libavcodec) path
DALI_CPU_PIX_FMTS = {"yuv420p", "yuvj420p"}

_lock = threading.Lock()
_status: tuple[bool, str] | None = None
_logged: set[str] = set()


def reset_cache() -> None:
    """Forget the cached :func:`gpu_status` and the 'logged once' memory (tests)."""
    global _status
    with _lock:
        _status = None
        _logged.clear()


def log_once(key: str, level: int, msg: str, *args) -> None:
    """Log ``msg`` the first time ``key`` is seen in this process."""
    with _lock:
        if key in _logged:
            return
        _logged.add(key)
    log.log(level, msg, *args)


def _load_library(names: list[str]) -> str | None:
    """Name of the first library in ``names`` that ``dlopen`` accepts, or None."""
    for name in names:
        try:
            ctypes.CDLL(name)
            return name
        except OSError:
            continue
    return None


def _loadable(base: str) -> bool:
    """Can ``lib{base}.so.1`` (or what ``ctypes.util.find_library`` finds) be loaded?"""
    names = [f"lib{base}.so.1", f"lib{base}.so"]
    found = ctypes.util.find_library(base)
    return _load_library(names + ([found] if found else [])) is not None


def _check_gpu() -> tuple[bool, str]:
    if os.environ.get("GPUVIDEO_DISABLE_GPU", "") not in ("", "0"):
        return False, "GPU decoding disabled by GPUVIDEO_DISABLE_GPU"
    if not _loadable("cuda"):
        return False, "no CUDA driver (libcuda.so.1 cannot be loaded): no NVIDIA GPU or driver on this machine"
    if not _loadable("nvcuvid"):
        return False, ("CUDA driver found but the NVDEC library libnvcuvid.so.1 cannot be loaded (in a container set "
                       "NVIDIA_DRIVER_CAPABILITIES=compute,utility,video)")
    try:
        import nvidia.dali  # noqa: F401
        from nvidia.dali import backend as dali_backend
    except Exception as e:  # ImportError, or a broken install
        return False, f"NVIDIA DALI is not importable ({type(e).__name__}: {e}); pip install nvidia-dali-cuda130"
    try:
        count = int(dali_backend.GetCUDADeviceCount())
    except Exception as e:
        return False, f"CUDA device query failed ({type(e).__name__}: {e})"
    if count < 1:
        return False, "no CUDA device visible (check CUDA_VISIBLE_DEVICES and the driver)"
    return True, f"CUDA device(s): {count}, DALI {nvidia.dali.__version__}, NVDEC library present"


def gpu_status() -> tuple[bool, str]:
    """``(ok, reason)``: can DALI decode on the GPU with NVDEC here? Never raises; cached per process."""
    global _status
    with _lock:
        if _status is not None:
            return _status
    try:
        result = _check_gpu()
    except Exception as e:   # be defensive: a probe must never break the CPU path
        result = (False, f"GPU check failed ({type(e).__name__}: {e})")
    with _lock:
        _status = result
    return result


def resolve_backend(backend: str = "auto") -> str:
    """``'cpu'``, ``'gpu'`` or ``'dali-cpu'`` for ``backend`` in :data:`BACKENDS`.

    ``'auto'`` picks the GPU when :func:`gpu_status` allows it and logs the
    choice and its reason once per process; ``'gpu'`` raises ``RuntimeError``
    with the reason when the GPU cannot be used.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend in ("cpu", "dali-cpu"):
        return backend
    ok, reason = gpu_status()
    if backend == "gpu":
        if not ok:
            raise RuntimeError(f"backend='gpu' is not available: {reason}")
        return "gpu"
    choice = "gpu" if ok else "cpu"
    log_once(f"auto:{choice}", logging.INFO, "backend='auto' decodes on the %s (%s)",
             choice.upper(), reason)
    return choice


def nvdec_supported(info, device_id: int = 0) -> tuple[bool, str]:
    """``(ok, reason)``: can DALI's mixed (NVDEC) decoder take this file on GPU ``device_id``?

    NVIDIA's support table for the card in use (:mod:`gpuvideo.decode.nvdec`:
    codec, chroma subsampling, bit depth and size limits). Files without usable
    timestamps are refused too: DALI numbers frames by timestamp, the CPU reader
    then counts decoded frames, and the two could differ.
    """
    ok, reason = nvdec.decodable(info.codec, info.pix_fmt, info.width, info.height,
                                 nvdec.compute_capability(device_id))
    if ok and not info.seekable:
        return False, "no usable timestamps: frame numbering would not be guaranteed to match the CPU reader"
    return ok, reason


def dali_cpu_supported(info) -> tuple[bool, str]:
    """``(ok, reason)``: can DALI 2.4's CPU decoder take this file? (VP8, VP9, MJPEG, 8-bit 4:2:0 only)."""
    codec, pix_fmt = str(info.codec), str(info.pix_fmt)
    if codec not in DALI_CPU_CODECS:
        return False, f"codec {codec!r} is not decoded by DALI on the CPU (VP8, VP9 and MJPEG only)"
    if pix_fmt not in DALI_CPU_PIX_FMTS:
        return False, f"pixel format {pix_fmt!r} is not 8-bit 4:2:0"
    if not info.seekable:
        return False, "no usable timestamps: frame numbering would not be guaranteed to match the CPU reader"
    return True, f"{DALI_CPU_CODECS[codec]} {pix_fmt}"


def dali_supported(info, device: str, device_id: int = 0) -> tuple[bool, str]:
    """:func:`nvdec_supported` for ``device='gpu'``, :func:`dali_cpu_supported` for ``'cpu'``."""
    if device == "gpu":
        return nvdec_supported(info, device_id)
    return dali_cpu_supported(info)
