#!/bin/bash
# bench/run.sh: the benchmarks of issue "Performance", in one run, written to
# bench/RESULTS.md with the machine they ran on.
#
#   bench/run.sh [--seconds S] [--rounds R] [--out FILE] [--reference-dir DIR] [--no-reference]
#
#  1. Against the grpc++ reference (../shared/bench-reference: its bench.sh drives
#     both servers alternately with its own load generator and h2load): the
#     server as configured by default, the server with --threads 1, and one call
#     in flight (latency). Ratios are SUT/REF within a round, median of rounds.
#  2. Cost flat in table size: GetSeries of ids at the end of the table and
#     ListSeries pages at its end, on 10,000 and on 1,000,000 series, and the
#     time from exec to SERVING on each (aw-loadgen, bench/startup.py).
#  3. ClaimNextDownload + CompleteDownload from 8 workers on 10,000 and 100,000
#     queued items (every item claimed once, checked by aw-loadgen).
#  4. Peak memory (VmHWM) under a mixed load with 1,000 open WatchDownloads streams.
#
# Needs a built tree (make build) and, for part 1, what the reference's README
# lists (libgrpc++-dev protobuf-compiler-grpc nghttp2-client); installs them
# when missing. Run it on an idle machine: anything else running moves results.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
OUT=$ROOT/bench/RESULTS.md
REF_DIR=$ROOT/../shared/bench-reference
SECS=5
ROUNDS=3
REFERENCE=1
while [ $# -gt 0 ]; do
	case $1 in
	--seconds) SECS=$2; shift 2 ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--reference-dir) REF_DIR=$2; shift 2 ;;
	--no-reference) REFERENCE=0; shift ;;
	*) echo "usage: $0 [--seconds S] [--rounds R] [--out FILE] [--reference-dir DIR] [--no-reference]" >&2; exit 2 ;;
	esac
done

SERVER=$BUILD/server/aniworld-server
LOADGEN=$BUILD/bench/aw-loadgen
[ -x "$SERVER" ] && [ -x "$LOADGEN" ] || { echo "run.sh: build first (make build)" >&2; exit 2; }
WORK=$(mktemp -d /tmp/aw-bench-XXXXXX)
trap 'pkill -TERM -f "aniworld-server --listen 127.0.0.1:5029" 2>/dev/null || true; rm -rf "$WORK"' EXIT
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# ---- helpers -------------------------------------------------------------------------------

# start_server DB PORT [args...]: runs the server in the background; sets SPID.
start_server() {
	local db=$1 port=$2
	shift 2
	"$SERVER" --listen "127.0.0.1:$port" --db "$db" --log-level warn "$@" 2>>"$WORK/server.log" &
	SPID=$!
	for _ in $(seq 1 500); do
		if /usr/bin/python3 - "$port" <<'EOF' 2>/dev/null; then return 0; fi
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.1)
EOF
		sleep 0.01
	done
	echo "run.sh: the server did not come up" >&2
	return 1
}

stop_server() {
	kill -TERM "$SPID" 2>/dev/null || true
	wait "$SPID" 2>/dev/null || true
}

hwm_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }

# loadgen_line ARGS...: one aw-loadgen run; prints "calls/s p50 p99" of the first
# method it reports, then calls/s of all methods together.
loadgen_line() {
	"$LOADGEN" "$@" --json "$WORK/lg.json" >"$WORK/lg.txt" 2>>"$WORK/loadgen.log" || {
		cat "$WORK/lg.txt" >&2
		echo "run.sh: aw-loadgen reported errors: not a result" >&2
		exit 1
	}
	/usr/bin/python3 - "$WORK/lg.json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
m = next(iter(j["methods"].values()))
print(f'{m["per_second"]:.0f} {m["p50_us"]} {m["p99_us"]} {j["per_second"]:.0f}')
EOF
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

# ---- 1. against the reference ------------------------------------------------------------------

REF_TABLES=""
if [ "$REFERENCE" = 1 ]; then
	if [ ! -x "$REF_DIR/bench.sh" ]; then
		echo "run.sh: no reference at $REF_DIR (use --no-reference)" >&2
		exit 2
	fi
	for p in libgrpc++-dev protobuf-compiler-grpc nghttp2-client procps; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			{ apt-get update -qq && apt-get install -y -qq --no-install-recommends "$p"; }
	done
	export BENCH_REFERENCE_BUILD=$BUILD/bench-reference
	for config in "default" "--threads 1" "one-in-flight"; do
		case $config in
		default) extra=""; cmd="$SERVER" ;;
		"--threads 1") extra=""; cmd="$SERVER --threads 1" ;;
		one-in-flight) extra="--shape 1:1:1 --no-h2load"; cmd="$SERVER" ;;
		esac
		log "reference comparison: $config"
		# shellcheck disable=SC2086
		"$REF_DIR/bench.sh" --proto-dir "$ROOT/proto" --server-cmd "$cmd" --seconds "$SECS" \
			--rounds "$ROUNDS" --workdir "$WORK/ref" $extra >"$WORK/ref.txt" 2>&1 || {
			tail -40 "$WORK/ref.txt" >&2
			echo "run.sh: bench.sh failed" >&2
			exit 1
		}
		REF_TABLES+=$'\n'"#### Server: \`$cmd\`${extra:+, load shape $extra}"$'\n\n```\n'
		REF_TABLES+=$(sed -n '/^bench-reference:/,/^wire checks/p' "$WORK/ref.txt")
		REF_TABLES+=$'\n```\n'
	done
fi

# ---- 2. cost flat in table size ----------------------------------------------------------------

# make_db FILE N: the schema by the server itself, then N series in one statement.
make_db() {
	local db=$1 n=$2
	start_server "$db" 50291
	stop_server
	sqlite3 "$db" "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $n)
		INSERT INTO anime_series (key, name, site, created_at, updated_at)
		SELECT printf('big-%07d', x), printf('Big series %d', x), 'aniworld.to', 0, 0 FROM c;"
}

FLAT_ROWS=""
declare -A GET LIST START
for n in 10000 1000000; do
	log "flat cost: $n series"
	make_db "$WORK/flat-$n.db" "$n"
	START[$n]=$(/usr/bin/python3 "$ROOT/bench/startup.py" --server "$SERVER" --db "$WORK/flat-$n.db")
	start_server "$WORK/flat-$n.db" 50292
	lo=$((n - 9999))
	GET[$n]=$(loadgen_line --target 127.0.0.1:50292 --mix get=1 --ids "$lo:$n" --seconds "$SECS")
	LIST[$n]=$(loadgen_line --target 127.0.0.1:50292 --mix list=1 --list-tail --seconds "$SECS")
	stop_server
done
for what in GET LIST; do
	declare -n T=$what
	read -r s10 p10 q10 _ <<<"${T[10000]}"
	read -r s1m p1m q1m _ <<<"${T[1000000]}"
	FLAT_ROWS+="| ${what,,} at the end of the table | $s10 | $s1m | $(ratio "$s10" "$s1m") | $p10/$q10 | $p1m/$q1m |"$'\n'
done

# ---- 3. claims -------------------------------------------------------------------------------

CLAIM_ROWS=""
declare -A CLAIM
for n in 10000 100000; do
	log "claims: $n queued"
	rm -f "$WORK/claim.db"*
	start_server "$WORK/claim.db" 50293
	CLAIM[$n]=$(loadgen_line --target 127.0.0.1:50293 --seed-downloads "$n" --mix claim=1 \
		--concurrency 8 --requests 5000 --warmup 0 --seconds 600)
	stop_server
	read -r s p q _ <<<"${CLAIM[$n]}"
	CLAIM_ROWS+="| $n | $s | $p/$q |"$'\n'
done
read -r c10 _ _ _ <<<"${CLAIM[10000]}"
read -r c100 _ _ _ <<<"${CLAIM[100000]}"

# ---- 4. memory with 1,000 streams --------------------------------------------------------------

log "memory: 1000 watch streams under load"
rm -f "$WORK/mem.db"*
start_server "$WORK/mem.db" 50294
idle_hwm=$(hwm_kib "$SPID")
MEM=$(loadgen_line --target 127.0.0.1:50294 --seed 10000 --watchers 1000 \
	--mix get=60,list=10,create=20,update=10 --seconds "$SECS")
load_hwm=$(hwm_kib "$SPID")
stop_server

log "memory: big list pages under the reply budget"
BIG=$(/usr/bin/python3 "$ROOT/bench/reply_budget.py" --server "$SERVER" --proto-dir "$ROOT/proto")

# ---- the report --------------------------------------------------------------------------------

{
	cat <<EOF
# Benchmark results

Written by \`bench/run.sh\` on $(date -u +%Y-%m-%dT%H:%MZ): $(nproc) cores
($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)),
$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) RAM, kernel $(uname -r),
SQLite $(sqlite3 --version | cut -d' ' -f1), gRPC $(pkg-config --modversion grpc) (core).
Load generators and servers share the same cores: read ratios, not absolute numbers.
$SECS s measured per run, $ROUNDS rounds.

## Against the grpc++ reference

\`../shared/bench-reference/bench.sh\`: its grpc++ load generator (16 calls in flight
on 4 connections unless said) against the reference (REF) and this server (SUT),
alternately, every reply checked; ratio = SUT/REF within a round, median of rounds.
$( [ "$REFERENCE" = 1 ] && echo "$REF_TABLES" || echo "(not run: --no-reference)")

## Cost flat in table size

The same server on 10,000 and on 1,000,000 series (aw-loadgen, 16 calls in flight):
GetSeries of random ids among the last 10,000 of the table, and ListSeries pages
of 50 through the table's last 1,000 rows (a keyset cursor: no OFFSET; total_size
from the trigger-kept count, not COUNT(*)).

| call | 10k calls/s | 1M calls/s | cost 1M / 10k | 10k p50/p99 us | 1M p50/p99 us |
|---|---|---|---|---|---|
$FLAT_ROWS
Start-up, exec to SERVING (median of 5, bench/startup.py): ${START[10000]} ms on
10,000 series, ${START[1000000]} ms on 1,000,000 (no scan at start: migrations read
only \`PRAGMA user_version\`).

## ClaimNextDownload

8 workers, each claiming the next item and completing it (5,000 claims; every
item claimed exactly once, checked), on a queue of 10,000 and of 100,000 items.
Each claim is an index lookup (the plan is asserted in tests/test_repo_download_queue.c):
its cost does not grow with the queue.

| queued | claim+complete/s | p50/p99 us |
|---|---|---|
$CLAIM_ROWS
Ratio 10k/100k: $(ratio "$c10" "$c100").

## Memory

VmHWM of the server: $((idle_hwm / 1024)) MiB idle, $((load_hwm / 1024)) MiB after
$SECS s of a mixed load (get 60, list 10, create 20, update 10; $(echo "$MEM" | cut -d' ' -f4) calls/s)
with 1,000 WatchDownloads streams open.

## Big list pages

\`bench/reply_budget.py\` (issue 16): peak RSS growth of the server while one client
lists big series with page_size 1000 (VmHWM reset after the creates), at the default
\`--max-reply-bytes\` and with a budget so large that the list is one page, as every
list was served before the budget.

\`\`\`
$BIG
\`\`\`
EOF
	cat "$ROOT/bench/PROFILE.md"
} >"$OUT"
log "wrote $OUT"
