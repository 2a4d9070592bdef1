#!/bin/sh
# The deploy check, CI's proof of deploy/ on a machine with no container engine
# (.ci/run runs it after `make test`; `make deploy-check` runs it by hand):
#
#   manifests.sh    renders the kustomize base, the production overlay and the
#                   PostgreSQL overlay and validates every object against the
#                   Kubernetes OpenAPI schemas, unknown fields included (all but
#                   the CloudNativePG Cluster, which has no schema offline), and
#                   the deployment's rules;
#   image-build.sh  runs the Dockerfile's build step on the build context
#                   `docker build` would see (.dockerignore applied);
#   rootfs.sh       builds the image's runtime root from the Dockerfile's Debian
#                   release and package list and runs the built server in it as
#                   the image would run it: non-root, read-only root, PID 1.
#
# Needs root, node and npm, kubectl (kustomize v5), and the server built
# (build/server/aniworld-server; `make build`). Work files go to
# build/deploy-check ($AW_DEPLOY_CHECK_DIR).
set -eu
here=$(cd "$(dirname "$0")" && pwd)

passed=0
failed=0
since() { # start time from date +%s.%N -> seconds taken
	echo "$1 $(date +%s.%N)" | awk '{ printf "%.1f", $2 - $1 }'
}
step() { # name script
	t0=$(date +%s.%N)
	if "$here/$2"; then
		passed=$((passed + 1))
		echo "deploy-check: $1 passed in $(since "$t0")s"
	else
		failed=$((failed + 1))
		echo "deploy-check: $1 FAILED after $(since "$t0")s" >&2
	fi
}
step manifests manifests.sh
step image-build image-build.sh
step rootfs rootfs.sh
echo "deploy-check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
