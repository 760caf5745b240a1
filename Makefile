# Convenience wrapper around CMake. `make run` and `make test` work on a fresh Debian 12 machine:
# both install the missing packages first (tools/install-deps.sh, needs root or sudo): `run` only
# what the server needs to build and run, `test` also what the tests use.

BUILD_DIR   := build
RELEASE_DIR := $(BUILD_DIR)/release
ASAN_DIR    := $(BUILD_DIR)/asan
FUZZ_DIR    := $(BUILD_DIR)/fuzz
FUZZ_SECONDS ?= 60
FUZZ_RUN_FLAGS ?=
JOBS        ?= $(shell nproc 2>/dev/null || echo 2)
ARGS        ?=
FORMAT_SRCS  = $(shell find src tests tools -name '*.cc' -o -name '*.h')
# An empty test list is a broken build, not a pass.
CTEST        = ctest --output-on-failure -j2 --no-tests=error

.PHONY: all build deps deps-server run test asan fuzz fuzz-ci format format-check clean cluster \
        install bench sim

all: build

build:
	cmake -S . -B $(RELEASE_DIR) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(RELEASE_DIR) -j$(JOBS)

deps:
	tools/install-deps.sh test

deps-server:
	tools/install-deps.sh server

# exec hands the terminal (and Ctrl-C) straight to the server. Pass flags with ARGS="-p 11212 -vv".
# The build runs after deps as a recipe, not as a sibling prerequisite, so `make -j run` cannot
# start compiling before the packages are there.
# Without GoogleTest installed the build leaves the tests out (CMakeLists.txt).
run: deps-server
	$(MAKE) --no-print-directory build
	mkdir -p data
	exec $(RELEASE_DIR)/src/ssdcached $(ARGS)

# Format check, unit and integration tests on the release build, then everything again under
# ASan/UBSan, then the fuzzers.
test: deps
	$(MAKE) --no-print-directory format-check
	$(MAKE) --no-print-directory build
	$(CTEST) --test-dir $(RELEASE_DIR)
	$(MAKE) --no-print-directory asan
	$(MAKE) --no-print-directory fuzz-ci

asan: deps
	cmake -S . -B $(ASAN_DIR) -DSSDCACHE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
	cmake --build $(ASAN_DIR) -j$(JOBS)
	$(CTEST) --test-dir $(ASAN_DIR)

# libFuzzer targets (tests/fuzz: the protocol parsers, the warm-restart scanner), built with clang,
# ASan and UBSan; each runs FUZZ_SECONDS on a copy of its seed corpus. Crashes: $(FUZZ_DIR)/artifacts.
fuzz: deps
	cmake -S . -B $(FUZZ_DIR) -DCMAKE_CXX_COMPILER=clang++ -DSSDCACHE_FUZZ=ON \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(FUZZ_DIR) -j$(JOBS) --target parser_fuzz recover_fuzz binary_fuzz
	tests/fuzz/run.sh $(FUZZ_DIR) $(FUZZ_SECONDS) $(FUZZ_RUN_FLAGS)

# The fuzz step of `make test`: 60 s per fuzzer, all at once.
fuzz-ci:
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=60 FUZZ_RUN_FLAGS=--parallel

# Scenarios side by side with memcached, extstore and fio; writes build/bench/ and
# docs/benchmarks.md + docs/img/. s1-s6 about 13 minutes on 2 cores (s6, warm restarts: about 1.5);
# s7 (how cost grows, up to 50M items) took 5.6 more at load 2.4, 4.7 of them the 50M count
# (S7_COUNTS="1000000 10000000" drops it); s8 (the small-object tier, 1/8 of issue 14's scale)
# 3.4 more on the idle machine, 6.8 at load 2-3 (the full scale by hand: 41). BENCH_QUICK=1:
# about 3 minutes in all.
# Never part of `test`.
bench: deps
	tools/install-deps.sh bench
	cmake -S . -B $(RELEASE_DIR) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(RELEASE_DIR) -j$(JOBS) --target ssdcached ssdcache-bench
	tools/bench/scenarios/run-all.sh $(RELEASE_DIR)

# The engine simulator (tests/sim) on the release build: SEEDS seeds from SIM_FIRST_SEED (past the
# fixed set `make test` runs), SIM_OPS requests each; a failure prints the line that replays it.
SEEDS         ?= 100
SIM_FIRST_SEED ?= 1000
SIM_OPS       ?= 200000
sim: deps
	$(MAKE) --no-print-directory build
	$(RELEASE_DIR)/tests/sim/ssdcache-sim --seeds $(SEEDS) --first-seed $(SIM_FIRST_SEED) \
	  --ops $(SIM_OPS)

format:
	clang-format -i $(FORMAT_SRCS)

format-check:
	clang-format --dry-run --Werror $(FORMAT_SRCS)

clean:
	rm -rf $(BUILD_DIR)

# Three ssdcached behind twemproxy (nutcracker) on 127.0.0.1: clients use port 22121, the instances
# are 22122-22124; state in ./data/cluster. `tools/cluster status` and `tools/cluster stop`
# (docs/cluster.md).
cluster: deps
	$(MAKE) --no-print-directory build
	SSDCACHED_BIN=$(RELEASE_DIR)/src/ssdcached tools/cluster start 3

# Installs the release build (cmake/install.cmake): binaries, the ssdcached(1) man page, the systemd
# unit, /etc/default/ssdcached and the docs (README, design, protocol, operations, cluster).
# DESTDIR=/tmp/stage stages it instead (docs/operations.md).
install: build
	cmake --install $(RELEASE_DIR)
