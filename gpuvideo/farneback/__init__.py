"""Farneback dense optical flow matching ``cv2.calcOpticalFlowFarneback``.

* :class:`FarnebackParams` / :func:`pyramid_sizes`: parameters and host-side constants.
* :func:`farneback_reference`: NumPy reference (the specification of the kernels).
* ``gpuvideo.farneback.cupy_impl.farneback_cupy``: batched CUDA path (needs CuPy).
"""

from .params import FarnebackParams, pyramid_sizes
from .reference import farneback_reference

__all__ = ["FarnebackParams", "pyramid_sizes", "farneback_reference"]
