#!/bin/sh
# Installs the build into a temporary prefix and builds the client example
# against the installed headers, library and pkg-config file, as a user would.
#
#   tests/install_test.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1
src=$2
prefix=$(mktemp -d /tmp/aw-install-XXXXXX)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
pc=$(find "$prefix" -name aniworld-client.pc)
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$pc")
libdir=$(pkg-config --variable=libdir aniworld-client)
# shellcheck disable=SC2046
cc -Wall -Wextra -Werror "$src/client/examples/series_example.c" -o "$prefix/series_example" \
	$(pkg-config --cflags --libs aniworld-client) "-Wl,-rpath,$libdir"
# It links the installed library, not the build tree's.
ldd "$prefix/series_example" | grep -q "$libdir/libaniworld-client.so"
# Only the API is exported: aw_ functions and the generated message code
# (aniworld.v1 and aniworld.admin.v1).
if nm -D --defined-only "$libdir/libaniworld-client.so" | awk '{print $3}' |
	grep -v -e '^aw_client_' -e '^aw_watch_' -e '^aw_admin_' -e '^aw_err' -e '^aw_strerror$' \
		-e '^aniworld__v1__' -e '^aniworld__admin__v1__' -e '^google__protobuf__' -e '^_' |
	grep .; then
	echo "install test: symbols above are exported but not API" >&2
	exit 1
fi
echo "install test: ok"
