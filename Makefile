# Thin wrappers over CMake. See README.md.
BUILD      ?= build
TEST_BUILD ?= build-test
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all build test run demo-policy deps format lint fuzz bench clean

all: build

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DKA_TESTS=OFF >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

deps:
	@scripts/deps.sh

# Tests: sanitizers on, warnings are errors, every test through CTest.
test: deps
	@cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DKA_SANITIZE=ON -DKA_WERROR=ON -DKA_TESTS=ON >/dev/null
	@cmake --build $(TEST_BUILD) -j $(JOBS)
	@cd $(TEST_BUILD) && ctest --output-on-failure -j $(JOBS)

# The collector on its defaults (127.0.0.1:9765, ./kaudit-data) until Ctrl-C.
run: deps build
	@scripts/demo.sh $(BUILD)/kaudit

# Generated traffic through the example policy, with a summary.
demo-policy: build
	@scripts/demo-policy.sh $(BUILD)/kaudit

fuzz:
	@cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DKA_FUZZ=ON -DKA_TESTS=OFF -DKA_BENCH=OFF >/dev/null
	@cmake --build build-fuzz -j $(JOBS)

bench: build
	@bench/run.sh $(BUILD)

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

lint:
	@cmake -S . -B build-lint -DKA_TESTS=OFF -DKA_BENCH=OFF >/dev/null
	@clang-tidy -p build-lint --quiet src/core/*.c src/cli/*.c src/inputs/*/*.c \
	  $$(ls src/store/*.c src/detect/*.c src/outputs/*.c src/outputs/*/*.c 2>/dev/null) 2>/dev/null
	@cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	  --suppressions-list=.cppcheck-suppressions --inline-suppr -I include src

clean:
	@rm -rf $(BUILD) $(TEST_BUILD) build-fuzz build-lint
