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
