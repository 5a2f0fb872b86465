// SPDX-License-Identifier: Apache-2.0
'use strict';
// Command handlers. Each runs synchronously to completion, so every command is atomic
// and sees one $$NOW (MONGODB-RULES 6). Replies and errors follow MongoDB 7.0's shapes.
const V = require('./values');
const { matches, usesExpr, compile: compileFilter } = require('./query');
const update = require('./update');
const pipeline = require('./pipeline');
const { compileLet } = require('./expr-compile');
const { checkIdDollarNames } = require('./storage');
const { MongoError } = require('./errors');
const { MAX_BSON } = require('./store');
const { ReplSet } = require('./replset');
const { Sessions } = require('./sessions');
const { FailPoints } = require('./failpoints');
const { Dispatch } = require('./dispatch');
const { BSON } = require('bson');
const { collMod } = require('./collmod');
const { ChangeStreams } = require('./changestream');

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

// Commands that take a writeConcern (their Invocation::supportsWriteConcern() is true);
// any other command given one fails 72 "Command does not support writeConcern"
// (service_entry_point_common.cpp). aggregate is left out: this server has no $out/$merge.
const WRITE_CONCERN_COMMANDS = new Set(['insert', 'update', 'delete', 'findAndModify', 'findandmodify', 'createIndexes',
  'dropIndexes', 'deleteIndexes', 'drop', 'dropDatabase', 'create', 'collMod']);

// Commands of the Stable API, version 1 (apiStrict refuses the others with 323).
const API_V1_COMMANDS = new Set(['abortTransaction', 'aggregate', 'authenticate', 'collMod', 'commitTransaction', 'count',
  'create', 'createIndexes', 'delete', 'drop', 'dropDatabase', 'dropIndexes', 'endSessions', 'explain', 'find',
  'findAndModify', 'getMore', 'hello', 'insert', 'killCursors', 'listCollections', 'listDatabases', 'listIndexes', 'ping',
  'refreshSessions', 'saslContinue', 'saslStart', 'update']);

// Write concern on a standalone (write_concern.cpp validateWriteConcern): w > 1 and
// custom modes fail BadValue (2) "... when a host is not replicated / not a member of a
// replica set"; w: "majority" is fine. On a one-member replica set w > 1 and a custom
// mode are valid but cannot be satisfied: the write happens and the reply carries a
// writeConcernError 100 / 79 (lib/dispatch.js).
function checkWriteConcern(body, name, repl) {
  const wc = body.writeConcern;
  if (wc === undefined) return;
  if (!WRITE_CONCERN_COMMANDS.has(name)) throw new MongoError(72, 'Command does not support writeConcern');
  if (!V.isPlainObject(wc)) throw typeErr(name, 'writeConcern', wc, 'object');
  for (const k of Object.keys(wc)) {
    if (!['w', 'j', 'wtimeout', 'fsync', 'provenance', 'getLastError', 'wOpTime', 'wElectionId'].includes(k)) {
      throw new MongoError(9, `unrecognized write concern field: ${k}`);
    }
  }
  if (wc.j !== undefined && !(V.btype(wc.j) === 'bool' || V.isNumber(wc.j))) throw new MongoError(9, 'j must be numeric or a boolean value');
  if (wc.wtimeout !== undefined && !V.isNumber(wc.wtimeout)) throw new MongoError(9, 'wtimeout must be a number');
  if (wc.w !== undefined) {
    if (V.isNumber(wc.w)) {
      const w = V.toDouble(wc.w);
      if (w < 0 || w > 50 || !Number.isInteger(w)) throw new MongoError(9, `w has to be a non-negative number and not greater than 50; found: ${w}`);
      if (w > 1 && !repl.isReplSet) throw new MongoError(2, "cannot use 'w' > 1 when a host is not replicated");
    } else if (typeof wc.w === 'string') {
      if (wc.w !== 'majority' && !repl.isReplSet) {
        throw new MongoError(2, `cannot use non-majority 'w' mode "${wc.w}" when a host is not a member of a replica set`);
      }
    } else if (V.isPlainObject(wc.w)) {
      throw new MongoError(2, 'cannot use a tag set for \'w\' when a host is not a member of a replica set');
    } else {
      throw new MongoError(14, 'w has to be a number, string, or object');
    }
  }
}

// Arguments every command may carry, checked before it runs. Session arguments (lsid,
// txnNumber, ...) are lib/sessions.js's. repl: the deployment (lib/replset.js).
function checkGeneric(body, name, repl) {
  checkWriteConcern(body, name, repl);
  // readConcern (repl/read_concern_args.cpp): a known level; what needs a replica set
  // (snapshot, linearizable, cluster times) is refused here rather than ignored, and so
  // is a level other than local on a write.
  if (body.readConcern !== undefined) {
    const rc = body.readConcern;
    if (!V.isPlainObject(rc)) throw typeErr(name, 'readConcern', rc, 'object');
    for (const k of Object.keys(rc)) {
      if (!['level', 'afterClusterTime', 'atClusterTime', 'afterOpTime', 'provenance'].includes(k)) {
        throw new MongoError(40415, `BSON field 'ReadConcernArgs.${k}' is an unknown field.`);
      }
    }
    const level = rc.level === undefined ? 'local' : rc.level;
    if (!['local', 'available', 'majority', 'linearizable', 'snapshot'].includes(level)) {
      throw new MongoError(2, `Invalid read concern level: ${V.show(level)}`);
    }
    // On a replica set, afterClusterTime (causally consistent sessions) must not be ahead
    // of the server's cluster time (read_concern_mongod.cpp: 72 InvalidOptions).
    const causal = repl.isReplSet && rc.afterClusterTime !== undefined && V.btype(rc.afterClusterTime) === 'timestamp';
    if (causal && repl.compareTs(rc.afterClusterTime) > 0) {
      throw new MongoError(72, `readConcern afterClusterTime value must not be greater than the current clusterTime. Requested clusterTime: ${rc.afterClusterTime.toString()}; current clusterTime: ${repl.timestamp().toString()}`);
    }
    if (level === 'snapshot' || level === 'linearizable' || (rc.afterClusterTime !== undefined && !causal) || rc.atClusterTime !== undefined || rc.afterOpTime !== undefined) {
      throw new MongoError(2, `readConcern ${V.show(rc)} is not supported by this test server`);
    }
    if (WRITE_CONCERN_COMMANDS.has(name) && level !== 'local') {
      throw new MongoError(72, `Command ${name} does not support ${V.show({ readConcern: rc })}`);
    }
  }
  // maxTimeMS: a non-negative integer within int32 (query/max_time_ms_parser.cpp).
  if (body.maxTimeMS !== undefined) {
    const m = body.maxTimeMS;
    if (!V.isNumber(m)) throw new MongoError(2, `maxTimeMS must be a number`);
    const d = V.toDouble(m);
    if (!Number.isInteger(d)) throw new MongoError(2, `maxTimeMS has non-integral value`);
    if (d < 0 || d > V.INT32_MAX) throw new MongoError(2, `${d} value for maxTimeMS is out of range [0, ${V.INT32_MAX}]`);
  }
  // The Stable API (api_parameters.cpp): only version "1" exists.
  if (body.apiVersion !== undefined) {
    if (typeof body.apiVersion !== 'string') throw typeErr(name, 'apiVersion', body.apiVersion, 'string');
    if (body.apiVersion !== '1') throw new MongoError(322, `API version must be "1"`);
    if (body.apiStrict === true && !API_V1_COMMANDS.has(name)) {
      throw new MongoError(323, `Provided apiStrict:true, but the command ${name} is not in API Version 1`);
    }
  } else if (body.apiStrict !== undefined || body.apiDeprecationErrors !== undefined) {
    throw new MongoError(322, `Provided ${body.apiStrict !== undefined ? 'apiStrict' : 'apiDeprecationErrors'} without apiVersion`);
  }
}

// Collations change how strings compare; this server compares simply, so only the simple
// collation is accepted.
function checkCollation(c, where) {
  if (c === undefined) return;
  if (!V.isPlainObject(c)) throw typeErr(where, 'collation', c, 'object');
  if (Object.keys(c).length === 1 && c.locale === 'simple') return;
  throw new MongoError(2, `${where}: collations other than {locale: "simple"} are not supported by this test server`);
}

// A hint names an index by name or key pattern; one that does not exist fails BadValue
// "hint provided does not correspond to an existing index" (query_planner.cpp). Returns
// the index (null for {$natural: ...}). A sparse or partial index would change the
// results (mongod then returns only the documents in the index), which this server does
// not model, so such hints are refused.
function resolveHint(coll, hint, where) {
  if (hint === undefined) return null;
  const t = V.btype(hint);
  if (t !== 'string' && !V.isPlainObject(hint)) throw typeErr(where, 'hint', hint, 'object');
  if (V.isPlainObject(hint) && Object.keys(hint).length === 0) return null; // {} means no hint
  if (V.isPlainObject(hint) && '$natural' in hint) return null;
  const idx = coll ? coll.indexes.find((i) => (t === 'string' ? i.name === hint : V.equal(i.key, hint))) : null;
  if (!idx) throw new MongoError(2, 'error processing query: planner returned error :: caused by :: hint provided does not correspond to an existing index');
  if (idx.sparse || idx.partial) throw new MongoError(2, `${where}: a hint of a sparse or partial index is not supported by this test server`);
  return idx;
}

// Documents in the order an index scan on idx returns them (used for a hint without a sort).
function hintOrder(docs, idx) {
  return idx ? pipeline.sortDocs(docs, idx.key) : docs;
}

function nonNeg(cmd, field, v) {
  if (v === undefined) return undefined;
  const n = V.toDouble(v);
  if (!Number.isInteger(n)) throw typeErr(cmd, field, v, 'long');
  if (n < 0) throw new MongoError(51024, `BSON field '${field}' value must be >= 0, actual value '${n}'`);
  return n;
}

class Commands {
  // opts: setTtlSecs(secs); replSetName (a set name, or null for a standalone);
  // testCommands (configureFailPoint exists, as with enableTestCommands=1).
  constructor(store, opts) {
    this.store = store;
    this.cursors = new Map();
    this.nextCursor = 1n;
    this.opts = opts;
    this.startTime = Date.now();
    this.repl = new ReplSet(opts.replSetName || null);
    this.sessions = new Sessions(this.repl);
    this.failpoints = opts.testCommands ? new FailPoints() : null;
    this.dispatch = new Dispatch(this, this.repl, this.sessions, this.failpoints);
    this.changeStreams = new ChangeStreams(this); // records writes only on a replica set (repl.isReplSet)
  }

  // Runs body (an OP_MSG command document) on the connection conn and returns the reply
  // document, or a Promise of it when the command waits (lib/dispatch.js).
  run(body, conn) {
    return this.dispatch.run(body, conn);
  }

  // The command's name and handler; throws for an unknown command or a bad $db.
  prepare(body) {
    const names = Object.keys(body);
    if (names.length === 0) throw new MongoError(59, 'no such command: \'\'');
    const name = names[0];
    // Command names are exact (a few have a second spelling, listed in HANDLERS); never
    // look up inherited properties ({toString: 1} is an unknown command, too). Test
    // commands exist only with --enable-test-commands.
    let handler = Object.prototype.hasOwnProperty.call(HANDLERS, name) ? HANDLERS[name] : null;
    if (TEST_COMMANDS.has(name) && !this.failpoints) handler = null;
    if (!handler) throw new MongoError(59, `no such command: '${name}'`);
    const db = body.$db;
    if (db === undefined) throw new MongoError(40571, 'OP_MSG requests require a $db argument');
    if (typeof db !== 'string') throw typeErr(name, '$db', db, 'string');
    return { name, handler };
  }

  checkGeneric(body, name) {
    checkGeneric(body, name, this.repl);
  }

  context(body, conn, name) {
    const lsid = V.isPlainObject(body.lsid) ? body.lsid.id : undefined;
    return { now: new Date(), db: body.$db, conn, name, lsid };
  }

  exec(handler, body, ctx) {
    return handler.call(this, body, ctx);
  }

  // hello / isMaster. The first one on a connection may name the application
  // (client.application.name), which failCommand's appName matches. An awaitable hello
  // (topologyVersion + maxAwaitTimeMS) answers when the topology changes or the time is up.
  hello(body, ctx, legacy) {
    if (ctx.conn && ctx.conn.appName === undefined) {
      const app = V.isPlainObject(body.client) && V.isPlainObject(body.client.application) ? body.client.application.name : undefined;
      ctx.conn.appName = typeof app === 'string' ? app : null;
    }
    const wait = this.repl.awaitTime(body);
    if (wait > 0) return this.repl.waitForChange(wait).then(() => this.helloReply(body, ctx, legacy));
    return this.helloReply(body, ctx, legacy);
  }

  // helloOk: true answers a request that carries helloOk (replication_info.cpp).
  helloReply(body, ctx, legacy) {
    const reply = {};
    if (body.helloOk !== undefined) reply.helloOk = true;
    Object.assign(reply, this.repl.helloFields(legacy), {
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

  // A cursor reply; what is left is kept under a random non-zero id (as mongod's are),
  // bound to the session (lsid) the command ran in.
  cursorReply(ctx, ns, docs, batchSize, key = 'firstBatch', singleBatch = false) {
    const batch = [];
    let size = 0;
    let i = 0;
    const limit = batchSize === undefined ? (key === 'firstBatch' ? 101 : Infinity) : batchSize;
    while (i < docs.length && batch.length < limit) {
      const s = BSON.calculateObjectSize(docs[i]);
      if (batch.length > 0 && size + s > MAX_BSON) break;
      size += s;
      batch.push(docs[i++]);
    }
    let id = 0n;
    if (i < docs.length && !singleBatch) {
      do {
        id = require('crypto').randomBytes(8).readBigInt64LE(0);
        if (id < 0n) id = -id;
      } while (id === 0n || this.cursors.has(id));
      this.cursors.set(id, { ns, docs: docs.slice(i), lsid: ctx.lsid });
    }
    return { cursor: { [key]: batch, id: V.mkLong(id), ns }, ok: V.mkDouble(1) };
  }

  collection(ctx, name, create) {
    return this.store.coll(ctx.db, name, create);
  }

  // One update statement {q, u, upsert, multi, hint, c}. Returns {n, nModified, upserted?}.
  updateOne(coll, ctx, stmt) {
    const { q, u } = stmt;
    const upsert = V.truthy(stmt.upsert);
    const multi = V.truthy(stmt.multi);
    const kind = update.kind(u);
    if (multi && kind === 'replacement') throw new MongoError(9, 'multi update is not supported for replacement-style update');
    if (stmt.c !== undefined && kind !== 'pipeline') {
      // write_ops_parsers.cpp: constants ('c') exist only for pipeline updates.
      throw new MongoError(51198, 'Constant values may only be specified for pipeline updates');
    }
    if (upsert && usesExpr(q)) {
      // src/mongo/db/ops/parsed_update.cpp: an upsert's query may not use $expr.
      throw new MongoError(224, '$expr is not allowed in the query predicate for an upsert');
    }
    // The whole statement is checked before any document is read (MONGODB-RULES 21);
    // stmt.let is the command's compiled let (or the error it raised).
    if (stmt.let.error) throw stmt.let.error;
    compileFilter(q, stmt.let.names);
    update.compile(u, new Set([...stmt.let.names, ...Object.keys(stmt.c || {})]));
    const vars = { ...stmt.let.vars, ...(stmt.c || {}) };
    const opts = { now: ctx.now, vars };
    const hint = resolveHint(coll, stmt.hint, 'update');
    const found = coll ? hintOrder(coll.find(q, { now: ctx.now, vars }), hint) : [];
    const targets = multi ? found : found.slice(0, 1);
    if (targets.length === 0) {
      if (!upsert) return { n: 0, nModified: 0 };
      return this.upsertInsert(ctx, coll || this.collection(ctx, stmt.collName, true), q, u, opts);
    }
    let modified = 0;
    for (const doc of targets) {
      const next = update.apply(doc, u, opts);
      if (!BSON.serialize(next).equals(BSON.serialize(doc))) {
        validateUpdated(next, kind);
        coll.replaceDoc(doc, next, { kind, u });
        modified++;
      }
    }
    return { n: targets.length, nModified: modified, docs: targets };
  }

  upsertInsert(ctx, coll, q, u, opts) {
    const seed = update.seed(q);
    let doc = update.apply(seed, u, { ...opts, isInsert: true });
    if (doc._id === undefined) doc = update.idFirst({ _id: new V.ObjectId(), ...doc });
    validateUpdated(doc, update.kind(u));
    coll.insertDoc(doc);
    return { n: 1, nModified: 0, upserted: doc._id, doc };
  }
}

// The nesting depth of a value: 0 for a scalar, 1 for {} or [].
function depthOf(v) {
  let max = 0;
  const stack = [[v, 0]];
  while (stack.length) {
    const [x, d] = stack.pop();
    if (Array.isArray(x) || V.isPlainObject(x)) {
      if (d + 1 > max) max = d + 1;
      for (const c of Array.isArray(x) ? x : Object.values(x)) {
        if (Array.isArray(c) || V.isPlainObject(c)) stack.push([c, d + 1]);
      }
    }
  }
  return max;
}

// BSONDepth::getMaxDepthForUserStorage(): 200 - 20 levels (src/mongo/bson/bson_depth.h).
const MAX_STORAGE_DEPTH = 180;

// A document given to insert (src/mongo/db/ops/insert.cpp fixDocumentForInsert): every
// problem is BadValue (2), except nesting deeper than 180 levels (15 Overflow).
function validateInsert(doc) {
  const size = BSON.calculateObjectSize(doc);
  if (size > MAX_BSON) throw new MongoError(2, `object to insert too large. size in bytes: ${size}, max size: ${MAX_BSON}`);
  if (depthOf(doc) > MAX_STORAGE_DEPTH) {
    throw new MongoError(15, `cannot insert document because it exceeds ${MAX_STORAGE_DEPTH} levels of nesting`);
  }
  // Top-level '$' names are stored since 5.0 (MONGODB-RULES 23); inside _id they are not.
  const t = V.btype(doc._id);
  if (t === 'regex') throw new MongoError(2, "can't use a regex for _id");
  if (t === 'array') throw new MongoError(2, "can't use an array for _id");
  checkIdDollarNames(doc._id);
}

// A document produced by an update or upsert (src/mongo/db/update/storage_validation.cpp):
// _id may not be an array, regex or undefined (53 InvalidIdField) nor hold '$' names (52),
// no top-level $ names (52) except from a pipeline-style update (kind 'pipeline':
// allowTopLevelDollarPrefixedFields), nesting within 180 levels (15).
function validateUpdated(doc, kind) {
  const t = V.btype(doc._id);
  if (t === 'array' || t === 'regex') throw new MongoError(53, `The '_id' value cannot be of type ${t}`);
  checkIdDollarNames(doc._id);
  for (const k of Object.keys(doc)) {
    if (k.startsWith('$') && kind !== 'pipeline') {
      throw new MongoError(52, `The dollar ($) prefixed field '${k}' in '${k}' is not valid for storage.`);
    }
  }
  if (depthOf(doc) > MAX_STORAGE_DEPTH) {
    throw new MongoError(15, `Document exceeds maximum nesting depth of ${MAX_STORAGE_DEPTH}`);
  }
  const size = BSON.calculateObjectSize(doc);
  if (size > MAX_BSON) throw new MongoError(17419, `Resulting document after update is larger than ${MAX_BSON}`);
}

// A write command's let, compiled once: {names, vars}, or {error} for the statements to
// report (each statement's ParsedUpdate/ParsedDelete seeds the let variables, so a bad
// let is a write error of each statement, not a command error).
function tryCompileLet(spec, now) {
  try {
    return compileLet(spec, now);
  } catch (e) {
    if (!(e instanceof MongoError)) throw e;
    return { error: e, names: new Set(), vars: {} };
  }
}

// write_ops_parsers.cpp checkOpCountForCommand: 1 to 100000 statements, else 16 InvalidLength.
function checkBatchSize(n) {
  if (n === 0 || n > MAX_BATCH) {
    throw new MongoError(16, `Write batch sizes must be between 1 and ${MAX_BATCH}. Got ${n} operations.`);
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
  replSetStepDown(body, ctx) { return this.repl.stepDown(body, ctx); },
  replSetGetStatus(body, ctx) { return this.repl.status(body, ctx); },
  configureFailPoint(body, ctx) { return this.failpoints.configure(body, ctx); },
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
    const name = collName(body, 'insert');
    const docs = body.documents;
    if (docs === undefined) throw new MongoError(40414, "BSON field 'insert.documents' is missing but a required field");
    checkBatchSize(docs.length);
    // The command is parsed before anything runs (write_ops.idl: documents is array<object>).
    docs.forEach((raw) => { if (!V.isPlainObject(raw)) throw typeErr('insert', 'documents', raw, 'object'); });
    const ordered = body.ordered === undefined || V.truthy(body.ordered);
    const coll = this.collection(ctx, name, true);
    let n = 0;
    const errors = [];
    docs.forEach((raw, i) => {
      if (ordered && errors.length) return;
      try {
        if (raw._id === undefined && Object.prototype.hasOwnProperty.call(raw, '_id')) {
          throw new MongoError(2, "can't use a undefined for _id"); // the BSON undefined type
        }
        const doc = raw._id === undefined ? update.idFirst({ _id: new V.ObjectId(), ...raw }) : update.idFirst(raw);
        validateInsert(doc);
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
    const name = collName(body, 'update');
    if (body.updates === undefined) throw new MongoError(40414, "BSON field 'update.updates' is missing but a required field");
    checkBatchSize(body.updates.length);
    for (const stmt of body.updates) {
      if (!V.isPlainObject(stmt)) throw typeErr('update', 'updates', stmt, 'object');
      check({ s: 0, ...stmt }, 'UpdateOpEntry', { q: 'object', u: 'objectOrArray', upsert: 'bool', multi: 'bool', arrayFilters: 'array', hint: 'any', collation: 'object', c: 'object', upsertSupplied: 'bool', sampleId: 'any' });
      if (stmt.q === undefined) throw new MongoError(40414, "BSON field 'UpdateOpEntry.q' is missing but a required field");
      if (stmt.u === undefined) throw new MongoError(40414, "BSON field 'UpdateOpEntry.u' is missing but a required field");
      checkCollation(stmt.collation, 'update');
    }
    const ordered = body.ordered === undefined || V.truthy(body.ordered);
    const coll = this.collection(ctx, name, false);
    const lets = tryCompileLet(body.let, ctx.now);
    let n = 0, nModified = 0;
    const upserted = [];
    const errors = [];
    body.updates.forEach((stmt, i) => {
      if (ordered && errors.length) return;
      try {
        if (stmt.arrayFilters !== undefined) throw new MongoError(2, 'arrayFilters are not supported by this test server');
        const r = this.updateOne(coll || this.collection(ctx, name, false), ctx, { ...stmt, collName: name, let: lets });
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
    const name = collName(body, 'delete');
    if (body.deletes === undefined) throw new MongoError(40414, "BSON field 'delete.deletes' is missing but a required field");
    checkBatchSize(body.deletes.length);
    for (const stmt of body.deletes) {
      if (!V.isPlainObject(stmt)) throw typeErr('delete', 'deletes', stmt, 'object');
      check({ s: 0, ...stmt }, 'DeleteOpEntry', { q: 'object', limit: 'number', hint: 'any', collation: 'object', sampleId: 'any' });
      if (stmt.q === undefined) throw new MongoError(40414, "BSON field 'DeleteOpEntry.q' is missing but a required field");
      if (stmt.limit === undefined) throw new MongoError(40414, "BSON field 'DeleteOpEntry.limit' is missing but a required field");
      const limit = V.toDouble(stmt.limit);
      if (limit !== 0 && limit !== 1) throw new MongoError(9, `The limit field in delete objects must be 0 or 1. Got ${limit}`);
      checkCollation(stmt.collation, 'delete');
    }
    const ordered = body.ordered === undefined || V.truthy(body.ordered);
    const coll = this.collection(ctx, name, false);
    const lets = tryCompileLet(body.let, ctx.now);
    let n = 0;
    const errors = [];
    body.deletes.forEach((stmt, i) => {
      if (ordered && errors.length) return;
      try {
        if (lets.error) throw lets.error;
        compileFilter(stmt.q, lets.names); // before the collection is looked at (rule 21)
        const hint = resolveHint(coll, stmt.hint, 'delete');
        if (!coll) return;
        const found = hintOrder(coll.find(stmt.q, { now: ctx.now, vars: lets.vars }), hint);
        const victims = V.toDouble(stmt.limit) === 1 ? found.slice(0, 1) : found;
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
    const name = collName(body, cmdName);
    const remove = V.truthy(body.remove);
    const upsert = V.truthy(body.upsert);
    const returnNew = V.truthy(body.new);
    if (remove && body.update !== undefined) throw new MongoError(9, 'Cannot specify both an update and remove=true');
    if (!remove && body.update === undefined) throw new MongoError(9, 'Either an update or remove=true must be specified');
    if (remove && upsert) throw new MongoError(9, 'Cannot specify both upsert=true and remove=true ');
    if (remove && returnNew) throw new MongoError(9, 'Cannot specify both new=true and remove=true; \'remove\' always returns the deleted document');
    if (body.arrayFilters !== undefined) throw new MongoError(2, 'arrayFilters are not supported by this test server');
    checkCollation(body.collation, cmdName);
    const q = body.query || {};
    if (upsert && usesExpr(q)) throw new MongoError(224, '$expr is not allowed in the query predicate for an upsert');
    // The whole command is checked before any document is read (MONGODB-RULES 21, 22).
    const lets = compileLet(body.let, ctx.now);
    compileFilter(q, lets.names);
    const updatePlan = remove ? null : update.compile(body.update, lets.names);
    if (body.sort && Object.keys(body.sort).length) pipeline.sortKeys(body.sort);
    const fields = body.fields && Object.keys(body.fields).length ? pipeline.compileProjection(body.fields, lets.names) : null;
    const coll = this.collection(ctx, name, false);
    const hint = resolveHint(coll, body.hint, cmdName);
    let found = coll ? hintOrder(coll.find(q, { now: ctx.now, vars: lets.vars }), hint) : [];
    if (body.sort && Object.keys(body.sort).length) found = pipeline.sortDocs(found, body.sort);
    const target = found[0];
    const shape = (doc) => {
      if (doc === undefined || doc === null) return null;
      return fields ? fields.run([doc], { now: ctx.now, vars: lets.vars })[0] : doc;
    };
    if (remove) {
      if (target) coll.removeDoc(target);
      return { lastErrorObject: { n: V.mkInt(target ? 1 : 0) }, value: shape(target), ok: V.mkDouble(1) };
    }
    const opts = { now: ctx.now, vars: lets.vars };
    if (!target) {
      if (!upsert) return { lastErrorObject: { n: V.mkInt(0), updatedExisting: false }, value: null, ok: V.mkDouble(1) };
      const r = this.upsertInsert(ctx, coll || this.collection(ctx, name, true), q, body.update, opts);
      return {
        lastErrorObject: { n: V.mkInt(1), updatedExisting: false, upserted: r.upserted },
        value: returnNew ? shape(r.doc) : null,
        ok: V.mkDouble(1),
      };
    }
    const next = updatePlan.apply(target, opts);
    validateUpdated(next, updatePlan.kind);
    coll.replaceDoc(target, next, { kind: updatePlan.kind, u: body.update });
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
    // Options that change what comes back are refused unless implemented, never ignored
    // (query_request_helper.cpp validateFindCommandRequest; planner errors).
    if (V.truthy(body.awaitData) && !V.truthy(body.tailable)) {
      throw new MongoError(9, "Cannot set 'awaitData' without also setting 'tailable'");
    }
    if (V.truthy(body.tailable)) {
      throw new MongoError(2, `error processing query: ns=${ctx.db}.${name} :: caused by :: tailable cursor requested on non capped collection`);
    }
    if ((body.min !== undefined || body.max !== undefined) && body.hint === undefined) {
      throw new MongoError(51173, 'When using min()/max() a hint of which index to use must be provided');
    }
    for (const k of ['min', 'max', 'returnKey', 'showRecordId']) {
      if (body[k] !== undefined && (V.isPlainObject(body[k]) || V.truthy(body[k]))) {
        throw new MongoError(2, `find option '${k}' is not supported by this test server`);
      }
    }
    checkCollation(body.collation, 'find');
    // The whole command is checked before any document is read (MONGODB-RULES 21, 22).
    const lets = compileLet(body.let, ctx.now);
    compileFilter(body.filter || {}, lets.names);
    const projection = body.projection && Object.keys(body.projection).length ? pipeline.compileProjection(body.projection, lets.names) : null;
    if (body.sort && Object.keys(body.sort).length) pipeline.sortKeys(body.sort);
    const coll = this.collection(ctx, name, false);
    const hint = resolveHint(coll, body.hint, 'find');
    const qctx = { now: ctx.now, vars: lets.vars };
    let docs = coll ? hintOrder(coll.find(body.filter || {}, qctx), hint) : [];
    if (body.sort && Object.keys(body.sort).length) docs = pipeline.sortDocs(docs, body.sort);
    docs = docs.slice(skip, limit ? skip + limit : undefined);
    if (projection) docs = projection.run(docs, qctx);
    return this.cursorReply(ctx, `${ctx.db}.${name}`, docs, batchSize === undefined ? undefined : (limit && batchSize === 0 ? 0 : batchSize), 'firstBatch', V.truthy(body.singleBatch));
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
    // A cursor belongs to the session that opened it (getmore_cmd.cpp validateLSID).
    const show = (l) => (V.btype(l) === 'binData' ? Buffer.from(l.buffer).toString('hex') : V.show(l));
    if (c.lsid === undefined && ctx.lsid !== undefined) {
      throw new MongoError(50736, `Cannot run getMore on cursor ${id}, which was not created in a session, in session ${show(ctx.lsid)}`);
    }
    if (c.lsid !== undefined && ctx.lsid === undefined) {
      throw new MongoError(50737, `Cannot run getMore on cursor ${id}, which was created in session ${show(c.lsid)}, without an lsid`);
    }
    if (c.lsid !== undefined && !V.equal(c.lsid, ctx.lsid)) {
      throw new MongoError(50738, `Cannot run getMore on cursor ${id}, which was created in session ${show(c.lsid)}, in session ${show(ctx.lsid)}`);
    }
    const batchSize = nonNeg('getMore', 'batchSize', body.batchSize);
    if (c.stream) return this.changeStreams.getMore(c, id, body, ctx);
    const limit = batchSize || Infinity;
    const batch = [];
    let size = 0;
    let i = 0;
    while (i < c.docs.length && batch.length < limit) {
      const n = BSON.calculateObjectSize(c.docs[i]);
      if (batch.length > 0 && size + n > MAX_BSON) break;
      size += n;
      batch.push(c.docs[i++]);
    }
    c.docs = c.docs.slice(i);
    if (c.docs.length === 0) this.cursors.delete(id);
    return { cursor: { nextBatch: batch, id: V.mkLong(c.docs.length ? id : 0n), ns }, ok: V.mkDouble(1) };
  },

  killCursors(body, ctx) {
    check(body, 'killCursors', { cursors: 'array' });
    if (typeof body.killCursors !== 'string') throw new MongoError(73, `collection name has invalid type ${V.btype(body.killCursors)}`);
    if (body.cursors === undefined) throw new MongoError(40414, "BSON field 'killCursors.cursors' is missing but a required field");
    body.cursors.forEach((c, i) => {
      if (V.btype(c) !== 'long') throw typeErr('killCursors', `cursors.${i}`, c, 'long');
    });
    const ns = `${ctx.db}.${body.killCursors}`;
    const killed = [], notFound = [];
    for (const c of body.cursors) {
      const id = V.toBig(c);
      const cur = this.cursors.get(id);
      if (cur && cur.ns === ns) {
        this.cursors.delete(id);
        if (cur.stream) this.changeStreams.killed(cur);
        killed.push(V.mkLong(id));
      } else {
        notFound.push(V.mkLong(id));
      }
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
    if (V.truthy(body.explain)) throw new MongoError(2, 'explain is not supported by this test server');
    if (body.cursor !== undefined) {
      for (const k of Object.keys(body.cursor)) {
        if (k !== 'batchSize') throw new MongoError(40415, `BSON field 'SimpleCursorOptions.${k}' is an unknown field.`);
      }
      if (body.cursor.batchSize !== undefined && !V.isNumber(body.cursor.batchSize)) {
        throw typeErr('aggregate', 'cursor.batchSize', body.cursor.batchSize, 'long');
      }
      nonNeg('aggregate', 'cursor.batchSize', body.cursor.batchSize);
    }
    checkCollation(body.collation, 'aggregate');
    if (body.pipeline.some((s) => V.isPlainObject(s) && Object.prototype.hasOwnProperty.call(s, '$changeStream'))) {
      // lib/changestream.js (40573 on a standalone, for collection, database and cluster streams).
      return this.changeStreams.aggregate(body, ctx);
    }
    if (typeof target !== 'string') throw new MongoError(2, 'collection-less aggregate is not supported by this test server');
    // The whole pipeline is checked before any document is read (MONGODB-RULES 21, 22).
    const lets = compileLet(body.let, ctx.now);
    const plan = pipeline.compile(body.pipeline, lets.names);
    const coll = this.collection(ctx, target, false);
    const hint = resolveHint(coll, body.hint, 'aggregate');
    const docs = plan.run(coll ? hintOrder(coll.docs.slice(), hint) : [], { now: ctx.now, vars: lets.vars });
    const batchSize = body.cursor ? nonNeg('aggregate', 'cursor.batchSize', body.cursor.batchSize) : undefined;
    return this.cursorReply(ctx, `${ctx.db}.${target}`, docs, batchSize);
  },

  count(body, ctx) {
    check(body, 'count', { query: 'object', limit: 'number', skip: 'number', hint: 'any', collation: 'object', fields: 'any' });
    checkCollation(body.collation, 'count');
    compileFilter(body.query || {}); // before the collection is looked at (rule 21)
    const coll = this.collection(ctx, collName(body, 'count'), false);
    resolveHint(coll, body.hint, 'count');
    let n = coll ? coll.find(body.query || {}, { now: ctx.now }).length : 0;
    const skip = nonNeg('count', 'skip', body.skip) || 0;
    const limit = body.limit ? Math.abs(V.toDouble(body.limit)) : 0;
    n = Math.max(0, n - skip);
    if (limit) n = Math.min(n, limit);
    return { n: V.mkInt(n), ok: V.mkDouble(1) };
  },

  distinct(body, ctx) {
    check(body, 'distinct', { key: 'string', query: 'object', collation: 'object', hint: 'any' });
    checkCollation(body.collation, 'distinct');
    compileFilter(body.query || {}); // before the collection is looked at (rule 21)
    const coll = this.collection(ctx, collName(body, 'distinct'), false);
    resolveHint(coll, body.hint, 'distinct');
    if (body.key === undefined) throw new MongoError(40414, "BSON field 'distinct.key' is missing but a required field");
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
    if (body.pipeline !== undefined) throw new MongoError(9, "'pipeline' requires 'viewOn' to also be specified");
    if (V.isPlainObject(body.changeStreamPreAndPostImages) && V.truthy(body.changeStreamPreAndPostImages.enabled)) {
      // Change streams here never have pre- or post-images (lib/changestream.js).
      throw new MongoError(2, "create option 'changeStreamPreAndPostImages' is not supported by this test server");
    }
    if (body.expireAfterSeconds !== undefined) {
      // Only time-series and clustered collections expire documents (create.idl,
      // catalog/collection_options.cpp); a plain collection with it would silently keep them.
      throw new MongoError(72, "'expireAfterSeconds' is only supported on time-series and clustered collections");
    }
    if (body.autoIndexId !== undefined && !V.truthy(body.autoIndexId)) {
      throw new MongoError(2, 'autoIndexId: false is not supported by this test server');
    }
    checkCollation(body.collation, 'create');
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
    this.store.dropDatabase(ctx.db);
    return { ok: V.mkDouble(1) };
  },

  listCollections(body, ctx) {
    check(body, 'listCollections', { filter: 'object', nameOnly: 'bool', authorizedCollections: 'bool', cursor: 'object' });
    if (body.filter) compileFilter(body.filter); // even when the database is missing (rule 21)
    const db = this.store.db(ctx.db, false);
    let list = db ? [...db.collections.values()].map((c) => ({
      name: c.name, type: 'collection', options: {}, info: { readOnly: false, uuid: c.uuid },
      idIndex: { v: V.mkInt(2), key: { _id: V.mkInt(1) }, name: '_id_' },
    })) : [];
    if (body.filter) list = list.filter((d) => matches(d, body.filter, { now: ctx.now }));
    if (V.truthy(body.nameOnly)) list = list.map((d) => ({ name: d.name, type: d.type }));
    return this.cursorReply(ctx, `${ctx.db}.$cmd.listCollections`, list, body.cursor ? nonNeg('listCollections', 'cursor.batchSize', body.cursor.batchSize) : undefined);
  },

  createIndexes(body, ctx) {
    check(body, 'createIndexes', { indexes: 'array', commitQuorum: 'any', ignoreUnknownIndexOptions: 'bool', isTimeseriesNamespace: 'bool' });
    const name = collName(body, 'createIndexes');
    if (body.indexes === undefined) throw new MongoError(40414, "BSON field 'createIndexes.indexes' is missing but a required field");
    if (body.indexes.length === 0) throw new MongoError(2, 'Must specify at least one index to create');
    const existed = !!this.collection(ctx, name, false);
    const coll = this.collection(ctx, name, true);
    let r;
    try {
      r = this.store.createIndexes(coll, body.indexes);
    } catch (e) {
      if (!existed) this.store.dropCollection(ctx.db, name, true);
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
    return this.cursorReply(ctx, `${ctx.db}.$cmd.listIndexes.${name}`, coll.indexes.map((i) => i.spec), body.cursor ? nonNeg('listIndexes', 'cursor.batchSize', body.cursor.batchSize) : undefined);
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
HANDLERS.collMod = function (body, ctx) { return collMod(this.store, body, ctx, (k) => GENERIC.has(k)); };

// Commands that exist only with --enable-test-commands (enableTestCommands=1).
const TEST_COMMANDS = new Set(['configureFailPoint']);

// Commands allowed over legacy OP_QUERY (MongoDB 6.0+ refuses the rest with 352).
const OP_QUERY_COMMANDS = new Set(['hello', 'isMaster', 'ismaster']);

module.exports = { Commands, OP_QUERY_COMMANDS, MAX_MESSAGE };
