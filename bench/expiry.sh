#!/usr/bin/env bash
# Expiry under load: a crowd of readers on one routed key across several of its expiries, with
# early refresh (XFetch) off and on, side by side (rounds A B A B; medians). Reports, per expiry,
# the upstream loads and the reads that saw a stale value or a miss.
#
# Usage: bench/expiry.sh                       (Markdown table on stdout, progress on stderr)
# Env:   ROUNDS=N (default 3)  SECONDS_PER_RUN=S (default 12)  TTL_MS=T (default 2000)
#        READERS=C (default 1000)  BETA=B (default 1.0)  LATENCY_MS=L (upstream, default 20)
#        HERDGUARD=PATH (default build/release/herdguard of this checkout)
#        L1=1: the route has `l1: {max_bytes: 16mb, admit: all}` too (both variants)
# Each run: a fresh herdguard (--threads 2) with one route (ttl TTL_MS, no jitter, stale_for
# 30s), its key loaded once, then `redis-benchmark -c READERS GET <key>` for SECONDS_PER_RUN;
# the counts come from INFO herdguard (loads_ok, stale_hits, misses) and are taken after the
# first load. A new key per run, so runs do not share a cached value.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
ROUNDS=${ROUNDS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-12}
TTL_MS=${TTL_MS:-2000}
READERS=${READERS:-1000}
BETA=${BETA:-1.0}
LATENCY_MS=${LATENCY_MS:-20}
HERDGUARD=${HERDGUARD:-$root/build/release/herdguard}
DEMO=${DEMO:-$root/build/release/herdguard-demo-upstream}
log() { printf '[expiry %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
for b in "$HERDGUARD" "$DEMO"; do [ -x "$b" ] || die "$b not found: scripts/build.sh release"; done
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)"

bench_workspace expiry
bench_start_redis --maxclients 10000
demo_port=$(free_port)
"$DEMO" --listen "127.0.0.1:$demo_port" --latency-ms "$LATENCY_MS" >"$work/demo.log" 2>&1 &
pids+=($!)

info_field() {  # port field -> value from INFO herdguard
    redis-cli -p "$1" INFO herdguard | tr -d '\r' | awk -F: -v f="$2" '$1 == f {print $2}'
}

run() {  # variant round -> "loads stale misses expiries" after the first load
    local variant=$1 round=$2 port pid early=""
    [ "$variant" = on ] && early="    early_refresh: {beta: $BETA}"
    local l1=""
    [ "${L1:-0}" = 1 ] && l1="    l1: {max_bytes: 16mb, admit: all}"
    cat >"$work/hg.yaml" <<YAML
routes:
  - name: products
    match: "product:*"
    upstream: "http://127.0.0.1:$demo_port/products/{1}"
    ttl: ${TTL_MS}ms
    ttl_jitter: 0
    stale_for: 30s
$early
$l1
YAML
    port=$(free_port)
    "$HERDGUARD" --config "$work/hg.yaml" --listen "127.0.0.1:$port" --redis "127.0.0.1:$redis_port" \
        --threads 2 --admin off --log-level warn >"$work/hg.log" 2>&1 &
    pid=$!
    pids+=("$pid")
    wait_ping "$port" "$pid" || die "herdguard did not start: $(tail -3 "$work/hg.log")"
    if [ "${L1:-0}" = 1 ]; then  # L1 serves once CLIENT TRACKING is up
        local _
        for _ in $(seq 1 50); do [ "$(info_field "$port" l1_active)" = 1 ] && break; sleep 0.1; done
    fi
    local key="product:expiry-$variant-$round"
    [ -n "$(redis-cli -p "$port" GET "$key")" ] || die "the first GET of $key returned nothing"
    local loads0 stale0 miss0
    loads0=$(info_field "$port" route_products_loads_ok)
    stale0=$(info_field "$port" route_products_stale_hits)
    miss0=$(info_field "$port" route_products_misses)
    local start end
    start=$(date +%s%N)
    timeout -s INT "$SECONDS_PER_RUN" redis-benchmark -p "$port" -c "$READERS" -n 1000000000 -q GET "$key" \
        >/dev/null 2>&1
    end=$(date +%s%N)
    local loads stale miss
    loads=$(( $(info_field "$port" route_products_loads_ok) - loads0 ))
    stale=$(( $(info_field "$port" route_products_stale_hits) - stale0 ))
    miss=$(( $(info_field "$port" route_products_misses) - miss0 ))
    stop_pid "$pid"
    awk -v l="$loads" -v s="$stale" -v m="$miss" -v ns=$((end - start)) -v ttl="$TTL_MS" \
        'BEGIN {e = ns / 1e6 / ttl; printf "%d %d %d %.2f\n", l, s, m, e}'
}

declare -A samples
for round in $(seq 1 "$ROUNDS"); do
    for variant in off on; do
        read -r loads stale miss expiries < <(run "$variant" "$round")
        [ -n "$expiries" ] || die "the $variant run of round $round failed (see above)"
        log "round $round early_refresh $variant: $loads loads, $stale stale reads, $miss misses over $expiries expiries"
        samples["$variant|loads"]+="$(awk -v a="$loads" -v e="$expiries" 'BEGIN {printf "%.2f", a / e}') "
        samples["$variant|bad"]+="$(awk -v a="$((stale + miss))" -v e="$expiries" 'BEGIN {printf "%.1f", a / e}') "
    done
done

[ "${L1:-0}" = 1 ] && echo "With L1 (admit: all) on the route."
echo "| early_refresh | upstream loads per expiry (median) | stale or missed reads per expiry (median) | rounds (loads; stale+missed) |"
echo "|:--|--:|--:|:--|"
for variant in off on; do
    l=$(tr ' ' '\n' <<<"${samples["$variant|loads"]}" | grep . | median 2)
    b=$(tr ' ' '\n' <<<"${samples["$variant|bad"]}" | grep . | median 1)
    label=$variant
    [ "$variant" = on ] && label="on (beta $BETA)"
    echo "| $label | $l | $b | ${samples["$variant|loads"]% }; ${samples["$variant|bad"]% } |"
done
echo
echo "$READERS readers (redis-benchmark -c $READERS), ttl ${TTL_MS} ms, upstream latency ${LATENCY_MS} ms, ${SECONDS_PER_RUN} s per run, $ROUNDS rounds."
