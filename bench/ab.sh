#!/usr/bin/env bash
# Two herdguard binaries side by side, wall clock: redis-benchmark GET and SET through each, in
# rounds A B A B, on one Redis; medians and the ratio B/A, of the throughput and of herdguard's
# CPU time per million requests (steadier than throughput on a shared machine). For a change that must not slow the
# pass-through path (a timing here is noisy: read it with the callgrind counts of
# bench/callgrind.sh, which are not).
#
# Usage: bench/ab.sh BINARY_A BINARY_B        (Markdown table on stdout, progress on stderr)
# Env:   ROUNDS=N (default 5)  N=requests per run (default 200000)  RESP=3 (redis-benchmark -3)
# Each run: herdguard --threads 1 --admin off on a free 127.0.0.1 port, then
# `redis-benchmark -c 50 -n N -d 100 -r 10000 -t get,set -q` with -P 1 and with -P 16.
set -u
here=$(cd "$(dirname "$0")" && pwd)
ROUNDS=${ROUNDS:-5}
N=${N:-200000}
RESP=${RESP:-2}
resp_flag=()
[ "$RESP" = 3 ] && resp_flag=(-3)
log() { printf '[ab %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
[ $# -eq 2 ] || die "usage: bench/ab.sh BINARY_A BINARY_B"
for b in "$@"; do [ -x "$b" ] || die "$b is not an executable"; done

bench_workspace ab
bench_start_redis

declare -A samples
for round in $(seq 1 "$ROUNDS"); do
    for b in "$@"; do
        port=$(free_port)
        "$b" --listen "127.0.0.1:$port" --redis "127.0.0.1:$redis_port" --threads 1 --admin off \
            --log-level warn >"$work/hg.log" 2>&1 &
        pid=$!
        pids+=("$pid")
        wait_ping "$port" "$pid" || die "$b did not start: $(tail -3 "$work/hg.log")"
        for p in 1 16; do
            for t in SET GET; do
                t0=$(cpu_ticks "$pid") || die "$b is gone"
                out=$(timeout 300 redis-benchmark "${resp_flag[@]}" -p "$port" -c 50 -n "$N" -d 100 -r 10000 \
                      -P "$p" -t "$t" -q 2>/dev/null) || die "redis-benchmark through $b failed"
                t1=$(cpu_ticks "$pid") || die "$b is gone"
                cpu=$(awk -v d=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v n="$N" 'BEGIN {printf "%.2f", d / hz * 1e6 / n}')
                samples["$b|$t|$p|cpu"]+="$cpu "
                # -q prints progress lines separated by CR, then "SET: 98376.78 requests per second".
                rps=$(tr '\r' '\n' <<<"$out" | awk -v t="$t:" '$1 == t && $3 == "requests" {print int($2)}' | tail -1)
                [ -n "$rps" ] || die "no $t figure from redis-benchmark: $out"
                samples["$b|$t|$p"]+="$rps "
                log "round $round $b $t -P $p: $rps rps, $cpu cpu-s per 1M requests"
            done
        done
        stop_pid "$pid"
    done
done

a=$1
b=$2
echo "| test | A: rps | B: rps | B/A | A: cpu-s per 1M | B: cpu-s per 1M | B/A |"
echo "|:--|--:|--:|--:|--:|--:|--:|"
for p in 1 16; do
    for t in SET GET; do
        ma=$(tr ' ' '\n' <<<"${samples["$a|$t|$p"]}" | grep . | median 0)
        mb=$(tr ' ' '\n' <<<"${samples["$b|$t|$p"]}" | grep . | median 0)
        ca=$(tr ' ' '\n' <<<"${samples["$a|$t|$p|cpu"]}" | grep . | median 2)
        cb=$(tr ' ' '\n' <<<"${samples["$b|$t|$p|cpu"]}" | grep . | median 2)
        echo "| $t -P $p | $ma | $mb | $(awk -v x="$ma" -v y="$mb" 'BEGIN {printf "%.3f", y / x}') |" \
             "$ca | $cb | $(awk -v x="$ca" -v y="$cb" 'BEGIN {printf "%.3f", y / x}') |"
    done
done
echo
echo "A: $a; B: $b; $ROUNDS rounds, $N requests per test, RESP$RESP."
