#!/usr/bin/env bash
# Builds the images from this checkout: docker/build.sh [gateway|worker|all] (default all).
#
# With podman (the default when it is installed) the build runs with chroot isolation on a local
# Debian base from docker/make-local-base.sh, for machines that reach Debian's mirror and PyPI but
# no container registry. With ENGINE=docker, or BASE=/AIRFLOW_IMAGE= set, the given bases are used
# (default: the public python:3.11-slim-bookworm and apache/airflow:3.3.2-python3.11).
#
# Env: ENGINE (podman|docker), TAG (default dev), BASE, AIRFLOW_IMAGE, CA_BUNDLE (a CA file the
# build's pip must trust, mounted read-only for the build only; default: the host's bundle when
# SSL_CERT_FILE/PIP_CERT name one, for networks that inspect TLS).
set -euo pipefail
cd "$(dirname "$0")/.."

what=${1:-all}
ENGINE=${ENGINE:-$(command -v podman >/dev/null 2>&1 && echo podman || echo docker)}
TAG=${TAG:-dev}
args=()
if [ "$ENGINE" = podman ]; then
  args+=(--isolation chroot)
  if [ -z "${BASE:-}" ] || { [ "$what" != gateway ] && [ -z "${AIRFLOW_IMAGE:-}" ]; }; then
    local_base=$(docker/make-local-base.sh | tail -n1)
    BASE=${BASE:-$local_base}
    AIRFLOW_IMAGE=${AIRFLOW_IMAGE:-$local_base}
  fi
  ca=${CA_BUNDLE:-${PIP_CERT:-${SSL_CERT_FILE:-}}}
  if [ -n "$ca" ] && [ -f "$ca" ]; then
    args+=(-v "$(realpath "$ca"):/etc/ssl/certs/ca-certificates.crt:ro")
  fi
fi

# The build context holds only what the images copy, without bytecode caches (they change on
# every test run and would defeat the layer cache): the package, its metadata, the pins.
context=${CONTEXT:-.tools/images/context-$TAG}
rm -rf "$context" && mkdir -p "$context/docker"
cp pyproject.toml README.md .gitignore "$context/"
cp docker/*-requirements.txt "$context/docker/"
tar -cf - --exclude=__pycache__ --exclude='*.pyc' airflow_provider_sky | tar -xf - -C "$context"

build() {  # build NAME DOCKERFILE ARG=VALUE
  local arg=()
  [ -n "${3#*=}" ] && arg=(--build-arg "$3")
  echo "build: localhost/$1:$TAG (${3:-default base})" >&2
  "$ENGINE" build "${args[@]}" "${arg[@]}" -f "$2" -t "localhost/$1:$TAG" "$context"
}

case "$what" in
  gateway|all) build airflow-sky-gateway docker/Dockerfile.gateway "BASE=${BASE:-}" ;;&
  worker|all) build airflow-sky-worker docker/Dockerfile.worker "AIRFLOW_IMAGE=${AIRFLOW_IMAGE:-}" ;;
  gateway) ;;
  *) echo "usage: docker/build.sh [gateway|worker|all]" >&2; exit 2 ;;
esac
