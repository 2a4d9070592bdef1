#!/bin/sh
# Builds the libFuzzer targets (clang, AddressSanitizer + UndefinedBehaviorSanitizer)
# in build-fuzz/ and runs each for a bounded time on its corpus. Fails on the
# first crash, leak, undefined behaviour, failed check or input slower than 10 s,
# printing the end of that target's log; the input that failed is kept in
# build-fuzz/artifacts/<target>/ (tests/fuzz/README.md says what to do with it).
#
#   tests/fuzz/run.sh [seconds] [target...]   default: 30 s, every target
#
# Each target reads its corpus build-fuzz/corpus/<target>/ (kept between runs,
# where new inputs go), the seeds the build generated and the regression inputs
# in tests/fuzz/regressions/<target>/. Environment: AW_FUZZ_BUILD (build
# directory), AW_FUZZ_FLAGS (more libFuzzer flags, e.g. "-jobs=2 -workers=2").
set -eu
cd "$(dirname "$0")/../.."
seconds=30
if [ $# -gt 0 ]; then
	seconds=$1
	shift
fi
targets=${*:-fuzz_requests fuzz_page_token fuzz_field_mask fuzz_episode_dict}
build=${AW_FUZZ_BUILD:-build-fuzz}
case "${CI:-}" in true | 1 | yes) werror=ON ;; *) werror=OFF ;; esac

tools/install-deps.sh
tools/install-deps.sh --fuzz
cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DAW_FUZZ=ON -DAW_BUILD_TESTS=OFF -DAW_WERROR="$werror" >/dev/null
cmake --build "$build" -j"$(nproc)" --target aw_fuzz_all

export ASAN_OPTIONS="detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
failed=""
for t in $targets; do
	corpus="$build/corpus/$t"
	artifacts="$build/artifacts/$t"
	log="$build/$t.log"
	mkdir -p "$corpus" "$artifacts"
	dirs="$corpus $build/fuzz-seeds/$t"
	if [ -d "tests/fuzz/regressions/$t" ]; then
		dirs="$dirs tests/fuzz/regressions/$t"
	fi
	# shellcheck disable=SC2086
	if "$build/fuzz/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$artifacts/" ${AW_FUZZ_FLAGS:-} $dirs \
		>"$log" 2>&1; then
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
		speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
		last=$(grep -E '^#[0-9]+' "$log" | tail -1 | sed 's/^#[0-9]* *[A-Z]* *//')
		echo "fuzz: $t ok: $seconds s, $runs runs ($speed/s); $last"
	else
		echo "fuzz: $t FAILED; end of $log:" >&2
		tail -60 "$log" >&2
		failed="$failed $t"
	fi
done
if [ -n "$failed" ]; then
	echo "fuzz: failed:$failed (inputs in $build/artifacts/)" >&2
	exit 1
fi
