"""Objects that hold files, threads, pipelines or child processes and release them with ``close()``.

:class:`ClosedOnDelete` calls ``close()`` when the object is garbage collected;
:class:`Closing` also makes it a context manager (``with obj: ...`` closes it at
the end of the block).
"""
from __future__ import annotations


class ClosedOnDelete:
    """Calls :meth:`close` when garbage collected; errors then are ignored (the interpreter may be exiting)."""

    def close(self) -> None:
        """Release what the object holds (a subclass says what)."""
        raise NotImplementedError

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class Closing(ClosedOnDelete):
    """``with obj:`` returns ``obj`` and closes it at the end of the block; garbage collection closes it too."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
