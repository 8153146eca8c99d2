"""Decoding backends behind one small interface.

A reader is opened on one :class:`~gpuvideo.probe.VideoInfo` and answers
``read(indices) -> uint8 array (len(indices), H, W, 3)`` with RGB frames at the
file's own resolution, in the order asked (indices may repeat). Readers keep
their position: asking for frames after the last ones read continues decoding
forward; they seek only when the next wanted frame lies past the next keyframe
(or behind the current position).
"""
from .pyav_reader import PyAVReader, decode_all

__all__ = ["PyAVReader", "decode_all", "open_reader"]


def open_reader(info, backend: str = "cpu", **kwargs):
    """A reader for ``info`` on ``backend`` (only ``"cpu"``, PyAV/FFmpeg, exists so far)."""
    if backend == "cpu":
        return PyAVReader(info, **kwargs)
    raise ValueError(f"unknown decode backend {backend!r}")
