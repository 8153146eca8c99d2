"""Locate and compile the project's CUDA sources (``*.cu``) with CuPy.

One rule finds the sources: ``gpuvideo/kernels/`` when gpuvideo is installed
(setup.py installs the top-level ``kernels/`` folder there as package data
``gpuvideo.kernels``), else ``kernels/`` next to the ``gpuvideo/`` package in a
source tree (also what an editable install sees). CuPy is imported lazily so
this module can be imported on machines without a GPU.
"""

from __future__ import annotations

import functools
import logging
import pathlib

__all__ = ["kernels_dir", "kernel_source_path", "load_module"]

logger = logging.getLogger(__name__)


def kernels_dir() -> pathlib.Path:
    """Directory of the ``.cu`` sources: ``gpuvideo/kernels`` (installed), else ``<source tree>/kernels``."""
    package = pathlib.Path(__file__).resolve().parent
    for candidate in (package / "kernels", package.parent / "kernels"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"CUDA kernel sources not found: neither {package / 'kernels'} (installed) "
                            f"nor {package.parent / 'kernels'} (source tree) exists")


def kernel_source_path(name: str) -> pathlib.Path:
    """Path of kernel source ``name`` (``"farneback"`` or ``"farneback.cu"``) in :func:`kernels_dir`."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(f"invalid kernel source name: {name!r}")
    path = kernels_dir() / (name if name.endswith((".cu", ".cuh")) else name + ".cu")
    if not path.is_file():
        raise FileNotFoundError(f"CUDA kernel source {path.name!r} not found in {path.parent}")
    return path


@functools.lru_cache(maxsize=None)
def load_module(name: str, options: tuple = ()):
    """Compile kernel source ``name`` into a ``cupy.RawModule`` (cached).

    ``options`` is a *tuple* of NVRTC options (it is part of the cache key);
    ``-I<kernels dir>`` is appended so sources can ``#include`` sibling
    ``.cuh`` headers.  Kernels are plain ``extern "C"`` entry points, fetched
    with ``module.get_function(name)``.  Requires CuPy.
    """
    import cupy  # lazy: CuPy is optional

    path = kernel_source_path(name)
    code = path.read_text(encoding="utf-8")
    opts = tuple(options) + (f"-I{path.parent}",)
    logger.debug("compiling CUDA module %s with options %s", path, opts)
    return cupy.RawModule(code=code, options=opts)
