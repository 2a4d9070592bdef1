#!/bin/sh
# A throwaway PostgreSQL 15 server for the tests: ctest's fixture runs `start`
# before the first test that needs it and `stop` after the last, also when tests
# fail (FIXTURES_SETUP / FIXTURES_CLEANUP in tests/CMakeLists.txt).
#
#   tests/pg/pg_fixture.sh start DIR [LOGCOPY]   initdb into DIR/data, serve on 127.0.0.1
#   tests/pg/pg_fixture.sh stop DIR [LOGCOPY]    stop it, remove DIR
#
# `start` first stops and removes whatever an earlier, interrupted run left in
# DIR. The server listens on 127.0.0.1 at a free port and on a unix socket in
# DIR; DIR/port holds the port. Role `aniworld`, trust authentication: nothing
# but this machine's loopback reaches it. PostgreSQL refuses to run as root, so
# under root (CI) everything runs as the `postgres` system user that Debian's
# postgresql-15 package creates, on a directory it owns.
#
# Only memory and start-up settings are made smaller; fsync, synchronous_commit
# and full_page_writes keep their defaults, so an acknowledged commit means what
# it means on a real server. `stop` copies the server's log to LOGCOPY when given.
#
# A missing PostgreSQL is a failure, never a skip: the tests that need this
# server then fail too (`tools/install-deps.sh` installs it).
set -eu

PG_BIN=${AW_PG_BIN:-/usr/lib/postgresql/15/bin}
cmd=${1:-}
dir=${2:-}
logcopy=${3:-}

die() {
	echo "pg_fixture: $*" >&2
	exit 1
}

[ -n "$cmd" ] && [ -n "$dir" ] || die "usage: $0 start|stop DIR [LOGCOPY]"
case "$dir" in
/*) ;;
*) die "DIR must be an absolute path: $dir" ;;
esac

# The postgres user may not be allowed into the caller's directory (a checkout
# under /root): run from / with absolute paths.
case "$logcopy" in
'' | /*) ;;
*) logcopy="$(pwd)/$logcopy" ;;
esac
cd /

# Runs a PostgreSQL binary as the unprivileged user when we are root.
as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# Stops a server running on DIR/data, if any. Immediate shutdown: the cluster
# is removed next, so its final checkpoint (seconds of syncing) would be
# wasted. SIGKILL of the postmaster the pid file names if pg_ctl fails.
stop_server() {
	[ -f "$dir/data/postmaster.pid" ] || return 0
	if as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1; then
		return 0
	fi
	pid=$(sed -n 1p "$dir/data/postmaster.pid" 2>/dev/null || true)
	case "$pid" in
	'' | *[!0-9]*) ;;
	*)
		# Only if that pid is still a postgres process: pids get reused.
		if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = postgres ]; then
			kill -9 "$pid" 2>/dev/null || true
		fi
		;;
	esac
}

save_log() {
	if [ -n "$logcopy" ] && [ -f "$dir/log" ]; then
		cp "$dir/log" "$logcopy" 2>/dev/null || true
	fi
}

case "$cmd" in
start)
	for b in initdb pg_ctl postgres; do
		[ -x "$PG_BIN/$b" ] ||
			die "$PG_BIN/$b not found: install postgresql-15 (tools/install-deps.sh)"
	done
	if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
		die "running as root but there is no postgres user (the postgresql-15 package makes it)"
	fi
	stop_server
	rm -rf "$dir"
	mkdir -p "$dir"
	chmod 700 "$dir"
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres:postgres "$dir"
	fi
	# --no-sync only skips initdb's flush of the fresh files of a cluster that
	# lives for one test run; the running server syncs as usual.
	if ! as_pg "$PG_BIN/initdb" -D "$dir/data" -A trust -U aniworld -E UTF8 --locale=C.UTF-8 \
		--no-sync >"$dir/initdb.log" 2>&1; then
		cat "$dir/initdb.log" >&2
		die "initdb failed"
	fi
	# A free port: try random ones until the server binds one (another run, or
	# another build's fixture, may hold the first).
	tries=0
	while :; do
		tries=$((tries + 1))
		[ "$tries" -le 20 ] || { save_log; die "no free port after 20 tries; log: $dir/log"; }
		r=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
		port=$((20000 + r % 30000))
		if as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 \
			-o "-k $dir -p $port -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=32MB -c fsync=on -c synchronous_commit=on -c full_page_writes=on" \
			start >/dev/null 2>&1; then
			break
		fi
		if ! grep -q "could not bind\|already in use\|could not create lock file" "$dir/log" 2>/dev/null; then
			cat "$dir/log" >&2 2>/dev/null || true
			die "the server did not start"
		fi
	done
	echo "$port" >"$dir/port.tmp"
	mv "$dir/port.tmp" "$dir/port"
	echo "pg_fixture: $("$PG_BIN/postgres" -V) on 127.0.0.1:$port, socket in $dir"
	;;
stop)
	stop_server
	save_log
	rm -rf "$dir"
	;;
*)
	die "unknown command: $cmd (start or stop)"
	;;
esac
