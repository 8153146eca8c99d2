"""The DALI pipeline behind :class:`~gpuvideo.decode.dali_decoder.DaliDecoder`, one per (process, thread).

``encoded bytes + frame indices -> fn.decoders.video -> resize -> grey``, with
``pad_mode="none"``: a frame past the end of a file is an error, never a black
frame. :class:`PipelineSet` keeps a pipeline per (process id, thread id): a
forked worker builds its own and never touches (or destroys) its parent's.

Hand-over on the GPU (:meth:`PipelineSet.run`): DALI reuses its output
buffers on the next run, and its streams are not CuPy's. The pipeline returns
its outputs on gpuvideo's copy stream (``run(cuda_stream)``); each sample is
copied into a new CuPy array on that stream; an event recorded after the
copies is what the caller's stream waits for, and what the next run of the
same pipeline waits for before DALI may overwrite its buffers. Nothing waits
for the whole device (which would also wait for the training step).
"""
from __future__ import annotations

import logging
import os
import threading

import numpy as np

from ..ops import GREY_SHIFT, GREY_WEIGHTS
from ..parallel import ForkSafeLock

log = logging.getLogger("gpuvideo")

# Pipelines owned by another process (inherited through fork). Destroying them in the child would wait
# on threads that do not exist there, so they are parked here and never freed in that process.
_FOREIGN: list = []


def build_pipeline(device: str, batch_size: int, num_threads: int, device_id, size, nb_channel: int,
                   in_pipeline: bool):
    """A built DALI pipeline: inputs ``"encoded"`` (uint8 file bytes) and ``"frames"`` (int32 indices)."""
    import nvidia.dali.fn as fn
    import nvidia.dali.types as types
    from nvidia.dali import pipeline_def

    @pipeline_def(batch_size=batch_size, num_threads=num_threads, device_id=device_id,
                  prefetch_queue_depth=1, exec_async=False, exec_pipelined=False)
    def clip_pipeline():
        encoded = fn.external_source(name="encoded", dtype=types.UINT8, ndim=1, no_copy=True)
        frames = fn.external_source(name="frames", dtype=types.INT32, ndim=1)
        video = fn.decoders.video(encoded, frames=frames, device="mixed" if device == "gpu" else "cpu",
                                  pad_mode="none")
        if in_pipeline and size is not None:
            video = fn.resize(video, size=[size[1], size[0]], interp_type=types.INTERP_LINEAR,
                              antialias=False, dtype=types.UINT8)
        if in_pipeline and nb_channel == 1:
            c = fn.cast(video, dtype=types.INT32)
            w = GREY_WEIGHTS
            y = (c[:, :, :, 0] * w[0] + c[:, :, :, 1] * w[1] + c[:, :, :, 2] * w[2]
                 + (1 << (GREY_SHIFT - 1))) // (1 << GREY_SHIFT)
            video = fn.expand_dims(fn.cast(y, dtype=types.UINT8), axes=[3], new_axis_names="C")
        return video

    pipe = clip_pipeline()
    pipe.build()
    return pipe


class _Slot:
    """A pipeline and the event its last outputs' copies recorded (None on the CPU)."""
    __slots__ = ("pipe", "copied")

    def __init__(self, pipe):
        self.pipe = pipe
        self.copied = None


class PipelineSet:
    """Pipelines made by ``make()`` on demand, one per (process, thread); see the module doc."""

    def __init__(self, make, device: str, device_id: int | None):
        self._make = make
        self.device = device
        self.device_id = device_id
        self._slots: dict[tuple, _Slot] = {}
        self._lock = ForkSafeLock()
        self._stream = {}     # (pid, thread) -> CuPy copy stream

    def _slot(self) -> _Slot:
        key = (os.getpid(), threading.get_ident())
        with self._lock:
            slot = self._slots.get(key)
            if slot is not None:
                return slot
            self._park_foreign()
            alive = {t.ident for t in threading.enumerate()}
            for k in [k for k in self._slots if k[0] == key[0] and k[1] not in alive]:
                del self._slots[k]
        slot = _Slot(self._make())
        with self._lock:
            self._slots[key] = slot
        return slot

    def _park_foreign(self) -> None:
        pid = os.getpid()
        for k in [k for k in self._slots if k[0] != pid]:
            _FOREIGN.append(self._slots.pop(k))

    def drop(self) -> None:
        """Forget this thread's pipeline (a failed pipeline is not reused)."""
        with self._lock:
            self._slots.pop((os.getpid(), threading.get_ident()), None)

    @property
    def count(self) -> int:
        """Live pipelines of this process."""
        pid = os.getpid()
        return sum(1 for k in self._slots if k[0] == pid)

    def close(self) -> None:
        with self._lock:
            self._park_foreign()
            had = bool(self._slots)
            self._slots.clear()
            self._stream.clear()
        if had:
            try:
                from nvidia.dali import backend as dali_backend
                dali_backend.ReleaseUnusedMemory()
            except Exception as e:   # not fatal: memory is released when the process ends
                log.debug("DALI ReleaseUnusedMemory failed: %s", e)

    def forget_foreign(self) -> None:
        """On deletion: park other processes' pipelines, let this process's go."""
        self._park_foreign()
        self._slots.clear()

    # ------------------------------------------------------------------ running
    def run(self, encoded: list, frames: list) -> list:
        """One run: per sample, an own copy of the output (NumPy on the CPU, CuPy on the GPU)."""
        slot = self._slot()
        if self.device == "cpu":
            (out,) = slot.pipe.run(encoded=encoded, frames=frames)
            return [np.array(out[k], copy=True) for k in range(len(encoded))]
        import cupy

        with cupy.cuda.Device(self.device_id):
            stream = self._copy_stream()
            if slot.copied is not None:
                slot.copied.synchronize()            # our last copies are done: DALI may reuse its buffers
            (out,) = slot.pipe.run(stream.ptr, encoded=encoded, frames=frames)
            clips = []
            for k in range(len(encoded)):
                t = out[k]
                a = cupy.empty(tuple(t.shape()), dtype=cupy.uint8)
                t.copy_to_external(a.data.ptr, cuda_stream=stream.ptr, non_blocking=True)
                clips.append(a)
            slot.copied = stream.record()
            cupy.cuda.get_current_stream().wait_event(slot.copied)
        return clips

    def _copy_stream(self):
        import cupy

        key = (os.getpid(), threading.get_ident())
        stream = self._stream.get(key)
        if stream is None:
            stream = self._stream[key] = cupy.cuda.Stream(non_blocking=True)
        return stream
