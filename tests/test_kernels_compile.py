"""Every kernels/*.cu compiles with nvcc for sm_90; Farneback kernels also run
on the CPU through a host-C++ emulation (no GPU needed).

The emulation compiles ``kernels/farneback.cu`` with g++ after a small shim
header maps the CUDA keywords to host C++ (one "thread" runs each kernel's
grid-stride loop over the whole output), then drives it through the real
``gpuvideo.farneback.cupy_impl.farneback_cupy`` host code with a NumPy-backed
stand-in for CuPy.  It checks the kernel arithmetic and the launch sequence /
argument order of the driver; it cannot catch GPU-only problems (launch
limits, memory errors, NVRTC differences).
"""

import ctypes
import pathlib
import shutil
import subprocess
import sys
import types

import cv2
import numpy as np
import pytest

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


# ------------------------------------------------------------ host emulation
_SHIM = r"""
#include <cstdint>
#include <cmath>
struct fb_dim3 { unsigned x, y, z; };
static const fb_dim3 blockIdx = {0, 0, 0}, threadIdx = {0, 0, 0};
static const fb_dim3 blockDim = {1, 1, 1}, gridDim = {1, 1, 1};
#define __global__
#define __device__
#define __constant__
#define __forceinline__ inline
template <class T> inline T __ldg(const T* p) { return *p; }
"""


class _FakeKernel:
    def __init__(self, fn):
        self.fn = fn

    def __call__(self, grid, block, args):
        conv = []
        keep = []
        for a in args:
            if isinstance(a, np.ndarray):
                assert a.flags.c_contiguous
                keep.append(a)
                conv.append(ctypes.c_void_p(a.ctypes.data))
            elif isinstance(a, np.int32):
                conv.append(ctypes.c_int(int(a)))
            elif isinstance(a, np.float32):
                conv.append(ctypes.c_float(float(a)))
            elif isinstance(a, np.float64):
                conv.append(ctypes.c_double(float(a)))
            else:
                raise TypeError(f"unexpected kernel argument type {type(a)}")
        self.fn(*conv)


def _fake_cupy(tmp_path, compiler):
    class RawModule:
        def __init__(self, code, options=()):
            src = tmp_path / "kernel.cpp"
            (tmp_path / "shim.h").write_text(_SHIM)
            src.write_text(code)
            lib = tmp_path / "libfb.so"
            proc = subprocess.run(
                [compiler, "-O2", "-ffp-contract=off", "-shared", "-fPIC", "-std=c++17",
                 "-include", str(tmp_path / "shim.h"), "-o", str(lib), str(src)],
                capture_output=True, text=True, timeout=300)
            assert proc.returncode == 0, proc.stderr
            self.lib = ctypes.CDLL(str(lib))

        def get_function(self, name):
            return _FakeKernel(getattr(self.lib, name))

    mod = types.ModuleType("cupy")
    mod.RawModule = RawModule
    mod.uint8, mod.float32 = np.uint8, np.float32
    mod.asarray = lambda a, dtype=None: np.ascontiguousarray(np.asarray(a, dtype=dtype))
    for fn in ("empty", "zeros", "empty_like", "concatenate", "ascontiguousarray"):
        setattr(mod, fn, getattr(np, fn))
    return mod


@pytest.fixture
def emulated_cupy(tmp_path, monkeypatch):
    compiler = shutil.which("g++") or shutil.which("clang++")
    if compiler is None:
        pytest.skip("no host C++ compiler for the kernel emulation")
    from gpuvideo import cuda_kernels

    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(tmp_path, compiler))
    cuda_kernels.load_module.cache_clear()
    yield
    cuda_kernels.load_module.cache_clear()


def _pair(rng, h, w, dx, dy):
    t = cv2.GaussianBlur(rng.random((h + 48, w + 48)).astype(np.float32), (0, 0), 2.0)
    t = (t - t.min()) / (t.max() - t.min())
    a = t[24:24 + h, 24:24 + w]
    b = cv2.warpAffine(t, np.float32([[1, 0, dx], [0, 1, dy]]), t.shape[::-1],
                       flags=cv2.INTER_CUBIC)[24:24 + h, 24:24 + w]
    return ((np.clip(a, 0, 1) * 255).round().astype(np.uint8),
            (np.clip(b, 0, 1) * 255).round().astype(np.uint8))


@pytest.mark.parametrize("kw", [dict(), dict(poly_n=7, poly_sigma=1.5), dict(flags=256),
                                dict(pyr_scale=0.7, levels=4, winsize=10)],
                         ids=["default", "poly7", "gauss256", "scale0.7_even_win"])
def test_kernels_host_emulation_match_cv2(emulated_cupy, kw):
    from gpuvideo.farneback import FarnebackParams
    from gpuvideo.farneback.cupy_impl import farneback_cupy

    p = FarnebackParams(**kw)
    rng = np.random.default_rng(97133)
    pairs = [_pair(rng, 97, 133, *rng.uniform(-3, 3, 2)) for _ in range(2)]
    prev = np.stack([a for a, _ in pairs])
    nxt = np.stack([b for _, b in pairs])
    flow = farneback_cupy(prev, nxt, p)
    assert flow.shape == (2, 97, 133, 2) and flow.dtype == np.float32
    for i, (a, b) in enumerate(pairs):
        want = cv2.calcOpticalFlowFarneback(a, b, None, *p.as_cv2_args())
        e = np.linalg.norm(flow[i].astype(np.float64) - want, axis=-1)
        print(f"pair {i}: mean EPE {e.mean():.3e} max {e.max():.3e}")
        assert e.mean() <= 1e-3 and np.percentile(e, 99) <= 0.05, (i, e.mean(), e.max())
