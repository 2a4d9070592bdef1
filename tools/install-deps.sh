#!/bin/sh
# Installs the Debian 12 packages the build, the tests and `make run` need, but only
# those that are missing. Run as root (CI does), or with sudo available.
# postgresql-15 is for the tests' own throwaway server (tests/pg/pg_fixture.sh);
# its packaged cluster service is not used. golang-github-gogo-googleapis-dev is
# only for google/rpc/status.proto and error_details.proto, which no other Debian 12
# package ships as .proto files (the build compiles them with protoc-c).
#
#   tools/install-deps.sh            build, run and test dependencies
#   tools/install-deps.sh --check    only report what is missing (exit 1 if anything is)
#   tools/install-deps.sh --valgrind for make test-valgrind
#   tools/install-deps.sh --fuzz     for tests/fuzz/run.sh (clang and its libFuzzer runtime)
set -eu

PACKAGES="build-essential cmake pkg-config
libgrpc-dev protobuf-c-compiler libprotobuf-c-dev protobuf-compiler libprotobuf-dev
libsqlite3-dev sqlite3 libpq-dev postgresql-15 libcmocka-dev grpc-proto libssl-dev
python3 python3-grpcio python3-protobuf openssl golang-github-gogo-googleapis-dev"

case "${1:-}" in
--valgrind) PACKAGES="valgrind"; shift ;;
--fuzz) PACKAGES="clang libclang-rt-14-dev"; shift ;;
esac

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	exit 0
fi
if [ "${1:-}" = "--check" ]; then
	echo "missing Debian packages:$missing" >&2
	exit 1
fi

echo "installing Debian packages:$missing" >&2
if [ "$(id -u)" -eq 0 ]; then
	SUDO=""
elif command -v sudo >/dev/null 2>&1; then
	SUDO="sudo"
else
	echo "install-deps: need root (or sudo) to install:$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
