#!/bin/sh
# Runs the C tests of a build under valgrind memcheck: any memory error or any
# definite or indirect leak fails the run. "Possibly lost" blocks are not
# counted: they are the process-lifetime caches of grpc's dependencies (absl's
# random pool), never our allocations; --show-leak-kinds=possible shows them.
#
# Both backends: every C test program runs once as ctest runs it on SQLite;
# then the repository suites (test_repo_*_pg, test_writer_pg: every method of
# the PostgreSQL backend, in-process) run again on PostgreSQL, with
# PostgreSQL's own checks (test_repo_postgres, which needs that server). The end-to-end
# _pg programs are left to the ASan build's ctest run (LeakSanitizer too):
# under valgrind they would add some ten minutes to CI, whose budget is an hour
# on two cores; AW_VALGRIND_PG=all runs them as well. This script starts the
# throwaway PostgreSQL server itself (tests/pg/pg_fixture.sh, in a directory of
# its own so that a ctest run of the same build may go on meanwhile) and stops
# it on every exit. AW_VALGRIND_BACKENDS=sqlite runs the SQLite pass only.
#
# The power-cut test (test_powercut) runs 20 cuts here instead of 200
# (AW_POWERCUT_ROUNDS, when not already set): its checks are the same, and
# memcheck makes each cut some 30 times slower.
#
#   tests/valgrind.sh [build-dir] [ctest -R regex]     (default: build, every C test)
set -eu
export AW_POWERCUT_ROUNDS=${AW_POWERCUT_ROUNDS:-20}
build=${1:-build}
filter=${2:-.}
backends=${AW_VALGRIND_BACKENDS:-sqlite postgres}
here=$(cd "$(dirname "$0")" && pwd)
cd "$build"
names=$(ctest -N -R "$filter" | sed -n 's/^ *Test *#[0-9]*: \(test_[a-z0-9_]*\)$/\1/p' | grep -v python)
failed=""

# One program under valgrind; $1 the program, $2 the name for logs and messages.
check() {
	start=$(date +%s)
	if valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite,indirect \
		--show-leak-kinds=definite,indirect --error-exitcode=99 --trace-children=no \
		"tests/$1" >"Testing/valgrind-$2.log" 2>&1; then
		echo "valgrind: $2 ok ($(( $(date +%s) - start )) s)"
	else
		echo "valgrind: $2 FAILED ($(( $(date +%s) - start )) s), log follows" >&2
		tail -60 "Testing/valgrind-$2.log" >&2
		failed="$failed $2"
	fi
}

# Script-driven tests (the install test, the python ones, the fixture's) are
# not C programs of this build: only executables under tests/ are checked.
# The crash test is left out: its SIGTERM rounds require every writer to send
# its next call within the quarter second the stopping server goes on refusing
# calls itself (issue 15), and valgrind slows the test's own client far past
# that, so under valgrind those rounds measure timing, not memory. It runs
# plain and under ASan (with LeakSanitizer) in make test.
is_program() {
	case "$1" in test_e2e_crash) return 1 ;; esac
	[ -x "tests/$1" ] && [ -f "tests/$1" ]
}

case " $backends " in
*" sqlite "*)
	export AW_TEST_BACKEND=sqlite
	for t in $names; do
		case "$t" in
		*_postgres) continue ;; # PostgreSQL's own checks: below
		esac
		is_program "$t" || continue
		check "$t" "$t"
	done
	;;
esac

case " $backends " in
*" postgres "*)
	pg_dir="/tmp/aw-pg-valgrind-$(pwd | md5sum | cut -c1-12)"
	trap '"$here/pg/pg_fixture.sh" stop "$pg_dir" Testing/pg-fixture-valgrind.log' EXIT
	trap 'exit 130' INT TERM
	"$here/pg/pg_fixture.sh" start "$pg_dir"
	export AW_TEST_BACKEND=postgres AW_TEST_PG_DIR="$pg_dir"
	for t in $names; do
		case "$t" in
		*_pg) base=${t%_pg} ;;
		*_postgres) base=$t ;;
		*) continue ;;
		esac
		case "${AW_VALGRIND_PG:-repo}:$base" in
		all:* | *:test_repo_* | *:test_writer) ;; # test_repo_postgres too
		*) continue ;;
		esac
		is_program "$base" || continue
		check "$base" "$t"
	done
	;;
esac

if [ -n "$failed" ]; then
	echo "valgrind: failed:$failed" >&2
	exit 1
fi
