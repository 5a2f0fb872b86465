// SPDX-License-Identifier: Apache-2.0
'use strict';
// Logical sessions and retryable writes (MONGODB-RULES 19). Sources, MongoDB 7.0:
//  - logical_session_id_helpers.cpp initializeOperationSessionInfo: a standalone refuses
//    txnNumber (20 IllegalOperation); a txnNumber needs an lsid (72 InvalidOptions);
//    autocommit / startTransaction / stmtId need a txnNumber.
//  - service_entry_point_common.cpp validateSessionOptions: without autocommit a txnNumber
//    is allowed only on retryable write commands (insert, update, delete, findAndModify;
//    else 50768 NotARetryableWriteCommand).
//  - transaction_participant.cpp beginOrContinue: an older txnNumber than the session's
//    newest fails 225 TransactionTooOld "Cannot start transaction N on session S because a
//    newer transaction M has already started."; the same txnNumber continues it, and
//    statements already executed (checkStatementExecuted) are not executed again: their
//    recorded result is returned, listed in retriedStmtIds (insert/update/delete) or
//    retriedStmtId (findAndModify) (write_ops_exec.cpp, find_and_modify.cpp, 5.0+).
// Multi-document transactions (autocommit: false) are not implemented and are refused.
//
// A write is recorded per (lsid, txnNumber) as a whole command: mongolock and the drivers
// retry whole commands. A retry of a batch that stopped half-way (some statements done,
// some failed) would have to run the rest only; that is refused rather than guessed.
const V = require('./values');
const { MongoError } = require('./errors');

const RETRYABLE = new Set(['insert', 'update', 'delete', 'findAndModify', 'findandmodify']);
const MAX_SESSIONS = 100000;

function lsidKey(lsid) {
  const id = V.isPlainObject(lsid) ? lsid.id : undefined;
  if (V.btype(id) !== 'binData') return null;
  return Buffer.from(id.buffer).toString('hex');
}

// The statement ids of a write command: stmtIds, or stmtId + i, or i.
function stmtIds(body, name) {
  const n = name === 'insert' ? (body.documents || []).length : name === 'update' ? (body.updates || []).length
    : name === 'delete' ? (body.deletes || []).length : 1;
  if (Array.isArray(body.stmtIds)) return body.stmtIds.map((s) => V.mkInt(Number(V.toDouble(s))));
  const base = body.stmtId !== undefined ? Number(V.toDouble(body.stmtId)) : 0;
  return Array.from({ length: n }, (_, i) => V.mkInt(base + i));
}

class Sessions {
  constructor(repl) {
    this.repl = repl;
    this.sessions = new Map(); // lsid hex -> { txnNumber: bigint, record: null | {name, ns, reply} }
  }

  // Generic session arguments, checked before the command runs (before failpoints, as
  // initializeOperationSessionInfo is). Returns the session info the command runs with.
  parse(body, name) {
    const info = { lsid: body.lsid, txnNumber: undefined, retryable: false };
    if (body.txnNumber === undefined) {
      for (const k of ['autocommit', 'startTransaction', 'stmtId']) {
        if (body[k] !== undefined) throw new MongoError(72, `'${k}' field requires a transaction number to also be specified`);
      }
      return info;
    }
    if (V.btype(body.txnNumber) !== 'long') {
      throw new MongoError(14, `BSON field 'OperationSessionInfo.txnNumber' is the wrong type '${V.btype(body.txnNumber)}', expected type 'long'`);
    }
    if (body.lsid === undefined) throw new MongoError(72, 'Transaction number requires a session ID to also be specified');
    if (lsidKey(body.lsid) === null) throw new MongoError(14, "BSON field 'OperationSessionInfo.lsid.id' is missing or not a UUID");
    if (!this.repl.isReplSet) throw new MongoError(20, 'Transaction numbers are only allowed on a replica set member or mongos');
    const txn = V.toBig(body.txnNumber);
    if (txn < 0n) throw new MongoError(2, `Transaction number cannot be negative: ${txn}`);
    if (body.autocommit !== undefined || body.startTransaction !== undefined) {
      throw new MongoError(2, 'multi-document transactions are not supported by this test server');
    }
    info.txnNumber = txn;
    info.retryable = true;
    return info;
  }

  // validateSessionOptions: after failpoints, before the not-primary check.
  validate(info, name) {
    if (info.retryable && !RETRYABLE.has(name)) {
      throw new MongoError(50768, `txnNumber may only be provided for multi-document transactions and retryable write commands. autocommit:false was not provided, and ${name} is not a retryable write command.`);
    }
  }

  // Runs exec (the command) once per (lsid, txnNumber); a retry gets the recorded reply.
  runRetryable(info, name, body, exec) {
    if (!info.retryable) return exec();
    const key = lsidKey(info.lsid);
    let s = this.sessions.get(key);
    if (!s) {
      if (this.sessions.size >= MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value);
      s = { txnNumber: -1n, record: null };
      this.sessions.set(key, s);
    }
    if (info.txnNumber < s.txnNumber) {
      throw new MongoError(225, `Cannot start transaction ${info.txnNumber} on session ${key} because a newer transaction ${s.txnNumber} has already started.`);
    }
    const canon = name === 'findandmodify' ? 'findAndModify' : name;
    if (info.txnNumber === s.txnNumber && s.record) {
      const r = s.record;
      if (r.name !== canon || r.ns !== `${body.$db}.${body[name]}`) {
        throw new MongoError(2, `retry of transaction ${info.txnNumber} on session ${key} is a different command (${canon} on ${body.$db}.${body[name]}) than the one recorded (${r.name} on ${r.ns}); this test server does not model that`);
      }
      if (r.partial) {
        throw new MongoError(2, 'retrying a batch that was partly executed is not supported by this test server');
      }
      const reply = V.deepClone(r.reply);
      const ids = stmtIds(body, canon);
      if (canon === 'findAndModify') reply.retriedStmtId = ids[0];
      else reply.retriedStmtIds = ids;
      // retriedStmtIds comes before ok, as write_ops_exec.cpp builds it.
      const ok = reply.ok;
      delete reply.ok;
      reply.ok = ok;
      return reply;
    }
    s.txnNumber = info.txnNumber;
    s.record = null;
    const record = (reply) => {
      if (!reply || !V.truthy(reply.ok)) return reply; // nothing executed: a retry runs it again
      const errs = Array.isArray(reply.writeErrors) ? reply.writeErrors.length : 0;
      if (errs > 0 && errs === stmtIds(body, canon).length) return reply; // every statement failed
      s.record = { name: canon, ns: `${body.$db}.${body[name]}`, reply: V.deepClone(reply), partial: errs > 0 };
      return reply;
    };
    const reply = exec();
    if (reply && typeof reply.then === 'function') return reply.then(record);
    return record(reply);
  }
}

module.exports = { Sessions, RETRYABLE };
