#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/build.sh -> build/fuzz/) and runs each one for a while.
#
#   scripts/fuzz.sh [seconds-per-target (default 60)] [target...]
#   targets: request_parser reply_framer config_loader url_template (default: all, one by one)
#
# Each target runs alone, in one process (libFuzzer's default: no -jobs/-workers/-fork, so at
# most one core busy), on a fresh copy of its seed corpus fuzz/corpus/<target>/ in
# build/fuzz/run/<target>/corpus, with its dictionary fuzz/dict/<target>.dict when there is one:
#   -max_total_time=S -rss_limit_mb=2048 -detect_leaks=1 -print_final_stats=1 -timeout=25
# A crash, a property violation (abort), a leak, a sanitizer report, a timeout or an OOM makes
# the script exit 1 after the remaining targets ran; the reproducer is in
# build/fuzz/run/<target>/artifacts/ (replay it: build/fuzz/<target> FILE).
# Per target it prints executions (stat::number_of_executed_units) and coverage (cov/ft of the
# last status line). Logs: build/fuzz/run/<target>/fuzz.log.
set -euo pipefail
cd "$(dirname "$0")/.."

all_targets=(request_parser reply_framer config_loader url_template)
seconds=60
if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then
    seconds=$1
    shift
fi
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")

fuzz/build.sh "${targets[@]}"

# Sanitizers stop at the first report, with a stack; libFuzzer then saves the input.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:symbolize=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

status=0
summary=()
for t in "${targets[@]}"; do
    run=build/fuzz/run/$t
    rm -rf "$run"
    mkdir -p "$run/corpus" "$run/artifacts"
    cp fuzz/corpus/"$t"/* "$run/corpus/" 2>/dev/null || true
    args=(-max_total_time="$seconds" -rss_limit_mb=2048 -detect_leaks=1 -print_final_stats=1 -timeout=25
          -artifact_prefix="$run/artifacts/")
    [ -f "fuzz/dict/$t.dict" ] && args+=(-dict="fuzz/dict/$t.dict")
    echo "=== $t: ${seconds}s"
    rc=0
    "build/fuzz/$t" "${args[@]}" "$run/corpus" >"$run/fuzz.log" 2>&1 || rc=$?

    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$run/fuzz.log" | tail -1)
    last=$(grep -E '^#[0-9]+' "$run/fuzz.log" | grep -E 'cov: ' | tail -1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9A-Za-z]*\).*/\1/p' <<<"$last")
    reports=$(grep -cE 'ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer)|runtime error:|fuzz property violated|SUMMARY: ' "$run/fuzz.log" || true)
    if [ "$rc" -ne 0 ] || [ "$reports" -ne 0 ]; then
        verdict="FAILED (exit $rc)"
        status=1
        echo "--- $t failed; log tail ($run/fuzz.log):"
        tail -n 60 "$run/fuzz.log"
        find "$run/artifacts" -type f -printf '    artifact: %p\n'
        echo "    replay: build/fuzz/$t ARTIFACT    (keep real bugs under fuzz/findings/$t/)"
    else
        verdict=ok
    fi
    line=$(printf '%-15s %5ss  execs %-10s cov %-6s ft %-7s corpus %-10s %s' \
        "$t" "$seconds" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$verdict")
    echo "$line"
    summary+=("$line")
done

echo
echo "=== summary"
printf '%s\n' "${summary[@]}"
exit $status
