#!/usr/bin/env bash
# The main job: installs what is missing, builds a release herdguard, starts a local redis-server
# on loopback (unless REDIS=host:port names one) and the demo upstream on 127.0.0.1:8080 (200 ms
# per answer, counting requests), runs herdguard on 127.0.0.1:6380 in front of them with
# config/herdguard.yaml (product:* is read-through from the demo upstream), shows one herd being
# absorbed, and keeps serving. Ctrl-C stops herdguard and every process this script started.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
scripts/build.sh release herdguard herdguard-demo-upstream >/dev/null
bin=build/release/herdguard
rundir=${RUNDIR:-/tmp/herdguard-run}
mkdir -p "$rundir"
listen=${LISTEN:-127.0.0.1:6380}

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_ping() {  # wait_ping PORT: bounded wait until something answers PING there
  for _ in $(seq 1 100); do
    [ "$(redis-cli -p "$1" ping 2>/dev/null)" = "PONG" ] && return 0
    sleep 0.05
  done
  return 1
}

if [ -n "${REDIS:-}" ]; then
  redis_addr=$REDIS
else
  redis_port=6379
  while ! port_free "$redis_port"; do redis_port=$((redis_port + 1)); done
  [ "$redis_port" = 6380 ] && redis_port=6381 && while ! port_free "$redis_port"; do redis_port=$((redis_port + 1)); done
  redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$rundir" \
    >"$rundir/redis.log" 2>&1 &
  pids+=($!)
  wait_ping "$redis_port" || { echo "redis-server did not start; see $rundir/redis.log" >&2; exit 1; }
  redis_addr=127.0.0.1:$redis_port
  echo "started redis-server on $redis_addr (pid ${pids[-1]})"
fi

upstream=${UPSTREAM_LISTEN:-127.0.0.1:8080}
if port_free "${upstream##*:}"; then
  build/release/herdguard-demo-upstream --listen "$upstream" --latency-ms "${UPSTREAM_LATENCY_MS:-200}" \
    >"$rundir/upstream.log" 2>&1 &
  pids+=($!)
  echo "started the demo upstream on $upstream (pid ${pids[-1]}, 200 ms per answer)"
else
  echo "something already listens on $upstream: using it as the upstream"
fi

"$bin" --config config/herdguard.yaml --listen "$listen" --redis "$redis_addr" &
pids+=($!)
hg_port=${listen##*:}
wait_ping "$hg_port" || { echo "herdguard did not start" >&2; exit 1; }
echo
scripts/herd-demo.sh 1000 "$hg_port" "$upstream" || true
echo
echo "herdguard is serving on $listen in front of redis $redis_addr. Try:"
echo "  redis-cli -p $hg_port GET product:42        # loaded from the upstream once, then cached"
echo "  redis-cli -p $hg_port SET hello world       # anything else passes through to Redis"
echo "  redis-cli -p $hg_port INFO herdguard        # hits, misses, coalesced waiters, breaker"
echo "  scripts/herd-demo.sh                        # 1000 concurrent GETs of a new key"
echo "Ctrl-C stops everything this script started."
wait "${pids[-1]}"
