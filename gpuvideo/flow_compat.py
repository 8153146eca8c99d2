"""keras_video 1.0.14's motion images, reproduced for models trained on them (``flow_compat='keras_video'``).

Its ``OpticalFlowGenerator`` worked on frames already multiplied by ``rescale``
(float32, [0, 1] by default), with OpenCV's float conventions, and returned
them without a further ``rescale``:

- Farneback on the float grey frames (its regulariser shrinks the flow to almost zero);
- the HSV picture built in float32 with hue = angle / 2 in degrees, S = 255 and
  V = min-max normalised magnitude in [0, 255], converted with ``HSV2BGR``
  (float HSV wants hue in [0, 360) and S in [0, 1]: values range from about
  -64770 to 255) and kept in that channel order;
- grey with ``nb_channel=1`` taken from BGR data with RGB weights;
- masks: a 15x15 Gaussian blur of the difference (or of picture / 255), times
  the average of the two frames.

Only use this to keep feeding a model trained on keras_video's output; the
default (``flow_compat=None``) gives the correct images.
"""
from __future__ import annotations

import numpy as np

from .motion import METHOD_ABS_DIFF, METHOD_DIFF_MASK, METHOD_FLOW_MASK, METHOD_OPTICAL_FLOW

COMPAT_MODES = (None, "keras_video")


def keras_video_frames(clip: np.ndarray, nb_channel: int, rescale) -> np.ndarray:
    """RGB uint8 ``(T, H, W, 3)`` -> the float32 frames keras_video handed to its motion methods."""
    import cv2

    if nb_channel == 1:   # keras_video applied COLOR_RGB2GRAY to BGR frames
        frames = np.stack([cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in clip])[..., None]
    else:
        frames = clip
    return frames.astype(np.float32) * np.float32(rescale if rescale is not None else 1.0)


def _grey(image: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.shape[2] == 3 else image


def _as_hwc(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 3 else image[..., None]


def _absdiff(a, b, nb_channel):
    import cv2

    diff = cv2.absdiff(_grey(a), _grey(b))
    return cv2.cvtColor(diff, cv2.COLOR_GRAY2RGB) if nb_channel == 3 else diff


def _flow_picture(a, b, nb_channel, flowlevel, winsize, iterations):
    import cv2

    shape = a.shape[:2] + (3,)
    hsv = np.zeros(shape, a.dtype)
    hsv[..., 1] = 255
    flow = cv2.calcOpticalFlowFarneback(_grey(a), _grey(b), None, 0.5, flowlevel, winsize, iterations, 5, 1.1, 0)
    mag, ang = cv2.cartToPolar(flow[..., 0], flow[..., 1])
    hsv[..., 0] = ang * 180 / np.pi / 2
    hsv[..., 2] = cv2.normalize(mag, None, 0, 255, cv2.NORM_MINMAX)
    picture = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
    return cv2.cvtColor(picture, cv2.COLOR_RGB2GRAY) if nb_channel == 1 else picture


def _masked(mask, a, b):
    import cv2

    mask = cv2.GaussianBlur(mask, (15, 15), 0)
    average = cv2.addWeighted(a, 0.5, b, 0.5, 0)
    return cv2.multiply(_as_hwc(average), _as_hwc(mask))


def keras_video_pair(a: np.ndarray, b: np.ndarray, method: int, nb_channel: int, flowlevel: int = 3,
                     winsize: int = 15, iterations: int = 3) -> np.ndarray:
    """keras_video's image for one pair of float32 ``(H, W, C)`` frames: float32 ``(H, W, C)``."""
    if method == METHOD_ABS_DIFF:
        out = _absdiff(a, b, nb_channel)
    elif method == METHOD_OPTICAL_FLOW:
        out = _flow_picture(a, b, nb_channel, flowlevel, winsize, iterations)
    elif method == METHOD_DIFF_MASK:
        out = _masked(_absdiff(a, b, nb_channel), a, b)
    elif method == METHOD_FLOW_MASK:
        out = _masked(_flow_picture(a, b, nb_channel, flowlevel, winsize, iterations) / 255.0, a, b)
    else:
        raise ValueError(f"unknown method {method!r}")
    return _as_hwc(np.asarray(out, dtype=np.float32))


def keras_video_motion(clip: np.ndarray, method: int, nb_channel: int, rescale, flowlevel: int = 3,
                       winsize: int = 15, iterations: int = 3) -> np.ndarray:
    """RGB uint8 ``(T, H, W, 3)`` -> keras_video's float32 ``(T-1, H, W, C)`` (no further rescale)."""
    frames = keras_video_frames(clip, nb_channel, rescale)
    return np.stack([keras_video_pair(frames[t], frames[t + 1], method, nb_channel, flowlevel, winsize, iterations)
                     for t in range(len(frames) - 1)])
