#!/usr/bin/env bash
# The herd path through a crash failover (issue 13's known limit, DESIGN.md "Redis Cluster"): a
# cold routed key is read through two herdguards (a herd of CLIENTS each) while the upstream takes
# LATENCY_MS to answer; DELAY_MS into that load the master owning the key is killed (kill -9).
# Per trial: how many upstream loads the key cost, how many of the herd's reads failed, and how
# long after the kill a read through each herdguard gets the value again. Then the killed node
# comes back (as a replica) before the next trial.
#
# Usage: bench/cluster_failover.sh [HERDGUARD_BINARY]   (Markdown on stdout, progress on stderr)
# Env:   TRIALS=N (default 6)  CLIENTS=C (default 50)  LATENCY_MS (default 300)
#        DELAYS="0 5 50 150" (ms after the herd starts; the trials cycle through them)
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
TRIALS=${TRIALS:-6}
CLIENTS=${CLIENTS:-50}
LATENCY_MS=${LATENCY_MS:-300}
DELAYS=${DELAYS:-"0 5 50 150"}
bin=${1:-$root/build/release/herdguard}
upstream_bin=$root/build/release/herdguard-demo-upstream
log() { printf '[cluster-failover %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
[ -x "$bin" ] && [ -x "$upstream_bin" ] || die "scripts/build.sh release herdguard herdguard-demo-upstream"
command -v curl >/dev/null || die "curl not found"

bench_workspace cluster-failover
bench_start_cluster

free_port_into up_port
"$upstream_bin" --listen "127.0.0.1:$up_port" --latency-ms "$LATENCY_MS" >"$work/upstream.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$up_port/_stats" >/dev/null && break; sleep 0.1; done

cat >"$work/hg.yaml" <<EOF
redis:
  command_timeout: 3s
  cluster:
    seeds: $(bench_cluster_seeds)
routes:
  - name: products
    match: "product:*"
    upstream: "http://127.0.0.1:$up_port/products/{1}"
    lock_ttl: 5s
    wait_timeout: 8s
    load_timeout: 2s
EOF
hg=()
for _ in 1 2; do
    bench_start_herdguard p --config "$work/hg.yaml" --threads 1
    hg+=("$p")
done

owner_of() {  # key -> the port of the master serving it (the one that does not answer MOVED)
    local p
    for p in "${nodes[@]}"; do
        bench_is_master "$p" || continue
        case "$(redis-cli -p "$p" exists "$1" 2>&1)" in MOVED*|CLUSTERDOWN*) ;; *) echo "$p"; return ;; esac
    done
}
replica_of() {  # master port -> the port of its replica
    local p
    for p in "${nodes[@]}"; do
        redis-cli -p "$p" role 2>/dev/null | sed -n 3p | grep -qx "$1" && { echo "$p"; return; }
    done
}
ms_now() { date +%s%3N; }

echo "| trial | kill after (ms) | upstream loads | failed reads (of $((2 * CLIENTS))) | value again after kill (ms), herdguard 1 / 2 |"
echo "|--:|--:|--:|--:|--:|"
read -ra delays <<<"$DELAYS"
loads_total=0
for t in $(seq 1 "$TRIALS"); do
    delay=${delays[$(((t - 1) % ${#delays[@]}))]}
    key="product:fo-$t-$RANDOM"
    victim=$(owner_of "$key")
    replica=$(replica_of "$victim")
    [ -n "$victim" ] && [ -n "$replica" ] || die "no owner or replica for $key"
    : >"$work/reads"
    herd_pids=()
    for p in "${hg[@]}"; do
        for _ in $(seq 1 "$CLIENTS"); do
            timeout 20 redis-cli -p "$p" get "$key" >>"$work/reads" 2>&1 &
            herd_pids+=($!)
        done
    done
    sleep "$(awk -v d="$delay" 'BEGIN {printf "%.3f", d / 1000}')"
    killed=$(ms_now)
    kill -9 "${node_pids[$victim]}"
    log "trial $t: killed $victim ${delay} ms into the load of $key"
    again=()
    for p in "${hg[@]}"; do
        back=""
        for _ in $(seq 1 300); do
            v=$(timeout 10 redis-cli -p "$p" get "$key" 2>&1)
            case "$v" in '' | ERR* | *herdguard* | CLUSTERDOWN* | MOVED*) sleep 0.05 ;; *) back=$(($(ms_now) - killed)); break ;; esac
        done
        again+=("${back:-never}")
    done
    for j in "${herd_pids[@]}"; do wait "$j" 2>/dev/null; done
    failed=$(grep -cE '^(ERR|CLUSTERDOWN|MOVED|ASK|TRYAGAIN|BUSY|Error|Could not|$)' "$work/reads" || true)
    path=${key#product:}
    loads=$(curl -fs "http://127.0.0.1:$up_port/_stats" | awk -v p="/products/$path" '$2 == p {print $1}')
    loads=${loads:-0}
    loads_total=$((loads_total + loads))
    echo "| $t | $delay | $loads | $failed | ${again[0]} / ${again[1]} |"
    # Back as a replica of the promoted node, synced, before the next trial.
    bench_cluster_node "$victim"
    bench_wait_cluster_ok || die "the cluster did not recover after trial $t"
done
echo
echo "Trials: $TRIALS, $CLIENTS clients per herdguard, upstream latency ${LATENCY_MS} ms, lock_ttl 5 s,"
echo "cluster-node-timeout 1 s; $loads_total loads in all (1 per trial is the no-failover figure)."
