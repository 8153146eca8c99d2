# Two commands do all the set-up on a fresh machine:
#   make demo   - creates .venv, installs gpuvideo, trains on a built-in sample dataset
#   make test   - creates .venv, installs gpuvideo with its test extras, runs the test suite
PYTHON ?= python3
VENV   ?= .venv
PIP    := $(VENV)/bin/pip
PY     := $(VENV)/bin/python

.PHONY: demo demo-long test install bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

install: $(PY)
	$(PIP) install -q ".[test]"

demo: install
	$(VENV)/bin/gpuvideo demo

demo-long: install
	$(VENV)/bin/gpuvideo demo --long

# Optional Keras backends for the backend tests: the CPU build of PyTorch (from a local
# wheel where the machine has one) and JAX. Their tests skip when they are missing.
test: install
	$(PIP) install -q "torch==2.13.0+cpu" 2>/dev/null || echo "note: no CPU torch wheel here; torch-backend tests will skip"
	$(PIP) install -q "jax[cpu]>=0.4.30" 2>/dev/null || echo "note: jax not installable; jax-backend tests will skip"
	$(PIP) install -q --no-deps keras-video-generators==1.0.14 2>/dev/null || echo "note: keras_video not installable; flow_compat test will skip"
	$(PY) -m pytest

# keras-video-generators 1.0.14 is a baseline only: --no-deps keeps its old pins out of the venv
bench: install
	$(PIP) install -q ".[bench]"
	$(PIP) install -q --no-deps keras-video-generators==1.0.14
	$(VENV)/bin/gpuvideo bench --out benchmarks/results/cli

clean:
	rm -rf $(VENV) build *.egg-info demo_data bench_data
