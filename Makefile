# Every target installs what it needs first (scripts/bootstrap.sh is idempotent and quick on a second run).
PY := .venv/bin/python
export PATH := $(CURDIR)/.venv/bin:$(CURDIR)/tools/node_modules/.bin:$(PATH)

.PHONY: setup demo test bench lint clean

setup:
	@bash scripts/bootstrap.sh

demo: setup
	$(PY) -m airflow_provider_sky.devtools.demo

test: setup
	$(PY) -m ruff check airflow_provider_sky tests bench example_dags scripts
	$(PY) -m mypy
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

bench: setup
	$(PY) -m bench.run_all $(BENCH)

# Build the triangle testbed (network namespaces + tc htb; needs root), measure each link against its shaped rate.
.PHONY: testbed
testbed: setup
	$(PY) -m airflow_provider_sky.testbed triangle

lint: setup
	$(PY) -m ruff check airflow_provider_sky tests bench example_dags scripts

clean:
	rm -rf .venv .tools tools/node_modules .pytest_cache .ruff_cache
