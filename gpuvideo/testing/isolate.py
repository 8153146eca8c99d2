"""Call functions in a child process with a time limit per call (hangs and crashes stay in the child)."""
from __future__ import annotations

import multiprocessing as mp
import os
import time
import traceback

from ..lifetime import Closing


class ChildCrashed(RuntimeError):
    """The child process died during a call (a signal such as SIGSEGV, or out of memory)."""


class RemoteError(RuntimeError):
    """An exception raised by the called function; ``type_name`` and ``remote_traceback`` say what and where."""

    def __init__(self, type_name: str, message: str, remote_traceback: str):
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.remote_traceback = remote_traceback


def _peak_rss() -> int:
    """This process's peak resident memory in bytes: VmHWM (per address space, so a fresh count after exec;
    ru_maxrss would carry over the forking parent's peak), else ru_maxrss."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _serve(conn, memory_limit: int | None) -> None:
    import resource

    if memory_limit:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        fn, args, kwargs = job
        t = time.perf_counter()
        try:
            result = fn(*args, **kwargs)
            reply = ("ok", result)
        except BaseException as e:   # everything goes back to the parent, which decides
            reply = ("error", (type(e).__name__, str(e), traceback.format_exc()))
        conn.send(reply + (time.perf_counter() - t, _peak_rss()))


class Isolated(Closing):
    """Runs ``fn(*args)`` in a child process, one call at a time, at most ``timeout`` seconds per call.

    A call past its time limit kills the child and raises ``TimeoutError``; a child that dies raises
    :class:`ChildCrashed`; an exception in ``fn`` raises :class:`RemoteError`. A new child starts for the
    next call after a kill or a crash. ``fn`` must be importable by name (a module-level function) and its
    arguments and result picklable. After each call, ``last_seconds`` is the call's time and ``peak_rss``
    the child's peak resident memory in bytes (since it started). ``memory_limit`` (bytes) caps the
    child's address space. Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, timeout: float = 30.0, memory_limit: int | None = None, start_method: str = "spawn"):
        self.timeout = float(timeout)
        self.memory_limit = memory_limit
        self._ctx = mp.get_context(start_method)
        self._proc = None
        self._conn = None
        self.last_seconds = 0.0
        self.peak_rss = 0
        self.restarts = 0

    def _start(self) -> None:
        parent, child = self._ctx.Pipe()
        self._proc = self._ctx.Process(target=_serve, args=(child, self.memory_limit), daemon=True)
        self._proc.start()
        child.close()
        self._conn = parent

    def _kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.join(5)
        if self._conn is not None:
            self._conn.close()
        self._proc = self._conn = None
        self.restarts += 1

    def call(self, fn, *args, **kwargs):
        if self._proc is None or not self._proc.is_alive():
            self._start()
        t = time.perf_counter()
        try:
            self._conn.send((fn, args, kwargs))
            ready = self._conn.poll(self.timeout)
        except (BrokenPipeError, EOFError, OSError) as e:
            code = self._proc.exitcode
            self._kill()
            raise ChildCrashed(f"child process died (exit code {code}): {e}") from e
        if not ready:
            self._kill()
            self.last_seconds = time.perf_counter() - t
            raise TimeoutError(f"{getattr(fn, '__name__', fn)} ran past {self.timeout:g} s")
        try:
            status, payload, seconds, peak = self._conn.recv()
        except (EOFError, OSError) as e:
            self._proc.join(5)
            code = self._proc.exitcode
            self._kill()
            raise ChildCrashed(f"child process died (exit code {code})") from e
        self.last_seconds, self.peak_rss = seconds, peak
        if status == "error":
            raise RemoteError(*payload)
        return payload

    def close(self) -> None:
        if self._proc is not None and self._proc.is_alive():
            try:
                self._conn.send(None)
                self._proc.join(5)
            except OSError:
                pass
        if self._proc is not None and self._proc.is_alive():
            self._proc.kill()
            self._proc.join(5)
        if self._conn is not None:
            self._conn.close()
        self._proc = self._conn = None


def pid() -> int:
    """The calling process's id (lets tests check that calls really run elsewhere)."""
    return os.getpid()
