// BullMQ (the job queue built on ioredis: Lua scripts, blocking commands, streams) through two
// herdguards in front of one Redis (issue 22). Run by scripts/client-matrix.sh:
//   HG_PORT=<first herdguard> HG_PORT2=<second herdguard> node bullmq_workers.js
// Workers are spread over both instances; Queue.getWorkers() finds them by the names BullMQ gives
// their connections (CLIENT SETNAME bull:<queue>:w:<name>) in CLIENT LIST, asked through either
// instance, before any worker has blocked (their names never reached Redis) and while they block
// (a private connection each, named too: still counted once). Then jobs run through both.
//
// Prints "PASS bullmq@<version> RESP2 <step>" or "FAIL ...: <why>" per step; exits 1 on a failure.
'use strict';

const { Queue, Worker } = require('bullmq');
const bullmqVersion = require('bullmq/package.json').version;

const PORTS = [Number(process.env.HG_PORT || 0), Number(process.env.HG_PORT2 || 0)];
const STEP_MS = Number(process.env.HG_STEP_TIMEOUT_MS || 15000);
if (!PORTS[0] || !PORTS[1]) {
    console.error('usage: HG_PORT=<port> HG_PORT2=<port> node bullmq_workers.js');
    process.exit(2);
}

let failures = 0;
const label = `bullmq@${bullmqVersion} RESP2`;
const report = (what, step, why) => console.log(`${what} ${label} ${step}${why ? ': ' + why : ''}`);
const sleep = ms => new Promise(r => setTimeout(r, ms));

async function runStep(step, fn) {
    let timer;
    const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${STEP_MS} ms`)), STEP_MS);
    });
    try {
        await Promise.race([fn(), timeout]);
        report('PASS', step);
        return true;
    } catch (e) {
        failures++;
        report('FAIL', step, e && e.message ? e.message : String(e));
        return false;
    } finally {
        clearTimeout(timer);
    }
}

// Polls `probe` until it returns true (bounded): the count through the other instance may lag
// behind a blocking worker's new connection by one heartbeat (docs/COMPATIBILITY.md).
async function until(what, probe, ms = 5000) {
    const deadline = Date.now() + ms;
    let last;
    for (;;) {
        last = await probe();
        if (last === true) return;
        if (Date.now() >= deadline) throw new Error(`${what}: ${last}`);
        await sleep(100);
    }
}

const connection = port => ({ host: '127.0.0.1', port, maxRetriesPerRequest: null, enableOfflineQueue: true });

async function main() {
    const name = `hgmatrix${process.pid}`;
    const queues = PORTS.map(port => new Queue(name, { connection: connection(port) }));
    const workers = [];
    const done = new Set();
    try {
        // Four workers, two on each herdguard, not running yet: connected and named only.
        for (let i = 0; i < 4; i++) {
            workers.push(new Worker(name, async job => {
                done.add(job.id);
                return job.data.n * 2;
            }, { connection: connection(PORTS[i % 2]), autorun: false, name: `w${i}` }));
        }
        await Promise.all(workers.map(w => w.waitUntilReady()));

        const counted = async q => {
            const list = await q.getWorkers();
            return list.length === 4 ? true : `${list.length} workers (${list.map(w => w.name).join(', ')})`;
        };
        await runStep('12-getworkers-idle', async () => {
            for (const q of queues) {
                const got = await counted(q);
                if (got !== true) throw new Error(`through port ${q.opts.connection.port}: ${got}, wanted 4`);
            }
        });

        // Running: each worker blocks on its own connection.
        for (const w of workers) w.run().catch(() => {});
        await runStep('13-getworkers-blocking', async () => {
            await sleep(200);  // each worker's first blocking command is out
            for (const q of queues) await until(`through port ${q.opts.connection.port}`, () => counted(q));
        });

        await runStep('14-jobs', async () => {
            const jobs = [];
            for (let n = 0; n < 40; n++) jobs.push(await queues[n % 2].add('double', { n }));
            await until('jobs done', async () => done.size === jobs.length ? true : `${done.size} of ${jobs.length}`, 10000);
            const counts = await queues[1].getJobCounts('completed', 'failed');
            if (counts.completed !== 40 || counts.failed !== 0) throw new Error(`counts ${JSON.stringify(counts)}`);
        });

        await runStep('15-getworkers-after-close', async () => {
            await workers[0].close();
            await workers[1].close();
            for (const q of queues) {
                await until(`through port ${q.opts.connection.port}`, async () => {
                    const list = await q.getWorkers();
                    return list.length === 2 ? true : `${list.length} workers`;
                });
            }
        });
    } finally {
        await Promise.all(workers.map(w => w.close().catch(() => {})));
        for (const q of queues) {
            await q.obliterate({ force: true }).catch(() => {});
            await q.close().catch(() => {});
        }
    }
}

main().then(
    () => process.exit(failures ? 1 : 0),
    e => {
        report('FAIL', '00-setup', e && e.message ? e.message : String(e));
        process.exit(1);
    });
