"""gpuvideo: folders of videos and long videos into Keras training batches, on the CPU or the GPU.

``import gpuvideo as keras_video`` works: the generators keep keras_video's
names, parameters and module paths (``gpuvideo.generator``, ``gpuvideo.sliding``).
"""
import logging

from . import generator, sliding
from .errors import BadVideo, VideoError
from .generator import VideoFrameGenerator
from .sliding import SlidingFrameGenerator

__version__ = "0.1.0"

logging.getLogger("gpuvideo").addHandler(logging.NullHandler())

__all__ = ["VideoFrameGenerator", "SlidingFrameGenerator", "VideoError", "BadVideo", "generator", "sliding",
           "__version__"]
