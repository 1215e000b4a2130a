#!/usr/bin/env bash
# L1's two other targets (issue 12), on one Redis:
#  1. staleness: a write straight to Redis, then reads through herdguard's L1 until the new value
#     comes back (bench/l1_staleness.py), next to the Redis round trip;
#  2. memory: a scan that reads KEYS distinct routed keys (default 1,000,000, each once, in order,
#     redis-cli --pipe through herdguard) with `admit: all` and with `admit: hot`, l1.max_bytes
#     MAX_MB (default 32). Reported: herdguard's RSS before and after, L1's own byte count, and
#     the growth against max_bytes.
#
# Usage: bench/l1.sh [HERDGUARD_BINARY]    (Markdown on stdout, progress on stderr)
# Env:   KEYS=N  MAX_MB=N  ROUNDS=N (staleness rounds, default 2000)
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
KEYS=${KEYS:-1000000}
MAX_MB=${MAX_MB:-32}
ROUNDS=${ROUNDS:-2000}
bin=${1:-$root/build/release/herdguard}
log() { printf '[l1 %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
[ -x "$bin" ] || die "$bin is not an executable (scripts/build.sh release)"
/usr/bin/python3 -c 'import redis' 2>/dev/null || die "python3-redis is needed (apt-get install python3-redis)"

bench_workspace l1
bench_start_redis

start_herdguard() {  # admit -> sets hg_port, hg_pid
    cat >"$work/hg.yaml" <<EOF
routes:
  - name: items
    match: "items:*"
    upstream: "http://127.0.0.1:9/items/{1}"
    l1: {max_bytes: ${MAX_MB}mb, max_age: 60s, admit: $1}
EOF
    free_port_into hg_port
    "$bin" --config "$work/hg.yaml" --listen "127.0.0.1:$hg_port" --redis "127.0.0.1:$redis_port" --threads 1 \
        --admin off --log-level warn >"$work/hg.log" 2>&1 &
    hg_pid=$!
    pids+=("$hg_pid")
    wait_ping "$hg_port" "$hg_pid" || die "herdguard did not start: $(tail -3 "$work/hg.log")"
    for _ in $(seq 1 50); do  # L1 serves once CLIENT TRACKING is up
        redis-cli -p "$hg_port" info herdguard | grep -q '^l1_active:1' && return 0
        sleep 0.1
    done
    die "L1 did not come on: $(tail -3 "$work/hg.log")"
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
l1_bytes() { redis-cli -p "$1" info herdguard | tr -d '\r' | awk -F: '$1 == "route_items_l1_bytes" {print $2}'; }

echo "## External-write staleness"
echo
start_herdguard all
/usr/bin/python3 "$here/l1_staleness.py" "$redis_port" "$hg_port" "$ROUNDS" || die "staleness run failed"
stop_pid "$hg_pid"

log "preloading $KEYS keys (100-byte values)"
awk -v n="$KEYS" 'BEGIN { v = sprintf("%100s", ""); gsub(/ /, "x", v); for (i = 0; i < n; i++) printf "SET items:%012d %s\n", i, v }' |
    redis-cli -p "$redis_port" --pipe >/dev/null || die "preload failed"

echo
echo "## Memory during a scan of $KEYS distinct keys (l1.max_bytes ${MAX_MB} MB)"
echo
echo "| admit | RSS before (MB) | RSS after (MB) | growth (MB) | L1 bytes (MB) | growth / max_bytes |"
echo "|:--|--:|--:|--:|--:|--:|"
for admit in all hot; do
    start_herdguard "$admit"
    before=$(rss_kb "$hg_pid")
    log "admit: $admit: scanning"
    awk -v n="$KEYS" 'BEGIN { for (i = 0; i < n; i++) printf "GET items:%012d\n", i }' |
        timeout 600 redis-cli -p "$hg_port" --pipe >/dev/null || die "scan through herdguard failed"
    after=$(rss_kb "$hg_pid")
    bytes=$(l1_bytes "$hg_port")
    echo "| $admit | $(awk -v k="$before" 'BEGIN {printf "%.1f", k / 1024}') | $(awk -v k="$after" 'BEGIN {printf "%.1f", k / 1024}') |" \
         "$(awk -v a="$after" -v b="$before" 'BEGIN {printf "%.1f", (a - b) / 1024}') |" \
         "$(awk -v x="$bytes" 'BEGIN {printf "%.1f", x / 1048576}') |" \
         "$(awk -v a="$after" -v b="$before" -v m="$MAX_MB" 'BEGIN {printf "%.3f", (a - b) / 1024 / m}') |"
    stop_pid "$hg_pid"
done
echo
echo "herdguard: $bin --threads 1; redis-cli --pipe sends the whole scan pipelined."
