# The front door. `make test` and `make run` work on a fresh Debian 12
# machine: they install what is missing, configure, build, then test or serve.
BUILD    ?= build
DATA_DIR ?= ./data
LISTEN   ?= 127.0.0.1:8080
# Builds share the machine's 2 cores: one at a time (see README).
LOCK     := flock /tmp/iamledger-build.lock

.PHONY: all deps build test run bench format clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja: CMakeLists.txt
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release

build: deps $(BUILD)/build.ninja
	$(LOCK) cmake --build $(BUILD)

test: build
	cd $(BUILD) && ctest --output-on-failure -j2 --timeout 600

run: build
	$(BUILD)/iamledger serve --data-dir $(DATA_DIR) --listen $(LISTEN)

bench: build
	@scripts/install-deps.sh --bench
	$(BUILD)/tests/bench/append_bench

format:
	clang-format -i $$(git ls-files '*.cc' '*.h')

clean:
	rm -rf $(BUILD)
