#!/bin/sh
# The image check without a container engine: builds the runtime root file system
# deploy/Dockerfile describes (same Debian release, same package list, same
# set-up script) with mmdebstrap, copies the built server in, and runs it there
# the way Kubernetes would run the image:
#
#   - as the Dockerfile's USER (10001:10001), with the Dockerfile's ENV;
#   - on a read-only root, writable only at /var/lib/aniworld (the volume) and
#     /tmp; /proc, a minimal /dev, and the Secret mounts read-only;
#   - as PID 1 of its own PID namespace, in its own mount namespace.
#
# It checks that the package list is what the binary links (runtime-packages.sh),
# that ldd inside the root finds every library, that the root holds no compiler
# and no -dev package; then, in plaintext with the base's settings, that
# grpc.health.v1 Check answers SERVING from outside, a write and a read go
# through, SIGTERM ends it with exit 0, its log went to stderr, and nothing was
# written outside the volume and /tmp. Then the same with the production
# overlay's settings: TLS with client certificates and bearer tokens from
# read-only Secret mounts, calls without a token refused, and a new token taken
# up on SIGHUP.
#
# Needs root (mmdebstrap, chroot, mounts), the server built (make build), and
# Debian's python3-grpcio. The root file system tarball is cached under
# $AW_DEPLOY_CHECK_DIR (default build/deploy-check), keyed by everything it is
# built from.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
out=${AW_DEPLOY_CHECK_DIR:-$src/build/deploy-check}
mkdir -p "$out"
out=$(cd "$out" && pwd)
server=${AW_SERVER:-$src/build/server/aniworld-server}
dockerfile=$src/deploy/Dockerfile
pkglist=$src/deploy/runtime-packages.txt
setup=$src/deploy/rootfs-setup.sh
py=/usr/bin/python3

fail() {
	echo "rootfs: FAIL: $*" >&2
	exit 1
}
note() {
	echo "rootfs: $*"
}

[ "$(id -u)" -eq 0 ] || fail "needs root (mmdebstrap, chroot and mount namespaces)"
[ -x "$server" ] || fail "no server at $server (make build)"
server=$(realpath "$server")
if ! "$py" -c 'import grpc' 2>/dev/null; then
	fail "$py cannot import grpc (tools/install-deps.sh)"
fi
if ! command -v mmdebstrap >/dev/null 2>&1; then
	note "installing mmdebstrap"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null ||
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null; } ||
		fail "cannot install mmdebstrap"
fi

# ---- what the Dockerfile says ---------------------------------------------------
release=$(sed -n 's/^ARG DEBIAN_RELEASE=\([a-z]*\)$/\1/p' "$dockerfile")
user=$(sed -n 's/^USER \([0-9]*:[0-9]*\)$/\1/p' "$dockerfile" | tail -n1)
image_env=$(sed -n 's/^ENV \([A-Z_][A-Z0-9_]*=[^ ]*\)$/\1/p' "$dockerfile")
entry=$(sed -n 's/^ENTRYPOINT \["\([^"]*\)"\]$/\1/p' "$dockerfile")
[ -n "$release" ] || fail "$dockerfile: no 'ARG DEBIAN_RELEASE=...'"
[ -n "$user" ] || fail "$dockerfile: no numeric 'USER uid:gid'"
[ -n "$image_env" ] || fail "$dockerfile: no 'ENV NAME=value' lines"
[ "$entry" = /usr/local/bin/aniworld-server ] || fail "$dockerfile: ENTRYPOINT is not /usr/local/bin/aniworld-server"
uid=${user%:*}
gid=${user#*:}
packages=$(grep -v '^#' "$pkglist" | sed '/^[[:space:]]*$/d' | sort -u)

# ---- the package list is what the binary links ------------------------------------
derived=$("$here/runtime-packages.sh" "$server")
if [ "$derived" != "$packages" ]; then
	printf '%s\n' "$packages" >"$out/listed.tmp"
	echo "deploy/runtime-packages.txt (-) versus what $server links (+):" >&2
	printf '%s\n' "$derived" | diff "$out/listed.tmp" - >&2 || true
	rm -f "$out/listed.tmp"
	fail "deploy/runtime-packages.txt is not the set of packages the server links"
fi
note "package list matches what the server links: $(printf '%s' "$packages" | tr '\n' ' ')"

# ---- the root file system, cached by what it is built from ------------------------
# bookworm-slim is the minbase variant without documentation, manual pages and
# translations; merged /usr without the usrmerge package, as Debian's images are.
mirrors="deb http://deb.debian.org/debian $release main
deb http://deb.debian.org/debian $release-updates main
deb http://deb.debian.org/debian-security $release-security main"
mmopts="--variant=minbase --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
--dpkgopt=path-exclude=/usr/share/doc/* --dpkgopt=path-include=/usr/share/doc/*/copyright
--dpkgopt=path-exclude=/usr/share/man/* --dpkgopt=path-exclude=/usr/share/info/*
--dpkgopt=path-exclude=/usr/share/locale/*"
key=$( (echo "$release" && echo "$mirrors" && echo "$mmopts" && echo "$packages" && cat "$setup") |
	sha256sum | cut -c1-16)
tarball=$out/rootfs-$release-$key.tar
if [ -s "$tarball" ]; then
	note "root file system from cache: $tarball"
else
	rm -f "$out"/rootfs-*.tar
	note "building the root file system with mmdebstrap ($release, minbase + runtime packages)"
	t0=$(date +%s)
	# shellcheck disable=SC2086,SC2016 # mmopts is a list of options; hooks expand $1 themselves
	mmdebstrap --mode=root --format=tar $mmopts \
		--include="$(printf '%s' "$packages" | paste -sd, -)" \
		--customize-hook="copy-in $setup /tmp" \
		--customize-hook='chroot "$1" sh /tmp/rootfs-setup.sh' \
		--customize-hook='rm -f "$1/tmp/rootfs-setup.sh"' \
		"$release" "$tarball.tmp" "$mirrors" >"$out/mmdebstrap.log" 2>&1 ||
		{ tail -n 30 "$out/mmdebstrap.log" >&2; rm -f "$tarball.tmp"; fail "mmdebstrap failed"; }
	mv "$tarball.tmp" "$tarball"
	note "built in $(($(date +%s) - t0))s"
fi

root=$out/rootfs
run=$out/run
rm -rf "$root" "$run"
mkdir -p "$root" "$run"
tar -C "$root" -xf "$tarball"
install -m 0755 "$server" "$root$entry"
note "root file system: $(du -sm "$root" | cut -f1) MiB unpacked (server included), tarball $(($(stat -c %s "$tarball") / 1048576)) MiB"

# ---- what the image holds ----------------------------------------------------------
chroot "$root" ldd "$entry" >"$run/ldd.txt" 2>&1 || { cat "$run/ldd.txt" >&2; fail "ldd failed inside the root"; }
if grep -q 'not found' "$run/ldd.txt"; then
	grep 'not found' "$run/ldd.txt" >&2
	fail "libraries missing from the root file system"
fi
note "ldd inside the root: $(grep -c '=>' "$run/ldd.txt") libraries, none missing"
# shellcheck disable=SC2016 # a dpkg-query format, not a shell expansion
dev=$(chroot "$root" dpkg-query -W -f='${Package}\n' |
	grep -E -e '-dev$' -e '^(gcc|g\+\+|cpp|clang|binutils|make|cmake|libc-dev-bin)(-[0-9.]+)?$' || true)
[ -z "$dev" ] || fail "build tools or -dev packages in the runtime root: $dev"
note "$(chroot "$root" dpkg-query -W | wc -l) packages, no compiler, no -dev package"
chroot "$root" getent passwd "$uid" >/dev/null || fail "no user $uid in the root"

# ---- running it ----------------------------------------------------------------------
free_port() {
	"$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The mount namespace of one run: a read-only bind of the root with the writable
# volume and /tmp, /proc, a minimal /dev and the read-only Secret mounts; then
# the server as PID 1 with the image's environment and the given settings.
# Runs inside `unshare --mount --pid --fork`.
# shellcheck disable=SC2016 # expanded by the inner shell
launcher='
set -eu
root=$1 data=$2 tmp=$3 secrets=$4 user=$5 wd=$6 envfile=$7 entry=$8
mount --bind "$root" "$root"
mount --bind "$data" "$root/var/lib/aniworld"
mount --bind "$tmp" "$root/tmp"
mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
mount -t tmpfs -o nosuid,noexec,mode=0755,size=1m dev "$root/dev"
for d in null zero full random urandom tty; do
	touch "$root/dev/$d"
	mount --bind "/dev/$d" "$root/dev/$d"
done
mkdir "$root/dev/shm"
mount -t tmpfs -o nosuid,nodev,noexec,mode=1777,size=16m shm "$root/dev/shm"
if [ -n "$secrets" ]; then
	for s in tls auth; do
		mount --bind "$secrets/$s" "$root/etc/aniworld/$s"
		mount -o remount,bind,ro,nosuid,nodev,noexec "$root/etc/aniworld/$s"
	done
fi
mount -o remount,bind,ro "$root"
if touch "$root/.rw-test" 2>/dev/null; then
	echo "launcher: the root is writable after the read-only remount" >&2
	exit 97
fi
# The environment is exactly the image env and the settings, as in a container.
set --
while IFS= read -r kv; do set -- "$@" "$kv"; done <"$envfile"
exec env -i "$@" chroot --userspec="$user" --groups="${user#*:}" "$root" \
	/bin/sh -c "cd \"$wd\" && exec \"$entry\""
'

server_pid=""
unshare_pid=""
cleanup() {
	if [ -n "$server_pid" ]; then kill -KILL "$server_pid" 2>/dev/null || true; fi
	if [ -n "$unshare_pid" ]; then wait "$unshare_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT INT TERM

# start NAME SECRETS_DIR SETTINGS_FILE...: starts the server with the image's ENV,
# then the settings files' KEY=VALUE lines, then ANIWORLD_LISTEN and
# ANIWORLD_METRICS_LISTEN on free loopback ports; sets $target, $metrics,
# $server_pid, $runlog, $runstate.
start() {
	name=$1 secrets=$2
	shift 2
	runstate=$run/$name
	mkdir -p "$runstate/data" "$runstate/tmp"
	chown "$uid:$gid" "$runstate/data"
	chmod 0750 "$runstate/data"
	chmod 1777 "$runstate/tmp"
	port=$(free_port)
	target=127.0.0.1:$port
	metrics=127.0.0.1:$(free_port)
	{
		echo "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
		echo "HOME=/var/lib/aniworld"
		printf '%s\n' "$image_env"
		for f in "$@"; do grep -E '^[A-Z_][A-Z0-9_]*=' "$f" || true; done
		echo "ANIWORLD_LISTEN=$target"
		echo "ANIWORLD_METRICS_LISTEN=$metrics"
	} >"$runstate/env"
	touch "$runstate/stamp"
	runlog=$runstate/server.log
	unshare --mount --pid --fork --propagation private sh -c "$launcher" launcher \
		"$root" "$runstate/data" "$runstate/tmp" "$secrets" "$user" /var/lib/aniworld \
		"$runstate/env" "$entry" >"$runstate/stdout.log" 2>"$runlog" &
	unshare_pid=$!
	# The server is unshare's one child, PID 1 of the new namespace.
	i=0
	server_pid=""
	while [ -z "$server_pid" ] && [ $i -lt 100 ]; do
		server_pid=$(tr -d ' ' 2>/dev/null <"/proc/$unshare_pid/task/$unshare_pid/children") || true
		[ -n "$server_pid" ] || { kill -0 "$unshare_pid" 2>/dev/null || break; sleep 0.05; }
		i=$((i + 1))
	done
	[ -n "$server_pid" ] || { cat "$runlog" >&2; fail "$name: the server did not start"; }
	note "$name: server is PID 1 of its namespace (host PID $server_pid), as $user, listening on $target"
}

probe() {
	if said=$("$py" "$here/grpc_probe.py" --target "$target" --gen-dir "$out/pygen" "$@"); then
		note "$name: $said"
	else
		echo "--- server log" >&2
		cat "$runlog" >&2
		fail "$name: grpc_probe.py $*"
	fi
}

# stop: SIGTERM to PID 1, exit 0 required, then what it wrote and logged.
stop() {
	kill -TERM "$server_pid"
	rc=0
	wait "$unshare_pid" || rc=$?
	server_pid=""
	unshare_pid=""
	[ "$rc" -eq 0 ] || { cat "$runlog" >&2; fail "$name: exit status $rc after SIGTERM, expected 0"; }
	note "$name: SIGTERM as PID 1: exit 0"
	changed=$(find "$root" -cnewer "$runstate/stamp" -print | head -n 5)
	[ -z "$changed" ] || fail "$name: written outside the volume and /tmp: $changed"
	others=$(find "$runstate/data" -mindepth 1 ! -name 'aniworld.db' ! -name 'aniworld.db-wal' ! -name 'aniworld.db-shm')
	[ -z "$others" ] || fail "$name: unexpected files in the volume: $others"
	[ -s "$runstate/data/aniworld.db" ] || fail "$name: no database in the volume"
	owner=$(stat -c %u:%g "$runstate/data/aniworld.db")
	[ "$owner" = "$user" ] || fail "$name: database owned by $owner, expected $user"
	left=$(find "$runstate/tmp" -mindepth 1 | head -n 5)
	[ -z "$left" ] || fail "$name: files left in /tmp: $left"
	grep -q ' INFO  serving on ' "$runlog" || fail "$name: no 'serving on' line on stderr"
	grep -q ' INFO  stopped' "$runlog" || fail "$name: no 'stopped' line on stderr"
	if grep -q ' ERROR ' "$runlog"; then
		cat "$runlog" >&2
		fail "$name: errors in the log"
	fi
	[ ! -s "$runstate/stdout.log" ] || note "$name: stdout: $(head -c 200 "$runstate/stdout.log")"
	note "$name: root untouched; volume holds $(cd "$runstate/data" && echo *) owned by $owner; /tmp empty; $(wc -l <"$runlog") log lines on stderr"
}

# Plaintext, with the base's settings: the shared ones and the SQLite ones, as
# the base's ConfigMap holds them (deploy/components/server, deploy/k8s/sqlite-settings).
shared_settings=$src/deploy/components/server/settings.env
sqlite_settings=$src/deploy/k8s/sqlite-settings/settings.env
start plaintext "" "$shared_settings" "$sqlite_settings"
probe ready
probe roundtrip
# The metrics endpoint the pod annotations point Prometheus at.
scraped=$("$py" -c 'import sys, urllib.request; print(urllib.request.urlopen("http://" + sys.argv[1] + "/metrics", timeout=5).read().decode())' "$metrics") ||
	fail "$name: GET /metrics on $metrics failed"
echo "$scraped" | grep -q '^grpc_server_handled_total{grpc_service="aniworld.v1.AnimeSeriesService",grpc_method="CreateSeries",grpc_type="unary",grpc_code="OK"} [1-9]' ||
	{ echo "$scraped" | head -20 >&2; fail "$name: /metrics does not count the round trip's create"; }
note "$name: GET /metrics answered, the round trip's calls counted"
stop

# The production overlay's settings: TLS with client certificates, bearer tokens,
# both from read-only Secret mounts laid out as kubelet lays them out (files
# root:fsGroup, mode 0440, as defaultMode says).
secrets=$run/secrets
mkdir -p "$secrets/tls" "$secrets/auth" "$run/certs"
sh "$src/tests/e2e/make_certs.sh" "$run/certs"
cp "$run/certs/server.crt" "$secrets/tls/tls.crt"
cp "$run/certs/server.key" "$secrets/tls/tls.key"
cp "$run/certs/ca.crt" "$secrets/tls/ca.crt"
printf '# deploy check\nfirst-token-%s\n' "$$" >"$secrets/auth/tokens"
chown -R "0:$gid" "$secrets"
chmod 0755 "$secrets/tls" "$secrets/auth"
chmod 0440 "$secrets/tls"/* "$secrets/auth"/*
start tls-tokens "$secrets" "$shared_settings" "$sqlite_settings" "$src/deploy/overlays/production/settings.env"
tls="--ca $run/certs/ca.crt --cert $run/certs/client.crt --key $run/certs/client.key"
# shellcheck disable=SC2086 # tls is a list of options
{
	probe $tls ready
	grep -q ' INFO  serving mutual TLS' "$runlog" ||
		{ cat "$runlog" >&2; fail "$name: the server does not say it serves mutual TLS"; }
	probe $tls unauthenticated
	probe $tls --token "first-token-$$" roundtrip
	# A rotated token, as when the Secret changes: the file is replaced, SIGHUP
	# makes the server read it again.
	printf 'second-token-%s\n' "$$" >"$secrets/auth/tokens.new"
	chown "0:$gid" "$secrets/auth/tokens.new"
	chmod 0440 "$secrets/auth/tokens.new"
	mv "$secrets/auth/tokens.new" "$secrets/auth/tokens"
	kill -HUP "$server_pid"
	probe $tls await-token "second-token-$$"
	probe $tls refused-token "first-token-$$"
}
stop

note "passed"
