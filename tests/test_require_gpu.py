"""The GPU gate of tests/conftest.py: gpu-marked tests skip with a reason, or fail under GPUVIDEO_REQUIRE_GPU=1."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import gpu_available

REPO = Path(__file__).resolve().parents[1]


def _pytest(tmp_path, require: str, source: str):
    (tmp_path / "test_gate_probe.py").write_text(source)
    (tmp_path / "conftest.py").write_text((REPO / "tests" / "conftest.py").read_text())
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    gpu: needs a CUDA GPU\n")
    env = dict(os.environ, GPUVIDEO_REQUIRE_GPU=require)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


PROBE = '''
import pytest

@pytest.mark.gpu
def test_needs_gpu():
    pass

@pytest.mark.gpu
def test_skips_inside():
    pytest.skip("DALI is missing")

def test_cpu():
    pass
'''


def test_detection_gives_a_reason():
    ok, reason = gpu_available()
    assert isinstance(ok, bool) and reason
    if not ok:
        assert "CuPy" in reason


def test_gpu_tests_skip_with_the_reason_or_fail_when_required(tmp_path):
    ok, reason = gpu_available()
    if ok:
        pytest.skip("this machine has a GPU: the gate has nothing to turn into failures")
    plain = _pytest(tmp_path, "0", PROBE)
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert "1 passed, 2 skipped" in plain.stdout and "needs a CUDA GPU: CuPy" in plain.stdout
    required = _pytest(tmp_path, "1", PROBE)
    assert required.returncode == 1, required.stdout + required.stderr
    assert "1 passed, 2 errors" in required.stdout      # skips in setup are reported as errors
    assert "GPUVIDEO_REQUIRE_GPU=1: GPU test skipped instead of running" in required.stdout



def test_module_level_skip_fails_when_required(tmp_path):
    source = 'import pytest\npytest.importorskip("no_such_module_gpuvideo")\n\ndef test_x():\n    pass\n'
    plain = _pytest(tmp_path, "0", source)
    assert plain.returncode in (0, 5) and "1 skipped" in plain.stdout     # 5: no test ran
    required = _pytest(tmp_path, "1", source)
    assert required.returncode != 0 and "skipped at import" in required.stdout + required.stderr
