#!/bin/sh
# The image's build stage without a container engine: assembles the build
# context `docker build` would send (the source tree less .dockerignore, by
# build_context.py), checks it holds no build output, no database and no npm
# install, then runs the build stage's own script (deploy/build-server.sh) on it
# and checks the stripped server it makes links exactly the packages in
# deploy/runtime-packages.txt and runs.
#
# The build stage's other step, tools/install-deps.sh, is what CI itself ran
# before `make test`. Work files go under $AW_DEPLOY_CHECK_DIR/image-build.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
out=${AW_DEPLOY_CHECK_DIR:-$src/build/deploy-check}
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$out/image-build

fail() {
	echo "image-build: FAIL: $*" >&2
	exit 1
}
note() {
	echo "image-build: $*"
}

rm -rf "$work"
mkdir -p "$work"
counts=$(/usr/bin/python3 "$here/build_context.py" "$src" "$work/context") ||
	fail "cannot assemble the build context"
# shellcheck disable=SC2086 # two numbers: files, bytes
set -- $counts
note "build context: $1 files, $(($2 / 1024)) KiB (.dockerignore applied)"

# What must never reach the context: build trees, databases, npm installs, git.
junk=$(cd "$work/context" && find . \( -path './build*' -o -name node_modules -o -name '*.db' \
	-o -name '*.db-wal' -o -name '*.db-shm' -o -name .git -o -name '*.pb-c.[ch]' \) -print | head -n 5)
[ -z "$junk" ] || fail "the build context holds build output: $junk"

t0=$(date +%s)
"$work/context/deploy/build-server.sh" "$work/context" "$work/build" "$work/out" >"$work/build.log" 2>&1 ||
	{ tail -n 30 "$work/build.log" >&2; fail "deploy/build-server.sh failed on the build context"; }
bin=$work/out/aniworld-server
note "deploy/build-server.sh built the server from the context in $(($(date +%s) - t0))s: $(($(stat -c %s "$bin") / 1024)) KiB stripped"

listed=$(grep -v '^#' "$src/deploy/runtime-packages.txt" | sed '/^[[:space:]]*$/d' | sort -u)
[ "$("$here/runtime-packages.sh" "$bin")" = "$listed" ] ||
	fail "the image's server links other packages than deploy/runtime-packages.txt lists"
"$bin" --help >/dev/null || fail "the image's server does not run (--help)"
note "it links exactly the listed packages and runs"
