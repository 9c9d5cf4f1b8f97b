# The front door. `make test` and `make run` work on a fresh Debian 12
# machine: they install what is missing, configure, build, then test or serve.
BUILD    ?= build
DATA_DIR ?= ./data
LISTEN   ?= 127.0.0.1:8080
# Builds share the machine's 2 cores: one at a time (see README).
LOCK     := flock /tmp/iamledger-build.lock

.PHONY: all deps build binary test run bench soak format clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja: CMakeLists.txt
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release

build: deps $(BUILD)/build.ninja
	$(LOCK) cmake --build $(BUILD)

# Only what `run` needs: the binary.
binary: deps $(BUILD)/build.ninja
	$(LOCK) cmake --build $(BUILD) --target iamledger

test: build
	cd $(BUILD) && ctest --output-on-failure -j2 --timeout 600

run: binary
	$(BUILD)/iamledger serve --data-dir $(DATA_DIR) --listen $(LISTEN)

# Every benchmark; each prints BENCH/RATIO lines next to its baseline.
bench: build
	@scripts/install-deps.sh --bench
	$(BUILD)/tests/bench/append_bench
	$(BUILD)/tests/bench/authz_bench
	$(BUILD)/tests/bench/replay_bench
	tests/bench/http_bench.sh

# The long fault runs (tests/faults; make test runs their short versions):
# 500 simulated power cuts under 8 writers; every I/O fault point with every
# variant (once, sticky, ENOSPC); 10,000 byte flips.
soak: build
	IAM_POWER_CYCLES=500 $(BUILD)/tests/faults_tests -tc='power loss: 8*'
	IAM_IO_ALL_VARIANTS=1 $(BUILD)/tests/faults_tests -tc='I/O errors*'
	IAM_FLIPS=5000 $(BUILD)/tests/faults_tests -tc='byte flips*'

format:
	clang-format -i $$(git ls-files '*.cc' '*.h')

clean:
	rm -rf $(BUILD)
