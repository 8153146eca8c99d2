"""Opening a file as a video: what FFmpeg opens but is not a video, and AVI frame numbers that cannot be trusted.

FFmpeg opens pictures (PNG, JPEG, BMP through its image demuxers), text (the
``tty`` demuxer renders any .txt file as a video), filter graphs, cover art and
one-frame GIFs as if they were videos. :func:`open_video`, :func:`video_stream`
and :func:`reject_still_image` turn them, and directories, empty files and
files without a video stream, into :class:`~gpuvideo.errors.VideoError`.

AVI has no timestamps: the demuxer numbers frames as it reads them, so after
lost data every later frame gets the wrong number. :class:`AviNumbering` says
when that happens, from the file's own index.
"""
from __future__ import annotations

import os

from .errors import VideoError
from .remote import file_size, is_remote, open_container

#: demuxers that read still pictures (FFmpeg's ``image2``, ``image2pipe`` and every ``*_pipe``)
_IMAGE_DEMUXERS = ("image2", "image2pipe")
#: demuxers that render text or ANSI art as pictures (``tty`` takes .txt/.nfo/... files) and filter graphs
_TEXT_DEMUXERS = ("tty", "bin", "xbin", "adf", "idf")
#: decoders that draw text (the ``tty`` demuxer's stream)
_TEXT_CODECS = ("ansi", "bintext", "xbin", "idf")
#: animated-picture formats: a video when they hold more than one frame, a still image otherwise
_ANIMATION_DEMUXERS = ("gif", "apng")


def open_video(path: str, index_only: bool):
    """The PyAV container of ``path`` (local or in object storage, see :func:`gpuvideo.remote.open_container`);
    :class:`VideoError` for a directory, an empty file or anything FFmpeg cannot open."""
    try:
        if not is_remote(path) and os.path.isdir(path):
            raise VideoError(path, "is a directory")
        if file_size(path) == 0:
            raise VideoError(path, "empty file (0 bytes)")
        return open_container(path, index_only=index_only)
    except VideoError:
        raise
    except Exception as e:  # PyAV raises many error types for non-video input
        raise VideoError(path, f"cannot open: {e}") from e


def video_stream(path: str, container):
    """The first video stream of ``container``; :class:`VideoError` when there is none or when FFmpeg reads
    ``path`` as a picture or as text rather than as a video."""
    if not container.streams.video:
        raise VideoError(path, "no video stream")
    stream = container.streams.video[0]
    names = [n.strip() for n in str(container.format.name).split(",")]
    for name in names:
        if name.endswith("_pipe") or name in _IMAGE_DEMUXERS:
            raise VideoError(path, f"not a video: FFmpeg reads it with the {name!r} image demuxer")
        if name in _TEXT_DEMUXERS or name == "lavfi":
            raise VideoError(path, f"not a video: FFmpeg renders it as a picture with the {name!r} demuxer "
                                   "(text or a filter graph)")
    if stream.codec_context.name in _TEXT_CODECS:
        raise VideoError(path, f"not a video: its stream is text drawn by the {stream.codec_context.name!r} decoder")
    disposition = int(stream.disposition)
    import av

    if disposition & int(av.stream.Disposition.attached_pic):
        raise VideoError(path, "not a video: its only picture stream is an attached picture (cover art)")
    return stream


def reject_still_image(path: str, frames: int, fmt: str) -> None:
    """:class:`VideoError` for a GIF or APNG of one frame (``fmt``: the demuxer names, comma-separated)."""
    if frames == 1 and any(n in _ANIMATION_DEMUXERS for n in fmt.split(",")):
        raise VideoError(path, f"not a video: a still image (one frame, read with the {fmt!r} demuxer)")


class AviNumbering:
    """AVI only: whether the demuxer's frame numbers can be trusted, packet by packet (always, elsewhere).

    AVI has no timestamps: the demuxer numbers chunks as it reads them, so after
    data lost in the middle of the file (it skips to the next readable chunk)
    every later frame gets the number of an earlier one. The file's index
    (idx1/OpenDML) says which frame each chunk holds: when the two disagree,
    frame numbers are unknown. A stream that starts with a frame that is not a
    keyframe has lost its beginning, and its frames are numbered from the first
    one found.
    """

    def __init__(self, container, stream):
        self.is_avi = "avi" in str(container.format.name).split(",")
        self.index = _avi_index(stream) if self.is_avi else {}

    def broken(self, packet, first: bool) -> str | None:
        """Why frame numbers are unknown from ``packet`` on (``first``: the stream's first packet), or None."""
        if self.index:
            why = _renumbered(self.index, packet)
            if why:
                return why
        if self.is_avi and first and not packet.is_keyframe:
            return ("damaged: the stream starts with a frame that is not a keyframe (its beginning is "
                    "lost, and AVI numbers frames from the first one it finds): frame numbers unknown")
        return None


def _avi_index(stream) -> dict[int, int]:
    """Byte position of each video chunk's data -> frame number in decode order, from the AVI's index
    (idx1/OpenDML); empty for an AVI without an index."""
    try:
        entries = stream.index_entries
        return {int(e.pos) + 8: int(e.timestamp) for e in (entries[i] for i in range(len(entries)))}
    except Exception:   # an old PyAV without index_entries, or a damaged index
        return {}


def _renumbered(index: dict[int, int], packet) -> str | None:
    """Why the demuxer's number for ``packet`` disagrees with the AVI ``index``, or None when it agrees."""
    if packet.pos is None or packet.dts is None:
        return None
    expected = index.get(int(packet.pos))
    if expected is None or expected == packet.dts:
        return None
    return (f"damaged: data lost in the middle of the stream (the chunk at byte {packet.pos} is frame {expected} "
            f"by the AVI index, read as frame {packet.dts}): frame numbers after it are unknown")
