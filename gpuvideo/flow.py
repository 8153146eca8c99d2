"""``OpticalFlowGenerator``: motion images (optical flow, masks, differences) from consecutive frames.

Four methods, keras_video's names and numbers:

- ``METHOD_OPTICAL_FLOW`` (1): Farneback flow as a picture (hue = direction,
  brightness = speed) or, with ``flow_output="raw"``, as ``(dx, dy)`` in pixels.
- ``METHOD_FLOW_MASK`` (2): the flow picture, blurred (15x15 Gaussian), as a mask
  on the average of the two frames.
- ``METHOD_DIFF_MASK`` (3): the absolute grey difference, blurred the same way, as
  a mask on the average of the two frames.
- ``METHOD_ABS_DIFF`` (4): the absolute grey difference.

Unlike keras_video 1.0.14, flow is computed on the 8-bit frames (not on
frames already scaled to [0, 1], which shrinks it to almost zero) and the
picture is built in uint8 HSV and converted to RGB, so outputs lie in
``[0, 255] * rescale``. The arithmetic lives in :mod:`gpuvideo.motion` and
:mod:`gpuvideo.opticalflow`.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Literal, Optional

import numpy as np

from .farneback.params import FarnebackParams
from .flow_compat import keras_video_motion
from .generator import VideoFrameGenerator
from .motion import METHOD_ABS_DIFF, METHOD_DIFF_MASK, METHOD_FLOW_MASK, METHOD_OPTICAL_FLOW, motion_images
from .opticalflow import FlowBackend
from .ops import array_module, is_device_array, store, to_host
from .options import Options

log = logging.getLogger("gpuvideo")

__all__ = ["OpticalFlowGenerator", "MotionOptions", "METHOD_OPTICAL_FLOW", "METHOD_FLOW_MASK",
           "METHOD_DIFF_MASK", "METHOD_ABS_DIFF"]


@dataclasses.dataclass(frozen=True)
class MotionOptions(Options):
    """What the optical-flow generator computes from each pair of frames (see the module doc).

    ``method`` 1-4; ``flow_output``: ``'picture'`` or ``'raw'`` ``(dx, dy)``;
    ``flow_backend``: Farneback backend (None: automatic, see
    :func:`gpuvideo.opticalflow.farneback`); ``flow_compat``: ``'keras_video'``
    reproduces keras_video 1.0.14's images; ``farneback``: the Farneback parameters.
    """
    method: Literal[1, 2, 3, 4]
    flow_output: Literal["picture", "raw"]
    flow_backend: Optional[FlowBackend]
    flow_compat: Literal[None, "keras_video"]
    farneback: FarnebackParams

    def validate(self):
        if self.flow_output == "raw" and self.method != METHOD_OPTICAL_FLOW:
            raise ValueError("flow_output='raw' is only for method=METHOD_OPTICAL_FLOW")
        if self.flow_compat is not None and self.flow_output != "picture":
            raise ValueError("flow_compat='keras_video' reproduces keras_video's pictures: "
                             "flow_output must be 'picture'")


class OpticalFlowGenerator(VideoFrameGenerator):
    """Batches of ``nb_frames`` motion images per video, each from a pair of consecutive sampled frames.

    It samples ``nb_frames + 1`` frames (uniformly over the video by default)
    and returns ``x`` float32 ``(batch_size, nb_frames, height, width, C)``:

    - ``method``: one of ``METHOD_OPTICAL_FLOW`` (default), ``METHOD_FLOW_MASK``,
      ``METHOD_DIFF_MASK``, ``METHOD_ABS_DIFF`` (see the module doc).
    - ``flowlevel``, ``iterations``, ``winsize``: Farneback's pyramid levels,
      iterations and window (``cv2.calcOpticalFlowFarneback(prev, next, None,
      0.5, flowlevel, winsize, iterations, 5, 1.1, 0)`` on the grey uint8 frames).
    - ``flow_output`` (keyword): ``"picture"`` (default): uint8 RGB picture then
      ``rescale``, in [0, 1] with the default rescale, ``C = nb_channel``
      (``nb_channel=1`` gives its grey); ``"raw"``: float32 ``(dx, dy)`` in
      pixels of the target size, ``C = 2``, not rescaled (``METHOD_OPTICAL_FLOW`` only).
    - ``flow_compat`` (keyword): ``"keras_video"`` reproduces keras_video 1.0.14's
      (incorrect) images for models trained on them, see :mod:`gpuvideo.flow_compat`;
      None (default) gives the correct ones.
    - ``flow_backend`` (keyword): ``"cv2"``, ``"cupy"``, ``"opencv-cuda"`` or None
      (automatic), see :func:`gpuvideo.opticalflow.farneback`.

    ``C = nb_channel`` for the other methods, values in ``[0, 255] * rescale``.
    Masks multiply the average of the two frames (RGB, or grey with
    ``nb_channel=1``) by the blurred difference or picture divided by 255.

    Identical frames (a still video, a video of one frame, or a video with
    fewer than ``nb_frames + 1`` frames, whose frames are repeated) give zero
    motion: every method returns zeros for those pairs, including the flow
    picture (V = 0 when the magnitude has no range).

    Random ``transformation``\\ s are applied to the motion images like to
    frames: a flip does not turn the colours or ``(dx, dy)`` vectors around.
    All other parameters are :class:`~gpuvideo.generator.VideoFrameGenerator`'s;
    validation and test generators keep the flow parameters.
    """

    def __init__(self, *args, nb_frames: int = 5, method: int = METHOD_OPTICAL_FLOW, flowlevel: int = 3,
                 iterations: int = 3, winsize: int = 15, flow_output: str = "picture",
                 flow_backend: str | None = None, flow_compat: str | None = None, **kwargs):
        self.motion = MotionOptions(method, flow_output, flow_backend, flow_compat,
                                    FarnebackParams(pyr_scale=0.5, levels=flowlevel, winsize=winsize,
                                                    iterations=iterations, poly_n=5, poly_sigma=1.1, flags=0))
        super().__init__(*args, nb_frames=nb_frames, **kwargs)
        if self.frames.dtype != "float32" and (flow_output == "raw" or flow_compat is not None):
            raise ValueError(f"dtype={self.frames.dtype!r}: raw flow and keras_video's images are float32 only")
        if flow_backend in ("cupy", "opencv-cuda") and self.use_multiprocessing:
            raise ValueError(f"flow_backend={flow_backend!r} cannot run in forked workers (CUDA does not survive "
                             f"fork): use use_multiprocessing=False with workers=N threads")
        if self.transformation is not None and method in (METHOD_OPTICAL_FLOW, METHOD_FLOW_MASK):
            log.info("transformations move flow images but do not turn their directions (hue / dx, dy)")

    @property
    def flowlevel(self) -> int:
        return self.motion.farneback.levels

    @property
    def iterations(self) -> int:
        return self.motion.farneback.iterations

    @property
    def winsize(self) -> int:
        return self.motion.farneback.winsize

    @property
    def flow_params(self) -> FarnebackParams:
        return self.motion.farneback

    # ------------------------------------------------------------------ sampling and data path
    def _frames_per_sample(self) -> int:
        return self.clip.nb_frames + 1

    def _decode_channels(self) -> int:
        return 3          # grey, where asked, is taken after the motion images

    def _sample_shape(self, clip) -> tuple:
        t, h, w, _ = clip.shape
        return (t - 1, h, w, 2 if self.motion.flow_output == "raw" else self.frames.nb_channel)

    def _postprocess_many(self, clips: dict, x) -> None:
        """Device batches: the motion images of every clip in one call (Farneback batched over all pairs)."""
        first = next(iter(clips.values()))
        if not is_device_array(first) or self.motion.flow_compat is not None:
            return super()._postprocess_many(clips, x)
        xp = array_module(first)
        slots = list(clips)
        m, rescale = self.motion, self.frames.rescale
        images = motion_images(xp.stack([clips[s] for s in slots]), m.method, self.frames.nb_channel, m.farneback,
                               m.flow_output, m.flow_backend)
        out = xp.empty(images.shape, x.dtype)
        store(images, out, None if m.flow_output == "raw" else rescale)
        x[xp.asarray(slots)] = out

    def _postprocess(self, clip, out) -> None:
        """RGB uint8 ``(nb_frames + 1, H, W, 3)`` -> float32 ``(nb_frames, H, W, C)`` into ``out``."""
        m, rescale = self.motion, self.frames.rescale
        if m.flow_compat == "keras_video":
            out[...] = keras_video_motion(to_host(clip), m.method, self.frames.nb_channel, rescale,
                                          self.flowlevel, self.winsize, self.iterations)
            return
        images = motion_images(clip, m.method, self.frames.nb_channel, m.farneback, m.flow_output, m.flow_backend)
        store(images, out, None if m.flow_output == "raw" else rescale)

    # ------------------------------------------------------------------ keras_video's per-pair methods
    def _pair(self, images) -> np.ndarray:
        if len(images) != 2:
            raise ValueError(f"expected a pair of images, got {len(images)}")
        a, b = (np.asarray(im) for im in images)
        if a.shape != b.shape:
            raise ValueError(f"the two images differ in shape: {a.shape} vs {b.shape}")
        if a.dtype != np.uint8:
            raise TypeError(f"expected uint8 images (before rescale), got {a.dtype}")
        if a.ndim == 2:
            a, b = a[..., None], b[..., None]
        if a.shape[-1] == 1:
            a, b = np.repeat(a, 3, axis=-1), np.repeat(b, 3, axis=-1)
        return np.stack([a, b], axis=-4)

    def _pair_method(self, images, method: int, output: str = "picture"):
        out = motion_images(self._pair(images), method, self.nb_channel, self.flow_params, output,
                            self.motion.flow_backend)
        return out[..., 0, :, :, :]

    def make_optical_flow(self, images):
        """Flow picture of a pair ``(prev, next)`` of uint8 RGB (or grey) frames ``(..., H, W, C)``.

        Returns uint8 ``(..., H, W, nb_channel)`` before ``rescale`` (raw float32
        ``(..., H, W, 2)`` when the generator's ``flow_output`` is ``"raw"``).
        """
        return self._pair_method(images, METHOD_OPTICAL_FLOW, self.motion.flow_output)

    def flow_mask(self, images):
        """Average of the pair masked by its blurred flow picture: float32 in [0, 255], before ``rescale``."""
        return self._pair_method(images, METHOD_FLOW_MASK)

    def diff_mask(self, images):
        """Average of the pair masked by its blurred absolute difference: float32 in [0, 255]."""
        return self._pair_method(images, METHOD_DIFF_MASK)

    def absdiff(self, images):
        """Absolute grey difference of the pair: uint8 ``(..., H, W, nb_channel)``."""
        return self._pair_method(images, METHOD_ABS_DIFF)
