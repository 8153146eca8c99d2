"""A corpus of broken and odd videos, written at test time, each with the outcome gpuvideo must give.

:func:`write_corpus` writes about 70 files under ``root/<kind>/`` (kinds: ``good``, ``odd``,
``truncated``, ``bitrot``, ``lost``, ``not_video``, ``filesystem``, so ``root/{classname}/*`` is a
generator's glob pattern with one class per kind) and returns one :class:`CorpusFile` per file. Video
content is index-coded (:func:`gpuvideo.synthetic.index_frame`: frame ``i`` spells ``i``), so any frame that
comes out can be checked with :func:`index_of`. :func:`examine` indexes and decodes one file and returns what
happened as plain data (for a child process, see :class:`gpuvideo.testing.Isolated`).

Expected outcomes (``CorpusFile.expected``):

- ``exact``: indexes without warnings, ``frame_count == frames``, every frame decodes and frame ``i`` shows
  ``i``, at the display size ``size``;
- ``reported``: indexes with a warning line containing ``reason`` (truncated, lost frames); every frame
  that decodes shows its own index, some may be missing;
- ``served``: indexes (warnings allowed); damage found while decoding: frames that decode show their own
  index, the damaged ones are missing;
- ``any``: damage the decoders cannot see (bit flips in VP9, MJPEG or H.264 entropy-coded data): no crash
  and no hang, but frames may be wrong;
- ``bad``: indexing gives a :class:`~gpuvideo.errors.VideoError` whose reason contains ``reason``.
"""
from __future__ import annotations

import json
import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..synthetic import quiet_svt_av1, read_index, write_index_video, write_size_change_video
from .damaged import cut, flip_bits, overwrite_packets, remove_packet
from .writers import animated_gif, picture, wav, with_audio

log = logging.getLogger(__name__)

EXACT, REPORTED, SERVED, ANY, BAD = "exact", "reported", "served", "any", "bad"
EXPECTED = (EXACT, REPORTED, SERVED, ANY, BAD)


@dataclass(frozen=True)
class CorpusFile:
    """One file of the corpus and what gpuvideo must do with it (see the module doc).

    ``path``: the file (or directory, or symlink) written; ``name``: unique case name; ``kind``: the folder
    it sits in; ``expected``: one of :data:`EXPECTED`; ``reason``: substring of the VideoError reason
    (``bad``) or of a ``VideoInfo.warnings`` line (``reported``), else ``""``; ``frames``: frames written
    (0 for non-videos); ``index_coded``: frame ``i`` spells ``i`` (False for 1x1/2x2 files, too small to
    spell anything); ``size``: (width, height) of the frames as displayed, or None; ``rotation``: degrees
    clockwise of the display matrix; ``note``: what the file is.
    """
    path: str
    name: str
    kind: str
    expected: str
    reason: str = ""
    frames: int = 0
    index_coded: bool = True
    size: tuple[int, int] | None = None
    rotation: int = 0
    note: str = ""


def index_of(frame: np.ndarray, rotation: int = 0) -> int:
    """Index spelled by a frame of the corpus as displayed (turned back by ``rotation`` first); any size,
    RGB or grey, uint8 or float in [0, 1]."""
    a = np.asarray(frame)
    if rotation % 360:
        a = np.rot90(a, k=(rotation % 360) // 90, axes=(0, 1))
    return read_index(a)


# ----------------------------------------------------------------------------------------------- corpus

def write_corpus(root: str | os.PathLike, frames: int = 48, seed: int = 0,
                 strict: bool = False) -> list[CorpusFile]:
    """Write the corpus under ``root`` (created; existing files are overwritten) and return its records.

    ``frames``: frames per video (the 4K file has 3). ``seed`` makes the damage reproducible. A case whose
    encoder is missing from this PyAV/FFmpeg build is left out (logged), unless ``strict=True`` (then it
    raises). The unreadable file (``chmod 000``) is left out when running as root, who reads it anyway.
    Takes a few seconds.
    """
    w = _Writer(Path(root), frames, np.random.default_rng(seed), strict)
    for kind in (_good, _odd, _truncated, _bitrot, _lost, _not_video, _filesystem):
        kind(w)
    w.remove_sources()
    return w.records


class _Writer:
    """Writes the files of one corpus under ``root`` and collects their :class:`CorpusFile` records."""

    def __init__(self, root: Path, frames: int, rng: np.random.Generator, strict: bool):
        self.root, self.frames, self.rng, self.strict = root, frames, rng, strict
        self.work = root / ".sources"        # intact files the damaged ones are made from; removed at the end
        self.records: list[CorpusFile] = []

    def add(self, kind: str, name: str, expected: str, build: Callable[[Path], object], reason: str = "",
            n: int | None = None, index_coded: bool = True, size=(160, 120), rotation: int = 0,
            note: str = "") -> None:
        """Write ``root/kind/name`` with ``build(path)`` and record it (``n``: frames written, default
        ``frames``); a build that fails is left out (logged), or raises with ``strict``."""
        folder = self.root / kind
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        try:
            if path.is_symlink() or path.is_file():
                path.unlink()
            build(path)
        except Exception as e:
            if path.is_symlink() or path.is_file():
                path.unlink()
            if self.strict:
                raise
            log.info("corpus: %s/%s left out (%s: %s)", kind, name, type(e).__name__, e)
            return
        self.records.append(CorpusFile(str(path), f"{kind}/{name}", kind, expected, reason,
                                       self.frames if n is None else n, index_coded, size, rotation, note))

    def idx(self, codec: str, **kw) -> Callable[[Path], object]:
        """A build that writes an index-coded video (:func:`gpuvideo.synthetic.write_index_video`); ``n``,
        ``w``, ``h`` (frames, width, height) and the other keywords go to it."""
        def build(path: Path):
            n = kw.pop("n", self.frames)
            width, height = kw.pop("w", 160), kw.pop("h", 120)
            with quiet_svt_av1():
                write_index_video(path, n, width, height, codec=codec, **kw)
        return build

    def source(self, name: str, codec: str, **kw) -> Path:
        """An intact index-coded video under ``work`` to make damaged copies of (written once)."""
        path = self.work / name
        if not path.exists():
            self.work.mkdir(parents=True, exist_ok=True)
            write_index_video(path, self.frames, codec=codec, **kw)
        return path

    def remove_sources(self) -> None:
        if self.work.exists():
            for f in self.work.iterdir():
                f.unlink()
            self.work.rmdir()


def _good(w: _Writer) -> None:
    """The codecs and containers users have."""
    for name, codec, note in [("h264.mp4", "h264", "H.264 with B-frames in MP4"),
                              ("mpeg4.avi", "mpeg4", "MPEG-4 Part 2 in AVI"),
                              ("mpeg4_bframes.avi", "mpeg4_bframes", "MPEG-4 Part 2 with B-frames in AVI"),
                              ("mjpeg.avi", "mjpeg", "MJPEG in AVI"),
                              ("vp9.webm", "vp9", "VP9 in WebM"), ("vp8.webm", "vp8", "VP8 in WebM"),
                              ("h264.mkv", "h264", "H.264 in Matroska"), ("h264.mov", "h264", "H.264 in QuickTime"),
                              ("h264.ts", "h264", "H.264 in MPEG-TS (no index: seeks by timestamp)"),
                              ("mpeg2.mpg", "mpeg2", "MPEG-2 in MPEG-PS (seeks unreliable: read forward)"),
                              ("ffv1.mkv", "ffv1", "FFV1 lossless"), ("hevc.mp4", "hevc", "HEVC in MP4"),
                              ("av1.mkv", "av1", "AV1 in Matroska")]:
        w.add("good", name, EXACT, w.idx(codec), note=note)
    w.add("good", "h264_faststart.mp4", EXACT, w.idx("h264", container_options={"movflags": "faststart"}),
          note="MP4 with its index first")
    w.add("good", "h264_audio.mp4", EXACT, lambda p: with_audio(p, w.frames), note="H.264 + AAC audio track")


def _odd(w: _Writer) -> None:
    """Odd but valid: pixel formats, tiny and huge sizes, one frame, variable frame rate, rotation."""
    w.add("odd", "h264_10bit.mp4", EXACT, w.idx("h264", pix_fmt="yuv420p10le"), note="10-bit 4:2:0")
    w.add("odd", "hevc_10bit.mp4", EXACT, w.idx("hevc", pix_fmt="yuv420p10le"), note="HEVC 10-bit")
    w.add("odd", "h264_422.mkv", EXACT, w.idx("h264", pix_fmt="yuv422p"), note="H.264 4:2:2")
    w.add("odd", "h264_444.mkv", EXACT, w.idx("h264", pix_fmt="yuv444p"), note="H.264 4:4:4")
    w.add("odd", "mjpeg_444.avi", EXACT, w.idx("mjpeg", pix_fmt="yuvj444p"), note="MJPEG 4:4:4")
    w.add("odd", "tiny_1x1.avi", EXACT, w.idx("mjpeg", w=1, h=1, pix_fmt="yuvj444p"), index_coded=False,
          size=(1, 1), note="1x1 pixels")
    w.add("odd", "tiny_2x2.mp4", EXACT, w.idx("h264", w=2, h=2), index_coded=False, size=(2, 2), note="2x2 pixels")
    w.add("odd", "odd_161x121.avi", EXACT, w.idx("mjpeg", w=161, h=121, pix_fmt="yuvj444p"), size=(161, 121),
          note="odd width and height")
    w.add("odd", "big_3840x2160.mp4", EXACT, w.idx("h264", n=3, w=3840, h=2160), n=3, size=(3840, 2160),
          note="4K, 3 frames")
    w.add("odd", "one_frame.mp4", EXACT, w.idx("h264", n=1), n=1, note="a video of one frame")
    times = np.cumsum(np.r_[0.0, w.rng.choice([0.02, 0.04, 0.1], w.frames - 1)])
    for name, codec in (("vfr.mkv", "h264"), ("vfr.webm", "vp9"), ("vfr.mp4", "h264")):
        w.add("odd", name, EXACT, w.idx(codec, timestamps=times), note="variable frame rate")
    for rot, suffix in ((90, ".mp4"), (180, ".mp4"), (270, ".mp4"), (90, ".mkv")):
        w.add("odd", f"rot{rot}{suffix}", EXACT, w.idx("h264", rotation=rot), rotation=rot,
              size=(120, 160) if rot % 180 else (160, 120), note=f"display matrix: {rot} degrees clockwise")
    w.add("odd", "size_change.ts", EXACT, lambda p: write_size_change_video(p, frames_per_size=w.frames // 2),
          note="160x120 then 320x240 (scaled back)")
    w.add("odd", "anim.gif", EXACT, lambda p: animated_gif(p, 8), n=8, note="animated GIF")


def _truncated(w: _Writer) -> None:
    """Files cut short: reported at indexing, intact frames served (or unreadable without their index)."""
    for name, codec, frac, suffix in [("mpeg4_50", "mpeg4", 0.5, ".avi"), ("mpeg4_90", "mpeg4", 0.9, ".avi"),
                                      ("mpeg4_bframes_50", "mpeg4_bframes", 0.5, ".avi"),
                                      ("mjpeg_50", "mjpeg", 0.5, ".avi"), ("mjpeg_97", "mjpeg", 0.97, ".avi"),
                                      ("vp9_50", "vp9", 0.5, ".webm"), ("vp9_90", "vp9", 0.9, ".webm"),
                                      ("h264_50", "h264", 0.5, ".mkv")]:
        src = w.source(f"{codec}{suffix}", codec)
        w.add("truncated", f"{name}{suffix}", REPORTED, lambda p, s=src, f=frac: cut(s, p, f),
              reason="truncated: header says", note=f"cut at {int(frac * 100)}%")
    fs = w.source("h264_faststart.mp4", "h264", container_options={"movflags": "faststart"})
    for frac in (0.5, 0.9):
        w.add("truncated", f"h264_faststart_{int(frac * 100)}.mp4", REPORTED, lambda p, f=frac: cut(fs, p, f),
              reason="truncated: header says", note=f"MP4 with its index first, cut at {int(frac * 100)}%")
    mp4 = w.source("h264.mp4", "h264")
    w.add("truncated", "h264_50.mp4", BAD, lambda p: cut(mp4, p, 0.5), reason="cannot open",
          note="MP4 with its index last, cut at 50%: no index, nothing to read")
    ts = w.source("h264.ts", "h264")
    w.add("truncated", "h264_50.ts", SERVED, lambda p: cut(ts, p, 0.5),
          note="MPEG-TS cut at 50% (no frame count in its header: not detectable)")
    avi = w.source("mpeg4.avi", "mpeg4")
    w.add("truncated", "mpeg4_head.avi", BAD, lambda p: cut(avi, p, 0.02), reason="cannot open",
          note="AVI cut inside its header")


def _bitrot(w: _Writer) -> None:
    """Damaged bytes: over packets (found while decoding), bit flips (not found), garbage in an AVI."""
    for name, codec, suffix in (("h264", "h264", ".mp4"), ("mpeg4", "mpeg4", ".avi"),
                                ("mpeg4_bframes", "mpeg4_bframes", ".avi"), ("h264_mkv", "h264", ".mkv")):
        src = w.source(f"{codec}{suffix}", codec)
        w.add("bitrot", f"{name}_chunks{suffix}", SERVED, lambda p, s=src: overwrite_packets(s, p, w.rng),
              note="random bytes over half of two packets")
    for name, codec, suffix in (("vp9", "vp9", ".webm"), ("mjpeg", "mjpeg", ".avi"), ("h264", "h264", ".mp4")):
        src = w.source(f"{codec}{suffix}", codec)
        w.add("bitrot", f"{name}_flips{suffix}", ANY, lambda p, s=src: flip_bits(s, p, w.rng),
              note="6 single-bit flips: undetectable by FFmpeg's decoders")
    avi_b = w.source("mpeg4_bframes.avi", "mpeg4_bframes")

    def garbage(p: Path, at: float):
        data = avi_b.read_bytes()
        a = int(len(data) * at)
        p.write_bytes(data[:a] + bytes(range(256)) * 8 + data[a + 2048:])
    w.add("bitrot", "mpeg4_garbage_middle.avi", BAD, lambda p: garbage(p, 0.5), reason="data lost in the middle",
          note="2 KiB of garbage over the middle: AVI renumbers the frames after it (caught with the AVI index)")
    w.add("bitrot", "mpeg4_garbage_start.avi", BAD, lambda p: garbage(p, 0.3), reason="not a keyframe",
          note="2 KiB of garbage over the end of the header and the first frames")


def _lost(w: _Writer) -> None:
    """Lost packets: frame numbers stay by timestamp."""
    for name, codec, suffix, kind in (("h264_lost_b", "h264", ".mp4", "B"), ("h264_lost_p", "h264", ".mp4", "P"),
                                      ("h264_lost_b", "h264", ".mkv", "B"),
                                      ("mpeg4_lost_p", "mpeg4_bframes", ".avi", "P")):
        src = w.source(f"{codec}{suffix}", codec)
        w.add("lost", f"{name}{suffix}", REPORTED, lambda p, s=src, k=kind: remove_packet(s, p, k),
              reason="lost frame", note=f"one {kind}-frame packet removed (remuxed)")


def _not_video(w: _Writer) -> None:
    """What FFmpeg opens, or tries to, but is not a video: pictures, text, data, archives, noise, audio."""
    w.add("not_video", "png.avi", BAD, lambda p: picture(p, ".png"), reason="'png_pipe' image demuxer", n=0)
    w.add("not_video", "jpeg.mp4", BAD, lambda p: picture(p, ".jpg"), reason="'jpeg_pipe' image demuxer", n=0)
    w.add("not_video", "bmp.avi", BAD, lambda p: picture(p, ".bmp"), reason="'bmp_pipe' image demuxer", n=0)
    w.add("not_video", "notes.txt", BAD, lambda p: p.write_text("lecture notes\n" * 200), reason="'tty' demuxer",
          n=0, note="FFmpeg would render it as a 640x400 video")
    w.add("not_video", "text.avi", BAD, lambda p: p.write_text("this is not a video\n" * 100),
          reason="cannot open", n=0)
    w.add("not_video", "data.mp4", BAD, lambda p: p.write_text(json.dumps({"frames": list(range(300))})),
          reason="cannot open", n=0)

    def zipped(p: Path):
        with zipfile.ZipFile(p, "w") as z:
            z.writestr("a.txt", "hello " * 1000)
    w.add("not_video", "archive.avi", BAD, zipped, reason="cannot open", n=0)
    w.add("not_video", "random.avi", BAD,
          lambda p: p.write_bytes(w.rng.integers(0, 256, 30000, dtype=np.uint8).tobytes()), reason="cannot open",
          n=0)
    w.add("not_video", "still_gif.avi", BAD, lambda p: animated_gif(p, 1), reason="not a video: a still image", n=0)
    w.add("not_video", "audio_only.avi", BAD, wav, reason="no video stream", n=0, note="a WAV file")


def _filesystem(w: _Writer) -> None:
    """File system oddities: empty, a directory, symlinks (looping, dangling, to a good file), unreadable."""
    w.add("filesystem", "zero.avi", BAD, lambda p: p.write_bytes(b""), reason="empty file", n=0)
    w.add("filesystem", "folder.avi", BAD, lambda p: p.mkdir(exist_ok=True), reason="is a directory", n=0,
          note="a directory named like a video")
    w.add("filesystem", "loop.avi", BAD, lambda p: p.symlink_to(p.name), reason="cannot open", n=0,
          note="a symlink to itself")
    w.add("filesystem", "dangling.avi", BAD, lambda p: p.symlink_to("missing.avi"), reason="cannot open", n=0,
          note="a symlink to nothing")
    good = w.root / "good" / "h264.mp4"
    w.add("filesystem", "link_to_good.mp4", EXACT, lambda p: p.symlink_to(os.path.relpath(good, p.parent)),
          note="a symlink to a good file")
    if os.name == "posix" and os.geteuid() != 0:
        mp4 = w.source("h264.mp4", "h264")

        def unreadable(p: Path):
            p.write_bytes(mp4.read_bytes())
            p.chmod(0)
        w.add("filesystem", "unreadable.avi", BAD, unreadable, reason="cannot open", n=0, note="chmod 000")


# ----------------------------------------------------------------------------------------------- checking

def examine(path: str, rotation: int = 0, index_coded: bool = True, max_frames: int = 2000,
            strict_reads: int = 6, seed: int = 0, drop_truncated: bool = False) -> dict:
    """Index ``path`` and decode it the ways the generators do; what happened, as plain data.

    Returns ``{"status": "bad", "reason"}`` for a file indexing rejects, else ``{"status": "ok",
    "frame_count", "header_frame_count", "warnings", "truncated", "lost", "rotation", "display_size",
    "missing", "shapes", "indices", "strict", "resized"}``: ``missing`` and ``indices`` (frame -> index it
    shows, when ``index_coded``) from a tolerant read of the first ``max_frames`` frames; ``strict`` maps
    ``strict_reads`` random frames to the index a strict read shows, or None when it raised VideoError;
    ``resized`` the same frames read at 64x48. Any other exception propagates (a crash for the caller).
    """
    from ..decode import PyAVReader
    from ..errors import VideoError
    from ..probe import index_videos

    res = index_videos([path], progress=False, report_warnings=False, drop_truncated=drop_truncated)[path]
    if isinstance(res, VideoError):
        return {"status": "bad", "reason": res.reason}
    info = res
    n = min(info.frame_count, max_frames)
    with PyAVReader(info, skip_corrupt_packets=True) as reader:
        got, missing = reader.read_available(range(n))
    show = (lambda f: index_of(f, rotation)) if index_coded else (lambda f: -1)
    out = {"status": "ok", "frame_count": info.frame_count, "header_frame_count": info.header_frame_count,
           "warnings": list(info.warnings), "truncated": info.truncated, "lost": list(info.lost),
           "rotation": info.rotation, "display_size": (info.display_width, info.display_height),
           "missing": missing, "shapes": sorted({tuple(f.shape) for f in got.values()}),
           "indices": {i: show(f) for i, f in got.items()}}
    got.clear()
    rng = np.random.default_rng(seed)
    picks = sorted(set(rng.integers(0, info.frame_count, size=strict_reads).tolist()))
    strict, resized = {}, {}
    for i in picks:
        try:
            with PyAVReader(info) as r:
                strict[i] = show(r.read([i])[0])
        except VideoError:
            strict[i] = None
    try:
        with PyAVReader(info, skip_corrupt_packets=True) as r:
            frames, _ = r.read_available(picks, size=(64, 48))
        resized = {i: (tuple(f.shape), show(f)) for i, f in frames.items()}
    except VideoError:
        resized = {}
    out["strict"], out["resized"] = strict, resized
    return out
