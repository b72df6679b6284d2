# Run `make help` for the list of targets.
SHELL := /bin/bash
# The interpreter that makes .venv (PYTHON=/path/to/python3.x to choose one): found before PATH
# gets .venv/bin below, so it is never the venv's own python.
ifeq ($(origin PYTHON),undefined)
PYTHON := $(shell command -v python3.11 || command -v python3)
endif
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))

# Everything below runs inside the virtual environment; jupyter kernels find its python first.
export PATH := $(CURDIR)/$(BIN):$(PATH)
export TF_CPP_MIN_LOG_LEVEL ?= 3
export TF_ENABLE_ONEDNN_OPTS ?= 1      # oneDNN's CPU kernels also where TensorFlow leaves them off (course_lib/__init__.py)
# MPLBACKEND is left alone: Jupyter kernels draw inline (and store every figure) only when
# it is unset, so the targets that start kernels unset it; the unit tests choose Agg themselves.
BUILD ?= build
JOBS ?= 2
# Test workers share the cores: with JOBS > 1 each worker process (and the kernels it starts)
# keeps to one thread, instead of TensorFlow's and oneDNN's pools of one thread per core each,
# which put twice as many busy threads as cores (measured: make test 4:27 against 4:54-5:32).
WORKER_THREADS := $(if $(filter-out 1,$(JOBS)),TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 OMP_NUM_THREADS=1)

.DEFAULT_GOAL := help
.PHONY: help install course lab test unit nbcheck nbval bench toc clean-notebooks clean checkpoints checkpoints-baseline checkpoints-rescore checkpoints-list choices present slides slides-check site site-check nbval-present

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-16s %s\n", $$1, $$2}'

install: $(STAMP) ## Create .venv, install pinned requirements and course_lib (editable); quick when nothing changed

# "3.11" from `python --version` ("Python 3.11.7"), in a recipe (py_minor) or now (py_minor_now);
# empty when $(1) does not run.
minor_sed := sed -n 's/^Python \([0-9]*\.[0-9]*\).*/\1/p'
py_minor = $$($(1) --version 2>&1 | $(minor_sed))
py_minor_now = $(shell $(1) --version 2>&1 | $(minor_sed))
# The chosen Python must be 3.11 or newer (the pinned wheels need it): one line, before any venv exists.
CHECK_PYTHON = want=$(call py_minor,$(PYTHON)); \
	awk -v v="$$want" 'BEGIN { split(v, a, "."); exit !(a[1] > 3 || (a[1] == 3 && a[2] >= 11)) }' || \
	{ echo "make install: Python 3.11 or newer is needed, but PYTHON=$(or $(PYTHON),(no python3 found)) is $${want:+Python }$${want:-not a Python that runs}; choose one with make install PYTHON=/path/to/python3.11" >&2; exit 1; }
# A .venv made by another Python (e.g. an earlier try with 3.10) is rebuilt, not reused.
MAKE_VENV = have=$(call py_minor,$(BIN)/python); \
	if [ "$$have" != "$$want" ]; then \
		if [ -e $(VENV) ]; then echo "make install: $(VENV) was made by Python $${have:-(broken)}, not $$want: rebuilding it"; fi; \
		rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); fi

# PYTHON=... given on the command line and .venv made by another Python: install again (rebuilds .venv).
ifeq ($(origin PYTHON),command line)
ifneq ($(call py_minor_now,$(PYTHON)),$(call py_minor_now,$(BIN)/python))
$(STAMP): FORCE
endif
endif
.PHONY: FORCE
FORCE:

# The stamp is written last, only when every step succeeded: a failed install is retried.
$(STAMP): requirements.txt pyproject.toml
	@rm -f $@
	@$(CHECK_PYTHON); $(MAKE_VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

course: install ## Execute every notebook in the lecture profile, in place, and render HTML to build/
	COURSE_PROFILE=$${COURSE_PROFILE:-lecture} $(BIN)/python tools/nbtools.py run --html $(BUILD) $(NOTEBOOKS)

present: install ## Execute every notebook in the present profile (loads checkpoints/): build/present/ gets notebooks, HTML, slides
	COURSE_PROFILE=present $(BIN)/python tools/nbtools.py run --executed $(BUILD)/present --html $(BUILD)/present $(NOTEBOOKS)
	$(BIN)/python tools/nbtools.py slides --out $(BUILD)/present/slides $(addprefix $(BUILD)/present/,$(notdir $(NOTEBOOKS)))

slides: install ## Render the committed notebooks as reveal.js decks in build/slides/ (offline, each slide fits 1280x720; open index.html)
	$(BIN)/python tools/nbtools.py slides --out $(BUILD)/slides $(NOTEBOOKS)

# slides-check also measures build/present/slides and the HTML pages of `make course` (build/*.html) and
# `make present` (build/present/*.html) when they exist; it needs Chromium (Debian: apt-get install chromium).
slides-check: slides ## Every slide and page in headless Chromium: fails on overflow, math errors, broken links, blank slides
	$(BIN)/python tools/nbtools.py slides-check --shots $(BUILD)/slides/shots \
		$(BUILD)/slides $(BUILD)/present/slides $(BUILD) $(BUILD)/present

# The site's builder (Jupyter Book 1, Sphinx) lives in .venv-site, apart from .venv: it pins an older
# Sphinx than the slides' sphinx-revealjs needs. The stamp is written last, as for .venv.
SITE_VENV := .venv-site
SITE_STAMP := $(SITE_VENV)/.installed
$(SITE_STAMP): requirements-site.txt
	@rm -f $@
	@$(CHECK_PYTHON); [ -x $(SITE_VENV)/bin/python ] || $(PYTHON) -m venv $(SITE_VENV)
	$(SITE_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SITE_VENV)/bin/python -m pip install --quiet -r requirements-site.txt
	@touch $@

site: install $(SITE_STAMP) ## The course as a searchable web site in build/site/html (committed notebooks, not re-run; offline; open index.html)
	$(BIN)/python tools/course_site.py build $(BUILD)/site

site-check: site ## Open the site in headless Chromium: fails on network requests, broken links, untypeset formulas, a search that misses 08
	$(BIN)/python tools/course_site.py check --shots $(BUILD)/site/shots $(BUILD)/site/html

# Jupyter refuses to start as root (containers, cloud images) without --allow-root; LAB_ARGS="--no-browser
# --port 8899" passes more arguments.
LAB_ARGS ?=
lab: install ## Start Jupyter Lab on the notebooks (LAB_ARGS=... for more arguments; --allow-root added as root)
	env -u MPLBACKEND $(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS) notebooks/

# `make test` is one pytest session on two workers: every notebook in the smoke profile and, for
# those with a present path, then again in the same kernel as the present profile in smoke form
# (smoke sizes, checkpoints loaded; see `nbtools.py test-notebooks`), beside the unit tests, so
# that neither core waits for a phase to end. The targets unit, nbval and nbval-present run each part alone.
# Notebooks joined by commas form a chain: one kernel runs them one after the other, from a
# cleared namespace each, so that the kernel start and TensorFlow import (about 4-6 s) are paid
# once per chain (08a after 08b also reuses its samples: evaluation.course_samples keeps the draws of the
# process). Chains and files go longest first (seconds measured in one `make test`,
# 2026-12-07, `--durations=0` summed per file), so that neither core ends idle while the other
# finishes a long one. A notebook named nowhere here runs alone, after these.
NBVAL_PRESENT_DIR := $(BUILD)/nbval-present
comma := ,
TEST_ORDER := notebooks/08b_evaluation.ipynb,notebooks/08a_evaluation.ipynb,notebooks/06e_gated_pixelcnn.ipynb,notebooks/09_flows.ipynb \
	notebooks/10b_diffusion_mnist.ipynb,notebooks/10_diffusion.ipynb,notebooks/11b_flow_matching.ipynb,notebooks/11a_guidance.ipynb,notebooks/01_likelihood.ipynb,notebooks/02_kl_divergence.ipynb \
	notebooks/07b_wgan.ipynb,notebooks/07_gan.ipynb \
	notebooks/04a_vae.ipynb,notebooks/03_autoencoders.ipynb,notebooks/05_cvae.ipynb,notebooks/04b_vae_likelihood.ipynb \
	notebooks/06b_pixelcnn_conditional.ipynb,notebooks/06a_pixelcnn.ipynb,notebooks/06c_pixelrnn.ipynb,notebooks/06d_likelihood_ood.ipynb \
	tests/test_recipes.py tests/test_checkpoints.py tests/test_distribute.py tests/test_flows.py tests/test_gated_pixelcnn.py \
	tests/test_pixelcnn.py tests/test_vae.py tests/test_diffusion.py tests/test_nbtools.py
TEST_FILES := $(TEST_ORDER) $(filter-out $(subst $(comma), ,$(TEST_ORDER)),$(NOTEBOOKS) $(sort $(wildcard tests/test_*.py)))
test: install nbcheck ## Notebook hygiene, then unit tests + notebooks re-executed (smoke, and smoke with checkpoints), in parallel
	@files="$$($(BIN)/python tools/nbtools.py test-notebooks --out $(BUILD)/nbval-test $(TEST_FILES))"; \
	$(WORKER_THREADS) COURSE_PROFILE=smoke env -u MPLBACKEND $(BIN)/python -m pytest --nbval-lax -p no:cacheprovider \
		-n $(JOBS) --dist loadscope --durations=15 $$files

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

.PHONY: host-speed
host-speed: install ## Time a fixed reference workload (a few seconds): this host's speed, to report beside a time
	$(BIN)/python -m course_lib.bench host-speed

checkpoints: install ## Train models into checkpoints/ (NAME=... for one; MINUTES=... to stop early); resumable
	$(BIN)/python -m course_lib.checkpoints train $(NAME) $(if $(MINUTES),--max-minutes $(MINUTES))

checkpoints-baseline: install ## Measure 07's lecture-profile GANs by the manifest's protocol (NAME=dcgan or cgan): the targets' reference
	$(BIN)/python -m course_lib.checkpoints baseline $(or $(NAME),dcgan cgan)

checkpoints-rescore: install ## Measure a shipped checkpoint's figures again with its recipe's current evaluation, no training (NAME=...)
	$(if $(NAME),,$(error give NAME=a checkpoint, e.g. make checkpoints-rescore NAME=diffusion_mnist))
	$(BIN)/python -m course_lib.checkpoints rescore $(NAME)

checkpoints-list: install ## Every checkpoint: its budget, its status; rewrites the README's checkpoint table
	$(BIN)/python -m course_lib.checkpoints list --write README.md

choices: install ## Re-run the validation comparisons of 04b, 05, 07b and 10b (NAME=a comparison, e.g. wgan_settings or dcgan_settings; all: about 2 h; GAN runs already recorded are reused) into bench/choices.json
	$(BIN)/python -m course_lib.choices run $(NAME)

toc: install ## Rewrite the README's table of contents from the notebooks' headings
	$(BIN)/python tools/nbtools.py toc --write README.md $(NOTEBOOKS)

clean-notebooks: install ## Strip metadata noise from the notebooks (keeps outputs)
	$(BIN)/python tools/nbtools.py clean $(NOTEBOOKS)

clean: ## Remove build/ and caches (keeps .venv)
	rm -rf build .pytest_cache bench/.records
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +
