#!/usr/bin/env bash
# Configures and builds one CMake preset (default: release). Usage: scripts/build.sh [preset] [target...]
set -euo pipefail
cd "$(dirname "$0")/.."
# ccache keys on paths relative to the checkout, so a clone in another folder (CI's) hits the
# entries an earlier checkout made.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD} CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
preset=${1:-release}
shift || true
cmake --preset "$preset" >/dev/null
jobs=$(nproc 2>/dev/null || echo 2)
if [ $# -gt 0 ]; then
  # One build of all the targets: their objects compile side by side on every core.
  cmake --build --preset "$preset" --target "$@" -j "$jobs"
else
  cmake --build --preset "$preset" -j "$jobs"
fi
