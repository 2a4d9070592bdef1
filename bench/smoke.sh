#!/bin/sh
# A few seconds of every benchmark scenario, so that the tools keep working
# (ctest runs it as bench_smoke). Figures are printed, never asserted; a run
# with an error or a wrong reply fails, as in a real benchmark.
#
#   bench/smoke.sh SERVER LOADGEN
set -eu
server=$1
loadgen=$2
work=$(mktemp -d /tmp/aw-smoke-XXXXXX)
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$server" --listen "127.0.0.1:$port" --db "$work/smoke.db" --log-level warn &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
target=127.0.0.1:$port
/usr/bin/python3 - "$port" <<'PY'
import socket, sys, time
deadline = time.monotonic() + 30
while True:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.2).close()
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit("bench smoke: the server never listened")
        time.sleep(0.01)
PY
"$loadgen" --target "$target" --seed 300 --mix get=5,get_by_key=2,list=1,create=1,update=1 \
	--concurrency 4 --connections 2 --seconds 1 --warmup 0.2
"$loadgen" --target "$target" --mix list=1 --list-tail --concurrency 2 --seconds 0.5 --warmup 0
"$loadgen" --target "$target" --mix get=1 --ids 1:300 --concurrency 2 --seconds 0.5 --warmup 0
"$loadgen" --target "$target" --seed-downloads 200 --mix claim=1 --concurrency 8 \
	--requests 200 --seconds 60 --warmup 0
"$loadgen" --target "$target" --watchers 50 --mix create=1 --concurrency 2 --seconds 0.5 \
	--warmup 0 --prefix watched
kill -TERM $pid
wait $pid
trap 'rm -rf "$work"' EXIT
echo "bench smoke: ok"
