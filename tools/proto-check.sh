#!/bin/sh
# The contract's checks (`make proto-check`; CI runs it): every .proto file
# under proto/ is linted by buf with buf.yaml's rules, and compared with the
# same files of the previous commit by buf's breaking-change detector (the
# FILE category: a caller's generated code and JSON keep working). Then a
# self-test shows the checks bite: in a copy of proto/, an added message passes
# both, a renumbered field and a renamed field are reported as breaking, and
# a badly named message and field are reported by the lint.
#
#   tools/proto-check.sh
#
# Environment:
#   AW_PROTO_AGAINST  the git revision to compare with (default HEAD~1, the
#                     previous commit). Uncommitted changes under proto/ are
#                     also compared with HEAD.
#   AW_BUF_DIR        where tools/install-buf.sh installs buf (build/buf).
#   CI                when true, a checkout without git history is an error
#                     instead of a skipped comparison.
#
# The files are compiled by protoc with the import directories CMakeLists.txt
# gives it (proto/, the well-known types, grpc-proto's, google.rpc's), so any
# import the build resolves resolves here too; buf then reads the compiled
# descriptor sets (with their comments). Imported files are compiled but
# neither linted nor compared: they are not ours.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"

fail() {
	echo "proto-check: $*" >&2
	exit 1
}
t_start=$(date +%s.%N)
since() { # start time from date +%s.%N -> seconds taken
	echo "$1 $(date +%s.%N)" | awk '{ printf "%.1f", $2 - $1 }'
}

command -v protoc >/dev/null 2>&1 || fail "protoc not found (tools/install-deps.sh installs it)"
buf=$("$here/install-buf.sh") || fail "could not install buf (tools/install-buf.sh)"
config="$root/buf.yaml"
[ -f "$config" ] || fail "no buf.yaml at $root"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/proto-check.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

# The import directories after the tree's own, as CMakeLists.txt has them
# (AW_WKT_DIR, AW_GRPC_PROTO_DIR, AW_RPC_PROTO_DIR); those absent are left out.
import_args=
for d in /usr/include /usr/share/grpc-proto /usr/share/gocode/src/github.com/gogo/googleapis; do
	[ -d "$d" ] && import_args="$import_args -I$d"
done

list_protos() { # dir -> the .proto files under it, relative, sorted
	(cd "$1" && find . -name '*.proto' -type f | sed 's|^\./||' | LC_ALL=C sort)
}

# compile DIR OUT: every .proto under DIR into the descriptor set OUT, with
# everything they import and their comments (buf's comment ignores need them).
compile() {
	files=$(list_protos "$1")
	[ -n "$files" ] || return 2
	# shellcheck disable=SC2086 # word splitting of the lists is wanted
	(cd "$1" && protoc -I. $import_args --include_imports --include_source_info \
		-o "$2" $files)
}

# buf_run OUTFILE ARGS...: runs buf, its findings (paths made relative to the
# repository when they are ours) into OUTFILE; returns buf's status.
buf_run() {
	out=$1
	shift
	set +e
	"$buf" "$@" >"$out.raw" 2>&1
	rc=$?
	set -e
	sed 's|^aniworld/|proto/aniworld/|' "$out.raw" >"$out"
	return $rc
}

# lint TREE IMAGE OUT [ARG...]: buf lint of TREE's own files in IMAGE.
lint() {
	path_args=
	for f in $(list_protos "$1"); do path_args="$path_args --path $f"; done
	l_image=$2 l_out=$3
	shift 3
	# shellcheck disable=SC2086
	buf_run "$l_out" lint "$l_image" --config "$config" $path_args "$@"
}

# breaking NEWTREE NEWIMAGE OLDTREE OLDIMAGE OUT [ARG...]: buf breaking of the
# trees' own files; every other file of the two images (the imports) is left out.
breaking() {
	{
		list_protos "$1"
		list_protos "$3"
	} | LC_ALL=C sort -u >"$tmp/ours"
	for image in "$2" "$4"; do
		[ -f "$image.files" ] || "$buf" ls-files "$image" >"$image.files"
	done
	LC_ALL=C sort -u "$2.files" "$4.files" >"$tmp/all"
	exclude_args=
	for f in $(LC_ALL=C comm -23 "$tmp/all" "$tmp/ours"); do
		exclude_args="$exclude_args --exclude-path $f"
	done
	b_new=$2 b_old=$4 b_out=$5
	shift 5
	# shellcheck disable=SC2086
	buf_run "$b_out" breaking "$b_new" --against "$b_old" --config "$config" $exclude_args "$@"
}

failed=0
bad() {
	echo "proto-check: FAILED: $*" >&2
	failed=$((failed + 1))
}

# ---- the tree as it is ----------------------------------------------------------
compile "$root/proto" "$tmp/new.binpb" || fail "protoc could not compile proto/ (above)"
nfiles=$(list_protos "$root/proto" | wc -l)
lint_ok=false
if lint "$root/proto" "$tmp/new.binpb" "$tmp/lint.out"; then
	lint_ok=true
	echo "proto-check: lint passed ($nfiles files, buf $("$buf" --version))"
else
	cat "$tmp/lint.out" >&2
	bad "buf lint found the problems above (rules and exemptions: buf.yaml)"
fi
ignores=$(grep -rn 'buf:lint:ignore' proto || true)
if [ -n "$ignores" ]; then
	echo "proto-check: lint exemptions by comment (each explained in buf.yaml):"
	echo "$ignores" | sed 's/^/  /'
fi

# ---- against the previous commit (and HEAD, for uncommitted changes) -------------
# compare REV NAME WHAT: the tree's proto/ against REV's; WHAT says which.
compare() {
	rev=$1
	name=$2
	what=$3
	old="$tmp/old-$name"
	mkdir -p "$old"
	if ! git cat-file -e "$rev:proto" 2>/dev/null; then
		echo "proto-check: breaking: $rev has no proto/, nothing to compare with"
		return 0
	fi
	git archive --format=tar "$rev" -- proto | tar -x -C "$old" ||
		fail "could not export proto/ of $rev"
	if ! compile "$old/proto" "$tmp/old-$name.binpb"; then
		echo "proto-check: breaking: proto/ of $rev does not compile here, nothing to compare with" >&2
		return 0
	fi
	if breaking "$root/proto" "$tmp/new.binpb" "$old/proto" "$tmp/old-$name.binpb" "$tmp/breaking-$name.out"; then
		echo "proto-check: breaking: none in $what, against $rev ($(git rev-parse --short "$rev"))"
	else
		cat "$tmp/breaking-$name.out" >&2
		bad "buf breaking: $what, against $rev, break callers as above (FILE category; make them additive)"
	fi
}

against=${AW_PROTO_AGAINST:-HEAD~1}
if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	case ${CI:-} in
	true | 1 | yes) bad "not a git checkout: no previous commit to compare proto/ with" ;;
	*) echo "proto-check: breaking: not a git checkout, no previous commit to compare with (skipped)" ;;
	esac
elif ! git rev-parse -q --verify "$against^{commit}" >/dev/null; then
	if [ "$(git rev-parse --is-shallow-repository)" = true ]; then
		bad "$against is not in this shallow clone: fetch the history (git fetch --unshallow)"
	else
		echo "proto-check: breaking: no $against (no previous commit), nothing to compare with: passed"
	fi
else
	compare "$against" against "the changes since $against"
fi
if git rev-parse -q --verify 'HEAD^{commit}' >/dev/null 2>&1 &&
	[ -n "$(git status --porcelain -- proto)" ]; then
	compare HEAD head "the uncommitted changes"
fi

# ---- self-test: the checks report what they must --------------------------------
# In copies of proto/: the first field of a message in the first file that has
# one is renumbered, or renamed; a message is added, well or badly named.
first=
for f in $(list_protos "$root/proto"); do
	if grep -Eq '^[[:space:]]*(repeated[[:space:]]+)?[A-Za-z_][A-Za-z0-9_.]*[[:space:]]+[a-z_][a-z0-9_]*[[:space:]]*=[[:space:]]*[0-9]+[[:space:]]*[;[]' "proto/$f"; then
		first=$f
		break
	fi
done
[ -n "$first" ] || fail "self-test: no .proto file under proto/ has a field to change"

# mutate NAME HOW: a copy of proto/ in $tmp/NAME/proto with HOW applied to $first.
mutate() {
	mkdir -p "$tmp/$1"
	cp -R "$root/proto" "$tmp/$1/"
	target="$tmp/$1/proto/$first"
	case $2 in
	renumber | rename)
		awk -v how="$2" '
			!done && /^[ \t]*(repeated[ \t]+)?[A-Za-z_][A-Za-z0-9_.]*[ \t]+[a-z_][a-z0-9_]*[ \t]*=[ \t]*[0-9]+[ \t]*[;[]/ {
				eq = index($0, "=")
				head = substr($0, 1, eq - 1); tail = substr($0, eq + 1)
				if (how == "renumber") {
					match(tail, /[0-9]+/)
					n = substr(tail, RSTART, RLENGTH) + 100000
					tail = substr(tail, 1, RSTART - 1) n substr(tail, RSTART + RLENGTH)
				} else {
					sub(/[ \t]*$/, "", head)
					head = head "_renamed_by_self_test "
				}
				$0 = head "=" tail
				done = 1
			}
			{ print }' "$target" >"$target.new"
		mv "$target.new" "$target"
		;;
	add)
		printf '\n// Added by the self-test of tools/proto-check.sh.\nmessage ProtoCheckSelfTestAdded {\n  int32 value = 1;\n}\n' >>"$target"
		;;
	badname)
		printf '\nmessage proto_check_self_test_bad {\n  int32 BadField = 1;\n}\n' >>"$target"
		;;
	esac
	cmp -s "$target" "$root/proto/$first" && fail "self-test: $2 left proto/$first unchanged"
	compile "$tmp/$1/proto" "$tmp/$1.binpb" || fail "self-test: the $2 copy does not compile"
}

# expect NAME CHECK WANT RULE...: runs CHECK (lint or breaking) on the copy NAME
# against the tree as it is; WANT is pass or fail; on fail every RULE (a buf
# rule id) must be among the findings.
expect() {
	name=$1
	check=$2
	want=$3
	shift 3
	if [ "$check" = lint ]; then
		if lint "$tmp/$name/proto" "$tmp/$name.binpb" "$tmp/$name.out" --error-format json; then got=pass; else got=fail; fi
	else
		if breaking "$tmp/$name/proto" "$tmp/$name.binpb" "$root/proto" "$tmp/new.binpb" "$tmp/$name.out" --error-format json; then got=pass; else got=fail; fi
	fi
	if [ "$got" != "$want" ]; then
		cat "$tmp/$name.out" >&2
		bad "self-test: buf $check should $want on the $name copy of proto/$first, it did not"
		return 0
	fi
	for rule in "$@"; do
		if ! grep -q "\"type\":\"$rule\"" "$tmp/$name.out"; then
			cat "$tmp/$name.out" >&2
			bad "self-test: buf $check on the $name copy did not report $rule"
			return 0
		fi
	done
	if [ $# -gt 0 ]; then
		echo "proto-check: self-test: $name (proto/$first): buf $check reports $*"
	else
		echo "proto-check: self-test: $name (proto/$first): buf $check passes"
	fi
}

mutate add add
if $lint_ok; then
	expect add lint pass
else
	echo "proto-check: self-test: add: lint not tried (proto/ itself fails it)"
fi
expect add breaking pass
mutate renumber renumber
expect renumber breaking fail FIELD_NO_DELETE
mutate rename rename
expect rename breaking fail FIELD_SAME_NAME FIELD_SAME_JSON_NAME
mutate badname badname
expect badname lint fail MESSAGE_PASCAL_CASE FIELD_LOWER_SNAKE_CASE

if [ "$failed" -ne 0 ]; then
	echo "proto-check: $failed FAILED in $(since "$t_start")s" >&2
	exit 1
fi
echo "proto-check: passed in $(since "$t_start")s"
