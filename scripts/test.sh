#!/usr/bin/env bash
# Builds herdguard and runs every test (CI runs exactly this; about 18 minutes from a new
# machine on 2 cores, most of it compiling; docs/RELIABILITY.md has each stage's time):
#  1. release build: the layer map of docs/DESIGN.md (scripts/check-layers.sh), the config check
#     on the shipped example, the integration tests
#     (they start their own redis-server and herdguard processes on free loopback ports and stop
#     them by PID), the deployment checks (container, Kubernetes, alert rules, dashboard:
#     scripts/validate-deploy.sh) and the real-client matrix (scripts/client-matrix.sh: real
#     client libraries from Debian and npm, in RESP2 and RESP3);
#  2. ASan+UBSan: the unit tests (built only here: a sanitized run checks all a release run
#     would) and the whole integration suite against a sanitized herdguard
#     (scripts/test-sanitized.sh asan);
#  3. TSan: the multi-threaded integration tests against a TSan herdguard (test-sanitized.sh tsan);
#  4. fuzzing: each libFuzzer target for 30 s, two at a time (scripts/fuzz.sh; docs/FUZZING.md
#     says why 30 s, and how to run longer).
# Exits non-zero on any failure, sanitizer report or fuzz finding. Set HERDGUARD_QUICK=1 to stop
# after step 1, with the unit tests built and run there (a quick local check; CI never sets it).
set -euo pipefail
cd "$(dirname "$0")/.."

# Each stage's wall time, printed as it ends and once more at the end (docs/RELIABILITY.md records
# them for fresh-machine runs).
run_start=$(date +%s)
stage_name='' stage_start=$run_start stage_times=()
stage() {  # stage NAME: closes the current stage (if any) and opens NAME
  local now
  now=$(date +%s)
  if [ -n "$stage_name" ]; then
    stage_times+=("$(printf '%5d s  %s' $((now - stage_start)) "$stage_name")")
  fi
  stage_name=$1 stage_start=$now
  [ -n "$1" ] && echo "== $1"
  return 0
}
summary() {
  stage ''
  echo "== stage times (total $(($(date +%s) - run_start)) s)"
  printf '%s\n' "${stage_times[@]}"
}
trap 'rc=$?; [ $rc -ne 0 ] && echo "== FAILED in stage: ${stage_name:-set-up}"; summary' EXIT

# promtool (Debian's prometheus package) checks /metrics and the alert rules; curl and PyYAML the
# deployment files; clang-14 and its runtime build the fuzz targets.
stage "install and release build"
scripts/install-deps.sh prometheus python3-yaml curl clang-14 libclang-rt-14-dev
# The unit tests run under ASan+UBSan (step 2), which checks everything a release run would and
# more: building them at -O3 as well cost a minute of the 20 the command may take (issue 20).
# A quick run has no step 2, so it builds and runs them here.
if [ "${HERDGUARD_QUICK:-0}" = 1 ]; then
  scripts/build.sh release
else
  scripts/build.sh release herdguard herdguard-demo-upstream integration_tests
fi

build=build/release
stage "layer map: no folder includes a higher one (docs/DESIGN.md)"
scripts/check-layers.sh

stage "config check: config/herdguard.yaml"
"$build/herdguard" --check --config config/herdguard.yaml

if [ "${HERDGUARD_QUICK:-0}" = 1 ]; then
  stage "unit and integration tests"
  ctest --test-dir "$build" --output-on-failure --timeout 900
else
  stage "integration tests (the unit tests run under ASan+UBSan below)"
  ctest --test-dir "$build" --output-on-failure --timeout 900 -R '^integration$'
fi

stage "deployment files"
scripts/validate-deploy.sh

stage "real-client matrix: redis-py, node-redis 5 and 6, ioredis (RESP2 and RESP3), BullMQ over two herdguards"
scripts/client-matrix.sh

stage "containers: the image, the sidecar pod and the compose demo, with podman"
scripts/container-test.sh

if [ "${HERDGUARD_QUICK:-0}" = 1 ]; then
  echo "== HERDGUARD_QUICK=1: sanitizers and fuzzing skipped"
  exit 0
fi

stage "ASan+UBSan"
scripts/test-sanitized.sh asan

stage "TSan"
scripts/test-sanitized.sh tsan

stage "fuzzing: 30 s per target"
FUZZ_JOBS=2 scripts/fuzz.sh 30
