#!/usr/bin/env bash
# Where the proxy hop's CPU goes: system calls per request, counted by the kernel's tracepoints
# (`perf stat -e syscalls:...`, which costs little, unlike strace, which slows the process tenfold
# and so changes how requests batch). Side by side in one run, rounds interleaved:
#   - redis-server, asked directly (what one Redis spends per request);
#   - the three masters of a six-node cluster, asked by `redis-benchmark --cluster`;
#   - herdguard in front of one Redis;
#   - herdguard in front of the cluster.
# For each: requests per second, and per request the system calls of the counted processes:
# all of them, reads (read/recvfrom), the reads that found nothing (EAGAIN), writes
# (write/sendto/writev) and epoll_wait. Medians over the rounds. A benchmark, not a test.
#
# Usage: bench/syscalls.sh [HERDGUARD_BINARY]    (Markdown on stdout, progress on stderr)
# Env:   ROUNDS=N (default 3)  N1=requests at -P 1 (default 100000)  N16=at -P 16 (default 1000000)
#        CLIENTS=C (default 50)
# Needs root (or perf_event_paranoid <= -1) for the syscall tracepoints.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
ROUNDS=${ROUNDS:-3}
N1=${N1:-100000}
N16=${N16:-1000000}
CLIENTS=${CLIENTS:-50}
bin=${1:-$root/build/release/herdguard}
log() { printf '[syscalls %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
[ -x "$bin" ] || die "$bin is not an executable (scripts/build.sh release)"
for tool in redis-server redis-cli redis-benchmark perf; do
    command -v "$tool" >/dev/null || die "$tool not found (apt-get install -y redis-server redis-tools linux-perf)"
done
perf stat -e raw_syscalls:sys_enter -o /dev/null -- true 2>/dev/null ||
    die "perf cannot count syscall tracepoints here (run as root, or lower kernel.perf_event_paranoid)"

bench_workspace syscalls
bench_start_cluster
bench_start_redis --maxclients 10000
redis_pid=${pids[-1]}
cat >"$work/hg-cluster.yaml" <<EOF
redis:
  cluster:
    seeds: $(bench_cluster_seeds)
EOF
bench_start_herdguard hg_cluster --config "$work/hg-cluster.yaml" --threads 1
hg_cluster_pid=$hg_pid
bench_start_herdguard hg_single --redis "127.0.0.1:$redis_port" --threads 1
hg_single_pid=$hg_pid
masters=()
for p in "${nodes[@]}"; do
    bench_is_master "$p" && masters+=("${node_pids[$p]}")
done
[ "${#masters[@]}" = 3 ] || die "expected 3 masters, found ${#masters[@]}"

events=(-e raw_syscalls:sys_enter
    -e syscalls:sys_enter_read -e syscalls:sys_enter_recvfrom
    -e syscalls:sys_exit_read --filter 'ret == -11' -e syscalls:sys_exit_recvfrom --filter 'ret == -11'
    -e syscalls:sys_enter_write -e syscalls:sys_enter_sendto -e syscalls:sys_enter_writev
    -e syscalls:sys_enter_epoll_wait)

# One measured run -> "rps total reads eagain writes epoll" (counts per request)
run() {  # target test pipeline n
    local args=(-h 127.0.0.1 -t "$2" -n "$4" -c "$CLIENTS" -P "$3" -r 100000 -d 64 --csv) counted
    case "$1" in
        redis) args+=(-p "$redis_port"); counted=$redis_pid ;;
        masters) args+=(--cluster -p "${nodes[0]}"); counted=$(IFS=,; echo "${masters[*]}") ;;
        hg-single) args+=(-p "$hg_single"); counted=$hg_single_pid ;;
        hg-cluster) args+=(-p "$hg_cluster"); counted=$hg_cluster_pid ;;
    esac
    perf stat -x, -p "$counted" "${events[@]}" -o "$work/perf.txt" -- \
        timeout 600 redis-benchmark "${args[@]}" 2>/dev/null >"$work/rb.csv"
    awk -F'","' '/^"(SET|GET)"/ {print $2}' "$work/rb.csv" | tr -d '"' >"$work/rps.txt"
    awk -F, -v n="$4" -v rps="$(cat "$work/rps.txt")" '
        $3 == "raw_syscalls:sys_enter" {t = $1}
        $3 ~ /sys_enter_(read|recvfrom)$/ {r += $1}
        $3 ~ /sys_exit_(read|recvfrom)$/ {e += $1}
        $3 ~ /sys_enter_(write|sendto|writev)$/ {w += $1}
        $3 == "syscalls:sys_enter_epoll_wait" {p = $1}
        END {printf "%d %.2f %.2f %.2f %.2f %.2f\n", rps, t / n, r / n, e / n, w / n, p / n}' "$work/perf.txt"
}

targets=(redis masters hg-single hg-cluster)
echo "| pipeline | test | counted | requests/s | syscalls / request | reads | of which EAGAIN | writes | epoll_wait |"
echo "|--:|:--|:--|--:|--:|--:|--:|--:|--:|"
for P in 1 16; do
    n=$N1
    [ "$P" = 16 ] && n=$N16
    for test in get set; do
        for t in "${targets[@]}"; do : >"$work/$t.txt"; done
        for r in $(seq 1 "$ROUNDS"); do
            for t in "${targets[@]}"; do
                log "-P $P $test round $r: $t"
                run "$t" "$test" "$P" "$n" >>"$work/$t.txt"
            done
        done
        for t in "${targets[@]}"; do
            case "$t" in
                redis) name="redis-server, direct" ;;
                masters) name="3 masters, direct (--cluster)" ;;
                hg-single) name="herdguard → one Redis" ;;
                hg-cluster) name="herdguard → cluster" ;;
            esac
            row="| $P | ${test^^} | $name"
            for col in 1 2 3 4 5 6; do
                decimals=2
                [ "$col" = 1 ] && decimals=0
                row+=" | $(awk -v c=$col '{print $c}' "$work/$t.txt" | median "$decimals")"
            done
            echo "$row |"
        done
    done
done
echo
echo "Rounds: $ROUNDS, medians; -c $CLIENTS, -r 100000, -d 64; herdguard --threads 1; -n $N1 at -P 1, $N16 at -P 16."
echo "herdguard's rows count herdguard alone (its Redis or masters are not counted)."
echo "- Machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), kernel $(uname -r)"
echo "- Commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null)"
