# Thin wrapper over CMake: `make`, `make test`, `make install PREFIX=DIR`, `make asan`,
# `make tsan`, `make format-check`, `make bench`.
BUILD ?= build
PREFIX ?= /usr/local
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all test install asan tsan format format-check bench bench-smoke fuzz clean demo check

all:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

test: all
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

install: all
	cmake --install $(BUILD) --prefix $(PREFIX)

asan:
	$(MAKE) test BUILD=build-asan CMAKE_FLAGS="-DSPATE_SANITIZE=address,undefined -DCMAKE_BUILD_TYPE=Debug"

tsan:
	$(MAKE) test BUILD=build-tsan CMAKE_FLAGS="-DSPATE_SANITIZE=thread -DCMAKE_BUILD_TYPE=Debug"

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

fuzz:
	$(MAKE) all BUILD=build-fuzz CMAKE_FLAGS="-DCMAKE_C_COMPILER=clang -DSPATE_BUILD_FUZZERS=ON -DSPATE_SANITIZE=address,undefined -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link"

bench: all
	bash bench/run.sh $(BUILD)

bench-smoke: all
	bash bench/run.sh --smoke $(BUILD)

clean:
	rm -rf build build-asan build-tsan build-fuzz

# Quick start on a fresh Debian 12 machine (as root): install missing packages, build, and
# run WordCount on the embedded local cluster.
demo:
	bash scripts/install-deps.sh
	$(MAKE) all
	$(BUILD)/bin/spate run $(BUILD)/examples/wordcount.so

# Everything CI runs: the test suite, the suite again under ASan+UBSan, the format check.
check:
	bash scripts/install-deps.sh
	$(MAKE) test
	$(MAKE) asan
	$(MAKE) tsan
	$(MAKE) format-check
