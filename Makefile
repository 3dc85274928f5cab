# Two commands for a newcomer: `make demo` and `make test`. Both install into .venv first (once; again only
# when pyproject.toml changes).
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
TORCH_WHEELS := /opt/wheels
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_NO_ADVISORY_WARNINGS := 1

.PHONY: install demo test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	# torch stays on the 2.13.0 CPU wheel; any other request may pull a multi-GB CUDA build.
	$(VENV)/bin/python -m pip install --quiet $$(test -d $(TORCH_WHEELS) && echo --find-links $(TORCH_WHEELS)) torch==2.13.0
	$(VENV)/bin/python -m pip install --quiet $$(test -d $(TORCH_WHEELS) && echo --find-links $(TORCH_WHEELS)) -e '.[dev]'
	# Graphviz's `dot` renders `graphwright draw` pictures; without it a matplotlib fallback is used.
	command -v dot >/dev/null || ! command -v apt-get >/dev/null || { apt-get update -qq && apt-get install -y -qq graphviz; } || echo "graphviz not installed: drawings use the matplotlib fallback"
	touch $(STAMP)

demo: install
	$(VENV)/bin/graphwright run assistant "What is 17 * 23 + 4?"

test: install
	$(VENV)/bin/python -m pytest

bench: install
	$(VENV)/bin/python bench/model.py
	$(VENV)/bin/python bench/decode.py --tokens 64
	$(VENV)/bin/python bench/toolcalls.py --limit 10
	$(VENV)/bin/python bench/concurrency.py --levels 1,2,4,8
	$(VENV)/bin/python bench/memory.py --sizes 1000,10000
	$(VENV)/bin/python bench/agents.py --limit 2
	$(VENV)/bin/python bench/service.py
	$(VENV)/bin/graphwright eval assistant ../shared/data/gsm8k/test_dev.jsonl --limit 10

clean:
	rm -rf $(VENV) .graphwright .pytest_cache
