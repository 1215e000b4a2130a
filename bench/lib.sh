# Shared by the bench/ scripts and scripts/client-matrix.sh (sourced, not run): free ports, process
# start-up and shutdown by PID, and the CPU accounting that tells how much other processes took
# from the machine during a measurement. The caller defines log(), $work (a scratch directory),
# our_ticks() (the CPU ticks of the processes it started) and, for bench_start_herdguard, $bin.
# shellcheck shell=bash

clk_tck=$(getconf CLK_TCK)

# A loopback port nothing uses now and not handed out before by this script: random in
# 20000-31999, below Linux's ephemeral range (32768+), so no outgoing connection takes it.
used_ports=" "
free_port_into() {  # VAR: sets VAR (in this shell, so used_ports remembers it)
    local fp_port _  # a name a caller's VAR will not have
    for _ in $(seq 1 200); do
        fp_port=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
        case "$used_ports" in *" $fp_port "*) continue ;; esac
        if command -v ss >/dev/null 2>&1; then
            [ -n "$(ss -Htan "( sport = :$fp_port or dport = :$fp_port )" 2>/dev/null)" ] && continue
        else
            (exec 3<>"/dev/tcp/127.0.0.1/$fp_port") 2>/dev/null && continue
        fi
        used_ports="$used_ports$fp_port "
        printf -v "$1" '%s' "$fp_port"
        return 0
    done
    die "no free port found"
}
# The same, echoed (in a $(...) subshell, which forgets used_ports: the ss check still holds).
free_port() {
    local fp_out
    free_port_into fp_out
    echo "$fp_out"
}

# A scratch directory ($work) and the processes to stop by PID on exit ($pids), with the trap
# that does both. NAME names the directory.
bench_workspace() {  # name
    work=$(mktemp -d "${TMPDIR:-/tmp}/herdguard-$1.XXXXXX")
    pids=()
    trap bench_cleanup EXIT
}
# shellcheck disable=SC2317  # invoked by the trap
bench_cleanup() {
    local p
    for p in "${pids[@]}"; do stop_pid "$p"; done
    rm -rf "$work"
}

# redis-server on a free port, persistence off, its files in $work; extra flags appended. Sets
# redis_port.
# shellcheck disable=SC2120  # the extra flags are optional
bench_start_redis() {
    redis_port=""
    free_port_into redis_port
    redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" "$@" \
        >"$work/redis.log" 2>&1 &
    pids+=($!)
    wait_ping "$redis_port" $! || die "redis-server did not start"
}

wait_ping() {  # port pid: until the server on port answers PING (10 s at most, while pid lives)
    local _
    for _ in $(seq 1 100); do
        kill -0 "$2" 2>/dev/null || return 1
        [ "$(timeout 2 redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ] && return 0
        sleep 0.1
    done
    return 1
}

# shellcheck disable=SC2317  # invoked by the callers' traps
stop_pid() {  # SIGTERM, up to 3 s to exit, then SIGKILL; always reaped ("" does nothing)
    local p=$1 _
    [ -n "$p" ] || return 0
    kill "$p" 2>/dev/null || { wait "$p" 2>/dev/null; return 0; }
    for _ in $(seq 1 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
    return 0
}

cpu_ticks() {  # pid -> utime+stime of the whole process (all threads), in clock ticks; fails when gone
    local s
    s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    s=${s##*) }  # drop "pid (comm) ": comm may contain spaces; field 3 (state) is now field 1
    awk '{print $12 + $13}' <<<"$s"
}

# Busy ticks of the whole machine (user nice system irq softirq: a task's stime includes the
# irq/softirq ticks that hit it), then steal (taken by the hypervisor).
machine_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8, $9}' /proc/stat; }

# shellcheck disable=SC2154,SC2034  # $work comes from the caller; $kids is for the caller
children_secs() {  # sets $kids: cumulative user+sys of this shell's waited-for children
    times >"$work/times"  # in this shell, not in a $(...) subshell, whose children are not ours
    kids=$(awk 'NR == 2 {s = 0; for (i = 1; i <= 2; i++) {split($i, a, "m"); sub("s", "", a[2]); s += a[1] * 60 + a[2]}
                         printf "%.3f", s}' "$work/times")
}

# Waits, at most $1 seconds, until processes other than ours use < 0.25 cores over a 1-second
# sample; after that the run goes ahead anyway (its noise column tells). Adds the seconds it
# waited to $waited_quiet.
waited_quiet=0
wait_quiet() {
    local limit=$1 start=$SECONDS b0 b1 o0 o1 x
    [ "$limit" -gt 0 ] || return 0
    while :; do
        read -r b0 _ <<<"$(machine_ticks)"
        o0=$(our_ticks)
        sleep 1
        read -r b1 _ <<<"$(machine_ticks)"
        o1=$(our_ticks)
        x=$(awk -v b=$((b1 - b0)) -v o=$((o1 - o0)) -v hz="$clk_tck" 'BEGIN {printf "%.2f", (b - o) / hz}')
        awk -v x="$x" 'BEGIN {exit !(x < 0.25)}' && break
        if [ $((SECONDS - start)) -ge "$limit" ]; then
            log "  other processes still use $x cores after ${limit}s: running anyway"
            break
        fi
        [ $((SECONDS - start)) -lt 2 ] && log "  waiting for other processes to go quiet ($x cores busy)"
    done
    local waited=$((SECONDS - start - 1))
    [ "$waited" -gt 0 ] && waited_quiet=$((waited_quiet + waited))
    return 0
}

median() {  # [decimals] values on stdin -> median (mean of the middle two for an even count); empty if none
    sort -g | awk -v d="${1:-2}" '{v[NR] = $1} END {if (NR == 0) exit; f = "%." d "f";
        if (NR % 2) printf f, v[(NR + 1) / 2]; else printf f, (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}

# A Redis Cluster of six nodes (3 masters, 3 replicas, cluster-node-timeout 1000) on free ports
# whose bus ports (port + 10000) are free too, their files in $work/<port>; waits for
# cluster_state:ok on every node. Sets the array `nodes` (ports) and `node_pids`.
bench_start_cluster() {
    local p _ ok
    nodes=()
    node_pids=()
    while [ "${#nodes[@]}" -lt 6 ]; do
        free_port_into p
        [ -n "$(ss -Htan "( sport = :$((p + 10000)) )" 2>/dev/null)" ] && continue
        mkdir -p "$work/$p"
        bench_cluster_node "$p"
        nodes+=("$p")
    done
    local create=()
    for p in "${nodes[@]}"; do create+=("127.0.0.1:$p"); done
    redis-cli --cluster create "${create[@]}" --cluster-replicas 1 --cluster-yes >"$work/create.log" 2>&1 ||
        die "cluster create failed: $(tail -3 "$work/create.log")"
    bench_wait_cluster_ok || die "the cluster never reached cluster_state:ok"
}
bench_cluster_node() {  # port: starts (or restarts, same files) one node; sets node_pids[port]
    (cd "$work/$1" && exec redis-server --port "$1" --bind 127.0.0.1 --save '' --appendonly no \
        --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 1000 \
        --repl-diskless-sync-delay 0 --maxclients 10000 >>"$work/$1/redis.log" 2>&1) &
    pids+=($!)
    node_pids[$1]=$!
    wait_ping "$1" $! || die "cluster node $1 did not start"
}
bench_wait_cluster_ok() {  # every node says cluster_state:ok and every replica has synced (20 s)
    local _ ok p
    for _ in $(seq 1 200); do
        ok=1
        for p in "${nodes[@]}"; do
            redis-cli -p "$p" cluster info 2>/dev/null | grep -q 'cluster_state:ok' || ok=0
            redis-cli -p "$p" info replication 2>/dev/null | grep -Eq 'role:master|master_link_status:up' || ok=0
        done
        [ "$ok" = 1 ] && return 0
        sleep 0.1
    done
    return 1
}

bench_is_master() {  # port: whether that node is a master now (ROLE's first line)
    [ "$(redis-cli -p "$1" role 2>/dev/null | head -1)" = master ]
}

# The cluster's nodes as herdguard's `seeds:` list: [127.0.0.1:p1, 127.0.0.1:p2, ...].
bench_cluster_seeds() {
    local s
    s=$(printf '127.0.0.1:%s, ' "${nodes[@]}")
    echo "[${s%, }]"
}

# herdguard ($bin) on a free port with the caller's flags (--config or --redis, --threads...),
# admin off, log level warn, its log in $work. Ready when PING answers and a keyed command works
# (in front of a cluster: once it has learned the map). Sets VAR to its port and hg_pid.
# shellcheck disable=SC2154  # $bin is the caller's
bench_start_herdguard() {  # VAR flags...
    local var=$1 hs_port _
    shift
    free_port_into hs_port
    "$bin" --listen "127.0.0.1:$hs_port" --admin off --log-level warn "$@" >"$work/hg-$hs_port.log" 2>&1 &
    hg_pid=$!
    pids+=("$hg_pid")
    wait_ping "$hs_port" "$hg_pid" || die "herdguard did not start: $(tail -3 "$work/hg-$hs_port.log")"
    for _ in $(seq 1 100); do
        [ "$(redis-cli -p "$hs_port" set bench:ready 1 2>/dev/null)" = OK ] && break
        sleep 0.1
    done
    printf -v "$var" '%s' "$hs_port"
}
