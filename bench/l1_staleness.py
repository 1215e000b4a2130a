#!/usr/bin/env python3
"""How long after a write straight to Redis a read through herdguard's L1 still returns the old
value (issue 12's "external-write staleness"), next to the Redis round trip.

Usage: bench/l1_staleness.py REDIS_PORT HERDGUARD_PORT [ROUNDS]

Each round: read the key through herdguard until L1 serves it (two reads), write a new value
straight to Redis, and from the moment the write is acknowledged, read through herdguard until
the new value comes back. The lateness is that time: it contains one herdguard round trip at
least, plus any wait for Redis's invalidation push. Printed: p50/p99/max of the lateness, of a
herdguard L1 hit and of a Redis GET round trip, in ms. Needs python3-redis (Debian).
"""
import sys
import time

import redis


def pct(values, q):
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * q))]


def main():
    redis_port, hg_port = int(sys.argv[1]), int(sys.argv[2])
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    direct = redis.Redis(host="127.0.0.1", port=redis_port)
    hg = redis.Redis(host="127.0.0.1", port=hg_port)
    key = "items:staleness"
    direct.set(key, b"init")  # present from the start: nothing loads from the route's upstream
    late, hit, rtt, stale_reads = [], [], [], 0
    for i in range(rounds):
        value = f"v{i}".encode()
        old = hg.get(key)
        t = time.perf_counter()
        hg.get(key)  # an L1 hit (filled by the read before)
        hit.append(time.perf_counter() - t)
        t = time.perf_counter()
        direct.get(key)
        rtt.append(time.perf_counter() - t)
        direct.set(key, value)
        acked = time.perf_counter()
        for _ in range(100000):  # bounded: 100,000 reads (seconds) at most
            got = hg.get(key)
            if got == value:
                break
            if got != old:
                raise SystemExit(f"round {i}: read {got!r}, neither {old!r} nor {value!r}")
            stale_reads += 1
        else:
            raise SystemExit(f"round {i}: the new value never came back through herdguard")
        late.append(time.perf_counter() - acked)
    ms = lambda v: f"{v * 1000:.3f}"
    print("| measure (ms) | p50 | p99 | max |")
    print("|:--|--:|--:|--:|")
    print(f"| write to Redis -> new value read through L1 | {ms(pct(late, .5))} | {ms(pct(late, .99))} | {ms(max(late))} |")
    print(f"| herdguard L1 hit round trip | {ms(pct(hit, .5))} | {ms(pct(hit, .99))} | {ms(max(hit))} |")
    print(f"| Redis GET round trip | {ms(pct(rtt, .5))} | {ms(pct(rtt, .99))} | {ms(max(rtt))} |")
    print()
    print(f"{rounds} rounds; {stale_reads} reads returned the old value after the write was acknowledged.")


if __name__ == "__main__":
    main()
