# The front door. `make test` and `make run` work on a fresh Debian 12
# machine: they install what is missing, configure, build, then test or serve.
BUILD    ?= build
DATA_DIR ?= ./data
LISTEN   ?= 127.0.0.1:8080
# Builds share the machine's 2 cores: one at a time (see README).
LOCK     := flock /tmp/iamledger-build.lock

# The sanitizer build: clang, ASan + UBSan on everything, libFuzzer
# coverage on the libraries, the fuzz targets (tests/fuzz); no benchmarks.
# `make test` runs the whole suite there (`make asan-suite` alone), `make
# asan` at full size.
ASAN_BUILD   ?= build-asan
FUZZ_SECONDS ?= 300
# The ThreadSanitizer build (`make tsan`): the store, projections and
# service concurrency tests, and the server binary the concurrent
# integration cases drive.
TSAN_BUILD   ?= build-tsan
TSAN_TARGETS := eventstore_tests projections_tests api_tests faults_tests \
                integration_tests iamledger

.PHONY: all deps build binary test run cluster bench soak asan asan-suite asan-build fuzz-build fuzz tsan format clean
FUZZ_TARGETS := http_request_fuzz json_command_fuzz envelope_fuzz snapshot_fuzz \
                token_value_fuzz make_seeds

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

# make test: the release build and suite, then everything built again with
# clang, ASan and UBSan (build-asan) and the whole suite run there, the
# libFuzzer smoke and the console's browser cases included. Under ASan the
# two long fault harnesses run fewer cases (ASAN_ENV: a tenth of the byte
# flips, 8 power cuts instead of 50); the release suite runs them at full
# size. Measured on this 2-core machine from nothing installed: ~15 min in
# all (README "Building and testing").
ASAN_ENV   := IAM_FLIPS=100 IAM_POWER_CYCLES=8
ASAN_SUITE := cd $(ASAN_BUILD) && $(ASAN_ENV) ctest --output-on-failure -j2 \
              --timeout 900
test: build asan-build
	cd $(BUILD) && ctest --output-on-failure -j2 --timeout 600
	$(ASAN_SUITE)

asan-suite: asan-build
	$(ASAN_SUITE)

$(ASAN_BUILD)/build.ninja: CMakeLists.txt
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release \
	  -DCMAKE_CXX_COMPILER=clang++ -DIAM_SANITIZE=ON -DIAM_FUZZ=ON \
	  -DIAM_BENCH=OFF

asan-build: deps $(ASAN_BUILD)/build.ninja
	$(LOCK) cmake --build $(ASAN_BUILD)

fuzz-build: deps $(ASAN_BUILD)/build.ninja
	$(LOCK) cmake --build $(ASAN_BUILD) --target $(FUZZ_TARGETS)

# The whole suite under ASan + UBSan, at full size.
asan: asan-build
	cd $(ASAN_BUILD) && ctest --output-on-failure -j2 --timeout 900

$(TSAN_BUILD)/build.ninja: CMakeLists.txt
	cmake -S . -B $(TSAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release \
	  -DCMAKE_CXX_COMPILER=clang++ -DIAM_TSAN=ON

# TSan: halts on the first report; tests/tsan.supp says what is suppressed
# (races TSan imagines inside the uninstrumented RocksDB and snappy).
# setarch -R: clang 14's TSan cannot map its shadow memory under the
# kernel's full mmap randomization.
TSAN_TESTS := ^(store|projections|http server|rate limiter|auth limiter|usage store|lifecycle service|read pipeline|power loss: 8|concurrency|revocation|abuse: a flood)
tsan: deps $(TSAN_BUILD)/build.ninja
	$(LOCK) cmake --build $(TSAN_BUILD) --target $(TSAN_TARGETS)
	cd $(TSAN_BUILD) && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 \
	  suppressions=$(CURDIR)/tests/tsan.supp" IAM_POWER_CYCLES=10 \
	  setarch -R ctest --output-on-failure -j2 --timeout 900 -R '$(TSAN_TESTS)'

# Each fuzz target for FUZZ_SECONDS from the seeds and the corpus kept in
# $(ASAN_BUILD)/fuzz-work; prints executions per target.
fuzz: fuzz-build
	tests/fuzz/run_fuzz.sh $(ASAN_BUILD) $(FUZZ_SECONDS)

run: binary
	$(BUILD)/iamledger serve --data-dir $(DATA_DIR) --listen $(LISTEN)

# A local cluster (README "Running a cluster"): 3 etcd members and 3 nodes on
# loopback; prints the URLs and the admin token command; Ctrl-C stops all.
cluster: binary
	scripts/cluster.sh $(BUILD)

# Every benchmark; each prints BENCH/RATIO lines next to its baseline, saved
# with the load average under $(BUILD)/bench/; $(BUILD)/bench.md is the table
# (figure, baseline, ratio, goal, met or not). A failing benchmark fails the
# target after the others ran.
BENCH_OUT := $(BUILD)/bench
BENCHES   := append_bench authz_bench replay_bench members_bench http_bench \
             peer_bench cluster_bench open_loop_bench
bench: build
	@scripts/install-deps.sh --bench
	@rm -rf $(BENCH_OUT); mkdir -p $(BENCH_OUT); fail=0; \
	for b in $(BENCHES); do \
	  cmd=$(BUILD)/tests/bench/$$b; \
	  [ -x tests/bench/$$b ] && cmd=tests/bench/$$b; \
	  [ -x tests/bench/$$b.sh ] && cmd=tests/bench/$$b.sh; \
	  echo "== $$b (load $$(cut -d' ' -f1-3 /proc/loadavg))"; \
	  { echo "LOAD $$(cut -d' ' -f1-3 /proc/loadavg)"; $$cmd || echo "FAILED $$b"; } \
	    | tee $(BENCH_OUT)/$$b.txt; \
	  grep -q "^FAILED" $(BENCH_OUT)/$$b.txt && fail=1; \
	done; \
	scripts/bench_report.py $(BENCH_OUT) $(BUILD)/bench.md; exit $$fail

# The long fault runs (tests/faults; make test runs their short versions):
# 500 simulated power cuts under 8 writers; every I/O fault point with every
# variant (once, sticky, ENOSPC); 10,000 byte flips; 500 slowloris and 500
# idle connections against the server's default timeouts (10 s, 30 s).
soak: build
	IAM_POWER_CYCLES=500 $(BUILD)/tests/faults_tests -tc='power loss: 8*'
	IAM_IO_ALL_VARIANTS=1 $(BUILD)/tests/faults_tests -tc='I/O errors*'
	IAM_FLIPS=5000 $(BUILD)/tests/faults_tests -tc='byte flips*'
	IAM_ABUSE_SOAK=1 $(BUILD)/tests/integration_tests -tc='abuse: 500 slowloris*'

format:
	clang-format -i $$(git ls-files '*.cc' '*.h')

clean:
	rm -rf $(BUILD)
