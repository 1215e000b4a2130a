#!/usr/bin/env bash
# Runs the tests against a sanitizer build of herdguard. Called by scripts/test.sh after the
# release build passed; usable alone once `scripts/build.sh release` has built the tests.
#
#   scripts/test-sanitized.sh asan   ASan+UBSan: the unit tests and the whole integration suite
#   scripts/test-sanitized.sh tsan   TSan: the integration tests whose herdguard runs 2 worker
#                                    threads sharing flights, routes, breakers and TLS contexts
#                                    ([herd], [ops], [auth], [passthrough], [pubsub], [tls], [clients] and
#                                    [cluster] but its failover/resharding runs, whose timing
#                                    windows TSan's slowdown would stretch); the
#                                    fault tests' 10,000-
#                                    and 20,000-connection floods are too slow under TSan's 5-15x
#
# Only the herdguard binary (and, for asan, the unit tests) is built with the sanitizer: the
# integration test binary from the release build drives it (HG_TEST_HERDGUARD), so the suite
# compiles once. HG_TEST_SANITIZER tells the tests that RSS bounds do not apply.
#
# Every report fails the run, whichever process made it and whether or not a test noticed: each
# sanitized process writes its reports to build/<preset>/reports/<kind>.<pid> (log_path), and any
# file there at the end is printed and fails the script. Leaks are checked at each herdguard's exit
# (the harness stops them with SIGTERM, so they exit normally).
set -euo pipefail
cd "$(dirname "$0")/.."

kind=${1:?usage: scripts/test-sanitized.sh asan|tsan}
case "$kind" in
  asan) targets=(herdguard unit_tests); tags='' ;;
  tsan) targets=(herdguard); tags='[herd],[ops],[auth],[passthrough],[pubsub],[tls],[clients],[cluster]~[cluster-faults]' ;;
  *) echo "unknown sanitizer '$kind' (asan or tsan)" >&2; exit 2 ;;
esac

integration=build/release/tests/integration_tests
demo=build/release/herdguard-demo-upstream
if [ ! -x "$integration" ] || [ ! -x "$demo" ]; then
  echo "error: $integration not built; run scripts/build.sh release first" >&2
  exit 2
fi

scripts/build.sh "$kind" "${targets[@]}"

reports=$PWD/build/$kind/reports
rm -rf "$reports"
mkdir -p "$reports"
export ASAN_OPTIONS="log_path=$reports/asan:detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="log_path=$reports/ubsan:print_stacktrace=1:halt_on_error=1"
export TSAN_OPTIONS="log_path=$reports/tsan:halt_on_error=0:second_deadlock_stack=1"

status=0
if [ "$kind" = asan ]; then
  echo "== unit tests (ASan+UBSan)"
  build/asan/tests/unit_tests || status=1
fi

echo "== integration tests against build/$kind/herdguard ${tags:+(tags $tags)}"
HG_TEST_HERDGUARD=$PWD/build/$kind/herdguard HG_TEST_DEMO_UPSTREAM=$PWD/$demo HG_TEST_SANITIZER=$kind \
  "$integration" ${tags:+"$tags"} || status=1

shopt -s nullglob
found=("$reports"/*)
if [ ${#found[@]} -gt 0 ]; then
  echo "== $kind: ${#found[@]} sanitizer report(s)"
  for f in "${found[@]}"; do
    echo "--- $f"
    head -n 80 "$f"
  done
  status=1
fi
[ $status -eq 0 ] && echo "== $kind: clean"
exit $status
