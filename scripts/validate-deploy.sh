#!/usr/bin/env bash
# Validates the deployment files without Docker or a Kubernetes cluster:
#   docker/Dockerfile, .dockerignore, docker/compose.yaml (+ herdguard.compose.yaml,
#   prometheus.compose.yml, grafana/), docker/kubernetes/sidecar.yaml, docker/herdguard.image.yaml,
#   config/prometheus-rules.yaml (+ .test.yaml) and config/grafana-dashboard.json.
#
# What it checks:
#   - every YAML file under docker/ (and the rule files) parses;
#   - every herdguard configuration they embed or mount passes `herdguard --check`, and uses IP
#     literals for its listeners (--check accepts hostnames there, but herdguard cannot bind them);
#   - the sidecar Deployment agrees with its ConfigMap (probe port = admin port, Prometheus port
#     annotation, terminationGracePeriodSeconds > shutdown_timeout, hardening, resources), and the
#     compose services agree with their config (ports, stop_grace_period, service names);
#   - the Dockerfile's runtime packages cover every shared library `ldd` lists for the binaries;
#   - promtool check rules / test rules / check config (skipped, with a message, without promtool:
#     `apt-get install prometheus` brings it);
#   - the dashboard is valid JSON, its PromQL parses (with promtool), and every metric name that
#     the dashboard and the rules use is served by a live herdguard's /metrics (a redis-server and
#     herdguard started here on free loopback ports, stopped by PID);
#   - the image's HEALTHCHECK command succeeds against that live herdguard.
#
# Needs: build/release/herdguard (scripts/build.sh release herdguard herdguard-demo-upstream),
# redis-server, curl, /usr/bin/python3 with PyYAML (python3-yaml; installed here if missing and
# running as root). Exits non-zero if any check fails.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

bin=${HERDGUARD_BIN:-build/release/herdguard}
demo_bin=${HERDGUARD_DEMO_BIN:-build/release/herdguard-demo-upstream}
py=/usr/bin/python3

failures=0
pass() { printf 'PASS  %s\n' "$*"; }
fail() { printf 'FAIL  %s\n' "$*"; failures=$((failures + 1)); }
skip() { printf 'SKIP  %s\n' "$*"; }

tmp=$(mktemp -d /tmp/herdguard-validate.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# --- prerequisites -----------------------------------------------------------------------------
if ! "$py" -c 'import yaml' 2>/dev/null; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "installing python3-yaml (PyYAML for $py)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-yaml >/dev/null 2>&1 ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-yaml >/dev/null; }
  fi
  "$py" -c 'import yaml' 2>/dev/null || { echo "FAIL  $py has no PyYAML: apt-get install python3-yaml" >&2; exit 1; }
fi
if [ ! -x "$bin" ]; then
  echo "FAIL  $bin is missing: build it with scripts/build.sh release herdguard herdguard-demo-upstream" >&2
  exit 1
fi

# --- runtime libraries: ldd -> Debian packages -------------------------------------------------
lib_packages() {  # lib_packages BINARY: the Debian package of every shared library it loads
  ldd "$1" | awk '/=>/ {print $3}' | while read -r lib; do
    [ -n "$lib" ] || continue
    pkg=$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null || dpkg -S "$lib" 2>/dev/null) || { echo "?$lib"; continue; }
    echo "${pkg%%:*}"
  done | sort -u
}
runtime_pkgs=$( { lib_packages "$bin"; [ -x "$demo_bin" ] && lib_packages "$demo_bin"; } | sort -u | tr '\n' ' ')
echo "runtime packages from ldd: $runtime_pkgs"

# --- static checks (python): parse, cross-check, extract the embedded configurations -----------
"$py" - "$tmp" "$runtime_pkgs" >"$tmp/static.out" 2>&1 <<'PY'
import glob, ipaddress, json, os, re, sys
import yaml

tmp, runtime_pkgs = sys.argv[1], sys.argv[2].split()
ok = True
def res(good, msg):
    global ok
    good = bool(good)
    print(("PASS  " if good else "FAIL  ") + msg)
    ok = ok and good
    return good

def duration_s(v, default):
    if v is None: return default
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)", str(v).strip())
    if not m: return None
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)]

def split_addr(a):
    a = str(a)
    if a.startswith("unix:"): return ("unix", None)
    if a.startswith("["):
        host, _, port = a[1:].partition("]:")
    else:
        host, _, port = a.rpartition(":")
    return (host, int(port) if port.isdigit() else None)

def is_ip(h):
    try: ipaddress.ip_address(h); return True
    except ValueError: return False

def listeners(cfg, name):
    """The RESP and admin listeners of a herdguard config: IP literals (or unix:)."""
    out = {}
    listen = cfg.get("listen", "127.0.0.1:6380")
    admin = (cfg.get("admin") or {}).get("listen", "127.0.0.1:9121")
    for what, addr in (("listen", listen), ("admin.listen", admin)):
        if what == "admin.listen" and str(addr) == "off":
            out[what] = (None, None); continue
        host, port = split_addr(addr)
        res(host == "unix" or is_ip(host),
            f"{name}: {what} {addr} is an IP literal (herdguard --check accepts a hostname here, but cannot bind it)")
        out[what] = (host, port)
    return out

# 1. Every YAML under docker/ (and the rule files) parses.
docs = {}
files = sorted(set(glob.glob("docker/**/*.yaml", recursive=True) + glob.glob("docker/**/*.yml", recursive=True)
                   + ["config/prometheus-rules.yaml", "config/prometheus-rules.test.yaml"]))
for f in files:
    try:
        with open(f) as fh: docs[f] = [d for d in yaml.safe_load_all(fh) if d is not None]
        res(True, f"{f}: YAML parses ({len(docs[f])} document(s))")
    except Exception as e:
        res(False, f"{f}: YAML does not parse: {e}")

# 2. The Kubernetes sidecar manifest.
k = docs.get("docker/kubernetes/sidecar.yaml", [])
cms = [d for d in k if d.get("kind") == "ConfigMap" and "herdguard.yaml" in (d.get("data") or {})]
deps = [d for d in k if d.get("kind") == "Deployment"]
if res(len(cms) == 1 and len(deps) == 1, "sidecar.yaml: one ConfigMap with herdguard.yaml and one Deployment"):
    cm, dep = cms[0], deps[0]
    text = cm["data"]["herdguard.yaml"]
    with open(os.path.join(tmp, "sidecar-herdguard.yaml"), "w") as fh: fh.write(text)
    hg = yaml.safe_load(text) or {}
    ls = listeners(hg, "sidecar ConfigMap")
    lhost, lport = ls["listen"]
    ahost, aport = ls["admin.listen"]
    res(lhost in ("127.0.0.1", "::1"), f"sidecar ConfigMap: listen {lhost}:{lport} is loopback (only the pod reaches it)")
    res(ahost is not None and ahost not in ("127.0.0.1", "::1"),
        f"sidecar ConfigMap: admin.listen {ahost}:{aport} is reachable from the kubelet (not loopback)")
    res(bool((hg.get("redis") or {}).get("address")), "sidecar ConfigMap: redis.address is set")
    pod = dep["spec"]["template"]
    spec = pod["spec"]
    res(dep["spec"]["selector"]["matchLabels"].items() <= pod["metadata"].get("labels", {}).items(),
        "sidecar Deployment: selector matches the pod labels")
    inits = spec.get("initContainers") or []
    conts = spec.get("containers") or []
    hgc = [c for c in inits + conts if c.get("name") == "herdguard"]
    if res(len(hgc) == 1, "sidecar Deployment: one container named herdguard"):
        c = hgc[0]
        native = c in inits
        if native:
            res(c.get("restartPolicy") == "Always", "herdguard in initContainers has restartPolicy: Always (native sidecar)")
            res("startupProbe" in c, "native sidecar has a startupProbe (the app starts after it passes)")
        vols = {v["name"]: v for v in spec.get("volumes", [])}
        mounts = [m for m in c.get("volumeMounts", []) if m.get("mountPath") == "/etc/herdguard"]
        res(bool(mounts) and vols.get(mounts[0]["name"], {}).get("configMap", {}).get("name") == cm["metadata"]["name"],
            "herdguard mounts the ConfigMap at /etc/herdguard (the image reads /etc/herdguard/herdguard.yaml)")
        ports = {p.get("name"): p.get("containerPort") for p in c.get("ports", [])}
        def probe_port(p):
            port = (p.get("httpGet") or {}).get("port")
            return ports.get(port) if isinstance(port, str) else port
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", "/healthz")):
            p = c.get(probe)
            if p is None:
                if probe != "startupProbe": res(False, f"herdguard has a {probe}")
                continue
            res((p.get("httpGet") or {}).get("path") == path and probe_port(p) == aport,
                f"herdguard {probe}: GET {path} on the admin port {aport}")
        ann = pod["metadata"].get("annotations", {})
        res(str(ann.get("prometheus.io/scrape")) == "true" and str(ann.get("prometheus.io/port")) == str(aport)
            and ann.get("prometheus.io/path", "/metrics") == "/metrics",
            f"pod annotations: prometheus.io/scrape true, port {aport}, path /metrics")
        sd = duration_s(hg.get("shutdown_timeout"), 10.0)
        grace = spec.get("terminationGracePeriodSeconds", 30)
        res(sd is not None and grace > sd, f"terminationGracePeriodSeconds {grace} > shutdown_timeout {sd}s")
        sc = c.get("securityContext") or {}
        psc = spec.get("securityContext") or {}
        res(sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True, "herdguard runAsNonRoot")
        res(sc.get("readOnlyRootFilesystem") is True, "herdguard readOnlyRootFilesystem")
        res(sc.get("allowPrivilegeEscalation") is False, "herdguard allowPrivilegeEscalation: false")
        res("ALL" in ((sc.get("capabilities") or {}).get("drop") or []), "herdguard drops ALL capabilities")
        r = c.get("resources") or {}
        res(all(k in (r.get(t) or {}) for t in ("requests", "limits") for k in ("cpu", "memory")),
            "herdguard has cpu and memory requests and limits")
        apps = [a for a in conts if a is not c]
        res(any(f"127.0.0.1:{lport}" in str(e.get("value", "")) for a in apps for e in a.get("env", [])),
            f"an app container is pointed at 127.0.0.1:{lport}")

# 3. The compose demo.
compose = (docs.get("docker/compose.yaml") or [{}])[0]
services = compose.get("services") or {}
res(bool(services), "docker/compose.yaml: has services")
configs = set()
for name, svc in services.items():
    for v in svc.get("volumes", []) or []:
        src = v.split(":")[0] if isinstance(v, str) else v.get("source")
        if src and src.startswith("."):
            res(os.path.exists(os.path.join("docker", src)), f"compose {name}: mounted {src} exists")
    b = svc.get("build")
    if b:
        ctx = os.path.normpath(os.path.join("docker", b.get("context", ".")))
        res(os.path.isfile(os.path.join(ctx, b.get("dockerfile", "Dockerfile"))), f"compose {name}: Dockerfile exists")
    hgvols = [v for v in svc.get("volumes", []) or [] if isinstance(v, str) and ":/etc/herdguard/herdguard.yaml" in v]
    if not hgvols: continue
    src = os.path.normpath(os.path.join("docker", hgvols[0].split(":")[0]))
    configs.add(src)
    hg = yaml.safe_load(open(src)) or {}
    ls = listeners(hg, f"compose {name} ({src})")
    cports = {int(str(p).split(":")[-1]) for p in svc.get("ports", [])}
    for what, (host, port) in ls.items():
        res(host == "0.0.0.0" and port in cports, f"compose {name}: {what} {host}:{port} is published")
    raddr = split_addr((hg.get("redis") or {}).get("address", ""))[0]
    res(raddr in services, f"compose {name}: redis.address host {raddr} is a compose service")
    for r in hg.get("routes", []) or []:
        uhost = re.sub(r"^https?://", "", r.get("upstream", "")).split("/")[0].split(":")[0]
        res(uhost in services, f"compose {name}: route {r.get('name')} upstream host {uhost} is a compose service")
    sd = duration_s(hg.get("shutdown_timeout"), 10.0)
    sg = duration_s(svc.get("stop_grace_period"), 10.0)
    res(sd is not None and sg is not None and sg > sd, f"compose {name}: stop_grace_period {sg}s > shutdown_timeout {sd}s")
with open(os.path.join(tmp, "compose-configs.txt"), "w") as fh:
    fh.write("\n".join(sorted(configs)) + "\n")
res(len(configs) >= 1, f"compose: herdguard services mount {', '.join(sorted(configs)) or 'no config'}")

# 4. The Dockerfile, its baked-in config and .dockerignore.
df = open("docker/Dockerfile").read()
logical = re.sub(r"\\\n", " ", df)  # join continuation lines
instr = [l.strip() for l in logical.splitlines() if l.strip() and not l.strip().startswith("#")]
froms = [l.split()[1] for l in instr if l.upper().startswith("FROM ")]
res(froms[:1] == ["debian:bookworm"] and froms[-1:] == ["debian:bookworm-slim"],
    f"Dockerfile: builds on debian:bookworm, runs on debian:bookworm-slim ({' -> '.join(froms)})")
res("scripts/install-deps.sh" in df and "scripts/build.sh release herdguard herdguard-demo-upstream" in df,
    "Dockerfile: the build stage runs CI's scripts/install-deps.sh and scripts/build.sh")
users = [l.split()[1] for l in instr if l.upper().startswith("USER ")]
res(users[-1:] and users[-1].split(":")[0] == "10001", "Dockerfile: runs as uid 10001")
exposed = {p for l in instr if l.upper().startswith("EXPOSE ") for p in l.split()[1:]}
res({"6380", "9121"} <= exposed, f"Dockerfile: EXPOSE 6380 9121 ({' '.join(sorted(exposed))})")
ep = [l for l in instr if l.upper().startswith("ENTRYPOINT ")]
res(bool(ep) and json.loads(ep[-1].split(None, 1)[1]) == ["herdguard", "--config", "/etc/herdguard/herdguard.yaml"],
    "Dockerfile: ENTRYPOINT herdguard --config /etc/herdguard/herdguard.yaml")
hc = [l for l in instr if l.upper().startswith("HEALTHCHECK ")]
if res(bool(hc) and " CMD " in hc[-1], "Dockerfile: has a HEALTHCHECK"):
    cmd = json.loads(hc[-1].split(" CMD ", 1)[1])
    with open(os.path.join(tmp, "healthcheck.json"), "w") as fh: json.dump(cmd, fh)
installs = re.findall(r"apt-get install ([^&]*)", logical.split("AS runtime", 1)[-1])
pkgs = {w for chunk in installs for w in chunk.split() if not w.startswith("-") and w != "\\"}
base = {"libc6"}  # in every Debian image
missing = [p for p in runtime_pkgs if p not in pkgs and p not in base]
res(not missing and runtime_pkgs, f"Dockerfile: runtime packages cover ldd's libraries ({' '.join(sorted(pkgs))}; missing: {' '.join(missing) or 'none'})")
extra = sorted(pkgs - set(runtime_pkgs))
res(not extra, f"Dockerfile: no runtime package beyond ldd's ({' '.join(extra) or 'none extra'})")
copied = re.findall(r"COPY (docker/\S+|config/\S+) ", logical)
res(all(os.path.exists(c) for c in copied), f"Dockerfile: copied files exist ({' '.join(copied)})")
img = yaml.safe_load(open("docker/herdguard.image.yaml")) or {}
ls = listeners(img, "docker/herdguard.image.yaml")
res(ls["listen"] == ("0.0.0.0", 6380) and ls["admin.listen"] == ("0.0.0.0", 9121),
    "docker/herdguard.image.yaml: listeners on 0.0.0.0:6380 and 0.0.0.0:9121 (the EXPOSEd ports)")
res(bool(hc) and "/dev/tcp/127.0.0.1/9121" in hc[-1], "Dockerfile: HEALTHCHECK probes the image config's admin port 9121")
ign = [l.strip() for l in open(".dockerignore").read().splitlines()] if os.path.exists(".dockerignore") else []
res(any(l.rstrip("/") in ("build", "/build", "build*") for l in ign), ".dockerignore excludes build/")

# 5. The dashboard: JSON, unique panel ids, metric names, PromQL for promtool.
try:
    dash = json.load(open("config/grafana-dashboard.json"))
    res(True, "config/grafana-dashboard.json: valid JSON")
except Exception as e:
    res(False, f"config/grafana-dashboard.json: invalid JSON: {e}"); dash = None
if dash:
    panels = dash.get("panels", [])
    ids = [p.get("id") for p in panels]
    res(len(ids) == len(set(ids)) and None not in ids, f"dashboard: {len(panels)} panels with unique ids")
    res(isinstance(dash.get("schemaVersion"), int) and dash["schemaVersion"] >= 36, f"dashboard: schemaVersion {dash.get('schemaVersion')}")
    exprs = [t["expr"] for p in panels for t in p.get("targets", []) if t.get("expr")]
    res(len(exprs) > 0, f"dashboard: {len(exprs)} PromQL queries")
    def concrete(e):  # Grafana variables -> values promtool can parse
        return (e.replace("$__rate_interval", "1m").replace("$__interval", "1m").replace("$__range", "1h")
                 .replace('"$job"', '".*"').replace('"$instance"', '".*"').replace('"$route"', '".*"'))
    rules = {"groups": [{"name": "dashboard", "rules": [{"record": f"dashboard:query{i}", "expr": concrete(e)}
                                                       for i, e in enumerate(exprs)]}]}
    with open(os.path.join(tmp, "dashboard-queries.rules.yaml"), "w") as fh: yaml.safe_dump(rules, fh)
    names = set(re.findall(r"herdguard_[a-z0-9_]+", json.dumps(dash)))
    with open(os.path.join(tmp, "dashboard-metrics.txt"), "w") as fh: fh.write("\n".join(sorted(names)) + "\n")

# 6. Metric names the rules and their tests use (expressions and input series, not comments).
rnames = set()
for g in (docs.get("config/prometheus-rules.yaml") or [{}])[0].get("groups", []):
    for r in g.get("rules", []):
        rnames |= set(re.findall(r"herdguard_[a-z0-9_]+", r.get("expr", "")))
for t in (docs.get("config/prometheus-rules.test.yaml") or [{}])[0].get("tests", []):
    for s in t.get("input_series", []):
        rnames |= set(re.findall(r"^herdguard_[a-z0-9_]+", s.get("series", "")))
with open(os.path.join(tmp, "rules-metrics.txt"), "w") as fh: fh.write("\n".join(sorted(rnames)) + "\n")

sys.exit(0 if ok else 1)
PY
static_rc=$?
cat "$tmp/static.out"
failures=$((failures + $(grep -c '^FAIL' "$tmp/static.out")))
if [ "$static_rc" -ne 0 ] && ! grep -q '^FAIL' "$tmp/static.out"; then fail "static checks crashed (see above)"; fi

# --- herdguard --check on every configuration --------------------------------------------------
check_config() {  # check_config FILE LABEL
  if out=$("$bin" --check --config "$1" 2>&1); then pass "herdguard --check: $2"; else fail "herdguard --check: $2: $out"; fi
}
[ -f "$tmp/sidecar-herdguard.yaml" ] && check_config "$tmp/sidecar-herdguard.yaml" "the ConfigMap's herdguard.yaml (docker/kubernetes/sidecar.yaml)"
while read -r f; do [ -n "$f" ] && check_config "$f" "$f (mounted by docker/compose.yaml)"; done <"$tmp/compose-configs.txt"
check_config docker/herdguard.image.yaml "docker/herdguard.image.yaml (baked into the image)"
check_config config/herdguard.yaml "config/herdguard.yaml (copied into the image as the example)"

# --- promtool ----------------------------------------------------------------------------------
if command -v promtool >/dev/null; then
  if out=$(promtool check rules config/prometheus-rules.yaml 2>&1); then pass "promtool check rules config/prometheus-rules.yaml"
  else fail "promtool check rules: $out"; fi
  if out=$(promtool test rules config/prometheus-rules.test.yaml 2>&1); then pass "promtool test rules config/prometheus-rules.test.yaml"
  else fail "promtool test rules: $out"; fi
  # The compose Prometheus sees the rules beside its config, as mounted in docker/compose.yaml.
  mkdir -p "$tmp/prom" && cp docker/prometheus.compose.yml "$tmp/prom/prometheus.yml" &&
    cp config/prometheus-rules.yaml "$tmp/prom/herdguard-rules.yaml"
  if out=$(promtool check config "$tmp/prom/prometheus.yml" 2>&1); then pass "promtool check config docker/prometheus.compose.yml (with the rules mounted beside it)"
  else fail "promtool check config docker/prometheus.compose.yml: $out"; fi
  if [ -f "$tmp/dashboard-queries.rules.yaml" ]; then
    if out=$(promtool check rules "$tmp/dashboard-queries.rules.yaml" 2>&1); then pass "dashboard: every query parses as PromQL (promtool)"
    else fail "dashboard: PromQL: $out"; fi
  fi
else
  skip "promtool not installed: rules, rule tests, the compose Prometheus config and the dashboard's PromQL are not checked (apt-get install prometheus)"
fi

# --- a live herdguard: metric names, /healthz, /readyz, the image's HEALTHCHECK -----------------
free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
if ! command -v redis-server >/dev/null; then
  fail "redis-server is not installed: cannot start a live herdguard to check metric names (scripts/install-deps.sh installs it)"
else
  rport=$(free_port); lport=$(free_port); aport=$(free_port)
  redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --dir "$tmp" >"$tmp/redis.log" 2>&1 &
  pids+=($!)
  # The hot-key gauge is opt-in (key names); the dashboard shows it when it is on, so turn it on.
  sed 's/^  hot_keys_in_metrics: false/  hot_keys_in_metrics: true /' config/herdguard.yaml >"$tmp/herdguard-live.yaml"
  grep -q '^  hot_keys_in_metrics: true' "$tmp/herdguard-live.yaml" ||
    fail "config/herdguard.yaml has no 'hot_keys_in_metrics: false' line under admin: to turn on"
  "$bin" --config "$tmp/herdguard-live.yaml" --listen "127.0.0.1:$lport" --redis "127.0.0.1:$rport" \
    --admin "127.0.0.1:$aport" --log-level warn >"$tmp/herdguard.log" 2>&1 &
  pids+=($!)
  ready=""
  for _ in $(seq 1 100); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$aport/readyz")" = 200 ]; then ready=1; break; fi
    sleep 0.1
  done
  if [ -z "$ready" ]; then
    fail "live herdguard did not become ready on 127.0.0.1:$aport: $(tail -3 "$tmp/herdguard.log")"
  else
    pass "live herdguard: /readyz 200 (redis 127.0.0.1:$rport, admin 127.0.0.1:$aport)"
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$aport/healthz")" = 200 ]; then
      pass "live herdguard: /healthz 200"
    else
      fail "live herdguard: /healthz is not 200"
    fi
    curl -sf "http://127.0.0.1:$aport/metrics" >"$tmp/metrics.txt" || fail "live herdguard: /metrics failed"
    # Sample names, and the families declared by "# TYPE" (a labelled gauge such as the hot keys
    # has no sample until there is something to show).
    awk '/^# TYPE / {print $3; next} !/^#/ && NF {sub(/[{ ].*/, "", $1); print $1}' "$tmp/metrics.txt" |
      sort -u >"$tmp/served.txt"
    echo "live /metrics serves $(wc -l <"$tmp/served.txt") metric names"
    for list in dashboard rules; do
      [ -f "$tmp/$list-metrics.txt" ] || continue
      unknown=$(grep -v '^$' "$tmp/$list-metrics.txt" | comm -23 - "$tmp/served.txt" | tr '\n' ' ')
      n=$(grep -c . "$tmp/$list-metrics.txt")
      if [ -z "$unknown" ]; then pass "$list: all $n metric names it uses are served by /metrics"
      else fail "$list: metric names not served by /metrics: $unknown"; fi
    done
    if [ -f "$tmp/dashboard-metrics.txt" ]; then
      unused=$(comm -13 "$tmp/dashboard-metrics.txt" "$tmp/served.txt" | tr '\n' ' ')
      [ -n "$unused" ] && echo "note: served but not on the dashboard: $unused"
    fi
    if [ -f "$tmp/healthcheck.json" ]; then
      # The image's HEALTHCHECK command, pointed at this herdguard's admin port instead of 9121.
      if "$py" -c 'import json, subprocess, sys
cmd = [a.replace("/9121", "/" + sys.argv[2]) for a in json.load(open(sys.argv[1]))]
sys.exit(subprocess.run(cmd, timeout=10).returncode)' "$tmp/healthcheck.json" "$aport"; then
        pass "Dockerfile HEALTHCHECK command succeeds against a live herdguard"
      else
        fail "Dockerfile HEALTHCHECK command fails against a live herdguard"
      fi
    fi
  fi
fi

echo
echo "not validated here: building the image and running it, the pod and the compose demo (scripts/container-test.sh does, with podman); applying docker/kubernetes/sidecar.yaml to a real cluster (none here)"
if [ "$failures" -gt 0 ]; then
  echo "validate-deploy: $failures check(s) failed"
  exit 1
fi
echo "validate-deploy: all checks passed"
