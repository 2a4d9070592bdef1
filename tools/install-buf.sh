#!/bin/sh
# Installs buf (the Protobuf linter and breaking-change detector) from npm at
# the version tools/buf/package-lock.json pins (npm checks the lock's
# integrity hashes), into a directory of the build tree, and prints the path of
# the buf executable on stdout.
#
#   tools/install-buf.sh [DIR]     DIR defaults to $AW_BUF_DIR, else build/buf
#
# An install whose package.json and lock match is reused (no network then).
# npm runs no install scripts: the platform's native binary comes as an
# optional dependency of @bufbuild/buf, and is used directly (the package's
# own bin/buf is a node wrapper that only finds and starts it).
# Needs node and npm; the only network it uses is the npm registry.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
dir=${1:-${AW_BUF_DIR:-$root/build/buf}}

fail() {
	echo "install-buf: $*" >&2
	exit 1
}
command -v node >/dev/null 2>&1 || fail "node not found (apt-get install nodejs npm)"
command -v npm >/dev/null 2>&1 || fail "npm not found (apt-get install nodejs npm)"

want=$(sed -n 's/^ *"@bufbuild\/buf": *"\([^"]*\)".*/\1/p' "$here/buf/package.json")
[ -n "$want" ] || fail "no @bufbuild/buf version in $here/buf/package.json"
sum=$(cat "$here/buf/package.json" "$here/buf/package-lock.json" | sha256sum | cut -d' ' -f1)

find_bin() { # the native binary of this platform's package
	for b in "$dir"/node_modules/@bufbuild/buf-*/bin/buf; do
		[ -x "$b" ] && { echo "$b"; return 0; }
	done
	return 1
}

if [ "$(cat "$dir/.installed" 2>/dev/null)" != "$sum" ] || ! find_bin >/dev/null; then
	mkdir -p "$dir"
	rm -rf "$dir/node_modules" "$dir/.installed"
	cp "$here/buf/package.json" "$here/buf/package-lock.json" "$dir/"
	echo "install-buf: npm ci @bufbuild/buf@$want in $dir" >&2
	(cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2) ||
		fail "npm ci failed in $dir"
	echo "$sum" >"$dir/.installed"
fi
bin=$(find_bin) || fail "no buf binary for this platform under $dir/node_modules/@bufbuild"
got=$("$bin" --version 2>&1) || fail "$bin does not run: $got"
[ "$got" = "$want" ] || fail "$bin is version $got, tools/buf/package.json pins $want"
echo "$bin"
