#!/usr/bin/env bash
# Installs everything the demo, tests and benchmarks need on a fresh Debian machine.
# Idempotent: every step checks whether it is already done, so a second run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
# The Makefile puts .venv/bin first on PATH; installing tools needs the machine's own python3.
PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -vxF "$PWD/.venv/bin" | paste -sd: -)
export PATH

need_apt=()
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || need_apt+=(openssh-server)
command -v ssh-keygen >/dev/null 2>&1 || need_apt+=(openssh-client)
command -v rclone >/dev/null 2>&1 || need_apt+=(rclone)
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
command -v tc >/dev/null 2>&1 || need_apt+=(iproute2)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)
# The UI test drives Debian's headless Chromium through Playwright (its own browser download cannot work offline).
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
# Container images are built with podman/buildah (chroot isolation) on a debootstrap-made base.
command -v podman >/dev/null 2>&1 || need_apt+=(podman)
command -v buildah >/dev/null 2>&1 || need_apt+=(buildah)
command -v debootstrap >/dev/null 2>&1 || need_apt+=(debootstrap)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "bootstrap: installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if ! command -v uv >/dev/null 2>&1 && [ ! -x .tools/uv/lib/bin/uv ]; then
  echo "bootstrap: installing uv"
  python3 -m pip install -q --target .tools/uv/lib uv >/dev/null 2>&1 || python3 -m pip install -q uv
fi
UV=$(command -v uv || true)
if [ -z "$UV" ]; then
  UV=".tools/uv/lib/bin/uv"
fi

if [ ! -f .venv/.synced ] || [ uv.lock -nt .venv/.synced ] || [ pyproject.toml -nt .venv/.synced ]; then
  echo "bootstrap: syncing Python environment into .venv"
  "$UV" sync --frozen --python 3.11 -q
  touch .venv/.synced
fi

# uv installs without bytecode, and with PYTHONDONTWRITEBYTECODE set none is ever cached, so every
# `airflow-sky` start would compile ~600 SDK modules again (0.5 s of a one-object cp). Compile once.
if [ ! -f .venv/.bytecode ] || [ .venv/.synced -nt .venv/.bytecode ]; then
  echo "bootstrap: compiling bytecode of the installed packages"
  .venv/bin/python -m compileall -q -j 0 "$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" >/dev/null || true
  touch .venv/.bytecode
fi

if [ ! -x tools/node_modules/.bin/azurite-blob ]; then
  echo "bootstrap: installing Azurite"
  (cd tools && npm install --no-audit --no-fund --silent >/dev/null)
fi
echo "bootstrap: ready"
