#!/usr/bin/env bash
# Builds a Debian bookworm base image from Debian's own packages and imports it into podman's store.
# Why: the public bases (python:3.11-slim-bookworm, apache/airflow) live on registries this build
# machine cannot reach, while Debian's apt mirror is reachable. The result stands in for them via
# the Dockerfiles' BASE / AIRFLOW_IMAGE build arguments.
#
# Usage: docker/make-local-base.sh [IMAGE]   (default localhost/sky-base:bookworm)
# Env:   MIRROR  apt mirror (default: the host's first deb.debian.org-style URI, else deb.debian.org)
#        CACHE   directory for the rootfs tarball, keyed by this script's hash (default .tools/images)
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${1:-localhost/sky-base:bookworm}
CACHE=${CACHE:-.tools/images}
# python3 is bookworm's 3.11; venv/pip install the Python packages; ca-certificates for HTTPS stores.
PACKAGES=python3,python3-venv,python3-pip,ca-certificates

if [ -z "${MIRROR:-}" ]; then
  # deb822 "URIs: URL" or one-line "deb [options] URL suite ...": the first Debian archive URL.
  MIRROR=$(grep -hoE '^(URIs:|deb)( +\[[^]]*\])? +https?://[^ ]+/debian/?( |$)' \
    /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null | awk '{print $NF}' | head -n1 || true)
  MIRROR=${MIRROR:-http://deb.debian.org/debian}
fi

key=$(sha256sum "$0" | cut -c1-16)
tarball="$CACHE/base-$key.tar"
mkdir -p "$CACHE"

if [ ! -f "$tarball" ]; then
  root=$(mktemp -d "$CACHE/rootfs.XXXXXX")
  trap 'rm -rf "$root"' EXIT
  echo "make-local-base: debootstrap bookworm from $MIRROR"
  debootstrap --variant=minbase --include="$PACKAGES" bookworm "$root" "$MIRROR" >"$root.log" 2>&1 \
    || { tail -n 20 "$root.log"; exit 1; }
  rm -f "$root.log"
  # The apt lists and package cache are not needed to run; leaving them out keeps the base small.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  printf 'deb %s bookworm main\n' "$MIRROR" >"$root/etc/apt/sources.list"
  tar -C "$root" --numeric-owner -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
fi

if ! podman image exists "$IMAGE" || [ "$(podman image inspect -f '{{index .Labels "sky.base.key"}}' "$IMAGE" 2>/dev/null)" != "$key" ]; then
  echo "make-local-base: importing $tarball as $IMAGE"
  podman import --change "LABEL sky.base.key=$key" --change 'CMD ["/bin/bash"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "$tarball" "$IMAGE" >/dev/null
fi
echo "$IMAGE"
