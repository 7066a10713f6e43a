# Spoke: `make run` opens the app, `make test` runs every test. Both install what is missing
# first (Debian 12, as root). `make e2e` and `make bench` are parts you can run alone.

SHELL := /bin/bash
export CARGO_TARGET_DIR ?= $(CURDIR)/target
export CARGO_TERM_COLOR ?= never
TARGET := $(CARGO_TARGET_DIR)
APP_BIN := $(TARGET)/debug/spoke-app
PY := $(TARGET)/py/bin/python
SESSION := tests/session.sh

APT_PACKAGES := libwebkit2gtk-4.1-dev build-essential curl wget file libxdo-dev libssl-dev \
  libayatana-appindicator3-dev librsvg2-dev pkg-config libdbus-1-dev xvfb xauth \
  webkit2gtk-driver gnome-keyring dbus dbus-x11 libsecret-tools imagemagick x11-utils \
  python3 python3-venv chromium chromium-driver xdg-utils postgresql

.PHONY: run test e2e bench deps test-deps ui app bindings clean-e2e

## run: install what is missing, build, and open the Spoke window (demo portal built in)
run: deps ui app
	$(APP_BIN)

## test: cargo tests (nextest; with a throwaway PostgreSQL server from tests/pg.sh), UI unit tests (Vitest), the demo portal's fidelity suite (HubSpot's
## own Python client + OpenAPI validation), then the end-to-end suite under Xvfb
test: deps test-deps ui app
	$(SESSION) tests/pg.sh env -u DISPLAY cargo nextest run --workspace --no-fail-fast --run-ignored all
	cd ui && npx vitest run
	tests/fidelity/run.sh $(TARGET)/debug/spoke-sandbox
	$(MAKE) --no-print-directory e2e-only

## e2e: the real app under Xvfb through tauri-driver + WebKitWebDriver (inside a throwaway PostgreSQL
## server from tests/pg.sh, for the PostgreSQL destination); screenshots in target/e2e/
e2e: deps test-deps ui app e2e-only

e2e-only:
	rm -rf target/e2e && mkdir -p target/e2e
	SPOKE_APP_BIN=$(APP_BIN) $(SESSION) tests/pg.sh $(PY) -m pytest -q -p no:cacheprovider tests/e2e

## bench: benchmarks (app start, release size, demo portal throughput, Test connection at 150 ms
## latency, mapping dry-run, mapper filter keystrokes with 2,000 properties, sync engine at the
## rate limit); writes target/bench/report.md
bench: deps test-deps ui app
	mkdir -p target/bench/sections
	cargo run -q --release -p spoke-sandbox --example bench -- --out target/bench/sections/20-sandbox.md
	{ echo "## Test connection"; echo; cargo run -q --release -p spoke-connect --example check_bench; } > target/bench/sections/30-test-connection.md
	cargo run -q --release -p spoke-mapping --example dry_run_bench > target/bench/sections/35-mapping-dry-run.md
	cargo run -q --release -p spoke-engine --example read_bench > target/bench/sections/40-sync.md
	cargo run -q --release -p spoke-engine --example write_bench > target/bench/sections/41-write-back.md
	$(SESSION) $(PY) tests/bench/mapper_filter.py --app $(APP_BIN) --out target/bench/sections/37-mapper-filter.md
	$(SESSION) $(PY) tests/bench/run.py --app $(APP_BIN) --out target/bench/report.md

## bindings: regenerate ui/src/lib/bindings.ts from the Rust commands
bindings:
	cargo run -q -p spoke-app --example export_bindings

deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; done; \
	command -v node >/dev/null || missing="$$missing nodejs npm"; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@if [ ! -d ui/node_modules ] || [ ui/package-lock.json -nt ui/node_modules/.package-lock.json ]; then \
	  cd ui && npm ci --no-audit --no-fund; fi

test-deps:
	@command -v cargo-nextest >/dev/null || cargo install cargo-nextest --locked
	@command -v tauri-driver >/dev/null || [ -x $$HOME/.cargo/bin/tauri-driver ] || cargo install tauri-driver --locked
	@if ! $(PY) -c 'import selenium, pytest' 2>/dev/null; then \
	  python3 -m venv $(TARGET)/py && $(TARGET)/py/bin/pip install -q -r tests/requirements.txt; fi

ui:
	cd ui && npx vite build --logLevel warn

app:
	cargo build -p spoke-app -p spoke-cli -p spoke-sandbox
