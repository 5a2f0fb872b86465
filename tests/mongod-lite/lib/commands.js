'use strict';
// Command handlers. Each runs synchronously to completion, so every command is atomic
// and sees one $$NOW (MONGODB-RULES 6). Replies and errors follow MongoDB 7.0's shapes.
const V = require('./values');
const { matches, usesExpr } = require('./query');
const update = require('./update');
const pipeline = require('./pipeline');
const { MongoError } = require('./errors');
const { MAX_BSON } = require('./store');
const { BSON } = require('bson');

const MAX_WIRE_VERSION = 21; // MongoDB 7.0
const MAX_MESSAGE = 48000000;
const MAX_BATCH = 100000;

// Arguments every command accepts (src/mongo/idl/generic_argument.idl).
const GENERIC = new Set(['$db', 'lsid', 'txnNumber', 'autocommit', 'startTransaction', 'stmtId', '$clusterTime',
  '$readPreference', 'readConcern', 'writeConcern', 'maxTimeMS', 'comment', '$audit', '$client', 'apiVersion',
  'apiStrict', 'apiDeprecationErrors', '$configServerState', 'allowImplicitCollectionCreation', 'clientOperationKey',
  'mayBypassWriteBlocking', '$queryOptions', 'databaseVersion', 'shardVersion', '$configTime', '$topologyTime']);

function typeErr(cmd, field, v, want) {
  return new MongoError(14, `BSON field '${cmd}.${field}' is the wrong type '${V.btype(v)}', expected type '${want}'`);
}

// IDL-style validation: unknown fields are refused (40415), known ones type-checked.
function check(body, cmd, fields) {
  for (const [k, v] of Object.entries(body)) {
    if (k === Object.keys(body)[0] || GENERIC.has(k)) continue;
    const want = fields[k];
    if (!want) throw new MongoError(40415, `BSON field '${cmd}.${k}' is an unknown field.`);
    if (want === 'any') continue;
    const t = V.btype(v);
    const ok = (want === 'object' && V.isPlainObject(v)) || (want === 'array' && t === 'array') ||
      (want === 'string' && t === 'string') || (want === 'bool' && (t === 'bool' || V.isNumber(v))) ||
      (want === 'number' && V.isNumber(v)) || (want === 'objectOrArray' && (V.isPlainObject(v) || t === 'array'));
    if (!ok) throw typeErr(cmd, k, v, want === 'bool' ? 'bool' : want === 'number' ? 'long' : want);
  }
}

function collName(body, cmd) {
  const n = body[Object.keys(body)[0]];
  if (typeof n !== 'string') {
    throw new MongoError(73, `collection name has invalid type ${V.btype(n)}`);
  }
  void cmd;
  return n;
}

function checkWriteConcern(body) {
  const wc = body.writeConcern;
  if (wc === undefined) return;
  if (!V.isPlainObject(wc)) throw typeErr('writeConcern', 'writeConcern', wc, 'object');
  for (const k of Object.keys(wc)) {
    if (!['w', 'j', 'wtimeout', 'fsync', 'provenance'].includes(k)) throw new MongoError(40415, `BSON field 'WriteConcernOptions.${k}' is an unknown field.`);
  }
  if (wc.w !== undefined) {
    if (V.isNumber(wc.w)) {
      const w = V.toDouble(wc.w);
      if (w < 0) throw new MongoError(9, 'w cannot be a negative value');
      if (w > 1) throw new MongoError(2, "cannot use 'w' > 1 on a standalone");
    } else if (typeof wc.w !== 'string' && !V.isPlainObject(wc.w)) {
      throw new MongoError(14, "w has to be a number, string, or object");
    } else if (typeof wc.w === 'string' && wc.w !== 'majority') {
      throw new MongoError(79, `Unrecognized write concern mode: ${wc.w}`);
    }
  }
}

function nonNeg(cmd, field, v) {
  if (v === undefined) return undefined;
  const n = V.toDouble(v);
  if (!Number.isInteger(n)) throw typeErr(cmd, field, v, 'long');
  if (n < 0) throw new MongoError(51024, `BSON field '${field}' value must be >= 0, actual value '${n}'`);
  return n;
}

class Commands {
  constructor(store, opts) {
    this.store = store;
    this.cursors = new Map();
    this.nextCursor = 1n;
    this.opts = opts;
    this.startTime = Date.now();
  }

  // Runs body (an OP_MSG command document) and returns the reply document.
  run(body, conn) {
    const names = Object.keys(body);
    if (names.length === 0) throw new MongoError(59, 'no such command: \'\'');
    const name = names[0];
    const handler = HANDLERS[name] || HANDLERS[name.toLowerCase() === 'findandmodify' ? 'findAndModify' : ''];
    if (!handler) throw new MongoError(59, `no such command: '${name}'`);
    const db = body.$db;
    if (db === undefined) throw new MongoError(40571, 'OP_MSG requests require a $db argument');
    if (typeof db !== 'string') throw typeErr(name, '$db', db, 'string');
    const ctx = { now: new Date(), db, conn, name };
    return handler.call(this, body, ctx);
  }

  hello(body, ctx, legacy) {
    const reply = {};
    if (legacy) reply.ismaster = true;
    else { reply.helloOk = true; reply.isWritablePrimary = true; }
    Object.assign(reply, {
      maxBsonObjectSize: V.mkInt(MAX_BSON),
      maxMessageSizeBytes: V.mkInt(MAX_MESSAGE),
      maxWriteBatchSize: V.mkInt(MAX_BATCH),
      localTime: new Date(),
      logicalSessionTimeoutMinutes: V.mkInt(30),
      connectionId: V.mkInt(ctx.conn ? ctx.conn.id : 0),
      minWireVersion: V.mkInt(0),
      maxWireVersion: V.mkInt(MAX_WIRE_VERSION),
      readOnly: false,
      ok: V.mkDouble(1),
    });
    // saslSupportedMechs names the mechanisms of an existing user; there are none.
    return reply;
  }

  cursorReply(ns, docs, batchSize, key = 'firstBatch', singleBatch = false) {
    const batch = [];
    let size = 0;
    let i = 0;
    const limit = batchSize === undefined ? (key === 'firstBatch' ? 101 : Infinity) : batchSize;
    while (i < docs.length && batch.length < limit) {
      const { BSON } = require('bson');
      const s = BSON.calculateObjectSize(docs[i]);
      if (batch.length > 0 && size + s > MAX_BSON) break;
      size += s;
      batch.push(docs[i++]);
    }
    let id = 0n;
    if (i < docs.length && !singleBatch) {
      id = this.nextCursor++;
      this.cursors.set(id, { ns, docs: docs.slice(i) });
    }
    return { cursor: { [key]: batch, id: V.mkLong(id), ns }, ok: V.mkDouble(1) };
  }

  collection(ctx, name, create) {
    return this.store.coll(ctx.db, name, create);
  }

  // One update statement {q, u, upsert, multi}. Returns {n, nModified, upserted?}.
  updateOne(coll, ctx, stmt) {
    const { q, u } = stmt;
    const upsert = V.truthy(stmt.upsert);
    const multi = V.truthy(stmt.multi);
    const kind = update.kind(u);
    if (multi && kind === 'replacement') throw new MongoError(9, 'multi update is not supported for replacement-style update');
    if (upsert && usesExpr(q)) {
      // src/mongo/db/ops/parsed_update.cpp: an upsert's query may not use $expr.
      throw new MongoError(224, '$expr is not allowed in the query predicate for an upsert');
    }
    const opts = { now: ctx.now, vars: stmt.let };
    const found = coll ? coll.find(q, { now: ctx.now }) : [];
    const targets = multi ? found : found.slice(0, 1);
    if (targets.length === 0) {
      if (!upsert) return { n: 0, nModified: 0 };
      return this.upsertInsert(ctx, coll || this.collection(ctx, stmt.collName, true), q, u, opts);
    }
    let modified = 0;
    for (const doc of targets) {
      const next = update.apply(doc, u, opts);
      if (!BSON.serialize(next).equals(BSON.serialize(doc))) {
        coll.replaceDoc(doc, next);
        modified++;
      }
    }
    return { n: targets.length, nModified: modified, docs: targets };
  }

  upsertInsert(ctx, coll, q, u, opts) {
    const seed = update.seed(q);
    let doc = update.apply(seed, u, { ...opts, isInsert: true });
    if (doc._id === undefined) doc = update.idFirst({ _id: new V.ObjectId(), ...doc });
    validateStored(doc);
    coll.insertDoc(doc);
    return { n: 1, nModified: 0, upserted: doc._id, doc };
  }
}

// A document about to be stored: _id may not be an array or regex; no top-level $ names.
function validateStored(doc) {
  const t = V.btype(doc._id);
  if (t === 'array') throw new MongoError(53, `The '_id' value cannot be of type array`);
  if (t === 'regex') throw new MongoError(2, "can't use a regex for _id");
  for (const k of Object.keys(doc)) {
    if (k.startsWith('$')) throw new MongoError(52, `Document can't have $ prefixed field names: ${k}`);
  }
}

function writeReply(n, errors, extra = {}) {
  const r = { n: V.mkInt(n), ...extra };
  if (errors.length) r.writeErrors = errors;
  r.ok = V.mkDouble(1);
  return r;
}

const HANDLERS = {
  hello(body, ctx) { return this.hello(body, ctx, false); },
  isMaster(body, ctx) { return this.hello(body, ctx, true); },
  ismaster(body, ctx) { return this.hello(body, ctx, true); },
  ping() { return { ok: V.mkDouble(1) }; },
  buildInfo() {
    return {
      version: '7.0.0', gitVersion: 'mongod-lite', versionArray: [V.mkInt(7), V.mkInt(0), V.mkInt(0), V.mkInt(0)],
      bits: V.mkInt(64), maxBsonObjectSize: V.mkInt(MAX_BSON), storageEngines: ['mongod-lite'], ok: V.mkDouble(1),
    };
  },
  buildinfo(body, ctx) { return HANDLERS.buildInfo.call(this, body, ctx); },
  endSessions() { return { ok: V.mkDouble(1) }; },
  saslStart() { throw new MongoError(18, 'Authentication failed.'); },
  saslContinue() { throw new MongoError(18, 'Authentication failed.'); },
  authenticate() { throw new MongoError(18, 'Authentication failed.'); },

  setParameter(body, ctx) {
    if (ctx.db !== 'admin') throw new MongoError(13, 'setParameter may only be run against the admin database.');
    const was = {};
    let any = false;
    for (const [k, v] of Object.entries(body)) {
      if (k === 'setParameter' || GENERIC.has(k)) continue;
      if (k !== 'ttlMonitorSleepSecs') throw new MongoError(2, `Unknown server parameter: ${k} (this test server knows only ttlMonitorSleepSecs)`);
      if (!V.isNumber(v) || V.toDouble(v) < 1) throw new MongoError(2, 'ttlMonitorSleepSecs must be a positive number');
      was.was = V.mkInt(this.store.ttlSecs);
      this.opts.setTtlSecs(V.toDouble(v));
      any = true;
    }
    if (!any) throw new MongoError(2, 'no option found to set, use help:true to see options ');
    return { ...was, ok: V.mkDouble(1) };
  },
  getParameter(body, ctx) {
    if (ctx.db !== 'admin') throw new MongoError(13, 'getParameter may only be run against the admin database.');
    return { ttlMonitorSleepSecs: V.mkInt(this.store.ttlSecs), ok: V.mkDouble(1) };
  },

  insert(body, ctx) {
    check(body, 'insert', { documents: 'array', ordered: 'bool', bypassDocumentValidation: 'bool', let: 'object' });
    checkWriteConcern(body);
    const name = collName(body, 'insert');
    const docs = body.documents;
    if (docs === undefined) throw new MongoError(40414, "BSON field 'insert.documents' is missing but a required field");
    if (docs.length > MAX_BATCH) throw new MongoError(10334, `Write batch sizes must be between 1 and ${MAX_BATCH}. Got ${docs.length} operations.`);
    const ordered = body.ordered === undefined || V.truthy(body.ordered);
    const coll = this.collection(ctx, name, true);
    let n = 0;
    const errors = [];
    docs.forEach((raw, i) => {
      if (ordered && errors.length) return;
      try {
        if (!V.isPlainObject(raw)) throw typeErr('insert', 'documents', raw, 'object');
        const doc = raw._id === undefined ? update.idFirst({ _id: new V.ObjectId(), ...raw }) : update.idFirst(raw);
        validateStored(doc);
        coll.insertDoc(doc);
        n++;
      } catch (e) {
        if (!(e instanceof MongoError)) throw e;
        errors.push(e.toWriteError(V.mkInt(i)));
      }
    });
    return writeReply(n, errors);
  },

  update(body, ctx) {
    check(body, 'update', { updates: 'array', ordered: 'bool', bypassDocumentValidation: 'bool', let: 'object' });
    checkWriteConcern(body);
    const name = collName(body, 'update');
    if (body.updates === undefined) throw new MongoError(40414, "BSON field 'update.updates' is missing but a required field");
    const ordered = body.ordered === undefined || V.truthy(body.ordered);
    const coll = this.collection(ctx, name, false);
    let n = 0, nModified = 0;
    const upserted = [];
    const errors = [];
    body.updates.forEach((stmt, i) => {
      if (ordered && errors.length) return;
      try {
        if (!V.isPlainObject(stmt)) throw typeErr('update', 'updates', stmt, 'object');
        check({ s: 0, ...stmt }, 'UpdateOpEntry', { q: 'object', u: 'objectOrArray', upsert: 'bool', multi: 'bool', arrayFilters: 'array', hint: 'any', collation: 'object', c: 'object', upsertSupplied: 'bool', sampleId: 'any' });
        if (stmt.q === undefined) throw new MongoError(40414, "BSON field 'UpdateOpEntry.q' is missing but a required field");
        if (stmt.u === undefined) throw new MongoError(40414, "BSON field 'UpdateOpEntry.u' is missing but a required field");
        if (stmt.arrayFilters !== undefined) throw new MongoError(2, 'arrayFilters are not supported by this test server');
        const r = this.updateOne(coll || this.collection(ctx, name, false), ctx, { ...stmt, collName: name, let: body.let });
        n += r.n;
        nModified += r.nModified;
        if (r.upserted !== undefined) upserted.push({ index: V.mkInt(i), _id: r.upserted });
      } catch (e) {
        if (!(e instanceof MongoError)) throw e;
        errors.push(e.toWriteError(V.mkInt(i)));
      }
    });
    const extra = { nModified: V.mkInt(nModified) };
    if (upserted.length) extra.upserted = upserted;
    return writeReply(n, errors, extra);
  },

  delete(body, ctx) {
    check(body, 'delete', { deletes: 'array', ordered: 'bool', let: 'object' });
    checkWriteConcern(body);
    const name = collName(body, 'delete');
    if (body.deletes === undefined) throw new MongoError(40414, "BSON field 'delete.deletes' is missing but a required field");
    const ordered = body.ordered === undefined || V.truthy(body.ordered);
    const coll = this.collection(ctx, name, false);
    let n = 0;
    const errors = [];
    body.deletes.forEach((stmt, i) => {
      if (ordered && errors.length) return;
      try {
        if (!V.isPlainObject(stmt)) throw typeErr('delete', 'deletes', stmt, 'object');
        check({ s: 0, ...stmt }, 'DeleteOpEntry', { q: 'object', limit: 'number', hint: 'any', collation: 'object', sampleId: 'any' });
        if (stmt.q === undefined) throw new MongoError(40414, "BSON field 'DeleteOpEntry.q' is missing but a required field");
        if (stmt.limit === undefined) throw new MongoError(40414, "BSON field 'DeleteOpEntry.limit' is missing but a required field");
        const limit = V.toDouble(stmt.limit);
        if (limit !== 0 && limit !== 1) throw new MongoError(9, `The limit field in delete objects must be 0 or 1. Got ${limit}`);
        if (!coll) return;
        const found = coll.find(stmt.q, { now: ctx.now });
        const victims = limit === 1 ? found.slice(0, 1) : found;
        for (const d of victims) coll.removeDoc(d);
        n += victims.length;
      } catch (e) {
        if (!(e instanceof MongoError)) throw e;
        errors.push(e.toWriteError(V.mkInt(i)));
      }
    });
    return writeReply(n, errors);
  },

  findAndModify(body, ctx) {
    const cmdName = Object.keys(body)[0];
    check(body, cmdName, { query: 'object', sort: 'object', remove: 'bool', update: 'objectOrArray', new: 'bool',
      fields: 'object', upsert: 'bool', bypassDocumentValidation: 'bool', collation: 'object', arrayFilters: 'array',
      hint: 'any', let: 'object' });
    checkWriteConcern(body);
    const name = collName(body, cmdName);
    const remove = V.truthy(body.remove);
    const upsert = V.truthy(body.upsert);
    const returnNew = V.truthy(body.new);
    if (remove && body.update !== undefined) throw new MongoError(9, 'Cannot specify both an update and remove=true');
    if (!remove && body.update === undefined) throw new MongoError(9, 'Either an update or remove=true must be specified');
    if (remove && upsert) throw new MongoError(9, 'Cannot specify both upsert=true and remove=true ');
    if (remove && returnNew) throw new MongoError(9, 'Cannot specify both new=true and remove=true; \'remove\' always returns the deleted document');
    if (body.arrayFilters !== undefined) throw new MongoError(2, 'arrayFilters are not supported by this test server');
    const q = body.query || {};
    if (upsert && usesExpr(q)) throw new MongoError(224, '$expr is not allowed in the query predicate for an upsert');
    if (!remove) update.kind(body.update);
    const coll = this.collection(ctx, name, false);
    let found = coll ? coll.find(q, { now: ctx.now }) : [];
    if (body.sort && Object.keys(body.sort).length) found = pipeline.sortDocs(found, body.sort);
    const target = found[0];
    const shape = (doc) => {
      if (doc === undefined || doc === null) return null;
      return body.fields && Object.keys(body.fields).length ? pipeline.project([doc], body.fields, { now: ctx.now }, 'projection')[0] : doc;
    };
    if (remove) {
      if (target) coll.removeDoc(target);
      return { lastErrorObject: { n: V.mkInt(target ? 1 : 0) }, value: shape(target), ok: V.mkDouble(1) };
    }
    const opts = { now: ctx.now, vars: body.let };
    if (!target) {
      if (!upsert) return { lastErrorObject: { n: V.mkInt(0), updatedExisting: false }, value: null, ok: V.mkDouble(1) };
      const r = this.upsertInsert(ctx, coll || this.collection(ctx, name, true), q, body.update, opts);
      return {
        lastErrorObject: { n: V.mkInt(1), updatedExisting: false, upserted: r.upserted },
        value: returnNew ? shape(r.doc) : null,
        ok: V.mkDouble(1),
      };
    }
    const next = update.apply(target, body.update, opts);
    coll.replaceDoc(target, next);
    return {
      lastErrorObject: { n: V.mkInt(1), updatedExisting: true },
      value: shape(returnNew ? next : target),
      ok: V.mkDouble(1),
    };
  },

  find(body, ctx) {
    check(body, 'find', { filter: 'object', sort: 'object', projection: 'object', hint: 'any', skip: 'number',
      limit: 'number', batchSize: 'number', singleBatch: 'bool', max: 'object', min: 'object', returnKey: 'bool',
      showRecordId: 'bool', tailable: 'bool', oplogReplay: 'bool', noCursorTimeout: 'bool', awaitData: 'bool',
      allowPartialResults: 'bool', collation: 'object', allowDiskUse: 'bool', let: 'object', readOnce: 'bool' });
    const name = collName(body, 'find');
    const skip = nonNeg('find', 'skip', body.skip) || 0;
    const limit = nonNeg('find', 'limit', body.limit) || 0;
    const batchSize = nonNeg('find', 'batchSize', body.batchSize);
    const coll = this.collection(ctx, name, false);
    let docs = coll ? coll.find(body.filter || {}, { now: ctx.now }) : [];
    if (body.sort && Object.keys(body.sort).length) docs = pipeline.sortDocs(docs, body.sort);
    docs = docs.slice(skip, limit ? skip + limit : undefined);
    if (body.projection && Object.keys(body.projection).length) docs = pipeline.project(docs, body.projection, { now: ctx.now }, 'projection');
    return this.cursorReply(`${ctx.db}.${name}`, docs, batchSize === undefined ? undefined : (limit && batchSize === 0 ? 0 : batchSize), 'firstBatch', V.truthy(body.singleBatch));
  },

  getMore(body, ctx) {
    check(body, 'getMore', { collection: 'string', batchSize: 'number', maxTimeMS: 'number', term: 'any', lastKnownCommittedOpTime: 'any' });
    if (V.btype(body.getMore) !== 'long') throw typeErr('getMore', 'getMore', body.getMore, 'long');
    if (body.collection === undefined) throw new MongoError(40414, "BSON field 'getMore.collection' is missing but a required field");
    const id = V.toBig(body.getMore);
    const c = this.cursors.get(id);
    const ns = `${ctx.db}.${body.collection}`;
    if (!c) throw new MongoError(43, `cursor id ${id} not found`);
    if (c.ns !== ns) throw new MongoError(13, `Requested getMore on namespace '${ns}', but cursor belongs to a different namespace ${c.ns}`);
    this.cursors.delete(id);
    const batchSize = nonNeg('getMore', 'batchSize', body.batchSize);
    const r = this.cursorReply(ns, c.docs, batchSize || undefined, 'nextBatch');
    if (V.toBig(r.cursor.id) !== 0n) {
      // Keep the client's cursor id: move the rest back under the original id.
      const rest = this.cursors.get(V.toBig(r.cursor.id));
      this.cursors.delete(V.toBig(r.cursor.id));
      this.cursors.set(id, rest);
      r.cursor.id = V.mkLong(id);
    }
    return r;
  },

  killCursors(body) {
    check(body, 'killCursors', { cursors: 'array' });
    const killed = [], notFound = [];
    for (const c of body.cursors || []) {
      const id = V.toBig(c);
      (this.cursors.delete(id) ? killed : notFound).push(V.mkLong(id));
    }
    return { cursorsKilled: killed, cursorsNotFound: notFound, cursorsAlive: [], cursorsUnknown: [], ok: V.mkDouble(1) };
  },

  aggregate(body, ctx) {
    check(body, 'aggregate', { pipeline: 'array', explain: 'bool', allowDiskUse: 'bool', cursor: 'object',
      bypassDocumentValidation: 'bool', collation: 'object', hint: 'any', let: 'object' });
    if (body.pipeline === undefined) throw new MongoError(40414, "BSON field 'aggregate.pipeline' is missing but a required field");
    if (body.cursor === undefined && !V.truthy(body.explain)) {
      throw new MongoError(9, "The 'cursor' option is required, except for aggregate with the explain argument");
    }
    const target = body.aggregate;
    if (target !== V.mkInt(1) && typeof target !== 'string' && !(V.isNumber(target) && V.toDouble(target) === 1)) {
      throw new MongoError(73, `Invalid aggregate namespace: ${V.show(target)}`);
    }
    const first = body.pipeline[0];
    if (first && V.isPlainObject(first) && '$changeStream' in first) {
      // Refused before the namespace matters, for collection, database and cluster streams.
      throw new MongoError(40573, 'The $changeStream stage is only supported on replica sets');
    }
    if (typeof target !== 'string') throw new MongoError(2, 'collection-less aggregate is not supported by this test server');
    const coll = this.collection(ctx, target, false);
    const docs = pipeline.run(coll ? coll.docs.slice() : [], body.pipeline, { now: ctx.now, vars: body.let });
    const batchSize = body.cursor ? nonNeg('aggregate', 'cursor.batchSize', body.cursor.batchSize) : undefined;
    return this.cursorReply(`${ctx.db}.${target}`, docs, batchSize);
  },

  count(body, ctx) {
    check(body, 'count', { query: 'object', limit: 'number', skip: 'number', hint: 'any', collation: 'object', fields: 'any' });
    const coll = this.collection(ctx, collName(body, 'count'), false);
    let n = coll ? coll.find(body.query || {}, { now: ctx.now }).length : 0;
    const skip = body.skip ? V.toDouble(body.skip) : 0;
    const limit = body.limit ? Math.abs(V.toDouble(body.limit)) : 0;
    n = Math.max(0, n - skip);
    if (limit) n = Math.min(n, limit);
    return { n: V.mkInt(n), ok: V.mkDouble(1) };
  },

  distinct(body, ctx) {
    check(body, 'distinct', { key: 'string', query: 'object', collation: 'object', hint: 'any' });
    const coll = this.collection(ctx, collName(body, 'distinct'), false);
    const values = [];
    for (const d of coll ? coll.find(body.query || {}, { now: ctx.now }) : []) {
      const v = require('./paths').get(d, body.key);
      for (const x of Array.isArray(v) ? v : [v]) {
        if (x !== undefined && !values.some((y) => V.equal(x, y))) values.push(x);
      }
    }
    return { values: values.sort(V.compare), ok: V.mkDouble(1) };
  },

  create(body, ctx) {
    check(body, 'create', { capped: 'bool', size: 'number', max: 'number', validator: 'object', validationLevel: 'string',
      validationAction: 'string', collation: 'object', idIndex: 'object', viewOn: 'string', pipeline: 'array',
      timeseries: 'object', expireAfterSeconds: 'number', clusteredIndex: 'any', changeStreamPreAndPostImages: 'object',
      storageEngine: 'object', indexOptionDefaults: 'object', encryptedFields: 'object', autoIndexId: 'bool', flags: 'number' });
    const name = collName(body, 'create');
    for (const k of ['capped', 'validator', 'viewOn', 'timeseries', 'clusteredIndex', 'encryptedFields']) {
      if (body[k] !== undefined && V.truthy(body[k])) throw new MongoError(2, `create option '${k}' is not supported by this test server`);
    }
    if (this.collection(ctx, name, false)) throw new MongoError(48, `Collection ${ctx.db}.${name} already exists.`);
    this.collection(ctx, name, true);
    return { ok: V.mkDouble(1) };
  },

  drop(body, ctx) {
    const name = collName(body, 'drop');
    const coll = this.collection(ctx, name, false);
    if (!coll) return { ok: V.mkDouble(1) }; // 7.0: dropping a missing collection succeeds
    const was = coll.indexes.length;
    this.store.dropCollection(ctx.db, name);
    return { nIndexesWas: V.mkInt(was), ns: `${ctx.db}.${name}`, ok: V.mkDouble(1) };
  },

  dropDatabase(body, ctx) {
    this.store.db(ctx.db, false);
    this.store.dbs.delete(ctx.db);
    return { ok: V.mkDouble(1) };
  },

  listCollections(body, ctx) {
    check(body, 'listCollections', { filter: 'object', nameOnly: 'bool', authorizedCollections: 'bool', cursor: 'object' });
    const db = this.store.db(ctx.db, false);
    let list = db ? [...db.collections.values()].map((c) => ({
      name: c.name, type: 'collection', options: {}, info: { readOnly: false, uuid: c.uuid },
      idIndex: { v: V.mkInt(2), key: { _id: V.mkInt(1) }, name: '_id_' },
    })) : [];
    if (body.filter) list = list.filter((d) => matches(d, body.filter, { now: ctx.now }));
    if (V.truthy(body.nameOnly)) list = list.map((d) => ({ name: d.name, type: d.type }));
    return this.cursorReply(`${ctx.db}.$cmd.listCollections`, list, body.cursor ? nonNeg('listCollections', 'cursor.batchSize', body.cursor.batchSize) : undefined);
  },

  createIndexes(body, ctx) {
    check(body, 'createIndexes', { indexes: 'array', commitQuorum: 'any', ignoreUnknownIndexOptions: 'bool', isTimeseriesNamespace: 'bool' });
    checkWriteConcern(body);
    const name = collName(body, 'createIndexes');
    if (body.indexes === undefined) throw new MongoError(40414, "BSON field 'createIndexes.indexes' is missing but a required field");
    if (body.indexes.length === 0) throw new MongoError(2, 'Must specify at least one index to create');
    const existed = !!this.collection(ctx, name, false);
    const coll = this.collection(ctx, name, true);
    let r;
    try {
      r = this.store.createIndexes(coll, body.indexes);
    } catch (e) {
      if (!existed) this.store.dropCollection(ctx.db, name);
      throw e;
    }
    const reply = { numIndexesBefore: V.mkInt(r.before), numIndexesAfter: V.mkInt(r.after), createdCollectionAutomatically: !existed };
    if (r.created === 0) reply.note = 'all indexes already exist';
    reply.ok = V.mkDouble(1);
    return reply;
  },

  listIndexes(body, ctx) {
    check(body, 'listIndexes', { cursor: 'object', includeBuildUUIDs: 'bool', includeIndexBuildInfo: 'bool' });
    const name = collName(body, 'listIndexes');
    const coll = this.collection(ctx, name, false);
    if (!coll) throw new MongoError(26, `ns does not exist: ${ctx.db}.${name}`);
    return this.cursorReply(`${ctx.db}.${name}`, coll.indexes.map((i) => i.spec), body.cursor ? nonNeg('listIndexes', 'cursor.batchSize', body.cursor.batchSize) : undefined);
  },

  dropIndexes(body, ctx) {
    check(body, 'dropIndexes', { index: 'any' });
    const name = collName(body, 'dropIndexes');
    const coll = this.collection(ctx, name, false);
    if (!coll) throw new MongoError(26, `ns not found ${ctx.db}.${name}`);
    const was = coll.indexes.length;
    const spec = body.index;
    let victims;
    if (spec === '*') victims = coll.indexes.filter((i) => i.name !== '_id_');
    else {
      const names = Array.isArray(spec) ? spec : [spec];
      victims = names.map((n) => {
        const idx = typeof n === 'string' ? coll.indexes.find((i) => i.name === n) : coll.indexes.find((i) => V.isPlainObject(n) && V.equal(i.key, n));
        if (!idx) {
          throw new MongoError(27, typeof n === 'string' ? `index not found with name [${n}]` : `can't find index with key: ${V.show(n)}`);
        }
        if (idx.name === '_id_') throw new MongoError(72, 'cannot drop _id index');
        return idx;
      });
    }
    coll.indexes = coll.indexes.filter((i) => !victims.includes(i));
    return { nIndexesWas: V.mkInt(was), ok: V.mkDouble(1) };
  },
};
HANDLERS.findandmodify = HANDLERS.findAndModify;
HANDLERS.deleteIndexes = HANDLERS.dropIndexes;

// Commands allowed over legacy OP_QUERY (MongoDB 6.0+ refuses the rest with 352).
const OP_QUERY_COMMANDS = new Set(['hello', 'isMaster', 'ismaster']);

module.exports = { Commands, OP_QUERY_COMMANDS, MAX_MESSAGE };
