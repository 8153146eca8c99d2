"""What NVDEC can decode on the GPU in use, so unsupported files go to PyAV before any DALI run.

The rules are NVIDIA's NVDEC support table (Video Codec SDK 13.0, NVDEC
application note, "NVDEC Hardware Capabilities") by GPU generation, which
:func:`generation` reads off the device's compute capability, and the
decoder's size limits per codec (``cuvidGetDecoderCaps``' usual minimum and
maximum). Files are described by codec and pixel format (chroma subsampling
and bit depth) as :mod:`gpuvideo.probe` records them. The compute capability is
asked of the driver once per device (cached).
"""
from __future__ import annotations

import ctypes
import functools
import re

#: GPU generations in the order of the application note's columns
GENERATIONS = ("maxwell1", "maxwell2", "pascal", "volta", "turing", "ampere", "blackwell")

#: PyAV codec name -> (name, first generation, (chroma, bit depth) pairs, (min w, min h), (max w, max h)).
#: Generations after the first are included except where a codec's rule below narrows it.
_CODECS = {
    "mpeg4": ("MPEG-4 Part 2", "maxwell1", {(420, 8)}, (48, 16), (2032, 2032)),
    "h264": ("H.264", "maxwell1", {(420, 8)}, (48, 16), (4096, 4096)),
    "vp8": ("VP8", "maxwell2", {(420, 8)}, (48, 16), (4096, 4096)),
    "hevc": ("HEVC", "maxwell2", {(420, 8), (420, 10)}, (144, 144), (8192, 8192)),
    "vp9": ("VP9", "maxwell2", {(420, 8)}, (128, 128), (8192, 8192)),
    "av1": ("AV1", "ampere", {(420, 8), (420, 10)}, (128, 128), (8192, 8192)),
    "mjpeg": ("MJPEG", "maxwell1", {(420, 8)}, (64, 64), (16384, 16384)),
}
#: later generations' additions: generation -> codec -> extra (chroma, bit depth) pairs
_ADDED = {
    "turing": {"hevc": {(444, 8), (444, 10)}},
    "blackwell": {"h264": {(420, 10), (422, 8), (422, 10)}, "hevc": {(422, 10), (422, 12)}},
}
#: AV1: the "ampere" column is GA10x and Ada; GA100 (8.0) and Hopper (9.0) sit in the Turing column
_NO_AV1_CC = {(8, 0), (9, 0)}


_LAYOUTS = {420: "4:2:0", 422: "4:2:2", 444: "4:4:4", 400: "grey"}


def generation(cc: tuple[int, int]) -> str:
    """The application note's column for compute capability ``cc`` = (major, minor)."""
    major, minor = cc
    if major >= 10:
        return "blackwell"
    if major == 9 or (major == 8 and minor == 0) or (major, minor) == (7, 5):
        return "turing"                         # "Turing/GA100/Hopper GPUs"
    if major == 8:
        return "ampere"                         # GA10x and Ada (8.6, 8.7, 8.9)
    if major == 7:
        return "volta"
    if major == 6:
        return "pascal"
    return "maxwell2" if (major, minor) >= (5, 2) else "maxwell1"


def chroma_and_depth(pix_fmt: str) -> tuple[int, int] | None:
    """(420, 422, 444 or 400 for grey; bit depth) of an FFmpeg pixel format, or None (RGB, palette...)."""
    pix_fmt = str(pix_fmt)
    if pix_fmt in ("nv12", "nv21"):
        return 420, 8
    if pix_fmt.startswith("p010"):
        return 420, 10
    if pix_fmt.startswith("p016"):
        return 420, 16
    m = re.fullmatch(r"yuvj?(420|422|444)p(\d+)?(le|be)?", pix_fmt)
    if m:
        return int(m.group(1)), int(m.group(2) or 8)
    m = re.fullmatch(r"gray(\d+)?(le|be)?", pix_fmt)
    if m:
        return 400, int(m.group(1) or 8)
    return None


def decodable(codec: str, pix_fmt: str, width: int, height: int, cc: tuple[int, int] | None) -> tuple[bool, str]:
    """``(ok, reason)`` for a stream on a GPU of compute capability ``cc`` (None: unknown, assume Turing)."""
    rule = _CODECS.get(str(codec))
    if rule is None:
        return False, f"codec {codec!r} is not decoded by NVDEC/DALI"
    name, first, formats, low, high = rule
    gen = generation(cc) if cc is not None else "turing"
    if GENERATIONS.index(gen) < GENERATIONS.index(first) or (codec == "av1" and cc in _NO_AV1_CC):
        return False, f"{name}: this GPU's NVDEC (compute capability {cc}) has no {name} decoder"
    cd = chroma_and_depth(pix_fmt)
    allowed = set(formats)
    for g in GENERATIONS[:GENERATIONS.index(gen) + 1]:
        allowed |= _ADDED.get(g, {}).get(codec, set())
    if cd not in allowed:
        shown = "an unknown layout" if cd is None else _LAYOUTS.get(cd[0], str(cd[0])) + f" {cd[1]}-bit"
        return False, f"{name} {pix_fmt} ({shown}) is not decoded by this GPU's NVDEC (4:2:0 8-bit is)"
    if width < low[0] or height < low[1] or width > high[0] or height > high[1]:
        return False, (f"{name} {width}x{height} is outside NVDEC's sizes {low[0]}x{low[1]} to "
                       f"{high[0]}x{high[1]}")
    return True, f"{name} {pix_fmt}"


@functools.lru_cache(maxsize=None)
def compute_capability(device_id: int = 0) -> tuple[int, int] | None:
    """(major, minor) of a CUDA device through the driver API (cached per device), or None."""
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
        if cuda.cuInit(0) != 0:
            return None
        dev = ctypes.c_int()
        if cuda.cuDeviceGet(ctypes.byref(dev), int(device_id)) != 0:
            return None
        major, minor = ctypes.c_int(), ctypes.c_int()
        # CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75, _MINOR = 76
        if cuda.cuDeviceGetAttribute(ctypes.byref(major), 75, dev) != 0:
            return None
        if cuda.cuDeviceGetAttribute(ctypes.byref(minor), 76, dev) != 0:
            return None
        return major.value, minor.value
    except Exception:
        return None
