# `make demo` and `make test` each create or reuse .venv and install what they need.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
FASHION_MNIST := /usr/share/datasets/fashion-mnist
export TF_CPP_MIN_LOG_LEVEL ?= 3

.PHONY: demo test data bench clean

# The kernels (C++) are compiled by `pip install -e .`: a change to them re-runs it.
KERNEL_SOURCES := $(wildcard hashed_keras/lite/kernels/*.cc hashed_keras/lite/kernels/*.h \
	hashed_keras/lite/kernels/schema/*.h \
	hashed_keras/lite/kernels/CMakeLists.txt hashed_keras/lite/kernels/exports.map)

$(STAMP): requirements.txt requirements-baselines.txt pyproject.toml $(KERNEL_SOURCES)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-baselines.txt
	@# The kernels' model verifier needs flatbuffers' headers (Debian's
	@# libflatbuffers-dev); without apt-get, CMake downloads them (v2.0.8).
	@if [ -f /usr/include/flatbuffers/flatbuffers.h ]; then :; \
	elif command -v apt-get >/dev/null 2>&1; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  ( $$SUDO apt-get install -y -q libflatbuffers-dev >/dev/null 2>&1 || \
	    ( $$SUDO apt-get update -q >/dev/null 2>&1 && \
	      $$SUDO apt-get install -y -q libflatbuffers-dev >/dev/null 2>&1 ) ) || \
	  echo "note: could not install libflatbuffers-dev; CMake will fetch flatbuffers v2.0.8"; \
	fi
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# Fashion-MNIST from Debian's dataset-fashion-mnist, where apt-get exists (optional:
# everything runs on scikit-learn's digits without it).
data:
	@if [ -d $(FASHION_MNIST) ]; then :; \
	elif command -v apt-get >/dev/null 2>&1; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  ( $$SUDO apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || \
	    ( $$SUDO apt-get update -q >/dev/null 2>&1 && \
	      $$SUDO apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 ) ) || \
	  echo "note: could not install dataset-fashion-mnist; fashion_mnist needs --data_dir"; \
	else echo "note: no apt-get; fashion_mnist needs --data_dir"; fi

demo: $(STAMP) data
	$(PY) -m pipelines.demo

test: $(STAMP) data
	$(PY) -m pytest tests -q

bench: $(STAMP)
	$(PY) -m benchmarks.train_step

clean:
	rm -rf $(VENV) runs
