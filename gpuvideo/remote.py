"""Videos in object storage: ``s3://``, ``gs://``, ``az://``, ``http(s)://`` (any fsspec URL) opened, listed and
stat'ed for discovery, the index and the decoders (``pip install gpuvideo[remote]``).

Files are read with range requests: PyAV reads through :class:`RemoteFile`, a
seekable file over fsspec's block cache, so only the blocks around what FFmpeg
asks for are fetched (``block_size`` bytes each, at most ``max_blocks`` kept per
open file: the read-ahead and the memory are bounded). A failed request is
retried ``retries`` times with exponential backoff (``backoff``, ``2*backoff``,
...); then the file is reported unusable (every further read fails at once),
so the generators list it in ``bad_files`` and replace it. Every request has a
``timeout`` (seconds, connect and read) on S3 and HTTP; for other stores pass
their own timeout settings in ``storage_options``.

Settings are per process: :func:`configure`. Counters for tests and
benchmarks: :func:`stats`. The index cache keys remote files by the size and
ETag (or modification time) that the store reports (:func:`stamp`). Indexing an
MP4/MOV file fetches its ``moov`` box and the start of its media, not the rest
(:mod:`gpuvideo.mp4index`); other containers are read once in full to index them.
"""
from __future__ import annotations

import dataclasses
import io
import logging
import re
import threading
import time
from typing import Any, Mapping

from .options import Options, check_int

log = logging.getLogger("gpuvideo")

#: bytes at the start of each MP4 media box fetched while indexing (FFmpeg decodes the first frame there)
INDEX_KEEP = 512 * 1024
_URL = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")
_NOT_RETRIED = (FileNotFoundError, PermissionError, IsADirectoryError)


class RemoteError(OSError):
    """A remote file could not be read (after retries), listed or stat'ed."""


@dataclasses.dataclass(frozen=True)
class RemoteOptions(Options):
    """How remote files are read.

    ``block_size``: bytes per range request; ``max_blocks``: blocks kept per open file
    (memory and read-ahead bound ``block_size * max_blocks``); ``timeout``: seconds to
    connect and between bytes received (S3, HTTP); ``retries``: further tries of a
    failed request, ``backoff`` seconds before the first (doubling after each);
    ``storage_options``: ``{protocol: {fsspec argument: value}}``, e.g.
    ``{"s3": {"endpoint_url": ..., "anon": True}}``, merged over gpuvideo's timeouts.
    """
    block_size: int = 64 * 1024
    max_blocks: int = 32
    timeout: float = 20.0
    retries: int = 3
    backoff: float = 0.5
    storage_options: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)

    def validate(self):
        check_int("block_size", self.block_size, 4096)
        check_int("max_blocks", self.max_blocks, 1)
        check_int("retries", self.retries, 0)
        for name in ("timeout", "backoff"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or \
                    (name == "timeout" and value == 0):
                raise ValueError(f"{name} must be a number of seconds {'> 0' if name == 'timeout' else '>= 0'}, "
                                 f"got {value!r}")


_options = RemoteOptions()
_lock = threading.Lock()
_stats = {"bytes_fetched": 0, "requests": 0, "retries": 0, "failed_files": 0}


def configure(**changes) -> RemoteOptions:
    """Change this process's :class:`RemoteOptions` (fields as keywords); returns the new options.
    Set them before the generators are built (forked workers inherit them)."""
    global _options
    _options = _options.replace(**changes)
    return _options


def options() -> RemoteOptions:
    return _options


def stats(reset: bool = False) -> dict[str, int]:
    """This process's counters: ``bytes_fetched`` and ``requests`` (range reads of file contents),
    ``retries``, ``failed_files``; ``reset=True`` zeroes them after reading."""
    with _lock:
        out = dict(_stats)
        if reset:
            for k in _stats:
                _stats[k] = 0
    return out


def _count(**deltas) -> None:
    with _lock:
        for k, v in deltas.items():
            _stats[k] += v


def is_remote(path) -> bool:
    """True for a URL with a scheme other than ``file://`` (``s3://``, ``gs://``, ``http://``...)."""
    m = _URL.match(str(path))
    return bool(m) and m.group(1).lower() != "file"


def _fs(url: str):
    """``(filesystem, path within it)`` for ``url``, with gpuvideo's timeouts and ``storage_options``."""
    try:
        import fsspec
    except ImportError:
        raise RemoteError(f"{url}: remote files need fsspec and the store's package: "
                          f"pip install 'gpuvideo[remote]'") from None
    protocol = _URL.match(url).group(1).lower()
    opts = _default_storage_options(protocol, _options.timeout)
    for key, value in dict(_options.storage_options.get(protocol, {})).items():
        opts[key] = {**opts[key], **value} if isinstance(opts.get(key), dict) and isinstance(value, dict) else value
    try:
        return fsspec.core.url_to_fs(url, **opts)
    except ImportError as e:
        raise RemoteError(f"{url}: {e} (pip install 'gpuvideo[remote]')") from None


def _default_storage_options(protocol: str, timeout: float) -> dict:
    """Timeouts (connect and read) where gpuvideo knows the store's settings; its own retries stay off."""
    if protocol in ("s3", "s3a"):
        return {"config_kwargs": {"connect_timeout": timeout, "read_timeout": timeout,
                                  "retries": {"max_attempts": 1, "mode": "standard"}}}
    if protocol in ("http", "https"):
        import aiohttp

        return {"client_kwargs": {"timeout": aiohttp.ClientTimeout(total=None, sock_connect=timeout,
                                                                   sock_read=timeout)}}
    return {}


def _retry(what: str, url: str, call):
    """``call()``, retried with backoff on errors other than missing files; :class:`RemoteError` after."""
    delay = _options.backoff
    for attempt in range(_options.retries + 1):
        try:
            return call()
        except _NOT_RETRIED as e:
            raise RemoteError(f"{url}: {what}: {type(e).__name__}: {e}") from e
        except Exception as e:   # network errors come as many types (aiohttp, botocore, asyncio, OSError)
            if attempt == _options.retries:
                raise RemoteError(f"{url}: {what} failed after {attempt + 1} tries: "
                                  f"{type(e).__name__}: {e}") from e
            log.debug("%s: %s failed (%s: %s), retrying in %.2f s", url, what, type(e).__name__, e, delay)
            _count(retries=1)
            time.sleep(delay)
            delay *= 2


def glob_files(pattern: str) -> list[str]:
    """Sorted URLs of the files matching ``pattern`` (``*``, ``?``, ``[...]``, ``**``), each once."""
    fs, path = _fs(pattern)
    found = _retry("listing", pattern, lambda: fs.glob(path, detail=True))
    return sorted({_unstrip(fs, pattern, p) for p, info in found.items() if info.get("type", "file") == "file"})


def _unstrip(fs, pattern: str, path: str) -> str:
    """A path from ``fs`` as a URL of the same scheme as ``pattern``."""
    if is_remote(path):
        return path
    scheme = _URL.match(pattern).group(0)
    return scheme + path.lstrip("/")


def stamp(url: str) -> list:
    """``[size, ETag or modification time]`` as the store reports them (the index cache's key)."""
    fs, path = _fs(url)
    info = _retry("stat", url, lambda: fs.info(path))
    tag = next((info[k] for k in ("ETag", "etag", "md5Hash", "Content-MD5", "LastModified", "last_modified",
                                  "Last-Modified", "updated", "mtime") if info.get(k)), None)
    return [int(info.get("size") or 0), str(tag) if tag is not None else None]


def file_size(path) -> int:
    """Bytes in ``path`` (local or remote)."""
    if is_remote(path):
        return stamp(str(path))[0]
    import os

    return os.path.getsize(path)


def is_file(path) -> bool:
    """True for an existing local file, or a URL the store can stat (after its retries)."""
    if not is_remote(path):
        import os

        return os.path.isfile(path)
    try:
        stamp(str(path))
        return True
    except Exception:   # noqa: BLE001 - not found, or the store keeps failing: reported as missing
        return False


def open_container(path, index_only: bool = False, **kwargs):
    """``av.open`` of a local path, or of a :class:`RemoteFile` for a URL (``kwargs`` go to ``av.open``).

    ``index_only``: the container is only demuxed (packet timing and flags, never decoded past its
    first frames): an MP4/MOV file's media bytes are then not fetched (see :mod:`gpuvideo.mp4index`),
    and :func:`index_keyframes` gives its keyframes."""
    import av

    if not is_remote(path):
        return av.open(str(path), **kwargs)
    f = RemoteFile(str(path))
    if index_only:
        _skip_media(f)
    container = av.open(f, **kwargs)
    if f.holes and _python_file(container) is not f:   # cannot map it back: read this one in full
        container.close()
        return av.open(RemoteFile(str(path)), **kwargs)
    return container


def _skip_media(f: "RemoteFile") -> None:
    from .mp4index import media_holes, sync_samples

    holes = media_holes(f.pread, f.size, INDEX_KEEP)
    sync = sync_samples(f.pread, f.size) if holes else None
    if holes and sync is not None:
        f.holes, f.sync_samples = holes, sync


def _python_file(container):
    """The Python file object PyAV reads ``container`` from (None when it is not exposed)."""
    return getattr(getattr(container, "file", None), "file", None)


def index_keyframes(container, decode_pts: list, key_pts: list) -> list:
    """Keyframe timestamps of a demuxed container: ``key_pts`` (from packet flags), or, for an MP4 read
    without its media bytes, the sync samples of its ``stss`` box (``decode_pts``: every packet's
    timestamp in decode order)."""
    f = _python_file(container)
    if isinstance(f, RemoteFile) and f.holes:
        from .mp4index import keyframe_pts

        return keyframe_pts(decode_pts, f.sync_samples)
    return key_pts


class RemoteFile(io.RawIOBase):
    """A seekable, read-only file over range requests (see the module doc); ``bytes_fetched`` counts the
    bytes this file received. After the retries of one read are spent, every read raises
    :class:`RemoteError`: the file is reported unusable instead of being retried again and again."""

    def __init__(self, url: str):
        super().__init__()
        self.url = url
        self._opts = _options
        self._pos = 0
        self.bytes_fetched = 0
        self._failed: RemoteError | None = None
        self._file = _retry("open", url, self._open)
        self.size = self._file.size
        #: byte ranges read as zeros without fetching (see :func:`open_container`'s ``index_only``)
        self.holes: list[tuple[int, int]] = []
        self.sync_samples: list[int] | None = None

    def _open(self):
        fs, path = _fs(self.url)
        f = fs.open(path, "rb", block_size=self._opts.block_size, cache_type="blockcache",
                    cache_options={"maxblocks": self._opts.max_blocks})
        fetch = f.cache.fetcher

        def counted(start, end):
            data = fetch(start, end)
            self.bytes_fetched += len(data)
            _count(bytes_fetched=len(data), requests=1)
            return data

        f.cache.fetcher = counted
        return f

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        self._pos = max(0, base + int(offset))
        return self._pos

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = self.size - self._pos
        size = max(0, min(size, self.size - self._pos))
        start, end = self._pos, self._pos + size
        out, pos = bytearray(), start
        for a, b in self.holes:
            if a >= end or b <= pos:
                continue
            if a > pos:
                out += self.pread(pos, a - pos)
            out += bytes(min(b, end) - max(a, pos))
            pos = min(b, end)
        if pos < end:
            out += self.pread(pos, end - pos)
        self._pos = start + len(out)
        return bytes(out)

    def pread(self, offset: int, size: int) -> bytes:
        """``size`` bytes at ``offset`` (fetched, holes ignored; the position does not move)."""
        if self._failed is not None:
            raise self._failed
        size = max(0, min(size, self.size - offset))
        if size == 0:
            return b""
        try:
            return _retry(f"reading bytes {offset}-{offset + size - 1}", self.url, lambda: self._read(offset, size))
        except RemoteError as e:
            self._failed = e
            _count(failed_files=1)
            log.warning("%s", e)
            raise

    def _read(self, offset: int, size: int) -> bytes:
        try:
            self._file.seek(offset)
            return self._file.read(size)
        except _NOT_RETRIED:
            raise
        except Exception:
            self._file = self._open()    # a fresh connection for the next try
            raise

    def close(self) -> None:
        f = self.__dict__.get("_file")
        if f is not None:
            try:
                f.close()
            except Exception as e:
                log.debug("%s: closing: %s", self.url, e)
        super().close()
