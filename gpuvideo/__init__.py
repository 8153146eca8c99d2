"""gpuvideo: folders of videos and long videos into Keras training batches, on the CPU or the GPU.

``import gpuvideo as keras_video`` works: the generators keep keras_video's
names, parameters and module paths (``gpuvideo.generator``, ``gpuvideo.sliding``,
``gpuvideo.flow``). Submodules load on first use, so importing gpuvideo (and
running ``gpuvideo --help``) does not import Keras or TensorFlow.
"""
import importlib
import logging

__version__ = "0.1.0"

logging.getLogger("gpuvideo").addHandler(logging.NullHandler())

#: public name -> submodule that defines it
_EXPORTS = {
    "VideoFrameGenerator": "generator",
    "SlidingFrameGenerator": "sliding",
    "OpticalFlowGenerator": "flow",
    "METHOD_OPTICAL_FLOW": "flow",
    "METHOD_FLOW_MASK": "flow",
    "METHOD_DIFF_MASK": "flow",
    "METHOD_ABS_DIFF": "flow",
    "VideoTimeseriesGenerator": "timeseries",
    "VideoError": "errors",
    "BadVideo": "errors",
    "to_tf_dataset": "adapters",
    "to_torch": "adapters",
    "to_jax": "adapters",
    "ResumeCallback": "resume",
}
_SUBMODULES = {"generator", "sliding", "flow", "timeseries", "errors", "adapters", "sampling", "windows", "probe",
               "ops", "motion", "opticalflow", "synthetic", "decode", "farneback", "sharding", "options", "dataset",
               "benchmarking", "cli", "sources", "tables", "rows", "balance", "timeline", "timestamps",
               "state", "resume", "remote"}

__all__ = sorted(_EXPORTS) + ["generator", "sliding", "flow", "timeseries", "__version__"]


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'gpuvideo' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS) | _SUBMODULES)
