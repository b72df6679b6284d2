# Run `make help` for the list of targets.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))

# Everything below runs inside the virtual environment; jupyter kernels find its python first.
export PATH := $(CURDIR)/$(BIN):$(PATH)
export TF_CPP_MIN_LOG_LEVEL ?= 3
# MPLBACKEND is left alone: Jupyter kernels draw inline (and store every figure) only when
# it is unset, so the targets that start kernels unset it; the unit tests choose Agg themselves.
BUILD ?= build
JOBS ?= 2
# Test workers share the cores: with JOBS > 1 each worker process (and the kernels it starts)
# keeps to one thread, instead of TensorFlow's and oneDNN's pools of one thread per core each,
# which put twice as many busy threads as cores (measured: make test 4:27 against 4:54-5:32).
WORKER_THREADS := $(if $(filter-out 1,$(JOBS)),TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 OMP_NUM_THREADS=1)

.DEFAULT_GOAL := help
.PHONY: help install course lab test unit nbcheck nbval bench toc clean-notebooks clean checkpoints checkpoints-baseline checkpoints-list choices present slides slides-check nbval-present

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-16s %s\n", $$1, $$2}'

install: $(STAMP) ## Create .venv, install pinned requirements and course_lib (editable); quick when nothing changed

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

course: install ## Execute every notebook in the lecture profile, in place, and render HTML to build/
	COURSE_PROFILE=$${COURSE_PROFILE:-lecture} $(BIN)/python tools/nbtools.py run --html $(BUILD) $(NOTEBOOKS)

present: install ## Execute every notebook in the present profile (loads checkpoints/): build/present/ gets notebooks, HTML, slides
	COURSE_PROFILE=present $(BIN)/python tools/nbtools.py run --executed $(BUILD)/present --html $(BUILD)/present $(NOTEBOOKS)
	$(BIN)/python tools/nbtools.py slides --out $(BUILD)/present/slides $(addprefix $(BUILD)/present/,$(notdir $(NOTEBOOKS)))

slides: install ## Render the committed notebooks as reveal.js decks in build/slides/ (offline; open index.html)
	$(BIN)/python tools/nbtools.py slides --out $(BUILD)/slides $(NOTEBOOKS)

slides-check: slides ## Screenshots of two slides of two decks in headless Chromium (needs chromium), in build/slides/shots/
	$(BIN)/python tools/nbtools.py shots --out $(BUILD)/slides/shots $(BUILD)/slides/04a_vae.slides.html $(BUILD)/slides/07_gan.slides.html

lab: install ## Start Jupyter Lab on the notebooks
	env -u MPLBACKEND $(BIN)/jupyter lab notebooks/

# `make test` is one pytest session on two workers: every notebook in the smoke profile and, for
# those with a present path, then again in the same kernel as the present profile in smoke form
# (smoke sizes, checkpoints loaded; see `nbtools.py test-notebooks`), beside the unit tests, so
# that neither core waits for a phase to end. The targets unit, nbval and nbval-present run each part alone.
# Notebooks joined by commas form a chain: one kernel runs them one after the other, from a
# cleared namespace each, so that the kernel start and TensorFlow import (about 4-6 s) are paid
# once per chain. Chains and files go longest first (seconds measured in one `make test`,
# 2026-12-02), so that neither core ends idle while the other finishes a long one. A notebook
# named nowhere here runs alone, after these.
NBVAL_PRESENT_DIR := $(BUILD)/nbval-present
comma := ,
TEST_ORDER := notebooks/07b_wgan.ipynb,notebooks/07_gan.ipynb notebooks/10_diffusion.ipynb,notebooks/08_evaluation.ipynb \
	notebooks/06b_pixelcnn_conditional_ood.ipynb,notebooks/06a_pixelcnn.ipynb,notebooks/06c_pixelrnn.ipynb \
	notebooks/04a_vae.ipynb,notebooks/03_autoencoders.ipynb,notebooks/05_cvae.ipynb,notebooks/04b_vae_likelihood.ipynb \
	tests/test_checkpoints.py notebooks/09_flows.ipynb,notebooks/01_likelihood.ipynb,notebooks/02_kl_divergence.ipynb \
	tests/test_pixelcnn.py tests/test_diffusion.py tests/test_vae.py tests/test_nbtools.py
TEST_FILES := $(TEST_ORDER) $(filter-out $(subst $(comma), ,$(TEST_ORDER)),$(NOTEBOOKS) $(sort $(wildcard tests/test_*.py)))
test: install nbcheck ## Notebook hygiene, then unit tests + notebooks re-executed (smoke, and smoke with checkpoints), in parallel
	@files="$$($(BIN)/python tools/nbtools.py test-notebooks --out $(BUILD)/nbval-test $(TEST_FILES))"; \
	$(WORKER_THREADS) COURSE_PROFILE=smoke env -u MPLBACKEND $(BIN)/python -m pytest --nbval-lax -p no:cacheprovider \
		-n $(JOBS) --dist loadscope $$files

unit: install ## Unit tests only
	$(WORKER_THREADS) COURSE_PROFILE=smoke $(BIN)/python -m pytest -n $(JOBS) --dist loadscope tests

nbcheck: install ## Notebooks are clean: executed, no errors, no absolute paths, no metadata noise, import course_lib
	$(BIN)/python tools/nbtools.py check $(NOTEBOOKS)

nbval: install ## Re-execute the notebooks in the smoke profile; compare the # NBVAL_CHECK_OUTPUT cells
	$(WORKER_THREADS) COURSE_PROFILE=smoke env -u MPLBACKEND $(BIN)/python -m pytest --nbval-lax -p no:cacheprovider \
		-n $(JOBS) --dist loadscope $(NOTEBOOKS)

nbval-present: install ## The present profile in smoke form: smoke sizes, trained models loaded from checkpoints/
	@copies="$$($(BIN)/python tools/nbtools.py present-copies --out $(NBVAL_PRESENT_DIR) $(NOTEBOOKS))"; \
	if [ -z "$$copies" ]; then echo "no notebook has all its checkpoints trained yet"; else \
		$(WORKER_THREADS) COURSE_PROFILE=smoke env -u MPLBACKEND $(BIN)/python -m pytest --nbval-lax -p no:cacheprovider \
			-n $(JOBS) --dist loadscope $$copies; fi

bench: install ## Time every notebook (lecture profile; COURSE_PROFILE=present for that one) and write bench/results.md; NB=... for some
	$(BIN)/python bench/run.py $(NB)

checkpoints: install ## Train models into checkpoints/ (NAME=... for one; MINUTES=... to stop early); resumable
	$(BIN)/python -m course_lib.checkpoints train $(NAME) $(if $(MINUTES),--max-minutes $(MINUTES))

checkpoints-baseline: install ## Measure 07's lecture-profile GANs by the manifest's protocol (NAME=dcgan or cgan): the targets' reference
	$(BIN)/python -m course_lib.checkpoints baseline $(or $(NAME),dcgan cgan)

checkpoints-list: install ## Every checkpoint: its budget, its status; rewrites the README's checkpoint table
	$(BIN)/python -m course_lib.checkpoints list --write README.md

choices: install ## Re-run the validation comparisons 04b and 05 report (about 10 min) into bench/choices.json
	$(BIN)/python -m course_lib.choices run $(NAME)

toc: install ## Rewrite the README's table of contents from the notebooks' headings
	$(BIN)/python tools/nbtools.py toc --write README.md $(NOTEBOOKS)

clean-notebooks: install ## Strip metadata noise from the notebooks (keeps outputs)
	$(BIN)/python tools/nbtools.py clean $(NOTEBOOKS)

clean: ## Remove build/ and caches (keeps .venv)
	rm -rf build .pytest_cache bench/.records
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +
