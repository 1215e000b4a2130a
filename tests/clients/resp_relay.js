#!/usr/bin/env node
// A logging TCP relay for looking at what a client and herdguard say to each other, byte for
// byte (a debugging aid for the client matrix; nothing runs it automatically):
//
//   node resp_relay.js <listen-port> <target-port> [log-file]
//   HG_PORT=<listen-port> node node_matrix.js redis5 3     # the client talks through the relay
//
// Every chunk is logged as "<ms> <conn#> C>S|S>C <JSON string of the bytes>" (to stdout, or to
// log-file). Loopback only. Stops on SIGINT/SIGTERM.
'use strict';
const fs = require('fs');
const net = require('net');

const [listenPort, targetPort, logFile] = process.argv.slice(2);
if (!listenPort || !targetPort) {
    console.error('usage: node resp_relay.js <listen-port> <target-port> [log-file]');
    process.exit(2);
}
const out = logFile ? fs.createWriteStream(logFile, {flags: 'a'}) : process.stdout;
const t0 = Date.now();
let next = 0;
const log = (id, dir, text) => out.write(`${String(Date.now() - t0).padStart(6)} #${id} ${dir} ${text}\n`);

const server = net.createServer(client => {
    const id = ++next;
    const upstream = net.connect({host: '127.0.0.1', port: Number(targetPort)});
    log(id, '--', 'open');
    client.on('data', d => {
        log(id, 'C>S', JSON.stringify(d.toString('latin1')));
        upstream.write(d);
    });
    upstream.on('data', d => {
        log(id, 'S>C', JSON.stringify(d.toString('latin1')));
        client.write(d);
    });
    const close = who => () => {
        log(id, '--', `${who} closed`);
        client.destroy();
        upstream.destroy();
    };
    client.on('close', close('client'));
    upstream.on('close', close('server'));
    client.on('error', () => {});
    upstream.on('error', () => {});
});
server.listen(Number(listenPort), '127.0.0.1', () => log(0, '--', `relay 127.0.0.1:${listenPort} -> 127.0.0.1:${targetPort}`));
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
