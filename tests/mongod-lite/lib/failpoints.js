// SPDX-License-Identifier: Apache-2.0
'use strict';
// Fault injection as MongoDB does it (MONGODB-RULES 20): with --enable-test-commands (as
// mongod's enableTestCommands=1) configureFailPoint exists, and the failCommand failpoint
// makes chosen commands fail. Sources, MongoDB 7.0:
//  - src/mongo/util/fail_point.cpp FailPoint::parseBSON: mode "off", "alwaysOn", {times: n},
//    {skip: n}, {activationProbability: p}; no mode: 20 IllegalOperation "When setting a
//    failpoint, you must supply a 'mode'"; an unknown mode string 2; a mode of
//    another type 14; data not an object 14. setGlobalFailPoint: an unknown failpoint 266
//    FailPointSetFailed "<name> not found"; the reply is {count: <times entered>, ok: 1}.
//    {times: n} counts only activations (executeIf with a predicate), {skip: n} skips the
//    first n of them.
//  - src/mongo/db/commands.cpp shouldActivateFailCommandFailPoint: configureFailPoint is
//    never failed; failCommands names commands by any of their names (hasAlias); appName
//    must equal the connection's handshake client.application.name. Every other command,
//    hello and isMaster included, can be failed (the drivers' SDAM tests fail hello).
//  - evaluateFailCommandFailPoint (run after session arguments are parsed, before the
//    command): activates when closeConnection, blockConnection or errorCode is set;
//    blockConnection sleeps blockTimeMS first (72 InvalidOptions without a non-negative
//    blockTimeMS), then closeConnection ends the connection with no reply, then errorCode
//    fails the command with errmsg "Failing command via 'failCommand' failpoint".
//    errorLabels, when given, replace the labels the server would add (error_labels.cpp
//    getErrorLabels errorLabelsOverride), even with [].
//  - service_entry_point_common.cpp: a failpoint with writeConcernError, for a command
//    that takes a write concern, lets the command run and appends that writeConcernError
//    (a second, separate activation).
const V = require('./values');
const { MongoError } = require('./errors');

// Second spellings of commands (Command::hasAlias).
const ALIASES = [['isMaster', 'ismaster'], ['findAndModify', 'findandmodify'], ['buildInfo', 'buildinfo'],
  ['dropIndexes', 'deleteIndexes']];

function sameCommand(a, b) {
  if (a === b) return true;
  return ALIASES.some((g) => g.includes(a) && g.includes(b));
}

// Ends the connection without a reply (server.js destroys the socket).
class CloseConnection extends Error {}

class FailPoints {
  constructor() {
    this.fc = { mode: 'off', n: 0, data: {}, entered: 0 };
  }

  // configureFailPoint (admin only, as every test command that changes server state here).
  configure(body, ctx) {
    if (ctx.db !== 'admin') throw new MongoError(13, 'configureFailPoint may only be run against the admin database.');
    const name = body.configureFailPoint;
    if (name !== 'failCommand') {
      throw new MongoError(266, `${typeof name === 'string' ? name : V.show(name)} not found (this test server implements only failCommand)`);
    }
    const m = body.mode;
    let mode, n = 0;
    if (m === undefined) throw new MongoError(20, "When setting a failpoint, you must supply a 'mode'");
    if (typeof m === 'string') {
      if (m !== 'off' && m !== 'alwaysOn') throw new MongoError(2, `unknown mode: ${m}`);
      mode = m;
    } else if (V.isPlainObject(m)) {
      const key = ['times', 'skip', 'activationProbability'].find((k) => k in m);
      if (!key) throw new MongoError(2, "'mode' must be one of 'off', 'alwaysOn', '{times:n}', '{skip:n}' or '{activationProbability:p}'");
      if (key === 'activationProbability') throw new MongoError(2, 'activationProbability is not supported by this test server');
      if (!V.isNumber(m[key])) throw new MongoError(14, `"${key}" had the wrong type. Expected long, found ${V.btype(m[key])}`);
      n = Math.trunc(V.toDouble(m[key]));
      if (n < 0) throw new MongoError(2, `'${key}' option to 'mode' must be positive`);
      mode = key;
    } else {
      throw new MongoError(14, "'mode' must be a string or JSON object");
    }
    let data = {};
    if (body.data !== undefined) {
      if (!V.isPlainObject(body.data)) throw new MongoError(14, "the 'data' option must be a JSON object");
      data = V.deepClone(body.data);
    }
    const was = this.fc.entered;
    this.fc = { mode: mode === 'times' && n === 0 ? 'off' : mode, n, data, entered: 0 };
    return { count: V.mkLong(BigInt(was)), ok: V.mkDouble(1) };
  }

  // shouldActivateFailCommandFailPoint plus the mode; counts the activation.
  activate(name, conn, pred) {
    const fc = this.fc;
    if (fc.mode === 'off' || name === 'configureFailPoint') return null;
    const d = fc.data;
    if (d.appName !== undefined && (conn ? conn.appName : undefined) !== d.appName) return null;
    const list = Array.isArray(d.failCommands) ? d.failCommands : [];
    if (!d.failAllCommands && !list.some((c) => typeof c === 'string' && sameCommand(c, name))) return null;
    if (!pred(d)) return null;
    if (fc.mode === 'skip' && fc.n > 0) {
      fc.n--;
      return null;
    }
    if (fc.mode === 'times') {
      fc.n--;
      if (fc.n <= 0) fc.mode = 'off';
    }
    fc.entered++;
    return d;
  }

  // Before the command: block, close, or fail. Returns null (run the command now) or a
  // Promise when blocking (resolves: run it; rejects: the failure). Throws MongoError or
  // CloseConnection. Sets info.labels to the failpoint's errorLabels override, if any.
  before(name, conn, info) {
    const d = this.activate(name, conn, (x) => truthyField(x.closeConnection) || truthyField(x.blockConnection) || x.errorCode !== undefined);
    if (!d) return null;
    if (Array.isArray(d.errorLabels)) info.labels = d.errorLabels.slice();
    const finish = () => {
      if (truthyField(d.closeConnection)) throw new CloseConnection('failCommand closeConnection');
      if (d.errorCode !== undefined && V.isNumber(d.errorCode)) {
        throw new MongoError(Number(V.toDouble(d.errorCode)), "Failing command via 'failCommand' failpoint");
      }
    };
    if (truthyField(d.blockConnection)) {
      const ms = d.blockTimeMS;
      if (ms === undefined || !V.isNumber(ms)) throw new MongoError(72, "must specify 'blockTimeMS' when 'blockConnection' is true");
      const t = V.toDouble(ms);
      if (t < 0) throw new MongoError(72, "'blockTimeMS' must be non-negative");
      return new Promise((resolve) => setTimeout(resolve, t)).then(finish);
    }
    finish();
    return null;
  }

  // After a command that takes a write concern ran: the writeConcernError to append, or null.
  writeConcernError(name, conn) {
    const d = this.activate(name, conn, (x) => V.isPlainObject(x.writeConcernError));
    return d ? V.deepClone(d.writeConcernError) : null;
  }
}

function truthyField(v) {
  return v !== undefined && V.truthy(v);
}

module.exports = { FailPoints, CloseConnection, sameCommand };
