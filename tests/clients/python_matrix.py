#!/usr/bin/python3
# The real-client matrix, Python side (issue 11): Debian's python3-redis (redis-py 4.3, RESP2
# only) against a running herdguard. Run by scripts/client-matrix.sh with Debian's interpreter
# (/usr/bin/python3: python3-redis installs into its dist-packages), which passes where the
# servers are in the environment; see node_matrix.js for the variables (HG_PORT, HG_ADMIN,
# HG_UPSTREAM, HG_ROUTE_PREFIX, HG_ROUTE_PATH, HG_MATRIX_CONTROL, HG_STEP_TIMEOUT_MS).
#
# Prints one line per step, "PASS <client> RESP2 <step>" or "FAIL <client> RESP2 <step>: <why>"
# (and "NOTE ..." lines), and exits 1 if any step failed. Every step runs in a thread bounded by
# a timeout (and every socket operation by socket_timeout): a hung step is a FAIL, never a hang.
import hashlib
import os
import re
import secrets
import select
import sys
import threading
import time
import urllib.request

import redis

HOST = "127.0.0.1"
PORT = int(os.environ.get("HG_PORT", "0"))
ADMIN = os.environ.get("HG_ADMIN", "")
UPSTREAM = os.environ.get("HG_UPSTREAM", "")
ROUTE_PREFIX = os.environ.get("HG_ROUTE_PREFIX", "cmroute:")
ROUTE_PATH = os.environ.get("HG_ROUTE_PATH", "/items/")
CONTROL = os.environ.get("HG_MATRIX_CONTROL") == "1"
STEP_S = int(os.environ.get("HG_STEP_TIMEOUT_MS", "10000")) / 1000.0
GAUGE = "herdguard_redis_private_connections"
INFO_FIELD = "redis_private_connections"

CLIENT = f"redis-py@{redis.__version__}"
PROTO = "RESP2"
TAG = f"py-{os.getpid()}-{secrets.token_hex(3)}"
NAME = "matrix-redis-py-resp2"

failures = 0
out_lock = threading.Lock()


def report(kind, step, why=None):
    line = f"{kind} {CLIENT} {PROTO} {step}"
    if why:
        line += ": " + " ".join(str(why).split())
    with out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def note(step, text):
    report("NOTE", step, text)


class StepError(Exception):
    pass


def check(cond, why):
    if not cond:
        raise StepError(why)


def eq(got, want, what):
    check(got == want, f"{what}: expected {want!r}, got {got!r}")


def until(probe, secs, every, what):
    """Polls probe() every `every` s, at most `secs` s; returns its first truthy value."""
    deadline = time.monotonic() + secs
    while True:
        v = probe()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise StepError(f"{what}: not within {secs:g} s")
        time.sleep(every)


# Connections a step opens are closed when the step ends, whatever its outcome.
step_clients = []


def new_client(**kw):
    opts = dict(host=HOST, port=PORT, client_name=NAME, decode_responses=True,
                socket_timeout=5, socket_connect_timeout=3)
    opts.update(kw)
    c = redis.Redis(**opts)
    step_clients.append(c)
    return c


def run_step(step, secs, fn):
    global failures, step_clients
    step_clients = []
    result = {}

    def body():
        try:
            fn()
            result["ok"] = True
        except StepError as e:
            result["err"] = str(e)
        except Exception as e:  # a library error is a failure with its text
            result["err"] = f"{type(e).__name__}: {e}"

    t = threading.Thread(target=body, daemon=True)
    t.start()
    t.join(secs)
    if t.is_alive():
        result = {"err": f"timed out after {secs:g} s"}
    if result.get("ok"):
        report("PASS", step)
    else:
        failures += 1
        report("FAIL", step, result.get("err", "no result"))
    mine, step_clients = step_clients, []
    for c in mine:
        try:
            c.close()
        except Exception:
            pass
    return bool(result.get("ok"))


def http_get(hostport, path):
    with urllib.request.urlopen(f"http://{hostport}{path}", timeout=3) as r:
        return r.status, r.read().decode()


def read_gauge():
    check(ADMIN, "HG_ADMIN is not set: no /metrics to read")
    status, body = http_get(ADMIN, "/metrics")
    eq(status, 200, f"GET http://{ADMIN}/metrics status")
    m = re.search(rf"^{GAUGE}(?:{{[^}}]*}})?\s+(\S+)\s*$", body, re.M)
    return float(m.group(1)) if m else None


def controller_request(what, secs):
    sys.stdout.write(f"CTL {what}\n")
    sys.stdout.flush()
    ready, _, _ = select.select([sys.stdin], [], [], secs)
    check(ready, f'controller answer to "{what}": none within {secs:g} s')
    line = sys.stdin.readline()
    check(line, f'controller closed stdin instead of answering "{what}"')
    line = line.strip()
    check(line.startswith("ok"), f"controller could not {what}: {line}")
    return line


STEPS = ["01-handshake", "02-pipeline100", "03-watch-multi-exec", "04-pubsub", "05-blpop",
         "06-select-db3", "07-evalsha", "08-routed-get", "09-concurrent16", "10-reconnect",
         "11-idle-gauge"]


def k(s):
    return f"cm:{TAG}:{s}"


# The client object every step uses; it lives across the steps (not in step_clients).
client = redis.Redis(host=HOST, port=PORT, client_name=NAME, decode_responses=True,
                     socket_timeout=5, socket_connect_timeout=3)


def step_handshake():
    eq(client.ping(), True, "PING")
    eq(client.client_getname(), NAME, "CLIENT GETNAME")


def step_pipeline():
    p = client.pipeline(transaction=False)
    for i in range(50):
        p.set(k(f"pipe:{i}"), f"v{i}")
        p.get(k(f"pipe:{i}"))
    replies = p.execute()
    eq(len(replies), 100, "pipeline reply count")
    for i in range(50):
        eq(replies[2 * i], True, f"reply {2 * i} (SET)")
        eq(replies[2 * i + 1], f"v{i}", f"reply {2 * i + 1} (GET)")


def step_watch():
    # The transaction runs on a client of its own (a private connection in herdguard, which this
    # step closes), the conflicting writer is the main client.
    key = k("watched")
    tx = new_client()
    eq(client.set(key, "start"), True, "SET")
    # Aborted: another connection writes the key between WATCH and EXEC.
    with tx.pipeline() as p:
        p.watch(key)
        eq(client.set(key, "writer"), True, "conflicting SET on another connection")
        p.multi()
        p.set(key, "tx")
        p.get(key)
        try:
            got = p.execute()
            raise StepError(f"EXEC after a conflicting write: expected WatchError, got {got!r}")
        except redis.WatchError:
            pass
    eq(client.get(key), "writer", "value after the aborted transaction")
    # Committed: nothing touches the key.
    with tx.pipeline() as p:
        p.watch(key)
        p.multi()
        p.set(key, "tx")
        p.get(key)
        eq(p.execute(), [True, "tx"], "EXEC without conflict")
    eq(client.get(key), "tx", "value after the committed transaction")


def step_pubsub():
    channel, pattern, other = k("chan"), k("pat.*"), k("pat.other")
    ps = client.pubsub()
    try:
        ps.subscribe(channel)
        ps.psubscribe(pattern)
        # Wait for both confirmations before publishing.
        confirmed = []
        deadline = time.monotonic() + 5
        while len(confirmed) < 2 and time.monotonic() < deadline:
            m = ps.get_message(timeout=0.5)
            if m:
                confirmed.append((m["type"], m["channel"]))
        eq(sorted(confirmed), sorted([("subscribe", channel), ("psubscribe", pattern)]), "subscription confirmations")
        eq(client.publish(channel, "hello"), 1, "PUBLISH to the channel (receivers)")
        eq(client.publish(other, "world"), 1, "PUBLISH matching the pattern only (receivers)")
        got = []
        deadline = time.monotonic() + 5
        while len(got) < 2 and time.monotonic() < deadline:
            m = ps.get_message(timeout=0.5)
            if m:
                got.append(m)
        check(len(got) == 2, f"messages: got {len(got)} of 2: {got!r}")
        msg = [m for m in got if m["type"] == "message"]
        pmsg = [m for m in got if m["type"] == "pmessage"]
        eq(len(msg), 1, "channel messages received")
        eq((msg[0]["channel"], msg[0]["data"]), (channel, "hello"), "message channel and payload")
        eq(len(pmsg), 1, "pattern messages received")
        eq((pmsg[0]["pattern"], pmsg[0]["channel"], pmsg[0]["data"]), (pattern, other, "world"),
           "pmessage pattern, channel and payload")
    finally:
        ps.close()


def step_blpop():
    key = k("list")
    blocker = new_client()

    def blocked():
        return client.info("clients")["blocked_clients"]

    before = blocked()
    res = {}

    def pop():
        try:
            res["r"] = blocker.blpop(key, timeout=4)
        except Exception as e:
            res["e"] = e

    t = threading.Thread(target=pop, daemon=True)
    t.start()
    # Push only once Redis counts the BLPOP as blocked (INFO clients is Redis's own, via herdguard).
    until(lambda: blocked() > before, 3, 0.01, "BLPOP registered as blocked in Redis")
    eq(client.rpush(key, "wake"), 1, "RPUSH from another connection")
    t.join(5)
    check(not t.is_alive(), "BLPOP not woken within 5 s of the RPUSH")
    check("e" not in res, f"BLPOP: {res.get('e')!r}")
    eq(res.get("r"), (key, "wake"), "BLPOP reply")


def step_select():
    key, in0 = k("db3"), k("db0")
    d3 = new_client(db=3)  # redis-py sends SELECT 3 on connect
    eq(d3.set(key, "in3"), True, "SET in db 3")
    eq(d3.get(key), "in3", "GET in db 3")
    eq(client.get(key), None, "GET of the db-3 key in db 0")
    eq(client.set(in0, "in0"), True, "SET in db 0")
    eq(d3.get(in0), None, "GET of the db-0 key in db 3")
    eq(d3.execute_command("SELECT", 0), True, "explicit SELECT 0")
    eq(d3.get(in0), "in0", "GET of the db-0 key after SELECT 0")


def step_evalsha():
    key = k("lua")
    script = "redis.call('SET', KEYS[1], ARGV[1]) return redis.call('GET', KEYS[1]) .. ':' .. ARGV[2]"
    sha = client.script_load(script)
    eq(sha, hashlib.sha1(script.encode()).hexdigest(), "SCRIPT LOAD sha1")
    eq(client.evalsha(sha, 1, key, "v", "x"), "v:x", "EVALSHA reply")
    eq(client.get(key), "v", "GET of the key the script set")


def step_routed():
    key = f"{ROUTE_PREFIX}{TAG}"
    path = f"{ROUTE_PATH}{TAG}"
    eq(client.exists(key), 0, "EXISTS of the routed key before the GET (not in Redis)")
    eq(client.get(key), f"value:{path}#1", "first GET of the routed key (loaded from the upstream)")
    eq(client.get(key), f"value:{path}#1", "second GET (cached)")
    if UPSTREAM:
        _, body = http_get(UPSTREAM, "/_stats")
        line = next((l for l in body.split("\n") if l.endswith(f" {path}")), None)
        eq(line, f"1 {path}", "upstream /_stats for the path (loads)")


def step_concurrent():
    conns = [new_client() for _ in range(16)]  # 16 client objects: 16 connections, one each
    start = threading.Barrier(16, timeout=5)
    errors = []

    def work(i, c):
        try:
            start.wait()
            for j in range(25):
                key = k(f"conc:{i}:{j}")
                eq(c.set(key, f"v{i}.{j}"), True, f"connection {i} SET {j}")
                eq(c.get(key), f"v{i}.{j}", f"connection {i} GET {j}")
        except Exception as e:
            errors.append(f"connection {i}: {e}")

    threads = [threading.Thread(target=work, args=(i, c), daemon=True) for i, c in enumerate(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(8)
    check(not any(t.is_alive() for t in threads), "a connection did not finish within 8 s")
    check(not errors, "; ".join(errors[:3]))
    for i in range(16):
        for j in range(0, 25, 8):
            eq(client.get(k(f"conc:{i}:{j}")), f"v{i}.{j}", f"read back {i}.{j}")


def step_reconnect():
    eq(client.set(k("before"), "before"), True, "SET before the restart")
    answer = controller_request("restart", 20)
    note(STEPS[9], f"herdguard restarted ({answer})")
    started = time.monotonic()
    attempts = 0
    while True:
        attempts += 1
        try:
            eq(client.set(k("after"), "after"), True, "SET after the restart")
            eq(client.get(k("after")), "after", "GET after the restart")
            break
        except (redis.ConnectionError, redis.TimeoutError, StepError) as e:
            if time.monotonic() - started > 10:
                raise StepError(f"the same client object did not work again within 10 s of the restart "
                                f"({attempts} attempts; last: {e})")
            time.sleep(0.1)  # back off between attempts; redis-py reconnects on the next command
    note(STEPS[9], f"client worked again {int((time.monotonic() - started) * 1000)} ms after herdguard "
                   f"answered PING ({attempts} attempt(s))")
    eq(client.get(k("before")), "before", "GET of a key written before the restart")
    eq(client.client_getname(), NAME, "CLIENT GETNAME after reconnecting")


def step_idle_gauge():
    before = read_gauge()
    if before is not None and before != 0:
        until(lambda: read_gauge() == 0, 3, 0.05,
              f"{GAUGE} back to 0 before opening the 100 connections (it read {before:g})")
    idle = [new_client() for _ in range(100)]
    for i, c in enumerate(idle):  # the normal connect: the handshake, then one PING
        eq(c.ping(), True, f"PING on idle connection {i}")
    gauge = read_gauge()
    check(gauge is not None, f"gauge {GAUGE} not found in http://{ADMIN}/metrics")
    eq(gauge, 0, f"{GAUGE} with 100 idle {CLIENT} connections open")

    def info_field():
        info = client.info("herdguard")
        check(INFO_FIELD in info, f"INFO herdguard has no {INFO_FIELD} field")
        return int(info[INFO_FIELD])

    eq(info_field(), 0, f"INFO {INFO_FIELD} with the 100 idle connections open")
    # The gauge is live: one of them holding a WATCH (a private connection) reads 1.
    with idle[0].pipeline() as p:
        eq(p.watch(k("gauge-probe")), True, "WATCH on one idle connection")
        eq(read_gauge(), 1, f"{GAUGE} with one of the 100 connections holding a WATCH")
        eq(info_field(), 1, f"INFO {INFO_FIELD} with one connection holding a WATCH")


def main():
    if not PORT:
        print("usage: HG_PORT=<port> python_matrix.py", file=sys.stderr)
        return 2
    if not run_step(STEPS[0], STEP_S, step_handshake):
        global failures
        for s in STEPS[1:]:
            failures += 1
            report("FAIL", s, "not run: the client could not connect (step 01 failed)")
        return 1
    run_step(STEPS[1], STEP_S, step_pipeline)
    run_step(STEPS[2], STEP_S, step_watch)
    run_step(STEPS[3], STEP_S, step_pubsub)
    run_step(STEPS[4], STEP_S, step_blpop)
    run_step(STEPS[5], STEP_S, step_select)
    run_step(STEPS[6], STEP_S, step_evalsha)
    run_step(STEPS[7], STEP_S, step_routed)
    run_step(STEPS[8], STEP_S, step_concurrent)
    if CONTROL:
        run_step(STEPS[9], 30, step_reconnect)
    else:
        report("SKIP", STEPS[9], "no restart controller (run through scripts/client-matrix.sh)")
    run_step(STEPS[10], 30, step_idle_gauge)
    return 1 if failures else 0


if __name__ == "__main__":
    code = main()
    try:
        client.close()
    except Exception:
        pass
    sys.stdout.flush()
    os._exit(code)  # do not wait for a step thread that timed out
