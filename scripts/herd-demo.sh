#!/usr/bin/env bash
# One herd, visible: N concurrent GETs of one key that is not cached yet, through herdguard, and
# how many of them reached the upstream. Usage: scripts/herd-demo.sh [clients] [port] [upstream]
# (defaults: 1000, 6380, 127.0.0.1:8080 — what scripts/run.sh starts).
set -euo pipefail
clients=${1:-1000}
port=${2:-6380}
upstream=${3:-127.0.0.1:8080}
key="product:herd-$RANDOM$RANDOM"
ulimit -n $((clients + 1024)) 2>/dev/null || true

http_get() {  # http_get HOST:PORT PATH -> body (bash /dev/tcp: no extra tools needed)
  local host=${1%:*} port=${1##*:}
  exec 3<>"/dev/tcp/$host/$port"
  printf 'GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$2" "$1" >&3
  sed '1,/^\r$/d' <&3
  exec 3<&-
}

before=$(http_get "$upstream" /_stats | awk '/^total/ {print $2}')
echo "herd: $clients concurrent clients GET $key (not cached yet) through 127.0.0.1:$port"
redis-benchmark -p "$port" -c "$clients" -n "$clients" -q GET "$key" 2>/dev/null | tr '\r' '\n' | tail -n 1
after=$(http_get "$upstream" /_stats | awk '/^total/ {print $2}')
echo "upstream requests for those $clients GETs: $((after - before))"
echo "value now cached: $(redis-cli -p "$port" GET "$key")"
