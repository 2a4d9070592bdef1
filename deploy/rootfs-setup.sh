#!/bin/sh
# Prepares a runtime root file system for aniworld-server once its packages
# (deploy/runtime-packages.txt) are installed: the fixed non-root user and the
# directories the server and its Kubernetes mounts use. Runs as root inside that
# root: deploy/Dockerfile runs it in the runtime stage, deploy/check/rootfs.sh in
# the root file system CI builds, so both get the same user and layout.
set -eu

AW_UID=10001
AW_GID=10001

groupadd --gid "$AW_GID" aniworld
useradd --uid "$AW_UID" --gid "$AW_GID" --no-create-home --home-dir /var/lib/aniworld \
	--shell /usr/sbin/nologin --comment "Aniworld Store" aniworld

# The database lives here: a volume in the image, a PersistentVolumeClaim in
# Kubernetes. Nothing else is written outside /tmp.
install -d -o "$AW_UID" -g "$AW_GID" -m 0750 /var/lib/aniworld
# Mount points for the optional Secrets (TLS files, bearer tokens).
install -d -m 0755 /etc/aniworld /etc/aniworld/tls /etc/aniworld/auth
