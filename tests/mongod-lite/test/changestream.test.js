// SPDX-License-Identifier: Apache-2.0
'use strict';
// Checks of lib/changestream.js that a real MongoDB cannot share (so they are not C
// conformance tests): the bounded history behind ChangeStreamHistoryLost (286), tokens
// this server did not issue, and the server's per-connection ordering while a getMore
// waits. Run: node test/changestream.test.js (meson: the unit test mongod-lite-changestream).
const assert = require('assert');
const net = require('net');
const path = require('path');
const { spawn } = require('child_process');
const { BSON, Long, Timestamp } = require('bson');
const { Store } = require('../lib/store');
const { Commands } = require('../lib/commands');

function server(replSetName) {
  const c = new Commands(new Store(), { setTtlSecs() {}, replSetName });
  const run = (db, body) => {
    try {
      return c.run({ ...body, $db: db }, { id: 1 });
    } catch (e) {
      return { ok: 0, code: e.code, errmsg: e.message };
    }
  };
  return { c, run };
}

const tests = [];
const test = (name, fn) => tests.push([name, fn]);

test('a standalone refuses $changeStream (40573) and records nothing', () => {
  const { c, run } = server(null);
  assert.strictEqual(run('d', { aggregate: 'c', pipeline: [{ $changeStream: {} }], cursor: {} }).code, 40573);
  run('d', { insert: 'c', documents: [{ _id: 1 }] });
  assert.strictEqual(c.changeStreams.log.length, 0);
});

test('resuming from before the retained history fails 286', () => {
  const { c, run } = server('rs0');
  c.changeStreams.history = 5;
  const open = run('d', { aggregate: 'c', pipeline: [{ $changeStream: {} }], cursor: {} });
  run('d', { insert: 'c', documents: [{ _id: 1 }, { _id: 2 }, { _id: 3 }] });
  const got = run('d', { getMore: open.cursor.id, collection: 'c', maxTimeMS: 0 });
  const [first, second] = got.cursor.nextBatch;
  // Still retained: resumes exactly after the first event.
  let r = run('d', { aggregate: 'c', pipeline: [{ $changeStream: { resumeAfter: first._id } }], cursor: {} });
  assert.deepStrictEqual(r.cursor.firstBatch.map((e) => e.documentKey._id), [2, 3]);
  run('d', { insert: 'c', documents: [4, 5, 6, 7].map((i) => ({ _id: i })) }); // 7 writes > 5 kept
  r = run('d', { aggregate: 'c', pipeline: [{ $changeStream: { resumeAfter: first._id } }], cursor: {} });
  assert.strictEqual(r.code, 286, JSON.stringify(r));
  r = run('d', { aggregate: 'c', pipeline: [{ $changeStream: { startAtOperationTime: second.clusterTime } }], cursor: {} });
  assert.strictEqual(r.code, 286, JSON.stringify(r));
  // The oldest retained write is still a valid start.
  const oldest = c.changeStreams.log[0].ts;
  r = run('d', { aggregate: 'c', pipeline: [{ $changeStream: { startAtOperationTime: new Timestamp({ t: Number(oldest >> 32n), i: Number(oldest & 0xffffffffn) }) } }], cursor: {} });
  assert.strictEqual(r.ok.valueOf(), 1, JSON.stringify(r));
  assert.deepStrictEqual(r.cursor.firstBatch.map((e) => e.documentKey._id), [3, 4, 5, 6, 7]);
});

test('tokens this server did not issue are refused', () => {
  const { run } = server('rs0');
  const open = run('d', { aggregate: 'c', pipeline: [{ $changeStream: {} }], cursor: {} });
  run('d', { insert: 'c', documents: [{ _id: 1 }] });
  const tok = run('d', { getMore: open.cursor.id, collection: 'c', maxTimeMS: 0 }).cursor.nextBatch[0]._id;
  const flip = tok._data.slice(0, 20) + (tok._data[20] === '0' ? '1' : '0') + tok._data.slice(21);
  for (const bad of [{ _data: flip }, { _data: '00' }, { _data: tok._data + '00' }]) {
    const r = run('d', { aggregate: 'c', pipeline: [{ $changeStream: { resumeAfter: bad } }], cursor: {} });
    assert.strictEqual(r.code, 260, JSON.stringify(r));
  }
  assert.strictEqual(run('d', { aggregate: 'c', pipeline: [{ $changeStream: { resumeAfter: { _data: '' } } }], cursor: {} }).code, 40649);
});

test('events the user filtered out move postBatchResumeToken only as a high-water mark', () => {
  const { c, run } = server('rs0');
  const { parseToken } = require('../lib/changestream');
  const match = { $match: { operationType: 'delete' } };
  const open = run('d', { aggregate: 'c', pipeline: [{ $changeStream: {} }, match], cursor: {} });
  run('d', { insert: 'c', documents: [{ _id: 1 }, { _id: 2 }] });
  const r = run('d', { getMore: open.cursor.id, collection: 'c', maxTimeMS: 0 });
  assert.deepStrictEqual(r.cursor.nextBatch, []);
  // A high-water mark at the latest write (it sorts before that write's own event token).
  const t = parseToken(r.cursor.postBatchResumeToken);
  assert.strictEqual(t.event, false);
  assert.strictEqual(t.ts, c.changeStreams.latestTs());
  run('d', { delete: 'c', deletes: [{ q: {}, limit: 0 }] });
  const resumed = run('d', { aggregate: 'c', pipeline: [{ $changeStream: { resumeAfter: r.cursor.postBatchResumeToken } }, match], cursor: {} });
  assert.deepStrictEqual(resumed.cursor.firstBatch.map((e) => e.documentKey._id), [1, 2]);
});

test('a failed createIndexes that created its collection reports no drop', () => {
  const { run } = server('rs0');
  const open = run('d', { aggregate: 1, pipeline: [{ $changeStream: {} }], cursor: {} });
  const r = run('d', { createIndexes: 'fresh', indexes: [{ key: { a: 1 }, name: 'a', bogus: 1 }] });
  assert.strictEqual(r.ok, 0);
  run('d', { insert: 'other', documents: [{ _id: 1 }] });
  const got = run('d', { getMore: open.cursor.id, collection: '$cmd.aggregate', maxTimeMS: 0 });
  assert.deepStrictEqual(got.cursor.nextBatch.map((e) => e.operationType), ['insert']);
});

test('a waiting getMore: a second one is CursorInUse (143); killCursors ends it with 237', async () => {
  const { run } = server('rs0');
  const open = run('d', { aggregate: 'c', pipeline: [{ $changeStream: {} }], cursor: {} });
  const waiting = run('d', { getMore: open.cursor.id, collection: 'c', maxTimeMS: 10000 });
  assert.strictEqual(typeof waiting.then, 'function');
  assert.strictEqual(run('d', { getMore: open.cursor.id, collection: 'c', maxTimeMS: 0 }).code, 143);
  const t0 = Date.now();
  run('d', { killCursors: 'c', cursors: [open.cursor.id] });
  // commands.run (lib/dispatch.js) turns the error into an error reply.
  const killed = await waiting;
  assert.strictEqual(killed.code, 237, JSON.stringify(killed));
  assert.strictEqual(killed.codeName, 'CursorKilled');
  assert.ok(Date.now() - t0 < 2000);
});

// ---- over TCP: replies keep their order per connection; other connections go on ----

function opMsg(id, body) {
  const doc = BSON.serialize(body);
  const out = Buffer.alloc(21 + doc.length);
  out.writeInt32LE(out.length, 0);
  out.writeInt32LE(id, 4);
  out.writeInt32LE(2013, 12);
  doc.copy(out, 21);
  return out;
}

function replies(sock) {
  let buf = Buffer.alloc(0);
  const queue = [];
  const waiting = [];
  sock.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 4 && buf.length >= buf.readInt32LE(0)) {
      const len = buf.readInt32LE(0);
      const m = buf.subarray(0, len);
      buf = buf.subarray(len);
      const r = { to: m.readInt32LE(8), body: BSON.deserialize(m.subarray(21)), at: Date.now() };
      if (waiting.length) waiting.shift()(r); else queue.push(r);
    }
  });
  return () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((res) => waiting.push(res)));
}

test('over TCP: a waiting getMore holds back its own connection only', async () => {
  const proc = spawn(process.execPath, [path.join(__dirname, '..', 'server.js'), '--port', '0', '--replset', 'rs0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise((res) => proc.stdout.on('data', (d) => { const m = /READY (\d+)/.exec(String(d)); if (m) res(Number(m[1])); }));
    const connect = () => new Promise((res) => { const s = net.connect(port, '127.0.0.1', () => res(s)); });
    const a = await connect();
    const b = await connect();
    const nextA = replies(a);
    const nextB = replies(b);
    a.write(opMsg(1, { aggregate: 'c', pipeline: [{ $changeStream: {} }], cursor: {}, $db: 'd' }));
    const id = (await nextA()).body.cursor.id;
    const t0 = Date.now();
    // One write with two messages: the getMore waits 1500 ms, the ping queues behind it.
    a.write(Buffer.concat([opMsg(2, { getMore: Long.fromBigInt(BigInt(id)), collection: 'c', maxTimeMS: 1500, $db: 'd' }), opMsg(3, { ping: 1, $db: 'd' })]));
    b.write(opMsg(4, { ping: 1, $db: 'd' }));
    const pb = await nextB();
    assert.strictEqual(pb.to, 4);
    assert.ok(pb.at - t0 < 1000, `another connection waited ${pb.at - t0} ms`);
    const r1 = await nextA();
    const r2 = await nextA();
    assert.deepStrictEqual([r1.to, r2.to], [2, 3]);
    assert.ok(r1.at - t0 >= 1300, `the getMore returned after ${r1.at - t0} ms of 1500`);
    assert.deepStrictEqual(r1.body.cursor.nextBatch, []);
    a.destroy();
    b.destroy();
  } finally {
    proc.kill('SIGTERM');
  }
});

(async () => {
  let failed = 0;
  for (const [name, fn] of tests) {
    try {
      await fn();
      process.stdout.write(`ok - ${name}\n`);
    } catch (e) {
      failed++;
      process.stdout.write(`not ok - ${name}\n${e.stack}\n`);
    }
  }
  process.exit(failed ? 1 : 0);
})();
