#!/usr/bin/env bash
# The real-client matrix (issue 11: every current Redis client works unmodified). Runs real client
# libraries against a live herdguard, each in each protocol it offers:
#   redis-py (Debian's python3-redis, 4.3: RESP2 only)         tests/clients/python_matrix.py
#   node-redis 5 and the latest node-redis, RESP2 and RESP3     tests/clients/node_matrix.js
#   the latest ioredis, RESP2 and RESP3 (its default)           (npm, pinned by
#                                                                tests/clients/package-lock.json)
# Each does: 01 connect+handshake+name, 02 a 100-command pipeline, 03 WATCH/MULTI/EXEC against a
# conflicting writer, 04 SUBSCRIBE+PSUBSCRIBE, 05 BLPOP woken by RPUSH, 06 SELECT 3, 07 EVALSHA
# after SCRIPT LOAD, 08 a routed GET loaded from the demo upstream, 09 16 concurrent connections,
# 10 reconnecting after herdguard restarts, 11 100 idle connections leave the private-connection
# gauge (herdguard_redis_private_connections in /metrics) at 0.
# Then BullMQ (npm, on ioredis; tests/clients/bullmq_workers.js), a real application of Lua,
# blocking commands and CLIENT LIST: its workers spread over two herdguards in front of the one
# Redis, counted by Queue.getWorkers() through either, idle, blocking and after two close; and 40
# jobs through both.
#
# On a fresh Debian bookworm machine, as root: installs what is missing (scripts/install-deps.sh,
# Debian packages only; then `npm ci` in tests/clients), starts redis-server, the demo upstream
# and herdguard on free 127.0.0.1 ports, runs every client, stops every process it started by PID,
# prints a client x protocol x step table and exits non-zero on any failure. It does not build:
# run scripts/build.sh release first (scripts/test.sh does).
#
# Knobs (environment):
#   HERDGUARD_BIN           herdguard binary (default build/release/herdguard)
#   DEMO_UPSTREAM_BIN       demo upstream (default build/release/herdguard-demo-upstream)
#   CLIENT_MATRIX_ONLY      run only these entries, space or comma separated, each LIB or
#                           LIB:PROTO with LIB one of redis-py redis5 redis-latest ioredis bullmq
#                           (e.g. "redis5:3 ioredis")
#   CLIENT_MATRIX_INSTALL   0 skips install-deps.sh and npm ci (default 1)
#   CLIENT_MATRIX_KEEP      1 keeps the work directory (logs, outputs) even when all passed
#   CLIENT_MATRIX_THREADS   herdguard --threads (default 2)
#   CLIENT_MATRIX_RESTART_SIGNAL  how step 10 stops herdguard: TERM (default, a graceful restart)
#                           or KILL (a crash)
#   CLIENT_MATRIX_BUDGET_S  time for the whole matrix (default 150 s; a normal run takes ~10 s,
#                           one with RESP3 refused ~30 s); each client gets at most 90 s of it
#   HG_STEP_TIMEOUT_MS      bound of one step in the client programs (default 10000)
#   PYTHON                  interpreter with Debian's python3-redis (default /usr/bin/python3)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

HERDGUARD_BIN=${HERDGUARD_BIN:-$root/build/release/herdguard}
DEMO_UPSTREAM_BIN=${DEMO_UPSTREAM_BIN:-$root/build/release/herdguard-demo-upstream}
only=${CLIENT_MATRIX_ONLY:-}
threads=${CLIENT_MATRIX_THREADS:-2}
restart_signal=${CLIENT_MATRIX_RESTART_SIGNAL:-TERM}
PYTHON=${PYTHON:-/usr/bin/python3}
clients_dir=$root/tests/clients
budget=${CLIENT_MATRIX_BUDGET_S:-150}  # the whole matrix; a client not started in time is a failure
client_timeout=90   # one client x protocol at most (its steps are bounded well inside it)

# herdguard reads these; the matrix sets everything it needs with flags and its own config file.
unset HERDGUARD_CONFIG HERDGUARD_LISTEN HERDGUARD_TLS_LISTEN HERDGUARD_REDIS HERDGUARD_THREADS \
      HERDGUARD_ADMIN HERDGUARD_AUTH_PASSWORD HERDGUARD_REDIS_PASSWORD HERDGUARD_LOG_FORMAT

log() { printf '== %s\n' "$*"; }
die() { printf 'client-matrix: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# Set-up: Debian packages (node and npm only when missing: a NodeSource nodejs provides npm and
# conflicts with Debian's), then the pinned npm packages.
if [ "${CLIENT_MATRIX_INSTALL:-1}" = 1 ]; then
    pkgs=(python3-redis redis-server redis-tools)
    command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
    command -v npm >/dev/null 2>&1 || pkgs+=(npm)
    scripts/install-deps.sh "${pkgs[@]}"
    lock_sum=$(sha256sum "$clients_dir/package-lock.json" | cut -d' ' -f1)
    stamp=$clients_dir/node_modules/.client-matrix-lock.sha256
    if [ "$(cat "$stamp" 2>/dev/null)" != "$lock_sum" ]; then
        log "npm ci in tests/clients"
        (cd "$clients_dir" && timeout 300 npm ci --no-audit --no-fund --loglevel=error) ||
            die "npm ci failed in tests/clients"
        echo "$lock_sum" >"$stamp"
    fi
fi
command -v node >/dev/null 2>&1 || die "node not found (install nodejs)"
command -v redis-server >/dev/null 2>&1 || die "redis-server not found (install redis-server)"
command -v redis-cli >/dev/null 2>&1 || die "redis-cli not found (install redis-tools)"
[ -x "$HERDGUARD_BIN" ] || die "$HERDGUARD_BIN not found: build it first (scripts/build.sh release)"
[ -x "$DEMO_UPSTREAM_BIN" ] || die "$DEMO_UPSTREAM_BIN not found: build it first (scripts/build.sh release)"
[ -d "$clients_dir/node_modules" ] || die "tests/clients/node_modules missing: run with CLIENT_MATRIX_INSTALL=1"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] ||
    echo "client-matrix: warning: node $(node --version): node-redis 6 and ioredis 6 require node >= 20" >&2

# ---------------------------------------------------------------------------------------------
# Processes: free loopback ports, start-up until they answer, shutdown by PID.
work=$(mktemp -d "${TMPDIR:-/tmp}/hg-client-matrix-XXXXXX")
redis_pid='' upstream_pid='' hg_pid='' hg2_pid='' client_pid=''
redis_port='' upstream_port='' hg_port='' admin_port='' hg2_port='' admin2_port=''
failed=0

# Free ports (free_port_into) and stop_pid: bench/lib.sh, the one copy.
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    stop_pid "$client_pid"
    stop_pid "$hg2_pid"
    stop_pid "$hg_pid"
    stop_pid "$upstream_pid"
    stop_pid "$redis_pid"
    if [ "$rc" -eq 0 ] && [ "${CLIENT_MATRIX_KEEP:-0}" != 1 ]; then
        rm -rf "$work"
    else
        echo "client-matrix: logs and outputs kept in $work"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

wait_until() {  # pid tries command...: until command succeeds (tries x 50 ms at most, while pid lives)
    local pid=$1 tries=$2 _
    shift 2
    for _ in $(seq 1 "$tries"); do
        kill -0 "$pid" 2>/dev/null || return 1
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    return 1
}
answers_ping() { [ "$(timeout 2 redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ]; }
# herdguard answers PING itself: EXISTS goes to Redis, so "0" means the Redis side is up too.
forwards() { [ "$(timeout 2 redis-cli -h 127.0.0.1 -p "$1" exists cm:ready 2>/dev/null)" = 0 ]; }
accepts_tcp() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port_taken_in() { grep -qi 'address already in use\|eaddrinuse' "$1" 2>/dev/null; }

start_redis() {
    local _
    for _ in 1 2 3; do
        free_port_into redis_port
        redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" \
            </dev/null >"$work/redis.log" 2>&1 &
        redis_pid=$!
        wait_until "$redis_pid" 100 answers_ping "$redis_port" && return 0
        stop_pid "$redis_pid"; redis_pid=''
        port_taken_in "$work/redis.log" || break
    done
    tail -20 "$work/redis.log" >&2
    die "redis-server did not start"
}
start_upstream() {
    local _
    for _ in 1 2 3; do
        free_port_into upstream_port
        "$DEMO_UPSTREAM_BIN" --listen "127.0.0.1:$upstream_port" </dev/null >"$work/upstream.log" 2>&1 &
        upstream_pid=$!
        wait_until "$upstream_pid" 100 accepts_tcp "$upstream_port" && return 0
        stop_pid "$upstream_pid"; upstream_pid=''
        port_taken_in "$work/upstream.log" || break
    done
    tail -20 "$work/upstream.log" >&2
    die "the demo upstream did not start"
}
write_config() {
    cat >"$work/herdguard.yaml" <<EOF
# written by scripts/client-matrix.sh: one route, read-through from the demo upstream
shutdown_timeout: 2s
routes:
  - name: matrix
    match: "cmroute:*"
    upstream: "http://127.0.0.1:$upstream_port/items/{1}"
EOF
    "$HERDGUARD_BIN" --check --config "$work/herdguard.yaml" >/dev/null ||
        die "herdguard --check rejected $work/herdguard.yaml"
}
launch_herdguard() {  # on $hg_port / $admin_port; 0 once it forwards to Redis
    echo "--- herdguard start $(date +%T.%N)" >>"$work/herdguard.log"
    "$HERDGUARD_BIN" --config "$work/herdguard.yaml" --listen "127.0.0.1:$hg_port" \
        --redis "127.0.0.1:$redis_port" --admin "127.0.0.1:$admin_port" --threads "$threads" \
        --log-level info </dev/null >>"$work/herdguard.log" 2>&1 &
    hg_pid=$!
    wait_until "$hg_pid" 200 forwards "$hg_port"
}
start_herdguard() {  # first start: free ports, retried when one was taken meanwhile
    local _
    for _ in 1 2 3; do
        free_port_into hg_port
        free_port_into admin_port
        launch_herdguard && return 0
        stop_pid "$hg_pid"; hg_pid=''
        port_taken_in "$work/herdguard.log" || break
    done
    tail -20 "$work/herdguard.log" >&2
    die "herdguard did not start"
}
# Step 10's restart: stop herdguard by PID, start it again on the same ports. Sets restart_info.
restart_herdguard() {
    local t0 t1 status _
    t0=$(date +%s%N)
    kill "-$restart_signal" "$hg_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$hg_pid" 2>/dev/null || break; sleep 0.05; done
    if kill -0 "$hg_pid" 2>/dev/null; then
        kill -9 "$hg_pid" 2>/dev/null
        echo "client-matrix: herdguard (pid $hg_pid) still running 5 s after SIG$restart_signal: killed" >&2
    fi
    status=0
    wait "$hg_pid" 2>/dev/null || status=$?
    t1=$(date +%s%N)
    local old=$hg_pid
    if launch_herdguard; then
        restart_info="old pid $old stopped by SIG$restart_signal in $(((t1 - t0) / 1000000)) ms (exit $status), new pid $hg_pid up $((($(date +%s%N) - t1) / 1000000)) ms later on port $hg_port"
        return 0
    fi
    restart_info="herdguard did not come back on port $hg_port (see $work/herdguard.log)"
    return 1
}

log "starting redis-server, the demo upstream and herdguard on loopback"
start_redis
start_upstream
write_config
start_herdguard
echo "redis-server 127.0.0.1:$redis_port (pid $redis_pid), demo upstream 127.0.0.1:$upstream_port (pid $upstream_pid)"
echo "herdguard 127.0.0.1:$hg_port, admin 127.0.0.1:$admin_port (pid $hg_pid, $($HERDGUARD_BIN --version 2>/dev/null | head -1))"

# ---------------------------------------------------------------------------------------------
# The matrix
entries=(redis-py:2 redis5:2 redis5:3 redis-latest:2 redis-latest:3 ioredis:2 ioredis:3 bullmq:2)
selected() {  # entry: is it in CLIENT_MATRIX_ONLY (or is that empty)?
    local want
    [ -z "$only" ] && return 0
    for want in ${only//,/ }; do
        [ "$want" = "$1" ] || [ "$want" = "${1%%:*}" ] && return 0
    done
    return 1
}

export HG_PORT HG_ADMIN HG_UPSTREAM HG_ROUTE_PREFIX=cmroute: HG_ROUTE_PATH=/items/ HG_MATRIX_CONTROL=1
HG_PORT=$hg_port HG_ADMIN=127.0.0.1:$admin_port HG_UPSTREAM=127.0.0.1:$upstream_port
results=$work/results
: >"$results"
problems=()

# Runs one client program with a control channel: its stdout lines are results (kept) or
# requests ("CTL restart", answered on its stdin).
run_client() {  # label command...
    local label=$1 line rc
    shift
    echo "--- $label: $*" >>"$work/clients.err"
    coproc CLIENT { exec timeout -k 5 "$client_timeout" "$@" 2>>"$work/clients.err"; }
    # shellcheck disable=SC2153  # CLIENT_PID is set by coproc
    client_pid=$CLIENT_PID
    local rfd=${CLIENT[0]} wfd=${CLIENT[1]}
    while IFS= read -r line <&"$rfd"; do
        case $line in
            "CTL restart")
                if restart_herdguard; then
                    echo "ok $restart_info" >&"$wfd"
                else
                    echo "fail $restart_info" >&"$wfd"
                fi
                ;;
            CTL*) echo "fail unknown request" >&"$wfd" ;;
            *)
                echo "$line"
                case $line in PASS* | FAIL* | SKIP*) echo "$line" >>"$results" ;; esac
                ;;
        esac
    done
    rc=0
    wait "$client_pid" || rc=$?
    client_pid=''
    case $rc in
        0) ;;
        1) failed=1 ;;  # failed steps: their FAIL lines say why
        124 | 137) failed=1; problems+=("$label: killed after ${client_timeout}s") ;;
        *) failed=1; problems+=("$label: exited with status $rc (see $work/clients.err)") ;;
    esac
    return 0
}

t_start=$SECONDS
for entry in "${entries[@]}"; do
    selected "$entry" || continue
    lib=${entry%%:*} proto=${entry##*:}
    log "$lib RESP$proto"
    left=$((budget - (SECONDS - t_start)))
    if [ "$left" -lt 20 ]; then
        problems+=("$entry: not run: the matrix's ${budget}s budget is spent (CLIENT_MATRIX_BUDGET_S)")
        failed=1
        continue
    fi
    client_timeout=$((left < 90 ? left : 90))
    if ! kill -0 "$hg_pid" 2>/dev/null; then  # died during the previous client: a real bug
        status=0; wait "$hg_pid" 2>/dev/null || status=$?
        problems+=("herdguard (pid $hg_pid) exited with status $status before $entry; log: $work/herdguard.log")
        failed=1
        tail -20 "$work/herdguard.log"
        launch_herdguard || die "herdguard did not start again"
    fi
    if [ "$lib" = bullmq ]; then
        # BullMQ's workers over two herdguards in front of the one Redis (issue 22: CLIENT LIST
        # through either instance lists the clients of both).
        if [ -z "$hg2_pid" ]; then
            free_port_into hg2_port
            free_port_into admin2_port
            "$HERDGUARD_BIN" --config "$work/herdguard.yaml" --listen "127.0.0.1:$hg2_port" \
                --redis "127.0.0.1:$redis_port" --admin "127.0.0.1:$admin2_port" --threads "$threads" \
                --log-level info </dev/null >>"$work/herdguard2.log" 2>&1 &
            hg2_pid=$!
            if ! wait_until "$hg2_pid" 200 forwards "$hg2_port"; then
                problems+=("bullmq: the second herdguard did not start (see $work/herdguard2.log)")
                failed=1
                continue
            fi
        fi
        run_client "$entry" env HG_PORT2="$hg2_port" node "$clients_dir/bullmq_workers.js"
    elif [ "$lib" = redis-py ]; then
        if ! "$PYTHON" -c 'import redis' 2>/dev/null; then
            problems+=("redis-py: $PYTHON cannot import redis (install python3-redis)")
            failed=1
            continue
        fi
        run_client "$entry" "$PYTHON" "$clients_dir/python_matrix.py"
    else
        run_client "$entry" node "$clients_dir/node_matrix.js" "$lib" "$proto"
    fi
done
if ! kill -0 "$hg_pid" 2>/dev/null; then
    problems+=("herdguard (pid $hg_pid) exited during the last client; log: $work/herdguard.log")
    failed=1
fi

# ---------------------------------------------------------------------------------------------
# Summary: client x protocol x step
echo
log "real-client matrix ($((SECONDS - t_start)) s; herdguard $HERDGUARD_BIN)"
awk '
    $1 == "PASS" || $1 == "FAIL" || $1 == "SKIP" {
        row = $2 " " $3; step = $4; sub(/:$/, "", step)
        if (!(row in seen)) { seen[row] = 1; rows[++nrows] = row }
        if (!(step in seenstep)) { seenstep[step] = 1; steps[++nsteps] = step }
        cell[row, step] = $1
    }
    END {
        if (nrows == 0) { print "(no results)"; exit }
        printf "%-22s %-6s", "client", "proto"
        for (s = 1; s <= nsteps; s++) printf " %-4s", substr(steps[s], 1, 2)
        printf "\n"
        for (r = 1; r <= nrows; r++) {
            split(rows[r], rp, " ")
            printf "%-22s %-6s", rp[1], rp[2]
            for (s = 1; s <= nsteps; s++) {
                c = cell[rows[r], steps[s]]
                printf " %-4s", c == "" ? "----" : c
            }
            printf "\n"
        }
        printf "steps:"
        for (s = 1; s <= nsteps; s++) printf " %s", steps[s]
        printf "\n"
    }' "$results"

nfail=$(grep -c '^FAIL' "$results" || true)
npass=$(grep -c '^PASS' "$results" || true)
if [ "$nfail" -gt 0 ]; then
    failed=1
    echo
    echo "failures:"
    grep '^FAIL' "$results" | sed 's/^FAIL /  /'
fi
for p in "${problems[@]}"; do echo "  $p"; done
echo
if [ "$failed" -ne 0 ]; then
    echo "client matrix: FAILED ($npass passed, $nfail failed)"
    exit 1
fi
echo "client matrix: all $npass steps passed"
