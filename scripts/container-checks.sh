# The checks of scripts/container-test.sh (sourced by it, not run): the image, the pod and the
# compose demo. Each prints PASS or FAIL through pass()/fail(); pm() is podman with runc. The
# caller sets $root, $work and the cleanup trap, which reads $redis_pid, $pod_yaml, $compose_up.
# shellcheck shell=bash disable=SC2154,SC2034
log() { :; }
die() { fail "$*"; exit 1; }
# shellcheck source=bench/lib.sh
. bench/lib.sh

py=/usr/bin/python3  # Debian's, with python3-yaml (installed by container-test.sh if missing)

http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$1"; }
wait_http_200() {  # url seconds
    local _
    for _ in $(seq 1 $(($2 * 10))); do [ "$(http_code "$1")" = 200 ] && return 0; sleep 0.1; done
    return 1
}
# Whether a container's log has a line matching a pattern. The log is read whole before grep sees
# it: `pm logs | grep -q` under pipefail fails when grep quits at its first match and podman, still
# writing, dies of SIGPIPE (seen in CI: "no drain in the log" over a log that had it).
logs_have() {  # container pattern
    local out
    out=$(pm logs "$1" 2>&1)
    grep -q -- "$2" <<<"$out"
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
    logs_have "hg-$$" 'drain' && pass "podman stop: herdguard logged its drain" ||
        fail "podman stop: no drain in the log: $(pm logs "hg-$$" 2>&1 | tail -3)"
    pm rm -f -t 0 "hg-$$" "hg-upstream-$$" >/dev/null 2>&1
    stop_pid "$redis_pid"; redis_pid=""
}

# --- the Kubernetes sidecar, as a pod ------------------------------------------------------------
pod_checks() {
    local admin pod=my-app-pod-0 hg=my-app-pod-0-herdguard app=my-app-pod-0-app
    free_port_into admin
    pod_yaml=$work/sidecar-podman.yaml
    if ! ADMIN_HOST_PORT=$admin "$py" scripts/sidecar-for-podman.py docker/kubernetes/sidecar.yaml \
        localhost/herdguard:local localhost/herdguard-tools:local >"$pod_yaml"; then
        fail "pod: scripts/sidecar-for-podman.py could not convert docker/kubernetes/sidecar.yaml"
        pod_yaml=""
        return
    fi
    pm kube down "$pod_yaml" >/dev/null 2>&1  # a pod left by an interrupted run
    pm volume rm -f my-app-herdguard >/dev/null 2>&1
    if ! out=$(pm kube play "$pod_yaml" 2>&1); then
        fail "pod: podman kube play: $(tail -3 <<<"$out")"
        return
    fi
    pass "pod: podman kube play docker/kubernetes/sidecar.yaml (its podman variant: $(pm pod inspect --format '{{.NumContainers}}' "$pod" 2>/dev/null) containers)"
    if wait_http_200 "http://127.0.0.1:$admin/readyz" 20; then
        pass "pod: readiness probe (GET /readyz on the admin port, as kubelet asks it) 200"
    else
        fail "pod: /readyz never 200: $(pm logs "$hg" 2>&1 | tail -3)"
    fi
    check_eq "pod: liveness probe (GET /healthz on the admin port)" "$(http_code "http://127.0.0.1:$admin/healthz")" 200
    if pm healthcheck run "$hg" >/dev/null 2>&1; then
        pass "pod: podman runs the liveness probe in the container: healthy"
    else
        fail "pod: podman healthcheck run $hg: unhealthy"
    fi
    local _ seen=""
    for _ in $(seq 1 100); do  # the app's loop prints one GET a second
        logs_have "$app" 'value:/products/1#' && { seen=1; break; }
        sleep 0.1
    done
    [ -n "$seen" ] && pass "pod: the app reaches herdguard on 127.0.0.1:6380 (its loop reads product:1 through it)" ||
        fail "pod: the app's loop never read product:1: $(pm logs "$app" 2>&1 | tail -3)"
    check_eq "pod: redis-cli in the app container, through herdguard" \
        "$(pm exec "$app" redis-cli -h 127.0.0.1 -p 6380 GET product:2 2>&1)" "value:/products/2#1"

    # A ConfigMap change, then SIGHUP: the mounted file changes (podman keeps the ConfigMap as a
    # volume), and herdguard reloads its routes without a restart.
    local dir
    dir=$(pm volume inspect --format '{{.Mountpoint}}' my-app-herdguard 2>/dev/null)
    if [ -z "$dir" ] || [ ! -f "$dir/herdguard.yaml" ]; then
        fail "pod: the ConfigMap's volume (my-app-herdguard) has no herdguard.yaml"
    else
        "$py" - "$dir/herdguard.yaml" <<'PY'
import sys, yaml
path = sys.argv[1]
conf = yaml.safe_load(open(path))
route = dict(conf["routes"][0], name="items", match="item:*", upstream="http://127.0.0.1:8080/items/{1}")
conf["routes"].append(route)
open(path, "w").write(yaml.safe_dump(conf, sort_keys=False))
PY
        pm kill --signal HUP "$hg" >/dev/null
        local reloaded=""
        for _ in $(seq 1 50); do
            logs_have "$hg" 'routes reloaded: 2 in effect' && { reloaded=1; break; }
            sleep 0.1
        done
        [ -n "$reloaded" ] && pass "pod: ConfigMap change + SIGHUP: herdguard reloaded its routes (2 in effect)" ||
            fail "pod: no reload after SIGHUP: $(pm logs "$hg" 2>&1 | tail -2)"
        check_eq "pod: the new route serves" "$(pm exec "$app" redis-cli -h 127.0.0.1 -p 6380 GET item:7 2>&1)" \
            "value:/items/7#1"
    fi

    # Shutdown. podman 4.3's kube down kills the pod's containers at once (exit 137: seen here),
    # so the pod is first stopped as kubelet stops it: SIGTERM to every container, then up to
    # terminationGracePeriodSeconds (30). herdguard must drain and exit 0.
    local t0 t1
    t0=$(date +%s%N)
    pm pod stop -t 30 "$pod" >/dev/null 2>&1
    t1=$(date +%s%N)
    check_eq "pod: herdguard exits 0 on SIGTERM" "$(pm inspect --format '{{.State.ExitCode}}' "$hg" 2>&1)" 0
    logs_have "$hg" '"drained' && pass "pod: herdguard drained ($(((t1 - t0) / 1000000)) ms for the pod)" ||
        fail "pod: herdguard did not log a drain: $(pm logs "$hg" 2>&1 | tail -2)"
    if pm kube down "$pod_yaml" >/dev/null 2>&1; then
        pass "pod: podman kube down"
        pod_yaml=""
    else
        fail "pod: podman kube down failed"
    fi
    pm volume rm -f my-app-herdguard >/dev/null 2>&1
}
# --- the compose demo ------------------------------------------------------------------------------
# docker/compose.yaml's redis, upstream and herdguard-a/-b with podman-compose (Debian's 1.0.3).
# Prometheus and Grafana come from a registry: they stay behind their `monitoring` profile, left
# out by naming the four services.
compose_checks() {
    if ! command -v podman-compose >/dev/null; then
        fail "compose: podman-compose is not installed (apt-get install podman-compose)"
        return
    fi
    local a aa b ba up
    free_port_into a; free_port_into aa; free_port_into b; free_port_into ba; free_port_into up
    compose_project=hgtest$$
    compose() {
        (cd docker && HERDGUARD_REDIS_IMAGE=localhost/herdguard-tools:local HERDGUARD_A_PORT=$a \
            HERDGUARD_A_ADMIN_PORT=$aa HERDGUARD_B_PORT=$b HERDGUARD_B_ADMIN_PORT=$ba HERDGUARD_UPSTREAM_PORT=$up \
            timeout 180 podman-compose -p "$compose_project" --podman-args="--runtime runc" -f compose.yaml "$@")
    }
    compose_up=1
    if compose up -d --no-build redis upstream herdguard-a herdguard-b >"$work/compose-up.log" 2>&1; then
        pass "compose: podman-compose up redis upstream herdguard-a herdguard-b"
    else
        fail "compose: podman-compose up: $(tail -3 "$work/compose-up.log")"
        return
    fi
    if wait_http_200 "http://127.0.0.1:$aa/readyz" 20 && wait_http_200 "http://127.0.0.1:$ba/readyz" 20; then
        pass "compose: herdguard-a and herdguard-b ready (Redis reached by its service name)"
    else
        fail "compose: not ready: $(pm logs "${compose_project}_herdguard-a_1" 2>&1 | tail -3)"
    fi
    check_eq "compose: GET product:42 through herdguard-a" "$(redis-cli -p "$a" GET product:42)" "value:/products/42#1"
    check_eq "compose: GET product:42 through herdguard-b (the value from the shared Redis)" \
        "$(redis-cli -p "$b" GET product:42)" "value:/products/42#1"
    check_eq "compose: one upstream load for both instances" \
        "$(curl -s --max-time 3 "http://127.0.0.1:$up/_stats" | awk '$1 == "total" {print $2}')" 1
    compose stop >"$work/compose-stop.log" 2>&1
    check_eq "compose: herdguard-a exits 0 on stop" \
        "$(pm inspect --format '{{.State.ExitCode}}' "${compose_project}_herdguard-a_1" 2>&1)" 0
    check_eq "compose: herdguard-b exits 0 on stop" \
        "$(pm inspect --format '{{.State.ExitCode}}' "${compose_project}_herdguard-b_1" 2>&1)" 0
    compose down >"$work/compose-down.log" 2>&1 && compose_up=""
    pm network rm -f "${compose_project}_default" >/dev/null 2>&1
}
