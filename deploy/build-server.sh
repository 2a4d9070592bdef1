#!/bin/sh
# Builds aniworld-server as the image ships it: CMake, RelWithDebInfo without the
# tests, only the server target, installed stripped. deploy/Dockerfile's build
# stage runs it; CI runs it too (deploy/check/image-build.sh), on the files the
# image build would see, since it cannot run the Dockerfile itself.
#
#   deploy/build-server.sh SOURCE_DIR BUILD_DIR OUT_DIR   -> OUT_DIR/aniworld-server
set -eu

src=${1:?usage: build-server.sh SOURCE_DIR BUILD_DIR OUT_DIR}
build=${2:?usage: build-server.sh SOURCE_DIR BUILD_DIR OUT_DIR}
out=${3:?usage: build-server.sh SOURCE_DIR BUILD_DIR OUT_DIR}

cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAW_BUILD_TESTS=OFF
cmake --build "$build" --target aniworld-server -j"$(nproc)"
install -D -s -m 0755 "$build/server/aniworld-server" "$out/aniworld-server"
