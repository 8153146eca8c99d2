"""Motion ops: frame differences, Gaussian masks and flow pictures, for NumPy and CuPy arrays.

Everything here is a function of batched channel-last arrays, so a whole
batch of clips x pairs is one call. The array module is taken from the
input (:func:`gpuvideo.ops.array_module`): ``numpy`` arrays use OpenCV where
OpenCV defines the result, and every such step also has an array-module
generic version (``impl="xp"``) written with the same arithmetic, which is
what ``cupy`` arrays run and what the tests compare with OpenCV.

Layouts: frames ``(..., H, W, C)`` uint8; grey frames ``(..., H, W)`` uint8;
flow ``(..., H, W, 2)`` float32 ``(dx, dy)`` in pixels, x to the right, y down.
The only Farneback entry point is :func:`gpuvideo.opticalflow.farneback`.
"""
from __future__ import annotations

import functools
import logging

import numpy as np

from .farneback.params import gaussian_kernel_1d
from .ops import array_module, is_device_array, to_grey

log = logging.getLogger("gpuvideo")

METHOD_OPTICAL_FLOW = 1
METHOD_FLOW_MASK = 2
METHOD_DIFF_MASK = 3
METHOD_ABS_DIFF = 4
METHODS = (METHOD_OPTICAL_FLOW, METHOD_FLOW_MASK, METHOD_DIFF_MASK, METHOD_ABS_DIFF)
#: ``flow_output`` values: a uint8 RGB picture of the flow, or the raw ``(dx, dy)`` field
FLOW_OUTPUTS = ("picture", "raw")
#: side of the Gaussian used for the masks (keras_video's ``GaussianBlur(x, (15, 15), 0)``)
MASK_KSIZE = 15

# OpenCV's HSV->RGB sector table: for each sector, the (b, g, r) indices into
# (v, v(1-s), v(1-s f), v(1-s(1-f))).
_SECTORS = ((1, 3, 0), (1, 0, 2), (3, 0, 1), (0, 2, 1), (0, 1, 3), (2, 1, 0))
_SECTORS_RGB = np.asarray(_SECTORS, np.int32)[:, ::-1].copy()          # (r, g, b) order


@functools.lru_cache(maxsize=16)
def _device_sectors(device_id: int):
    """:data:`_SECTORS_RGB` on CuPy device ``device_id``, copied once (no host transfer per batch)."""
    import cupy

    with cupy.cuda.Device(device_id):
        return cupy.asarray(_SECTORS_RGB)


def _impl_of(x, impl: str | None) -> str:
    """``impl`` checked: ``"cv2"`` (NumPy arrays only) or ``"xp"``; None picks cv2 for NumPy arrays and xp for
    others. ``TypeError`` for cv2 on a device array, ``ValueError`` for any other value."""
    if impl is None:
        impl = "xp" if is_device_array(x) else "cv2"
    if impl == "cv2" and is_device_array(x):
        raise TypeError("impl='cv2' needs NumPy arrays")
    if impl not in ("cv2", "xp"):
        raise ValueError(f"impl must be 'cv2', 'xp' or None, got {impl!r}")
    return impl


# --------------------------------------------------------------------------- differences and masks
def absdiff(a, b):
    """``|a - b|`` of two uint8 arrays of the same shape (equals ``cv2.absdiff``)."""
    xp = array_module(a)
    return xp.abs(a.astype(xp.int16) - b.astype(xp.int16)).astype(xp.uint8)


def gaussian_blur(x, ksize: int = MASK_KSIZE, sigma: float = 0.0, impl: str | None = None):
    """Gaussian blur of float32 images ``(..., H, W, C)`` over H and W, borders ``BORDER_REFLECT_101``.

    Same result as ``cv2.GaussianBlur(img, (ksize, ksize), sigma)`` on each
    float32 image (to float32 rounding). ``impl``: ``"cv2"`` (NumPy only),
    ``"xp"`` (separable filter in the array module: rows then columns,
    float32 accumulation), or None (cv2 for NumPy arrays, xp otherwise).
    """
    xp = array_module(x)
    x = x.astype(xp.float32, copy=False)
    if x.ndim < 3:
        raise ValueError(f"expected (..., H, W, C) images, got shape {x.shape}")
    if _impl_of(x, impl) == "cv2":
        import cv2

        h, w, c = x.shape[-3:]
        flat = np.ascontiguousarray(x).reshape((-1, h, w, c))
        out = np.empty_like(flat)
        for i in range(flat.shape[0]):
            out[i] = cv2.GaussianBlur(flat[i], (ksize, ksize), sigma,
                                      borderType=cv2.BORDER_REFLECT_101).reshape(h, w, c)
        return out.reshape(x.shape)
    taps = [float(t) for t in gaussian_kernel_1d(ksize, sigma)]
    r = len(taps) // 2
    h, w = x.shape[-3], x.shape[-2]
    lead = ((0, 0),) * (x.ndim - 3)
    # numpy/cupy.pad's "reflect" is OpenCV's BORDER_REFLECT_101 (gfedcb|abcdefgh|gfedcba), also for r >= w
    padded = xp.pad(x, lead + ((0, 0), (r, r), (0, 0)), mode="reflect")
    tmp = xp.zeros_like(x)
    for i, t in enumerate(taps):
        tmp += xp.float32(t) * padded[..., i:i + w, :]
    padded = xp.pad(tmp, lead + ((r, r), (0, 0), (0, 0)), mode="reflect")
    out = xp.zeros_like(x)
    for i, t in enumerate(taps):
        out += xp.float32(t) * padded[..., i:i + h, :, :]
    return out


def average(a, b):
    """float32 ``(a + b) / 2`` of two uint8 arrays (exact)."""
    xp = array_module(a)
    return (a.astype(xp.float32) + b.astype(xp.float32)) * xp.float32(0.5)


def masked_average(mask, a, b):
    """``mask * (a + b) / 2``: float32, ``mask`` in [0, 1] broadcast over the channels of ``a``/``b``."""
    return average(a, b) * mask


def to_channels(images, nb_channel: int):
    """uint8 ``(..., C)`` with C in (1, 3) -> ``nb_channel`` channels (grey replicated, or RGB -> grey)."""
    xp = array_module(images)
    c = images.shape[-1]
    if c == nb_channel:
        return images
    if c == 1 and nb_channel == 3:
        return xp.repeat(images, 3, axis=-1)
    if c == 3 and nb_channel == 1:
        return to_grey(images)
    raise ValueError(f"cannot turn {c} channels into {nb_channel}")


# --------------------------------------------------------------------------- HSV -> RGB
@functools.lru_cache(maxsize=1)
def cv2_hsv_simd_lanes() -> int:
    """Pixels per SIMD block of this OpenCV's uint8 ``COLOR_HSV2RGB`` (0 without cv2).

    OpenCV 4.x rounds differently in its vector loop (truncation) and its
    scalar tail (rounding to nearest): in each row the first
    ``(W // lanes) * lanes`` pixels are truncated. ``lanes`` depends on the
    CPU's vector width (32 with AVX2); it is measured once here.
    """
    try:
        import cv2
    except ImportError:  # pragma: no cover - cv2 is a dependency
        return 0
    # h=2, v=255: 17 exactly in the maths, 16.99998 in float32 -> 16 truncated, 17 rounded
    row = np.zeros((1, 255, 3), np.uint8)
    row[..., 0], row[..., 1], row[..., 2] = 2, 255, 255
    green = cv2.cvtColor(row, cv2.COLOR_HSV2RGB)[0, :, 1]
    truncated = int(np.argmax(green != 16)) if np.any(green != 16) else 255
    return 0 if truncated == 0 else 256 - truncated


def hsv_to_rgb(hsv, impl: str | None = None, lanes: int | None = None):
    """uint8 HSV ``(..., H, W, 3)`` (H in 0..179) -> uint8 RGB, as ``cv2.cvtColor(hsv, COLOR_HSV2RGB)``.

    ``impl="xp"`` computes it in the array module with OpenCV's float32
    formula (sector table, ``v(1-s)``, ``v(1-s f)``, ``v(1-s(1-f))``); within a
    row, pixels before ``(W // lanes) * lanes`` are truncated like OpenCV's
    vector loop and the others rounded like its scalar loop, which makes it
    bit-exact with cv2 (``lanes`` None: :func:`cv2_hsv_simd_lanes`; 0: all
    rounded). ``impl=None``: cv2 for NumPy arrays, xp otherwise.
    """
    xp = array_module(hsv)
    if _impl_of(hsv, impl) == "cv2":
        import cv2

        h, w = hsv.shape[-3:-1]
        flat = np.ascontiguousarray(hsv).reshape((-1, h, w, 3))
        out = np.empty_like(flat)
        for i in range(flat.shape[0]):
            out[i] = cv2.cvtColor(flat[i], cv2.COLOR_HSV2RGB)
        return out.reshape(hsv.shape)
    if lanes is None:
        lanes = cv2_hsv_simd_lanes()
    f32 = xp.float32
    hh = hsv[..., 0].astype(f32) * f32(6.0 / 180.0)
    s = hsv[..., 1].astype(f32) * f32(1.0 / 255.0)
    v = hsv[..., 2].astype(f32) * f32(1.0 / 255.0)
    sector = xp.floor(hh)
    frac = hh - sector
    sector = sector.astype(xp.int32) % 6
    one = f32(1.0)
    table = _device_sectors(int(hsv.device.id)) if is_device_array(hsv) else _SECTORS_RGB
    grey = (s == 0)[..., None]

    def finish(tab, rounding):
        rgb = xp.take_along_axis(xp.stack(tab, axis=-1), table[sector], axis=-1)
        return rounding(xp.where(grey, v[..., None], rgb) * f32(255.0))

    w = hsv.shape[-2]
    cut = (w // lanes) * lanes if lanes else 0
    # scalar loop: plain float32 products, rounded to nearest
    out = finish([v, v * (one - s), v * (one - s * frac), v * (one - s * (one - frac))], xp.rint)
    if cut:
        # vector loop: 1 - s*f as one fused multiply-add (emulated exactly in float64), truncated
        f64 = xp.float64
        fused = [(f64(1.0) - s.astype(f64) * frac.astype(f64)).astype(f32),
                 (f64(1.0) - s.astype(f64) * (one - frac).astype(f64)).astype(f32)]
        vec = finish([v, v * (one - s), v * fused[0], v * fused[1]], xp.trunc)
        cols = xp.arange(w).reshape((w, 1))
        out = xp.where(cols < cut, vec, out)
    return xp.clip(out, 0, 255).astype(xp.uint8)


# --------------------------------------------------------------------------- flow pictures
def flow_to_hsv(flow, impl: str | None = None):
    """Flow ``(..., H, W, 2)`` -> uint8 HSV: hue = direction, S = 255, V = min-max normalised magnitude.

    Hue is ``round(angle / 2) % 180`` with ``angle`` the direction of ``(dx, dy)``
    in degrees in [0, 360) (0 = to the right, 90 = down, as ``cv2.cartToPolar``).
    V is ``round(255 (m - min) / (max - min))`` per image (``..., H, W``): the
    fastest pixel of each pair is 255, the slowest 0; when every pixel moves
    at the same speed (no motion at all included) V is 0.

    ``impl``: ``"cv2"`` (NumPy only) takes magnitude and angle from
    ``cv2.cartToPolar`` (angle accurate to about 0.3 degree, much faster than
    NumPy's ``arctan2``); ``"xp"`` uses ``sqrt`` and ``arctan2`` of the array
    module; None: cv2 for NumPy arrays, xp otherwise. Hues may differ by one
    step (2 degrees) between the two where the angle is near a rounding edge.
    """
    xp = array_module(flow)
    flow = flow.astype(xp.float32, copy=False)
    if _impl_of(flow, impl) == "cv2":
        import cv2

        h, w = flow.shape[-3:-1]
        flat = np.ascontiguousarray(flow).reshape((-1, h, w, 2))
        mag = np.empty(flat.shape[:-1], np.float32)
        ang = np.empty(flat.shape[:-1], np.float32)
        for i in range(flat.shape[0]):
            cv2.cartToPolar(flat[i, ..., 0], flat[i, ..., 1], magnitude=mag[i], angle=ang[i],
                            angleInDegrees=True)
        mag = mag.reshape(flow.shape[:-1])
        ang = ang.reshape(flow.shape[:-1])
    else:
        dx, dy = flow[..., 0], flow[..., 1]
        mag = xp.sqrt(dx * dx + dy * dy)
        ang = xp.arctan2(dy, dx) * xp.float32(180.0 / np.pi)
        ang = xp.where(ang < 0, ang + xp.float32(360.0), ang)
    hue = xp.floor(ang * xp.float32(0.5) + xp.float32(0.5)).astype(xp.int32)
    hue = xp.where(hue >= 180, hue - 180, hue).astype(xp.uint8)
    lo = mag.min(axis=(-2, -1), keepdims=True)
    hi = mag.max(axis=(-2, -1), keepdims=True)
    span = hi - lo
    ok = span > 1e-6
    scale = xp.where(ok, xp.float32(255.0) / xp.where(ok, span, xp.float32(1.0)), xp.float32(0.0))
    val = xp.clip(xp.rint((mag - lo) * scale.astype(xp.float32)), 0, 255).astype(xp.uint8)
    return xp.stack([hue, xp.full(hue.shape, 255, xp.uint8), val], axis=-1)


def flow_to_picture(flow, impl: str | None = None):
    """Flow ``(..., H, W, 2)`` -> uint8 RGB ``(..., H, W, 3)``: the usual picture (see :func:`flow_to_hsv`).

    Right = red, down = yellow-green, left = cyan, up = violet; brightness is
    the speed relative to the fastest pixel of the same pair.
    """
    return hsv_to_rgb(flow_to_hsv(flow, impl=impl), impl=impl)


# --------------------------------------------------------------------------- whole clips
def motion_images(clip, method: int = METHOD_OPTICAL_FLOW, nb_channel: int = 3, params=None,
                  output: str = "picture", backend: str | None = None):
    """Motion images of consecutive frame pairs: uint8 RGB ``(..., T, H, W, 3)`` -> ``(..., T-1, H, W, C)``.

    Computed on the 8-bit frames (grey = OpenCV's ``RGB2GRAY``); returns values
    in pixel units, before any ``rescale``:

    - ``METHOD_ABS_DIFF``: uint8 ``|grey_t - grey_t+1|``, replicated to ``nb_channel``.
    - ``METHOD_DIFF_MASK``: float32 ``blur15(absdiff) / 255 * (frame_t + frame_t+1) / 2``.
    - ``METHOD_OPTICAL_FLOW``: uint8 flow picture (RGB, or its grey when
      ``nb_channel == 1``); with ``output="raw"`` float32 ``(dx, dy)`` in pixels, 2 channels.
    - ``METHOD_FLOW_MASK``: float32 ``blur15(picture) / 255 * (frame_t + frame_t+1) / 2``
      (per channel; grey picture and grey frames when ``nb_channel == 1``).

    Masks and averages use RGB frames for ``nb_channel=3`` and grey ones for 1.
    All results are in [0, 255] except raw flow. Identical frames give zeros
    for every method (Farneback is not run on such pairs: its flow is defined as 0). ``params``/``backend`` go to :func:`gpuvideo.opticalflow.farneback`.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if output not in FLOW_OUTPUTS:
        raise ValueError(f"output must be one of {FLOW_OUTPUTS}, got {output!r}")
    if nb_channel not in (1, 3):
        raise ValueError(f"nb_channel must be 1 or 3, got {nb_channel}")
    if clip.ndim < 4 or clip.shape[-1] != 3 or clip.shape[-4] < 2:
        raise ValueError(f"expected uint8 RGB (..., T >= 2, H, W, 3), got shape {clip.shape}")
    xp = array_module(clip)
    grey = to_grey(clip)                                    # (..., T, H, W, 1)
    frames = grey if nb_channel == 1 else clip
    if method in (METHOD_ABS_DIFF, METHOD_DIFF_MASK):
        diff = absdiff(grey[..., :-1, :, :, :], grey[..., 1:, :, :, :])
        if method == METHOD_ABS_DIFF:
            return to_channels(diff, nb_channel)
        mask = gaussian_blur(diff.astype(xp.float32)) * xp.float32(1.0 / 255.0)
        return masked_average(mask, frames[..., :-1, :, :, :], frames[..., 1:, :, :, :])
    from .opticalflow import farneback

    g = grey[..., 0]
    lead = g.shape[:-3]
    t, h, w = g.shape[-3:]
    prev = g[..., :-1, :, :].reshape((-1, h, w))
    nxt = g[..., 1:, :, :].reshape((-1, h, w))
    # identical frames (repeated frames of short videos, stills) are zero motion by definition;
    # Farneback itself returns up to ~0.02 px of noise there, which the min-max picture would amplify
    moving = (prev != nxt).reshape((prev.shape[0], -1)).any(axis=1)
    if not is_device_array(prev):
        flow = np.zeros(prev.shape + (2,), np.float32)
        idx = np.flatnonzero(moving)
        if idx.size:
            flow[idx] = farneback(prev[idx], nxt[idx], params, backend=backend)
    else:   # keep the device batch whole (no host round trip to pick pairs)
        flow = farneback(prev, nxt, params, backend=backend) * moving[:, None, None, None]
    flow = flow.reshape(lead + (t - 1, h, w, 2))
    if method == METHOD_OPTICAL_FLOW and output == "raw":
        return flow
    picture = to_channels(flow_to_picture(flow), nb_channel)
    if method == METHOD_OPTICAL_FLOW:
        return picture
    mask = gaussian_blur(picture.astype(xp.float32)) * xp.float32(1.0 / 255.0)
    return masked_average(mask, frames[..., :-1, :, :, :], frames[..., 1:, :, :, :])
