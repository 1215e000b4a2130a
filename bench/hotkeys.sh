#!/usr/bin/env bash
# Hot-key GET (issue 12): 10 hot keys take nearly all reads. Direct Redis, herdguard without L1
# and herdguard with L1 (admit: hot), side by side in rounds (D N L D N L ...), at -P 1 and -P 16.
#
# Usage: bench/hotkeys.sh [HERDGUARD_BINARY]   (Markdown on stdout, progress on stderr)
# Env:   ROUNDS=N (default 3)  N=hot requests per run at -P 1 (default 300000; 8 N at -P 16)
#
# Load: redis-benchmark -c 49 -P <p> -r 10 GET items:__rand_int__ (the 10 hot keys), and beside
# it a second redis-benchmark -c 1 -P 1 -r 100000 with one read for every 99 hot ones on the
# 100,000 other keys (every key is preloaded in Redis, without TTL, so nothing loads from an
# upstream). Reported per target: the hot run's requests per second and p50/p99 latency
# (redis-benchmark --csv), the cold share (counted), the GETs Redis itself ran per second (INFO
# commandstats) and per hot read (less one per cold read). herdguard runs with --threads 1, as
# in bench/ab.sh.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
ROUNDS=${ROUNDS:-3}
N=${N:-300000}
bin=${1:-$root/build/release/herdguard}
log() { printf '[hotkeys %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
[ -x "$bin" ] || die "$bin is not an executable (scripts/build.sh release)"

bench_workspace hotkeys
bench_start_redis
log "preloading 100000 keys"
awk 'BEGIN { for (i = 0; i < 100000; i++) printf "SET items:%012d value-%d-%s\n", i, i, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" }' |
    redis-cli -p "$redis_port" --pipe >/dev/null || die "preload failed"

write_config() {  # file with_l1
    {
        echo "routes:"
        echo "  - name: items"
        echo "    match: \"items:*\""
        echo "    upstream: \"http://127.0.0.1:9/items/{1}\""
        [ "$2" = 1 ] && echo "    l1: {max_bytes: 64mb, max_age: 5s, admit: hot, hot_reads_per_second: 100}"
    } >"$1"
}
write_config "$work/no-l1.yaml" 0
write_config "$work/l1.yaml" 1

redis_gets() { redis-cli -p "$redis_port" info commandstats | tr -d '\r' | awk -F'[=,:]' '$1 == "cmdstat_get" {print $3}'; }
routed_gets() { redis-cli -p "$1" info herdguard | tr -d '\r' | awk -F: '$1 == "route_items_requests" {print $2}'; }
now() { date +%s.%N; }

declare -A samples
run_target() {  # name port pipeline
    local name=$1 port=$2 p=$3 cold_pid g0 g1 t0 t1 c0 c1 csv rps p50 p99
    # Warm-up, 2.5 s: the hot-key board (one-second windows) must see the hot keys before L1
    # admits them. (Options before the command: redis-benchmark takes what follows as arguments.)
    timeout 2.5 redis-benchmark -p "$port" -c 49 -P "$p" -r 10 -n 100000000 -q GET 'items:__rand_int__' >/dev/null 2>&1
    local n=$N
    [ "$p" = 16 ] && n=$((N * 8))  # about as long a run as at -P 1
    if [ "$name" = direct ]; then c0=$(redis_gets); else c0=$(routed_gets "$port"); fi
    g0=$(redis_gets)
    # The cold reads: 1 for every 99 hot ones, alongside (one client, so they spread over the run).
    timeout 300 redis-benchmark -p "$port" -c 1 -P 1 -r 100000 -n $((n / 99)) -q GET 'items:__rand_int__' >/dev/null 2>&1 &
    cold_pid=$!
    t0=$(now)
    csv=$(timeout 300 redis-benchmark -p "$port" -c 49 -P "$p" -r 10 -n "$n" --csv GET 'items:__rand_int__' 2>/dev/null) ||
        die "redis-benchmark against $name failed"
    t1=$(now)
    wait "$cold_pid"  # the cold reads finish too (bounded by their timeout)
    g1=$(redis_gets)
    if [ "$name" = direct ]; then c1=$(redis_gets); else c1=$(routed_gets "$port"); fi
    # "GET items:__rand_int__","rps","avg","min","p50","p95","p99","max"
    read -r rps p50 p99 < <(tail -1 <<<"$csv" | tr -d '"' | awk -F, '{print int($2), $5, $7}')
    [ -n "$rps" ] || die "no figures from redis-benchmark against $name: $csv"
    local secs cold_share redis_rate hot_redis
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')
    cold_share=$(awk -v all=$((c1 - c0)) -v hot="$n" 'BEGIN {c = all - hot; if (c < 0) c = 0; printf "%.2f", 100 * c / all}')
    redis_rate=$(awk -v d=$((g1 - g0)) -v s="$secs" 'BEGIN {printf "%d", d / s}')
    # Redis GETs per hot read: Redis's GETs less one per cold read (a cold key is read from Redis).
    hot_redis=$(awk -v d=$((g1 - g0)) -v all=$((c1 - c0)) -v hot="$n" 'BEGIN {r = (d - (all - hot)) / hot; if (r < 0) r = 0; printf "%.4f", r}')
    samples["$name|$p|hotredis"]+="$hot_redis "
    samples["$name|$p|rps"]+="$rps "
    samples["$name|$p|p50"]+="$p50 "
    samples["$name|$p|p99"]+="$p99 "
    samples["$name|$p|cold"]+="$cold_share "
    samples["$name|$p|redis"]+="$redis_rate "
    log "$name -P $p: $rps rps, p50 $p50 ms, p99 $p99 ms, cold share $cold_share%, redis GETs/s $redis_rate, per hot read $hot_redis"
}

start_herdguard() {  # config -> sets hg_port, hg_pid
    free_port_into hg_port
    "$bin" --config "$1" --listen "127.0.0.1:$hg_port" --redis "127.0.0.1:$redis_port" --threads 1 --admin off \
        --log-level warn >"$work/hg.log" 2>&1 &
    hg_pid=$!
    pids+=("$hg_pid")
    wait_ping "$hg_port" "$hg_pid" || die "herdguard did not start: $(tail -3 "$work/hg.log")"
}

for round in $(seq 1 "$ROUNDS"); do
    for p in 1 16; do
        run_target direct "$redis_port" "$p"
        start_herdguard "$work/no-l1.yaml"
        run_target no-l1 "$hg_port" "$p"
        stop_pid "$hg_pid"
        start_herdguard "$work/l1.yaml"
        run_target l1 "$hg_port" "$p"
        stop_pid "$hg_pid"
    done
done

med() { tr ' ' '\n' <<<"${samples["$1"]}" | grep . | median "${2:-0}"; }
echo "| -P | target | GET/s (hot) | p50 ms | p99 ms | cold share | Redis GETs/s | Redis GETs per hot read | GET/s vs direct |"
echo "|--:|:--|--:|--:|--:|--:|--:|--:|--:|"
for p in 1 16; do
    d=$(med "direct|$p|rps")
    for t in direct no-l1 l1; do
        r=$(med "$t|$p|rps")
        echo "| $p | $t | $r | $(med "$t|$p|p50" 3) | $(med "$t|$p|p99" 3) | $(med "$t|$p|cold" 2)% |" \
             "$(med "$t|$p|redis") | $(med "$t|$p|hotredis" 4) | $(awk -v x="$d" -v y="$r" 'BEGIN {printf "%.2f", y / x}') |"
    done
done
echo
echo "$ROUNDS rounds (medians), $N hot requests per run at -P 1, $((N * 8)) at -P 16, after a 2.5 s warm-up; herdguard: $bin --threads 1."
