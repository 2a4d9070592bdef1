#!/bin/sh
# Renders the kustomize base (deploy/k8s), the production overlay
# (deploy/overlays/production), the PostgreSQL overlay (deploy/overlays/postgres)
# and the snapshot CronJob overlay (deploy/overlays/backup)
# with kustomize, and validates every rendered object against the Kubernetes
# OpenAPI schemas, unknown fields included, plus the project's deployment rules
# (validate-manifests.mjs says which). The one custom resource, the PostgreSQL
# overlay's CloudNativePG Cluster, has no schema here: the output says so, and
# only its metadata and the fields the deployment relies on are checked.
#
# Rendering needs kubectl with kustomize v5 built in (kubectl 1.27 or later; the
# machine image ships 1.32). Nothing installable here replaces it: Debian 12's
# kubernetes-client is kubectl 1.20, whose kustomize (v2) rejects `patches:` and
# directories in `resources:`, and the npm registry has no kustomize.
#
# The validators come from npm at the versions package-lock.json pins, installed
# under the build tree ($AW_DEPLOY_CHECK_DIR/npm, default build/deploy-check/npm),
# never into the source tree.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
out=${AW_DEPLOY_CHECK_DIR:-$src/build/deploy-check}
mkdir -p "$out"
out=$(cd "$out" && pwd)

fail() {
	echo "manifests: $*" >&2
	exit 1
}

# ---- kustomize ------------------------------------------------------------------
command -v kubectl >/dev/null 2>&1 ||
	fail "kubectl not found: rendering needs kubectl >= 1.27 (kustomize v5 built in)"
kversion=$(kubectl version --client 2>/dev/null | sed -n 's/^Kustomize Version: v\{0,1\}//p')
case "$kversion" in
5.* | [6-9].*) ;;
*) fail "kubectl's kustomize is '${kversion:-absent}'; need v5 or later (kubectl >= 1.27)" ;;
esac

# ---- validators from npm, pinned by package-lock.json -----------------------------
command -v node >/dev/null 2>&1 || fail "node not found"
command -v npm >/dev/null 2>&1 || fail "npm not found"
mkdir -p "$out/npm" "$out/rendered"
lock_sum=$(cat "$here/package.json" "$here/package-lock.json" | sha256sum | cut -d' ' -f1)
if [ ! -d "$out/npm/node_modules" ] || [ "$(cat "$out/npm/.installed" 2>/dev/null)" != "$lock_sum" ]; then
	cp "$here/package.json" "$here/package-lock.json" "$out/npm/"
	(cd "$out/npm" && npm ci --no-audit --no-fund --loglevel=error) ||
		fail "npm ci failed in $out/npm"
	echo "$lock_sum" >"$out/npm/.installed"
fi
cp "$here/validate-manifests.mjs" "$out/npm/"

# ---- render: any warning (a deprecated field, say) is a failure too -------------
render() { # name dir
	if ! kubectl kustomize "$src/$2" >"$out/rendered/$1.yaml" 2>"$out/rendered/$1.err"; then
		cat "$out/rendered/$1.err" >&2
		fail "kustomize could not render $2"
	fi
	if [ -s "$out/rendered/$1.err" ]; then
		cat "$out/rendered/$1.err" >&2
		fail "kustomize warned while rendering $2"
	fi
	echo "rendered $2 with kustomize v$kversion: $(grep -c '^kind:' "$out/rendered/$1.yaml") objects"
}
render base deploy/k8s
render production deploy/overlays/production
render postgres deploy/overlays/postgres
render backup deploy/overlays/backup

# The self-test breaks copies of the first SQLite set (the plaintext base) and
# of the PostgreSQL set.
node "$out/npm/validate-manifests.mjs" --dockerfile "$src/deploy/Dockerfile" \
	--config-c "$src/server/config.c" \
	base="$out/rendered/base.yaml" production="$out/rendered/production.yaml" \
	postgres="$out/rendered/postgres.yaml" backup="$out/rendered/backup.yaml"
