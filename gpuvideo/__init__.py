"""gpuvideo: folders of videos and long videos into Keras training batches, on the CPU or the GPU.

``import gpuvideo as keras_video`` works: the generators keep keras_video's
names, parameters and module paths (``gpuvideo.generator``, ``gpuvideo.sliding``,
``gpuvideo.flow``).
"""
import logging

from . import flow, generator, sliding
from .errors import BadVideo, VideoError
from .flow import (METHOD_ABS_DIFF, METHOD_DIFF_MASK, METHOD_FLOW_MASK, METHOD_OPTICAL_FLOW,
                   OpticalFlowGenerator)
from .generator import VideoFrameGenerator
from .sliding import SlidingFrameGenerator

__version__ = "0.1.0"

logging.getLogger("gpuvideo").addHandler(logging.NullHandler())

__all__ = ["VideoFrameGenerator", "SlidingFrameGenerator", "OpticalFlowGenerator", "METHOD_OPTICAL_FLOW",
           "METHOD_FLOW_MASK", "METHOD_DIFF_MASK", "METHOD_ABS_DIFF", "VideoError", "BadVideo", "generator",
           "sliding", "flow", "__version__"]
