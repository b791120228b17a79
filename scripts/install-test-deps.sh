#!/usr/bin/env bash
# Installs what Tern's tests talk to, when missing: Mosquitto and its clients (Debian), paho-mqtt (PyPI),
# mqtt.js (npm), cargo-fuzz. Idempotent; quiet when everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v mosquitto_sub >/dev/null || ! command -v mosquitto >/dev/null || ! command -v mosquitto_passwd >/dev/null; then
  echo "installing mosquitto and mosquitto-clients (Debian)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq mosquitto mosquitto-clients >/dev/null
fi

# Node.js and pip themselves, from Debian, on a machine without them.
APT_MISSING=""
command -v npm >/dev/null || APT_MISSING="$APT_MISSING nodejs npm"
python3 -m pip --version >/dev/null 2>&1 || APT_MISSING="$APT_MISSING python3-pip"
if [ -n "$APT_MISSING" ]; then
  echo "installing$APT_MISSING (Debian)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq $APT_MISSING >/dev/null
fi
# Debian's own Python refuses pip installs outside a virtual environment (PEP 668): allow it for tests.
PIP_FLAGS=""
if python3 -m pip install --help 2>/dev/null | grep -q -- --break-system-packages \
  && [ -e "$(python3 -c 'import sysconfig; print(sysconfig.get_path("stdlib"))')/EXTERNALLY-MANAGED" ]; then
  PIP_FLAGS="--break-system-packages"
fi

if ! python3 -c 'import paho.mqtt, sys; sys.exit(0 if paho.mqtt.__version__.startswith("2.") else 1)' 2>/dev/null; then
  echo "installing paho-mqtt 2.x and prometheus_client (PyPI)"
  python3 -m pip install -q $PIP_FLAGS 'paho-mqtt>=2,<3' prometheus_client
fi

if ! python3 -c 'import prometheus_client.parser, prometheus_client.openmetrics.parser' 2>/dev/null; then
  echo "installing prometheus_client (PyPI)"
  python3 -m pip install -q $PIP_FLAGS prometheus_client
fi

if [ ! -d tests/interop/node_modules/mqtt ]; then
  echo "installing mqtt.js (npm)"
  (cd tests/interop && npm install --silent --no-audit --no-fund >/dev/null)
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz (crates.io)"
  cargo install -q cargo-fuzz
fi
