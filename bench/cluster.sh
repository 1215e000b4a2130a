#!/usr/bin/env bash
# In front of a Redis Cluster (issue 13), side by side in one run: redis-benchmark --cluster
# straight to a six-node cluster (3 masters, 3 replicas), through herdguard in front of that
# cluster, and through herdguard in front of one Redis. SET and GET on 100k random keys (so every
# master gets its share), -P 1 and -P 16, interleaved round by round (A B C A B C ...), medians
# and ratios to direct. A benchmark, not a test: exits 0 even when targets are missed.
#
# Usage: bench/cluster.sh [HERDGUARD_BINARY]    (Markdown on stdout, progress on stderr)
# Env:   ROUNDS=N (default 3)  N1=requests at -P 1 (default 200000)  N16=at -P 16 (default 2000000)
#        CLIENTS=C (default 50)  HG_THREADS=T (default 1, as in the pass-through benchmark)
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
ROUNDS=${ROUNDS:-3}
N1=${N1:-200000}
N16=${N16:-2000000}
CLIENTS=${CLIENTS:-50}
HG_THREADS=${HG_THREADS:-1}
bin=${1:-$root/build/release/herdguard}
log() { printf '[cluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
[ -x "$bin" ] || die "$bin is not an executable (scripts/build.sh release)"
for tool in redis-server redis-cli redis-benchmark; do
    command -v "$tool" >/dev/null || die "$tool not found (apt-get install -y redis-server redis-tools)"
done

bench_workspace cluster

bench_start_cluster
bench_start_redis --maxclients 10000

cat >"$work/hg-cluster.yaml" <<EOF
redis:
  cluster:
    seeds: $(bench_cluster_seeds)
EOF
bench_start_herdguard hg_cluster --config "$work/hg-cluster.yaml" --threads "$HG_THREADS"
bench_start_herdguard hg_single --redis "127.0.0.1:$redis_port" --threads "$HG_THREADS"

# One redis-benchmark run -> "set_rps get_rps"
run() {  # target pipeline n
    local args=(-h 127.0.0.1 -t set,get -n "$3" -c "$CLIENTS" -P "$2" -r 100000 -d 64 --csv)
    case "$1" in
        direct) args+=(--cluster -p "${nodes[0]}") ;;
        cluster) args+=(-p "$hg_cluster") ;;
        single) args+=(-p "$hg_single") ;;
    esac
    timeout 600 redis-benchmark "${args[@]}" 2>/dev/null |
        awk -F'","' '/^"SET"/ {s = $2} /^"GET"/ {g = $2} END {printf "%d %d\n", s, g}'
}

targets=(direct cluster single)
echo "| pipeline | test | redis-benchmark --cluster, direct | herdguard, cluster | herdguard, one Redis | cluster / direct | target |"
echo "|--:|:--|--:|--:|--:|--:|--:|"
for P in 1 16; do
    n=$N1
    [ "$P" = 16 ] && n=$N16
    for t in "${targets[@]}"; do : >"$work/$t-$P.txt"; done
    for r in $(seq 1 "$ROUNDS"); do
        for t in "${targets[@]}"; do
            log "-P $P round $r: $t"
            run "$t" "$P" "$n" >>"$work/$t-$P.txt"
        done
    done
    target=0.9
    [ "$P" = 16 ] && target=0.7
    for col in 1 2; do
        name=SET
        [ "$col" = 2 ] && name=GET
        d=$(awk -v c=$col '{print $c}' "$work/direct-$P.txt" | median 0)
        c=$(awk -v c=$col '{print $c}' "$work/cluster-$P.txt" | median 0)
        s=$(awk -v c=$col '{print $c}' "$work/single-$P.txt" | median 0)
        ratio=$(awk -v a="$c" -v b="$d" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')
        echo "| $P | $name | $d | $c | $s | $ratio | $target |"
    done
done
echo
echo "Rounds: $ROUNDS, medians of requests per second; -c $CLIENTS, -r 100000, -d 64; herdguard --threads $HG_THREADS."
