"""Generator options: one frozen object per concern, validated once, where it is built.

A generator's signature is the only other place an option is written: the
constructor hands its arguments to :meth:`Options.pick`, which takes the
fields it knows. Choices are ``typing.Literal`` types, checked generically;
every error message quotes the value received.
"""
from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any, Literal, Mapping

#: decode backends (see :mod:`gpuvideo.decode.select`)
Backend = Literal["auto", "cpu", "gpu", "dali-cpu"]
Interpolation = Literal["linear", "area"]
Sampling = Literal["uniform", "legacy"]
OnError = Literal["skip", "raise"]
OnBadFrames = Literal["fill", "skip", "raise"]
OutputDtype = Literal["float32", "float16", "bfloat16", "uint8"]
TargetFrame = Literal["next", "last"]


def choices(literal) -> tuple:
    """The values of a ``Literal`` type, e.g. ``choices(Backend)``."""
    return typing.get_args(literal)


def check_choice(name: str, value, literal) -> None:
    """Raise ``ValueError`` quoting ``value`` unless it is one of ``literal``'s values."""
    allowed = choices(literal)
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")


def check_int(name: str, value, low: int | None = None) -> int:
    """``value`` as an int (integral floats accepted), at least ``low``; else ``ValueError`` quoting it."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value) \
        and int(value) == value
    if not ok or (low is not None and value < low):
        bound = "" if low is None else f" >= {low}"
        raise ValueError(f"{name} must be an integer{bound}, got {value!r}")
    return int(value)


def _literal_values(hint) -> tuple | None:
    """The values a ``Literal`` (or ``Optional[Literal]``) type allows; None for any other type."""
    if typing.get_origin(hint) is Literal:
        return typing.get_args(hint)
    if typing.get_origin(hint) is typing.Union:
        parts = [_literal_values(a) if a is not type(None) else (None,) for a in typing.get_args(hint)]
        if all(p is not None for p in parts):
            return tuple(v for p in parts for v in p)
    return None


class Options:
    """Base of the frozen option objects: Literal fields checked, then :meth:`validate`."""

    def __post_init__(self):
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            allowed = _literal_values(hints[f.name])
            value = getattr(self, f.name)
            if allowed is not None and value not in allowed:
                raise ValueError(f"{f.name} must be one of {allowed}, got {value!r}")
        self.validate()

    def validate(self) -> None:
        """Per-class checks and normalisation (``object.__setattr__`` on frozen fields)."""

    def _set(self, name: str, value) -> None:
        object.__setattr__(self, name, value)

    @classmethod
    def pick(cls, args: Mapping[str, Any], **override):
        """Build from the fields of ``args`` (e.g. a constructor's ``locals()``); ``override`` wins."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in {**args, **override}.items() if k in names})

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


@dataclasses.dataclass(frozen=True)
class FrameOptions(Options):
    """What one output frame is.

    ``target_shape``: (width, height) in pixels, or None for each file's own size
    (timeseries only; all its videos must then share one size). ``nb_channel``: 3
    (RGB) or 1 (grey, BT.601 luma). ``rescale``: ``x = uint8 * rescale`` (None or 1:
    no scaling). ``interpolation``: ``'linear'`` (``cv2.INTER_LINEAR``) or ``'area'``.
    ``dtype`` of ``x``: ``'float32'`` (``uint8 * rescale``), ``'float16'``/``'bfloat16'``
    (the same, narrower), or ``'uint8'`` (the decoded values, no rescale: the model
    rescales, e.g. with ``keras.layers.Rescaling(1 / 255)``; a quarter of the memory
    traffic and of the host-to-device copy).
    """
    target_shape: tuple | None
    nb_channel: int
    rescale: float | None
    interpolation: Interpolation
    dtype: OutputDtype = "float32"

    def validate(self):
        if self.target_shape is not None:
            if len(self.target_shape) != 2:
                raise ValueError(f"target_shape must be (width, height), got {self.target_shape!r}")
            self._set("target_shape", tuple(check_int("target_shape", v, 1) for v in self.target_shape))
        if self.nb_channel not in (1, 3):
            raise ValueError(f"nb_channel must be 1 or 3, got {self.nb_channel!r}")
        self._set("nb_channel", int(self.nb_channel))


@dataclasses.dataclass(frozen=True)
class DecodeOptions(Options):
    """How frames are decoded and what happens when they cannot be.

    ``backend``: see :mod:`gpuvideo.decode.select`. ``decode_threads``: requests
    (clips, or one video's frames of a batch) decoded in parallel per batch; None:
    ``min(batch_size, cpu count)``. ``ffmpeg_threads``: FFmpeg decoder threads per
    open file (0: FFmpeg chooses). ``use_frame_cache``/``cache_bytes``: keep decoded
    frames (LRU, bytes per generator and process). ``device_batches``: with the GPU
    backend, batches stay CuPy arrays. ``max_open_readers``: idle open files kept
    per process. ``seek_cost``: a reader seeks only to skip more than this many
    frames. ``resize_in_decoder``: resize in FFmpeg's scaler while converting to RGB
    (faster; pixels differ from OpenCV's by a few levels). ``device_id``: the GPU
    that decodes and holds device batches (None: the launcher's ``LOCAL_RANK``,
    else CuPy's current device). ``prefetch``: batches read ahead in a background
    thread while the model trains on the current one (None: 1 with one Keras worker,
    0 with several, which read ahead themselves).
    ``apply_rotation``: turn frames as the file's display matrix says (phone videos),
    as FFmpeg's command line does. ``drop_truncated``: treat a file whose stream is
    shorter than its header says as unusable (default: its intact frames are served,
    and it is listed in the report's warnings). ``on_error``: a video
    that cannot be used is ``'skip'``\\ ped (logged, reported, replaced) or
    ``'raise'``\\ s. ``on_bad_frames``: see :class:`~gpuvideo.timeseries.VideoTimeseriesGenerator`.
    """
    backend: Backend
    decode_threads: int | None
    ffmpeg_threads: int
    use_frame_cache: bool
    cache_bytes: int
    device_batches: bool
    max_open_readers: int
    seek_cost: int
    resize_in_decoder: bool
    on_error: OnError
    on_bad_frames: OnBadFrames
    device_id: int | None = None
    prefetch: int | None = None
    apply_rotation: bool = True
    drop_truncated: bool = False

    def validate(self):
        if self.device_id is not None:
            check_int("device_id", self.device_id, 0)
        if self.prefetch is not None:
            check_int("prefetch", self.prefetch, 0)
        if self.decode_threads is not None:
            check_int("decode_threads", self.decode_threads, 1)
        check_int("ffmpeg_threads", self.ffmpeg_threads, 0)
        check_int("cache_bytes", self.cache_bytes, 0)
        check_int("max_open_readers", self.max_open_readers, 1)
        check_int("seek_cost", self.seek_cost, 0)


@dataclasses.dataclass(frozen=True)
class BatchOptions(Options):
    """How samples become batches, epoch after epoch.

    ``batch_size`` samples per batch. ``shuffle``: a new order each epoch, drawn
    from ``seed`` (None: a random seed). ``complete_last_batch``: True fills the
    last batch with samples from the start of the epoch order, so every batch has
    ``batch_size`` samples; False makes it shorter (Keras's ``TimeseriesGenerator``,
    and what ``model.predict`` needs: one output per sample, in order).
    ``shard_index``/``num_shards``: this worker's share (see :mod:`gpuvideo.sharding`).
    """
    batch_size: int
    shuffle: bool
    seed: int | None
    complete_last_batch: bool
    shard_index: int | None
    num_shards: int | None

    def validate(self):
        self._set("batch_size", check_int("batch_size", self.batch_size, 1))
        if self.seed is not None:
            self._set("seed", check_int("seed", self.seed))


@dataclasses.dataclass(frozen=True)
class ClipOptions(Options):
    """Which frames a clip holds (see :mod:`gpuvideo.sampling`).

    ``nb_frames`` per clip; ``sampling``: ``'uniform'`` or ``'legacy'`` (keras_video's
    frames). Sliding generator only: ``sequence_time`` (seconds a window spans,
    None: the whole video) and ``window_stride`` (frames between window starts).
    """
    nb_frames: int
    sampling: Sampling
    sequence_time: float | None = None
    window_stride: int = 1

    def validate(self):
        self._set("nb_frames", check_int("nb_frames", self.nb_frames, 1))
        self._set("window_stride", check_int("window_stride", self.window_stride, 1))
        if self.sequence_time is not None and not (isinstance(self.sequence_time, (int, float))
                                                   and self.sequence_time > 0):
            raise ValueError(f"sequence_time must be > 0 seconds or None, got {self.sequence_time!r}")


@dataclasses.dataclass(frozen=True)
class AugmentOptions(Options):
    """Random per-sample augmentation: ``transformation`` is None, an ``ImageDataGenerator``-like
    object or a callable ``(clip, rng) -> clip`` (see :func:`gpuvideo.transform.make_transform`);
    one draw per sample, reproducible per ``(seed, epoch, sample)``."""
    transformation: Any

    def validate(self):
        from .transform import make_transform

        make_transform(self.transformation)   # TypeError for anything else

    @property
    def function(self):
        """``f(clip, rng) -> clip`` or None."""
        from .transform import make_transform

        return make_transform(self.transformation)
