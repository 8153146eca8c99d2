"""Synthetic videos encoded as real files: index-coded frames and a moving-shapes dataset.

Used by ``gpuvideo demo``, the tests and the benchmarks. Frames written here encode
their own index (a 4x4 grid of bright/dark cells, 16 bits), so a decoded frame
says which frame it is: :func:`read_index` inverts :func:`index_frame`.
"""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

log = logging.getLogger(__name__)

#: container suffix -> (PyAV encoder, pixel format, encoder options)
CODECS = {
    "h264": ("libx264", "yuv420p", {"preset": "veryfast", "g": "24", "bf": "2", "crf": "20"}),
    "mpeg4": ("mpeg4", "yuv420p", {"g": "12", "qscale": "3", "bf": "0"}),
    "mpeg4_bframes": ("mpeg4", "yuv420p", {"g": "12", "qscale": "3", "bf": "2"}),
    "mjpeg": ("mjpeg", "yuvj420p", {"q": "3"}),
    "vp9": ("libvpx-vp9", "yuv420p", {"crf": "30", "b": "0", "deadline": "realtime", "cpu-used": "8", "g": "24"}),
    "vp8": ("libvpx", "yuv420p", {"crf": "10", "b": "1M", "deadline": "realtime", "cpu-used": "8", "g": "24"}),
    "mpeg2": ("mpeg2video", "yuv420p", {"g": "12", "bf": "2", "qscale": "3"}),
    "ffv1": ("ffv1", "yuv420p", {}),
    "hevc": ("libx265", "yuv420p", {"preset": "ultrafast", "x265-params": "log-level=error"}),
    "av1": ("libsvtav1", "yuv420p", {"preset": "12"}),
}
DEFAULT_SUFFIX = {"h264": ".mp4", "mpeg4": ".avi", "mpeg4_bframes": ".avi", "mjpeg": ".avi",
                  "vp9": ".webm", "vp8": ".webm", "theora": ".ogv", "mpeg2": ".mpg", "ffv1": ".mkv",
                  "hevc": ".mp4", "av1": ".mkv"}

_BITS = 16
_DARK, _BRIGHT = 40, 215


def index_frame(index: int, width: int = 160, height: int = 120) -> np.ndarray:
    """RGB uint8 frame ``(height, width, 3)`` whose 4x4 cell grid spells ``index`` (16 bits).

    Cell ``b`` (row-major) is bright when bit ``b`` is set. A colour ramp in the
    green/blue channels keeps colour conversion honest.
    """
    if not 0 <= index < 2 ** _BITS:
        raise ValueError(f"index must be in [0, {2 ** _BITS}), got {index}")
    bits = (index >> np.arange(_BITS)) & 1
    grid = np.where(bits.reshape(4, 4), _BRIGHT, _DARK).astype(np.uint8)
    ys = np.arange(height) * 4 // height
    xs = np.arange(width) * 4 // width
    grey = grid[ys[:, None], xs[None, :]]
    frame = np.empty((height, width, 3), np.uint8)
    frame[..., 0] = grey
    frame[..., 1] = grey
    frame[..., 2] = grey
    return frame


def read_index(frame: np.ndarray) -> int:
    """Index spelled by a decoded (possibly resized, RGB or grey, uint8 or float) frame."""
    a = np.asarray(frame, dtype=np.float32)
    if a.ndim == 3:
        a = a.mean(axis=2)
    if a.max() <= 1.0 + 1e-6:
        a = a * 255.0
    h, w = a.shape
    value = 0
    for b in range(_BITS):
        r, c = divmod(b, 4)
        y0, y1 = (4 * r + 1) * h // 16, (4 * r + 3) * h // 16
        x0, x1 = (4 * c + 1) * w // 16, (4 * c + 3) * w // 16
        if a[y0:y1 + 1, x0:x1 + 1].mean() > (_DARK + _BRIGHT) / 2:
            value |= 1 << b
    return value


def write_video(path: str | os.PathLike, frames: Iterable[np.ndarray], fps: float = 25,
                codec: str = "h264", *, rotation: int = 0, pix_fmt: str | None = None,
                options: dict | None = None, container_format: str | None = None,
                container_options: dict | None = None, timestamps: Sequence[float] | None = None) -> Path:
    """Encode RGB uint8 frames ``(H, W, 3)`` (H, W even) to ``path`` with ``codec``.

    ``codec`` is a key of :data:`CODECS` (PyAV encoders) or ``"theora"``, which
    needs an ``ffmpeg`` executable (PyAV wheels have no Theora encoder).
    Keyword-only, for odd test files: ``rotation`` (degrees clockwise, written as
    the container's display matrix; needs PyAV >= 18), ``pix_fmt`` and ``options``
    (override the encoder's pixel format and options), ``container_format`` and
    ``container_options`` (e.g. ``{"movflags": "faststart"}``), ``timestamps``
    (one presentation time in seconds per frame: variable frame rate).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if codec == "theora":
        return _write_with_ffmpeg(path, frames, fps, ["-c:v", "libtheora", "-q:v", "7", "-g", "12"])
    import av

    encoder, default_fmt, default_options = CODECS[codec]
    with _keep_scheduling():
        _encode(av, path, frames, encoder, pix_fmt or default_fmt, {**default_options, **(options or {})},
                Fraction(fps).limit_denominator(1001), rotation, container_format, container_options, timestamps)
    return path


@contextlib.contextmanager
def _keep_scheduling():
    """Restore the calling thread's scheduling policy after encoding: SVT-AV1 switches it to real-time
    (SCHED_FIFO, priority 99) when it may (as root), and every thread started afterwards would inherit it."""
    try:
        policy, param = os.sched_getscheduler(0), os.sched_getparam(0)
    except (AttributeError, OSError):   # not Linux
        yield
        return
    try:
        yield
    finally:
        try:
            if (os.sched_getscheduler(0), os.sched_getparam(0)) != (policy, param):
                os.sched_setscheduler(0, policy, param)
        except OSError as e:
            log.warning("cannot restore the thread's scheduling policy after encoding: %s", e)


@contextlib.contextmanager
def quiet_svt_av1():
    """``SVT_LOG=1`` for the block: SVT-AV1 (the AV1 encoder) prints its configuration to stderr unless told not to."""
    quiet = os.environ.get("SVT_LOG")
    os.environ["SVT_LOG"] = "1"
    try:
        yield
    finally:
        if quiet is None:
            os.environ.pop("SVT_LOG", None)
        else:
            os.environ["SVT_LOG"] = quiet


def _encode(av, path, frames, encoder, pix_fmt, options, rate, rotation, container_format, container_options,
            timestamps) -> None:
    with av.open(str(path), mode="w", format=container_format, options=container_options or {}) as out:
        stream = out.add_stream(encoder, rate=rate)
        stream.pix_fmt = pix_fmt
        stream.options = options
        if timestamps is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        if rotation % 360:
            if not hasattr(stream, "set_display_rotation"):
                raise RuntimeError("writing a display rotation needs PyAV >= 18")
            stream.set_display_rotation(-(rotation % 360))   # PyAV's angle is counter-clockwise
        first = True
        for k, frame in enumerate(frames):
            if first:
                stream.height, stream.width = frame.shape[:2]
                first = False
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            if timestamps is not None:
                vf.pts = int(round(float(timestamps[k]) * 1000))
                vf.time_base = Fraction(1, 1000)
            for packet in stream.encode(vf):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def remux(src: str | os.PathLike, dst: str | os.PathLike, skip: Iterable[int] = ()) -> Path:
    """Copy the video packets of ``src`` into ``dst`` (same container type) without re-encoding,
    leaving out the packets whose 0-based numbers in decode order are in ``skip`` (a lost packet)."""
    import av

    skip = set(skip)
    dst = Path(dst)
    with av.open(str(src)) as inp, av.open(str(dst), mode="w") as out:
        stream = inp.streams.video[0]
        ostream = out.add_stream_from_template(stream)
        k = 0
        for packet in inp.demux(stream):
            if packet.size == 0:
                continue
            k += 1
            if k - 1 in skip:
                continue
            packet.stream = ostream
            out.mux(packet)
    return dst


def _write_with_ffmpeg(path: Path, frames: Iterable[np.ndarray], fps: float, args: Sequence[str]) -> Path:
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise RuntimeError("writing this codec needs the ffmpeg executable (e.g. Debian's ffmpeg package)")
    it = iter(frames)
    first = next(it)
    h, w = first.shape[:2]
    cmd = [exe, "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
           "-r", str(fps), "-i", "-", *args, str(path)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    proc.stdin.write(np.ascontiguousarray(first).tobytes())
    for frame in it:
        proc.stdin.write(np.ascontiguousarray(frame).tobytes())
    proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError(f"ffmpeg failed writing {path}")
    return path


def write_index_video(path, nb_frames: int, width: int = 160, height: int = 120,
                      fps: float = 25, codec: str = "h264", **kwargs) -> Path:
    """A video of ``nb_frames`` frames where frame ``i`` spells ``i`` (see :func:`index_frame`).

    ``kwargs`` go to :func:`write_video` (rotation, pixel format, timestamps, ...)."""
    return write_video(path, (index_frame(i, width, height) for i in range(nb_frames)), fps, codec, **kwargs)


def write_size_change_video(path: str | os.PathLike, sizes: Sequence[tuple[int, int]] = ((160, 120), (320, 240)),
                            frames_per_size: int = 30, fps: float = 25) -> Path:
    """An MPEG-TS H.264 stream whose frame size changes mid-stream (a broadcast switching resolution).

    Frame ``i`` spells ``i``; ``sizes`` are (width, height) in turn, ``frames_per_size``
    frames each. The parts are encoded separately (each starts with a keyframe and
    its own parameter sets) and muxed as one stream with continuous timestamps.
    """
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rate = Fraction(fps).limit_denominator(1001)
    packets, start = [], 0
    for w, h in sizes:
        enc = av.CodecContext.create("libx264", "w")
        enc.width, enc.height, enc.pix_fmt = w, h, "yuv420p"
        enc.time_base, enc.framerate = 1 / rate, rate
        enc.options = {"preset": "veryfast", "g": "12", "bf": "2", "crf": "20"}
        for i in range(start, start + frames_per_size):
            vf = av.VideoFrame.from_ndarray(index_frame(i, w, h), format="rgb24")
            vf.pts = i
            packets += enc.encode(vf)
        packets += enc.encode(None)
        start += frames_per_size
    with av.open(str(path), mode="w", format="mpegts") as out:
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = sizes[0][0], sizes[0][1], "yuv420p"
        for packet in packets:
            packet.stream = stream
            packet.time_base = 1 / rate
            packet.pts += 2      # the B-frame delay: decoding timestamps start at 0
            packet.dts += 2
            out.mux(packet)
    return path


def write_timed_video(path, frames: Iterable[np.ndarray], times: Sequence[float]) -> Path:
    """Encode RGB uint8 frames to a Matroska file (H.264) where frame ``i`` is shown at ``times[i]`` seconds
    (millisecond time base): a variable-frame-rate video. ``times`` must increase."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ms = [int(round(t * 1000)) for t in times]
    if any(b <= a for a, b in zip(ms, ms[1:])):
        raise ValueError("times must increase by at least 1 ms")
    tb = Fraction(1, 1000)
    with av.open(str(path), mode="w", format="matroska") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = tb
        stream.options = {"preset": "veryfast", "bf": "2", "g": "12"}
        for frame, pts in zip(frames, ms):
            if stream.width == 0:
                stream.height, stream.width = frame.shape[:2]
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            vf.pts, vf.time_base = pts, tb
            for packet in stream.encode(vf):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


# --------------------------------------------------------------------------- moving shapes

#: class name -> unit direction (dx, dy) in image coordinates
DIRECTIONS = {"down": (0, 1), "left": (-1, 0), "right": (1, 0), "up": (0, -1)}


def moving_shape_frames(direction: str, nb_frames: int, width: int, height: int,
                        rng: np.random.Generator) -> np.ndarray:
    """``(nb_frames, height, width, 3)`` uint8: a random shape moving in ``direction`` over a textured background."""
    import cv2

    dx, dy = DIRECTIONS[direction]
    bg_small = rng.integers(30, 110, size=(height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    background = cv2.resize(bg_small, (width, height), interpolation=cv2.INTER_LINEAR)
    radius = int(rng.integers(min(width, height) // 10, min(width, height) // 5))
    room = (width if dx else height) - 2 * radius
    travel = float(rng.uniform(0.4, 0.8)) * room
    speed = travel / max(1, nb_frames - 1)
    # start so that the whole path stays inside the frame
    x0 = rng.uniform(radius + max(0.0, -dx * travel), width - radius - max(0.0, dx * travel))
    y0 = rng.uniform(radius + max(0.0, -dy * travel), height - radius - max(0.0, dy * travel))
    colour = tuple(int(c) for c in rng.integers(150, 256, size=3))
    square = bool(rng.integers(0, 2))
    out = np.empty((nb_frames, height, width, 3), np.uint8)
    for t in range(nb_frames):
        frame = background.copy()
        cx, cy = int(round(x0 + dx * speed * t)), int(round(y0 + dy * speed * t))
        if square:
            cv2.rectangle(frame, (cx - radius, cy - radius), (cx + radius, cy + radius), colour, -1)
        else:
            cv2.circle(frame, (cx, cy), radius, colour, -1)
        out[t] = frame
    return out


def make_action_dataset(root: str | os.PathLike, videos_per_class: int = 24, nb_frames: int = 32,
                        width: int = 128, height: int = 96, fps: float = 25, seed: int = 0,
                        codecs: Sequence[str] = ("h264", "mpeg4"), progress: bool = True) -> str:
    """Write ``root/{direction}/clip_XXX.{mp4,avi}``; returns the glob pattern for the generators.

    Classes are :data:`DIRECTIONS`; codecs alternate between files. Existing files are reused.
    """
    from tqdm.auto import tqdm

    root = Path(root)
    rng = np.random.default_rng(seed)
    jobs = [(cls, i) for cls in sorted(DIRECTIONS) for i in range(videos_per_class)]
    for cls, i in tqdm(jobs, desc="writing sample videos", disable=not progress, unit="video"):
        codec = codecs[i % len(codecs)]
        path = root / cls / f"clip_{i:03d}{DEFAULT_SUFFIX[codec]}"
        frames = moving_shape_frames(cls, nb_frames, width, height, rng)
        if not path.exists():
            write_video(path, frames, fps, codec)
    return str(root / "{classname}" / "*.*")


# --------------------------------------------------------------------------- long videos

def textured_frames(nb_frames: int, width: int = 640, height: int = 480, seed: int = 0):
    """RGB uint8 frames ``(height, width, 3)``: a smooth random texture drifting right and down, with a
    bright square bouncing over it (moving detail everywhere, so no frame is cheap to encode or decode)."""
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(height // 16 + 2, (width + 2 * nb_frames) // 16 + 2, 3), dtype=np.uint8)
    for t in range(nb_frames):
        dx = t % 64
        tex = cv2.resize(small[:, dx // 16: dx // 16 + width // 16 + 2], (width + 32, height + 32),
                         interpolation=cv2.INTER_LINEAR)
        frame = np.ascontiguousarray(tex[t % 16: t % 16 + height, dx % 16: dx % 16 + width])
        x = int((np.sin(t / 37.0) * 0.4 + 0.5) * (width - 60))
        y = int((np.cos(t / 23.0) * 0.4 + 0.5) * (height - 60))
        frame[y:y + 60, x:x + 60] = (240, 230, 40)
        yield frame


def anomaly_labels(nb_frames: int, seed: int = 0) -> np.ndarray:
    """uint8 per-frame labels of :func:`anomaly_frames`: 1 inside the anomaly intervals (60-200 frames,
    150-400 frames apart)."""
    rng = np.random.default_rng(seed)
    labels = np.zeros(nb_frames, np.uint8)
    t = int(rng.integers(100, 300))
    while t < nb_frames:
        dur = int(rng.integers(60, 200))
        labels[t:t + dur] = 1
        t += dur + int(rng.integers(150, 400))
    return labels


def anomaly_frames(labels: np.ndarray, width: int = 96, height: int = 96, seed: int = 0):
    """RGB uint8 frames: a ball gliding smoothly over a texture, shaking (jumping a few pixels each
    frame) where ``labels`` is 1: a long video with known anomalies."""
    import cv2

    rng = np.random.default_rng([seed, 1])
    bg = cv2.resize(rng.integers(40, 120, (height // 8, width // 8, 3), dtype=np.uint8), (width, height),
                    interpolation=cv2.INTER_LINEAR)
    for i in range(len(labels)):
        f = bg.copy()
        cx = width / 2 + width * 0.3 * np.sin(i / 40.0)
        cy = height / 2 + height * 0.3 * np.cos(i / 55.0)
        if labels[i]:
            cx += rng.uniform(-6, 6)
            cy += rng.uniform(-6, 6)
        cv2.circle(f, (int(round(cx)), int(round(cy))), 7, (250, 220, 60), -1)
        yield f


def write_once(path, frames, fps: float = 25, codec: str = "h264") -> str:
    """Encode ``frames`` to ``path`` unless it exists (written to a temporary name, then renamed)."""
    path = Path(path)
    if not path.exists():
        tmp = path.with_name("tmp_" + path.name)
        write_video(tmp, frames, fps, codec)
        os.replace(tmp, path)
    return str(path)
