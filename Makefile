# Every target creates/uses .venv itself: `make run` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# The main job's data: the Kaggle files beside the repo when present (CI, this project's machines),
# otherwise MNIST, downloaded into the user cache. Override: make run DATA=mnist:/path/to/idx
KAGGLE_DIR ?= ../shared/data/kaggle-digit-recognizer
DATA   ?= $(if $(wildcard $(KAGGLE_DIR)/train.csv*),kaggle:$(KAGGLE_DIR),mnist)
PRESET ?= fast
RUN    ?= runs/main
KAGGLE_TEST := $(firstword $(wildcard $(KAGGLE_DIR)/test.csv.gz $(KAGGLE_DIR)/test.csv))

.PHONY: setup run test test-fast fuzz lint docs docs-serve mutation browser bench bench-quick serve clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

setup: $(STAMP)

## train → evaluate → submission + report, into $(RUN)
run: setup
	rm -rf $(RUN)
	$(BIN)/digitrec train --data $(DATA) --preset $(PRESET) --out $(RUN)
	$(BIN)/digitrec evaluate $(RUN)
ifneq ($(KAGGLE_TEST),)
	$(BIN)/digitrec submit $(RUN) --test $(KAGGLE_TEST) --output $(RUN)/submission.csv
else
	@echo "no Kaggle test.csv in $(KAGGLE_DIR): skipping the submission (MNIST run evaluated on t10k)"
endif
	@echo "report: $(RUN)/report.md"

# Debian's Chromium for the browser test of the drawing page (Playwright cannot download browsers here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing: sudo apt-get install chromium (browser tests will skip)"; fi; }

test: setup browser
	$(BIN)/pytest $(PYTEST_ARGS)

# The inner loop: no training, no browser, no subprocess campaigns (about a minute and a half on 2 cores).
test-fast: setup
	$(BIN)/pytest -q -m "not slow and not browser" $(PYTEST_ARGS)

# The property-based fuzzing of every parser (tests/test_fuzz.py) with 2,000 examples per property.
fuzz: setup
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest -q tests/test_fuzz.py $(PYTEST_ARGS)

# ruff (lint + format check) and mypy, as CI runs them.
lint: setup
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/mypy

# The documentation site (mkdocs.yml → site/): strict, so a broken link, anchor or reference fails.
docs: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

docs-serve: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --dev-addr 127.0.0.1:8001

# Mutation testing of the numpy-only core (data/, imaging, the inference core): see docs/design.md.
mutation: setup
	$(BIN)/pip install --quiet 'mutmut>=3.3,<4'
	$(BIN)/python scripts/mutation.py

# The full measurements behind docs/results.md (about 2½ h on the 2-core CPU).
bench: setup
	rm -rf runs/bench
	$(BIN)/python benchmarks/time_to_accuracy.py --recipes fast,best --seeds 0,1,2 --keep runs/bench
	$(BIN)/python benchmarks/ensemble_gain.py --name fast runs/bench/fast-0 runs/bench/fast-1 runs/bench/fast-2
	$(BIN)/python benchmarks/ensemble_gain.py --name best runs/bench/best-0 runs/bench/best-1 runs/bench/best-2
	$(BIN)/python benchmarks/ensemble_gain.py --name all_recipes runs/bench/fast-* runs/bench/best-*
	$(BIN)/python benchmarks/throughput.py
	$(BIN)/python benchmarks/input_pipeline.py
	$(BIN)/python benchmarks/inference_backends.py
	$(BIN)/python benchmarks/tta_gain.py
	$(BIN)/python benchmarks/seed_recipe.py
	$(BIN)/python benchmarks/preprocessing.py

# A few minutes: the fast preset's time to accuracy, and throughput on 10,000 images.
bench-quick: setup
	$(BIN)/python benchmarks/time_to_accuracy.py --quick
	$(BIN)/python benchmarks/throughput.py --quick

serve: setup
	$(BIN)/digitrec serve

clean:
	rm -rf $(VENV) runs site .pytest_cache
