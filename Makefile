# SPDX-License-Identifier: MIT
# Entry points: `make run` and `make test` (see README.md). Meson does the
# building; this file installs what is missing and chains the steps.

BUILD      ?= build
ASAN_BUILD ?= build-asan
PYTHON     ?= /usr/bin/python3
PORT       ?= 8080

.PHONY: all deps checksrc build build-asan run test unit interop rp browser clean bench

all: build

deps:
	@sh scripts/deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=release

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false

build: $(BUILD)/build.ninja
	ninja -C $(BUILD)

build-asan: $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)

run: deps build
	@mkdir -p var
	@echo "Tandem: starting on http://localhost:$(PORT)"
	@echo "Make an admin account (in another terminal):  $(BUILD)/tandem user add NAME --admin"
	TANDEM_SERVER_HTTP_PORT=$(PORT) $(BUILD)/tandem serve

# Sanitizers: abort on the first UBSan report too, so it fails the test.
export ASAN_OPTIONS  ?= detect_leaks=1:abort_on_error=0:halt_on_error=1
export UBSAN_OPTIONS ?= print_stacktrace=1:halt_on_error=1

test: deps checksrc build build-asan unit interop rp browser
	@echo "make test: all suites passed"

unit: build-asan
	meson test -C $(ASAN_BUILD) --suite unit --suite fuzz-replay --print-errorlogs

interop: build-asan
	TANDEM_BIN=$(CURDIR)/$(ASAN_BUILD)/tandem $(PYTHON) -m pytest -q -p no:cacheprovider tests/interop

rp: build-asan
	TANDEM_BIN=$(CURDIR)/$(ASAN_BUILD)/tandem node --test tests/rp/

browser: build-asan
	TANDEM_BIN=$(CURDIR)/$(ASAN_BUILD)/tandem node --test tests/browser/

bench: build
	sh bench/http.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)

checksrc:
	@sh scripts/checksrc.sh
