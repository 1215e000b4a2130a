# The checks of scripts/container-test.sh (sourced by it, not run): the image, the pod and the
# compose demo. Each prints PASS or FAIL through pass()/fail(); pm() is podman with runc.
# shellcheck shell=bash
log() { :; }
die() { fail "$*"; exit 1; }
# shellcheck source=bench/lib.sh
. bench/lib.sh

http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$1"; }
wait_http_200() {  # url seconds
    local _
    for _ in $(seq 1 $(($2 * 10))); do [ "$(http_code "$1")" = 200 ] && return 0; sleep 0.1; done
    return 1
}
check_eq() {  # what got expected
    if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: got '$2', expected '$3'"; fi
}
herd_bench_bin() {
    local b=$root/build/release/bench/herd_bench
    [ -x "$b" ] && { echo "$b"; return; }
    b=$work/herd_bench
    [ -x "$b" ] || g++ -O2 -std=c++20 -pthread -o "$b" bench/herd_bench.cpp || return 1
    echo "$b"
}

# --- the image ----------------------------------------------------------------------------------
image_checks() {
    local image=localhost/herdguard:local
    check_eq "image: USER is 10001:10001" "$(pm image inspect --format '{{.Config.User}}' "$image")" "10001:10001"
    check_eq "image: runs as uid 10001 (id -u in the container)" \
        "$(pm run --rm --read-only --network host --entrypoint id "$image" -u 2>&1)" "10001"

    # Redis and the demo upstream on the host; herdguard in the container, --network host, read-only.
    local rport uport lport aport
    free_port_into rport; free_port_into uport; free_port_into lport; free_port_into aport
    redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
    redis_pid=$!
    pm run -d --name "hg-upstream-$$" --read-only --network host --entrypoint herdguard-demo-upstream "$image" \
        --listen "127.0.0.1:$uport" --latency-ms 200 >/dev/null
    containers+=("hg-upstream-$$")
    cat >"$work/herdguard.yaml" <<EOF
listen: 127.0.0.1:$lport
shutdown_timeout: 5s
redis:
  address: 127.0.0.1:$rport
admin:
  listen: 127.0.0.1:$aport
routes:
  - name: products
    match: "product:*"
    upstream: "http://127.0.0.1:$uport/products/{1}"
EOF
    chmod 644 "$work/herdguard.yaml"
    # What the Kubernetes manifest enforces: read-only root, no capabilities, no privilege gain.
    pm run -d --name "hg-$$" --read-only --cap-drop ALL --security-opt no-new-privileges --network host \
        -v "$work/herdguard.yaml:/etc/herdguard/herdguard.yaml:ro" "$image" >/dev/null
    containers+=("hg-$$")
    if wait_http_200 "http://127.0.0.1:$aport/readyz" 20; then
        pass "container (read-only root, cap-drop ALL): /readyz 200 once Redis is reached"
    else
        fail "container: /readyz never 200: $(pm logs "hg-$$" 2>&1 | tail -3)"
        return
    fi
    check_eq "container: /healthz" "$(http_code "http://127.0.0.1:$aport/healthz")" 200
    check_eq "container: uid of the running herdguard" "$(pm exec "hg-$$" id -u 2>&1)" 10001
    check_eq "container: pass-through SET" "$(redis-cli -p "$lport" SET plain:k v1)" OK
    check_eq "container: pass-through GET" "$(redis-cli -p "$lport" GET plain:k)" v1

    # The herd: 1000 concurrent GETs of one cold routed key, one upstream request.
    local hb json
    if ! hb=$(herd_bench_bin); then fail "container: herd_bench did not compile"; return; fi
    (ulimit -n 4096 2>/dev/null; "$hb" --ports "$lport" --clients 1000 --key product:herd --timeout-ms 20000) \
        >"$work/herd.json" 2>"$work/herd.err"
    json=$(cat "$work/herd.json")
    local values upstream
    values=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["values"])' "$json" 2>/dev/null)
    upstream=$(curl -s --max-time 3 "http://127.0.0.1:$uport/_stats" | awk '$2 == "/products/herd" {print $1}')
    check_eq "container: herd of 1000 concurrent GETs: values" "$values" 1000
    check_eq "container: herd of 1000 concurrent GETs: upstream requests" "${upstream:-0}" 1
    local metrics
    metrics=$(curl -s --max-time 3 "http://127.0.0.1:$aport/metrics")
    check_eq "container: /metrics shows the herd's one load" \
        "$(awk '$1 == "herdguard_route_loads_ok_total{route=\"products\"}" {print $2}' <<<"$metrics")" 1
    check_eq "container: /metrics shows 1000 routed requests" \
        "$(awk '$1 == "herdguard_route_requests_total{route=\"products\"}" {print $2}' <<<"$metrics")" 1000

    # Graceful stop: a GET whose load takes 1.5 s is in flight when podman stop sends SIGTERM; it
    # gets its value, and herdguard exits 0 well within shutdown_timeout (5 s).
    curl -s --max-time 3 "http://127.0.0.1:$uport/_control?latency_ms=1500" >/dev/null
    redis-cli -p "$lport" GET product:slow >"$work/inflight.out" 2>&1 &
    local inflight=$! t0 t1 code
    sleep 0.3  # the GET reaches herdguard and starts its load (a head start, not a handshake)
    t0=$(date +%s%N)
    pm stop -t 15 "hg-$$" >/dev/null 2>&1
    t1=$(date +%s%N)
    wait "$inflight"
    code=$(pm inspect --format '{{.State.ExitCode}}' "hg-$$")
    check_eq "podman stop: herdguard exits 0" "$code" 0
    if [ $(((t1 - t0) / 1000000)) -lt 5000 ]; then
        pass "podman stop: drained in $(((t1 - t0) / 1000000)) ms (shutdown_timeout 5 s)"
    else
        fail "podman stop took $(((t1 - t0) / 1000000)) ms, over shutdown_timeout 5 s"
    fi
    check_eq "podman stop: the GET in flight got its value" "$(cat "$work/inflight.out")" "value:/products/slow#1"
    pm logs "hg-$$" 2>&1 | grep -q 'drain' && pass "podman stop: herdguard logged its drain" ||
        fail "podman stop: no drain in the log: $(pm logs "hg-$$" 2>&1 | tail -3)"
    pm rm -f -t 0 "hg-$$" "hg-upstream-$$" >/dev/null 2>&1
    stop_pid "$redis_pid"; redis_pid=""
}

pod_checks() { :; }
compose_checks() { :; }
