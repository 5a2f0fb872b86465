// SPDX-License-Identifier: Apache-2.0
'use strict';
// The path every command takes, in mongod's order (service_entry_point_common.cpp
// ExecCommandDatabase): look the command up; parse the session arguments
// (initializeOperationSessionInfo); evaluate the failCommand failpoint; validate the
// session options; check the generic arguments; refuse what a non-primary may not run;
// run it (once per lsid + txnNumber for a retryable write); append a failpoint's
// writeConcernError; add error labels (error_labels.cpp); on a replica set append
// $clusterTime and operationTime. Returns a reply, or a Promise of one when the command
// waits (a blocked failpoint, an awaitable hello, a step-down attempt). Errors become
// error replies here; only CloseConnection (and internal errors) propagate.
const V = require('./values');
const { MongoError } = require('./errors');
const { WRITES } = require('./replset');

// ErrorCodes::isRetriableError (src/mongo/base/error_codes.yml, category RetriableError),
// the codes a client can see.
const RETRIABLE = new Set([6, 7, 89, 91, 134, 189, 262, 358, 402, 406, 407, 412, 453, 462, 9001, 10107, 11600, 11602,
  13435, 13436, 50915, 91331, 10045600]);

const isThenable = (x) => x !== null && typeof x === 'object' && typeof x.then === 'function';

class Dispatch {
  // commands: the Commands object (prepare, checkGeneric, exec); repl, sessions, failpoints:
  // the modules of lib/replset.js, lib/sessions.js, lib/failpoints.js.
  constructor(commands, repl, sessions, failpoints) {
    this.commands = commands;
    this.repl = repl;
    this.sessions = sessions;
    this.failpoints = failpoints;
  }

  run(body, conn) {
    const info = { retryable: false, labels: null, lastOpBefore: conn ? conn.lastOp : undefined };
    let name = null;
    const fail = (e) => this.errorReply(e, info, conn);
    try {
      this.repl.gossipIn(body.$clusterTime);
      const p = this.commands.prepare(body, conn);
      name = p.name;
      Object.assign(info, this.sessions.parse(body, name), { labels: null });
      const blocked = this.failpoints ? this.failpoints.before(name, conn, info) : null;
      const go = () => this.execute(p, body, conn, info);
      if (blocked) return blocked.then(go).then((r) => r, fail);
      const r = go();
      return isThenable(r) ? r.then((x) => x, fail) : r;
    } catch (e) {
      return fail(e);
    }
  }

  execute(p, body, conn, info) {
    const { name, handler } = p;
    this.sessions.validate(info, name);
    this.commands.checkGeneric(body, name);
    this.repl.checkCanRun(name, body);
    const ctx = this.commands.context(body, conn, name);
    const ticks = this.repl.ticks;
    const r = this.sessions.runRetryable(info, name, body, () => this.commands.exec(handler, body, ctx));
    // Writes run synchronously: a write whose oplog entries (change events) ticked the clock
    // already has its operationTime, the last entry's time.
    const ticked = this.repl.ticks !== ticks;
    const done = (reply) => this.finish(name, body, reply, conn, info, ticked);
    return isThenable(r) ? r.then(done) : done(r);
  }

  // A write concern a one-member set cannot satisfy (replica_set_config.cpp
  // checkIfWriteConcernCanBeSatisfied, when waiting for it after the write): w > 1 is 100
  // "Not enough data-bearing nodes", an unknown mode 79. Standalones refused both earlier.
  unsatisfiable(body) {
    const wc = body.writeConcern;
    if (!this.repl.isReplSet || !V.isPlainObject(wc) || wc.w === undefined) return null;
    const errInfo = { writeConcern: { ...wc, provenance: 'clientSupplied' } };
    if (V.isNumber(wc.w) && V.toDouble(wc.w) > 1) {
      return { code: V.mkInt(100), codeName: 'UnsatisfiableWriteConcern', errmsg: 'Not enough data-bearing nodes', errInfo };
    }
    if (typeof wc.w === 'string' && wc.w !== 'majority') {
      return { code: V.mkInt(79), codeName: 'UnknownReplWriteConcern', errmsg: `No write concern mode named '${wc.w}' found in replica set configuration`, errInfo };
    }
    return null;
  }

  // ticked: the command's writes already advanced the clock (one tick per event). A
  // write's operationTime is then its last oplog entry's time (ReplClientInfo lastOp), which
  // is its last change event's clusterTime; a write command that recorded no entry ticks
  // once here, as before.
  finish(name, body, reply, conn, info, ticked = false) {
    if (WRITES.has(name) && reply && V.truthy(reply.ok)) {
      if (!ticked) this.repl.tick();
      if (conn) conn.lastOp = this.repl.timestamp();
    }
    if (WC.has(name) && reply && V.truthy(reply.ok)) {
      const wce = (this.failpoints && this.failpoints.writeConcernError(name, conn)) || this.unsatisfiable(body);
      if (wce) reply.writeConcernError = wce;
    }
    const wcCode = reply && V.isPlainObject(reply.writeConcernError) && V.isNumber(reply.writeConcernError.code)
      ? Number(V.toDouble(reply.writeConcernError.code)) : null;
    if (wcCode !== null) this.label(reply, null, wcCode, info, conn);
    return this.repl.decorate(reply);
  }

  errorReply(e, info, conn) {
    if (!(e instanceof MongoError)) throw e;
    const reply = e.toReply();
    this.label(reply, e.code, null, info, conn);
    return this.repl.decorate(reply);
  }

  // errorLabels: the failpoint's override, else RetryableWriteError for a retriable code on
  // a retryable write, plus NoWritesPerformed when the connection's last write did not
  // move (isErrorWithNoWritesPerformed).
  label(reply, code, wcCode, info, conn) {
    let labels;
    if (info.labels) labels = info.labels;
    else {
      labels = [];
      if (info.retryable && ((code !== null && RETRIABLE.has(code)) || (wcCode !== null && RETRIABLE.has(wcCode)))) {
        labels.push('RetryableWriteError');
        const after = conn ? conn.lastOp : undefined;
        if (info.lastOpBefore !== undefined && after !== undefined && info.lastOpBefore.equals(after)) labels.push('NoWritesPerformed');
      }
    }
    if (labels.length) reply.errorLabels = labels;
  }
}

// Commands that take a write concern (their writeConcernError failpoint applies).
const WC = new Set(['insert', 'update', 'delete', 'findAndModify', 'findandmodify', 'createIndexes', 'dropIndexes',
  'deleteIndexes', 'drop', 'dropDatabase', 'create', 'collMod']);

module.exports = { Dispatch, RETRIABLE };
