#!/bin/sh
# Installs buf (lint and breaking-change checks for proto/) from npm's
# @bufbuild/buf at a pinned version into tools/.buf, once; prints the path of
# the binary. Needs node and npm. Bump BUF_VERSION on purpose only: a newer buf
# may add lint rules.
set -eu
BUF_VERSION=1.75.0
dir="$(cd "$(dirname "$0")" && pwd)/.buf"
bin="$dir/node_modules/.bin/buf"
if [ ! -x "$bin" ] || [ "$("$bin" --version 2>/dev/null)" != "$BUF_VERSION" ]; then
	mkdir -p "$dir"
	npm install --prefix "$dir" --no-audit --no-fund --silent "@bufbuild/buf@$BUF_VERSION" >&2
fi
"$bin" --version >/dev/null
echo "$bin"
