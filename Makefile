# keel: `make run` starts the whole system, `make test` builds and passes every test.
PRESET ?= release
BUILD  := build/$(PRESET)
JOBS   ?= $(shell nproc)

.PHONY: all bootstrap configure build run stop test test-faults test-debug format format-check lint bench fuzz lab clean

all: build

bootstrap:
	@scripts/bootstrap

$(BUILD)/CMakeCache.txt: | bootstrap
	cmake --preset $(PRESET)

configure: $(BUILD)/CMakeCache.txt

build: bootstrap configure
	cmake --build $(BUILD) -j $(JOBS)

# Foreground: Ctrl-C stops everything in reverse order. Data stays in var/.
run: build
	KEEL_BUILD_DIR=$(BUILD) tools/stack/keel-stack up

stop:
	tools/stack/keel-stack down

test: build format-check
	cd $(BUILD) && ctest --output-on-failure --timeout 900 -LE faults

# The fault experiments (tests/faults): minutes of outages on a whole stack.
test-faults: build
	cd $(BUILD) && ctest --output-on-failure -L faults

# The same tests under AddressSanitizer and UndefinedBehaviorSanitizer.
test-debug:
	$(MAKE) test PRESET=debug

FORMAT_FILES = $(shell git ls-files '*.cpp' '*.hpp')
format:
	clang-format -i $(FORMAT_FILES)

format-check:
	@clang-format --dry-run --Werror $(FORMAT_FILES) || { echo "run 'make format'"; exit 1; }

# clang-tidy-19 with .clang-tidy's checks over every .cpp (about 30 s a file per core).
lint: configure
	@command -v clang-tidy-19 >/dev/null || scripts/bootstrap scripts/packages-lint.txt
	scripts/lint $(BUILD)

# libFuzzer harnesses of fuzz/ (clang-14, ASan+UBSan, preset fuzz: only they and the
# libraries they link are built), each for FUZZ_SECONDS over a copy of its corpus. 700 s is
# about 10 million executions of the slowest harness on this 2-core machine (14,000/s), so
# the default run takes about an hour; FUZZ_SECONDS=60 for a quick look.
FUZZ_SECONDS ?= 700
FUZZ_MAX_LEN ?= 4096
fuzz:
	@scripts/bootstrap scripts/packages-fuzz.txt
	@test -f build/fuzz/CMakeCache.txt || cmake --preset fuzz
	cmake --build build/fuzz --target keel_fuzz_all -j $(JOBS)
	fuzz/run build/fuzz $(FUZZ_SECONDS) $(FUZZ_MAX_LEN)

bench: build
	bench/run-foundation --build $(BUILD)
	$(BUILD)/bench/keel-bench-bus 200000 3
	bench/run-saga --build $(BUILD)

# The load lab (docs/lab.md): seed 004's experiments against a stack of its own, on free ports;
# report and plots in var/lab/<UTC time>/ (var/lab/latest). Full: about 20 minutes on 2 cores;
# QUICK=1: at most 6 minutes (small steps, short runs, no scaling).
lab: build
	KEEL_BUILD_DIR=$(BUILD) tools/lab/keel-lab $(if $(QUICK),--quick)

clean:
	rm -rf build
