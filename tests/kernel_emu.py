"""Run the CUDA kernels of ``kernels/*.cu`` on the CPU with CUDA's grid semantics (no GPU needed).

How it works:

* g++ compiles a ``.cu`` file after :data:`SHIM` maps CUDA's keywords to host C++;
  ``gridDim``, ``blockDim``, ``blockIdx`` and ``threadIdx`` become variables.
* For every ``extern "C" __global__`` kernel a launcher is generated that runs the
  kernel once per ``(blockIdx.x, threadIdx.x)`` of the launch configuration the
  host code asked for, one thread after the other. That is CUDA's semantics for
  kernels without shared memory, barriers, warp intrinsics or atomics:
  :func:`check_emulable` refuses sources that use them (such a kernel needs its
  own check).
* :class:`FakeCupy` is a NumPy-backed stand-in for the part of CuPy that gpuvideo
  uses. Device arrays are :class:`DeviceArray` (a NumPy subclass that says it is
  CuPy's, so ``gpuvideo.ops.is_device_array`` sees it). It counts host-to-device
  and device-to-host copies, and it raises ``TypeError`` where CuPy would (a host
  array mixed into a device operation or passed to a kernel). ``empty`` fills
  floats with NaN.
* Each launch checks the arguments against the kernel's C signature (pointer
  dtypes, scalar types ``np.int32``/``np.float32``/``np.float64``), copies every
  array into a buffer of exactly its size (so AddressSanitizer's redzones sit at
  the array's ends, not at the end of a larger parent), fills the outputs
  (non-const pointers) with NaN, and afterwards checks that every output element
  was written and that no float input held an unwritten (NaN) element.

Sanitized runs: the library built with ``-fsanitize=address,undefined`` can only be
loaded by a Python started with ``LD_PRELOAD=libasan.so``; :func:`run_sanitized`
starts this file as a script in such a subprocess, which drives the real
``farneback_cupy`` host code and sends the flows back.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import pickle
import re
import shutil
import subprocess
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

SHIM = r"""
#include <math.h>
#include <stdint.h>
struct emu_dim3 { unsigned int x, y, z; };
static emu_dim3 gridDim, blockDim, blockIdx, threadIdx;   // set by the generated launchers
#define __global__
#define __device__
#define __forceinline__ inline
#define __constant__ static const
template <class T> static inline T __ldg(const T* p) { return *p; }
"""

PLAIN_FLAGS = ("-O2", "-ffp-contract=off", "-std=c++17", "-fPIC", "-shared")
SANITIZE_FLAGS = ("-O1", "-g", "-fno-omit-frame-pointer", "-ffp-contract=off", "-std=c++17", "-fPIC", "-shared",
                  "-fsanitize=address,undefined,float-cast-overflow", "-fno-sanitize-recover=all")

_KERNEL_RE = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\(([^)]*)\)')
#: constructs the sequential emulation cannot reproduce
_NOT_EMULABLE = re.compile(r"__shared__|__syncthreads|__syncwarp|__shfl\w*|\batomic[A-Z]\w*|cooperative_groups|"
                           r"blockIdx\.[yz]|threadIdx\.[yz]")
_C_TYPES = {"unsigned char": (np.uint8, ctypes.c_uint8), "float": (np.float32, ctypes.c_float),
            "double": (np.float64, ctypes.c_double), "int": (np.int32, ctypes.c_int),
            "unsigned int": (np.uint32, ctypes.c_uint), "long long": (np.int64, ctypes.c_longlong)}


@dataclass(frozen=True)
class Param:
    """One kernel parameter: C declaration, name, element dtype, pointer-ness, const pointee."""

    decl: str
    name: str
    dtype: type
    pointer: bool
    const: bool


@dataclass(frozen=True)
class KernelSig:
    name: str
    params: tuple


def parse_kernels(source: str) -> list[KernelSig]:
    """The ``extern "C" __global__`` kernels of a source, with their parameters."""
    out = []
    for name, plist in _KERNEL_RE.findall(source):
        params = []
        for decl in (d.strip() for d in plist.split(",")):
            m = re.match(r"(.*?)(\w+)$", decl, re.S)
            ctype, pname = m.group(1), m.group(2)
            pointer = "*" in ctype
            base = " ".join(ctype.replace("*", " ").replace("__restrict__", " ").replace("const", " ").split())
            params.append(Param(" ".join(decl.split()), pname, _C_TYPES[base][0], pointer,
                                pointer and ctype.strip().startswith("const")))
        out.append(KernelSig(name, tuple(params)))
    return out


def check_emulable(source: str) -> None:
    """Raise when the source uses what the one-thread-after-another emulation cannot reproduce."""
    hit = _NOT_EMULABLE.search(re.sub(r"//[^\n]*", "", source))
    if hit:
        raise ValueError(f"kernel source uses {hit.group(0)!r}: the sequential grid emulation is not valid for it; "
                         "give that kernel its own check")


def launchers(kernels: list[KernelSig]) -> str:
    """C++ ``emu_launch_<name>(grid, block, reverse, params...)`` for each kernel."""
    parts = []
    for k in kernels:
        decls = ", ".join(p.decl for p in k.params)
        names = ", ".join(p.name for p in k.params)
        parts.append(f"""
extern "C" void emu_launch_{k.name}(unsigned int emu_grid, unsigned int emu_block, int emu_reverse, {decls})
{{
    gridDim = {{emu_grid, 1, 1}};
    blockDim = {{emu_block, 1, 1}};
    const unsigned long long emu_n = (unsigned long long)emu_grid * emu_block;
    for (unsigned long long emu_j = 0; emu_j < emu_n; ++emu_j) {{
        const unsigned long long emu_t = emu_reverse ? emu_n - 1 - emu_j : emu_j;
        blockIdx = {{(unsigned int)(emu_t / emu_block), 0, 0}};
        threadIdx = {{(unsigned int)(emu_t % emu_block), 0, 0}};
        {k.name}({names});
    }}
}}
""")
    return "".join(parts)


def compiler() -> str | None:
    """g++ (or clang++) path, None when neither is installed."""
    return shutil.which("g++") or shutil.which("clang++")


def build(source: str, outdir: Path, sanitize: bool) -> Path:
    """Compile ``source`` plus its launchers into a shared library under ``outdir`` (cached by content)."""
    check_emulable(source)
    flags = SANITIZE_FLAGS if sanitize else PLAIN_FLAGS
    code = source + launchers(parse_kernels(source))
    key = hashlib.sha256((code + SHIM + " ".join(flags)).encode()).hexdigest()[:16]
    lib = Path(outdir) / f"emu_{key}.so"
    if lib.exists():
        return lib
    Path(outdir).mkdir(parents=True, exist_ok=True)
    (Path(outdir) / "emu_shim.h").write_text(SHIM)
    src = Path(outdir) / f"emu_{key}.cpp"
    src.write_text(code)
    proc = subprocess.run([compiler(), *flags, "-include", str(Path(outdir) / "emu_shim.h"), "-o", str(lib) + ".tmp",
                           str(src)], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"host compile of the kernels failed:\n{proc.stderr}")
    os.replace(str(lib) + ".tmp", lib)
    return lib


# --------------------------------------------------------------------------- the CuPy stand-in
@dataclass
class Counters:
    h2d: int = 0                    # host -> device copies (asarray/array of host data)
    d2h: int = 0                    # device -> host copies (get, asnumpy)
    launches: list = field(default_factory=list)   # (kernel, grid, block)


def _is_host_array(x) -> bool:
    return isinstance(x, np.ndarray) and not isinstance(x, DeviceArray)


def _reject_host(args, where: str) -> None:
    for a in args:
        if isinstance(a, (list, tuple)):
            _reject_host(a, where)
        elif _is_host_array(a):
            raise TypeError(f"{where}: host array (numpy.ndarray {a.shape}) mixed into a device operation")


def _base(x):
    if isinstance(x, DeviceArray):
        return x.view(np.ndarray)
    if isinstance(x, (list, tuple)):
        return type(x)(_base(v) for v in x)
    return x


def _wrap(x):
    if isinstance(x, np.ndarray) and not isinstance(x, DeviceArray):
        return x.view(DeviceArray)
    if isinstance(x, tuple):
        return tuple(_wrap(v) for v in x)
    if isinstance(x, list):
        return [_wrap(v) for v in x]
    return x


class _Device:
    """``cupy.cuda.Device``: an id and a context manager that makes it current."""

    def __init__(self, id: int = None):  # noqa: A002 - CuPy's name
        self.id = DeviceArray.runtime.device if id is None else int(id)

    def __enter__(self):
        self._saved, DeviceArray.runtime.device = DeviceArray.runtime.device, self.id
        return self

    def __exit__(self, *exc):
        DeviceArray.runtime.device = self._saved


class _Runtime:
    def __init__(self):
        self.device = 0

    def getDevice(self):  # noqa: N802 - CuPy's name
        return self.device

    def getDeviceCount(self):  # noqa: N802
        return 1


class DeviceArray(np.ndarray):
    """A NumPy array standing for GPU memory (``type(x).__module__`` is ``cupy``).

    Every array is on the current device of the stand-in (``cuda.runtime.device``).
    """

    __module__ = "cupy"
    counters: Counters | None = None
    runtime = _Runtime()

    @property
    def device(self):
        return _Device()

    def get(self):
        """Device -> host copy (counted)."""
        if DeviceArray.counters is not None:
            DeviceArray.counters.d2h += 1
        return np.array(self.view(np.ndarray), copy=True)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        _reject_host(inputs + tuple(kwargs.get("out", ())), f"ufunc {ufunc.__name__}")
        if "out" in kwargs:
            kwargs["out"] = tuple(_base(o) for o in kwargs["out"])
        return _wrap(getattr(ufunc, method)(*_base(inputs), **kwargs))


class FakeCupy(types.ModuleType):
    """NumPy-backed ``cupy``: ``sys.modules['cupy'] = FakeCupy(...)``.

    ``lib_for(source) -> path`` builds (or finds) the emulation library for a
    kernel source; ``reverse=True`` runs every grid's threads in reverse order.
    """

    def __init__(self, lib_for, reverse: bool = False):
        super().__init__("cupy")
        self.__version__ = "emulated"
        self.ndarray = DeviceArray
        self.counters = Counters()
        DeviceArray.counters = self.counters
        self._lib_for = lib_for
        self._reverse = reverse
        DeviceArray.runtime = _Runtime()
        self.cuda = types.SimpleNamespace(runtime=DeviceArray.runtime, Device=_Device, is_available=lambda: True)
        fake = self

        class RawModule:
            def __init__(self, code, options=()):
                self.kernels = {k.name: k for k in parse_kernels(code)}
                self.lib = ctypes.CDLL(str(fake._lib_for(code)))
                self.options = tuple(options)

            def get_function(self, name):
                return _Kernel(fake, self.lib, self.kernels[name])

        self.RawModule = RawModule

    # host <-> device
    def asarray(self, a, dtype=None):
        if isinstance(a, DeviceArray):
            return a if dtype is None or a.dtype == dtype else a.astype(dtype)
        self.counters.h2d += 1
        return np.array(a, dtype=dtype, copy=True, order="C").view(DeviceArray)

    def array(self, a, dtype=None, copy=True):
        if isinstance(a, DeviceArray):
            return np.array(a.view(np.ndarray), dtype=dtype, copy=copy).view(DeviceArray)
        return self.asarray(a, dtype)

    def asnumpy(self, a):
        return a.get() if isinstance(a, DeviceArray) else np.asarray(a)

    # allocation: never-written memory reads as NaN
    def empty(self, shape, dtype=np.float32):
        out = np.empty(shape, dtype)
        if out.dtype.kind == "f":
            out.fill(np.nan)
        elif out.dtype.kind in "iu":
            out.fill(np.iinfo(out.dtype).max)
        return out.view(DeviceArray)

    def empty_like(self, a, dtype=None):
        return self.empty(a.shape, dtype or a.dtype)

    def __getattr__(self, name):
        attr = getattr(np, name)
        if isinstance(attr, type) or not callable(attr):
            return attr                       # dtypes (cupy.float32), constants

        def device_fn(*args, **kwargs):
            _reject_host(args, f"cupy.{name}")
            return _wrap(attr(*_base(args), **{k: _base(v) for k, v in kwargs.items()}))

        return device_fn


class _Kernel:
    """A launchable kernel: ``kernel(grid, block, args)`` as ``cupy.RawKernel``."""

    def __init__(self, fake: FakeCupy, lib, sig: KernelSig):
        self.fake, self.sig = fake, sig
        self.fn = getattr(lib, f"emu_launch_{sig.name}")
        self.fn.restype = None
        self.fn.argtypes = [ctypes.c_uint, ctypes.c_uint, ctypes.c_int] + [
            ctypes.c_void_p if p.pointer else _C_TYPES[_ctype_name(p.dtype)][1] for p in sig.params]

    def __call__(self, grid, block, args, shared_mem=0, **_):
        name = self.sig.name
        grid, block = _one_d(grid, "grid"), _one_d(block, "block")
        if shared_mem:
            raise ValueError(f"{name}: dynamic shared memory is not emulated")
        if not (1 <= block <= 1024 and 1 <= grid <= 2 ** 31 - 1):
            raise ValueError(f"{name}: launch ({grid}, {block}) outside CUDA's limits")
        if len(args) != len(self.sig.params):
            raise TypeError(f"{name}: {len(args)} arguments for {len(self.sig.params)} parameters")
        conv, outputs, keep = [], [], []
        for p, a in zip(self.sig.params, args):
            if not p.pointer:
                if type(a) is not p.dtype:
                    raise TypeError(f"{name}: parameter {p.decl!r} needs {p.dtype.__name__}, got {type(a).__name__}")
                conv.append(a.item())
                continue
            if not isinstance(a, DeviceArray):
                raise TypeError(f"{name}: parameter {p.decl!r} needs a device array, got {type(a).__name__}")
            if a.dtype != p.dtype or not a.flags.c_contiguous:
                raise TypeError(f"{name}: parameter {p.decl!r} got {a.dtype} (contiguous: {a.flags.c_contiguous})")
            buf = np.empty(max(a.size, 1), a.dtype)[:a.size]     # its own allocation: redzones at its ends
            if p.const:
                buf[...] = a.reshape(-1)
                if buf.dtype.kind == "f" and np.isnan(buf).any():
                    bad = _index(int(np.flatnonzero(np.isnan(buf))[0]), a.shape)
                    raise AssertionError(f"{name}: input {p.name} holds unwritten (NaN) elements, first at {bad}")
            else:
                buf.fill(np.nan if buf.dtype.kind == "f" else np.iinfo(buf.dtype).max)
                outputs.append((p, a, buf))
            keep.append(buf)
            conv.append(buf.ctypes.data)
        self.fake.counters.launches.append((name, grid, block))
        self.fn(grid, block, int(self.fake._reverse), *conv)
        for p, a, buf in outputs:
            if buf.dtype.kind == "f" and np.isnan(buf).any():
                miss = np.flatnonzero(np.isnan(buf))
                raise AssertionError(f"{name}: {miss.size} of {buf.size} elements of output {p.name} {a.shape} not "
                                     f"written, first at {_index(int(miss[0]), a.shape)}")
            a.view(np.ndarray).reshape(-1)[...] = buf


def _index(flat: int, shape) -> tuple:
    return tuple(int(v) for v in np.unravel_index(flat, shape))


def _ctype_name(dtype) -> str:
    return next(k for k, (d, _) in _C_TYPES.items() if d is dtype)


def _one_d(dim, what: str) -> int:
    dim = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
    if any(int(d) != 1 for d in dim[1:]):
        raise ValueError(f"only 1-D {what}s are emulated, got {dim}")
    return int(dim[0])


def install(monkeypatch, outdir: Path, reverse: bool = False) -> FakeCupy:
    """Put a plain-build :class:`FakeCupy` in ``sys.modules['cupy']`` for one test; clears gpuvideo's caches."""
    monkeypatch.setattr(DeviceArray, "counters", DeviceArray.counters)    # restored after the test
    fake = FakeCupy(lambda code: build(code, outdir, sanitize=False), reverse=reverse)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    _clear_caches()
    return fake


def _clear_caches() -> None:
    from gpuvideo import cuda_kernels, motion
    from gpuvideo.farneback import cupy_impl

    cuda_kernels.load_module.cache_clear()
    cupy_impl.clear_device_caches()
    motion._device_sectors.cache_clear()


# --------------------------------------------------------------------------- sanitized subprocess
def libasan() -> str | None:
    """Path of g++'s AddressSanitizer runtime, None when it is not installed."""
    cxx = shutil.which("g++")
    if cxx is None:
        return None
    path = subprocess.run([cxx, "-print-file-name=libasan.so"], capture_output=True, text=True).stdout.strip()
    return path if os.path.isabs(path) and os.path.exists(path) else None


def run_sanitized(cases: list[dict], outdir: Path, max_grid: int | None = None, reverse: bool = False,
                  source: Path = REPO / "kernels" / "farneback.cu", timeout: int = 600) -> dict:
    """Run ``farneback_cupy`` on each case (``params``: dict, ``prev``/``next``: uint8 ``(N, H, W)``) with the
    kernels built under AddressSanitizer + UndefinedBehaviorSanitizer, in a subprocess.

    ``max_grid`` caps the driver's grid so that grid-stride loops wrap. Returns
    ``{"returncode", "stderr", "flows", "launches", "error"}``.
    """
    lib = build(source.read_text(encoding="utf-8"), outdir, sanitize=True)
    job = Path(outdir) / f"job_{os.getpid()}_{id(cases)}.pkl"
    result = job.with_suffix(".out.pkl")
    job.write_bytes(pickle.dumps(dict(cases=cases, lib=str(lib), max_grid=max_grid, reverse=reverse)))
    proc = subprocess.run([sys.executable, __file__, str(job), str(result)], env=_sanitizer_env(),
                          capture_output=True, text=True, timeout=timeout)
    out = pickle.loads(result.read_bytes()) if result.exists() else {}
    out.update(returncode=proc.returncode, stderr=proc.stderr)
    return out


def run_sanitized_kernel(source: str, name: str, grid: int, block: int, args: list, outdir: Path,
                         timeout: int = 120) -> dict:
    """Launch one kernel of ``source`` under the sanitizers (array arguments become device arrays).

    Returns ``{"returncode", "stderr", "outputs", "error"}`` (``outputs``: the array arguments afterwards).
    """
    lib = build(source, outdir, sanitize=True)
    job = Path(outdir) / f"kjob_{os.getpid()}_{name}.pkl"
    result = job.with_suffix(".out.pkl")
    job.write_bytes(pickle.dumps(dict(kernel=(source, name, grid, block, args), lib=str(lib), reverse=False)))
    proc = subprocess.run([sys.executable, __file__, str(job), str(result)], env=_sanitizer_env(),
                          capture_output=True, text=True, timeout=timeout)
    out = pickle.loads(result.read_bytes()) if result.exists() else {}
    out.update(returncode=proc.returncode, stderr=proc.stderr)
    return out


def _sanitizer_env() -> dict:
    return dict(os.environ, LD_PRELOAD=libasan(), PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "tests")]),
                ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=0:exitcode=86",
                UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=87")


def _run_kernel_job(fake: FakeCupy, job: dict, result_path: str) -> int:
    source, name, grid, block, args = job["kernel"]
    dev = [fake.asarray(a) if isinstance(a, np.ndarray) else a for a in args]
    out = dict(outputs=None, error=None)
    try:
        fake.RawModule(code=source).get_function(name)((grid,), (block,), dev)
        out["outputs"] = [fake.asnumpy(a) if isinstance(a, DeviceArray) else a for a in dev]
    except Exception as e:  # noqa: BLE001 - reported to the parent test
        out["error"] = f"{type(e).__name__}: {e}"
    Path(result_path).write_bytes(pickle.dumps(out))
    return 1 if out["error"] else 0


def _child(job_path: str, result_path: str) -> int:
    job = pickle.loads(Path(job_path).read_bytes())
    fake = FakeCupy(lambda code: job["lib"], reverse=job["reverse"])
    sys.modules["cupy"] = fake
    if "kernel" in job:
        return _run_kernel_job(fake, job, result_path)
    from gpuvideo.farneback import FarnebackParams, cupy_impl

    if job["max_grid"]:
        cupy_impl._MAX_GRID = int(job["max_grid"])
    out = dict(flows=[], launches=None, error=None)
    try:
        for case in job["cases"]:
            flow = cupy_impl.farneback_cupy(fake.asarray(case["prev"]), fake.asarray(case["next"]),
                                            FarnebackParams(**case["params"]))
            out["flows"].append(fake.asnumpy(flow))
    except Exception as e:  # noqa: BLE001 - reported to the parent test
        import traceback

        out["error"] = f"{type(e).__name__}: {e}\n{traceback.format_exc()}"
    out["launches"] = fake.counters.launches
    Path(result_path).write_bytes(pickle.dumps(out))
    return 1 if out["error"] else 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1], sys.argv[2]))
