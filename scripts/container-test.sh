#!/usr/bin/env bash
# The container stage of the test command (issue 14): the image, the Kubernetes sidecar as a pod
# and the compose demo, run for real with Debian's podman, no registry.
#
#  1. base images: `debootstrap --variant=minbase bookworm` imported as debian:bookworm and
#     debian:bookworm-slim (kept in podman's image store, so made once per machine);
#  2. builds docker/Dockerfile (herdguard:local) and docker/tools.Dockerfile (Redis and redis-cli
#     from Debian, for the pod and compose);
#  3. the image: uid 10001, read-only root filesystem, pass-through, a herd of 1000 concurrent
#     GETs with 1 upstream request, /metrics /healthz /readyz, `podman stop` drains a request in
#     flight and exits 0 within shutdown_timeout; its size;
#  4. docker/kubernetes/sidecar.yaml with `podman kube play` (scripts/sidecar-for-podman.py makes
#     the podman variant: images, a Redis container, herdguard as an ordinary container);
#  5. docker/compose.yaml's redis, upstream and herdguard services with podman-compose.
#
# Every check prints PASS or FAIL; the stage exits 1 if any failed. If podman cannot run here, it
# says so in one line and exits 0, so the rest of the test command still runs.
# Podman runs with `--runtime runc` and a containers.conf of our own (CONTAINERS_CONF) with
# `default_ulimits = []`: on these VMs crun and podman's default ulimits fail
# (`setrlimit RLIMIT_NOFILE: Operation not permitted`).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
root=$PWD
stage_start=$(date +%s)
failures=0
pass() { echo "PASS  $*"; }
fail() { echo "FAIL  $*"; failures=$((failures + 1)); }
note() { echo "==    $*"; }
elapsed() { echo $(($(date +%s) - stage_start)); }

# --- can podman run here? ---------------------------------------------------------------------
# Every package this stage uses, named, because podman is installed without its Recommends and a
# used machine hides what a new one lacks (issue 20: a new machine failed here, every used one
# passed):
#   podman runc          the engine and the runtime (crun fails here: see the note above)
#   conmon               podman's container monitor (a Depends, named for clarity)
#   debootstrap          makes the base image (no registry)
#   podman-compose       runs docker/compose.yaml
#   uidmap slirp4netns fuse-overlayfs   user namespaces, rootless networking and overlay storage
#   catatonit            the pause binary: `podman kube play` builds its local pause image from it
#                        ("finding pause binary: exec: catatonit: executable file not found")
#   netavark aardvark-dns iptables   the network stack with DNS between containers: compose's
#                        services reach `redis` by name only through aardvark-dns (bookworm's
#                        default alternative, CNI without the dnsname plugin, resolves nothing);
#                        netavark sets up NAT with iptables. containers.conf below selects it.
container_pkgs=(podman runc conmon debootstrap podman-compose uidmap slirp4netns fuse-overlayfs
                catatonit netavark aardvark-dns iptables)
container_missing=()
for p in "${container_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || container_missing+=("$p")
done
if [ ${#container_missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "SKIP  container stage: not root, and these are not installed: ${container_missing[*]}"
    exit 0
  fi
  note "installing ${container_missing[*]} (Debian)"
  if ! { apt-get update -qq >/dev/null 2>&1
         DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
           "${container_missing[@]}" >/dev/null; }; then
    # Root on Debian with its mirror reachable: an install that fails is a broken stage, not one
    # that cannot run.
    fail "apt-get install ${container_missing[*]} failed"
    exit 1
  fi
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/herdguard-containers.XXXXXX")
containers=()
cleanup() {
  local c
  for c in "${containers[@]}"; do podman --runtime runc rm -f -t 0 "$c" >/dev/null 2>&1; done
  [ -n "${pod_yaml:-}" ] && podman --runtime runc kube down "$pod_yaml" >/dev/null 2>&1
  if [ -n "${compose_up:-}" ]; then
    (cd docker && timeout 60 podman-compose -p "$compose_project" --podman-args="--runtime runc" -f compose.yaml down >/dev/null 2>&1)
    podman --runtime runc network rm -f "${compose_project}_default" >/dev/null 2>&1
  fi
  [ -n "${upstream_pid:-}" ] && kill "$upstream_pid" 2>/dev/null
  [ -n "${redis_pid:-}" ] && kill "$redis_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
# netavark, not CNI: the only backend here whose networks resolve container names (aardvark-dns).
printf '[containers]\ndefault_ulimits = []\n[network]\nnetwork_backend = "netavark"\n' >"$work/containers.conf"
export CONTAINERS_CONF=$work/containers.conf
pm() { podman --runtime runc "$@"; }
if ! out=$(pm info 2>&1); then
  echo "SKIP  container stage: podman cannot run here: $(grep -m1 -i 'error' <<<"$out" || head -1 <<<"$out")"
  exit 0
fi

# --- 1. base images ---------------------------------------------------------------------------
if pm image exists docker.io/library/debian:bookworm && pm image exists docker.io/library/debian:bookworm-slim; then
  note "base images debian:bookworm and bookworm-slim: cached in podman's store"
else
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null)
  [ -n "$mirror" ] || mirror=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
  mirror=${mirror:-http://deb.debian.org/debian}
  note "making the base image: debootstrap --variant=minbase bookworm from $mirror"
  t0=$(date +%s)
  if ! debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1; then
    echo "SKIP  container stage: debootstrap failed: $(tail -1 "$work/debootstrap.log")"
    exit 0
  fi
  tar -C "$work/rootfs" -c . | pm import - docker.io/library/debian:bookworm >/dev/null &&
    pm tag docker.io/library/debian:bookworm docker.io/library/debian:bookworm-slim ||
    { echo "SKIP  container stage: podman import of the base image failed"; exit 0; }
  rm -rf "$work/rootfs"
  note "base image made in $(($(date +%s) - t0)) s"
fi
if ! out=$(pm run --rm --network host docker.io/library/debian:bookworm true 2>&1); then
  echo "SKIP  container stage: podman cannot run a container here: $(head -1 <<<"$out")"
  exit 0
fi

# --- 2. build ---------------------------------------------------------------------------------
t0=$(date +%s)
if pm build -f docker/Dockerfile -t localhost/herdguard:local . >"$work/build.log" 2>&1; then
  pass "podman build -f docker/Dockerfile -t herdguard:local . ($(($(date +%s) - t0)) s)"
else
  fail "podman build -f docker/Dockerfile: $(tail -5 "$work/build.log")"
  exit 1
fi
t0=$(date +%s)
if pm build -f docker/tools.Dockerfile -t localhost/herdguard-tools:local docker >"$work/build-tools.log" 2>&1; then
  pass "podman build -f docker/tools.Dockerfile -t herdguard-tools:local docker ($(($(date +%s) - t0)) s)"
else
  fail "podman build -f docker/tools.Dockerfile: $(tail -5 "$work/build-tools.log")"
  exit 1
fi
size=$(pm image inspect --format '{{.Size}}' localhost/herdguard:local)
note "image herdguard:local: $(awk -v s="$size" 'BEGIN {printf "%.1f MB", s / 1e6}') (on the debootstrap minbase here; docs/DEPLOY.md has the real slim base's figure)"

if ! /usr/bin/python3 -c 'import yaml' 2>/dev/null; then  # the pod check edits YAML
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-yaml >/dev/null 2>&1 ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-yaml >/dev/null; }
fi
. scripts/container-checks.sh
image_checks
pod_checks
compose_checks

echo "== container stage: $failures failure(s), $(elapsed) s"
[ "$failures" -eq 0 ]
