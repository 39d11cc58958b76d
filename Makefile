# jobgraph — every target sets itself up: a fresh clone needs only `make run` or `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SDK_STAMP := $(VENV)/.sdk-installed
SDK_FILES := sdk/python/pyproject.toml sdk/python/README.md sdk/python/src/jobgraph_worker/py.typed \
	$(wildcard sdk/python/src/jobgraph_worker/*.py)

.PHONY: install run test check lint fmt bench demo lock clean audit-deps schema web browser documents

install: $(STAMP) $(SDK_STAMP)

# The venv is rebuilt whenever the lock file changes; pip checks every hash in it.
$(STAMP): requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements.lock
	touch $(STAMP)

# The worker SDK (sdk/python) installed as users get it, so `import jobgraph_worker` and the
# jobgraph-worker command work here; rebuilt whenever its files change. Its build backend
# (flit_core) comes from the lock, so this downloads nothing.
$(SDK_STAMP): $(STAMP) $(SDK_FILES)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation --force-reinstall ./sdk/python
	touch $@

# Browser assets (GraphiQL, React, graphql-ws) from the npm registry: `npm ci` installs exactly
# web/package-lock.json and checks every package's integrity hash; the builds the pages load are
# then copied to web/vendor/, which jobgraph serves itself (no CDN).
WEB_STAMP := web/vendor/.installed
web: $(WEB_STAMP)

$(WEB_STAMP): web/package.json web/package-lock.json web/vendor.json web/copy-vendor.mjs
	cd web && npm ci --no-audit --no-fund --loglevel=error
	node web/copy-vendor.mjs
	touch $@

# Debian's Chromium for the browser tests (the test fixture also installs it when absent).
browser:
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

run: install web
	$(BIN)/python app.py migrate
	$(BIN)/python app.py bootstrap-key
	$(BIN)/python app.py serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

fmt: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# graphql-http's GraphQL-over-HTTP audit suite (node), run by tests/e2e/test_http_audit.py.
AUDIT := tests/audit
audit-deps: $(AUDIT)/node_modules/.package-lock.json

$(AUDIT)/node_modules/.package-lock.json: $(AUDIT)/package-lock.json
	cd $(AUDIT) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

PYTEST := $(BIN)/python -m pytest $(PYTEST_ARGS)
# The layers that start no server: many short tests, run on four workers.
FAST_LAYERS := tests/unit tests/storage tests/graphql tests/http
# End-to-end tests whose server's HTTP protocol and view differ with the switch.
E2E_STOCK := tests/e2e/test_e2e_server.py tests/e2e/test_e2e_rest.py tests/e2e/test_e2e_lifecycle.py tests/e2e/test_e2e_live.py tests/e2e/test_http_audit.py tests/e2e/test_hostile_database.py tests/e2e/test_hostile_budget_sockets.py tests/e2e/test_hostile_edges.py

# The fast lane: lint and the tests that start no server.
check: lint
	$(PYTEST) -n 4 $(FAST_LAYERS)

# The whole suite with the fast paths on, then the GraphQL and HTTP layers (and the
# end-to-end tests of the HTTP path) again with them off: both paths answer the same.
test: install lint audit-deps web browser
	$(PYTEST) -n 4 $(FAST_LAYERS)
	JOBGRAPH_FAST_PATHS=false $(PYTEST) -n 4 tests/graphql tests/http
	$(PYTEST) tests/e2e
	JOBGRAPH_FAST_PATHS=false $(PYTEST) $(E2E_STOCK)

# The trusted documents of jobgraph's own pages (web/trusted-documents.json and
# web/public/document-ids.js), from the modules that hold them.
documents:
	node web/documents.mjs

# schema.graphql (committed, for frontend codegen) from the running schema.
schema: install
	$(BIN)/python -m schema.sdl

bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

demo: install web
	$(BIN)/python -m demo

# Regenerates requirements.lock from pyproject.toml (needs network access to PyPI).
lock:
	$(BIN)/python -m pip install --quiet uv==0.13.8
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --universal --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
