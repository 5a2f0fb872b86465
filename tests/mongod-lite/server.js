#!/usr/bin/env node
'use strict';
// mongod-lite: an in-memory, single-node, MongoDB-compatible server for mongolock's tests.
// It exists only for tests. See README.md beside this file.
//
//   node server.js --port N [--ttl-monitor-secs S] [--replset NAME] [--verbose]
//
// --replset NAME: answer hello as the primary of a one-member replica set NAME, which also
// enables change streams (lib/changestream.js). Without it the server is a standalone.
//
// Listens on 127.0.0.1 only; --port 0 picks a free port. Prints "READY <port>" on stdout
// when it accepts connections. Exits on SIGTERM/SIGINT.
const net = require('net');
const { Store } = require('./lib/store');
const { Commands, OP_QUERY_COMMANDS, MAX_MESSAGE } = require('./lib/commands');
const wire = require('./lib/wire');
const { MongoError } = require('./lib/errors');

function parseArgs(argv) {
  const opts = { port: null, ttlSecs: 60, verbose: false, replSetName: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--port') opts.port = Number(next());
    else if (a === '--ttl-monitor-secs') opts.ttlSecs = Number(next());
    else if (a === '--verbose') opts.verbose = true;
    else if (a === '--replset') opts.replSetName = next();
    else if (a === '--help' || a === '-h') usage(null);
    else usage(`unknown argument ${a}`);
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) usage('--port must be 0..65535');
  if (!(opts.ttlSecs > 0)) usage('--ttl-monitor-secs must be positive');
  if (opts.replSetName !== null && !/^[A-Za-z0-9_-]{1,64}$/.test(opts.replSetName)) usage('--replset needs a set name');
  return opts;
}

function usage(msg) {
  if (msg) process.stderr.write(`mongod-lite: ${msg}\n`);
  process.stderr.write('usage: node server.js --port N [--ttl-monitor-secs S] [--replset NAME] [--verbose]\n');
  process.exit(msg ? 2 : 0);
}

const opts = parseArgs(process.argv.slice(2));
const store = new Store();
let ttlTimer = null;
function setTtlSecs(secs) {
  store.ttlSecs = secs;
  if (ttlTimer) clearInterval(ttlTimer);
  ttlTimer = setInterval(() => store.ttlPass(new Date()), secs * 1000);
  ttlTimer.unref();
}
setTtlSecs(opts.ttlSecs);
// replSetName: null for a standalone; me: this server's host:port once it listens.
const commands = new Commands(store, { setTtlSecs, replSetName: opts.replSetName, me: null });

function log(...a) {
  if (opts.verbose) process.stderr.write(`${a.join(' ')}\n`);
}

function errorReply(e) {
  if (e instanceof MongoError) return e.toReply();
  if (e instanceof wire.ProtocolError) return new MongoError(17, e.message).toReply();
  process.stderr.write(`mongod-lite: internal error: ${e.stack}\n`);
  return new MongoError(1, `internal error in the test server: ${e.message}`).toReply();
}

// Encodes a reply; a reply that cannot be encoded (too large, say) becomes an error reply,
// never a thrown exception that would take the connection down.
function send(sock, encode, requestId, reply) {
  let out;
  try {
    out = encode(requestId, reply);
  } catch (e) {
    process.stderr.write(`mongod-lite: cannot encode a reply: ${e.message}\n`);
    out = encode(requestId, new MongoError(10334, `BSONObj size is invalid: the reply could not be encoded (${e.message})`).toReply());
  }
  sock.write(out);
}

function handleMessage(sock, conn, msg) {
  const requestId = msg.readInt32LE(4);
  const opCode = msg.readInt32LE(12);
  if (opCode === wire.OP_MSG) {
    let parsed;
    try {
      parsed = wire.parseMsg(msg);
    } catch (e) {
      if (e instanceof wire.ProtocolError) throw e; // connection-fatal: hang up
      send(sock, wire.encodeMsg, requestId, errorReply(e));
      return;
    }
    let reply;
    try {
      reply = commands.run(parsed.body, conn);
    } catch (e) {
      reply = errorReply(e);
    }
    const finish = (r) => {
      log('cmd', Object.keys(parsed.body)[0], JSON.stringify(r.ok));
      if (!parsed.moreToCome && !sock.destroyed) send(sock, wire.encodeMsg, requestId, r);
    };
    if (reply && typeof reply.then === 'function') {
      // A command that waits (getMore with maxAwaitTimeMS): this connection's later
      // messages queue behind it, so replies keep their order; others are not held up.
      conn.busy = true;
      reply.then((r) => r, errorReply).then((r) => {
        finish(r);
        conn.busy = false;
        drain(sock, conn);
      });
      return;
    }
    finish(reply);
    return;
  }
  if (opCode === wire.OP_QUERY) {
    let reply;
    try {
      const { ns, query } = wire.parseQuery(msg);
      const name = Object.keys(query)[0];
      if (!ns.endsWith('.$cmd') || !OP_QUERY_COMMANDS.has(name)) {
        throw new MongoError(352, `Unsupported OP_QUERY command: ${name}. The client driver may require an upgrade. For more details see https://dochub.mongodb.org/core/legacy-opcode-removal`);
      }
      reply = commands.run({ ...query, $db: ns.slice(0, -5) }, conn);
    } catch (e) {
      reply = errorReply(e);
    }
    send(sock, wire.encodeReply, requestId, reply);
    return;
  }
  // Removed legacy opcodes (OP_INSERT, OP_GET_MORE, ...) and unknown ones: hang up.
  throw new wire.ProtocolError(`unsupported opCode ${opCode}`);
}

// Runs the messages queued on conn in order until one of them waits (conn.busy).
function drain(sock, conn) {
  try {
    while (!conn.busy && conn.pending.length && !sock.destroyed) handleMessage(sock, conn, conn.pending.shift());
  } catch (e) {
    log(`connection ${conn.id}: ${e.message}; closing it`);
    if (!(e instanceof wire.ProtocolError)) process.stderr.write(`mongod-lite: ${e.stack}\n`);
    conn.pending = [];
    sock.destroy();
  }
}

let nextConnId = 1;
const sockets = new Set();

const server = net.createServer((sock) => {
  // pending: whole messages not yet run; busy: a command of this connection is waiting.
  const conn = { id: nextConnId++, pending: [], busy: false };
  sockets.add(sock);
  // Chunks are kept as they come and joined only once a whole message is there, so a
  // large message arriving in many pieces costs one copy, not one per piece.
  let chunks = [];
  let have = 0;
  sock.setNoDelay(true);
  sock.on('data', (chunk) => {
    chunks.push(chunk);
    have += chunk.length;
    try {
      while (have >= 4) {
        if (chunks[0].length < 4) chunks = [Buffer.concat(chunks, have)];
        const len = chunks[0].readInt32LE(0);
        if (len < wire.MIN_MESSAGE || len > MAX_MESSAGE) {
          throw new wire.ProtocolError(`message length ${len} is invalid. Min ${wire.MIN_MESSAGE} Max: ${MAX_MESSAGE}`);
        }
        if (have < len) break;
        const buf = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, have);
        const msg = buf.subarray(0, len);
        const rest = buf.subarray(len);
        chunks = rest.length ? [rest] : [];
        have = rest.length;
        conn.pending.push(msg);
        drain(sock, conn);
        if (sock.destroyed) return;
      }
    } catch (e) {
      log(`connection ${conn.id}: ${e.message}; closing it`);
      if (!(e instanceof wire.ProtocolError)) process.stderr.write(`mongod-lite: ${e.stack}\n`);
      chunks = [];
      have = 0;
      sock.destroy();
    }
  });
  sock.on('error', () => sock.destroy());
  sock.on('close', () => sockets.delete(sock));
});

server.on('error', (e) => {
  process.stderr.write(`mongod-lite: ${e.message}\n`);
  process.exit(1);
});

server.listen(opts.port, '127.0.0.1', () => {
  commands.opts.me = `127.0.0.1:${server.address().port}`;
  process.stdout.write(`READY ${server.address().port}\n`);
});

function shutdown() {
  server.close();
  for (const s of sockets) s.destroy();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
