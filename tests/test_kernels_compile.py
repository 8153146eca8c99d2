"""Every kernels/*.cu compiles with nvcc for sm_90; the Farneback kernels also run on the CPU
with CUDA's grid semantics (no GPU needed), see ``tests/kernel_emu.py``.

The real ``gpuvideo.farneback.cupy_impl.farneback_cupy`` host code drives g++ builds of
``kernels/farneback.cu`` through a NumPy-backed stand-in for CuPy. Every launch runs each
``(blockIdx.x, threadIdx.x)`` of the driver's launch configuration; outputs start as NaN
and must be written in full. One build runs in this process (accuracy, thread order,
copy counts); one runs under AddressSanitizer + UndefinedBehaviorSanitizer in a
subprocess, with the grid capped so that every grid-stride loop wraps. What this cannot
see: NVRTC itself, real concurrency (other than the thread-order check), timing.
"""

import pathlib
import shutil
import subprocess

import cv2
import numpy as np
import pytest

import kernel_emu

REPO = pathlib.Path(__file__).resolve().parent.parent
KERNELS = sorted((REPO / "kernels").glob("*.cu"))


def test_kernel_sources_found():
    from gpuvideo.cuda_kernels import kernel_source_path

    assert (REPO / "kernels" / "farneback.cu") in KERNELS
    assert kernel_source_path("farneback") == kernel_source_path("farneback.cu")
    assert kernel_source_path("farneback").read_text().startswith("//")
    with pytest.raises(FileNotFoundError):
        kernel_source_path("no_such_kernel")
    with pytest.raises(ValueError):
        kernel_source_path("../setup.py")


def test_kernel_sources_found_when_installed(tmp_path):
    """setup.py installs kernels/ as gpuvideo/kernels/; an installed copy finds its sources there."""
    import os
    import sys

    build = subprocess.run([sys.executable, "setup.py", "-q", "build_py", "-d", str(tmp_path / "site")], cwd=REPO,
                           capture_output=True, text=True, timeout=120)
    assert build.returncode == 0, build.stderr
    installed = tmp_path / "site" / "gpuvideo" / "kernels" / "farneback.cu"
    assert installed.read_text() == (REPO / "kernels" / "farneback.cu").read_text()
    probe = subprocess.run([sys.executable, "-c", "from gpuvideo.cuda_kernels import kernel_source_path as k; "
                            "print(k('farneback'))"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, PYTHONPATH=str(tmp_path / "site")))
    assert probe.returncode == 0, probe.stderr
    assert pathlib.Path(probe.stdout.strip()) == installed


@pytest.mark.parametrize("src", KERNELS, ids=[p.name for p in KERNELS])
def test_nvcc_compiles_to_ptx(src, tmp_path):
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc not found")
    out = tmp_path / (src.stem + ".ptx")
    proc = subprocess.run(
        [nvcc, "--std=c++17", "-arch=sm_90", "--ptx", "-o", str(out), str(src)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    ptx = out.read_text()
    if src.name == "farneback.cu":
        for name in ("fb_blur_rows_u8", "fb_blur_cols_resize", "fb_poly_exp_cols",
                     "fb_poly_exp_rows", "fb_update_matrices", "fb_box_cols",
                     "fb_box_rows_solve", "fb_gauss_cols", "fb_gauss_rows_solve",
                     "fb_resize_flow"):
            assert f".entry {name}(" in ptx, name


# ------------------------------------------------------------ emulation with CUDA grid semantics
needs_cxx = pytest.mark.skipif(kernel_emu.compiler() is None, reason="no host C++ compiler for the kernel emulation")
needs_asan = pytest.mark.skipif(kernel_emu.libasan() is None, reason="g++ with AddressSanitizer (libasan) not found")
FARNEBACK_CU = REPO / "kernels" / "farneback.cu"
ENTRY_POINTS = ("fb_blur_rows_u8", "fb_blur_cols_resize", "fb_poly_exp_cols", "fb_poly_exp_rows",
                "fb_update_matrices", "fb_box_cols", "fb_box_rows_solve", "fb_gauss_cols",
                "fb_gauss_rows_solve", "fb_resize_flow")
CONFIGS = {"default": dict(), "poly7": dict(poly_n=7, poly_sigma=1.5), "gauss256": dict(flags=256),
           "scale0.7_even_win": dict(pyr_scale=0.7, levels=4, winsize=10)}
#: a cap on the driver's grid that makes every grid-stride loop wrap (and not divide the work evenly)
WRAP_GRID = 3


@pytest.fixture(scope="session")
def emu_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("kernel_emu")


@pytest.fixture
def emulated_cupy(emu_dir, monkeypatch):
    if kernel_emu.compiler() is None:
        pytest.skip("no host C++ compiler for the kernel emulation")
    yield kernel_emu.install(monkeypatch, emu_dir)
    kernel_emu._clear_caches()


def _pair(rng, h, w, dx, dy):
    t = cv2.GaussianBlur(rng.random((h + 48, w + 48)).astype(np.float32), (0, 0), 2.0)
    t = (t - t.min()) / (t.max() - t.min())
    a = t[24:24 + h, 24:24 + w]
    b = cv2.warpAffine(t, np.float32([[1, 0, dx], [0, 1, dy]]), t.shape[::-1],
                       flags=cv2.INTER_CUBIC)[24:24 + h, 24:24 + w]
    return ((np.clip(a, 0, 1) * 255).round().astype(np.uint8),
            (np.clip(b, 0, 1) * 255).round().astype(np.uint8))


def _batch(seed, h, w, n=2, shift=3.0):
    rng = np.random.default_rng(seed)
    pairs = [_pair(rng, h, w, *rng.uniform(-shift, shift, 2)) for _ in range(n)]
    return np.stack([a for a, _ in pairs]), np.stack([b for _, b in pairs])


def _check_against_cv2(flow, prev, nxt, p, mean_gate=1e-3, p99_gate=0.05):
    assert flow.shape == prev.shape + (2,) and flow.dtype == np.float32
    for i in range(prev.shape[0]):
        want = cv2.calcOpticalFlowFarneback(prev[i], nxt[i], None, *p.as_cv2_args())
        e = np.linalg.norm(flow[i].astype(np.float64) - want, axis=-1)
        print(f"pair {i} {prev.shape[1:]}: mean EPE {e.mean():.3e} max {e.max():.3e}")
        assert e.mean() <= mean_gate and np.percentile(e, 99) <= p99_gate, (i, e.mean(), e.max())


def test_kernels_are_emulable_and_parsed():
    src = FARNEBACK_CU.read_text()
    kernel_emu.check_emulable(src)          # no shared memory, barriers, warp intrinsics, atomics, 2-D grids
    assert tuple(k.name for k in kernel_emu.parse_kernels(src)) == ENTRY_POINTS
    with pytest.raises(ValueError, match="__syncthreads"):
        kernel_emu.check_emulable(src + "\n__device__ void f() { __syncthreads(); }\n")


@needs_cxx
@pytest.mark.parametrize("name", list(CONFIGS))
def test_kernels_host_emulation_match_cv2(emulated_cupy, name):
    from gpuvideo.farneback import FarnebackParams
    from gpuvideo.farneback.cupy_impl import farneback_cupy

    p = FarnebackParams(**CONFIGS[name])
    prev, nxt = _batch(97133 + list(CONFIGS).index(name), 97, 133)
    flow = farneback_cupy(emulated_cupy.asarray(prev), emulated_cupy.asarray(nxt), p)
    assert isinstance(flow, kernel_emu.DeviceArray)
    _check_against_cv2(emulated_cupy.asnumpy(flow), prev, nxt, p)


#: sides of 9 px or less, where OpenCV's border rule is not "within 5 px of an edge"
TINY = [(1, 1), (2, 3), (6, 8), (9, 9), (9, 40), (40, 9), (5, 64)]


@needs_cxx
@pytest.mark.parametrize("name", ["default", "gauss256"])
def test_kernels_match_cv2_on_tiny_frames(emulated_cupy, name):
    from gpuvideo.farneback import FarnebackParams
    from gpuvideo.farneback.cupy_impl import farneback_cupy

    p = FarnebackParams(**CONFIGS[name])
    for h, w in TINY:
        prev, nxt = _batch([h, w], h, w)
        flow = farneback_cupy(emulated_cupy.asarray(prev), emulated_cupy.asarray(nxt), p)
        _check_against_cv2(emulated_cupy.asnumpy(flow), prev, nxt, p, mean_gate=1e-4)


@needs_cxx
def test_thread_order_does_not_change_the_result(emu_dir, monkeypatch):
    """No thread reads what another thread of the same launch writes: reversed thread order, same bits."""
    from gpuvideo.farneback import FarnebackParams
    from gpuvideo.farneback.cupy_impl import farneback_cupy

    prev, nxt = _batch(5, 41, 57)
    flows = []
    for reverse in (False, True):
        fake = kernel_emu.install(monkeypatch, emu_dir, reverse=reverse)
        for p in (FarnebackParams(), FarnebackParams(flags=256, levels=1)):
            flows.append(fake.asnumpy(farneback_cupy(fake.asarray(prev), fake.asarray(nxt), p)))
    kernel_emu._clear_caches()
    np.testing.assert_array_equal(flows[0], flows[2])
    np.testing.assert_array_equal(flows[1], flows[3])


# ------------------------------------------------------------ transfers: constants stay on the device
@needs_cxx
def test_second_call_makes_no_host_to_device_copy(emulated_cupy):
    """Taps, polynomial constants, resize tables and border weights go to the device once per
    (device, frame size, parameters); later calls copy nothing either way."""
    from gpuvideo.farneback import FarnebackParams
    from gpuvideo.farneback.cupy_impl import farneback_cupy

    fake, c = emulated_cupy, emulated_cupy.counters
    prev, nxt = _batch(7, 64, 80, n=3)
    dprev, dnext = fake.asarray(prev), fake.asarray(nxt)
    for p in (FarnebackParams(), FarnebackParams(poly_n=7, poly_sigma=1.5, flags=256)):
        h2d, d2h = c.h2d, c.d2h
        first = farneback_cupy(dprev, dnext, p)
        print(f"{p}: {c.h2d - h2d} host-to-device copies on the first call")
        assert c.h2d > h2d and c.d2h == d2h
        h2d = c.h2d
        second = farneback_cupy(dprev, dnext, p)
        assert (c.h2d, c.d2h) == (h2d, d2h), "the second call copied between host and device"
        np.testing.assert_array_equal(first, second)
        farneback_cupy(dprev[:1], dnext[:1], p)          # another batch size: same plan
        assert (c.h2d, c.d2h) == (h2d, d2h)
    h2d = c.h2d
    farneback_cupy(dprev[:, :32], dnext[:, :32], FarnebackParams())     # another frame size: its own constants
    assert c.h2d > h2d
    h2d = c.h2d
    with fake.cuda.Device(1):                                           # another device: its own copy
        farneback_cupy(dprev, dnext, FarnebackParams())
    assert c.h2d > h2d


@needs_cxx
def test_motion_images_on_device_arrays_run_farneback_once_per_batch(emulated_cupy, monkeypatch):
    """A batch of clips is one Farneback call over all pairs, with no host round trip."""
    from gpuvideo import motion
    from gpuvideo.farneback import FarnebackParams, cupy_impl

    fake, c = emulated_cupy, emulated_cupy.counters
    calls = []
    real = cupy_impl.farneback_cupy
    monkeypatch.setattr(cupy_impl, "farneback_cupy", lambda a, b, p=None: calls.append(a.shape) or real(a, b, p))
    rng = np.random.default_rng(48)
    small = rng.uniform(0, 255, (2, 16, 20, 3)).astype(np.float32)
    base = np.stack([cv2.resize(b, (80, 64), interpolation=cv2.INTER_CUBIC) for b in small]).clip(0, 255)
    clip = np.ascontiguousarray([[b[2 + t:50 + t, 3 + 2 * t:67 + 2 * t] for t in range(4)] for b in base],
                                dtype=np.uint8)                           # (2 clips, 4 frames, 48, 64, 3)
    dclip = fake.asarray(clip)
    d2h = c.d2h
    raw = motion.motion_images(dclip, motion.METHOD_OPTICAL_FLOW, output="raw")
    assert calls == [(6, 48, 64)] and isinstance(raw, kernel_emu.DeviceArray) and c.d2h == d2h
    grey = cv2.cvtColor(clip.reshape(-1, 64, 3), cv2.COLOR_RGB2GRAY).reshape(2, 4, 48, 64)
    _check_against_cv2(fake.asnumpy(raw).reshape(6, 48, 64, 2), grey[:, :-1].reshape(6, 48, 64),
                       grey[:, 1:].reshape(6, 48, 64), FarnebackParams())
    h2d_before_warm = c.h2d
    for warm in (True, False):      # the first round may copy small constants (HSV sector table) once
        if not warm:
            assert c.h2d - h2d_before_warm <= 1
        for method in motion.METHODS:
            for nb_channel in (3, 1):
                h2d, d2h, n = c.h2d, c.d2h, len(calls)
                out = motion.motion_images(dclip, method, nb_channel)
                assert isinstance(out, kernel_emu.DeviceArray)
                assert c.d2h == d2h, f"method {method}: a device-to-host copy inside motion_images"
                assert warm or c.h2d == h2d, f"method {method}: a host-to-device copy inside motion_images"
                assert len(calls) == n + (method in (motion.METHOD_OPTICAL_FLOW, motion.METHOD_FLOW_MASK))
                if warm:
                    continue
                want = motion.motion_images(clip, method, nb_channel)
                got = fake.asnumpy(out)
                assert got.shape == want.shape and got.dtype == want.dtype
                if method == motion.METHOD_ABS_DIFF:
                    np.testing.assert_array_equal(got, want)
                elif method == motion.METHOD_DIFF_MASK:
                    np.testing.assert_allclose(got, want, atol=1e-2)
                else:     # pictures of flows 1e-7 px apart: hues may round apart by one step on a few pixels
                    assert np.abs(got.astype(np.float64) - want).mean() < 1.0


# ------------------------------------------------------------ under AddressSanitizer + UBSan
SANITIZED_CASES = ([(name, 97, 133) for name in CONFIGS] + [("default", 64, 64), ("gauss256", 33, 47)]
                   + [("default", 1, 1), ("default", 9, 40), ("gauss256", 7, 9), ("poly7", 40, 9), ("default", 3, 64)])


@pytest.fixture(scope="module")
def sanitized(emu_dir):
    """One subprocess: every case of SANITIZED_CASES through farneback_cupy, grid capped at WRAP_GRID."""
    if kernel_emu.compiler() is None or kernel_emu.libasan() is None:
        pytest.skip("g++ with AddressSanitizer (libasan) not found")
    cases = []
    for i, (name, h, w) in enumerate(SANITIZED_CASES):
        prev, nxt = _batch(1000 + i, h, w)
        cases.append(dict(params=CONFIGS[name], prev=prev, next=nxt))
    out = kernel_emu.run_sanitized(cases, emu_dir, max_grid=WRAP_GRID)
    return cases, out


@needs_asan
def test_sanitized_run_is_clean_and_wraps(sanitized):
    cases, out = sanitized
    assert out["returncode"] == 0 and out["error"] is None, (out.get("error"), out["stderr"][-6000:])
    assert "runtime error" not in out["stderr"] and "AddressSanitizer" not in out["stderr"]
    grids = {g for _, g, _ in out["launches"]}
    assert max(grids) == WRAP_GRID and {b for _, _, b in out["launches"]} == {256}
    assert {k for k, _, _ in out["launches"]} == set(ENTRY_POINTS)      # every kernel ran
    from gpuvideo.farneback import FarnebackParams, pyramid_sizes

    for c in cases:   # even the coarsest level has more pixels than threads: every grid-stride loop wraps
        n, h, w = c["prev"].shape
        if min(h, w) < 32:
            continue      # tiny frames: idle threads past the end instead
        coarsest = pyramid_sizes(h, w, FarnebackParams(**c["params"]))[-1]
        assert n * coarsest.height * coarsest.width > WRAP_GRID * 256


@needs_asan
@pytest.mark.parametrize("i", range(len(SANITIZED_CASES)), ids=[f"{n}-{h}x{w}" for n, h, w in SANITIZED_CASES])
def test_sanitized_run_matches_cv2(sanitized, i):
    from gpuvideo.farneback import FarnebackParams

    cases, out = sanitized
    assert out["error"] is None and len(out["flows"]) == len(cases), out.get("error")
    case = cases[i]
    _check_against_cv2(out["flows"][i], case["prev"], case["next"], FarnebackParams(**case["params"]))


BROKEN = r"""
extern "C" __global__ void reads_past_the_end(const float* __restrict__ a, float* __restrict__ b, int n)
{
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
        b[i] = a[i + 1];
}
extern "C" __global__ void overflows(const float* __restrict__ a, float* __restrict__ b, int n)
{
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
        b[i] = a[i] * (float)(n * 10000000 + i);       // 300 * 10^7 > INT_MAX
}
extern "C" __global__ void skips_the_last(const float* __restrict__ a, float* __restrict__ b, int n)
{
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n - 1; i += gridDim.x * blockDim.x)
        b[i] = a[i];
}
"""


@needs_asan
@pytest.mark.parametrize("kernel, expect", [("reads_past_the_end", "heap-buffer-overflow"),
                                            ("overflows", "signed integer overflow"),
                                            ("skips_the_last", "not written")])
def test_the_sanitized_emulation_catches_broken_kernels(emu_dir, kernel, expect):
    """The harness is sharp: an out-of-bounds read, undefined behaviour and an unwritten element all fail."""
    a = np.arange(300, dtype=np.float32)
    out = kernel_emu.run_sanitized_kernel(BROKEN, kernel, 2, 64,
                                          [a, np.zeros(300, np.float32), np.int32(300)], emu_dir)
    assert out["returncode"] != 0
    assert expect in out["stderr"] + str(out.get("error")), out["stderr"][-3000:]
