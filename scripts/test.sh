#!/usr/bin/env bash
# Builds herdguard and runs every test: unit tests, the config check on the shipped example, the
# integration tests (which start their own redis-server and herdguard processes on free loopback
# ports and stop them by PID), and the deployment checks (container, Kubernetes, alert rules,
# dashboard: scripts/validate-deploy.sh). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

# promtool (Debian's prometheus package) checks /metrics and the alert rules; curl and PyYAML the
# deployment files.
scripts/install-deps.sh prometheus python3-yaml curl
scripts/build.sh release

build=build/release
echo "== config check: config/herdguard.yaml"
"$build/herdguard" --check --config config/herdguard.yaml

echo "== unit and integration tests"
ctest --test-dir "$build" --output-on-failure --timeout 900

echo "== deployment files"
scripts/validate-deploy.sh
