"""Locate and compile the project's CUDA sources (``*.cu``) with CuPy.

The kernels live in ``kernels/`` at the repository root (next to the
``gpuvideo/`` package) when running from a source tree, or in the
``gpuvideo.kernels`` package data directory when installed.  CuPy is imported
lazily so this module can be imported on machines without a GPU.
"""

from __future__ import annotations

import functools
import importlib.resources
import logging
import pathlib

__all__ = ["kernels_dir", "kernel_source_path", "load_module"]

logger = logging.getLogger(__name__)

_SOURCE_TREE_KERNELS = pathlib.Path(__file__).resolve().parent.parent / "kernels"


def _normalise(name: str) -> str:
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(f"invalid kernel source name: {name!r}")
    return name if name.endswith((".cu", ".cuh")) else name + ".cu"


def _installed_kernels_dir() -> pathlib.Path | None:
    try:
        root = importlib.resources.files("gpuvideo.kernels")
    except (ModuleNotFoundError, TypeError):
        return None
    path = pathlib.Path(str(root))
    return path if path.is_dir() else None


def kernels_dir() -> pathlib.Path:
    """Directory holding the ``.cu`` sources (installed package first, then source tree)."""
    installed = _installed_kernels_dir()
    if installed is not None:
        return installed
    if _SOURCE_TREE_KERNELS.is_dir():
        return _SOURCE_TREE_KERNELS
    raise FileNotFoundError(
        "CUDA kernel directory not found: neither package 'gpuvideo.kernels' "
        f"nor {_SOURCE_TREE_KERNELS}"
    )


def kernel_source_path(name: str) -> pathlib.Path:
    """Path of kernel source ``name`` (``"farneback"`` or ``"farneback.cu"``)."""
    fname = _normalise(name)
    candidates = []
    installed = _installed_kernels_dir()
    if installed is not None:
        candidates.append(installed / fname)
    candidates.append(_SOURCE_TREE_KERNELS / fname)
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"CUDA kernel source {fname!r} not found (looked in: "
        + ", ".join(str(p.parent) for p in candidates) + ")"
    )


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
