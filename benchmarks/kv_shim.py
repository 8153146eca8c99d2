"""Import shim for keras-video-generators 1.0.14 (``keras_video``) on Keras 3 / NumPy 2.

Benchmarks only: the library never imports this. Nothing of keras_video is
copied here; the shim only puts back the names that the unmodified installed
package looks up, then imports it:

- ``keras.preprocessing.image.ImageDataGenerator``: Keras 3 dropped it from the
  public module; the legacy class is still shipped (``tensorflow.keras`` /
  ``keras.src.legacy``). A bare stand-in is used if neither is there (keras_video
  only needs the name unless a ``transformation`` is passed).
- ``keras.preprocessing.image.img_to_array``: still public in Keras 3 (checked).
- ``keras.utils.Sequence``: an alias of ``keras.utils.PyDataset`` in Keras 3 (checked).
- ``np.int``: removed in NumPy 1.24; ``SlidingFrameGenerator`` calls ``.astype(np.int)``.

Install the package without its dependencies (it pins old Keras/TF):
``pip install --no-deps keras-video-generators==1.0.14``.
"""
from __future__ import annotations

import importlib
import sys

__all__ = ["import_keras_video", "patch"]

_patched = False


def _legacy_image_data_generator():
    for mod, attr in (("tensorflow.keras.preprocessing.image", "ImageDataGenerator"),
                      ("keras.src.legacy.preprocessing.image", "ImageDataGenerator")):
        try:
            return getattr(importlib.import_module(mod), attr)
        except (ImportError, AttributeError):
            continue

    class ImageDataGenerator:  # minimal stand-in: a name for annotations/defaults only
        def __init__(self, *args, **kwargs):
            raise NotImplementedError("no legacy ImageDataGenerator in this Keras/TensorFlow")

    return ImageDataGenerator


def patch() -> None:
    """Put back the names keras_video 1.0.14 needs (idempotent, only adds missing names)."""
    global _patched
    if _patched:
        return
    import numpy as np
    import keras
    import keras.preprocessing.image as kimage

    if not hasattr(kimage, "ImageDataGenerator"):
        kimage.ImageDataGenerator = _legacy_image_data_generator()
    if not hasattr(kimage, "img_to_array"):
        kimage.img_to_array = keras.utils.img_to_array
    if not hasattr(keras.utils, "Sequence"):
        keras.utils.Sequence = keras.utils.PyDataset
    try:
        np.int  # noqa: B018  (raises AttributeError on NumPy >= 1.24)
    except AttributeError:
        np.int = int
    _patched = True


def import_keras_video():
    """``patch()`` then ``import keras_video``; returns the module."""
    patch()
    if "keras_video" in sys.modules:
        return sys.modules["keras_video"]
    try:
        return importlib.import_module("keras_video")
    except ModuleNotFoundError as e:
        raise ModuleNotFoundError(
            "keras_video is not installed: pip install --no-deps keras-video-generators==1.0.14") from e


if __name__ == "__main__":
    kv = import_keras_video()
    print("keras_video", kv.__version__, "imported:", kv.VideoFrameGenerator, kv.SlidingFrameGenerator,
          kv.OpticalFlowGenerator)
