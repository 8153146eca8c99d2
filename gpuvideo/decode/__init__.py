"""Decoding: one interface, picked once per generator.

A :class:`Decoder` turns requests ``(VideoInfo, frame indices)`` into prepared
clips: uint8 ``(len(indices), h, w, c)`` at exactly those presentation indices
(any order, repeats allowed), resized to ``size`` = (width, height) (None: the
file's own size) and with ``channels`` 3 (RGB) or 1 (grey). Per request the
result is the clip or the exception that prevented it: :class:`VideoError`
(:class:`~gpuvideo.errors.MissingFrames` when only some frames are lost, with
the partial clip), ``IndexError`` for indices out of range, ``ValueError`` for
an empty request. Decoders never raise for one bad request.

Implementations: :class:`~gpuvideo.decode.pyav_decoder.PyAVDecoder` (FFmpeg on
the CPU), :class:`~gpuvideo.decode.dali_decoder.DaliDecoder` (NVDEC through
DALI, or DALI's CPU decoder), and :class:`~gpuvideo.decode.cached.CachedDecoder`,
which wraps either with a frame cache. :func:`make_decoder` builds the one a
generator's options ask for.
"""
from __future__ import annotations

import os
from typing import NamedTuple, Protocol, Sequence

import numpy as np

from ..videoinfo import VideoInfo
from .pyav_reader import PyAVReader, decode_all

__all__ = ["Decoder", "Request", "PyAVReader", "decode_all", "make_decoder", "check_request"]


class Request(NamedTuple):
    """Frames ``indices`` (int, any order, repeats allowed) of the video ``info``."""
    info: VideoInfo
    indices: np.ndarray


class Decoder(Protocol):
    def decode(self, requests: Sequence[Request]) -> list:
        """Per request, the prepared uint8 clip or the exception that prevented it (see the module doc)."""

    def close(self) -> None:
        """Release files, threads and pipelines (they are made again on demand)."""


def check_request(request) -> tuple[VideoInfo, np.ndarray] | Exception:
    """``(info, int64 indices)``, or the ``ValueError``/``IndexError`` a decoder returns for it."""
    info, indices = request
    idx = np.asarray(indices, dtype=np.int64).reshape(-1)
    if idx.size == 0:
        return ValueError("no frame indices given")
    if idx.min() < 0 or idx.max() >= info.frame_count:
        return IndexError(f"{info.path}: frame indices {idx.min()}..{idx.max()} outside [0, {info.frame_count})")
    return info, idx


def make_decoder(backend: str, size, channels: int, interpolation: str, decoding, batch_size: int,
                 keep_recent: int = 0, report=None) -> Decoder:
    """The decoder for a resolved ``backend`` (``'cpu'``, ``'gpu'`` or ``'dali-cpu'``).

    ``size`` = (width, height) or None, ``channels`` 1 or 3, ``interpolation``:
    what the clips are prepared to. ``decoding`` is a
    :class:`~gpuvideo.options.DecodeOptions`; ``batch_size`` bounds the requests
    per DALI pipeline run; ``keep_recent``: see :class:`~gpuvideo.decode.pyav_decoder.PyAVDecoder`;
    ``report``: the generator's :class:`~gpuvideo.errors.BadInputReport`. With ``use_frame_cache`` the decoder is wrapped in a
    :class:`~gpuvideo.decode.cached.CachedDecoder`.
    """
    from .pyav_decoder import PyAVDecoder

    decoder: Decoder = PyAVDecoder(size, channels, interpolation, threads=decoding.decode_threads or 1,
                                   ffmpeg_threads=decoding.ffmpeg_threads, seek_cost=decoding.seek_cost,
                                   max_open_readers=decoding.max_open_readers,
                                   resize_in_decoder=decoding.resize_in_decoder, keep_recent=keep_recent,
                                   apply_rotation=decoding.apply_rotation)
    if backend in ("gpu", "dali-cpu"):
        from .dali_decoder import DaliDecoder

        device = "gpu" if backend == "gpu" else "cpu"
        decoder = DaliDecoder(device, batch_size=batch_size, size=size, nb_channel=channels,
                              interpolation=interpolation, fallback=decoder, report=report,
                              apply_rotation=decoding.apply_rotation,
                              device_id=resolve_device_id(decoding.device_id) if device == "gpu" else None)
    if decoding.use_frame_cache:
        from .cached import CachedDecoder

        decoder = CachedDecoder(decoder, decoding.cache_bytes)
    return decoder


def resolve_device_id(device_id: int | None) -> int:
    """``device_id``, else the launcher's local rank (one GPU per local process: ``LOCAL_RANK`` modulo the
    devices in ``CUDA_VISIBLE_DEVICES``, see :func:`gpuvideo.sharding.default_device_id`), else CuPy's
    current device."""
    if device_id is not None:
        return int(device_id)
    if "LOCAL_RANK" in os.environ:
        from ..sharding import default_device_id

        return default_device_id()
    try:
        import cupy

        return int(cupy.cuda.Device().id)
    except Exception:   # noqa: BLE001 - no CuPy: DALI's default device
        return 0
