#!/usr/bin/env node
// The real-client matrix, Node side (issue 11): one client library in one protocol against a
// running herdguard. Run by scripts/client-matrix.sh, which starts redis-server, the demo
// upstream and herdguard and passes where they are in the environment:
//
//   node node_matrix.js <redis5|redis-latest|ioredis> <2|3>
//
//   HG_PORT           herdguard's RESP port on 127.0.0.1 (every client connection goes there)
//   HG_ADMIN          herdguard's admin listener host:port (/metrics, step 11)
//   HG_UPSTREAM       the demo upstream host:port (its /_stats, step 8)
//   HG_ROUTE_PREFIX   key prefix of the one configured route (e.g. "cmroute:")
//   HG_ROUTE_PATH     the upstream path the route's capture is appended to (e.g. "/items/")
//   HG_MATRIX_CONTROL 1 when the caller restarts herdguard on request (step 10): this program
//                     prints "CTL restart" and waits for a line "ok ..." on stdin
//   HG_STEP_TIMEOUT_MS  bound of one step (default 10000; steps 10 and 11 get more)
//
// Prints one line per step, "PASS <client> <proto> <step>" or "FAIL <client> <proto> <step>:
// <why>" (and "NOTE ..." lines with details), and exits 1 if any step failed. Every step is
// bounded by a timeout: a hung step is a FAIL, never a hang.
'use strict';

const crypto = require('crypto');
const http = require('http');
const readline = require('readline');

const LIB = process.argv[2];
const PROTO = Number(process.argv[3] || 2);
const HOST = '127.0.0.1';
const PORT = Number(process.env.HG_PORT || 0);
const ADMIN = process.env.HG_ADMIN || '';
const UPSTREAM = process.env.HG_UPSTREAM || '';
const ROUTE_PREFIX = process.env.HG_ROUTE_PREFIX || 'cmroute:';
const ROUTE_PATH = process.env.HG_ROUTE_PATH || '/items/';
const CONTROL = process.env.HG_MATRIX_CONTROL === '1';
const STEP_MS = Number(process.env.HG_STEP_TIMEOUT_MS || 10000);
const GAUGE = 'herdguard_redis_private_connections';
const INFO_FIELD = 'redis_private_connections';

const LIBS = {redis5: 'node-redis', 'redis-latest': 'node-redis', ioredis: 'ioredis'};
if (!LIBS[LIB] || (PROTO !== 2 && PROTO !== 3) || !PORT) {
    console.error('usage: HG_PORT=<port> node node_matrix.js <redis5|redis-latest|ioredis> <2|3>');
    process.exit(2);
}
const mod = require(LIB);
const VERSION = require(`${LIB}/package.json`).version;
const CLIENT = `${LIBS[LIB]}@${VERSION}`;
const PROTO_NAME = `RESP${PROTO}`;
// Unique per run, so reruns against the same Redis never see an earlier run's keys.
const TAG = `${LIB}-${PROTO}-${process.pid}-${crypto.randomBytes(3).toString('hex')}`;
const NAME = `matrix-${LIB}-resp${PROTO}`;

// ------------------------------------------------------------------------------------------
// Output and step running

let failures = 0;
function oneLine(s) {
    return String(s).replace(/\s+/g, ' ').trim();
}
function report(kind, step, why) {
    process.stdout.write(`${kind} ${CLIENT} ${PROTO_NAME} ${step}${why ? ': ' + oneLine(why) : ''}\n`);
}
function note(step, text) {
    report('NOTE', step, text);
}

class StepError extends Error {}
function check(cond, why) {
    if (!cond) throw new StepError(why);
}
const show = v => {
    if (Buffer.isBuffer(v)) return JSON.stringify(v.toString());
    try {
        return JSON.stringify(v);
    } catch {
        return String(v);
    }
};
function eq(got, want, what) {
    check(got === want, `${what}: expected ${show(want)}, got ${show(got)}`);
}

const sleep = ms => new Promise(r => setTimeout(r, ms));
function withTimeout(promise, ms, what) {
    let timer;
    const t = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new StepError(`${what}: no answer within ${ms} ms`)), ms);
    });
    return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}
// Polls `probe` (async, truthy = done) every `every` ms, at most `ms` ms.
async function until(probe, ms, every, what) {
    const deadline = Date.now() + ms;
    let last;
    for (;;) {
        last = await probe();
        if (last) return last;
        if (Date.now() >= deadline) throw new StepError(`${what}: not within ${ms} ms`);
        await sleep(every);
    }
}

// Connections a step opens are closed when the step ends, whatever its outcome.
let stepClients = [];
let lastClientError = null;

async function runStep(step, ms, fn) {
    stepClients = [];
    let timer;
    const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new StepError(`timed out after ${ms} ms`)), ms);
    });
    lastClientError = null;
    let ok = false;
    try {
        await Promise.race([fn(), timeout]);
        ok = true;
        report('PASS', step);
    } catch (e) {
        failures++;
        let why = e instanceof StepError ? e.message : `${e && e.name ? e.name + ': ' : ''}${e && e.message ? e.message : e}`;
        if (lastClientError && !why.includes(lastClientError)) why += ` (last client error: ${lastClientError})`;
        report('FAIL', step, why);
    } finally {
        clearTimeout(timer);
        const mine = stepClients;
        stepClients = [];
        await Promise.all(mine.map(c => adapter.destroy(c)));
    }
    return ok;
}

function httpGet(hostport, path, ms) {
    return new Promise((resolve, reject) => {
        const [host, port] = [hostport.slice(0, hostport.lastIndexOf(':')), Number(hostport.slice(hostport.lastIndexOf(':') + 1))];
        const req = http.get({host, port, path, timeout: ms}, res => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', d => (body += d));
            res.on('end', () => resolve({status: res.statusCode, body}));
        });
        req.on('timeout', () => req.destroy(new Error(`GET http://${hostport}${path}: no answer within ${ms} ms`)));
        req.on('error', reject);
    });
}

// The gauge's value in /metrics, or null when /metrics does not have it.
async function readGauge() {
    check(ADMIN, 'HG_ADMIN is not set: no /metrics to read');
    const r = await httpGet(ADMIN, '/metrics', 3000);
    eq(r.status, 200, `GET http://${ADMIN}/metrics status`);
    const m = r.body.match(new RegExp(`^${GAUGE}(?:\\{[^}]*\\})?\\s+(\\S+)\\s*$`, 'm'));
    return m ? Number(m[1]) : null;
}

// ------------------------------------------------------------------------------------------
// Library adapters: the same steps, each written in the library's own idiom.

function nodeRedisAdapter() {
    const latest = LIB === 'redis-latest';
    // The library's normal options. node-redis 5 speaks RESP2 unless told otherwise (`RESP: 2`
    // would make it send HELLO 2 SETNAME); node-redis 6 defaults to RESP3, so RESP2 is explicit.
    const options = extra => {
        const o = {
            socket: {host: HOST, port: PORT}, // default connect timeout and reconnect strategy
            name: NAME,
            ...extra,
        };
        if (PROTO === 3 || latest) o.RESP = PROTO;
        return o;
    };
    const watch = c => c.on('error', e => (lastClientError = `${e.name || 'Error'}: ${e.message}`));
    return {
        create(extra = {}) {
            const c = mod.createClient(options(extra));
            watch(c);
            return c;
        },
        async connect(c) {
            await c.connect();
        },
        async destroy(c) {
            try {
                c.destroy();
            } catch {
                /* already closed */
            }
        },
        duplicate(c) {
            const d = c.duplicate();
            watch(d);
            return d;
        },
        getName: c => c.clientGetName(),
        ping: c => c.ping(),
        set: (c, k, v) => c.set(k, v),
        get: (c, k) => c.get(k),
        exists: (c, k) => c.exists(k),
        info: (c, section) => c.info(section),
        async pipeline100(c, prefix) {
            const p = c.multi();
            for (let i = 0; i < 50; i++) p.set(`${prefix}:${i}`, `v${i}`).get(`${prefix}:${i}`);
            return p.execAsPipeline();
        },
        watch: (c, k) => c.watch(k),
        // Resolves to the EXEC result, or to null when the library says the transaction aborted.
        async multiSet(c, k, v) {
            try {
                return await c.multi().set(k, v).get(k).exec();
            } catch (e) {
                if (e instanceof mod.WatchError || (e && e.name === 'WatchError')) return null;
                throw e;
            }
        },
        async subscribe(sub, channel, pattern, onMessage) {
            await sub.subscribe(channel, (message, ch) => onMessage({kind: 'message', channel: String(ch), message: String(message)}));
            await sub.pSubscribe(pattern, (message, ch) =>
                onMessage({kind: 'pmessage', pattern, channel: String(ch), message: String(message)})
            );
        },
        publish: (c, ch, m) => c.publish(ch, m),
        async blpop(c, k, secs) {
            const r = await c.blPop(k, secs);
            return r === null ? null : [String(r.key), String(r.element)];
        },
        rpush: (c, k, v) => c.rPush(k, v),
        select: (c, db) => c.select(db),
        scriptLoad: (c, s) => c.scriptLoad(s),
        evalsha: (c, sha, keys, args) => c.evalSha(sha, {keys, arguments: args}),
        // The protocol the connection negotiated, when the library tells (node-redis fails the
        // connection instead of downgrading, so a ready client speaks what it asked for).
        negotiated: () => PROTO,
    };
}

function ioredisAdapter() {
    const Redis = mod.default || mod.Redis || mod;
    const options = extra => ({
        host: HOST,
        port: PORT,
        connectionName: NAME,
        protocol: PROTO, // 3 is ioredis 6's default; it downgrades to 2 when HELLO 3 is refused
        lazyConnect: true, // connect() is awaited; retry and reconnect settings are the defaults
        ...extra,
    });
    const watch = c => c.on('error', e => (lastClientError = `${e.name || 'Error'}: ${e.message}`));
    return {
        create(extra = {}) {
            const c = new Redis(options(extra));
            watch(c);
            return c;
        },
        async connect(c) {
            await c.connect();
        },
        async destroy(c) {
            try {
                c.disconnect();
            } catch {
                /* already closed */
            }
        },
        duplicate(c) {
            const d = c.duplicate();
            watch(d);
            return d;
        },
        getName: c => c.client('GETNAME'),
        ping: c => c.ping(),
        set: (c, k, v) => c.set(k, v),
        get: (c, k) => c.get(k),
        exists: (c, k) => c.exists(k),
        info: (c, section) => c.info(section),
        async pipeline100(c, prefix) {
            const p = c.pipeline();
            for (let i = 0; i < 50; i++) p.set(`${prefix}:${i}`, `v${i}`).get(`${prefix}:${i}`);
            const rows = await p.exec();
            return rows.map(([err, res]) => (err ? err : res));
        },
        watch: (c, k) => c.watch(k),
        async multiSet(c, k, v) {
            return c.multi().set(k, v).get(k).exec(); // null when aborted
        },
        async subscribe(sub, channel, pattern, onMessage) {
            sub.on('message', (ch, message) => onMessage({kind: 'message', channel: ch, message}));
            sub.on('pmessage', (pat, ch, message) => onMessage({kind: 'pmessage', pattern: pat, channel: ch, message}));
            await sub.subscribe(channel);
            await sub.psubscribe(pattern);
        },
        publish: (c, ch, m) => c.publish(ch, m),
        blpop: (c, k, secs) => c.blpop(k, secs),
        rpush: (c, k, v) => c.rpush(k, v),
        select: (c, db) => c.select(db),
        scriptLoad: (c, s) => c.script('LOAD', s),
        evalsha: (c, sha, keys, args) => c.evalsha(sha, keys.length, ...keys, ...args),
        negotiated: c => (c.condition ? c.condition.protocol : undefined),
    };
}

const adapter = LIB === 'ioredis' ? ioredisAdapter() : nodeRedisAdapter();
const execResults = rows => (Array.isArray(rows) ? rows.map(r => (Array.isArray(r) ? r[1] : r)) : rows);

// ------------------------------------------------------------------------------------------
// Control channel to the caller (step 10)

let ctlLines = null;
function controller() {
    if (!ctlLines) {
        ctlLines = [];
        ctlLines.waiters = [];
        const rl = readline.createInterface({input: process.stdin});
        rl.on('line', line => {
            const w = ctlLines.waiters.shift();
            if (w) w(line);
            else ctlLines.push(line);
        });
        rl.on('close', () => {
            for (const w of ctlLines.waiters.splice(0)) w(null);
            ctlLines.closed = true;
        });
    }
    return {
        async request(what, ms) {
            process.stdout.write(`CTL ${what}\n`);
            const line = ctlLines.length
                ? ctlLines.shift()
                : ctlLines.closed
                ? null
                : await withTimeout(new Promise(r => ctlLines.waiters.push(r)), ms, `controller answer to "${what}"`);
            check(line !== null, `controller closed stdin instead of answering "${what}"`);
            check(line.startsWith('ok'), `controller could not ${what}: ${line}`);
            return line;
        },
    };
}

// ------------------------------------------------------------------------------------------
// The steps

const STEPS = [
    '01-handshake',
    '02-pipeline100',
    '03-watch-multi-exec',
    '04-pubsub',
    '05-blpop',
    '06-select-db3',
    '07-evalsha',
    '08-routed-get',
    '09-concurrent16',
    '10-reconnect',
    '11-idle-gauge',
];

async function main() {
    const a = adapter;
    const k = s => `cm:${TAG}:${s}`;
    const open = async (extra) => {
        const c = a.create(extra);
        stepClients.push(c);
        await a.connect(c);
        return c;
    };
    const dup = async c => {
        const d = a.duplicate(c);
        stepClients.push(d);
        await a.connect(d);
        return d;
    };

    const client = a.create(); // the client object every step uses; lives across the steps
    let connected = false;
    await runStep(STEPS[0], STEP_MS, async () => {
        await a.connect(client);
        eq(await a.ping(client), 'PONG', 'PING');
        connected = true;
        eq(String(await a.getName(client)), NAME, 'CLIENT GETNAME');
        const proto = a.negotiated(client);
        if (proto !== PROTO) {
            note(STEPS[0], `the library fell back to RESP${proto}: the other steps run in RESP${proto}`);
            throw new StepError(`asked for RESP${PROTO} but the connection speaks RESP${proto} (herdguard refused HELLO ${PROTO}; the library downgraded)`);
        }
    });
    if (!connected) {
        for (const s of STEPS.slice(1)) {
            failures++;
            report('FAIL', s, 'not run: the client could not connect (step 01 failed)');
        }
        await a.destroy(client);
        return;
    }

    await runStep(STEPS[1], STEP_MS, async () => {
        const replies = await a.pipeline100(client, k('pipe'));
        check(Array.isArray(replies), `pipeline result is not an array: ${show(replies)}`);
        eq(replies.length, 100, 'pipeline reply count');
        for (let i = 0; i < 50; i++) {
            eq(replies[2 * i], 'OK', `reply ${2 * i} (SET)`);
            eq(String(replies[2 * i + 1]), `v${i}`, `reply ${2 * i + 1} (GET)`);
        }
    });

    await runStep(STEPS[2], STEP_MS, async () => {
        // The transaction runs on a connection of its own (a private one in herdguard, which this
        // step closes), the conflicting writer is the main client.
        const key = k('watched');
        const tx = await dup(client);
        eq(await a.set(client, key, 'start'), 'OK', 'SET');
        // Aborted: another connection writes the key between WATCH and EXEC.
        eq(await a.watch(tx, key), 'OK', 'WATCH');
        eq(await a.set(client, key, 'writer'), 'OK', 'conflicting SET on another connection');
        const aborted = await a.multiSet(tx, key, 'tx');
        check(aborted === null, `EXEC after a conflicting write: expected the transaction to abort (nil), got ${show(aborted)}`);
        eq(String(await a.get(client, key)), 'writer', 'value after the aborted transaction');
        // Committed: nothing touches the key.
        eq(await a.watch(tx, key), 'OK', 'WATCH (second)');
        const done = execResults(await a.multiSet(tx, key, 'tx'));
        check(Array.isArray(done) && done.length === 2, `EXEC without conflict: expected 2 replies, got ${show(done)}`);
        eq(done[0], 'OK', 'EXEC reply 0 (SET)');
        eq(String(done[1]), 'tx', 'EXEC reply 1 (GET)');
        eq(String(await a.get(client, key)), 'tx', 'value after the committed transaction');
    });

    await runStep(STEPS[3], STEP_MS, async () => {
        const channel = k('chan');
        const pattern = k('pat.*');
        const other = k('pat.other');
        const sub = await dup(client);
        const got = [];
        let wake = null;
        await a.subscribe(sub, channel, pattern, m => {
            got.push(m);
            if (wake) wake();
        });
        // subscribe()/pSubscribe() resolve on Redis's confirmations: publishing now is safe.
        eq(Number(await a.publish(client, channel, 'hello')), 1, 'PUBLISH to the channel (receivers)');
        eq(Number(await a.publish(client, other, 'world')), 1, 'PUBLISH matching the pattern only (receivers)');
        await withTimeout(
            new Promise(resolve => {
                wake = () => got.length >= 2 && resolve();
                wake();
            }),
            5000,
            `messages (got ${got.length} of 2)`
        );
        const byKind = kind => got.filter(m => m.kind === kind);
        const msg = byKind('message');
        const pmsg = byKind('pmessage');
        eq(msg.length, 1, 'channel messages received');
        eq(msg[0].channel, channel, 'message channel');
        eq(msg[0].message, 'hello', 'message payload');
        eq(pmsg.length, 1, 'pattern messages received');
        eq(pmsg[0].channel, other, 'pmessage channel');
        eq(pmsg[0].pattern, pattern, 'pmessage pattern');
        eq(pmsg[0].message, 'world', 'pmessage payload');
    });

    await runStep(STEPS[4], STEP_MS, async () => {
        const key = k('list');
        const blocker = await dup(client);
        const blocked = async () => {
            const m = String(await a.info(client, 'clients')).match(/^blocked_clients:(\d+)/m);
            check(m, 'INFO clients has no blocked_clients field');
            return Number(m[1]);
        };
        const before = await blocked();
        const popped = a.blpop(blocker, key, 8);
        popped.catch(() => {});
        // Push only once Redis counts the BLPOP as blocked (INFO clients is Redis's own, via herdguard).
        await until(async () => (await blocked()) > before, 5000, 10, 'BLPOP registered as blocked in Redis');
        eq(Number(await a.rpush(client, key, 'wake')), 1, 'RPUSH from another connection');
        const r = await withTimeout(popped, 5000, 'BLPOP woken by RPUSH');
        check(Array.isArray(r), `BLPOP: expected [key, element], got ${show(r)}`);
        eq(String(r[0]), key, 'BLPOP key');
        eq(String(r[1]), 'wake', 'BLPOP element');
    });

    await runStep(STEPS[5], STEP_MS, async () => {
        const key = k('db3');
        const in0 = k('db0');
        const d3 = await dup(client);
        eq(await a.select(d3, 3) ?? 'OK', 'OK', 'SELECT 3');
        eq(await a.set(d3, key, 'in3'), 'OK', 'SET in db 3');
        eq(String(await a.get(d3, key)), 'in3', 'GET in db 3');
        eq(await a.get(client, key), null, 'GET of the db-3 key in db 0');
        eq(await a.set(client, in0, 'in0'), 'OK', 'SET in db 0');
        eq(await a.get(d3, in0), null, 'GET of the db-0 key in db 3');
    });

    await runStep(STEPS[6], STEP_MS, async () => {
        const key = k('lua');
        const script = "redis.call('SET', KEYS[1], ARGV[1]) return redis.call('GET', KEYS[1]) .. ':' .. ARGV[2]";
        const sha = String(await a.scriptLoad(client, script));
        eq(sha, crypto.createHash('sha1').update(script).digest('hex'), 'SCRIPT LOAD sha1');
        eq(String(await a.evalsha(client, sha, [key], ['v', 'x'])), 'v:x', 'EVALSHA reply');
        eq(String(await a.get(client, key)), 'v', 'GET of the key the script set');
    });

    await runStep(STEPS[7], STEP_MS, async () => {
        const id = `${TAG}`;
        const key = `${ROUTE_PREFIX}${id}`;
        const path = `${ROUTE_PATH}${id}`;
        eq(Number(await a.exists(client, key)), 0, 'EXISTS of the routed key before the GET (not in Redis)');
        eq(String(await a.get(client, key)), `value:${path}#1`, 'first GET of the routed key (loaded from the upstream)');
        eq(String(await a.get(client, key)), `value:${path}#1`, 'second GET (cached)');
        if (UPSTREAM) {
            const stats = await httpGet(UPSTREAM, '/_stats', 3000);
            const line = stats.body.split('\n').find(l => l.endsWith(` ${path}`));
            eq(line, `1 ${path}`, 'upstream /_stats for the path (loads)');
        }
    });

    await runStep(STEPS[8], STEP_MS, async () => {
        const conns = await Promise.all(Array.from({length: 16}, () => open()));
        await Promise.all(
            conns.map(async (c, i) => {
                for (let j = 0; j < 25; j++) {
                    const key = k(`conc:${i}:${j}`);
                    eq(await a.set(c, key, `v${i}.${j}`), 'OK', `connection ${i} SET ${j}`);
                    eq(String(await a.get(c, key)), `v${i}.${j}`, `connection ${i} GET ${j}`);
                }
            })
        );
        // And every value once more, from the one client: nothing crossed between connections.
        for (let i = 0; i < 16; i++)
            for (let j = 0; j < 25; j += 8) eq(String(await a.get(client, k(`conc:${i}:${j}`))), `v${i}.${j}`, `read back ${i}.${j}`);
    });

    if (!CONTROL) {
        report('SKIP', STEPS[9], 'no restart controller (run through scripts/client-matrix.sh)');
    } else {
        await runStep(STEPS[9], 30000, async () => {
            eq(await a.set(client, k('before'), 'before'), 'OK', 'SET before the restart');
            const answer = await controller().request('restart', 20000);
            note(STEPS[9], `herdguard restarted (${answer})`);
            const started = Date.now();
            let lastErr = 'none';
            let attempts = 0;
            for (;;) {
                attempts++;
                try {
                    eq(await withTimeout(a.set(client, k('after'), 'after'), 2000, 'SET after the restart'), 'OK', 'SET after the restart');
                    eq(String(await withTimeout(a.get(client, k('after')), 2000, 'GET')), 'after', 'GET after the restart');
                    break;
                } catch (e) {
                    lastErr = e.message;
                    if (Date.now() - started > 10000)
                        throw new StepError(`the same client object did not work again within 10 s of the restart (${attempts} attempts; last: ${lastErr})`);
                    await sleep(100); // back off between attempts; the library reconnects by itself
                }
            }
            note(STEPS[9], `client worked again ${Date.now() - started} ms after herdguard answered PING (${attempts} attempt(s))`);
            eq(String(await a.get(client, k('before'))), 'before', 'GET of a key written before the restart');
            eq(String(await a.getName(client)), NAME, 'CLIENT GETNAME after reconnecting');
        });
    }

    await runStep(STEPS[10], 30000, async () => {
        // Nothing from the earlier steps may still hold a private connection.
        const before = await readGauge();
        if (before !== null && before !== 0)
            await until(async () => (await readGauge()) === 0, 3000, 50, `${GAUGE} back to 0 before opening the 100 connections (it read ${before})`);
        const idle = [];
        try {
            for (let i = 0; i < 100; i += 20) {
                const batch = Array.from({length: 20}, () => a.create());
                idle.push(...batch);
                await Promise.all(batch.map(c => a.connect(c)));
            }
            const pongs = await Promise.all(idle.map(c => a.ping(c)));
            check(pongs.every(p => p === 'PONG'), `PING on the 100 connections: ${show(pongs.filter(p => p !== 'PONG').slice(0, 3))}`);
            const gauge = await readGauge();
            check(gauge !== null, `gauge ${GAUGE} not found in http://${ADMIN}/metrics`);
            eq(gauge, 0, `${GAUGE} with 100 idle ${CLIENT} connections open`);
            const infoField = async () => {
                const m = String(await a.info(client, 'herdguard')).match(new RegExp(`^${INFO_FIELD}:(\\d+)`, 'm'));
                check(m, `INFO herdguard has no ${INFO_FIELD} field`);
                return Number(m[1]);
            };
            eq(await infoField(), 0, `INFO ${INFO_FIELD} with the 100 idle connections open`);
            // The gauge is live: one of them holding a WATCH (a private connection) reads 1.
            eq(await a.watch(idle[0], k('gauge-probe')), 'OK', 'WATCH on one idle connection');
            eq(await readGauge(), 1, `${GAUGE} with one of the 100 connections holding a WATCH`);
            eq(await infoField(), 1, `INFO ${INFO_FIELD} with one connection holding a WATCH`);
        } finally {
            await Promise.all(idle.map(c => a.destroy(c)));
        }
    });

    await a.destroy(client);
}

main()
    .catch(e => {
        failures++;
        report('FAIL', 'internal', e && e.stack ? e.stack : e);
    })
    .finally(() => process.exit(failures ? 1 : 0));
