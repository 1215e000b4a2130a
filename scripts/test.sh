#!/usr/bin/env bash
# Builds herdguard and runs every test: unit tests, the config check on the shipped example, and
# the integration tests (which start their own redis-server and herdguard processes on free
# loopback ports and stop them by PID). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
scripts/build.sh release

build=build/release
echo "== config check: config/herdguard.yaml"
"$build/herdguard" --check --config config/herdguard.yaml

echo "== unit and integration tests"
ctest --test-dir "$build" --output-on-failure --timeout 900
