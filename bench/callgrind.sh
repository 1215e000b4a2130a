#!/usr/bin/env bash
# Instructions per request under callgrind, for one or more herdguard binaries side by side:
# a pass-through GET and a routed fresh hit. Instruction counts do not depend on what else the
# machine is doing, so this is how a change to the hot path is checked against a noisy machine.
#
# Usage: bench/callgrind.sh BINARY [BINARY...]     (Markdown table on stdout, progress on stderr)
# Env:   ROUNDS=N   rounds, binaries interleaved A B A B (default 2); the table shows medians
#        RESP=3     the requests from a RESP3 client (redis-benchmark -3; default 2)
#        WRITES=1   also SET (100 bytes) on the plain and the routed key: a routed write's lease
#                   revoke (and with L1, its fence and Redis's invalidation push)
#        L1=on      the route has an L1 (admit: all)
#
# Each measurement runs herdguard (--threads 1, --admin off, one route "product:*" to the demo
# upstream) under `valgrind --tool=callgrind`, sends `redis-benchmark -c 50 -P 16 -n N GET <key>`
# for N = 2000 and N = 20000, and takes the slope (I(20000) - I(2000)) / 18000: start-up, the
# first load and shutdown cancel out. The plain key is set in Redis beforehand; the routed key is
# loaded once through herdguard before the counted requests. Everything listens on 127.0.0.1 free
# ports and is stopped by PID on exit.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
ROUNDS=${ROUNDS:-2}
RESP=${RESP:-2}
WRITES=${WRITES:-0}
L1=${L1:-off}
resp_flag=()
[ "$RESP" = 3 ] && resp_flag=(-3)
DEMO=${DEMO:-$root/build/release/herdguard-demo-upstream}

log() { printf '[callgrind %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

[ $# -ge 1 ] || die "usage: bench/callgrind.sh BINARY [BINARY...]"
for tool in valgrind redis-server redis-cli redis-benchmark; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found (apt-get install -y valgrind redis-server redis-tools)"
done
for b in "$@"; do [ -x "$b" ] || die "$b is not an executable"; done
[ -x "$DEMO" ] || die "$DEMO not found: scripts/build.sh release herdguard-demo-upstream"

bench_workspace callgrind
bench_start_redis
demo_port=$(free_port)
"$DEMO" --listen "127.0.0.1:$demo_port" --latency-ms 1 >"$work/demo.log" 2>&1 &
pids+=($!)
redis-cli -p "$redis_port" SET plain:1 "$(head -c 100 /dev/zero | tr '\0' x)" >/dev/null

cat >"$work/herdguard.yaml" <<YAML
routes:
  - name: products
    match: "product:*"
    upstream: "http://127.0.0.1:$demo_port/products/{1}"
    ttl: 1h
YAML
[ "$L1" = on ] && printf '    l1:\n      max_bytes: 64mb\n      admit: all\n' >>"$work/herdguard.yaml"
value=$(head -c 100 /dev/zero | tr '\0' v)

# binary key n [SET] -> total instructions of the herdguard process (start-up and shutdown included)
measure() {
    local bin=$1 key=$2 n=$3 port out pid command=(GET "$2")
    [ "${4:-GET}" = SET ] && command=(SET "$2" "$value")
    port=$(free_port)
    out="$work/cg.out"
    rm -f "$out"
    valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" --config "$work/herdguard.yaml" \
        --listen "127.0.0.1:$port" --redis "127.0.0.1:$redis_port" --threads 1 --admin off \
        --log-level warn >"$work/herdguard.log" 2>&1 &
    pid=$!
    pids+=("$pid")
    local _
    for _ in $(seq 1 300); do  # valgrind starts slowly: 30 s at most
        kill -0 "$pid" 2>/dev/null || break
        [ "$(timeout 5 redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && break
        sleep 0.1
    done
    [ "$(timeout 10 redis-cli -p "$port" GET "$key" 2>/dev/null | head -c 1)" != "" ] ||
        die "GET $key through $bin returned nothing; log: $(tail -5 "$work/herdguard.log")"
    timeout 300 redis-benchmark "${resp_flag[@]}" -p "$port" -c 50 -P 16 -n "$n" -q "${command[@]}" >/dev/null 2>&1 ||
        die "redis-benchmark through $bin failed"
    # SIGTERM, then wait for callgrind to write its counts: under valgrind, on a busy machine,
    # exiting takes longer than lib.sh's 3 s before SIGKILL (which would lose the counts).
    kill "$pid" 2>/dev/null
    local _i
    for _i in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    stop_pid "$pid"
    local total
    total=$(awk '/^(summary|totals):/ {print $2; exit}' "$out" 2>/dev/null)
    [ -n "$total" ] || die "no callgrind counts from $bin (did it exit in time?)"
    echo "$total"
}

paths=(plain routed)
[ "$WRITES" = 1 ] && paths+=(plain-set routed-set)
declare -A samples
for round in $(seq 1 "$ROUNDS"); do
    for b in "$@"; do
        for path in "${paths[@]}"; do
            key=plain:1
            case $path in routed*) key=product:1 ;; esac
            cmd=GET
            case $path in *-set) cmd=SET ;; esac
            small=$(measure "$b" "$key" 2000 "$cmd")
            large=$(measure "$b" "$key" 20000 "$cmd")
            [ -n "$small" ] && [ -n "$large" ] || die "measurement of $b $path failed (see above)"
            per=$(( (large - small) / 18000 ))
            log "round $round $b $path: $per instructions per request"
            samples["$b|$path"]+="$per "
        done
    done
done

if [ "$WRITES" = 1 ]; then
    echo "| binary | pass-through GET | routed fresh hit | pass-through SET | routed SET | rounds (each column's, in order) |"
    echo "|:--|--:|--:|--:|--:|:--|"
else
    echo "| binary | pass-through GET | routed fresh hit | rounds (pass-through; routed) |"
    echo "|:--|--:|--:|:--|"
fi
for b in "$@"; do
    row="| $b" rounds=""
    for path in "${paths[@]}"; do
        row+=" | $(tr ' ' '\n' <<<"${samples["$b|$path"]}" | grep . | median 0)"
        rounds+="${rounds:+; }${samples["$b|$path"]% }"
    done
    echo "$row | $rounds |"
done
echo
echo "L1 on the route: $L1; RESP$RESP; $ROUNDS rounds."
