#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/build.sh -> build/fuzz/) and runs each one for a while.
#
#   scripts/fuzz.sh [seconds-per-target (default 60)] [target...]
#   targets: request_parser reply_framer config_loader url_template (default: all, one by one)
#
# Each target runs in one process (libFuzzer's default: no -jobs/-workers/-fork, so one core
# each); FUZZ_JOBS=N (default 1) runs N targets side by side (CI: 2, one per core), on a fresh copy of its seed corpus fuzz/corpus/<target>/ in
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

# Fuzzes one target; prints its summary line last. Exit 1 on any finding.
fuzz_one() {
    local t=$1 run=build/fuzz/run/$1 rc=0
    rm -rf "$run"
    mkdir -p "$run/corpus" "$run/artifacts"
    cp fuzz/corpus/"$t"/* "$run/corpus/" 2>/dev/null || true
    local args=(-max_total_time="$seconds" -rss_limit_mb=2048 -detect_leaks=1 -print_final_stats=1 -timeout=25
                -artifact_prefix="$run/artifacts/")
    [ -f "fuzz/dict/$t.dict" ] && args+=(-dict="fuzz/dict/$t.dict")
    "build/fuzz/$t" "${args[@]}" "$run/corpus" >"$run/fuzz.log" 2>&1 || rc=$?

    local execs last cov ft corp reports verdict
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$run/fuzz.log" | tail -1)
    last=$(grep -E '^#[0-9]+' "$run/fuzz.log" | grep -E 'cov: ' | tail -1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9A-Za-z]*\).*/\1/p' <<<"$last")
    reports=$(grep -cE 'ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer)|runtime error:|fuzz property violated|SUMMARY: ' "$run/fuzz.log" || true)
    if [ "$rc" -ne 0 ] || [ "$reports" -ne 0 ]; then
        verdict="FAILED (exit $rc)"
        echo "--- $t failed; log tail ($run/fuzz.log):"
        tail -n 60 "$run/fuzz.log"
        find "$run/artifacts" -type f -printf '    artifact: %p\n'
        echo "    replay: build/fuzz/$t ARTIFACT    (keep real bugs under fuzz/findings/$t/)"
    else
        verdict=ok
    fi
    printf '%-15s %5ss  execs %-10s cov %-6s ft %-7s corpus %-10s %s\n' \
        "$t" "$seconds" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$verdict" | tee "$run/summary.txt"
    [ "$verdict" = ok ]
}

jobs_max=${FUZZ_JOBS:-1}
status=0
running=0
for t in "${targets[@]}"; do
    echo "=== $t: ${seconds}s"
    fuzz_one "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs_max" ]; then
        wait -n || status=1
        running=$((running - 1))
    fi
done
while [ "$running" -gt 0 ]; do
    wait -n || status=1
    running=$((running - 1))
done

echo
echo "=== summary"
for t in "${targets[@]}"; do cat "build/fuzz/run/$t/summary.txt" 2>/dev/null || echo "$t: no summary"; done
exit $status
