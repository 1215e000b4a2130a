#!/usr/bin/env bash
# Installs what herdguard needs to build and test, from Debian bookworm's packages only.
# Idempotent: apt-get runs only when something is missing. Extra package names may be passed.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config ccache
  libboost1.81-dev libhiredis-dev libspdlog-dev libfmt-dev libcli11-dev libyaml-cpp-dev catch2
  libssl-dev openssl
  redis-server redis-tools
  "$@"
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "error: missing packages (${missing[*]}); run as root or install them with apt-get" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
