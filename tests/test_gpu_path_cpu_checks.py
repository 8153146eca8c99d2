"""The GPU path's failure modes, checked on the CPU: excerpts of long videos, no padded frames, device
errors retried (not blamed on files), fork refused, the device chosen, the stream-correct hand-over
(with stand-ins for CuPy and DALI), read-ahead, and the install's CuPy requirement."""
import importlib.metadata
import logging
import sys
import types

import numpy as np
import pytest

import gpuvideo
from gpuvideo.decode import excerpt, resolve_device_id, select
from gpuvideo.probe import VideoInfo, probe
from gpuvideo.synthetic import read_index, write_index_video

EXCERPT_CODECS = {"h264": ".mp4", "mpeg4_bframes": ".avi", "mpeg4": ".avi", "vp9": ".webm", "mjpeg": ".avi"}


@pytest.fixture(scope="module")
def long_videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("long")
    return {c: probe(str(write_index_video(root / f"long_{c}{s}", 300, 64, 48, codec=c)))
            for c, s in EXCERPT_CODECS.items()}


@pytest.mark.parametrize("codec", sorted(EXCERPT_CODECS))
@pytest.mark.parametrize("first,last", [(0, 10), (50, 70), (130, 131), (250, 299), (299, 299)])
def test_excerpt_decodes_the_same_frames(long_videos, codec, first, last):
    """PyAV decodes the excerpt: its frame i is source frame start + i, for every frame up to ``last``."""
    import io

    import av
    info = long_videos[codec]
    data, start = excerpt.gop_excerpt(info, first, last)
    assert start <= first and start in info.keyframes
    with av.open(io.BytesIO(data)) as c:
        got = [read_index(f.to_ndarray(format="rgb24")) for f in c.decode(c.streams.video[0])]
    assert got[:last - start + 1] == list(range(start, last + 1))
    assert len(data) < 0.5 * len(open(info.path, "rb").read())


def test_when_to_excerpt(long_videos, index_videos):
    info = long_videos["h264"]
    assert excerpt.worth_excerpting(info, 200, 220)
    assert not excerpt.worth_excerpting(info, 0, 290)                  # most of the file anyway
    assert not excerpt.worth_excerpting(probe(index_videos["h264"]), 10, 12)   # 60 frames: handed over whole
    with pytest.raises(gpuvideo.VideoError, match="not found"):
        excerpt.gop_excerpt(VideoInfo(**{**info.__dict__, "pts": info.pts[:-1] + [10 ** 9]}), 290, 299)


# ---------------------------------------------------------------------------------------------- DALI (CPU decoder)
@pytest.fixture(scope="module")
def dali():
    return pytest.importorskip("nvidia.dali")


def test_long_video_requests_are_excerpts_of_bounded_size(dali, tmp_path):
    from gpuvideo.decode.dali_decoder import DaliDecoder
    path = write_index_video(tmp_path / "long.webm", 2000, 64, 48, codec="vp9")
    info = probe(str(path))
    d = DaliDecoder("cpu", batch_size=2)
    fed = []
    real = d.pipes.run
    d.pipes.run = lambda encoded, frames: (fed.append([len(e) for e in encoded]), real(encoded, frames))[1]
    for first in (10, 900, 1900):
        idx = np.arange(first, first + 40, 3)
        clip = d.decode([(info, idx)])[0]
        assert [read_index(f) for f in clip] == idx.tolist()
    assert d.stats["excerpts"] == 3 and d.stats["fallback"] == 0
    size = path.stat().st_size
    assert all(n[0] < size / 10 for n in fed), (fed, size)
    assert max(n[0] for n in fed) < 3 * min(n[0] for n in fed)         # the same cost anywhere in the file
    d.close()


def test_frames_past_the_real_end_are_never_black(dali, index_videos, caplog):
    """A file shorter than its index says: DALI refuses (pad_mode='none'), PyAV reports the lost frames."""
    from gpuvideo.decode.dali_decoder import DaliDecoder
    from gpuvideo.errors import MissingFrames
    real = probe(index_videos["vp9"])
    claimed = VideoInfo(**{**real.__dict__, "frame_count": 80, "pts": real.pts + [real.pts[-1] + 1 + k for k in range(20)]})
    with DaliDecoder("cpu", batch_size=2) as d:
        with caplog.at_level(logging.WARNING, logger="gpuvideo"):
            out = d.decode([(claimed, [0, 59, 70]), (real, [5])])
    assert read_index(out[1][0]) == 5
    assert isinstance(out[0], MissingFrames) and out[0].missing == [70]
    assert out[0].present.tolist() == [True, True, False]
    assert [read_index(f) for f in out[0].clip[:2]] == [0, 59]
    assert not d.supported(claimed)[0]              # remembered (per path): PyAV from now on


def test_device_errors_are_retried_and_never_blamed_on_files(dali, index_videos, caplog):
    from gpuvideo.decode.dali_decoder import DaliDecoder, is_transient
    from gpuvideo.errors import BadInputReport
    assert is_transient(RuntimeError("CUDA error: out of memory")) and not is_transient(RuntimeError("bad data"))
    info = probe(index_videos["vp9"])
    report = BadInputReport()
    d = DaliDecoder("cpu", batch_size=2, report=report)
    real, calls = d.pipes.run, []

    def flaky(encoded, frames):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("cudaErrorMemoryAllocation: out of memory")
        return real(encoded, frames)

    d.pipes.run = flaky
    with caplog.at_level(logging.WARNING, logger="gpuvideo"):
        clip = d.decode([(info, [3, 4])])[0]
    assert [read_index(f) for f in clip] == [3, 4] and report.counts() == {"dali_retries": 1}
    assert any("TF_FORCE_GPU_ALLOW_GROWTH" in r.getMessage() for r in caplog.records)
    d.pipes.run = lambda encoded, frames: (_ for _ in ()).throw(RuntimeError("CUDA_ERROR_LAUNCH_FAILED"))
    clip = d.decode([(info, [7])])[0]                 # the device keeps failing: this batch on the CPU
    assert read_index(clip[0]) == 7
    assert report.counts()["dali_device_errors"] == 1 and d.supported(info)[0]     # the file is not condemned
    d.close()


# ---------------------------------------------------------------------------------------------- generator level
def test_gpu_backend_refuses_forked_workers(monkeypatch, index_videos):
    monkeypatch.setattr(select, "gpu_status", lambda: (True, "pretend"))
    with pytest.raises(ValueError, match="use_multiprocessing=False"):
        gpuvideo.VideoTimeseriesGenerator(index_videos["h264"], None, length=4, backend="gpu", index_cache=None,
                                          use_multiprocessing=True, workers=2)


def test_device_id_follows_the_launcher(monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert resolve_device_id(None) == 3 and resolve_device_id(1) == 1
    monkeypatch.delenv("LOCAL_RANK")
    assert resolve_device_id(None) == 0            # no CuPy here: DALI's default device
    with pytest.raises(ValueError, match="device_id"):
        gpuvideo.VideoTimeseriesGenerator("x.mp4", None, length=4, device_id=-1)


@pytest.mark.parametrize("shuffle", [False, True])
def test_read_ahead_gives_the_same_batches(index_videos, shuffle):
    kw = dict(length=4, stride=3, batch_size=4, target_shape=(32, 24), index_cache=None, shuffle=shuffle, seed=5,
              complete_last_batch=True)
    videos = [index_videos["h264"], index_videos["mpeg4"]]
    plain = gpuvideo.VideoTimeseriesGenerator(videos, None, prefetch=0, **kw)
    ahead = gpuvideo.VideoTimeseriesGenerator(videos, None, prefetch=2, **kw)
    for _ in range(2):                              # two epochs: the read-ahead follows the new order
        for i in range(len(plain)):
            np.testing.assert_array_equal(ahead[i], plain[i])
        plain.on_epoch_end()
        ahead.on_epoch_end()
    decoded = ahead.decoded
    ahead[0]
    import time
    for _ in range(200):                            # batches 1 and 2 are read in the background
        if ahead.decoded > decoded + 8:
            break
        time.sleep(0.01)
    assert ahead.decoded > decoded + 8
    ahead.close()


# ---------------------------------------------------------------------------------------------- hand-over, stand-ins
class _Log(list):
    def __call__(self, *what):
        self.append(what)


def _fake_cupy(log):
    class Event:
        def synchronize(self):
            log("event.synchronize")

    class Stream:
        ptr = 1234

        def __init__(self, non_blocking=False):
            log("Stream", non_blocking)

        def record(self):
            log("record")
            return Event()

    class Current:
        def wait_event(self, e):
            log("current.wait_event")

    class Array:
        def __init__(self, shape):
            self.shape = shape
            self.data = types.SimpleNamespace(ptr=99)

    class Device:
        def __init__(self, i):
            self.i = i

        def __enter__(self):
            log("device", self.i)

        def __exit__(self, *a):
            pass

    cuda = types.SimpleNamespace(Stream=Stream, Device=Device, get_current_stream=lambda: Current())
    return types.SimpleNamespace(cuda=cuda, uint8="uint8", empty=lambda shape, dtype: Array(shape))


def test_hand_over_waits_for_its_copies_not_the_device(monkeypatch):
    """Outputs bound to gpuvideo's copy stream, copied there without blocking, the caller's stream made to
    wait for the copies, and the next run waits for them before DALI may reuse its buffers; nothing waits
    for the whole device (the stand-in CuPy has no deviceSynchronize)."""
    from gpuvideo.decode.dali_pipeline import PipelineSet
    log = _Log()
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(log))

    class Tensor:
        def shape(self):
            return [2, 4, 4, 3]

        def copy_to_external(self, ptr, cuda_stream=None, non_blocking=False):
            log("copy", cuda_stream, non_blocking)

    class Pipe:
        def run(self, stream=None, **inputs):
            log("run", stream, sorted(inputs))
            return ([Tensor(), Tensor()],)

    pipes = PipelineSet(Pipe, "gpu", 1)
    for _ in range(2):
        clips = pipes.run([b"a", b"b"], [[0, 1], [0, 1]])
        assert [c.shape for c in clips] == [(2, 4, 4, 3)] * 2
    first = [("device", 1), ("Stream", True), ("run", 1234, ["encoded", "frames"]), ("copy", 1234, True),
             ("copy", 1234, True), ("record",), ("current.wait_event",)]
    assert log[:7] == first
    assert log[7:] == [("device", 1), ("event.synchronize",)] + first[2:]


def test_gpu_extra_brings_cuda_headers():
    """CuPy 14 compiles kernels with NVRTC, which needs the CUDA headers: the gpu extra asks for cupy[ctk]."""
    reqs = importlib.metadata.requires("gpuvideo") or []
    gpu = [r for r in reqs if 'extra == "gpu"' in r]
    assert any(r.replace(" ", "").startswith("cupy-cuda13x[ctk]") for r in gpu), gpu
    assert any(r.startswith("nvidia-dali-cuda130") for r in gpu), gpu
