#!/bin/sh
# Prints the Debian packages that hold the shared libraries a binary loads, one a
# line, sorted: ldd for the libraries (the whole closure, not only the direct
# ones), dpkg -S for their packages. deploy/check/rootfs.sh compares the result
# with deploy/runtime-packages.txt.
#
#   deploy/check/runtime-packages.sh build/server/aniworld-server
set -eu

bin=${1:?usage: runtime-packages.sh BINARY}
libs=$(ldd "$bin") || {
	echo "runtime-packages: ldd failed on $bin" >&2
	exit 1
}
if printf '%s\n' "$libs" | grep -q 'not found'; then
	printf '%s\n' "$libs" | grep 'not found' >&2
	echo "runtime-packages: $bin needs libraries this machine lacks" >&2
	exit 1
fi

# "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)" and the loader's own
# "/lib64/ld-linux-x86-64.so.2 (0x...)"; linux-vdso has no file.
paths=$(printf '%s\n' "$libs" | awk '$2 == "=>" { print $3; next } $1 ~ /^\// { print $1 }')
# With merged /usr a file is registered under /lib or /usr/lib, so ask dpkg once
# about every spelling of every library and its target, then take the first
# spelling it knows for each.
variants() { # lib
	real=$(readlink -f "$1")
	printf '%s\n' "$1" "$real" "/usr$1" "/usr$real" "${1#/usr}" "${real#/usr}"
}
candidates=$(for lib in $paths; do variants "$lib"; done | sort -u)
# shellcheck disable=SC2086 # one argument per path
owners=$(dpkg -S $candidates 2>/dev/null | grep -v '^diversion') || true
pkgs=""
for lib in $paths; do
	pkg=""
	for v in $(variants "$lib"); do
		pkg=$(printf '%s\n' "$owners" | awk -v f="$v" '{ p = $0; sub(/^[^ ]*: /, "", p) } p == f { split($1, a, ":"); print a[1]; exit }')
		[ -n "$pkg" ] && break
	done
	if [ -z "$pkg" ]; then
		echo "runtime-packages: no Debian package holds $lib" >&2
		exit 1
	fi
	pkgs="$pkgs $pkg"
done
# shellcheck disable=SC2086 # one package a word
printf '%s\n' $pkgs | sort -u
