"""docker/Dockerfile: NVDEC driver capability, OpenCV built with CUDA and contrib, gpuvideo installed."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    out, buf = [], ""
    for line in text.splitlines():
        s = line.strip()
        if not buf and (not s or s.startswith("#")):
            continue
        if s.startswith("#"):
            continue
        if s.endswith("\\"):
            buf += s[:-1] + " "
            continue
        buf += s
        word, _, rest = buf.partition(" ")
        out.append((word.upper(), rest.strip()))
        buf = ""
    return out


def _stages(ins):
    stages, cur = [], None
    for word, args in ins:
        if word == "FROM":
            cur = {"from": args, "ins": []}
            stages.append(cur)
        elif cur is not None:
            cur["ins"].append((word, args))
    return stages


def test_two_stages_on_cuda_images():
    stages = _stages(_instructions((ROOT / "docker" / "Dockerfile").read_text()))
    assert len(stages) == 2
    assert re.match(r"nvidia/cuda:\S+-devel-\S+ AS opencv-cuda", stages[0]["from"])
    assert re.match(r"nvidia/cuda:\S+-runtime-\S+$", stages[1]["from"])


def test_driver_capabilities_include_video():
    ins = _instructions((ROOT / "docker" / "Dockerfile").read_text())
    final = _stages(ins)[-1]["ins"]
    env = " ".join(a for w, a in final if w == "ENV")
    m = re.search(r"NVIDIA_DRIVER_CAPABILITIES=(\S+)", env)
    assert m, "NVIDIA_DRIVER_CAPABILITIES is not set in the runtime stage"
    assert set(m.group(1).split(",")) >= {"compute", "utility", "video"}
    # frameworks must not take all GPU memory before DALI and CuPy allocate
    assert "TF_FORCE_GPU_ALLOW_GROWTH=true" in env and "XLA_PYTHON_CLIENT_PREALLOCATE=false" in env


def test_opencv_cuda_build_flags():
    stage = _stages(_instructions((ROOT / "docker" / "Dockerfile").read_text()))[0]
    cmake = " ".join(a for w, a in stage["ins"] if w == "RUN" and "cmake -S" in a)
    args = " ".join(a for w, a in stage["ins"] if w == "ARG")
    flags = dict(re.findall(r"-D\s*([A-Za-z0-9_]+)=(\"[^\"]*\"|\S+)", cmake))
    assert flags.get("WITH_CUDA") == "ON"
    assert flags.get("BUILD_opencv_python3") == "ON"
    assert "opencv_contrib" in flags.get("OPENCV_EXTRA_MODULES_PATH", "") and \
        flags["OPENCV_EXTRA_MODULES_PATH"].strip('"').endswith("/modules")
    assert "cudaoptflow" in flags.get("BUILD_LIST", "cudaoptflow")
    arch = flags.get("CUDA_ARCH_BIN", "").strip('"')
    if arch.startswith("${"):
        arch = re.search(r'CUDA_ARCH_BIN="?([^"\s]+)', args).group(1)
    assert {"8.0", "9.0"} <= set(arch.split(";"))


def test_runtime_installs_gpuvideo_and_opencv_cuda():
    stage = _stages(_instructions((ROOT / "docker" / "Dockerfile").read_text()))[1]
    runs = " ".join(a for w, a in stage["ins"] if w == "RUN")
    assert "[gpu" in runs and "tensorflow" in runs
    assert any(w == "COPY" and "--from=opencv-cuda" in a for w, a in stage["ins"])
    assert "FarnebackOpticalFlow" in runs
    assert ("ENTRYPOINT", '["gpuvideo"]') in stage["ins"]


def test_readme_documents_bench_run():
    text = (ROOT / "docker" / "README.md").read_text()
    assert re.search(r"docker run --rm --gpus all .*gpuvideo bench", text)
