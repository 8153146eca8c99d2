"""Writers of the corpus's files that are not plain index-coded videos (:mod:`gpuvideo.testing.corpus`).

An animated GIF and an MP4 with an audio track (frames index-coded, so
:func:`gpuvideo.testing.index_of` reads them), a WAV file and a still picture
in an image format, for the cases FFmpeg opens but that are not videos.
"""
from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from ..synthetic import index_frame


def animated_gif(path: Path, frames: int) -> None:
    """A 160x120 GIF of ``frames`` index-coded frames at 10 fps."""
    import av

    with av.open(str(path), "w", format="gif") as out:
        s = out.add_stream("gif", rate=10)
        s.width, s.height, s.pix_fmt = 160, 120, "rgb8"
        for i in range(frames):
            vf = av.VideoFrame.from_ndarray(index_frame(i), format="rgb24").reformat(format="rgb8")
            for p in s.encode(vf):
                out.mux(p)
        for p in s.encode(None):
            out.mux(p)


def with_audio(path: Path, frames: int) -> None:
    """H.264 + AAC in MP4: frame i spells i, one second of a quiet tone."""
    import av
    from fractions import Fraction

    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 160, 120, "yuv420p"
        v.options = {"preset": "veryfast", "g": "24", "bf": "2"}
        a = out.add_stream("aac", rate=44100)
        a.layout = "mono"
        t = 0
        for i in range(frames):
            for p in v.encode(av.VideoFrame.from_ndarray(index_frame(i), format="rgb24")):
                out.mux(p)
        for p in v.encode(None):
            out.mux(p)
        for _ in range(44):
            tone = (0.1 * np.sin(np.arange(t, t + 1024) * 0.05)).astype(np.float32)[None]
            af = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
            af.sample_rate, af.pts, af.time_base = 44100, t, Fraction(1, 44100)
            t += 1024
            for p in a.encode(af):
                out.mux(p)
        for p in a.encode(None):
            out.mux(p)


def wav(path: Path) -> None:
    """One second of a 16-bit mono tone at 8 kHz: audio only."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes((np.sin(np.arange(8000) * 0.1) * 3000).astype("<i2").tobytes())


def picture(path: Path, ext: str) -> None:
    """A still picture (frame 3, index-coded) encoded as ``ext`` (``.png``, ``.jpg``, ``.bmp``) by OpenCV."""
    import cv2

    ok, buf = cv2.imencode(ext, index_frame(3))
    if not ok:
        raise RuntimeError(f"cannot encode {ext}")
    path.write_bytes(buf.tobytes())
