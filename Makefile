# Two commands do all the set-up on a fresh machine:
#   make demo   - creates .venv, installs gpuvideo with TensorFlow as Keras backend, trains on a sample dataset
#   make test   - creates .venv, installs gpuvideo with its test extras and TensorFlow, runs the test suite
# and one more for CI:
#   make test-torch - creates .venv-torch with Keras on PyTorch and no TensorFlow, runs the tests that apply
PYTHON ?= python3
VENV   ?= .venv
PIP    := $(VENV)/bin/pip
PY     := $(VENV)/bin/python

PYTEST_ARGS ?=

# the torch-backend job: its own venv, the CPU build of PyTorch (a local wheel here), no TensorFlow
TORCH_VENV ?= .venv-torch
TORCH_REQ  ?= torch==2.13.0+cpu
TORCH_PY   := $(TORCH_VENV)/bin/python
# what it runs: everything but the multi-process and subprocess-heavy "slow" tests (see .ci/run)
TORCH_PYTEST_ARGS ?= -m "not slow"

.PHONY: demo demo-long test test-deps optional-backends install test-torch bench mutation clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# gpuvideo needs Keras and one of its backends: TensorFlow here (the "tensorflow" extra)
install: $(PY)
	$(PIP) install -q ".[test,tensorflow]"

demo: install
	$(VENV)/bin/gpuvideo demo

demo-long: install
	$(VENV)/bin/gpuvideo demo --long

# Test-only packages that setup.py's "test" extra cannot carry. keras-video-generators 1.0.14 is the
# reference of test_flow_compat (keras_video's own motion images); its requirements would add
# opencv-python next to opencv-contrib-python-headless, so it goes in without them (--no-deps).
# No "|| echo" here: when it cannot be installed, `make test` stops instead of skipping the test.
test-deps: install
	$(PIP) install -q --no-deps keras-video-generators==1.0.14
	$(PY) -c "import importlib.metadata as m, importlib.util as u; \
	  assert m.version('keras-video-generators') == '1.0.14' and u.find_spec('keras_video'), 'keras_video missing'"

# Optional Keras backends for the backend tests: the CPU build of PyTorch (from a local wheel where the
# machine has one) and JAX. They stay optional (their tests skip without them), but a failed install
# is announced in a banner with the end of pip's log, and .ci/run lists every skipped test and why.
# $(call optional,name,requirement,tests that skip without it)
define optional
$(PIP) install -q "$(2)" >$(VENV)/pip-$(1).log 2>&1 && echo "optional: $(1) installed ($(2))" || { \
  echo ""; echo "**********************************************************************"; \
  echo "NOTE: optional $(1) could not be installed ($(2)): the $(3) will SKIP."; \
  echo "      pip said (full log: $(VENV)/pip-$(1).log):"; tail -n 3 $(VENV)/pip-$(1).log | sed 's/^/        /'; \
  echo "**********************************************************************"; echo ""; }
endef

optional-backends: test-deps
	@$(call optional,torch,torch==2.13.0+cpu,torch-backend tests (test_adapters))
	@$(call optional,jax,jax[cpu]>=0.4.30,jax-backend tests (test_adapters))

# PYTEST_ARGS: extra pytest options (.ci/run leaves them empty)
test: test-deps optional-backends
	$(PY) -m pytest $(PYTEST_ARGS)

$(TORCH_PY):
	$(PYTHON) -m venv $(TORCH_VENV)
	$(TORCH_VENV)/bin/pip install -q --upgrade pip

# Keras on PyTorch without TensorFlow: tests marked "tensorflow" skip (the only skip reason .ci/run allows
# here besides the GPU ones); the install is checked to hold no TensorFlow.
test-torch: $(TORCH_PY)
	$(TORCH_VENV)/bin/pip install -q ".[test]" "$(TORCH_REQ)"
	$(TORCH_PY) -c "import importlib.util as u; assert u.find_spec('tensorflow') is None, 'TensorFlow is installed'; \
	  assert u.find_spec('torch'), 'torch missing'"
	KERAS_BACKEND=torch $(TORCH_PY) -m pytest $(TORCH_PYTEST_ARGS) $(PYTEST_ARGS)

# keras-video-generators 1.0.14 is a baseline only: --no-deps keeps its old pins out of the venv
bench: install
	$(PIP) install -q ".[bench]"
	$(PIP) install -q --no-deps keras-video-generators==1.0.14
	$(VENV)/bin/gpuvideo bench --out benchmarks/results/cli

# Mutation run (not part of CI; about an hour on 2 cores): mutmut over sampling, windows, ops, motion and the
# PyAV decoding modules, each group with its own test subset, in scratch copies under build/mutation/.
# Score and survivors: benchmarks/results/mutation.md. MUTATION_ARGS: e.g. --groups sampling, --rerun-survivors
MUTATION_ARGS ?=
mutation: install
	$(PIP) install -q "mutmut==3.8.1"
	$(PY) benchmarks/mutation.py $(MUTATION_ARGS)

clean:
	rm -rf $(VENV) $(TORCH_VENV) build *.egg-info demo_data bench_data
