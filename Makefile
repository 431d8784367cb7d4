# Generative models for music: the course's commands. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.course-installed
# PROFILE=smoke|cpu|gpu (default: gpu when CUDA is present, else cpu)
PROFILE ?=
PROFILE_ARG := $(if $(PROFILE),--profile $(PROFILE),)
# nbval executes every notebook in the smoke profile; cells get at most this many seconds each.
CELL_TIMEOUT ?= 600

.PHONY: help setup fluidsynth browser test course book data report reference bench bundle lab clean

help:
	@echo "make test     set up if needed, build smoke data, run unit tests and every notebook (nbval, smoke)"
	@echo "make course   set up if needed, build data, run every notebook (PROFILE=smoke|cpu|gpu), write build/report.md"
	@echo "make book     the executed notebooks of the last 'make course' as an HTML book: build/book/index.html"
	@echo "make data     build the offline datasets for PROFILE into data/ (or \$$COURSE_DATA)"
	@echo "make report   rebuild build/report.md|html and the README results table"
	@echo "make reference PROFILE=cpu   copy build/results/<profile>/*.json into notebooks/results/<profile>/"
	@echo "make bench    training throughput of every chapter model on this device -> build/bench/<device>.json"
	@echo "make bundle   offline install bundle -> build/bundle/ (PYTHON_VERSION=3.12; BUNDLE_ARGS=\"--with-torch --have FILE\")"
	@echo "make lab      JupyterLab on notebooks/ with the course environment"
	@echo "make clean    remove build/ (keeps data/ and $(VENV))"

setup: $(STAMP) fluidsynth

$(STAMP): pyproject.toml
	@v=$$($(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null); \
	case "$$v" in 3.11|3.12) ;; \
	  *) echo "Python 3.11 or 3.12 is needed, '$(PYTHON)' is '$$v'. Run: make $(MAKECMDGOALS) PYTHON=python3.11"; exit 1;; esac
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV) || { echo "Could not create $(VENV). On Debian/Ubuntu: apt-get install -y python3-venv"; exit 1; }
	$(PY) -m pip install --quiet --upgrade pip
	@echo "Installing course_lib and its dependencies (torch + torchaudio 2.11 pull ~4.6 GB of CUDA libraries the first time)..."
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

# The FluidSynth C library renders MIDI. Installed on Debian/Ubuntu when we may (root or password-less sudo).
fluidsynth:
	@if ldconfig -p 2>/dev/null | grep -q libfluidsynth || [ -n "$$(find $(VENV) -name 'libfluidsynth*' 2>/dev/null | head -1)" ]; then exit 0; fi; \
	if command -v apt-get >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then echo "Installing libfluidsynth3 (apt-get)..."; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libfluidsynth3 >/dev/null; \
	  elif sudo -n true 2>/dev/null; then echo "Installing libfluidsynth3 (sudo apt-get)..."; sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libfluidsynth3 >/dev/null; \
	  else echo "FluidSynth is missing and I may not install it. Run:  sudo apt-get install -y libfluidsynth3   then run make again."; exit 1; fi; \
	else echo "FluidSynth is missing. Install it (conda install -c conda-forge fluidsynth | brew install fluid-synth) and run make again."; exit 1; fi

# Chromium renders a page of the book in tests/test_book.py. Installed on Debian/Ubuntu when we may (root);
# otherwise that one test is skipped and says why.
browser:
	@if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then exit 0; fi; \
	if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then echo "Installing chromium (apt-get) for the book's browser test..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null || echo "chromium not installed: the browser test will be skipped"; \
	else echo "No chromium (and not root): the book's browser test will be skipped. To run it: sudo apt-get install -y chromium"; fi

data: setup
	$(PY) -m course_lib.data build $(PROFILE_ARG)

test: setup browser
	$(PY) -m course_lib.data build --profile smoke --quiet
	COURSE_PROFILE=smoke COURSE_STATIC=1 MPLBACKEND=Agg PYTHONHASHSEED=0 $(PY) -m pytest tests notebooks \
	  --nbval-lax --nbval-current-env --nbval-cell-timeout=$(CELL_TIMEOUT) -p no:cacheprovider -q

course: data
	COURSE_STATIC=1 $(PY) -m course_lib.course run $(PROFILE_ARG)

book: setup
	$(PY) -m course_lib.course book $(PROFILE_ARG)

report: setup
	$(PY) -m course_lib.course report $(PROFILE_ARG)

reference: setup
	$(PY) -m course_lib.course reference $(PROFILE_ARG)

# BENCH_ARGS="--compile" also times torch.compile'd models
bench: setup
	$(PY) -m course_lib.bench $(PROFILE_ARG) $(BENCH_ARGS)

# An offline install for machines without package access: wheels for the target's Python, FluidSynth, install.sh.
# BUNDLE_ARGS: --with-torch, --have FILE (packages the target has, e.g. its pip freeze), --extra test
PYTHON_VERSION ?= 3.12
bundle: setup
	$(PY) -m course_lib.bundle --python-version $(PYTHON_VERSION) $(BUNDLE_ARGS)

lab: setup
	$(VENV)/bin/jupyter lab notebooks/

clean:
	rm -rf build
