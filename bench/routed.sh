#!/usr/bin/env bash
# A routed GET hit and a routed SET against the same commands on unrouted keys, through one
# herdguard, in one run: throughput and herdguard's CPU per million requests, at -P 1 and -P 16,
# with and without an L1 on the route. Issue 28's targets: routed GET hit / pass-through GET
# >= 0.95 at both depths, routed SET / pass-through SET >= 0.9 at -P 16.
#
# Usage: bench/routed.sh [BINARY]        (Markdown table on stdout, progress on stderr)
# Env:   ROUNDS=N (default 5)  N=requests per run at -P 1 (default 300000; -P 16 runs 4 N)
#        KEYS=distinct keys (10000)  DEPTHS="1 16"  COMMANDS="GET SET"  L1S="off on" (a subset, for
#        more rounds of one cell)
#
# One redis-server; 2 x KEYS keys (product:<12 digits> and plain:<12 digits>, 100-byte values, no
# TTL) are written to it directly first, so every routed GET is a hit. Per round and per L1 mode
# (off, on) one herdguard (--threads 1 --admin off, route "product:*" to a demo upstream that is
# never asked) serves `redis-benchmark -c 50 -n N -r KEYS -P p` runs of GET and SET, routed and
# plain alternating (routed, plain, plain, routed, ...: neither always goes first). The routed
# GETs must all be hits: the route's hit counter is checked after each round.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
bin=${1:-$root/build/release/herdguard}
ROUNDS=${ROUNDS:-5}
N=${N:-300000}
KEYS=${KEYS:-10000}
DEPTHS=${DEPTHS:-"1 16"}
COMMANDS=${COMMANDS:-"GET SET"}
L1S=${L1S:-"off on"}
DEMO=${DEMO:-$root/build/release/herdguard-demo-upstream}
log() { printf '[routed %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
for tool in redis-server redis-cli redis-benchmark; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found (apt-get install -y redis-server redis-tools)"
done
[ -x "$bin" ] || die "$bin is not an executable (scripts/build.sh release herdguard)"
[ -x "$DEMO" ] || die "$DEMO not found: scripts/build.sh release herdguard-demo-upstream"

bench_workspace routed
bench_start_redis
redis_pid=${pids[0]}
demo_port=$(free_port)
"$DEMO" --listen "127.0.0.1:$demo_port" >"$work/demo.log" 2>&1 &
pids+=($!)

value=$(head -c 100 /dev/zero | tr '\0' v)
log "writing $KEYS product: and $KEYS plain: keys"
# redis-benchmark's -r replaces __rand_int__ with a 12-digit number below KEYS.
awk -v n="$KEYS" -v v="$value" 'BEGIN {for (i = 0; i < n; i++) {
        printf "SET product:%012d %s\r\nSET plain:%012d %s\r\n", i, v, i, v}}' |
    redis-cli -p "$redis_port" --pipe >/dev/null || die "preload failed"
[ "$(redis-cli -p "$redis_port" dbsize)" -ge $((2 * KEYS)) ] || die "preload wrote too few keys"

write_config() {  # file l1(on|off)
    {
        echo "routes:"
        echo "  - name: products"
        echo "    match: \"product:*\""
        echo "    upstream: \"http://127.0.0.1:$demo_port/products/{1}\""
        echo "    ttl: 1h"
        [ "$2" = on ] && printf '    l1:\n      max_bytes: 64mb\n      admit: all\n'
    } >"$1"
}

route_counter() {  # port name -> route_products_<name> from INFO
    redis-cli -p "$1" info herdguard 2>/dev/null | tr -d '\r' | awk -F: -v k="route_products_$2" '$1 == k {print $2}'
}

our_ticks() { local s=0 p t; for p in "${pids[@]}"; do t=$(cpu_ticks "$p" 2>/dev/null) && s=$((s + t)); done; echo "$s"; }

declare -A samples
one_run() {  # port pid l1 p cmd(GET|SET) kind(product|plain)
    local port=$1 pid=$2 l1=$3 p=$4 cmd=$5 kind=$6 args t0 t1 r0 r1 out rps cpu rcpu n=$N
    [ "$p" = 1 ] || n=$((4 * N))
    if [ "$cmd" = GET ]; then args=(GET "$kind:__rand_int__"); else args=(SET "$kind:__rand_int__" "$value"); fi
    t0=$(cpu_ticks "$pid") || die "herdguard is gone"
    r0=$(cpu_ticks "$redis_pid") || die "redis-server is gone"
    out=$(timeout 300 redis-benchmark -p "$port" -c 50 -n "$n" -r "$KEYS" -P "$p" -q "${args[@]}" 2>/dev/null) ||
        die "redis-benchmark failed"
    t1=$(cpu_ticks "$pid") || die "herdguard is gone"
    r1=$(cpu_ticks "$redis_pid") || die "redis-server is gone"
    cpu=$(awk -v d=$((t1 - t0)) -v hz="$clk_tck" -v n="$n" 'BEGIN {printf "%.2f", d / hz * 1e6 / n}')
    rcpu=$(awk -v d=$((r1 - r0)) -v hz="$clk_tck" -v n="$n" 'BEGIN {printf "%.2f", d / hz * 1e6 / n}')
    samples["$l1|$p|$cmd|$kind|rcpu"]+="$rcpu "
    # -q prints progress lines separated by CR, then "GET product:__rand_int__: 98376.78 requests per second".
    rps=$(tr '\r' '\n' <<<"$out" | awk '/requests per second/ {for (i = 1; i < NF; i++) if ($(i + 1) == "requests") print int($i)}' | tail -1)
    [ -n "$rps" ] || die "no figure from redis-benchmark: $out"
    samples["$l1|$p|$cmd|$kind"]+="$rps "
    samples["$l1|$p|$cmd|$kind|cpu"]+="$cpu "
    log "  l1 $l1 -P $p $cmd $kind: $rps rps, cpu-s per 1M: herdguard $cpu, redis $rcpu"
}

flip=0
for round in $(seq 1 "$ROUNDS"); do
    for l1 in $L1S; do
        write_config "$work/hg-$l1.yaml" "$l1"
        wait_quiet 20
        bench_start_herdguard port --config "$work/hg-$l1.yaml" --redis "127.0.0.1:$redis_port" --threads 1
        pid=$hg_pid
        log "round $round, l1 $l1 (herdguard pid $pid, port $port)"
        hits0=$(route_counter "$port" hits)
        for p in $DEPTHS; do
            for cmd in $COMMANDS; do
                if [ $flip = 0 ]; then order="product plain"; else order="plain product"; fi
                flip=$((1 - flip))
                for kind in $order; do one_run "$port" "$pid" "$l1" "$p" "$cmd" "$kind"; done
            done
        done
        hits1=$(route_counter "$port" hits)
        requests=$(route_counter "$port" requests)
        expected=0
        case " $COMMANDS " in *" GET "*)
            for p in $DEPTHS; do if [ "$p" = 1 ]; then expected=$((expected + N)); else expected=$((expected + 4 * N)); fi; done ;;
        esac
        [ "$((hits1 - hits0))" -eq "$expected" ] ||
            die "round $round l1 $l1: $((hits1 - hits0)) routed hits, expected $expected (requests $requests)"
        if [ "$l1" = on ]; then
            samples["$l1|l1_hits"]+="$(route_counter "$port" l1_hits) "
        fi
        stop_pid "$pid"
    done
done

med() { tr ' ' '\n' <<<"${samples["$1"]}" | grep . | median "${2:-0}"; }
echo "| L1 | -P | command | routed rps | plain rps | routed / plain | herdguard cpu-s per 1M: routed / plain | redis cpu-s per 1M: routed / plain |"
echo "|:--|--:|:--|--:|--:|--:|--:|--:|"
for l1 in $L1S; do
    for p in $DEPTHS; do
        for cmd in $COMMANDS; do
            r=$(med "$l1|$p|$cmd|product") pl=$(med "$l1|$p|$cmd|plain")
            rc=$(med "$l1|$p|$cmd|product|cpu" 2) pc=$(med "$l1|$p|$cmd|plain|cpu" 2)
            rr=$(med "$l1|$p|$cmd|product|rcpu" 2) pr=$(med "$l1|$p|$cmd|plain|rcpu" 2)
            echo "| $l1 | $p | $cmd | $r | $pl | $(awk -v a="$r" -v b="$pl" 'BEGIN {printf "%.2f", a / b}') |" \
                 "$rc / $pc | $rr / $pr |"
        done
    done
done
echo
echo "Per round (rps, routed / plain):"
for l1 in $L1S; do
    for p in $DEPTHS; do
        for cmd in $COMMANDS; do
            echo "- L1 $l1, -P $p, $cmd: routed ${samples["$l1|$p|$cmd|product"]}/ plain ${samples["$l1|$p|$cmd|plain"]}"
        done
    done
done
echo
echo "$(basename "$bin") at $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'); $ROUNDS rounds," \
     "$N requests per run at -P 1 and $((4 * N)) at -P 16, $KEYS keys per prefix, redis-benchmark -c 50 -d 100; $(nproc) cores;" \
     "L1 hits per round with L1 on: ${samples["on|l1_hits"]:-none}; waited ${waited_quiet}s for quiet."
