"""Damaged copies of a video file, as the corpus (:mod:`gpuvideo.testing.corpus`) makes them.

Each function reads an intact file ``src`` and writes a damaged copy to ``dst``:
random bytes over packets, single-bit flips, a cut, or a remux without one
packet. Damage drawn at random comes from the ``rng`` (a NumPy ``Generator``)
given, so a corpus is reproducible from its seed.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..synthetic import remux


def video_packets(path: str | Path) -> list[tuple[int, int, int, bool]]:
    """(byte position, size, pts, keyframe) of the video packets in decode order."""
    import av

    with av.open(str(path)) as c:
        return [(p.pos, p.size, p.pts, p.is_keyframe) for p in c.demux(c.streams.video[0]) if p.size]


def overwrite_packets(src: Path, dst: Path, rng: np.random.Generator, count: int = 2) -> None:
    """Random bytes over the second half of ``count`` packets (not the first three): damage decoders notice."""
    table = [p for p in video_packets(src) if p[0] is not None and p[0] >= 0]
    data = bytearray(src.read_bytes())
    for k in sorted(rng.choice(np.arange(3, len(table) - 2), size=count, replace=False)):
        pos, size = table[k][0], table[k][1]
        a = pos + size // 2
        data[a:pos + size] = rng.integers(0, 256, pos + size - a, dtype=np.uint8).tobytes()
    dst.write_bytes(bytes(data))


def flip_bits(src: Path, dst: Path, rng: np.random.Generator, count: int = 6) -> None:
    """``count`` single-bit flips in the middle 60% of the file (often invisible to the decoder)."""
    data = bytearray(src.read_bytes())
    n = len(data)
    for i in rng.integers(n // 5, 4 * n // 5, size=count):
        data[int(i)] ^= 1 << int(rng.integers(0, 8))
    dst.write_bytes(bytes(data))


def cut(src: Path, dst: Path, frac: float) -> None:
    """The first ``frac`` (0..1) of ``src``'s bytes: a file cut short."""
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * frac)])


def remove_packet(src: Path, dst: Path, kind: str) -> None:
    """Remux ``src`` without one mid-file B-frame (``kind='B'``) or P-frame (``'P'``) packet."""
    table = video_packets(src)
    order = sorted(p[2] for p in table)
    shown = [order.index(p[2]) for p in table]
    for k in range(len(table) // 3, len(table) - 1):
        if table[k][3]:
            continue
        if (kind == "B" and shown[k] < shown[k - 1]) or (kind == "P" and shown[k] > shown[k - 1] + 1):
            remux(src, dst, skip=[k])
            return
    raise RuntimeError(f"{src}: no {kind}-frame packet")
