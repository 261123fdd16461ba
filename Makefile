# Two commands matter: `make demo` (set up + train the default preset) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TORCH  ?= torch==2.13.0

.PHONY: demo test test-fast venv clean

venv: $(STAMP)

# torch goes in first and pinned: a bare `torch` requirement would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check $(TORCH)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[test,browser,tensorboard]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/gankit train vanilla --run-dir runs/demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -ra

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m 'not slow'

clean:
	rm -rf $(VENV) runs .pytest_cache
