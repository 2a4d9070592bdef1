#!/bin/sh
# The deploy check, CI's proof of deploy/ on a machine with no container engine
# (.ci/run runs it after `make test`; `make deploy-check` runs it by hand):
#
#   manifests.sh  renders the kustomize base and the production overlay and
#                 validates every object against the Kubernetes OpenAPI schemas,
#                 unknown fields included, and the deployment's rules;
#   rootfs.sh     builds the image's runtime root from the Dockerfile's Debian
#                 release and package list and runs the built server in it as
#                 the image would run it: non-root, read-only root, PID 1.
#
# Needs root, node and npm, kubectl (kustomize v5), and the server built
# (build/server/aniworld-server; `make build`). Work files go to
# build/deploy-check ($AW_DEPLOY_CHECK_DIR).
set -eu
here=$(cd "$(dirname "$0")" && pwd)

passed=0
failed=0
step() { # name script
	t0=$(date +%s)
	if "$here/$2"; then
		passed=$((passed + 1))
		echo "deploy check: $1 passed in $(($(date +%s) - t0))s"
	else
		failed=$((failed + 1))
		echo "deploy check: $1 FAILED after $(($(date +%s) - t0))s" >&2
	fi
}
step manifests manifests.sh
step rootfs rootfs.sh
echo "deploy check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
