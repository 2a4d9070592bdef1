#!/bin/bash
# bench/layers.sh: instructions per call by layer (grpc core, protobuf-c,
# SQLite, libc, our code, ...), counted with callgrind, which does not move
# with the machine's load. For each method the server runs twice under
# callgrind (--threads 1) and answers N and 3N calls; the difference over 2N
# calls is the cost of one call, start-up, seeding (1,000 series with episode
# lists, through CreateSeries) and shutdown cancelling out.
#
#   bench/layers.sh [--calls N] [--methods get,get_by_key,list,create] [--reference BIN]
#                   [--no-request-id]
#
# --no-request-id: the measured creates carry no request_id, as the reference's
# load generator sends them (bench.sh); by default the client library gives
# each one, and the server stores its answer for safe retries.
#
# With --reference (the grpc++ reference server of ../shared/bench-reference,
# built by its Makefile or bench.sh) the same is counted for it, and a last
# table gives ours over the reference's, per method: instructions are the
# load-independent side of "server CPU per call".
# Prints a table (instructions per call, per layer) on stdout. Needs valgrind
# and a built tree (make build). Kernel time is not counted (user space only).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
SERVER=$BUILD/server/aniworld-server
LOADGEN=$BUILD/bench/aw-loadgen
CALLS=1000
METHODS=get,get_by_key,list,create
REFBIN=""
LGOPTS=()
while [ $# -gt 0 ]; do
	case $1 in
	--no-request-id) LGOPTS+=(--no-request-id); shift ;;
	--calls) CALLS=$2; shift 2 ;;
	--methods) METHODS=$2; shift 2 ;;
	--reference) REFBIN=$2; shift 2 ;;
	*) echo "usage: $0 [--calls N] [--methods get,get_by_key,list,create] [--reference BIN] [--no-request-id]" >&2; exit 2 ;;
	esac
done
command -v valgrind >/dev/null || { echo "layers.sh: needs valgrind" >&2; exit 2; }
[ -x "$SERVER" ] && [ -x "$LOADGEN" ] || { echo "layers.sh: build first (make build)" >&2; exit 2; }
WORK=$(mktemp -d /tmp/aw-layers-XXXXXX)
SPID=""
cleanup() {
	[ -n "$SPID" ] && kill -TERM "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT

wait_port() {
	for _ in $(seq 1 3000); do
		python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $1), timeout=0.1)" \
			2>/dev/null && return 0
		sleep 0.01
	done
	echo "layers.sh: the server did not come up" >&2
	exit 1
}

# run WHO METHOD N: the callgrind profile of a server (sut: ours at --threads 1,
# ref: the reference) answering N calls of METHOD.
run() {
	local who=$1 m=$2 n=$3 out=$WORK/$1-$2-$3
	local cmd=("$SERVER" --listen 127.0.0.1:50412 --db "$out.db" --log-level warn --threads 1)
	[ "$who" = ref ] && cmd=("$REFBIN" --listen 127.0.0.1:50412 --db "$out.db" --log-level warning)
	valgrind --tool=callgrind --callgrind-out-file="$out.cg" "${cmd[@]}" 2>"$out.vg" &
	SPID=$!
	wait_port 50412
	"$LOADGEN" --target 127.0.0.1:50412 --mix "$m=1" --requests "$n" --concurrency 4 \
		--seed 1000 --prefix lay --warmup 0 ${LGOPTS[@]+"${LGOPTS[@]}"} >"$out.lg"
	kill -TERM "$SPID"; wait "$SPID" || true; SPID=""
	callgrind_annotate --threshold=100 "$out.cg" >"$out.txt"
}

# Sums a callgrind_annotate listing by layer, from each function's object file.
layers() {
	python3 - "$@" <<'PY'
import re, sys
def layer(obj):
    o = obj.rsplit('/', 1)[-1]
    for name, pats in (("grpc++", ("libgrpc++", "libprotobuf.so", "libstdc++")),
                       ("grpc core", ("libgrpc", "libgpr", "libaddress_sorting", "libupb")),
                       ("absl", ("libabsl",)), ("protobuf-c", ("libprotobuf-c",)),
                       ("SQLite", ("libsqlite3",)), ("OpenSSL", ("libcrypto", "libssl")),
                       ("libc + loader", ("libc.so", "libm.so", "ld-linux", "libpthread")),
                       ("this server", ("aniworld-server",)), ("reference", ("aniworld-ref-server",))):
        if any(p in o for p in pats):
            return name
    return "other (" + o + ")"
def sums(path):
    out = {}
    for line in open(path):
        m = re.match(r'\s*([\d,]+) \([ \d.]+%\)\s+.*\[(.*)\]\s*$', line)
        if m:
            k = layer(m.group(2))
            out[k] = out.get(k, 0) + int(m.group(1).replace(',', ''))
    return out
n = int(sys.argv[1])
cols = sys.argv[2:]
rows, per = set(), {}
for c in cols:
    m, a, b = c.split(':')
    lo, hi = sums(a), sums(b)
    per[m] = {k: (hi.get(k, 0) - lo.get(k, 0)) / (2 * n) for k in set(lo) | set(hi)}
    rows |= set(per[m])
order = sorted(rows, key=lambda k: -sum(per[m].get(k, 0) for m in per))
print("| layer | " + " | ".join(per) + " |")
print("|---|" + "---|" * len(per))
for k in order:
    if all(abs(per[m].get(k, 0)) < 50 for m in per):
        continue
    print(f"| {k} | " + " | ".join(f"{per[m].get(k, 0):,.0f}" for m in per) + " |")
print("| **total** | " + " | ".join(f"**{sum(per[m].values()):,.0f}**" for m in per) + " |")
PY
}

SUT=() REF=() CMP=()
for m in ${METHODS//,/ }; do
	for who in sut ${REFBIN:+ref}; do
		echo "layers.sh: $who $m" >&2
		run "$who" "$m" "$CALLS"
		run "$who" "$m" "$((3 * CALLS))"
	done
	SUT+=("$m:$WORK/sut-$m-$CALLS.txt:$WORK/sut-$m-$((3 * CALLS)).txt")
	REF+=("$m:$WORK/ref-$m-$CALLS.txt:$WORK/ref-$m-$((3 * CALLS)).txt")
done
echo "Instructions per call by layer, this server (callgrind, user space, --threads 1, 4 calls in flight):"
echo
layers "$CALLS" "${SUT[@]}"
if [ -n "$REFBIN" ]; then
	echo
	echo "The same for the grpc++ reference:"
	echo
	layers "$CALLS" "${REF[@]}"
fi
