"""``VideoInfo``: what the index knows about one video, and its JSON form (as the index cache stores it).

:meth:`VideoInfo.from_json` never trusts its input: every field is checked for
type and range, so a damaged or foreign cache entry is rejected with a
``ValueError`` instead of reaching the decoders.
"""
from __future__ import annotations

import bisect
from dataclasses import asdict, dataclass, field


@dataclass
class VideoInfo:
    """What the decoders and samplers need to know about one file.

    ``pts`` holds the presentation timestamps (stream time base) of every frame in
    presentation order, or is empty when the container gives none (then frames
    are counted from the start and the file is never seeked). ``keyframes`` are
    0-based frame indices of keyframes, ascending. ``time_base``: ``(num, den)``
    of the video stream, so frame ``f`` is shown at ``pts[f] * num / den``
    seconds (None when the container gives none).

    ``width``/``height`` are the coded (stored) frame size in pixels;
    ``rotation`` is how many degrees clockwise (0, 90, 180 or 270) the picture is
    turned for display (the container's display matrix, the convention of the
    old ``rotate`` tag: a portrait phone video is usually 90), and
    :attr:`display_width`/:attr:`display_height` the size once turned.

    ``lost`` lists the 0-based indices of frames whose packets are absent from
    the file: holes in an otherwise constant-step timestamp sequence (one gap
    of 2 to 64 steps, or up to 1% of the steps in longer files; every other step
    equal). They count in
    ``frame_count`` (so indices follow presentation time and a lost packet never
    shifts the frames after it) but can never be decoded, and the frames of
    their keyframe interval are not served either (they may reference the lost
    one). A constant-rate file whose camera skipped a frame looks the same and
    is treated the same way.

    ``truncated`` is True when the stream ends before its header says
    (``header_frame_count`` when the container gives one, else the Matroska/WebM
    duration); the file's intact frames are still served. ``warnings`` holds one
    human-readable line per problem found at indexing (truncation, lost frames,
    damaged packets, a stream that ends with a read error), e.g.
    ``"truncated: header says 60 frames, stream has 29"``.
    """
    path: str
    frame_count: int
    fps: float
    width: int
    height: int
    codec: str
    pix_fmt: str
    header_frame_count: int
    keyframes: list[int] = field(default_factory=list)
    pts: list[int] = field(default_factory=list)
    rotation: int = 0
    lost: list[int] = field(default_factory=list)
    truncated: bool = False
    warnings: list[str] = field(default_factory=list)
    time_base: tuple[int, int] | None = None

    @property
    def duration(self) -> float:
        """Seconds, from frame count and fps."""
        return self.frame_count / self.fps if self.fps > 0 else 0.0

    @property
    def seekable(self) -> bool:
        """True when every frame has a timestamp and a keyframe is known: readers may seek."""
        return len(self.pts) == self.frame_count and len(self.keyframes) > 0

    @property
    def display_width(self) -> int:
        """Width in pixels of the frames as displayed (``height`` when ``rotation`` is 90 or 270)."""
        return self.height if self.rotation % 180 else self.width

    @property
    def display_height(self) -> int:
        """Height in pixels of the frames as displayed (``width`` when ``rotation`` is 90 or 270)."""
        return self.width if self.rotation % 180 else self.height

    @property
    def truncation(self) -> str | None:
        """The ``warnings`` line that describes the truncation, or None when the file is not truncated."""
        if not self.truncated:
            return None
        return next((w for w in self.warnings if w.startswith("truncated")), "truncated")

    def lost_intervals(self) -> list[tuple[int, int]]:
        """``[start, end)`` frame ranges never served because a frame there is lost: the keyframe interval
        around each index of ``lost`` (its frames may reference the lost one), merged, ascending."""
        out: list[tuple[int, int]] = []
        kf = self.keyframes
        for h in self.lost:
            j = bisect.bisect_right(kf, h) - 1
            a = kf[j] if j >= 0 else 0
            b = kf[j + 1] if j + 1 < len(kf) else self.frame_count
            if out and out[-1][1] >= a:
                out[-1] = (out[-1][0], max(out[-1][1], b))
            else:
                out.append((a, b))
        return out

    def to_json(self) -> dict:
        """The fields as a JSON-able dict; constant-step ``pts`` packed as ``{"start", "step", "count"}``."""
        d = asdict(self)
        d["pts"] = _pack_pts(self.pts)
        return d

    @classmethod
    def from_json(cls, d: dict) -> "VideoInfo":
        """Inverse of :meth:`to_json`; raises ``ValueError`` on anything else (fields, types, values)."""
        if not isinstance(d, dict):
            raise ValueError(f"expected an object, got {type(d).__name__}")
        missing = _FIELDS.keys() - d.keys()
        extra = d.keys() - _FIELDS.keys()
        if missing or extra:
            raise ValueError(f"fields missing {sorted(missing)} / unknown {sorted(extra)}")
        d = dict(d)
        d["pts"] = _unpack_pts(d["pts"])
        for name, check in _FIELDS.items():
            if not check(d[name]):
                raise ValueError(f"bad value for {name!r}: {str(d[name])[:80]}")
        if d["time_base"] is not None:
            d["time_base"] = tuple(d["time_base"])
        info = cls(**d)
        n = info.frame_count
        if info.pts and len(info.pts) != n:
            raise ValueError("pts and frame_count disagree")
        if any(not 0 <= k < n for k in info.keyframes) or any(not 0 <= k < n for k in info.lost):
            raise ValueError("frame index out of range")
        return info


def is_int(v: object) -> bool:
    """True for an ``int`` that is not a ``bool`` (JSON numbers read back as int)."""
    return isinstance(v, int) and not isinstance(v, bool)


def _is_int_list(v) -> bool:
    return isinstance(v, list) and all(is_int(x) for x in v)


#: field -> check of its JSON value
_FIELDS = {
    "path": lambda v: isinstance(v, str),
    "frame_count": lambda v: is_int(v) and v > 0,
    "fps": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < 1e6,
    "width": lambda v: is_int(v) and v > 0,
    "height": lambda v: is_int(v) and v > 0,
    "codec": lambda v: isinstance(v, str),
    "pix_fmt": lambda v: isinstance(v, str),
    "header_frame_count": lambda v: is_int(v) and v >= 0,
    "keyframes": _is_int_list,
    "pts": _is_int_list,
    "rotation": lambda v: v in (0, 90, 180, 270) and is_int(v),
    "lost": _is_int_list,
    "truncated": lambda v: isinstance(v, bool),
    "warnings": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
    "time_base": lambda v: v is None or (isinstance(v, (list, tuple)) and len(v) == 2 and all(is_int(x) for x in v)
                                         and v[1] > 0),
}


def _pack_pts(pts: list[int]):
    """Constant-step timestamps are stored as ``{"start", "step", "count"}``."""
    if len(pts) >= 2:
        step = pts[1] - pts[0]
        if all(b - a == step for a, b in zip(pts, pts[1:])):
            return {"start": pts[0], "step": step, "count": len(pts)}
    return list(pts)


def _unpack_pts(p) -> list[int]:
    """Inverse of :func:`_pack_pts`; ``ValueError`` for anything else."""
    if isinstance(p, dict):
        if set(p) != {"start", "step", "count"} or not all(is_int(v) for v in p.values()):
            raise ValueError("bad packed timestamps")
        if not 0 <= p["count"] <= 10 ** 9:
            raise ValueError("bad timestamp count")
        if not p["step"]:
            return [p["start"]] * p["count"]
        return list(range(p["start"], p["start"] + p["step"] * p["count"], p["step"]))
    if not isinstance(p, list):
        raise ValueError("bad timestamps")
    return list(p)
