#!/usr/bin/env bash
# Pass-through comparison: redis-benchmark against Redis directly, through herdguard and through
# twemproxy (nutcracker), interleaved, several rounds; prints a Markdown report on stdout
# (progress goes to stderr). A benchmark, not a test: exits 0 even when targets are missed.
#
# Usage: bench/passthrough.sh            (from anywhere; ROUNDS=3 by default)
# Env:   ROUNDS=N          rounds (default 3)
#        HERDGUARD=PATH    binary (default build/release/herdguard of this checkout)
#        BENCH_TIMEOUT=S   per redis-benchmark run before it counts as a hang (default 300)
#        QUICK=1           -n divided by 10: only for checking the script, not for numbers
#        WAIT_QUIET=S      before each run, wait up to S seconds (default 120) for other processes to
#                          leave the CPUs alone (< 0.25 cores busy over a 1-second sample, which
#                          is always taken); 0: no waiting beyond that sample
#        KEEP_LOGS=1       keep the scratch dir (server logs, raw CSV) and print its path
#
# Everything it starts (redis-server, herdguard, nutcracker) listens on 127.0.0.1 free ports and
# is stopped by PID on exit.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
ROUNDS=${ROUNDS:-3}
HERDGUARD=${HERDGUARD:-$root/build/release/herdguard}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-300}
KEEP_LOGS=${KEEP_LOGS:-0}
WAIT_QUIET=${WAIT_QUIET:-120}
HG_THREADS=1

log() { printf '[passthrough %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

for tool in redis-server redis-cli redis-benchmark nutcracker awk sort; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found (apt-get install -y redis-server redis-tools nutcracker)"
done
[ -x "$HERDGUARD" ] || die "$HERDGUARD not found: build it with scripts/build.sh release herdguard"
case "$ROUNDS" in '' | *[!0-9]* | 0) die "ROUNDS must be a positive integer" ;; esac

# --- file descriptors: -c 1000 needs >1000 client sockets in redis-benchmark, the proxy and Redis.
want_fds=4096
cur_fds=$(ulimit -Sn)
if [ "$cur_fds" != unlimited ] && [ "$cur_fds" -lt "$want_fds" ]; then
    hard_fds=$(ulimit -Hn)
    target=$want_fds
    if [ "$hard_fds" != unlimited ] && [ "$hard_fds" -gt "$target" ]; then target=$hard_fds; fi
    [ "$target" -gt 65536 ] && target=65536
    ulimit -Sn "$target" 2>/dev/null || ulimit -n "$target" 2>/dev/null ||
        log "warning: could not raise ulimit -n from $cur_fds to $target (hard limit $hard_fds); -c 1000 may fail"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/herdguard-bench.XXXXXX")
pids=()
# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
    local p
    for p in "${pids[@]}"; do stop_pid "$p"; done
    if [ "$KEEP_LOGS" = 1 ]; then log "logs and raw results kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

redis_port=$(free_port)
hg_port=$(free_port)
nc_port=$(free_port)
nc_stats_port=$(free_port)

redis_cmd=(redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no
           --maxclients 10000 --daemonize no --logfile "$work/redis.log")
hg_cmd=("$HERDGUARD" --listen "127.0.0.1:$hg_port" --redis "127.0.0.1:$redis_port" --threads "$HG_THREADS"
        --admin off --log-level warn)
cat >"$work/nutcracker.yml" <<EOF
bench:
  listen: 127.0.0.1:$nc_port
  redis: true
  hash: fnv1a_64
  distribution: ketama
  preconnect: true
  server_connections: 1
  servers:
   - 127.0.0.1:$redis_port:1
EOF
nc_cmd=(nutcracker -c "$work/nutcracker.yml" -a 127.0.0.1 -s "$nc_stats_port" -o "$work/nutcracker.log"
        -p "$work/nutcracker.pid")

"${redis_cmd[@]}" >"$work/redis.out" 2>&1 &
redis_pid=$!
pids+=("$redis_pid")
wait_ping "$redis_port" "$redis_pid" || die "redis-server did not start: $(tail -5 "$work/redis.log" 2>/dev/null)"

declare -A proxy_pid proxy_starts
start_herdguard() {
    "${hg_cmd[@]}" >>"$work/herdguard.log" 2>&1 &
    proxy_pid[herdguard]=$!
    pids+=("$!")
    proxy_starts[herdguard]=$((${proxy_starts[herdguard]:-0} + 1))
    wait_ping "$hg_port" "$!"
}
start_twemproxy() {
    "${nc_cmd[@]}" >>"$work/nutcracker.out" 2>&1 &
    proxy_pid[twemproxy]=$!
    pids+=("$!")
    proxy_starts[twemproxy]=$((${proxy_starts[twemproxy]:-0} + 1))
    wait_ping "$nc_port" "$!"
}
start_herdguard || log "warning: herdguard did not answer PING at start: $(tail -3 "$work/herdguard.log")"
start_twemproxy || log "warning: nutcracker did not answer PING at start: $(tail -3 "$work/nutcracker.log")"

targets=(redis herdguard twemproxy)
declare -A port_of=([redis]=$redis_port [herdguard]=$hg_port [twemproxy]=$nc_port)
declare -A label_of=([redis]="Redis direct" [herdguard]="herdguard" [twemproxy]="twemproxy")
configs=("50 1" "50 16" "1 1" "1000 1")
QUICK=${QUICK:-0}  # QUICK=1: n / 10, only to check the script itself
n_for() {
    local n=200000
    [ "$1" = 1 ] && n=50000
    [ "$QUICK" = 1 ] && n=$((n / 10))
    echo "$n"
}
bench_cmd() {  # port clients pipeline -> the exact command line
    echo "redis-benchmark -h 127.0.0.1 -p $1 -t get,set -d 100 -r 10000 -n $(n_for "$2") -q --csv -c $2 -P $3"
}

# Noise: CPU time the whole machine spent busy (and stolen by the hypervisor) during a run, minus
# what redis-server, the proxies and redis-benchmark (this shell's children) used, is what other
# processes took from our 2 cores. Reported per run, as average cores (lib.sh: machine_ticks).
our_ticks() {
    local sum=0 p v
    for p in "$redis_pid" "${proxy_pid[herdguard]}" "${proxy_pid[twemproxy]}"; do
        v=$(cpu_ticks "$p") && sum=$((sum + v))
    done
    echo "$sum"
}
# Fill the key space once so every GET of every target returns a 100-byte value, and warm each
# target up (connections, allocator) before anything is measured.
log "warm-up"
redis-benchmark -h 127.0.0.1 -p "$redis_port" -t set -d 100 -r 10000 -n 50000 -c 50 -q >/dev/null 2>&1
for t in herdguard twemproxy; do
    [ "$(timeout 2 redis-cli -h 127.0.0.1 -p "${port_of[$t]}" ping 2>/dev/null)" = PONG ] || continue
    timeout 60 redis-benchmark -h 127.0.0.1 -p "${port_of[$t]}" -t get,set -d 100 -r 10000 -n 20000 -c 50 -q \
        >/dev/null 2>&1 || log "warning: warm-up against $t failed"
done

results="$work/results.tsv"  # round config target test value   (test: SET, GET, CPU_S_PER_M, FAIL)
: >"$results"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
start_time=$(date +%s)

cpu=""
for round in $(seq 1 "$ROUNDS"); do
    for cfg in "${configs[@]}"; do
        read -r c p <<<"$cfg"
        n=$(n_for "$c")
        key="c${c}P${p}"
        for t in "${targets[@]}"; do
            port=${port_of[$t]}
            pid=""
            if [ "$t" != redis ]; then
                pid=${proxy_pid[$t]}
                if ! kill -0 "$pid" 2>/dev/null; then
                    log "$t (pid $pid) is not running: restarting it"
                    printf '%s\t%s\t%s\tNOTE\t%s\n' "$round" "$key" "$t" "$t was not running before this run: restarted" >>"$results"
                    "start_$t" || log "warning: $t did not come back"
                    pid=${proxy_pid[$t]}
                fi
            fi
            log "round $round/$ROUNDS  -c $c -P $p  $t"
            # redis-benchmark spins at 100% CPU until its timeout against a port that refuses
            # connections: check that the target answers first.
            ping=$(timeout 5 redis-cli -h 127.0.0.1 -p "$port" ping 2>&1 | head -1)
            if [ "$ping" != PONG ]; then
                printf '%s\t%s\t%s\tFAIL\t%s\n' "$round" "$key" "$t" "not answering PING (${ping:-no reply in 5s}): not run" >>"$results"
                log "  FAILED: not answering PING (${ping:-no reply in 5s})"
                continue
            fi
            wait_quiet "$WAIT_QUIET"
            out="$work/r${round}_${key}_${t}.csv"
            read -r busy0 steal0 <<<"$(machine_ticks)"
            ours0=$(our_ticks)
            children_secs; kids0=$kids
            wall0=$(date +%s.%N)
            before=""
            [ -n "$pid" ] && before=$(cpu_ticks "$pid")
            rbefore=$(cpu_ticks "$redis_pid")
            # shellcheck disable=SC2046
            timeout "$BENCH_TIMEOUT" $(bench_cmd "$port" "$c" "$p") >"$out" 2>"$out.err"
            rc=$?
            after=""
            [ -n "$pid" ] && after=$(cpu_ticks "$pid")
            rafter=$(cpu_ticks "$redis_pid")
            wall1=$(date +%s.%N)
            children_secs; kids1=$kids
            ours1=$(our_ticks)
            read -r busy1 steal1 <<<"$(machine_ticks)"
            other=$(awk -v b="$((busy1 - busy0))" -v o="$((ours1 - ours0))" -v k="$kids0" -v k1="$kids1" \
                -v hz="$clk_tck" -v w0="$wall0" -v w1="$wall1" \
                'BEGIN {x = (b - o) / hz - (k1 - k); printf "%.2f", x / (w1 - w0)}')
            stolen=$(awk -v s="$((steal1 - steal0))" -v hz="$clk_tck" -v w0="$wall0" -v w1="$wall1" \
                'BEGIN {printf "%.2f", s / hz / (w1 - w0)}')
            printf '%s\t%s\t%s\tOTHER\t%s\n' "$round" "$key" "$t" "$other" >>"$results"
            printf '%s\t%s\t%s\tSTEAL\t%s\n' "$round" "$key" "$t" "$stolen" >>"$results"
            set_rps=$(awk -F'"' '$2 == "SET" {print $4}' "$out")
            get_rps=$(awk -F'"' '$2 == "GET" {print $4}' "$out")
            # redis-benchmark reports some errors without failing; twemproxy's "Could not fetch
            # server CONFIG" warning (it does not forward CONFIG) is expected and not an error.
            errs=$(grep -v -e '^WARNING: Could not fetch server CONFIG' -e '^$' "$out.err" | head -3 | tr '\n\t' '  ')
            reason=""
            if [ "$rc" = 124 ]; then reason="timed out after ${BENCH_TIMEOUT}s (hang?)"
            elif [ "$rc" != 0 ]; then reason="redis-benchmark exit $rc"
            fi
            [ -z "$set_rps" ] && [ -z "$reason" ] && reason="no SET result"
            [ -z "$get_rps" ] && [ -z "$reason" ] && reason="no GET result"
            if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then reason="${reason:+$reason; }$t exited during the run"; fi
            if [ -n "$reason" ]; then
                printf '%s\t%s\t%s\tFAIL\t%s%s\n' "$round" "$key" "$t" "$reason" "${errs:+: $errs}" >>"$results"
                log "  FAILED: $reason ${errs}"
            else
                [ -n "$errs" ] && printf '%s\t%s\t%s\tNOTE\t%s\n' "$round" "$key" "$t" "redis-benchmark stderr: $errs" >>"$results"
                printf '%s\t%s\t%s\tSET\t%s\n' "$round" "$key" "$t" "$set_rps" >>"$results"
                printf '%s\t%s\t%s\tGET\t%s\n' "$round" "$key" "$t" "$get_rps" >>"$results"
                if [ -n "$before" ] && [ -n "$after" ]; then
                    # Both tests of the run (SET then GET) count: 2*n requests.
                    cpu=$(awk -v b="$before" -v a="$after" -v hz="$clk_tck" -v req=$((2 * n)) \
                        'BEGIN {printf "%.3f", (a - b) / hz / req * 1e6}')
                    printf '%s\t%s\t%s\tCPU\t%s\n' "$round" "$key" "$t" "$cpu" >>"$results"
                fi
                if [ -n "$rbefore" ] && [ -n "$rafter" ]; then
                    rcpu=$(awk -v b="$rbefore" -v a="$rafter" -v hz="$clk_tck" -v req=$((2 * n)) \
                        'BEGIN {printf "%.3f", (a - b) / hz / req * 1e6}')
                    printf '%s\t%s\t%s\tRCPU\t%s\n' "$round" "$key" "$t" "$rcpu" >>"$results"
                fi
                log "  SET $set_rps  GET $get_rps${cpu:+  cpu ${cpu}s/M}  other ${other} cores"
            fi
            cpu=""
        done
    done
done
elapsed=$(( $(date +%s) - start_time ))
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# ------------------------------------------------------------------------------------------------
# Report.
values() {  # config target test -> one value per line
    awk -F'\t' -v k="$1" -v t="$2" -v x="$3" '$2 == k && $3 == t && $4 == x {print $5}' "$results"
}
failures() {  # config target -> "k/N failed: first reason"
    awk -F'\t' -v k="$1" -v t="$2" -v n="$ROUNDS" '$2 == k && $3 == t && $4 == "FAIL" {c++; if (!r) r = $5}
        END {if (c) printf "%d/%d runs failed: %s", c, n, r}' "$results"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "" || b == "" || b == 0) print ""; else printf "%.2f", a / b}'; }
fmt_rps() { awk -v a="$1" 'BEGIN {if (a == "") print "—"; else printf "%.0f", a}'; }

declare -A med
for cfg in "${configs[@]}"; do
    read -r c p <<<"$cfg"
    key="c${c}P${p}"
    for t in "${targets[@]}"; do
        for x in SET GET CPU RCPU; do med[$key,$t,$x]=$(values "$key" "$t" "$x" | median 2); done
    done
done

redis_version=$(redis-cli -h 127.0.0.1 -p "$redis_port" info server 2>/dev/null | awk -F: '/^redis_version/ {gsub("\r", ""); print $2}')
hg_version=$("$HERDGUARD" --version 2>/dev/null)
hg_commit=$(git -C "$root" log -1 --format='%h (%ci)' 2>/dev/null || echo unknown)
hg_dirty=$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null | grep -c . || true)
hg_built=$(date -u -r "$HERDGUARD" '+%Y-%m-%d %H:%M UTC')
hg_stale=$(find "$root/src" "$root/include" -type f -newer "$HERDGUARD" 2>/dev/null | wc -l)
nc_version=$(nutcracker --version 2>&1 | head -1)
bench_version=$(redis-benchmark --version 2>/dev/null | head -1)

echo "## Pass-through: Redis direct vs herdguard vs twemproxy"
echo
echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); ${ROUNDS} rounds, interleaved (each round: each configuration: Redis, herdguard, twemproxy in turn); ${elapsed}s in all"
echo "- Machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), kernel $(uname -r), $(awk '/^MemTotal/ {printf "%.1f GiB RAM", $2 / 1048576}' /proc/meminfo)"
echo "- Load average (1/5/15 min) before: $load_before; after: $load_after"
echo "- Redis ${redis_version:-?} (\`redis-server --save \"\" --appendonly no --maxclients 10000\`), $bench_version, $nc_version"
echo "- herdguard: $hg_version, \`$HERDGUARD\` built $hg_built; checkout at HEAD $hg_commit$([ "${hg_dirty:-0}" != 0 ] && echo " + uncommitted changes to tracked files")$([ "${hg_stale:-0}" != 0 ] && echo "; **$hg_stale source files are newer than the binary: rebuild**")"
echo "- herdguard flags: \`--threads $HG_THREADS --admin off --log-level warn\` (one worker thread, hence one shared Redis connection), no config file (no read-through routes: pure pass-through)"
echo "- twemproxy: one pool, \`redis: true\`, \`preconnect: true\`, \`server_connections: 1\`, no \`client_connections\` limit, one server"
echo "- ulimit -n: $(ulimit -n)"
echo "- Other processes' CPU during the runs (average cores out of $(nproc)): $(awk -F'\t' '$4 == "OTHER" {v[++n] = $5; s += $5; if ($5 > m) m = $5; if ($5 > 0.2) b++}
    END {if (n) printf "mean %.2f, max %.2f; %d of %d runs above 0.2", s / n, m, b, n}' "$results")$(
    awk -F'\t' '$4 == "STEAL" {s += $5; n++} END {if (n) printf "; hypervisor steal mean %.2f cores", s / n}' "$results")"
echo "- Waited ${waited_quiet}s in all for other processes to go quiet before runs (WAIT_QUIET=${WAIT_QUIET}s per run)"
echo "- Script: \`ROUNDS=$ROUNDS bench/passthrough.sh\`"
echo "- Each cell runs (PORT = the target's port):"
for cfg in "${configs[@]}"; do
    read -r c p <<<"$cfg"
    echo "  - \`$(bench_cmd PORT "$c" "$p")\`"
done
echo "  (\`-c 1\` uses \`-n $(n_for 1)\` to keep it short; the others \`-n $(n_for 50)\`.)"
echo
echo "Requests per second, median of $ROUNDS runs; ratio = proxy median / Redis-direct median of the same run."
echo "CPU = the proxy process's utime+stime (/proc/PID/stat, all threads) over the run, per million requests"
echo "(SET and GET together: 2 × n requests per run), median of $ROUNDS runs."
echo
echo "| -c | -P | test | Redis direct | herdguard | ratio | twemproxy | ratio | herdguard CPU s/M req | twemproxy CPU s/M req |"
echo "|---:|---:|:----|---:|---:|---:|---:|---:|---:|---:|"
for cfg in "${configs[@]}"; do
    read -r c p <<<"$cfg"
    key="c${c}P${p}"
    for x in SET GET; do
        row="| $c | $p | $x"
        r=${med[$key,redis,$x]}
        row="$row | $(fmt_rps "$r")"
        for t in herdguard twemproxy; do
            v=${med[$key,$t,$x]}
            f=$(failures "$key" "$t")
            if [ -z "$v" ]; then row="$row | FAILED: ${f:-no result} | —"
            else
                cell=$(fmt_rps "$v")
                [ -n "$f" ] && cell="$cell ($f)"
                q=$(ratio "$v" "$r")
                row="$row | $cell | ${q:-—}"
            fi
        done
        if [ "$x" = SET ]; then
            row="$row | ${med[$key,herdguard,CPU]:-—} | ${med[$key,twemproxy,CPU]:-—} |"
        else
            row="$row | (run with SET) | (run with SET) |"
        fi
        echo "$row"
    done
    f=$(failures "$key" redis)
    [ -n "$f" ] && echo "| $c | $p | Redis direct | FAILED: $f | | | | | | |"
done
echo
echo "For context, redis-server's own CPU seconds per million requests (median) behind each target:"
echo
echo "| -c | -P | Redis direct | via herdguard | via twemproxy |"
echo "|---:|---:|---:|---:|---:|"
for cfg in "${configs[@]}"; do
    read -r c p <<<"$cfg"
    key="c${c}P${p}"
    echo "| $c | $p | ${med[$key,redis,RCPU]:-—} | ${med[$key,herdguard,RCPU]:-—} | ${med[$key,twemproxy,RCPU]:-—} |"
done
echo

echo "### Per-run values"
echo
echo "CPU: the proxy's, and redis-server's over the same run, in CPU seconds per million requests."
echo "Other: CPU used during the run by processes other than redis-server, the proxies and redis-benchmark"
echo "(busy time of the machine minus theirs), as average cores out of $(nproc), ±0.1 or so; steal: time the"
echo "hypervisor gave to someone else, as average cores. Runs with other > 0.2 are suspect."
echo
echo "| round | -c | -P | target | SET rps | GET rps | proxy CPU s/M req | redis-server CPU s/M req | other (cores) | steal (cores) |"
echo "|---:|---:|---:|:--|---:|---:|---:|---:|---:|---:|"
cpu=""
for round in $(seq 1 "$ROUNDS"); do
    for cfg in "${configs[@]}"; do
        read -r c p <<<"$cfg"
        key="c${c}P${p}"
        for t in "${targets[@]}"; do
            line=$(awk -F'\t' -v r="$round" -v k="$key" -v t="$t" '$1 == r && $2 == k && $3 == t {v[$4] = $5}
                END {if ("FAIL" in v) printf "FAILED: %s | | | ", v["FAIL"];
                     else printf "%s | %s | %s | %s", v["SET"], v["GET"], ("CPU" in v ? v["CPU"] : "—"),
                                 ("RCPU" in v ? v["RCPU"] : "—");
                     printf " | %s | %s", v["OTHER"], v["STEAL"]}' "$results")
            echo "| $round | $c | $p | ${label_of[$t]} | $line |"
        done
    done
done
notes=$(awk -F'\t' '$4 == "NOTE" {printf "- round %s, %s, %s: %s\n", $1, $2, $3, $5}' "$results")
if [ -n "$notes" ]; then
    echo
    echo "Notes (the runs concerned still counted):"
    echo
    echo "$notes"
fi
for t in herdguard twemproxy; do
    [ "${proxy_starts[$t]}" -gt 1 ] && echo && echo "**$t was restarted $(( ${proxy_starts[$t]} - 1 )) time(s) after exiting.**"
done
echo

echo "### Targets (herdguard, as ratios to Redis direct; both SET and GET must meet them)"
echo
echo "| target | SET | GET | result |"
echo "|:--|---:|---:|:--|"
check_ratio() {  # config-key label threshold
    local s g res
    s=$(ratio "${med[$1,herdguard,SET]}" "${med[$1,redis,SET]}")
    g=$(ratio "${med[$1,herdguard,GET]}" "${med[$1,redis,GET]}")
    if [ -z "$s" ] || [ -z "$g" ]; then res="not met (no result)"
    else res=$(awk -v s="$s" -v g="$g" -v m="$3" 'BEGIN {
        lo = (s < g) ? s : g
        if (lo >= m) print "met"; else printf "not met (short by %.2f)", m - lo}')
    fi
    echo "| $2 ≥ $3 | ${s:-—} | ${g:-—} | $res |"
}
check_ratio c50P1 "\`-c 50 -P 1\`" 0.9
check_ratio c50P16 "\`-c 50 -P 16\`" 0.5
check_ratio c1000P1 "\`-c 1000 -P 1\`" 0.9
check_ratio c1P1 "\`-c 1 -P 1\`" 0.55
echo
echo "| target | herdguard CPU s/M req | twemproxy CPU s/M req | result |"
echo "|:--|---:|---:|:--|"
for cfg in "${configs[@]}"; do
    read -r c p <<<"$cfg"
    key="c${c}P${p}"
    h=${med[$key,herdguard,CPU]}
    w=${med[$key,twemproxy,CPU]}
    if [ -z "$h" ] || [ -z "$w" ]; then res="not met (no result)"
    else res=$(awk -v h="$h" -v w="$w" 'BEGIN {if (h < w) printf "met (%.0f%% of twemproxy)", 100 * h / w;
                                                 else printf "not met (%.0f%% of twemproxy)", 100 * h / w}')
    fi
    echo "| \`-c $c -P $p\`: fewer CPU s per million requests than twemproxy | ${h:-—} | ${w:-—} | $res |"
done
exit 0
