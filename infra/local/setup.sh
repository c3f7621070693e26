#!/usr/bin/env bash
# `make setup`: install what the native stack and the project need, idempotently.
#   1. Debian packages (only the missing ones; apt-get update only when something is missing)
#   2. the virtualenv .venv: the locked dependencies (requirements.lock, with hashes), then the project
#   3. the TimescaleDB extension built from Debian's source package (cached)
set -euo pipefail
cd "$(dirname "$0")/../.."

PACKAGES=(postgresql-15 postgresql-server-dev-15 postgresql-contrib pgbouncer redis-server prometheus
          prometheus-postgres-exporter pgbackrest cmake gcc make libssl-dev libkrb5-dev dpkg-dev
          docker-compose chromium)

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# Node runs the TSL test tier; a Node installed another way (nodesource, nvm) is just as good, and
# Debian's npm conflicts with nodesource's nodejs, so only install them when the commands are absent.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]} (run as root or install them with sudo)" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The packages start system services on their default ports; the project runs its own instances.
  for svc in postgresql redis-server prometheus prometheus-postgres-exporter pgbouncer; do
    systemctl disable --now "$svc" >/dev/null 2>&1 || service "$svc" stop >/dev/null 2>&1 || true
  done
else
  echo "setup: Debian packages present"
fi

PYTHON=${PYTHON:-python3}
stamp=.venv/.stockula-installed
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# pip, quiet unless it fails; then its output, less the noise of this machine's pip.conf (it names local
# mirror folders that may be absent).
pip_quiet() {
  local log status=0
  log=$(mktemp)
  .venv/bin/pip "$@" >"$log" 2>&1 || status=$?
  [ "$status" -eq 0 ] || grep -v "^WARNING: Location 'file://" "$log" >&2
  rm -f "$log"
  return "$status"
}
# Every dependency comes from requirements.lock, pinned with its hashes (`make lock` regenerates it from
# pyproject.toml): pip refuses any file whose hash is not listed. The project itself installs last,
# without dependencies and without a build environment of its own (setuptools and wheel are locked too).
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ requirements.lock -nt "$stamp" ]; then
  echo "setup: installing the locked dependencies (requirements.lock, hashes checked) into .venv"
  pip_quiet install -q --require-hashes -r requirements.lock || {
    echo "setup: pip refused requirements.lock (a missing or changed hash is a supply-chain failure)" >&2
    exit 1
  }
  pip_quiet install -q --no-deps --no-build-isolation -e .
  touch "$stamp"
else
  echo "setup: .venv up to date"
fi

infra/local/install_timescaledb.sh

if [ -f tests/tsl/package.json ] && command -v npm >/dev/null; then
  if [ ! -d tests/tsl/node_modules ] || [ tests/tsl/package-lock.json -nt tests/tsl/node_modules ]; then
    echo "setup: installing the TSL test tier's Node packages"
    (cd tests/tsl && npm ci --silent --no-audit --no-fund)
  fi
fi
echo "setup: done"
