# Two commands on a fresh machine: `make serve` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: serve test lint typecheck schema bench clean font web browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

# Face recognition (README "Faces"): PyPI has no dlib wheel, dlib-bin is the same library prebuilt;
# face_recognition goes in without its `dlib` requirement, and its models import pkg_resources
# (setuptools<82). About 100 MB. If it cannot be installed the server runs without faces (face
# frames are refused with face_unavailable) and this step is tried again next time.
FACE_PACKAGES := 'dlib-bin==20.0.1.post1' 'face_recognition_models==0.3.0' 'setuptools<82'

$(VENV)/.installed-face: | $(BIN)/python
	@{ $(BIN)/pip install --quiet $(FACE_PACKAGES) && \
	   $(BIN)/pip install --quiet --no-deps 'face_recognition==1.3.0' && touch $@; } || \
	  echo "face recognition could not be installed: serving without it (README \"Faces\")"

# Names in Chinese need a CJK font from a package (README "Fonts"): Debian's fonts-noto-cjk is
# installed when no font is found and this is a Debian machine where we are root (CI, the
# project's machines); anywhere else the check says what to install or set, and serving goes on.
font: $(VENV)/.installed
	@$(BIN)/python -m resolvers.core.fonts 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing fonts-noto-cjk (about 60 MB)"; \
	    apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -q --no-install-recommends fonts-noto-cjk >/dev/null; \
	  fi; \
	  $(BIN)/python -m resolvers.core.fonts || true; }

# The browser tests drive the system's Chromium (tests/browser.py; never a downloaded one): Debian's
# is installed when missing, as root or through sudo under CI (the font above: as root only);
# anywhere else those tests say what to install, and skip unless CI=true.
browser:
	@[ -n "$$GATEHOUSE_TEST_CHROMIUM" ] || [ -x /usr/bin/chromium ] || command -v chromium >/dev/null || { \
	  sudo=""; [ "$$(id -u)" = 0 ] || { [ "$$CI" = true ] && sudo="sudo -n"; } || sudo=none; \
	  if [ "$$sudo" != none ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's chromium for the browser tests"; \
	    $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	      $$sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null || true; \
	  fi; }

# The web app (web/: the phone app, the guard console, GraphiQL), built by Vite into web/dist when
# missing or older than its sources; needs Node.js 20.19+ and npm (README, "The phone app and the
# guard console"). The packages come from the npm registry as web/package-lock.json pins them.
WEB_SOURCES := $(shell find web/src web/public -type f 2>/dev/null) $(wildcard mobile_contracts/*.graphql) \
	web/index.html web/graphiql.html web/vite.config.ts web/package.json

web/node_modules/.package-lock.json: web/package-lock.json
	cd web && npm ci --no-audit --no-fund

web/dist/index.html: web/node_modules/.package-lock.json $(WEB_SOURCES)
	cd web && npx vite build --logLevel warn
	touch $@

web: web/dist/index.html

serve: $(VENV)/.installed $(VENV)/.installed-face font web
	$(BIN)/gatehouse demo
	@echo "Serving on http://$(HOST):$(PORT)  (the phone app at /, GraphiQL at /graphql, gate devices at /devices/ws)"
	@echo "Demo mode: GATEHOUSE_SECOND_FACTOR=optional (admins sign in without a TOTP code; the default is required)"
	GATEHOUSE_GRAPHIQL=1 GATEHOUSE_SECOND_FACTOR=optional $(BIN)/gatehouse serve --host $(HOST) --port $(PORT)

# The suite mostly waits (on servers it started, on timers, on the databases): measured, its pytest
# used a quarter of a core. So the tests run in two pytest-xdist workers, a test file per worker at
# a time (`--dist loadfile`: a module's server and fixtures stay in one process), and the browser
# tests (tests/test_web_*.py), which wait on Chromium and the pages' own timers, in a pytest of
# their own beside them (their output follows the rest's). The tests that bound real-time product
# guarantees (a command resent within 6 s, hello within 5 s) passed with the machine's load at 8.
# The browser tests run in one process beside the rest (two workers); these long files run after
# them in that process so the two finish together (alone, the browser run took 200 s, the rest 460 s).
BESIDE_BROWSER = tests/test_reports_and_anomalies.py tests/test_device_fleet.py tests/test_fuzz_graphql.py

test: $(VENV)/.installed-test $(VENV)/.installed-face font web browser
	@start=$$(date +%s); mkdir -p var; \
	$(BIN)/ruff check . && $(BIN)/mypy && $(BIN)/lint-imports --no-cache && { \
	  $(BIN)/pytest -q tests/test_web_*.py $(BESIDE_BROWSER) > var/browser-tests.log 2>&1 & browser=$$!; \
	  $(BIN)/pytest -q -n 2 --dist loadfile --ignore-glob='tests/test_web_*.py' \
	    $(addprefix --ignore=,$(BESIDE_BROWSER)); rest=$$?; \
	  wait $$browser; web=$$?; echo "--- browser tests (tests/test_web_*.py)"; cat var/browser-tests.log; \
	  [ $$rest -eq 0 ] && [ $$web -eq 0 ]; }; \
	status=$$?; echo "make test: $$(( $$(date +%s) - start )) s in all"; exit $$status

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

# Regenerate the committed SDL and device frame schemas after a deliberate change (tests fail when they differ).
schema: $(VENV)/.installed
	$(BIN)/gatehouse print-schema > schema.graphql
	$(BIN)/python -m devices.frames.publish

bench: $(VENV)/.installed-test
	$(BIN)/python -m bench.scan_throughput
	$(BIN)/python -m bench.attendance_bench
	$(BIN)/python -m bench.validation_cache
	$(BIN)/python -m bench.scans_under_abuse
	$(BIN)/python -m bench.guards_and_campus
	$(BIN)/python -m bench.fleet_history
	$(BIN)/python -m bench.faces_bench

clean:
	rm -rf $(VENV) var web/dist web/node_modules .pytest_cache .mypy_cache .ruff_cache tests/graphql_http_audit/node_modules
