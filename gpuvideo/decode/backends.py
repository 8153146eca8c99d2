"""The ``backend=`` keyword of the generators: which decoder turns (video, frame indices) into clips."""
from __future__ import annotations

import logging

from .select import BACKENDS as _GPU_CHOICES
from .select import resolve_backend as _resolve

log = logging.getLogger("gpuvideo")

#: ``'auto'`` (GPU when CUDA, DALI and NVDEC are all there, else CPU), ``'cpu'`` (PyAV/FFmpeg),
#: ``'gpu'`` (DALI + NVDEC), ``'dali-cpu'`` (DALI's CPU decoder: VP8/VP9/MJPEG only, other files
#: fall back to PyAV; slow, meant for testing the DALI pipeline without a GPU)
BACKENDS = tuple(_GPU_CHOICES) + ("dali-cpu",)


def resolve(backend: str) -> str:
    """``'cpu'``, ``'gpu'`` or ``'dali-cpu'``; ``'auto'`` logs its choice and reason once."""
    if backend == "dali-cpu":
        return backend
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    return _resolve(backend)


def dali_decoder(backend: str, batch_size: int, size, nb_channel: int, interpolation: str):
    """A :class:`~gpuvideo.decode.dali_backend.DaliClipDecoder` for a resolved DALI backend."""
    from .dali_backend import DaliClipDecoder

    device = "gpu" if backend == "gpu" else "cpu"
    return DaliClipDecoder(device, batch_size=batch_size, size=size, nb_channel=nb_channel,
                           interpolation=interpolation)


def to_host(arr):
    """NumPy view/copy of a decoded clip (CuPy arrays are copied to the host)."""
    if type(arr).__module__.startswith("cupy"):
        return arr.get()
    return arr
