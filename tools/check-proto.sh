#!/bin/sh
# buf lint (buf.yaml: STANDARD less the two rules that forbid resource-returning
# standard methods) and buf breaking against the proto of an earlier commit:
# AW_BUF_AGAINST, a git revision, HEAD~1 unless set (on main, the previous
# commit of main). Exits non-zero on any lint finding or breaking change.
set -eu
cd "$(dirname "$0")/.."
buf="$(tools/install-buf.sh)"
against="${AW_BUF_AGAINST:-HEAD~1}"
"$buf" lint
old="$(mktemp -d)"
trap 'rm -rf "$old"' EXIT INT TERM
if git cat-file -e "$against:proto" 2>/dev/null; then
	git archive "$against" proto | tar -x -C "$old"
	cp buf.yaml "$old/"
	"$buf" breaking --against "$old"
	echo "proto: lint clean, nothing breaking against $against"
else
	echo "proto: lint clean; $against has no proto/ to compare with" >&2
fi
