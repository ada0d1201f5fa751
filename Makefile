.PHONY: setup demo test clean

STAMP := .venv/.edgeunlearn-setup

$(STAMP): pyproject.toml scripts/setup.sh
	bash scripts/setup.sh
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	.venv/bin/edgeunlearn demo

# the CLI preloads OpenBLAS by re-executing itself; pytest gets it from here
test: $(STAMP)
	LD_PRELOAD="$$(.venv/bin/python -m edgeunlearn.blas)" .venv/bin/python -m pytest

clean:
	rm -rf .venv runs .pytest_cache
