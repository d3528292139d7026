# keel: `make run` starts the whole system, `make test` builds and passes every test.
PRESET ?= release
BUILD  := build/$(PRESET)
JOBS   ?= $(shell nproc)

.PHONY: all bootstrap configure build run stop test test-debug format format-check lint bench clean

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
	cd $(BUILD) && ctest --output-on-failure --timeout 900

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

bench: build
	bench/run-foundation --build $(BUILD)
	$(BUILD)/bench/keel-bench-bus 200000 3
	bench/run-saga --build $(BUILD)

clean:
	rm -rf build
