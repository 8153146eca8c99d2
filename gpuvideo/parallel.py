"""Threads that survive ``fork`` (Keras's process workers): a lock, a ``map`` pool and a read-ahead thread."""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable


class ForkSafeLock:
    """A ``threading.Lock`` that a forked child gets anew.

    ``fork`` copies a lock in whatever state it was: held by a parent thread
    that does not exist in the child, it would never be released there.
    """

    def __init__(self):
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def __enter__(self):
        if self._pid != os.getpid():
            self._lock = threading.Lock()
            self._pid = os.getpid()
        self._lock.acquire()
        return self

    def __exit__(self, *exc):
        self._lock.release()


class ThreadMap:
    """``map(fn, items)`` on up to ``threads`` threads; one item or one thread runs inline.

    The pool is made on first use in each process: a forked child never uses
    (or shuts down) its parent's threads, which do not exist there.
    """

    def __init__(self, threads: int, name: str = "gpuvideo"):
        self.threads = max(1, int(threads))
        self.name = name
        self._pool = None
        self._pid = None
        self._lock = ForkSafeLock()

    def map(self, fn: Callable, items: Iterable) -> list:
        items = list(items)
        if self.threads <= 1 or len(items) <= 1:
            return [fn(i) for i in items]
        with self._lock:
            if self._pool is None or self._pid != os.getpid():
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix=self.name)
                self._pid = os.getpid()
            pool = self._pool
        return list(pool.map(fn, items))

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
            mine = self._pid == os.getpid()
        if pool is not None and mine:
            pool.shutdown(wait=False)


class ReadAhead:
    """Computes the next items in one background thread while the current one is used.

    :meth:`get` returns the value for ``key`` (waiting for it when it is being
    computed, else computing it inline), then starts the ``upcoming`` ones and
    forgets any other. Values and errors are those of the callables. Per process,
    like :class:`ThreadMap`.
    """

    def __init__(self, name: str = "gpuvideo-ahead"):
        self.name = name
        self._pool = None
        self._pid = None
        self._pending: dict = {}
        self._lock = ForkSafeLock()

    def get(self, key, make: Callable, upcoming: list[tuple[object, Callable]]):
        with self._lock:
            if self._pid != os.getpid():
                self._pool = ThreadPoolExecutor(1, thread_name_prefix=self.name)
                self._pid = os.getpid()
                self._pending = {}
            future = self._pending.pop(key, None)
            keep = {k for k, _ in upcoming}
            for k in [k for k in self._pending if k not in keep]:
                self._pending.pop(k).cancel()
            if future is not None:           # one background thread: the next ones run after this one
                self._schedule(upcoming)
        if future is not None:
            return future.result()
        value = make()                        # not read ahead: read it here first, then start the next ones,
        with self._lock:                      # so that two reads of the same files never run at once
            self._schedule(upcoming)
        return value

    def _schedule(self, upcoming) -> None:
        for k, fn in upcoming:
            if k not in self._pending:
                self._pending[k] = self._pool.submit(fn)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
            mine = self._pid == os.getpid()
            for f in self._pending.values():
                f.cancel()
            self._pending = {}
            self._pid = None
        if pool is not None and mine:
            pool.shutdown(wait=False)
