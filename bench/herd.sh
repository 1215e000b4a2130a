#!/usr/bin/env bash
# Herd benchmark: K concurrent clients spread over M herdguard instances hit one key as it
# expires (upstream latency 200 ms), protected (the default) vs `protect: false` (plain
# cache-aside: every miss loads). Also the routed-GET hit path vs plain pass-through GET with
# redis-benchmark, and a latency-over-time plot of one herd. Prints a Markdown report on stdout
# (progress on stderr). A benchmark, not a test: exits 0 even when targets are missed.
#
# Usage: bench/herd.sh
# Env:   KS="100 1000 10000"   client counts         MS="1 3"   herdguard instance counts
#        SCENARIOS="hit cold stale slow fail fail0"    (see the table below for what each one is)
#        PARTS="herd ratio plot"   which parts to run
#        HG_THREADS=1          worker threads per herdguard instance
#        HERD_ROUNDS=3         rounds of the whole herd matrix (interleaved; the table shows medians)
#        ROUNDS=3              redis-benchmark rounds of the hit-path ratio
#        RESULTS=DIR           where raw CSVs, summaries and the PNG go (default bench/results)
#        HERDGUARD=PATH, DEMO_UPSTREAM=PATH, HERD_BENCH=PATH   binaries (defaults: build/release/...;
#                              herd_bench is compiled with g++ into build/herd_bench/ when missing)
#        WAIT_OTHERS=S         before each measurement, wait up to S s in all (default 2400) while
#                              passthrough.sh, a redis-benchmark not ours, or a compiler is running
#        QUIET_WAIT=S          before each run, also wait up to S s (default 120; 0: never) until other
#                              processes use < 0.25 cores over a 1 s sample; QUIET_TOTAL=S caps the
#                              sum of those waits (default 3600). Each run's "other cores" column tells.
#        KEEP_LOGS=1           keep the scratch dir (configs, process logs) and print its path
#
# Scenarios (a fresh key per run; upstream counts are reset before and read after each herd, once
# the upstream has been quiet for 1 s):
#   hit    key fresh in Redis (the plain hit, the baseline for "stale")
#   cold   key absent
#   stale  key loaded with ttl 1s (jitter 0), stale_for 30s, stale_if_error 30s; the herd starts once
#          PTTL (read on Redis directly) says it is 100 ms .. 2 s past its fresh time
#   slow   key absent, upstream latency 1500 ms > wait_timeout 1s (load_timeout 3s)
#   fail   key absent, upstream answers 500 (after 200 ms), breaker min_calls 5, error_ttl 1s
#   fail0  the same with error_ttl 0 (failures not remembered)
# Every process (redis-server, demo upstream, herdguards) listens on a free 127.0.0.1 port and
# is stopped by PID on exit. Each run gets fresh herdguard instances (fresh breaker and flights).
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
KS=${KS:-"100 1000 10000"}
MS=${MS:-"1 3"}
SCENARIOS=${SCENARIOS:-"hit cold stale slow fail fail0"}
PARTS=${PARTS:-"herd ratio plot"}
HG_THREADS=${HG_THREADS:-1}
ROUNDS=${ROUNDS:-3}
HERD_ROUNDS=${HERD_ROUNDS:-3}
RESULTS=${RESULTS:-$here/results}
HERDGUARD=${HERDGUARD:-$root/build/release/herdguard}
DEMO_UPSTREAM=${DEMO_UPSTREAM:-$root/build/release/herdguard-demo-upstream}
HERD_BENCH=${HERD_BENCH:-}
WAIT_OTHERS=${WAIT_OTHERS:-2400}
KEEP_LOGS=${KEEP_LOGS:-0}
QUIET_WAIT=${QUIET_WAIT:-120}
QUIET_TOTAL=${QUIET_TOTAL:-3600}
UPSTREAM_LATENCY=200

log() { printf '[herd %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
has_part() { case " $PARTS " in *" $1 "*) return 0 ;; esac; return 1; }

for tool in redis-server redis-cli redis-benchmark curl jq awk sort; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found (apt-get install -y redis-server redis-tools curl jq)"
done
[ -x "$HERDGUARD" ] || die "$HERDGUARD not found: scripts/build.sh release herdguard herdguard-demo-upstream"
[ -x "$DEMO_UPSTREAM" ] || die "$DEMO_UPSTREAM not found: scripts/build.sh release herdguard-demo-upstream"
if [ -z "$HERD_BENCH" ]; then
    if [ -x "$root/build/release/bench/herd_bench" ] && [ "$root/build/release/bench/herd_bench" -nt "$here/herd_bench.cpp" ]; then
        HERD_BENCH=$root/build/release/bench/herd_bench
    else
        HERD_BENCH=$root/build/herd_bench/herd_bench
        if [ ! -x "$HERD_BENCH" ] || [ "$here/herd_bench.cpp" -nt "$HERD_BENCH" ]; then
            log "compiling $HERD_BENCH"
            mkdir -p "$(dirname "$HERD_BENCH")"
            g++ -O2 -std=c++20 -pthread -o "$HERD_BENCH" "$here/herd_bench.cpp" || die "could not compile herd_bench"
        fi
    fi
fi
rm -rf "$RESULTS/logs" "$RESULTS/raw"
mkdir -p "$RESULTS/raw" || die "cannot create $RESULTS"

# --- file descriptors: 10000 clients need 10000 sockets in herd_bench and in one herdguard, and
# unprotected, up to 10000 upstream connections more. Children inherit this limit.
hard_fds=$(ulimit -Hn)
if [ "$hard_fds" = unlimited ]; then ulimit -Sn 65536 2>/dev/null; else ulimit -Sn "$hard_fds" 2>/dev/null; fi
FDS=$(ulimit -Sn)
log "ulimit -n: $FDS"

work=$(mktemp -d "${TMPDIR:-/tmp}/herdguard-herd.XXXXXX")
pids=()
hg_pids=()
# shellcheck disable=SC2317
cleanup() {
    local p
    for p in "${hg_pids[@]}" "${pids[@]}"; do stop_pid "$p"; done
    if [ "$KEEP_LOGS" = 1 ]; then log "logs kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- other benchmarks: this is a shared 2-core machine.
waited_others=0
wait_others() {
    local start=$SECONDS busy
    while :; do
        busy=""
        # by name, or run as "bash bench/passthrough.sh"
        pgrep -f 'passthrough\.sh' >/dev/null 2>&1 && busy="passthrough.sh"
        # Outside our own ratio runs, any redis-benchmark is someone else's.
        if [ -z "$busy" ] && pgrep -x redis-benchmark >/dev/null 2>&1; then busy="redis-benchmark"; fi
        if [ -z "$busy" ] && pgrep -x cc1plus >/dev/null 2>&1; then busy="a compiler (cc1plus)"; fi
        [ -z "$busy" ] && break
        if [ $((waited_others + SECONDS - start)) -ge "$WAIT_OTHERS" ]; then
            log "  $busy still running after ${WAIT_OTHERS}s of waiting: going ahead (numbers may be disturbed)"
            break
        fi
        log "  $busy is running: waiting 30 s"
        sleep 30
    done
    waited_others=$((waited_others + SECONDS - start))
}

# --- noise: CPU the machine spent busy during a measurement minus what our processes (redis-server,
# demo upstream, herdguards, and this shell's waited-for children: herd_bench, redis-benchmark) used,
# as average cores. Measured as passthrough.sh does; +-0.1 or so.
our_ticks() {
    local sum=0 p v
    for p in "${pids[@]}" "${hg_pids[@]}"; do
        v=$(cpu_ticks "$p") && sum=$((sum + v))
    done
    echo "$sum"
}
noise_begin() {
    read -r n_busy0 _ <<<"$(machine_ticks)"
    n_ours0=$(our_ticks)
    children_secs
    n_kids0=$kids
    n_wall0=$(date +%s.%N)
}
noise_end() {  # sets $other (average cores)
    local b1 o1 w1
    read -r b1 _ <<<"$(machine_ticks)"
    o1=$(our_ticks)
    children_secs
    w1=$(date +%s.%N)
    other=$(awk -v b=$((b1 - n_busy0)) -v o=$((o1 - n_ours0)) -v k0="$n_kids0" -v k1="$kids" -v hz="$clk_tck" \
        -v w0="$n_wall0" -v w1="$w1" 'BEGIN {x = ((b - o) / hz - (k1 - k0)) / (w1 - w0); if (x < 0) x = 0; printf "%.2f", x}')
}

# Before a run: wait (at most QUIET_WAIT s, QUIET_TOTAL s in all) until other processes use < 0.25 cores.
wait_quiet_capped() {
    local left=$((QUIET_TOTAL - waited_quiet))
    wait_quiet "$((QUIET_WAIT < left ? QUIET_WAIT : left))"
}

# --- redis-server and the demo upstream, for the whole run.
redis_port=$(free_port)
redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no --maxclients 10000 \
    --daemonize no --logfile "$work/redis.log" >"$work/redis.out" 2>&1 &
redis_pid=$!
pids+=("$redis_pid")
wait_ping "$redis_port" "$redis_pid" || die "redis-server did not start: $(tail -5 "$work/redis.log")"
rcli() { redis-cli -h 127.0.0.1 -p "$redis_port" "$@"; }

up_port=$(free_port)
"$DEMO_UPSTREAM" --listen "127.0.0.1:$up_port" --latency-ms "$UPSTREAM_LATENCY" >"$work/upstream.log" 2>&1 &
up_pid=$!
pids+=("$up_pid")
up() { curl -s --max-time 5 "http://127.0.0.1:$up_port$1"; }
for _ in $(seq 1 100); do up /_stats >/dev/null && break; sleep 0.05; done
up /_stats >/dev/null || die "demo upstream did not start: $(tail -5 "$work/upstream.log")"

# --- herdguard instances for one run.
run_no=0
# route_yaml SCENARIO PROTECT -> the route's fields
route_yaml() {
    local s=$1 protect=$2
    cat <<EOF
  - name: products
    match: "product:*"
    upstream: "http://127.0.0.1:$up_port/products/{1}"
    ttl_jitter: 0
    protect: $protect
EOF
    case "$s" in
        hit) printf '    ttl: 1h\n    stale_for: 30s\n    stale_if_error: 30s\n' ;;
        cold) printf '    ttl: 1m\n' ;;
        stale) printf '    ttl: 1s\n    stale_for: 30s\n    stale_if_error: 30s\n' ;;
        slow) printf '    ttl: 1m\n    wait_timeout: 1s\n    load_timeout: 3s\n' ;;
        fail) printf '    ttl: 1m\n    error_ttl: 1s\n    breaker: {min_calls: 5}\n' ;;
        fail0) printf '    ttl: 1m\n    error_ttl: 0s\n    breaker: {min_calls: 5}\n' ;;
        ratio) printf '    ttl: 1h\n' ;;
        *) die "unknown scenario $s" ;;
    esac
}
hg_ports=()
start_instances() {  # M SCENARIO PROTECT -> hg_ports, hg_pids
    local m=$1 s=$2 protect=$3 i port cfg
    cfg="$work/run$run_no.yaml"
    {
        printf 'threads: %s\nlog_level: warn\nshutdown_timeout: 1s\n' "$HG_THREADS"
        printf 'redis:\n  address: 127.0.0.1:%s\n' "$redis_port"
        printf 'limits:\n  max_clients: 20000\n'
        printf 'routes:\n'
        route_yaml "$s" "$protect"
    } >"$cfg"
    "$HERDGUARD" --check --config "$cfg" >"$work/check.out" 2>&1 || die "config rejected: $(cat "$work/check.out")"
    hg_ports=()
    hg_pids=()
    for i in $(seq 1 "$m"); do
        port=$(free_port)
        "$HERDGUARD" --config "$cfg" --listen "127.0.0.1:$port" --admin off \
            >>"$work/herdguard-run$run_no-$i.log" 2>&1 &
        hg_pids+=("$!")
        hg_ports+=("$port")
        wait_ping "$port" "$!" || die "herdguard did not start: $(tail -5 "$work/herdguard-run$run_no-$i.log")"
    done
}
stop_instances() {
    local p
    for p in "${hg_pids[@]}"; do stop_pid "$p"; done
    hg_pids=()
}
# Sum of route counter NAME over the running instances.
counter_sum() {
    local port sum=0 v
    for port in "${hg_ports[@]}"; do
        v=$(redis-cli -h 127.0.0.1 -p "$port" info herdguard 2>/dev/null | tr -d '\r' |
            awk -F: -v k="route_products_$1" '$1 == k {print $2}')
        sum=$((sum + ${v:-0}))
    done
    echo "$sum"
}
up_total() { up /_stats | awk '/^total/ {print $2}'; }
up_path() { up /_stats | awk -v p="$1" '$2 == p {print $1}'; }
# Waits until the upstream's total count has not moved for 1 s (at most 30 s).
wait_upstream_quiet() {
    local last now stable=0 _
    last=$(up_total)
    for _ in $(seq 1 150); do
        sleep 0.2
        now=$(up_total)
        if [ "$now" = "$last" ]; then stable=$((stable + 1)); else stable=0; fi
        last=$now
        [ "$stable" -ge 5 ] && return 0
    done
    return 1
}

summaries="$RESULTS/herd-summaries.jsonl"
rows="$work/rows.tsv"
: >"$summaries"
: >"$rows"

# run_one SCENARIO K M PROTECT ROUND CELL
run_one() {
    local s=$1 k=$2 m=$3 protect=$4 round=$5 cell=$6 key id p note="" json="" path pttl i
    run_no=$((run_no + 1))
    p=$([ "$protect" = true ] && echo on || echo off)
    id="r$run_no-$s-k$k-m$m-$p-$RANDOM"
    key="product:$id"
    path="/products/$id"
    wait_others
    wait_quiet_capped
    case "$s" in
        slow) up "/_control?latency_ms=1500&status=200" >/dev/null ;;
        fail | fail0) up "/_control?latency_ms=$UPSTREAM_LATENCY&status=500" >/dev/null ;;
        *) up "/_control?latency_ms=$UPSTREAM_LATENCY&status=200" >/dev/null ;;
    esac
    start_instances "$m" "$s" "$protect"
    case "$s" in
        hit | stale)
            # Loaded through herdguard, as a real value would be.
            [ -n "$(redis-cli -h 127.0.0.1 -p "${hg_ports[0]}" GET "$key")" ] || note="preload failed"
            ;;
    esac
    if [ "$s" = stale ]; then
        # Past its fresh time (PTTL <= keep = 30000) by at least 100 ms, polled on Redis directly.
        for i in $(seq 1 200); do
            pttl=$(rcli PTTL "$key")
            [ "$pttl" -le 29900 ] 2>/dev/null && break
            sleep 0.02
        done
        if ! [ "$pttl" -le 29900 ] 2>/dev/null || [ "$pttl" -lt 28000 ]; then note="${note:+$note; }PTTL $pttl at the herd"; fi
    fi
    up /_reset >/dev/null
    local raw="$RESULTS/raw/$s-k$k-m$m-$p-r$round.csv"
    local ports
    ports=$(IFS=,; echo "${hg_ports[*]}")
    noise_begin
    "$HERD_BENCH" --ports "$ports" --clients "$k" --key "$key" --label "$s k$k m$m $p r$round" \
        --raw "$raw" --timeout-ms 30000 --connect-timeout-ms 60000 >"$work/bench.json" 2>"$work/bench.err"
    local rc=$?
    noise_end
    json=$(cat "$work/bench.json")
    [ -n "$json" ] || { json='{}'; note="${note:+$note; }herd_bench failed (rc $rc): $(head -c 200 "$work/bench.err")"; }
    wait_upstream_quiet || note="${note:+$note; }upstream still busy after 30 s"
    local reqs total
    reqs=$(up_path "$path")
    reqs=${reqs:-0}
    total=$(up_total)
    [ "$total" != "$reqs" ] && note="${note:+$note; }upstream total $total"
    # herdguard's own view, for the notes
    local loads_ok loads_failed rejected timeouts coalesced contended stale_hits refreshes
    loads_ok=$(counter_sum loads_ok)
    loads_failed=$(counter_sum loads_failed)
    rejected=$(counter_sum loads_rejected_breaker)
    timeouts=$(counter_sum wait_timeouts)
    coalesced=$(counter_sum coalesced)
    contended=$(counter_sum lock_contended)
    stale_hits=$(counter_sum stale_hits)
    refreshes=$(counter_sum background_refreshes)
    for i in "${!hg_pids[@]}"; do
        kill -0 "${hg_pids[$i]}" 2>/dev/null || note="${note:+$note; }herdguard #$((i + 1)) exited: $(tail -2 "$work/herdguard-run$run_no-$((i + 1)).log" | tr '\n' ' ')"
    done
    local hglog
    hglog=$(cat "$work"/herdguard-run"$run_no"-*.log 2>/dev/null | grep -v -c '^$')
    if [ "${hglog:-0}" -gt 0 ]; then
        mkdir -p "$RESULTS/logs"
        for i in "${!hg_ports[@]}"; do
            cp "$work/herdguard-run$run_no-$((i + 1)).log" "$RESULTS/logs/$s-k$k-m$m-$p-r$round-instance$((i + 1)).log" 2>/dev/null
        done
    fi
    stop_instances
    json=$(jq -c --arg s "$s" --argjson k "$k" --argjson m "$m" --arg p "$protect" --argjson reqs "$reqs" \
        --argjson total "${total:-0}" --arg note "$note" --argjson ok "${loads_ok:-0}" \
        --argjson failed "${loads_failed:-0}" --argjson rej "${rejected:-0}" --argjson to "${timeouts:-0}" \
        --argjson co "${coalesced:-0}" --argjson ct "${contended:-0}" --argjson sh "${stale_hits:-0}" \
        --argjson bg "${refreshes:-0}" --argjson logl "${hglog:-0}" --argjson round "$round" \
        --argjson cell "$cell" --argjson other "$other" \
        '. + {scenario: $s, k: $k, m: $m, protect: $p, round: $round, cell: $cell, other_cores: $other,
              upstream_requests: $reqs, upstream_total: $total,
              note: $note, hg_loads_ok: $ok, hg_loads_failed: $failed, hg_rejected_breaker: $rej,
              hg_wait_timeouts: $to, hg_coalesced: $co, hg_lock_contended: $ct, hg_stale_hits: $sh,
              hg_background_refreshes: $bg, hg_log_lines: $logl}' <<<"$json" 2>/dev/null) ||
        json="{\"scenario\":\"$s\",\"k\":$k,\"m\":$m,\"protect\":\"$protect\",\"round\":$round,\"cell\":$cell,\"note\":\"bad herd_bench output\"}"
    echo "$json" >>"$summaries"
    log "  $s K=$k M=$m protect=$protect: upstream $reqs, $(jq -r '"p50 \(.p50_ms) p99 \(.p99_ms) max \(.max_ms) errors \(.errors)"' <<<"$json" 2>/dev/null), other ${other} cores ${note:+($note)}"
}

start_time=$(date +%s)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

if has_part herd; then
    for round in $(seq 1 "$HERD_ROUNDS"); do
        cell=0
        for s in $SCENARIOS; do
            for k in $KS; do
                for m in $MS; do
                    for protect in true false; do
                        cell=$((cell + 1))
                        log "round $round/$HERD_ROUNDS: $s K=$k M=$m protect=$protect"
                        run_one "$s" "$k" "$m" "$protect" "$round" "$cell"
                    done
                done
            done
        done
    done
fi

# --- routed hit vs pass-through GET, redis-benchmark, same herdguard.
ratio_tsv="$work/ratio.tsv"
: >"$ratio_tsv"
if has_part ratio; then
    up "/_control?latency_ms=$UPSTREAM_LATENCY&status=200" >/dev/null
    run_no=$((run_no + 1))
    start_instances 1 ratio true
    rport=${hg_ports[0]}
    hot=$(redis-cli -h 127.0.0.1 -p "$rport" GET product:hot)
    rcli SET plain:hot "$hot" >/dev/null
    log "ratio: product:hot = '$hot' (PTTL $(rcli PTTL product:hot)), plain:hot the same bytes"
    wait_others
    for t in product:hot plain:hot; do
        redis-benchmark -h 127.0.0.1 -p "$rport" -c 50 -n 20000 -q GET "$t" >/dev/null 2>&1
    done
    hits0=$(counter_sum hits)
    for round in $(seq 1 "$ROUNDS"); do
        for P in 1 16; do
            for t in product:hot plain:hot; do
                wait_others
                wait_quiet_capped
                noise_begin
                timeout 300 redis-benchmark -h 127.0.0.1 -p "$rport" -c 50 -n 200000 -P "$P" -q --csv GET "$t" \
                    >"$work/rb.csv" 2>"$work/rb.err"
                noise_end
                rps=$(awk -F'"' '{if ($4 ~ /^[0-9.]+$/) print $4}' "$work/rb.csv" | head -1)
                p99=$(awk -F'"' '{if ($14 ~ /^[0-9.]+$/) print $14}' "$work/rb.csv" | head -1)
                printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$P" "$t" "${rps:-}" "${p99:-}" "$other" >>"$ratio_tsv"
                log "  round $round -P $P GET $t: ${rps:-FAILED} rps, p99 ${p99:-?} ms, other $other cores"
            done
        done
    done
    hits1=$(counter_sum hits)
    misses=$(counter_sum misses)
    stale_ratio=$(counter_sum stale_hits)
    stop_instances
    cp "$ratio_tsv" "$RESULTS/ratio.tsv"
fi

# --- the plot: K=1000, M=1, cold, protected vs unprotected.
plot_note=""
if has_part plot; then
    on="$RESULTS/raw/cold-k1000-m1-on-r1.csv"
    off="$RESULTS/raw/cold-k1000-m1-off-r1.csv"
    if ! command -v gnuplot >/dev/null 2>&1; then
        plot_note="gnuplot not installed (apt-get install -y gnuplot-nox): no plot"
    elif [ ! -s "$on" ] || [ ! -s "$off" ]; then
        plot_note="no raw data for cold K=1000 M=1: no plot"
    else
        awk -F, 'NR > 1 && $5 != "" {print $3, $5, ($6 == "value" ? 0 : 1)}' "$on" >"$work/on.dat"
        awk -F, 'NR > 1 && $5 != "" {print $3, $5, ($6 == "value" ? 0 : 1)}' "$off" >"$work/off.dat"
        on_up=$(jq -r 'select(.scenario == "cold" and .k == 1000 and .m == 1 and .protect == "true" and .round == 1) | .upstream_requests' "$summaries" | tail -1)
        off_up=$(jq -r 'select(.scenario == "cold" and .k == 1000 and .m == 1 and .protect == "false" and .round == 1) | .upstream_requests' "$summaries" | tail -1)
        gnuplot <<EOF 2>"$work/gnuplot.err" || plot_note="gnuplot failed: $(head -3 "$work/gnuplot.err")"
set terminal pngcairo size 900,520 font "DejaVu Sans,10"
set output "$RESULTS/herd-latency.png"
set title "Cold-miss herd: 1000 clients, 1 herdguard, upstream 200 ms"
set xlabel "request sent at (ms after the first send)"
set ylabel "latency, send to reply (ms)"
set key top left box opaque
set grid
set yrange [0:*]
set arrow from graph 0, first $UPSTREAM_LATENCY to graph 1, first $UPSTREAM_LATENCY nohead dt 2 lc rgb "#777777"
set label "upstream latency ($UPSTREAM_LATENCY ms)" at graph 0.99, first $UPSTREAM_LATENCY offset 0,-0.8 right tc rgb "#555555"
plot "$work/off.dat" using 1:2 with points pt 7 ps 0.35 lc rgb "#d62728" title "protect: false (${off_up:-?} upstream requests)", \
     "$work/on.dat" using 1:2 with points pt 7 ps 0.35 lc rgb "#1f77b4" title "herdguard (${on_up:-?} upstream request)"
EOF
    fi
fi

elapsed=$(($(date +%s) - start_time))
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# ------------------------------------------------------------------------------------------------
# Report.
hg_version=$("$HERDGUARD" --version 2>/dev/null)
hg_commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)

echo "### Run"
echo
echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); ${elapsed}s in all; waited ${waited_others}s for other benchmarks or builds to end and ${waited_quiet}s for other processes to go quiet (< 0.25 cores) before runs"
echo "- Machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), kernel $(uname -r), $(awk '/^MemTotal/ {printf "%.1f GiB RAM", $2 / 1048576}' /proc/meminfo); load average before $load_before, after $load_after"
echo "- $hg_version, commit $hg_commit; \`threads: $HG_THREADS\` per instance, admin off, \`limits.max_clients: 20000\`; $(redis-server --version | awk '{print $1, $2, $3}'); ulimit -n $FDS"
echo "- Script: \`KS=\"$KS\" MS=\"$MS\" SCENARIOS=\"$SCENARIOS\" HERD_ROUNDS=$HERD_ROUNDS ROUNDS=$ROUNDS HG_THREADS=$HG_THREADS bench/herd.sh\`; load generator \`bench/herd_bench.cpp\` (one thread, epoll)"
echo

if has_part herd; then
    jq_defs='
        def med: map(select(. != null)) | sort | if length == 0 then null elif length % 2 == 1 then .[(length - 1) / 2]
                 else (.[length / 2 - 1] + .[length / 2]) / 2 end;
        def f: if . == null then "—" else (. * 10 | round / 10 | tostring) end;
        def same(g): (map(g) | unique) as $u
                     | if ($u | length) == 1 then ($u[0] | tostring) else (map(g | tostring) | join(" / ")) end;
        def onoff: if . == "true" then "on" else "off" end;'
    echo "### Herd"
    echo
    echo "$HERD_ROUNDS rounds of the whole matrix, interleaved (round 1: every cell, then round 2, ...), each run with"
    echo "fresh herdguard instances and a fresh key. Upstream requests: what the demo upstream received for the"
    echo "run's key (reset before the herd, read once it had been quiet for 1 s, so late loads count), each"
    echo "round's value when they differ. Latency: each client's send to its complete reply, over every request"
    echo "that got one (value, nil or error), ms, median over the rounds. Errors: error replies plus requests"
    echo "with no reply, and the most frequent error text."
    echo
    echo "| scenario | K | M | protect | upstream requests | p50 ms | p99 ms | max ms | errors | notes |"
    echo "|:--|--:|--:|:--|--:|--:|--:|--:|:--|:--|"
    jq -rs "$jq_defs"'
        group_by(.cell)[] | .[0] as $a
        | (map(select((.errors // 0) > 0)) | if length > 0 then " (" + (.[0].top_errors[0].text | gsub("\\|"; "/")) + ")" else "" end) as $etext
        | ([ (if any(.[]; (.ready // 0) < .k) then "clients ready: " + same(.ready // 0) else empty end),
             (map(.note | select(. != null and . != "")) | unique | .[]),
             (if any(.[]; (.distinct_values // 0) > 1) then "distinct values served: " + same(.distinct_values) else empty end),
             (map(.other_cores // 0) | max | if . > 0.2 then "other processes up to \(.) cores" else empty end)
           ] | join("; ")) as $notes
        | "| \($a.scenario) | \($a.k) | \($a.m) | \($a.protect | onoff) | \(same(.upstream_requests // "—")) | \(map(.p50_ms) | med | f) | \(map(.p99_ms) | med | f) | \(map(.max_ms) | med | f) | \(same(.errors // "—"))\($etext) | \($notes) |"
    ' "$summaries"
    echo
    echo "herdguard's counters, summed over the instances (each round's value when they differ), and the load"
    echo "generator's side: how long sending the K GETs took (send spread) and when the first reply came (ms after"
    echo "the first send), medians."
    echo
    echo "| scenario | K | M | protect | loads ok | loads failed | breaker rejections | wait timeouts | coalesced | lock contended | stale hits | background refreshes | send spread ms | first reply ms |"
    echo "|:--|--:|--:|:--|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
    jq -rs "$jq_defs"'
        group_by(.cell)[] | .[0] as $a
        | "| \($a.scenario) | \($a.k) | \($a.m) | \($a.protect | onoff) | \(same(.hg_loads_ok)) | \(same(.hg_loads_failed)) | \(same(.hg_rejected_breaker)) | \(same(.hg_wait_timeouts)) | \(same(.hg_coalesced)) | \(same(.hg_lock_contended)) | \(same(.hg_stale_hits)) | \(same(.hg_background_refreshes)) | \(map(.send_spread_ms) | med | f) | \(map(.first_reply_ms) | med | f) |"
    ' "$summaries"
    echo
    echo "Every run (other: CPU used meanwhile by processes other than ours, average cores out of $(nproc); runs"
    echo "above 0.2 are suspect):"
    echo
    echo "| scenario | K | M | protect | round | upstream requests | p50 ms | p99 ms | max ms | errors | other cores |"
    echo "|:--|--:|--:|:--|--:|--:|--:|--:|--:|--:|--:|"
    jq -rs "$jq_defs"'
        sort_by(.cell, .round)[]
        | "| \(.scenario) | \(.k) | \(.m) | \(.protect | onoff) | \(.round) | \(.upstream_requests // "—") | \(.p50_ms | f) | \(.p99_ms | f) | \(.max_ms | f) | \(.errors // "—") | \(.other_cores // "—") |"
    ' "$summaries"
    echo
fi

if has_part ratio; then
    echo "### Routed hit vs pass-through GET"
    echo
    echo "One herdguard (\`threads: $HG_THREADS\`), \`product:hot\` routed (loaded once, ttl 1h: fresh) vs \`plain:hot\` (no"
    echo "route, the same bytes), \`redis-benchmark -c 50 -n 200000 -P {1,16} -q --csv GET <key>\`, interleaved"
    echo "(each round: -P 1 routed, plain; -P 16 routed, plain), $ROUNDS rounds. Requests per second, median."
    echo "The routed GETs were hits: herdguard's hit counter rose by $((hits1 - hits0)) over the measured runs (expected $((ROUNDS * 2 * 200000))); misses $misses, stale hits $stale_ratio in all."
    echo
    echo "| -P | routed GET rps | plain GET rps | ratio | routed p99 ms | plain p99 ms | rounds (routed / plain) | other cores, max |"
    echo "|--:|--:|--:|--:|--:|--:|:--|--:|"
    for P in 1 16; do
        a=$(awk -F'\t' -v P="$P" '$2 == P && $3 == "product:hot" && $4 != "" {print $4}' "$ratio_tsv" | median 0)
        b=$(awk -F'\t' -v P="$P" '$2 == P && $3 == "plain:hot" && $4 != "" {print $4}' "$ratio_tsv" | median 0)
        a99=$(awk -F'\t' -v P="$P" '$2 == P && $3 == "product:hot" && $5 != "" {print $5}' "$ratio_tsv" | sort -g | awk '{v[NR]=$1} END {if (NR) print v[int((NR+1)/2)]}')
        b99=$(awk -F'\t' -v P="$P" '$2 == P && $3 == "plain:hot" && $5 != "" {print $5}' "$ratio_tsv" | sort -g | awk '{v[NR]=$1} END {if (NR) print v[int((NR+1)/2)]}')
        r=$(awk -v a="$a" -v b="$b" 'BEGIN {if (a == "" || b == "" || b == 0) print "—"; else printf "%.2f", a / b}')
        each=$(awk -F'\t' -v P="$P" '$2 == P {n++; sep = (n == 1) ? "" : ((n % 2) ? "; " : " / ")
                                                printf "%s%s", sep, ($4 == "" ? "FAILED" : int($4))}' "$ratio_tsv")
        omax=$(awk -F'\t' -v P="$P" '$2 == P && $6 > m {m = $6} END {printf "%.2f", m}' "$ratio_tsv")
        echo "| $P | ${a:-—} | ${b:-—} | $r | ${a99:-—} | ${b99:-—} | $each | $omax |"
    done
    echo
fi

if has_part plot; then
    echo "### Plot"
    echo
    if [ -n "$plot_note" ]; then echo "$plot_note"; else echo "Written to \`$RESULTS/herd-latency.png\`."; fi
    echo
fi
exit 0
