#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
'use strict';
// mongod-lite: an in-memory MongoDB-compatible server for mongolock's tests: a standalone,
// or with --replset NAME a one-member replica set (which also has change streams,
// lib/changestream.js). It exists only for tests. See README.md.
//
//   node server.js --port N [--replset NAME] [--enable-test-commands]
//                  [--ttl-monitor-secs S] [--verbose]
//
// Listens on 127.0.0.1 only; --port 0 picks a free port. Prints "READY <port>" on stdout
// when it accepts connections. Exits on SIGTERM/SIGINT.
//
// Each connection's messages are processed strictly in order: a command may answer later
// (commands.run returns a reply or a Promise of one: a blocked failpoint, an awaitable
// hello, a step-down, a change-stream getMore waiting for a write), and the next message of that connection waits for it; other
// connections are not affected.
const net = require('net');
const { Store } = require('./lib/store');
const { Commands, OP_QUERY_COMMANDS, MAX_MESSAGE } = require('./lib/commands');
const wire = require('./lib/wire');
const { MongoError } = require('./lib/errors');
const { CloseConnection } = require('./lib/failpoints');

function parseArgs(argv) {
  const opts = { port: null, ttlSecs: 60, verbose: false, replSetName: null, testCommands: false };
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
    else if (a === '--enable-test-commands') opts.testCommands = true;
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
  process.stderr.write('usage: node server.js --port N [--replset NAME] [--enable-test-commands] [--ttl-monitor-secs S] [--verbose]\n');
  process.exit(msg ? 2 : 0);
}

const opts = parseArgs(process.argv.slice(2));
const store = new Store();
let ttlTimer = null;
function setTtlSecs(secs) {
  store.ttlSecs = secs;
  if (ttlTimer) clearInterval(ttlTimer);
  // The TTL monitor deletes only on a primary (ttl.cpp: it skips a node that cannot
  // accept writes).
  ttlTimer = setInterval(() => { if (commands.repl.writable) store.ttlPass(new Date()); }, secs * 1000);
  ttlTimer.unref();
}
setTtlSecs(opts.ttlSecs);
const commands = new Commands(store, { setTtlSecs, replSetName: opts.replSetName, testCommands: opts.testCommands });

function log(...a) {
  if (opts.verbose) process.stderr.write(`${a.join(' ')}\n`);
}

function errorReply(e) {
  if (e instanceof MongoError) return e.toReply();
  if (e instanceof wire.ProtocolError) return new MongoError(17, e.message).toReply();
  process.stderr.write(`mongod-lite: internal error: ${e.stack}\n`);
  return new MongoError(1, `internal error in the test server: ${e.message}`).toReply();
}

// Encodes and sends a reply; a reply that cannot be encoded (too large, say) becomes an
// error reply, never a thrown exception that would take the connection down. Returns the
// requestId of the message sent.
function send(sock, encode, responseTo, reply, moreToCome = false) {
  let out;
  try {
    out = encode(responseTo, reply, moreToCome);
  } catch (e) {
    process.stderr.write(`mongod-lite: cannot encode a reply: ${e.message}\n`);
    out = encode(responseTo, new MongoError(10334, `BSONObj size is invalid: the reply could not be encoded (${e.message})`).toReply());
  }
  sock.write(out);
  return out.readInt32LE(4);
}

const isThenable = (x) => x !== null && typeof x === 'object' && typeof x.then === 'function';

// Runs one command: the reply, or a Promise of it. Errors become error replies, except
// CloseConnection (a failpoint's closeConnection), which hangs up.
function runCommand(body, conn) {
  const fail = (e) => {
    if (e instanceof CloseConnection) throw e;
    return errorReply(e);
  };
  try {
    const r = commands.run(body, conn);
    return isThenable(r) ? r.then((x) => x, fail) : r;
  } catch (e) {
    return fail(e);
  }
}

// An awaitable hello sent with exhaustAllowed is answered in exhaust mode, as mongod does
// for the streaming monitor protocol (libmongoc's server monitor): each reply carries
// moreToCome and the server answers again, for the topologyVersion it just sent, without a
// new request, until the connection closes.
const EXHAUST_COMMANDS = new Set(['hello', 'isMaster', 'ismaster']);
function exhaustible(parsed) {
  const b = parsed.body;
  return parsed.exhaustAllowed && !parsed.moreToCome && EXHAUST_COMMANDS.has(Object.keys(b)[0]) &&
    b.topologyVersion !== undefined && b.maxAwaitTimeMS !== undefined;
}

// Handles one message; returns undefined when done, or a Promise when the reply comes later.
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
      return undefined;
    }
    const exhaust = exhaustible(parsed);
    const deliver = (body, responseTo, reply) => {
      if (sock.destroyed) return undefined;
      log('cmd', Object.keys(body)[0], JSON.stringify(reply.ok));
      if (parsed.moreToCome) {
        // An unacknowledged write to a non-primary gets no reply: the connection is
        // closed, so the client notices (SERVER-38512).
        if (reply.code === 10107) throw new wire.ProtocolError('unacknowledged write on a non-primary');
        return undefined;
      }
      if (!exhaust || reply.ok !== undefined && !Number(reply.ok)) {
        send(sock, wire.encodeMsg, responseTo, reply);
        return undefined;
      }
      const sent = send(sock, wire.encodeMsg, responseTo, reply, true);
      const next = { ...body, topologyVersion: reply.topologyVersion };
      // Through the event loop (setImmediate), never a bare chain of microtasks, so a reply
      // that comes at once cannot starve other connections, timers or a hang-up.
      return new Promise((resolve) => setImmediate(resolve))
        .then(() => runCommand(next, conn))
        .then((x) => deliver(next, sent, x));
    };
    const reply = runCommand(parsed.body, conn);
    return isThenable(reply) ? reply.then((r) => deliver(parsed.body, requestId, r)) : deliver(parsed.body, requestId, reply);
  }
  if (opCode === wire.OP_QUERY) {
    let reply;
    try {
      const { ns, query } = wire.parseQuery(msg);
      const name = Object.keys(query)[0];
      if (!ns.endsWith('.$cmd') || !OP_QUERY_COMMANDS.has(name)) {
        throw new MongoError(352, `Unsupported OP_QUERY command: ${name}. The client driver may require an upgrade. For more details see https://dochub.mongodb.org/core/legacy-opcode-removal`);
      }
      reply = runCommand({ ...query, $db: ns.slice(0, -5) }, conn);
    } catch (e) {
      if (e instanceof CloseConnection) throw e;
      reply = errorReply(e);
    }
    const deliver = (r) => {
      if (!sock.destroyed) send(sock, wire.encodeReply, requestId, r);
    };
    return isThenable(reply) ? reply.then(deliver) : deliver(reply);
  }
  // Removed legacy opcodes (OP_INSERT, OP_GET_MORE, ...) and unknown ones: hang up.
  throw new wire.ProtocolError(`unsupported opCode ${opCode}`);
}

function hangUp(sock, conn, e) {
  log(`connection ${conn.id}: ${e.message}; closing it`);
  if (!(e instanceof wire.ProtocolError) && !(e instanceof CloseConnection)) process.stderr.write(`mongod-lite: ${e.stack}\n`);
  conn.queue = [];
  sock.destroy();
}

// Processes the connection's queued messages in order, one at a time.
function pump(sock, conn) {
  while (!conn.busy && conn.queue.length && !sock.destroyed) {
    const msg = conn.queue.shift();
    let r;
    try {
      if (msg instanceof Error) throw msg; // a framing error after the messages before it
      r = handleMessage(sock, conn, msg);
    } catch (e) {
      hangUp(sock, conn, e);
      return;
    }
    if (isThenable(r)) {
      conn.busy = true;
      r.then(() => {
        conn.busy = false;
        pump(sock, conn);
      }, (e) => hangUp(sock, conn, e));
    }
  }
}

let nextConnId = 1;
const sockets = new Set();

const server = net.createServer((sock) => {
  const conn = { id: nextConnId++, queue: [], busy: false, broken: false, appName: undefined, lastOp: undefined };
  sockets.add(sock);
  // Chunks are kept as they come and joined only once a whole message is there, so a
  // large message arriving in many pieces costs one copy, not one per piece.
  let chunks = [];
  let have = 0;
  sock.setNoDelay(true);
  sock.on('data', (chunk) => {
    if (conn.broken) return;
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
        conn.queue.push(msg);
      }
    } catch (e) {
      chunks = [];
      have = 0;
      // Messages framed before the bad one are still answered, in order; then hang up.
      conn.broken = true;
      conn.queue.push(e);
    }
    pump(sock, conn);
  });
  sock.on('error', () => sock.destroy());
  sock.on('close', () => sockets.delete(sock));
});

server.on('error', (e) => {
  process.stderr.write(`mongod-lite: ${e.message}\n`);
  process.exit(1);
});

server.listen(opts.port, '127.0.0.1', () => {
  commands.repl.host = `127.0.0.1:${server.address().port}`;
  process.stdout.write(`READY ${server.address().port}\n`);
});

function shutdown() {
  server.close();
  for (const s of sockets) s.destroy();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
