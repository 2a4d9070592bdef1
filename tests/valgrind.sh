#!/bin/sh
# Runs the C tests of a build under valgrind memcheck: any memory error or any
# definite or indirect leak fails the run. "Possibly lost" blocks are not
# counted: they are the process-lifetime caches of grpc's dependencies (absl's
# random pool), never our allocations; --show-leak-kinds=possible shows them.
#
#   tests/valgrind.sh [build-dir] [ctest -R regex]     (default: build, every C test)
set -eu
build=${1:-build}
filter=${2:-.}
cd "$build"
tests=$(ctest -N -R "$filter" | sed -n 's/^ *Test *#[0-9]*: \(test_[a-z0-9_]*\)$/\1/p' | grep -v python)
failed=""
for t in $tests; do
	# Script-driven tests (the install test, the python ones) are not C
	# programs of this build: only executables under tests/ are checked.
	[ -x "tests/$t" ] && [ -f "tests/$t" ] || continue
	start=$(date +%s)
	if valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite,indirect \
		--show-leak-kinds=definite,indirect --error-exitcode=99 --trace-children=no \
		"tests/$t" >"Testing/valgrind-$t.log" 2>&1; then
		echo "valgrind: $t ok ($(( $(date +%s) - start )) s)"
	else
		echo "valgrind: $t FAILED ($(( $(date +%s) - start )) s), log follows" >&2
		tail -60 "Testing/valgrind-$t.log" >&2
		failed="$failed $t"
	fi
done
if [ -n "$failed" ]; then
	echo "valgrind: failed:$failed" >&2
	exit 1
fi
