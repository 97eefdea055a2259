# The two commands of README.md. Each one runs the idempotent setup first.
PY := .venv/bin/python
export CUDA_HOME ?= /usr/local/cuda
# Shared 2-core CI machines: OpenMP threads that spin while waiting slow everything else down.
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: setup demo test bench

setup:
	@bash .ci/setup.sh

demo: setup
	$(PY) -m headgen.cli demo -o demo_out

test: setup
	$(PY) -m pytest -q -p no:cacheprovider --timeout=900 tests

bench: setup
	$(PY) bench/runner.py && $(PY) bench/models.py && $(PY) bench/splat.py --quick && $(PY) bench/render.py && $(PY) bench/pose.py && $(PY) bench/pose_smoothing.py && $(PY) bench/pose_known.py && $(PY) bench/fit.py
