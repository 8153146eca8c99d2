"""Per-clip array operations, written once for NumPy and CuPy arrays.

A clip is ``(T, H, W, C)``; frames ``(H, W, C)`` are accepted too. The array
module is taken from the input (``cupy`` arrays stay on the GPU). Where OpenCV
defines the result (grey weights, bilinear resize), the NumPy path uses cv2
and the integer formulas here reproduce it bit for bit on the device.
"""
from __future__ import annotations

import numpy as np

#: OpenCV's fixed-point RGB->grey weights (BT.601 luma, 15-bit): R, G, B.
#: ``grey = (R*w0 + G*w1 + B*w2 + 2**(GREY_SHIFT-1)) >> GREY_SHIFT`` equals ``COLOR_RGB2GRAY`` on uint8.
GREY_WEIGHTS = (9798, 19235, 3735)
GREY_SHIFT = 15

INTERPOLATIONS = ("linear", "area")


def is_device_array(x) -> bool:
    """True when ``x`` is a CuPy array (GPU memory); checked by type, without importing CuPy."""
    return type(x).__module__.startswith("cupy")


def array_module(x):
    """``numpy`` or ``cupy``, whichever owns ``x``."""
    if is_device_array(x):
        import cupy
        return cupy
    return np


def to_host(x):
    """NumPy array of ``x`` (CuPy arrays are copied to the host; NumPy arrays returned as they are)."""
    return x.get() if is_device_array(x) else x


def to_grey(clip):
    """RGB uint8 ``(..., 3)`` -> grey uint8 ``(..., 1)`` with OpenCV's ``COLOR_RGB2GRAY`` weights (exact).

    NumPy uint8 input goes through ``cv2.cvtColor`` (one call for the whole
    batch); CuPy arrays and other dtypes use the same fixed-point formula
    (:data:`GREY_WEIGHTS`, :data:`GREY_SHIFT`), which gives identical bytes.
    """
    if not is_device_array(clip) and clip.dtype == np.uint8 and clip.size and clip.shape[-1] == 3:
        import cv2

        w = clip.shape[-2] if clip.ndim >= 2 else 1
        flat = np.ascontiguousarray(clip).reshape((-1, w, 3))
        return cv2.cvtColor(flat, cv2.COLOR_RGB2GRAY).reshape(clip.shape[:-1] + (1,))
    xp = array_module(clip)
    c = clip.astype(xp.int32)
    y = (c[..., 0] * GREY_WEIGHTS[0] + c[..., 1] * GREY_WEIGHTS[1] + c[..., 2] * GREY_WEIGHTS[2]
         + (1 << (GREY_SHIFT - 1))) >> GREY_SHIFT
    return y.astype(xp.uint8)[..., None]


def resize(clip, size: tuple[int, int], interpolation: str = "linear"):
    """Resize uint8 ``(T, H, W, C)`` to ``size`` = (width, height).

    ``"linear"``: bilinear with pixel-centre alignment (``cv2.INTER_LINEAR``, as
    keras_video); ``"area"``: pixel-area averaging (``cv2.INTER_AREA``), better
    for strong downscaling. NumPy only for now: CuPy arrays raise ``TypeError``.
    """
    w, h = int(size[0]), int(size[1])
    if clip.shape[-3] == h and clip.shape[-2] == w:
        return clip
    if is_device_array(clip):
        raise TypeError("resize of device arrays is done by the GPU decode path")
    import cv2

    flag = {"linear": cv2.INTER_LINEAR, "area": cv2.INTER_AREA}[interpolation]
    out = np.empty(clip.shape[:-3] + (h, w, clip.shape[-1]), clip.dtype)
    flat_in = clip.reshape((-1,) + clip.shape[-3:])
    flat_out = out.reshape((-1,) + out.shape[-3:])
    for i in range(flat_in.shape[0]):
        r = cv2.resize(flat_in[i], (w, h), interpolation=flag)
        flat_out[i] = r.reshape(h, w, -1)
    return out


def rescale(clip, factor: float, dtype="float32"):
    """``clip * factor`` as float32 (``factor=None`` or 1 only casts)."""
    xp = array_module(clip)
    out = clip.astype(dtype)
    if factor is not None and factor != 1:
        out *= xp.asarray(factor, dtype=dtype)
    return out


def prepare_clip(clip, size: tuple[int, int], nb_channel: int = 3, interpolation: str = "linear"):
    """Decoded RGB uint8 ``(T, H, W, 3)`` -> uint8 ``(T, h, w, nb_channel)`` at ``size`` = (w, h)."""
    if nb_channel not in (1, 3):
        raise ValueError(f"nb_channel must be 1 or 3, got {nb_channel}")
    clip = resize(clip, size, interpolation)
    return to_grey(clip) if nb_channel == 1 else clip


def output_dtype(name: str, xp=np):
    """The array dtype of a generator's ``dtype`` option (``'bfloat16'`` is ``ml_dtypes.bfloat16``, host only)."""
    if name != "bfloat16":
        return xp.dtype(name)
    if xp is not np:
        raise ValueError("dtype='bfloat16' is for host batches: CuPy has no bfloat16; use 'float16' on the device")
    try:
        import ml_dtypes
    except ImportError as e:
        raise ValueError("dtype='bfloat16' needs the ml_dtypes package (pip install ml_dtypes)") from e
    return np.dtype(ml_dtypes.bfloat16)


def store(values, out, scale=None) -> None:
    """Write ``values * scale`` (``scale`` None or 1: ``values``) into ``out``, whatever ``out``'s dtype.

    uint8 ``out`` takes the values as they are (rounded to nearest and clipped to
    0..255 when they are not uint8; ``scale`` is not applied: the model rescales).
    """
    xp = array_module(out)
    if out.dtype == xp.uint8:
        out[...] = values if values.dtype == xp.uint8 else xp.clip(xp.rint(values), 0, 255)
        return
    if scale is None or scale == 1:
        out[...] = values
    elif out.dtype in (xp.float32, xp.float16):
        xp.multiply(values, xp.float32(scale), out=out)
    else:                                   # bfloat16: no ufunc output, convert from float32
        out[...] = (values * np.float32(scale)).astype(out.dtype)
