// SPDX-License-Identifier: Apache-2.0
'use strict';
// Change streams (MONGODB-RULES 18), in replica-set mode only. Every write the store makes
// is recorded once, where the store makes it (Store.observers), into a bounded event log
// that plays the oplog's part: each entry has its own cluster time (a Timestamp, unique
// and increasing), taken from the member's one logical clock (lib/replset.js tick()), so
// a write command's operationTime is its last event's clusterTime (lib/dispatch.js). A $changeStream cursor is a position in that log plus a filter for its
// namespace; getMore turns the entries after that position into change events
// (change_stream_event_transform.cpp), runs the user's stages over them and, when there
// are none yet, waits up to the await time for the next write. The log keeps the last
// 10000 writes (and at most 64 MB of documents); a start older than its oldest entry
// fails 286 ChangeStreamHistoryLost, as a start that has left the oplog does.
//
// Resume tokens are {_data: hex}. Like MongoDB's KeyString tokens they start with "82"
// and the 8-byte big-endian cluster time, so they sort by time; the rest is this server's
// own (token type: 80 for an event, 00 for a high-water mark, as kEventToken and
// kHighWaterMarkToken; fromInvalidate; collection UUID; checksum). Clients treat them as
// opaque; this server refuses any it did not make.
const crypto = require('crypto');
const V = require('./values');
const { MongoError } = require('./errors');
const pipeline = require('./pipeline');
const { compileLet } = require('./expr-compile');
const { describe, same } = require('./changedesc');
const { BSON } = require('bson');

const DEFAULT_HISTORY = 10000; // entries kept; older resume points fail 286
const DEFAULT_AWAIT_MS = 1000; // getMore on an awaitData cursor without maxTimeMS (awaitDataTimeout)
const MAX_BSON = 16 * 1024 * 1024;
// Stages allowed after $changeStream (manual "Modify Change Stream Output"; each stage's
// constraints().isAllowedInChangeStream()). Others fail 20 IllegalOperation (pipeline.cpp).
const ALLOWED_STAGES = new Set(['$match', '$project', '$addFields', '$set', '$unset', '$replaceRoot', '$replaceWith']);
const NOT_IMPLEMENTED_STAGES = new Set(['$redact', '$changeStreamSplitLargeEvent']);
// DocumentSourceChangeStreamSpec (document_source_change_stream.idl).
const SPEC_FIELDS = new Set(['resumeAfter', 'startAfter', 'startAtOperationTime', 'fullDocument',
  'fullDocumentBeforeChange', 'allChangesForCluster', 'showMigrationEvents', 'showSystemEvents',
  'allowToRunOnConfigDB', 'allowToRunOnSystemNS', 'showExpandedEvents', 'showRawUpdateDescription']);
const INTERNAL_DBS = new Set(['admin', 'config', 'local']);
const UNSUPPORTED_OPTIONS = ['showExpandedEvents', 'showSystemEvents', 'showMigrationEvents', 'showRawUpdateDescription',
  'allowToRunOnConfigDB', 'allowToRunOnSystemNS'];
const HISTORY_BYTES = 64 * 1024 * 1024; // and at most this many bytes of documents

const tsOf = (b) => new V.Timestamp({ t: Number(b >> 32n), i: Number(b & 0xffffffffn) });
const tsFromBson = (ts) => (BigInt(ts.high >>> 0) << 32n) | BigInt(ts.low >>> 0);

function checksum(hex) {
  return crypto.createHash('sha256').update(hex).digest('hex').slice(0, 8);
}

// {ts: BigInt, event: bool, fromInvalidate: bool, uuid: Binary|null} -> {_data}
function makeToken(t) {
  let hex = '82' + t.ts.toString(16).padStart(16, '0') + (t.event ? '80' : '00') +
    ((t.fromInvalidate ? 1 : 0) | (t.uuid ? 2 : 0)).toString(16).padStart(2, '0');
  if (t.uuid) hex += Buffer.from(t.uuid.buffer).toString('hex');
  return { _data: hex + checksum(hex) };
}

// Parses a resume token as resume_token.cpp does: the checks on its shape first (40647,
// 40648), then the hex (FailedToParse), then the content.
function parseToken(doc) {
  if (!V.isPlainObject(doc) || typeof doc._data !== 'string') {
    throw new MongoError(40647, `Bad resume token: _data of missing or of wrong type. Expected string, got ${V.show(doc)}`);
  }
  if (doc._typeBits !== undefined && !(V.btype(doc._typeBits) === 'binData' && doc._typeBits.sub_type === 0)) {
    throw new MongoError(40648, `Bad resume token: _typeBits of wrong type ${V.show(doc)}`);
  }
  const hex = doc._data;
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new MongoError(9, 'resume token string was not a valid hex string');
  }
  if (hex.length === 0) throw new MongoError(40649, 'invalid empty resume token');
  const bad = () => new MongoError(260, `Bad resume token: ${V.show(doc)} was not issued by this server (a test server: its resume tokens are its own)`);
  const m = /^82([0-9a-f]{16})(00|80)(0[0-3])((?:[0-9a-f]{32})?)([0-9a-f]{8})$/.exec(hex);
  if (!m || checksum(hex.slice(0, -8)) !== m[5] || doc._typeBits !== undefined) throw bad();
  const flags = Number(m[3]);
  if (((flags & 2) !== 0) !== (m[4].length === 32)) throw bad();
  const event = m[2] === '80';
  if (!event && flags !== 0) throw bad();
  return {
    ts: BigInt('0x' + m[1]), event, fromInvalidate: (flags & 1) !== 0,
    uuid: m[4] ? new V.Binary(Buffer.from(m[4], 'hex'), 4) : null, doc,
  };
}

const sameUuid = (a, b) => (!a && !b) || (a && b && Buffer.from(a.buffer).equals(Buffer.from(b.buffer)));

class ChangeStreams {
  // commands: the Commands instance (store, cursors map, repl: the ReplSet whose clock
  // and mode (repl.isReplSet) the streams use).
  constructor(commands, history = DEFAULT_HISTORY) {
    this.commands = commands;
    this.repl = commands.repl;
    this.history = history;
    this.log = []; // entries, oldest first
    this.bytes = 0; // of the documents the entries hold
    this.waiters = new Set(); // callbacks waiting for the next entry
    // The log starts at the member's first oplog entry (as a replica set's starts with
    // "initiating set", the clock's first time): nothing before it can be resumed from.
    this.floorTs = this.latestTs();
    commands.store.observers.push((ev) => this.record(ev));
  }

  get enabled() { return this.repl.isReplSet; }

  // The next cluster time, from the member's clock: the wall clock's seconds and an
  // increment within a second, as oplog timestamps are.
  tick() {
    const t = this.repl.tick();
    return (BigInt(t.t) << 32n) | BigInt(t.i);
  }

  // Store observer: one log entry per document write, drop and dropDatabase.
  record(ev) {
    if (!this.enabled) return;
    const e = { wall: null, op: ev.op, db: ev.db || (ev.coll && ev.coll.db.name), coll: ev.coll ? ev.coll.name : undefined, uuid: ev.coll ? ev.coll.uuid : undefined };
    if (ev.op === 'insert') {
      e.documentKey = { _id: ev.doc._id };
      e.fullDocument = V.deepClone(ev.doc);
    } else if (ev.op === 'update') {
      if (same(ev.before, ev.after)) return; // a no-op update writes no oplog entry
      const d = describe(ev.before, ev.after, ev.how);
      e.op = d.type;
      e.documentKey = { _id: ev.after._id };
      if (d.type === 'replace') e.fullDocument = V.deepClone(ev.after);
      else e.updateDescription = V.deepClone(d.updateDescription);
    } else if (ev.op === 'delete') {
      e.documentKey = { _id: ev.doc._id };
    }
    e.ts = this.tick();
    e.wall = this.repl.lastWriteDate;
    e.bytes = e.fullDocument ? BSON.calculateObjectSize(e.fullDocument) : e.updateDescription ? BSON.calculateObjectSize(e.updateDescription) : 0;
    this.bytes += e.bytes;
    this.log.push(e);
    let drop = Math.max(0, this.log.length - this.history);
    let bytes = this.bytes;
    for (let k = 0; k < drop; k++) bytes -= this.log[k].bytes;
    while (bytes > HISTORY_BYTES && drop < this.log.length - 1) bytes -= this.log[drop++].bytes;
    if (drop > 0) {
      this.log.splice(0, drop);
      this.bytes = bytes;
      this.floorTs = this.log[0].ts;
    }
    const w = [...this.waiters];
    this.waiters.clear();
    for (const f of w) f();
  }

  // The clock's latest time (a write, or a no-op such as a new primary's): BigInt.
  latestTs() {
    const t = this.repl.lastTs;
    return (BigInt(t.t) << 32n) | BigInt(t.i);
  }

  // ---- aggregate ----

  // aggregate whose pipeline holds $changeStream (commands.js has checked the generic
  // arguments and the 'aggregate' target's type).
  aggregate(body, ctx) {
    const stages = body.pipeline;
    const first = stages[0];
    const idx = stages.findIndex((s) => V.isPlainObject(s) && Object.prototype.hasOwnProperty.call(s, '$changeStream'));
    const specValue = stages[idx].$changeStream;
    // DocumentSourceChangeStream::createFromBson: the stage's argument and its IDL parse,
    // then assertIsLegalSpecification, which starts with the standalone check.
    if (V.btype(specValue) !== 'object') throw new MongoError(50808, '$changeStream stage expects a document as argument');
    const spec = this.parseSpec(specValue);
    if (!this.enabled) throw new MongoError(40573, 'The $changeStream stage is only supported on replica sets');
    // Options whose events or fields this server does not produce are refused, not ignored.
    for (const k of UNSUPPORTED_OPTIONS) {
      if (spec[k]) throw new MongoError(2, `$changeStream option '${k}: true' is not supported by this test server`);
    }
    if (!(V.isPlainObject(first) && Object.prototype.hasOwnProperty.call(first, '$changeStream'))) {
      throw new MongoError(40602, '$changeStream is only valid as the first stage in a pipeline.');
    }
    const target = body.aggregate;
    const collectionless = typeof target !== 'string';
    const type = ctx.db === 'admin' ? 'cluster' : collectionless ? 'database' : 'collection';
    const ns = collectionless ? `${ctx.db}.$cmd.aggregate` : `${ctx.db}.${target}`;
    if (spec.allChangesForCluster && !(ctx.db === 'admin' && collectionless)) {
      throw new MongoError(72, `A $changeStream with 'allChangesForCluster:true' may only be opened on the 'admin' database, and with no collection name; found ${ns}`);
    }
    if (ctx.db === 'admin' ? !spec.allChangesForCluster : INTERNAL_DBS.has(ctx.db)) {
      throw new MongoError(73, `$changeStream may not be opened on the internal ${ctx.db} database`);
    }
    if (!collectionless && target.startsWith('system.')) {
      throw new MongoError(73, `$changeStream may not be opened on the internal ${ns} collection`);
    }
    if (spec.resumeAfter && spec.startAfter) {
      throw new MongoError(50865, "Do not specify both 'resumeAfter' and 'startAfter' in a $changeStream stage");
    }
    const token = spec.resumeAfter || spec.startAfter ? parseToken(spec.resumeAfter || spec.startAfter) : null;
    if (token && spec.startAtOperationTime !== undefined) {
      throw new MongoError(40674, 'Only one type of resume option is allowed, but multiple were found');
    }
    if (spec.resumeAfter && token.fromInvalidate) {
      throw new MongoError(260, "Attempting to resume a change stream using 'resumeAfter' is not allowed from an invalidate notification");
    }
    if (token && token.event && !token.uuid && type === 'collection') {
      throw new MongoError(260, 'Attempted to resume a single-collection stream, but the resume token does not include a UUID');
    }
    const user = stages.slice(1);
    const lets = compileLet(body.let, ctx.now);
    for (const s of user) {
      if (!V.isPlainObject(s) || Object.keys(s).length !== 1) {
        throw new MongoError(40323, 'A pipeline stage specification object must contain exactly one field.');
      }
      const name = Object.keys(s)[0];
      if (name === '$changeStream') throw new MongoError(40602, '$changeStream is only valid as the first stage in a pipeline.');
      if (NOT_IMPLEMENTED_STAGES.has(name)) throw new MongoError(2, `${name} in a $changeStream pipeline is not supported by this test server`);
      if (!ALLOWED_STAGES.has(name)) {
        // A stage's own errors (40324 unknown, ...) come before "not permitted" (parse, then validate).
        pipeline.compile([s], lets.names);
        throw new MongoError(20, `${name} is not permitted in a $changeStream pipeline`);
      }
    }
    // The user's stages are checked now, before any event (MONGODB-RULES 21).
    const plan = pipeline.compile(user, lets.names);
    // Where the stream starts: after the resume token's event, at startAtOperationTime,
    // or one tick after the latest write (getStartTimeForNewStream).
    let startTs;
    let after = null; // an event token to resume after
    if (token) {
      startTs = token.ts;
      if (token.event) after = token;
    } else if (spec.startAtOperationTime !== undefined) {
      startTs = tsFromBson(spec.startAtOperationTime);
    } else {
      startTs = this.latestTs() + 1n;
    }
    // DocumentSourceChangeStreamCheckResumability: the start must still be in the log.
    if (startTs < this.floorTs) {
      throw new MongoError(286, 'Resume of change stream was not possible, as the resume point may no longer be in the oplog.', { errorLabels: ['NonResumableChangeStreamError'] });
    }
    const stream = {
      type, db: ctx.db, coll: collectionless ? undefined : target, spec, plan: user.length ? plan : null, vars: lets.vars,
      nextTs: startTs, // entries with ts >= nextTs are still to be read
      after, // an event token not yet passed: its own entry is skipped, others must not come first
      invalidatePending: null, // the entry whose invalidate is still to be sent
      done: false,
      pbrt: { ts: startTs, token: token ? token.doc : makeToken({ ts: startTs, event: false }) },
    };
    if (after) {
      // startAfter an invalidate: the stream begins after the invalidated stream ended.
      if (after.fromInvalidate) { stream.nextTs = after.ts + 1n; stream.after = null; }
    }
    const batchSize = body.cursor && body.cursor.batchSize !== undefined ? V.toDouble(body.cursor.batchSize) : 101;
    const cursor = { ns, stream, lsid: ctx.lsid, awaitData: true };
    const batch = this.next(cursor, batchSize, ctx);
    const id = cursor.stream.done ? 0n : this.register(cursor);
    return { cursor: { firstBatch: batch, postBatchResumeToken: cursor.stream.pbrt.token, id: V.mkLong(id), ns }, ok: V.mkDouble(1) };
  }

  parseSpec(raw) {
    const spec = {};
    for (const [k, v] of Object.entries(raw)) {
      if (!SPEC_FIELDS.has(k)) throw new MongoError(40415, `BSON field '$changeStream.${k}' is an unknown field.`);
      spec[k] = v;
    }
    const typed = (k, want, ok) => {
      if (spec[k] !== undefined && !ok(spec[k])) {
        throw new MongoError(14, `BSON field '$changeStream.${k}' is the wrong type '${V.btype(spec[k])}', expected type '${want}'`);
      }
    };
    typed('resumeAfter', 'object', V.isPlainObject);
    typed('startAfter', 'object', V.isPlainObject);
    typed('startAtOperationTime', 'timestamp', (v) => V.btype(v) === 'timestamp');
    typed('fullDocument', 'string', (v) => typeof v === 'string');
    typed('fullDocumentBeforeChange', 'string', (v) => typeof v === 'string');
    for (const k of ['allChangesForCluster', 'showMigrationEvents', 'showSystemEvents', 'allowToRunOnConfigDB',
      'allowToRunOnSystemNS', 'showExpandedEvents', 'showRawUpdateDescription']) {
      typed(k, 'bool', (v) => V.btype(v) === 'bool');
      spec[k] = spec[k] === true;
    }
    const enumCheck = (k, values) => {
      if (spec[k] !== undefined && !values.includes(spec[k])) {
        throw new MongoError(2, `Enumeration value '${spec[k]}' for field '$changeStream.${k}' is not a valid value.`);
      }
    };
    enumCheck('fullDocument', ['default', 'updateLookup', 'whenAvailable', 'required']);
    enumCheck('fullDocumentBeforeChange', ['off', 'whenAvailable', 'required']);
    spec.fullDocument = spec.fullDocument || 'default';
    spec.fullDocumentBeforeChange = spec.fullDocumentBeforeChange || 'off';
    return spec;
  }

  register(cursor) {
    const cursors = this.commands.cursors;
    let id;
    do {
      id = crypto.randomBytes(8).readBigInt64LE(0);
      if (id < 0n) id = -id;
    } while (id === 0n || cursors.has(id));
    cursors.set(id, cursor);
    cursor.id = id;
    return id;
  }

  // ---- reading the log ----

  // Does entry e belong to this stream (the oplog filter, change_stream_filter_helpers.cpp)?
  // A collection stream sees its collection's writes and drop; a database stream also
  // sees dropDatabase; a cluster stream sees every database but admin, config and local.
  concerns(stream, e) {
    if (stream.type === 'collection') return e.db === stream.db && e.coll === stream.coll && e.op !== 'dropDatabase';
    if (stream.type === 'database') return e.db === stream.db;
    return !INTERNAL_DBS.has(e.db);
  }

  // Whether entry e ends the stream (document_source_change_stream_check_invalidate.cpp):
  // a collection stream at the drop of its collection, a database stream at dropDatabase.
  invalidates(stream, e) {
    return (stream.type === 'collection' && e.op === 'drop') || (stream.type === 'database' && e.op === 'dropDatabase');
  }

  eventToken(e, fromInvalidate = false) {
    return makeToken({ ts: e.ts, event: true, fromInvalidate, uuid: e.op === 'dropDatabase' ? null : e.uuid });
  }

  // The change event for entry e, in 7.0's field order.
  toEvent(stream, e) {
    const ev = { _id: this.eventToken(e), operationType: e.op, clusterTime: tsOf(e.ts), wallTime: e.wall };
    const spec = stream.spec;
    if (e.op === 'insert' || e.op === 'replace') ev.fullDocument = V.deepClone(e.fullDocument);
    if (e.op === 'update' && spec.fullDocument !== 'default') {
      if (spec.fullDocument === 'updateLookup') {
        // DocumentSourceChangeStreamAddPostImage::lookupLatestPostImage: the document as it
        // is now, in the same collection (by UUID), or null.
        const coll = this.commands.store.coll(e.db, e.coll, false);
        const doc = coll && sameUuid(coll.uuid, e.uuid) ? coll.findById(e.documentKey._id) : null;
        ev.fullDocument = doc ? V.deepClone(doc) : null;
      } else if (spec.fullDocument === 'required') {
        // No collection here records post-images (changeStreamPreAndPostImages is refused).
        throw new MongoError(47, `Change stream was configured to require a post-image for all update events, but the post-image was not found for event: ${V.show({ _id: ev._id })}`);
      } else {
        ev.fullDocument = null;
      }
    }
    ev.ns = e.op === 'dropDatabase' ? { db: e.db } : { db: e.db, coll: e.coll };
    if (e.documentKey) ev.documentKey = V.deepClone(e.documentKey);
    if (e.op === 'update') ev.updateDescription = V.deepClone(e.updateDescription);
    if (spec.fullDocumentBeforeChange !== 'off' && ['update', 'replace', 'delete'].includes(e.op)) {
      // DocumentSourceChangeStreamAddPreImage: no pre-images are ever recorded here.
      if (spec.fullDocumentBeforeChange === 'required') {
        throw new MongoError(47, `Change stream was configured to require a pre-image for all update, delete and replace events, but the pre-image was not found for event: ${V.show({ _id: ev._id })}`);
      }
      ev.fullDocumentBeforeChange = null;
    }
    return ev;
  }

  invalidateEvent(e) {
    return { _id: this.eventToken(e, true), operationType: 'invalidate', clusterTime: tsOf(e.ts), wallTime: e.wall };
  }

  // Reads up to limit events (after the user's stages) for cursor and advances it; the
  // stream's postBatchResumeToken (pbrt) follows what it has read.
  next(cursor, limit, ctx) {
    const s = cursor.stream;
    const out = [];
    let size = 0;
    const push = (ev, ts) => {
      const token = ev._id;
      let docs = [ev];
      if (s.plan) docs = s.plan.run(docs, { now: ctx.now, vars: s.vars });
      for (const d of docs) {
        // The resume token must survive the user's stages (change_stream_error_label
        // jstest: a $project of _id fails with ChangeStreamFatalError 280).
        if (!V.isPlainObject(d._id) || !same(d._id, token)) {
          throw new MongoError(280, 'Encountered an event whose _id field, which contains the resume token, was modified by the pipeline. Modifying the _id field of an event makes it impossible to resume the stream from that point. Only transformations that retain the unmodified _id field are allowed.', { errorLabels: ['NonResumableChangeStreamError'] });
        }
        size += BSON.calculateObjectSize(d);
        if (size > MAX_BSON) throw new MongoError(10334, `a change stream batch would exceed ${MAX_BSON} bytes`);
        out.push(d);
      }
      // PlanExecutorPipeline: the token of the last event returned; one the user's stages
      // filtered out moves it only through the high-water mark below.
      if (docs.length) s.pbrt = { ts, token };
    };
    const invalidate = () => {
      push(this.invalidateEvent(s.invalidatePending), s.invalidatePending.ts);
      s.invalidatePending = null;
      s.done = true;
    };
    if (s.done || limit <= 0) return out;
    if (s.invalidatePending) {
      invalidate();
      return out;
    }
    let i = this.firstIndexAtOrAfter(s.nextTs);
    for (; i < this.log.length && out.length < limit; i++) {
      const e = this.log[i];
      s.nextTs = e.ts + 1n;
      if (!this.concerns(s, e)) continue;
      if (s.after) {
        // Resuming after an event: its own entry is skipped (an invalidate it caused comes
        // next); any other event of this stream first means the token is not in this
        // stream's history (DocumentSourceChangeStreamEnsureResumeTokenPresent).
        const a = s.after;
        s.after = null;
        if (e.ts === a.ts && same(this.eventToken(e), a.doc)) {
          if (this.invalidates(s, e)) s.invalidatePending = e;
          if (s.invalidatePending) break;
          continue;
        }
        throw new MongoError(280, `cannot resume stream; the resume token was not found. ${V.show(a.doc)}`, { errorLabels: ['NonResumableChangeStreamError'] });
      }
      push(this.toEvent(s, e), e.ts);
      if (this.invalidates(s, e)) {
        s.invalidatePending = e;
        break;
      }
    }
    if (s.invalidatePending) {
      if (out.length < limit) invalidate();
      return out;
    }
    // Read to the end of the log: the position is the latest write (a high-water mark)
    // when that is past the last event returned (PlanExecutorPipeline's latest oplog time).
    if (i >= this.log.length && !s.after) {
      const latest = this.latestTs();
      if (latest > s.pbrt.ts) s.pbrt = { ts: latest, token: makeToken({ ts: latest, event: false }) };
    }
    return out;
  }

  firstIndexAtOrAfter(ts) {
    let lo = 0, hi = this.log.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.log[mid].ts < ts) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  // ---- getMore / killCursors ----

  // getMore on a change stream cursor c (commands.js has checked namespace and session).
  // Returns a reply, or a Promise of one when it has to wait for a write.
  getMore(c, id, body, ctx) {
    const limit = body.batchSize !== undefined && V.toDouble(body.batchSize) > 0 ? V.toDouble(body.batchSize) : Infinity;
    const awaitMs = body.maxTimeMS !== undefined ? V.toDouble(body.maxTimeMS) : DEFAULT_AWAIT_MS;
    const reply = () => {
      let batch;
      try {
        batch = this.next(c, limit, { now: new Date() });
      } catch (e) {
        this.commands.cursors.delete(id); // a failed getMore kills the cursor
        throw e;
      }
      if (c.stream.done) this.commands.cursors.delete(id);
      return { cursor: { nextBatch: batch, postBatchResumeToken: c.stream.pbrt.token, id: V.mkLong(c.stream.done ? 0n : id), ns: c.ns }, ok: V.mkDouble(1) };
    };
    // getmore_cmd.cpp: one getMore at a time per cursor (CursorInUse).
    if (c.waiting) throw new MongoError(143, `cursor id ${id} is already in use`);
    const first = reply();
    if (first.cursor.nextBatch.length > 0 || c.stream.done || awaitMs <= 0) return first;
    // Nothing yet: wait for a write this stream reports, or the end of the await time.
    return new Promise((resolve, reject) => {
      const deadline = Date.now() + awaitMs;
      const gone = () => this.commands.cursors.get(id) !== c;
      const finish = (fn) => {
        clearTimeout(timer);
        this.waiters.delete(onWrite);
        c.waiting = false;
        c.wake = null;
        try { resolve(fn()); } catch (e) { reject(e); }
      };
      const killedError = () => { throw new MongoError(237, `cursor id ${id} was killed while a getMore waited on it`); };
      const onWrite = () => {
        if (gone()) return finish(killedError);
        let r;
        try { r = reply(); } catch (e) { return finish(() => { throw e; }); }
        if (r.cursor.nextBatch.length > 0 || c.stream.done || Date.now() >= deadline) return finish(() => r);
        this.waiters.add(onWrite); // a write this stream does not report: keep waiting
        return undefined;
      };
      const timer = setTimeout(() => finish(gone() ? killedError : reply), awaitMs);
      c.waiting = true;
      c.wake = onWrite;
      this.waiters.add(onWrite);
    });
  }

  // killCursors removed cursor c: a getMore waiting on it ends now.
  killed(c) {
    if (c.wake) c.wake();
  }
}

module.exports = { ChangeStreams, parseToken, makeToken };
