# Aniworld Store: a thin layer over CMake. The two commands:
#   make run    installs missing Debian packages, builds, serves on 0.0.0.0:50051 (./aniworld.db)
#   make test   installs missing Debian packages, builds twice (plain, and with
#               AddressSanitizer + UndefinedBehaviorSanitizer) and runs every test with ctest
# Under CI (CI=true) warnings are errors.
# Also: make deploy-check   the image and Kubernetes checks CI runs after the tests
#                           (deploy/check/run.sh; needs root, node, kubectl)
#       make fuzz           every libFuzzer target for FUZZ_SECONDS (default 30) in
#                           build-fuzz/ with clang (tests/fuzz/README.md)
#       make proto-check    buf lint and buf breaking (against the previous commit)
#                           over proto/, with their self-test (tools/proto-check.sh;
#                           needs node and npm, installs buf under build/buf)

BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
WERROR     ?= $(if $(filter true 1 yes,$(CI)),ON,OFF)
CMAKE_ARGS ?=
CTEST_ARGS ?=
FUZZ_SECONDS ?= 30

# Environment for sanitized test runs: fail on the first report, detect leaks.
ASAN_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1 \
           UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

.PHONY: all deps build build-asan run test test-plain test-asan test-valgrind fuzz deploy-check proto-check clean

all: build

deps:
	@tools/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAW_WERROR=$(WERROR) $(CMAKE_ARGS)
	cmake --build $(BUILD) -j$(JOBS)

build-asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DAW_SANITIZE=ON -DAW_WERROR=$(WERROR) $(CMAKE_ARGS)
	cmake --build $(ASAN_BUILD) -j$(JOBS)

run: build
	$(BUILD)/server/aniworld-server

test: test-plain test-asan

test-plain: build
	cd $(BUILD) && ctest --output-on-failure $(CTEST_ARGS)

test-asan: build-asan
	cd $(ASAN_BUILD) && $(ASAN_ENV) ctest --output-on-failure $(CTEST_ARGS)

# Every C test under valgrind memcheck (a few minutes): no memory errors, no leaks.
test-valgrind: build
	tools/install-deps.sh --valgrind
	tests/valgrind.sh $(BUILD)

fuzz:
	tests/fuzz/run.sh $(FUZZ_SECONDS)

deploy-check: build
	AW_SERVER=$(BUILD)/server/aniworld-server AW_DEPLOY_CHECK_DIR=$(BUILD)/deploy-check deploy/check/run.sh

# The contract's checks: lint, no breaking change against the previous commit.
proto-check: deps
	AW_BUF_DIR=$(BUILD)/buf tools/proto-check.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
