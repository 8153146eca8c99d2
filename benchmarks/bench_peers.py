"""gpuvideo's CPU path against the libraries a user would pick today, on the same frames.

Workloads (issue 12), data written once by this script under ``bench_data/peers_v2/``
(git-ignored): a drifting colour texture (cells a twentieth of the width) with
per-pixel grain and a moving disc, a band of 24 bright/dark cells at the top of
every frame that spells the frame's index (bits 0-15) and its file's number (bits
16-23), so that any decoded, resized frame says which frame of which file it is,
and red, green and blue patches at the bottom, which show the channel order.

- W1: 96 MPEG-4 Part 2 AVI (4 classes x 24), 320x240, 90-180 frames, GOP 12,
  no B-frames; 8 uniform frames per file -> float32 ``(8, 8, 112, 112, 3)`` batches.
  Unit: clips/s.
- W2: 8 H.264 MP4 (2 classes x 4), 1920x1080, 300 frames, GOP 60, 2 B-frames;
  8 uniform frames per file -> 224x224, batch 8. Unit: clips/s.
- W3: one H.264 MP4 of 20,000 frames, 640x480 (GOP 24, 2 B-frames); the first 400
  windows of 16 consecutive frames, a window every 4 frames -> float32
  ``(16, 16, 224, 224, 3)`` batches. Unit: windows/s.
- W4: ``OpticalFlowGenerator`` (method 1, 5 flow pictures from 6 uniform frames,
  112x112, batch 8) over W1's files. Unit: clips/s.

Uniform frame ``i`` of ``n`` in a video of ``T`` frames is
``floor(i * (T - 1) / (n - 1) + 0.5)`` (gpuvideo's default), frame counts coming
from a demux of every packet; every contestant gets exactly these indices.

Contestants, each used as its documentation suggests, with its own resize where it
has one (else ``cv2.INTER_LINEAR``), batches assembled as float32 in [0, 1]:

- ``gpuvideo``: the public generators with their defaults (``shuffle=False``); the
  constructor (which indexes the files, index cache warm) is not timed.
- ``pyav``: a hand-written loop: per clip, demux the packets to find keyframes, seek
  to the keyframe before each wanted frame when that skips frames, decode forward,
  ``to_ndarray(width, height, format="rgb24")`` for wanted frames only. W3: one
  container, FFmpeg threads (``thread_type="AUTO"``, 2), frames converted once and
  the 12 frames shared by consecutive batches kept.
- ``opencv``: ``cv2.VideoCapture``: ``grab()`` forward, ``retrieve()`` wanted
  frames, ``cv2.resize`` (INTER_LINEAR) then BGR->RGB (``CAP_PROP_POS_FRAMES``
  seeking is slow and inexact for many codecs).
- ``torchcodec`` (0.13, CPU): ``VideoDecoder(..., dimension_order="NHWC",
  transforms=[Resize((h, w))])``, ``get_frames_at`` / ``get_frames_in_range``.
- ``decord2``: ``decord.VideoReader(path, width=w, height=h)``, ``get_batch``
  (FFmpeg bicubic resize).
- ``video-reader-rs``: ``PyVideoReader(path, target_width=w, target_height=h)``,
  ``get_batch`` (default ``fast_bilinear`` resize).
- W4 rival ``pool2``: a ``multiprocessing`` pool of 2 processes, each clip: PyAV
  decode, ``cv2.resize``, grey, ``cv2.calcOpticalFlowFarneback`` (0.5, 3, 15, 3, 5,
  1.1, 0), HSV picture (hue = angle / 2, S = 255, V = min-max speed) -> RGB.

W1, W2 and W4 peers decode the 8 clips of a batch on a pool of 2 threads (one
FFmpeg thread per decoder: two clips at once use both cores); W3 peers use one
decoder with 2 FFmpeg threads. Decoders are opened per clip inside the timed
loop (what a ``Dataset.__getitem__`` does), and once, untimed, for W3's long video.

Timing: for each workload and round, the contestants run one after the other in
an order rotated every round (so that load on a shared machine falls on all
alike); rate = units / wall seconds spent producing batches; the median of
``--rounds`` rounds is reported. In the first round every batch is checked
(:func:`check_frames`, the check's own time not counted): each frame's band must
spell the expected frame and file, its colour patches must be red, green, blue,
and, scaled down 8 times (INTER_AREA, which evens out the resizers' differences),
it must lie within ``TOL_MEAN`` grey levels (mean absolute difference) of a
reference: PyAV's full sequential decode of the file (no seeking), RGB at full
size, ``cv2.resize`` INTER_LINEAR (a frame decoded without its references fails).
W4's flow pictures are compared with pictures computed from those reference
frames. A contestant that fails is flagged and left out of "best other".

Decode floor: the fewest frames that must be decoded (from each file's keyframes:
seek to the keyframe before a wanted frame or decode forward, whichever decodes
fewer) / PyAV's raw single-thread decode rate (no conversion, measured in each
round on the workload's files) / 2 cores.

Usage (from the repository root; peers are optional, missing ones are skipped)::

    pip install torchcodec==0.13.0 decord2 video-reader-rs   # + Debian's ffmpeg for torchcodec
    python benchmarks/bench_peers.py [--rounds 3] [--only W1,W3] [--json out.json] [--write out.md]
    python benchmarks/bench_peers.py --quick --contestants gpuvideo,pyav,opencv
"""
from __future__ import annotations

import argparse
import bisect
import ctypes
import glob
import json
import multiprocessing
import os
import statistics
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

#: mean absolute difference (grey levels, 0-255) allowed between a contestant's frame and the
#: reference, both scaled down LOWPASS times: resizers differ (PyAV/swscale bilinear, decord2's
#: bicubic and torchcodec's antialiased bilinear by under 2 levels, video-reader-rs's fast_bilinear
#: by up to 9.1), a frame decoded without its references by tens of levels
TOL_MEAN = 12.0
#: the frames and the reference are compared after scaling both down by this factor (INTER_AREA)
LOWPASS = 8
#: mean absolute difference allowed for W4's flow pictures (same frames and arithmetic: rounding only)
TOL_FLOW = 2.0
CONTESTANTS = ("gpuvideo", "pyav", "opencv", "torchcodec", "decord2", "video-reader-rs", "pool2", "gpuvideo-uint8")
#: not a rival: gpuvideo with dtype='uint8' (the model rescales), to show what the float32 output costs
INFORMATIONAL = ("gpuvideo-uint8",)
WORKS = ("W1", "W2", "W3", "W4")
FARNEBACK = (0.5, 3, 15, 3, 5, 1.1, 0)   # pyr_scale, levels, winsize, iterations, poly_n, poly_sigma, flags


# =========================================================================== workload specs
@dataclass(frozen=True)
class Spec:
    """Sizes of the generated data and of the work; ``FULL`` is issue 12's, ``QUICK`` a smoke test."""
    w1_classes: int = 4
    w1_per_class: int = 24
    w1_size: tuple = (320, 240)
    w1_frames: tuple = (90, 180)          # frame count range per file
    w1_target: tuple = (112, 112)
    w2_classes: int = 2
    w2_per_class: int = 4
    w2_size: tuple = (1920, 1080)
    w2_frames: int = 300
    w2_gop: int = 60
    w2_target: tuple = (224, 224)
    w3_size: tuple = (640, 480)
    w3_frames: int = 20000
    w3_windows: int = 400
    w3_length: int = 16
    w3_stride: int = 4
    w3_batch: int = 16
    w3_target: tuple = (224, 224)
    nb_frames: int = 8
    batch: int = 8
    flow_pairs: int = 5

    @property
    def tag(self) -> str:
        return "quick" if self == QUICK else "full"


FULL = Spec()
QUICK = Spec(w1_classes=2, w1_per_class=4, w1_size=(160, 120), w1_frames=(40, 60),
             w2_classes=1, w2_per_class=2, w2_size=(320, 240), w2_frames=60, w2_gop=30,
             w3_size=(160, 120), w3_frames=200, w3_windows=24, w3_batch=8, w3_target=(112, 112))


# =========================================================================== frames that say who they are
_DARK, _BRIGHT = 40, 215
_ROWS, _COLS = 2, 12          # 24 cells: bits 0-15 frame index, 16-23 file number
DATA_VERSION = 2              # bump when the generated frames change (data and references are rewritten)


def band_height(height: int) -> int:
    """Rows of the code band at the top of a ``height``-row frame: a sixth (heights here are multiples of 12)."""
    return max(4, int(round(height / 12.0)) * 2)


def stamp(frame: np.ndarray, index: int, file_id: int) -> None:
    """Write the code band (top) and the red, green, blue patches (bottom) into RGB uint8 ``frame`` ``(H, W, 3)``."""
    h, w = frame.shape[:2]
    bh = band_height(h)
    for k in range(3):
        patch = frame[h - bh // 2:, k * w // 3:(k + 1) * w // 3]
        patch[:] = _DARK
        patch[..., k] = _BRIGHT
    code = (int(index) & 0xFFFF) | ((int(file_id) & 0xFF) << 16)
    for b in range(_ROWS * _COLS):
        r, c = divmod(b, _COLS)
        y0, y1 = r * bh // _ROWS, (r + 1) * bh // _ROWS
        x0, x1 = c * w // _COLS, (c + 1) * w // _COLS
        frame[y0:y1, x0:x1] = _BRIGHT if (code >> b) & 1 else _DARK


def read_codes(frames: np.ndarray, scale: float = 1.0, band_fraction: float | None = None) -> np.ndarray:
    """``(index, file)`` pairs, int64 ``(n, 2)``, spelled by frames ``(n, H, W, C)``.

    ``frames * scale`` must be in grey levels (0-255); ``band_fraction`` is the band's
    height over the frame's (by default 1/6, see :func:`band_height`).
    Each cell is read at its centre third, so that any sane resizer keeps it.
    """
    a = np.asarray(frames)
    n, h, w = a.shape[:3]
    frac = band_fraction if band_fraction is not None else 1 / 6
    bh = frac * h
    code = np.zeros(n, np.int64)
    for b in range(_ROWS * _COLS):
        r, c = divmod(b, _COLS)
        y0, y1 = (r + 1 / 3) * bh / _ROWS, (r + 2 / 3) * bh / _ROWS
        x0, x1 = (c + 1 / 3) * w / _COLS, (c + 2 / 3) * w / _COLS
        ys = slice(int(y0), max(int(y0) + 1, int(np.ceil(y1))))
        xs = slice(int(x0), max(int(x0) + 1, int(np.ceil(x1))))
        cell = a[:, ys, xs].reshape(n, -1).astype(np.float32).mean(axis=1) * scale
        code |= (cell > (_DARK + _BRIGHT) / 2).astype(np.int64) << b
    return np.stack([code & 0xFFFF, code >> 16], axis=1)


def read_patches(frames: np.ndarray) -> np.ndarray:
    """Mean colour of the centres of the three bottom patches, float32 ``(n, 3 patches, 3 channels)``."""
    a = np.asarray(frames)
    h, w = a.shape[1:3]
    y0, y1 = int(h * (1 - 1 / 18)), max(int(h * (1 - 1 / 18)) + 1, int(h * (1 - 1 / 36)))
    out = []
    for k in range(3):
        x0, x1 = int((k + 0.3) * w / 3), int((k + 0.7) * w / 3)
        out.append(a[:, y0:y1, x0:x1].reshape(len(a), -1, a.shape[-1]).astype(np.float32).mean(axis=1))
    return np.stack(out, axis=1)


def scene_frames(n: int, width: int, height: int, seed: int, file_id: int) -> Iterator[np.ndarray]:
    """``n`` RGB uint8 frames ``(height, width, 3)``: a colour texture with per-pixel grain panning on a
    circle (about ``width/160`` px per frame), a bright disc on a fast Lissajous path, the code band on
    top and the colour patches at the bottom (see :func:`stamp`)."""
    import cv2

    rng = np.random.default_rng(seed)
    pad = max(width, height) // 4
    big_w, big_h = width + 2 * pad, height + 2 * pad
    cell = max(16, width // 20)
    coarse = rng.integers(0, 256, size=(big_h // cell + 2, big_w // cell + 2, 3), dtype=np.uint8)
    texture = cv2.resize(coarse, (big_w, big_h), interpolation=cv2.INTER_CUBIC).astype(np.int16)
    texture += rng.integers(-24, 25, size=(big_h, big_w, 1), dtype=np.int16)   # grain
    texture = np.clip(texture, 0, 255).astype(np.uint8)
    radius = 0.9 * pad
    omega = (width / 160.0) / radius                      # rad per frame
    phase = rng.uniform(0, 2 * np.pi)
    bh = band_height(height)
    disc = max(3, height // 10)
    colour = tuple(int(v) for v in rng.integers(160, 256, size=3))
    for t in range(n):
        ox = int(round(pad + radius * np.cos(omega * t + phase)))
        oy = int(round(pad + radius * np.sin(omega * t + phase)))
        frame = np.ascontiguousarray(texture[oy:oy + height, ox:ox + width])
        cx = int(width / 2 + 0.38 * width * np.sin(t / 9.0 + phase))
        cy = int(bh + disc + (height - 3 * bh // 2 - 2 * disc) * (0.5 + 0.5 * np.cos(t / 6.0 + 2 * phase)))
        cv2.circle(frame, (cx, cy), disc, colour, -1)
        stamp(frame, t, file_id)
        yield frame


# =========================================================================== data on disk
def _encode_h264(path: Path, frames: Iterator[np.ndarray], gop: int, fps: int = 25) -> None:
    """H.264 (libx264 veryfast, CRF 20, 2 B-frames, keyframe every ``gop`` frames exactly)."""
    import av

    with av.open(str(path), mode="w") as out:
        stream = None
        for frame in frames:
            if stream is None:
                stream = out.add_stream("libx264", rate=fps)
                stream.height, stream.width = frame.shape[:2]
                stream.pix_fmt = "yuv420p"
                stream.options = {"preset": "veryfast", "crf": "20", "bf": "2", "g": str(gop),
                                  "keyint_min": str(gop), "sc_threshold": "0"}
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def _write_once(path: Path, writer: Callable[[Path], None]) -> None:
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("tmp_" + path.name)
    writer(tmp)
    os.replace(tmp, path)


def make_data(root: Path, spec: Spec, works: Sequence[str]) -> dict:
    """Write (once) the files the chosen workloads need; returns ``{"W1": [paths], "W2": [...], "W3": path}``."""
    from gpuvideo.synthetic import write_video

    base = root / f"peers_v{DATA_VERSION}" / spec.tag
    out: dict = {}
    if {"W1", "W4"} & set(works):
        files, rng = [], np.random.default_rng(1)
        counts = rng.integers(spec.w1_frames[0], spec.w1_frames[1] + 1, size=spec.w1_classes * spec.w1_per_class)
        w, h = spec.w1_size
        for k, n in enumerate(counts):
            path = base / "w1" / f"c{k // spec.w1_per_class}" / f"f{k:03d}.avi"
            _write_once(path, lambda p, n=n, k=k: write_video(p, scene_frames(int(n), w, h, 100 + k, k), 25, "mpeg4"))
            files.append(str(path))
            _progress(f"W1 data {k + 1}/{len(counts)}")
        out["W1"] = files
    if "W2" in works:
        files = []
        w, h = spec.w2_size
        total = spec.w2_classes * spec.w2_per_class
        for k in range(total):
            path = base / "w2" / f"c{k // spec.w2_per_class}" / f"f{k:03d}.mp4"
            _write_once(path, lambda p, k=k: _encode_h264(p, scene_frames(spec.w2_frames, w, h, 200 + k, k),
                                                          spec.w2_gop))
            files.append(str(path))
            _progress(f"W2 data {k + 1}/{total}")
        out["W2"] = files
    if "W3" in works:
        w, h = spec.w3_size
        path = base / "w3" / f"long_{spec.w3_frames}.mp4"
        _progress("W3 data (a long video: the first run takes a minute)")
        _write_once(path, lambda p: write_video(p, scene_frames(spec.w3_frames, w, h, 300, 0), 25, "h264"))
        out["W3"] = str(path)
    _progress("")
    return out


def _progress(msg: str) -> None:
    if sys.stderr.isatty():
        sys.stderr.write("\r" + msg.ljust(60) + ("\n" if not msg else ""))
        sys.stderr.flush()


# =========================================================================== indices, keyframes, floor
@dataclass
class FileIndex:
    """Presentation-ordered packet timestamps of a file's video stream and its keyframe indices."""
    path: str
    pts: list
    keyframes: list
    time_base: float

    @property
    def frame_count(self) -> int:
        return len(self.pts)


def scan(path: str) -> FileIndex:
    """Demux every packet (no decoding): timestamps in presentation order and keyframe indices."""
    import av

    with av.open(path) as c:
        s = c.streams.video[0]
        pts, keys = [], []
        for p in c.demux(s):
            if p.pts is None:
                continue
            pts.append(p.pts)
            keys.append(bool(p.is_keyframe))
        tb = float(s.time_base)
    order = sorted(range(len(pts)), key=pts.__getitem__)
    rank = {pts[i]: r for r, i in enumerate(order)}
    return FileIndex(path, [pts[i] for i in order], sorted(rank[pts[i]] for i in range(len(pts)) if keys[i]), tb)


def uniform_indices(frame_count: int, n: int) -> list[int]:
    """Frame ``i`` of ``n``: ``floor(i * (T - 1) / (n - 1) + 0.5)``, first and last frame included."""
    if n == 1:
        return [0]
    t = frame_count - 1
    return [(2 * i * t + (n - 1)) // (2 * (n - 1)) for i in range(n)]


def min_frames(keyframes: Sequence[int], wanted: Sequence[int]) -> int:
    """Fewest frames decoded to reach every ``wanted`` frame: at each wanted frame, either decode
    forward from the current position or seek to the keyframe at or before it, whichever is shorter."""
    pos, total = None, 0
    for w in sorted(set(wanted)):
        j = bisect.bisect_right(keyframes, w) - 1
        k = keyframes[j] if j >= 0 else 0
        forward = w - pos + 1 if pos is not None and pos <= w else None
        cost = w - k + 1 if forward is None else min(forward, w - k + 1)
        total += cost
        pos = w + 1
    return total


def raw_decode_rate(paths: Sequence[str], max_frames: int) -> float:
    """PyAV decode-only frames/s on one thread (no colour conversion), over up to ``max_frames`` frames."""
    import av

    n, t0 = 0, time.perf_counter()
    for path in paths:
        with av.open(path) as c:
            s = c.streams.video[0]
            s.thread_type = "NONE"
            s.thread_count = 1
            for _ in c.decode(s):
                n += 1
                if n >= max_frames:
                    return n / (time.perf_counter() - t0)
    return n / (time.perf_counter() - t0)


# =========================================================================== reference and check
def resize_linear(frame: np.ndarray, size: tuple) -> np.ndarray:
    import cv2

    return cv2.resize(frame, tuple(size), interpolation=cv2.INTER_LINEAR)


def reference_frames(path: str, indices: Sequence[int], size: tuple) -> dict[int, np.ndarray]:
    """``{index: uint8 (h, w, 3)}``: a full sequential PyAV decode (no seek), RGB at full size,
    ``cv2.resize`` INTER_LINEAR to ``size`` (width, height)."""
    import av

    want, out = set(int(i) for i in indices), {}
    last = max(want)
    with av.open(path) as c:
        for i, f in enumerate(c.decode(c.streams.video[0])):
            if i in want:
                out[i] = resize_linear(f.to_ndarray(format="rgb24"), size)
            if i >= last:
                break
    return out


def flow_picture(prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
    """Farneback flow between grey uint8 frames ``(h, w)`` drawn as RGB uint8 ``(h, w, 3)``:
    hue = direction (degrees / 2), saturation 255, value = speed min-max normalised to 0-255."""
    import cv2

    if np.array_equal(prev, nxt):
        return np.zeros(prev.shape + (3,), np.uint8)
    flow = cv2.calcOpticalFlowFarneback(prev, nxt, None, *FARNEBACK)
    mag, ang = cv2.cartToPolar(flow[..., 0], flow[..., 1], angleInDegrees=True)
    hsv = np.empty(prev.shape + (3,), np.uint8)
    hsv[..., 0] = (ang / 2).astype(np.uint8)
    hsv[..., 1] = 255
    hsv[..., 2] = cv2.normalize(mag, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def flow_pictures(frames: np.ndarray) -> np.ndarray:
    """RGB uint8 ``(T, h, w, 3)`` -> flow pictures of consecutive pairs, uint8 ``(T-1, h, w, 3)``."""
    import cv2

    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    return np.stack([flow_picture(a, b) for a, b in zip(grey[:-1], grey[1:])])


def check_frames(frames, indices: Sequence[int], file_id: int | None = None,
                 reference: Sequence[np.ndarray | None] | None = None, scale: float = 255.0,
                 tol: float = TOL_MEAN, band_fraction: float | None = None, what: str = "") -> list[str]:
    """Problems with decoded frames ``(n, h, w, 3)`` (``frames * scale`` in grey levels): empty when right.

    Frame ``k`` must spell ``indices[k]`` (and ``file_id``) in its code band, show red,
    green and blue in its bottom patches (channel order), and, both scaled down
    ``LOWPASS`` times, lie within ``tol`` grey levels (mean absolute difference) of
    ``reference[k]`` (uint8, same size; None entries are skipped). Also checks shape,
    finiteness and range.
    """
    import cv2

    a = np.asarray(frames)
    tag = f"{what}: " if what else ""
    if a.ndim != 4 or a.shape[0] != len(indices) or a.shape[-1] != 3:
        return [f"{tag}expected shape ({len(indices)}, h, w, 3), got {a.shape}"]
    vals = a.astype(np.float32) * scale
    if not np.isfinite(vals).all() or vals.min() < -0.5 or vals.max() > 255.5:
        return [f"{tag}values outside [0, 255] after scaling by {scale}"]
    problems = []
    codes = read_codes(vals, band_fraction=band_fraction)
    for k, (idx, fid) in enumerate(codes.tolist()):
        if idx != indices[k] or (file_id is not None and fid != file_id):
            problems.append(f"{tag}frame {k}: expected frame {indices[k]}"
                            + (f" of file {file_id}" if file_id is not None else "")
                            + f", got frame {idx}" + (f" of file {fid}" if file_id is not None else ""))
    patches = read_patches(vals)
    for k in np.flatnonzero((patches.argmax(axis=2) != np.arange(3)).any(axis=1)).tolist():
        problems.append(f"{tag}frame {k}: colour patches are not red, green, blue (channel order?)")
    if reference is not None:
        h, w = a.shape[1:3]
        small = (max(1, w // LOWPASS), max(1, h // LOWPASS))
        for k, ref in enumerate(reference):
            if ref is None:
                continue
            if ref.shape != a.shape[1:]:
                problems.append(f"{tag}frame {k}: shape {a.shape[1:]} but reference {ref.shape}")
                continue
            d = float(np.abs(cv2.resize(vals[k], small, interpolation=cv2.INTER_AREA)
                             - cv2.resize(ref.astype(np.float32), small, interpolation=cv2.INTER_AREA)).mean())
            if d > tol:
                problems.append(f"{tag}frame {k} (index {indices[k]}): mean |difference| {d:.1f} grey levels "
                                f"from the reference (> {tol}, both scaled down {LOWPASS}x)")
    return problems


def check_flow(pictures, reference: np.ndarray, scale: float = 255.0, tol: float = TOL_FLOW,
               what: str = "") -> list[str]:
    """Problems with flow pictures ``(T, h, w, 3)`` against reference pictures uint8 (mean |difference|)."""
    a = np.asarray(pictures, np.float32) * scale
    tag = f"{what}: " if what else ""
    if a.shape != reference.shape:
        return [f"{tag}shape {a.shape}, reference {reference.shape}"]
    d = float(np.abs(a - reference.astype(np.float32)).mean())
    return [] if d <= tol else [f"{tag}flow pictures {d:.2f} grey levels from the reference (> {tol})"]


# =========================================================================== peers
class Unavailable(Exception):
    """A contestant that cannot be installed or loaded here (reported as skipped, with the reason)."""


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"[:200]


def load_torchcodec():
    try:
        import torchcodec
        from torchcodec.decoders import VideoDecoder
        from torchcodec.transforms import Resize
    except Exception as e:   # ImportError, or RuntimeError/OSError when FFmpeg's shared libraries are missing
        raise Unavailable(_first_line(e)) from e
    return dict(VideoDecoder=VideoDecoder, Resize=Resize, version=torchcodec.__version__)


def load_decord():
    try:
        import decord
    except Exception as e:
        raise Unavailable(_first_line(e)) from e
    return dict(decord=decord, version=getattr(decord, "__version__", "?"))


def load_video_reader():
    """video-reader-rs 0.4.5 links a bundled ``libsharpyuv`` its loader does not find: preload it."""
    import importlib.metadata
    import importlib.util

    try:
        spec = importlib.util.find_spec("video_reader")
    except Exception as e:
        raise Unavailable(_first_line(e)) from e
    if spec is None or not spec.submodule_search_locations:
        raise Unavailable("video_reader (pip install video-reader-rs) is not installed")
    site = Path(list(spec.submodule_search_locations)[0]).parent
    for lib in sorted(glob.glob(str(site / "video_reader_rs.libs" / "libsharpyuv*"))):
        try:
            ctypes.CDLL(lib, mode=ctypes.RTLD_GLOBAL)
        except OSError as e:
            raise Unavailable(f"cannot preload {Path(lib).name}: {_first_line(e)}") from e
    try:
        from video_reader import PyVideoReader
    except Exception as e:
        raise Unavailable(_first_line(e)) from e
    try:
        version = importlib.metadata.version("video-reader-rs")
    except importlib.metadata.PackageNotFoundError:
        version = "?"
    return dict(PyVideoReader=PyVideoReader, version=version)


# --------------------------------------------------------------------------- W1/W2: one clip -> uint8 (n, h, w, 3), frames decoded
def demux_index(container, stream) -> tuple[list, dict, list[int]]:
    """One demux pass: ``(presentation timestamps in order, {pts: frame index}, keyframe indices)``."""
    pts, keys = [], []
    for p in container.demux(stream):
        if p.pts is not None:
            pts.append(p.pts)
            if p.is_keyframe:
                keys.append(p.pts)
    order = sorted(pts)
    index_of = {p: i for i, p in enumerate(order)}
    return order, index_of, sorted(index_of[p] for p in keys)


def pyav_clip(path: str, indices: Sequence[int], size: tuple | None, threads: int = 1,
              resize: str = "swscale") -> tuple[np.ndarray, int]:
    """A competent PyAV loop: demux once to learn timestamps and keyframes, then for each wanted frame
    seek to its keyframe when that skips frames, decode forward, convert wanted frames only.
    ``resize``: ``"swscale"`` (PyAV's own, while converting) or ``"cv2"`` (full-size RGB, then INTER_LINEAR)."""
    import av

    with av.open(path) as c:
        s = c.streams.video[0]
        s.thread_count = threads
        order, index_of, keyframes = demux_index(c, s)
        want = set(int(i) for i in indices)
        got, decoded, pos, frames = {}, 0, None, None
        for w in sorted(want):
            k = keyframes[max(0, bisect.bisect_right(keyframes, w) - 1)]
            if frames is None or pos is None or pos > w or k > pos:
                c.seek(order[k], stream=s, backward=True, any_frame=False)
                frames = c.decode(s)
            for f in frames:
                decoded += 1
                i = index_of[f.pts]
                pos = i + 1
                if i in want and i not in got:
                    if size is None:
                        got[i] = f.to_ndarray(format="rgb24")
                    elif resize == "swscale":
                        got[i] = f.to_ndarray(width=size[0], height=size[1], format="rgb24")
                    else:
                        got[i] = resize_linear(f.to_ndarray(format="rgb24"), size)
                if i >= w:
                    break
    return np.stack([got[int(i)] for i in indices]), decoded


def opencv_clip(path: str, indices: Sequence[int], size: tuple) -> tuple[np.ndarray, int]:
    """``cv2.VideoCapture``: grab forward to the last wanted frame, retrieve the wanted ones,
    resize (INTER_LINEAR) then BGR -> RGB."""
    import cv2

    want, got, decoded = set(int(i) for i in indices), {}, 0
    cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    try:
        for i in range(max(want) + 1):
            if not cap.grab():
                break
            decoded += 1
            if i in want:
                ok, bgr = cap.retrieve()
                if ok:
                    got[i] = cv2.cvtColor(cv2.resize(bgr, tuple(size), interpolation=cv2.INTER_LINEAR),
                                          cv2.COLOR_BGR2RGB)
    finally:
        cap.release()
    missing = [i for i in want if i not in got]
    if missing:
        raise RuntimeError(f"{path}: OpenCV could not read frames {missing[:5]}")
    return np.stack([got[int(i)] for i in indices]), decoded


def make_clip_readers(peers: dict) -> dict[str, Callable]:
    """contestant -> ``read(path, indices, size) -> (uint8 (n, h, w, 3), frames decoded or None)``."""
    readers: dict[str, Callable] = {"pyav": pyav_clip, "opencv": opencv_clip}
    if "torchcodec" in peers:
        tc = peers["torchcodec"]

        def torchcodec_clip(path, indices, size):
            dec = tc["VideoDecoder"](path, dimension_order="NHWC", num_ffmpeg_threads=1,
                                     transforms=[tc["Resize"]((size[1], size[0]))])
            return dec.get_frames_at(list(map(int, indices))).data.numpy(), None
        readers["torchcodec"] = torchcodec_clip
    if "decord2" in peers:
        decord = peers["decord2"]["decord"]

        def decord_clip(path, indices, size):
            vr = decord.VideoReader(path, width=size[0], height=size[1], num_threads=1)
            return vr.get_batch(list(map(int, indices))).asnumpy(), None
        readers["decord2"] = decord_clip
    if "video-reader-rs" in peers:
        pvr = peers["video-reader-rs"]["PyVideoReader"]

        def video_reader_clip(path, indices, size):
            r = pvr(path, threads=1, target_width=size[0], target_height=size[1])
            return np.asarray(r.get_batch(list(map(int, indices)))), None
        readers["video-reader-rs"] = video_reader_clip
    return readers


# --------------------------------------------------------------------------- W3: frame sources read in order
class _PyAVSource:
    def __init__(self, path, size):
        import av

        self.c = av.open(path)
        s = self.c.streams.video[0]
        s.thread_type = "AUTO"
        s.thread_count = 2
        self.frames, self.size, self.pos, self.decoded = self.c.decode(s), size, 0, 0

    def read(self, a, b):
        assert a == self.pos, "sequential reads only"
        out = np.empty((b - a, self.size[1], self.size[0], 3), np.uint8)
        for k in range(b - a):
            out[k] = next(self.frames).to_ndarray(width=self.size[0], height=self.size[1], format="rgb24")
        self.pos, self.decoded = b, self.decoded + b - a
        return out

    def close(self):
        self.c.close()


class _OpenCVSource:
    def __init__(self, path, size):
        import cv2

        self.cap, self.size, self.pos, self.decoded = cv2.VideoCapture(path, cv2.CAP_FFMPEG), tuple(size), 0, 0

    def read(self, a, b):
        import cv2

        assert a == self.pos, "sequential reads only"
        out = np.empty((b - a, self.size[1], self.size[0], 3), np.uint8)
        for k in range(b - a):
            ok, bgr = self.cap.read()
            if not ok:
                raise RuntimeError(f"OpenCV could not read frame {a + k}")
            cv2.cvtColor(cv2.resize(bgr, self.size, interpolation=cv2.INTER_LINEAR), cv2.COLOR_BGR2RGB, dst=out[k])
        self.pos, self.decoded = b, self.decoded + b - a
        return out

    def close(self):
        self.cap.release()


def make_window_sources(peers: dict) -> dict[str, Callable]:
    """contestant -> ``open(path, size)``, an object with ``read(a, b)`` -> uint8 ``(b - a, h, w, 3)``
    (frames ``a..b-1``, read in order), ``decoded`` (or None) and ``close()``."""
    sources: dict[str, Callable] = {"pyav": _PyAVSource, "opencv": _OpenCVSource}

    class _Simple:
        decoded = None

        def __init__(self, read, close=lambda: None):
            self.read, self.close = read, close

    if "torchcodec" in peers:
        tc = peers["torchcodec"]

        def torchcodec_source(path, size):
            dec = tc["VideoDecoder"](path, dimension_order="NHWC", num_ffmpeg_threads=2,
                                     transforms=[tc["Resize"]((size[1], size[0]))])
            return _Simple(lambda a, b: dec.get_frames_in_range(a, b).data.numpy())
        sources["torchcodec"] = torchcodec_source
    if "decord2" in peers:
        decord = peers["decord2"]["decord"]

        def decord_source(path, size):
            vr = decord.VideoReader(path, width=size[0], height=size[1], num_threads=2)
            return _Simple(lambda a, b: vr.get_batch(list(range(a, b))).asnumpy())
        sources["decord2"] = decord_source
    if "video-reader-rs" in peers:
        pvr = peers["video-reader-rs"]["PyVideoReader"]

        def video_reader_source(path, size):
            r = pvr(path, threads=2, target_width=size[0], target_height=size[1])
            return _Simple(lambda a, b: np.asarray(r.get_batch(list(range(a, b)))))
        sources["video-reader-rs"] = video_reader_source
    return sources


# --------------------------------------------------------------------------- W4 rival: a pool of 2 processes
def _pool_init() -> None:
    """Import and warm the worker's libraries before the clock starts."""
    import av  # noqa: F401
    import cv2

    a = np.zeros((32, 32), np.uint8)
    cv2.calcOpticalFlowFarneback(a, a + 1, None, *FARNEBACK)


def _pid_after_nap(_) -> int:
    time.sleep(0.05)
    return os.getpid()


def _flow_clip(job) -> tuple[np.ndarray, int]:
    """One W4 clip in a worker: PyAV decode, ``cv2.resize``, grey, Farneback, pictures (uint8 ``(T-1, h, w, 3)``)."""
    path, indices, size = job
    frames, decoded = pyav_clip(path, indices, size, threads=1, resize="cv2")
    return flow_pictures(frames), decoded


# =========================================================================== workloads
@dataclass
class Work:
    """One workload: its files, frame indices, references and floor (see the module doc)."""
    name: str
    unit: str                  # "clips" or "windows"
    size: tuple                # (width, height) of the output frames
    batch: int
    files: list = field(default_factory=list)
    pattern: str = ""
    indices: list = field(default_factory=list)      # per file (clip workloads)
    refs: list = field(default_factory=list)         # per file: list of uint8 frames, or flow pictures (W4)
    length: int = 0            # W3
    stride: int = 0
    windows: int = 0
    frame_refs: dict = field(default_factory=dict)   # W3: frame index -> uint8 frame (a subset)
    min_frames: int = 0
    floor_paths: list = field(default_factory=list)
    floor_max_frames: int = 0

    @property
    def units(self) -> int:
        return self.windows if self.name == "W3" else len(self.files)

    def check(self, x, key) -> list[str]:
        """Problems with batch ``x`` (float32 in [0, 1], or uint8 in [0, 255]); ``key``: file numbers (clips) or
        window numbers (W3)."""
        x = np.asarray(x)
        if x.dtype == np.uint8:
            x = x.astype(np.float32) / np.float32(255.0)      # the check's time is not counted
        if len(x) != len(key):
            return [f"batch of {len(x)}, expected {len(key)}"]
        problems = []
        if self.name == "W4":
            for k, f in enumerate(key):
                problems += check_flow(x[k], self.refs[f], what=f"file {f}")
        elif self.name == "W3":
            h, w = self.size[1], self.size[0]
            idx = [j * self.stride + t for j in key for t in range(self.length)]
            problems += check_frames(x.reshape(-1, h, w, 3), idx, 0, [self.frame_refs.get(i) for i in idx],
                                     what=f"windows {key[0]}-{key[-1]}")
        else:
            for k, f in enumerate(key):
                problems += check_frames(x[k], self.indices[f], f, self.refs[f], what=f"file {f}")
        return problems


def _refs_cached(cache: Path, compute: Callable[[], dict]) -> dict:
    """``compute()`` (a dict of uint8 arrays keyed by str) saved as ``cache`` (.npz) and reused."""
    if cache.exists():
        with np.load(cache) as z:
            return {k: z[k] for k in z.files}
    out = compute()
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name("tmp_" + cache.name)
    np.savez(tmp, **out)
    os.replace(tmp, cache)
    return out


def build_work(name: str, spec: Spec, data: dict, root: Path) -> Work:
    """Scan the files, fix the frame indices, load (or compute once) the references, count the floor's frames."""
    base = root / f"peers_v{DATA_VERSION}" / spec.tag
    if name in ("W1", "W2", "W4"):
        files = data["W1" if name in ("W1", "W4") else "W2"]
        sub = "w1" if name != "W2" else "w2"
        ext = ".avi" if sub == "w1" else ".mp4"
        size = spec.w2_target if name == "W2" else spec.w1_target
        n = spec.flow_pairs + 1 if name == "W4" else spec.nb_frames
        work = Work(name, "clips", tuple(size), spec.batch, files=list(files),
                    pattern=str(base / sub / "{classname}" / f"*{ext}"))
        infos = [scan(p) for p in files]
        work.indices = [uniform_indices(i.frame_count, n) for i in infos]
        work.min_frames = sum(min_frames(i.keyframes, ix) for i, ix in zip(infos, work.indices))
        work.floor_paths = list(files)
        work.floor_max_frames = 60 if name == "W2" else 600
        stamp_ = f"{name}_{n}_{size[0]}x{size[1]}_{sum(os.path.getsize(p) for p in files)}"

        def compute():
            out = {}
            for f, (p, ix) in enumerate(zip(files, work.indices)):
                ref = reference_frames(p, ix, size)
                frames = np.stack([ref[i] for i in ix])
                out[str(f)] = flow_pictures(frames) if name == "W4" else frames
                _progress(f"{name} reference {f + 1}/{len(files)}")
            _progress("")
            return out
        refs = _refs_cached(base / f"refs_{stamp_}.npz", compute)
        work.refs = [refs[str(f)] if name == "W4" else list(refs[str(f)]) for f in range(len(files))]
        return work
    path = data["W3"]
    work = Work("W3", "windows", tuple(spec.w3_target), spec.w3_batch, files=[path], length=spec.w3_length,
                stride=spec.w3_stride, windows=spec.w3_windows)
    last = (spec.w3_windows - 1) * spec.w3_stride + spec.w3_length       # frames 0..last-1
    info = scan(path)
    if info.frame_count < last:
        raise SystemExit(f"{path} has {info.frame_count} frames, W3 needs {last}")
    work.min_frames = min_frames(info.keyframes, range(last))
    work.floor_paths, work.floor_max_frames = [path], 400
    sample = [i for i in range(last) if i % 8 == 3]                       # pixels checked on these frames
    stamp_ = f"W3_{last}_{work.size[0]}x{work.size[1]}_{os.path.getsize(path)}"
    refs = _refs_cached(base / f"refs_{stamp_}.npz",
                        lambda: {str(i): f for i, f in reference_frames(path, sample, work.size).items()})
    work.frame_refs = {int(k): v for k, v in refs.items()}
    return work


# =========================================================================== contestants on a workload
@dataclass
class Setup:
    """A contestant ready to run: ``batches()`` yields ``(x, key)``; ``decoded()`` frames decoded (or None)."""
    batches: Callable[[], Iterator]
    decoded: Callable[[], int | None] = lambda: None
    close: Callable[[], None] = lambda: None


def _to_float(u8: np.ndarray) -> np.ndarray:
    x = u8.astype(np.float32)
    x *= np.float32(1 / 255)
    return x


def _gpuvideo_setup(work: Work, index_cache: str, dtype: str = "float32") -> Setup:
    import gpuvideo

    common = dict(batch_size=work.batch, target_shape=work.size, shuffle=False, index_cache=index_cache,
                  progress=False, dtype=dtype)
    if work.name == "W3":
        gen = gpuvideo.VideoTimeseriesGenerator(work.files[0], None, length=work.length, stride=work.stride,
                                                **common)
        nb = -(-work.windows // work.batch)

        def batches():
            for b in range(nb):
                ids = list(range(b * work.batch, min(work.windows, (b + 1) * work.batch)))
                x = gen[b]
                yield (x[0] if isinstance(x, tuple) else x)[:len(ids)], ids
        return Setup(batches, lambda: gen.decoded, gen.close)
    if work.name == "W4":
        gen = gpuvideo.OpticalFlowGenerator(glob_pattern=work.pattern, nb_frames=len(work.indices[0]) - 1,
                                            method=gpuvideo.METHOD_OPTICAL_FLOW, **common)
    else:
        gen = gpuvideo.VideoFrameGenerator(glob_pattern=work.pattern, nb_frames=len(work.indices[0]), **common)
    if [os.path.abspath(p) for p in gen.files] != [os.path.abspath(p) for p in work.files]:
        raise RuntimeError("gpuvideo found other files than the workload's")

    def batches():
        n = len(work.files)
        for b in range(len(gen)):
            x, _ = gen[b]
            ids = [(b * work.batch + k) % n for k in range(len(x))]
            yield x, ids
    return Setup(batches)


def _clip_setup(work: Work, read: Callable, pool: ThreadPoolExecutor, counts: bool) -> Setup:
    total = [0]

    def one(f):
        return read(work.files[f], work.indices[f], work.size)

    def batches():
        n = len(work.files)
        for b in range(-(-n // work.batch)):
            ids = list(range(b * work.batch, min(n, (b + 1) * work.batch)))
            res = list(pool.map(one, ids))
            if counts:
                total[0] += sum(r[1] for r in res)
            yield _to_float(np.stack([r[0] for r in res])), ids
    return Setup(batches, (lambda: total[0]) if counts else (lambda: None))


def _window_setup(work: Work, open_source: Callable) -> Setup:
    src = open_source(work.files[0], work.size)
    L, S, B = work.length, work.stride, work.batch

    def batches():
        have_lo, have = 0, np.empty((0, work.size[1], work.size[0], 3), np.uint8)
        for b in range(-(-work.windows // B)):
            j0, j1 = b * B, min(work.windows, (b + 1) * B)
            lo, hi = j0 * S, (j1 - 1) * S + L                 # this batch's frames: lo..hi-1
            keep = have[max(0, lo - have_lo):]                # frames shared with the previous batch
            if have_lo + len(have) < lo:                      # a gap (stride > length): read through it
                src.read(have_lo + len(have), lo)
            new = src.read(lo + len(keep), hi)
            buf = np.concatenate([keep, new]) if len(keep) else new
            frames = _to_float(buf)                           # one conversion per frame, not per window
            rel = (np.arange(j0, j1) * S - lo)[:, None] + np.arange(L)[None, :]
            yield frames[rel], list(range(j0, j1))
            have_lo, have = lo, buf
    return Setup(batches, lambda: src.decoded, src.close)


def _pool_setup(work: Work, pool) -> Setup:
    total = [0]

    def batches():
        n = len(work.files)
        for b in range(-(-n // work.batch)):
            ids = list(range(b * work.batch, min(n, (b + 1) * work.batch)))
            res = pool.map(_flow_clip, [(work.files[f], work.indices[f], work.size) for f in ids], chunksize=1)
            total[0] += sum(r[1] for r in res)
            yield _to_float(np.stack([r[0] for r in res])), ids
    return Setup(batches, lambda: total[0])


def contestants_for(work: Work) -> list[str]:
    if work.name == "W4":
        return ["gpuvideo", "pool2"]
    return [c for c in CONTESTANTS if c != "pool2"]


# =========================================================================== running
@dataclass
class Result:
    """One contestant on one workload."""
    rates: list = field(default_factory=list)          # units/s per round
    decoded: int | None = None
    problems: list = field(default_factory=list)
    skipped: str | None = None                          # why it did not run (not installed, error)

    @property
    def rate(self) -> float | None:
        return statistics.median(self.rates) if self.rates else None


def timed(setup: Setup, work: Work, verify: bool) -> tuple[float, int, list[str]]:
    """Wall seconds spent producing the batches, units produced, problems (``verify``: the check's time not counted)."""
    it = setup.batches()
    seconds, units, problems = 0.0, 0, []
    while True:
        t0 = time.perf_counter()
        try:
            x, key = next(it)
        except StopIteration:
            seconds += time.perf_counter() - t0
            break
        seconds += time.perf_counter() - t0
        units += len(key)
        if verify:
            problems += work.check(x, key)
        del x
    return seconds, units, problems


class Bench:
    """Loads the contestants once, then runs workloads round by round."""

    def __init__(self, wanted: Sequence[str], root: Path):
        self.root = root
        self.index_cache = str(root / f"peers_v{DATA_VERSION}" / "index.json")
        self.peers, self.skipped, self.versions = {}, {}, {}
        loaders = {"torchcodec": load_torchcodec, "decord2": load_decord, "video-reader-rs": load_video_reader}
        for name in wanted:
            if name in loaders:
                try:
                    self.peers[name] = loaders[name]()
                    self.versions[name] = self.peers[name]["version"]
                except Unavailable as e:
                    self.skipped[name] = str(e)
        self.wanted = list(wanted)
        self.clip_readers = make_clip_readers(self.peers)
        self.window_sources = make_window_sources(self.peers)
        self.threads = ThreadPoolExecutor(2)
        self.procs = None

    def close(self) -> None:
        self.threads.shutdown()
        if self.procs is not None:
            self.procs.close()
            self.procs.join()

    def warm(self, path: str) -> None:
        """Decode one frame with every loaded contestant (first calls load codecs and libraries)."""
        for name, read in self.clip_readers.items():
            if name in self.wanted:
                try:
                    read(path, [0], (64, 48))
                except Exception as e:
                    self.skipped[name] = f"fails on a plain file: {_first_line(e)}"

    def setup(self, name: str, work: Work) -> Setup:
        if name in ("gpuvideo", "gpuvideo-uint8"):
            return _gpuvideo_setup(work, self.index_cache, "uint8" if name == "gpuvideo-uint8" else "float32")
        if name == "pool2":
            if self.procs is None:
                self.procs = multiprocessing.get_context("spawn").Pool(2, initializer=_pool_init)
                seen: set = set()
                while len(seen) < 2:           # both workers started and warm before any clock runs
                    seen |= set(self.procs.map(_pid_after_nap, range(4), chunksize=1))
            return _pool_setup(work, self.procs)
        if work.name == "W3":
            return _window_setup(work, self.window_sources[name])
        return _clip_setup(work, self.clip_readers[name], self.threads, counts=name in ("pyav", "opencv"))

    def run(self, work: Work, rounds: int) -> tuple[dict[str, Result], list[float]]:
        names = [c for c in contestants_for(work) if c in self.wanted]
        results = {c: Result(skipped=self.skipped.get(c)) for c in names}
        raw_rates = []
        for r in range(rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            for name in order:
                res = results[name]
                if res.skipped:
                    continue
                _progress(f"{work.name} round {r + 1}/{rounds}: {name}")
                setup = None
                try:
                    setup = self.setup(name, work)
                    seconds, units, problems = timed(setup, work, verify=(r == 0))
                    if r == 0:
                        res.decoded, res.problems = setup.decoded(), problems
                    res.rates.append(units / seconds)
                except Exception as e:
                    res.skipped = f"error: {_first_line(e)}"
                    if os.environ.get("BENCH_PEERS_DEBUG"):
                        traceback.print_exc()
                finally:
                    if setup is not None:
                        setup.close()
            raw_rates.append(raw_decode_rate(work.floor_paths, work.floor_max_frames))
        _progress("")
        return results, raw_rates


def summarise(work: Work, results: dict[str, Result], raw_rates: list[float]) -> dict:
    """Rates, ratios and floor of one workload as plain data (what ``--json`` writes)."""
    raw = statistics.median(raw_rates)
    floor_s = work.min_frames / raw / 2
    good = {c: r for c, r in results.items() if r.rate and not r.problems and not r.skipped}
    others = {c: r.rate for c, r in good.items() if c != "gpuvideo" and c not in INFORMATIONAL}
    best = max(others, key=others.get) if others else None
    g = good.get("gpuvideo")
    rows = []
    for c, r in results.items():
        rows.append(dict(contestant=c, rate=r.rate, rates=r.rates, decoded=r.decoded,
                         check="skipped" if r.skipped else ("ok" if not r.problems else "WRONG"),
                         problems=r.problems[:5], nb_problems=len(r.problems), skipped=r.skipped))
    return dict(work=work.name, unit=f"{work.unit}/s", units=work.units, rows=rows,
                best_other=best, best_other_rate=others.get(best),
                ratio=(g.rate / others[best]) if g and best else None,
                min_frames=work.min_frames, raw_decode_fps=raw, floor_s=floor_s,
                floor_rate=work.units / floor_s,
                gpuvideo_s=(work.units / g.rate) if g else None,
                gpuvideo_over_floor=(work.units / g.rate / floor_s) if g else None)


DESCRIPTIONS = {
    "W1": "{n} MPEG-4 AVI {w1[0]}x{w1[1]}, GOP 12; 8 uniform frames -> {t1[0]}x{t1[1]} float32, batch 8",
    "W2": "{n2} H.264 {w2[0]}x{w2[1]}, {f2} frames, GOP {g2}, B-frames; 8 uniform frames -> {t2[0]}x{t2[1]}",
    "W3": "H.264 {w3[0]}x{w3[1]}, {f3} frames; first {nw} windows of {L} frames every {S} -> {t3[0]}x{t3[1]} float32",
    "W4": "OpticalFlowGenerator method 1, 5 pairs at {t1[0]}x{t1[1]}, over W1; rival: pool of 2 processes",
}


def describe(spec: Spec) -> dict[str, str]:
    fmt = dict(n=spec.w1_classes * spec.w1_per_class, w1=spec.w1_size, t1=spec.w1_target,
               n2=spec.w2_classes * spec.w2_per_class, w2=spec.w2_size, f2=spec.w2_frames, g2=spec.w2_gop,
               t2=spec.w2_target, w3=spec.w3_size, f3=spec.w3_frames, nw=spec.w3_windows, L=spec.w3_length,
               S=spec.w3_stride, t3=spec.w3_target)
    return {k: v.format(**fmt) for k, v in DESCRIPTIONS.items()}


def _f(v) -> str:
    """A rate for the table: three significant digits below 100 (W2's clips/s are below 1), else whole numbers."""
    if v is None:
        return "-"
    return f"{v:.3g}" if v < 100 else f"{v:,.0f}"


def table(summaries: list[dict], spec: Spec) -> str:
    """The Markdown report: one table of rates, then the floor of each workload."""
    desc = describe(spec)
    lines = ["| work | contestant | rate | min-max | gpuvideo / this | frames decoded | check |",
             "|---|---|---:|---:|---:|---:|---|"]
    for s in summaries:
        g = next((r["rate"] for r in s["rows"] if r["contestant"] == "gpuvideo" and r["check"] == "ok"), None)
        for r in s["rows"]:
            if r["skipped"]:
                lines.append(f"| {s['work']} | {r['contestant']} | skipped | | | | {r['skipped']} |")
                continue
            ratio = "" if r["contestant"] == "gpuvideo" or not g or not r["rate"] else f"{g / r['rate']:.2f}x"
            span = f"{_f(min(r['rates']))}-{_f(max(r['rates']))}" if r["rates"] else ""
            check = r["check"] if r["check"] == "ok" else f"WRONG ({r['nb_problems']}): {r['problems'][0]}"
            decoded = "-" if r["decoded"] is None else f"{r['decoded']:,}"
            lines.append(f"| {s['work']} | {r['contestant']} | {_f(r['rate'])} {s['unit']} | {span} | {ratio} | "
                         f"{decoded} | {check} |")
    lines += ["", "| work | what | gpuvideo / best other | decode floor | gpuvideo / floor |", "|---|---|---|---|---|"]
    for s in summaries:
        ratio = (f"{s['ratio']:.2f}x ({s['best_other']}, {_f(s['best_other_rate'])} {s['unit']})"
                 if s["ratio"] else "-")
        floor = (f"{s['min_frames']:,} frames / {_f(s['raw_decode_fps'])} fps / 2 cores = {s['floor_s']:.2f} s "
                 f"({_f(s['floor_rate'])} {s['unit']})")
        over = (f"{s['gpuvideo_s']:.2f} s = {s['gpuvideo_over_floor']:.2f}x" if s["gpuvideo_over_floor"] else "-")
        lines.append(f"| {s['work']} | {desc[s['work']]} | {ratio} | {floor} | {over} |")
    return "\n".join(lines)


def machine() -> dict:
    """gpuvideo's machine description plus the load average at the start."""
    from gpuvideo.benchmarking import machine_info

    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return dict(machine_info(REPO), loadavg_start=load)


def main(argv: Sequence[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny data and one round (a smoke test)")
    ap.add_argument("--rounds", type=int, default=None, help="timed rounds; the median is reported (default 3)")
    ap.add_argument("--only", default=",".join(WORKS), help="workloads, e.g. W1,W3")
    ap.add_argument("--contestants", default=",".join(CONTESTANTS), help="e.g. gpuvideo,pyav,opencv")
    ap.add_argument("--data", default=str(REPO / "bench_data"), help="where generated videos are kept")
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--write", help="write the Markdown report here")
    args = ap.parse_args(argv)
    works = [w.strip().upper() for w in args.only.split(",") if w.strip()]
    wanted = [c.strip() for c in args.contestants.split(",") if c.strip()]
    bad = [w for w in works if w not in WORKS] + [c for c in wanted if c not in CONTESTANTS]
    if bad:
        ap.error(f"unknown workload or contestant: {bad} (workloads {WORKS}, contestants {CONTESTANTS})")
    spec = QUICK if args.quick else FULL
    rounds = args.rounds if args.rounds is not None else (1 if args.quick else 3)
    root = Path(args.data)
    info = machine()
    data = make_data(root, spec, works)
    bench = Bench(wanted, root)
    summaries = []
    try:
        bench.warm((data.get("W1") or data.get("W2") or [data.get("W3")])[0])
        for name in works:
            work = build_work(name, spec, data, root)
            results, raw = bench.run(work, rounds)
            summaries.append(summarise(work, results, raw))
    finally:
        bench.close()
    try:
        info["loadavg_end"] = os.getloadavg()
    except OSError:
        pass
    report = dict(machine=info, spec=spec.tag, rounds=rounds, versions=bench.versions,
                  skipped=bench.skipped, workloads=describe(spec), results=summaries)
    text = table(summaries, spec)
    header = (f"bench_peers ({spec.tag}, {rounds} round(s), median), {info['date']}, {info['cpus']} CPUs, "
              f"load average {info['loadavg_start']} -> {info.get('loadavg_end')}; PyAV {info['pyav']}, "
              f"OpenCV {info['opencv']}" + "".join(f", {k} {v}" for k, v in bench.versions.items()))
    print(header)
    print(text)
    for c, why in bench.skipped.items():
        print(f"skipped {c}: {why}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=float))
    if args.write:
        Path(args.write).write_text(f"# gpuvideo against its peers\n\n{header}\n\n{text}\n\n"
                                    f"Produced by `python benchmarks/bench_peers.py"
                                    f"{' ' + ' '.join(argv) if argv else ' ' + ' '.join(sys.argv[1:])}`.\n")
    return report


if __name__ == "__main__":
    main()
