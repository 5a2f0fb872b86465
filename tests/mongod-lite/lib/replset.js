// SPDX-License-Identifier: Apache-2.0
'use strict';
// The deployment this server models: a standalone (the default) or, with --replset NAME, a
// one-member replica set. It owns what hello reports (topologyVersion, the member state,
// term and electionId, lastWrite), the logical clock ($clusterTime / operationTime), the
// awaitable hello (waiting until the topology changes), which commands a non-primary
// refuses, and step-down with re-election. Sources, MongoDB 7.0:
//  - hello (src/mongo/db/repl/replication_info.cpp, hello.idl, the manual's "hello" page):
//    a replica-set member adds hosts, setName, setVersion, secondary, primary, me,
//    electionId, lastWrite; every mongod adds topologyVersion {processId, counter}.
//    topologyVersion without maxAwaitTimeMS (or the reverse) fails 31368; a negative
//    counter 31372; a counter ahead of the server's for its processId 31382.
//  - the awaitable hello (replication_coordinator_impl.cpp awaitHelloResponse): a request
//    whose topologyVersion is current waits until the topology changes or maxAwaitTimeMS
//    passes; a stale one (older counter, other processId) is answered at once.
//  - step-down (repl_set_commands.cpp CmdReplSetStepDown, replication_coordinator_impl.cpp
//    stepDown): admin only; 0 means 60 s; negative 2; secondaryCatchUpPeriodSecs defaults
//    to 10 (0 with force), longer than the period 2; a one-member set has no electable
//    secondary, so without force it fails 262 ExceededTimeLimit after the catch-up period
//    (writes meanwhile fail 10107: jstests/replsets/stepdown_long_wait_time.js); with force
//    it becomes SECONDARY for the period and a single-node set then elects itself again
//    (becomeCandidateIfStepdownPeriodOverAndSingleNodeSet) in a new term. Since 4.2 a
//    step-down no longer closes client connections (SERVER-38511/DOCS-12372): it kills
//    operations in progress that write. Commands here run atomically, so none is ever in
//    progress; an unacknowledged write sent to a non-primary closes its connection
//    (SERVER-38512), which server.js does.
//  - hello while stepping down (topology_coordinator.cpp fillHelloForReplSet):
//    isWritablePrimary is false as soon as a step-down is attempted, though the member is
//    still PRIMARY (and names itself primary) until it has stepped down.
//  - on a non-primary (service_entry_point_common.cpp): writes fail 10107 "not primary",
//    reads without secondaryOk 13435 "not primary and secondaryOk=false".
const { ObjectId, Timestamp, Binary } = require('bson');
const V = require('./values');
const { MongoError } = require('./errors');

// Commands a non-primary refuses with 10107 (their secondaryAllowed() is kNever).
const WRITES = new Set(['insert', 'update', 'delete', 'findAndModify', 'findandmodify', 'create', 'drop', 'dropDatabase',
  'createIndexes', 'dropIndexes', 'deleteIndexes', 'collMod']);
// Commands a non-primary runs only with secondaryOk (kOptIn); the rest run anywhere.
const READS = new Set(['find', 'aggregate', 'count', 'distinct', 'listCollections', 'listIndexes']);

// PV1 election ids are the term in an ObjectId: 7fffffff then the term as 8 bytes
// (src/mongo/bson/oid.cpp OID::fromTerm).
function electionIdFor(term) {
  return new ObjectId(`7fffffff${BigInt(term).toString(16).padStart(16, '0')}`);
}

class ReplSet {
  // name: the set name, or null for a standalone.
  constructor(name) {
    this.name = name;
    this.host = null; // "127.0.0.1:port", set once the server listens
    this.processId = new ObjectId();
    this.counter = 0n;
    this.waiters = new Set();
    this.state = 'PRIMARY';
    this.term = 1;
    this.electionId = electionIdFor(this.term);
    this.electionDate = new Date();
    this.stepDownTimer = null;
    this.attemptingStepDown = false;
    this.startedAt = Date.now();
    // The logical clock: the timestamp of the last write (an oplog entry's ts).
    this.lastTs = { t: Math.floor(Date.now() / 1000), i: 1 };
    this.lastWriteDate = new Date();
    this.ticks = 0; // how many times tick() ran (dispatch.js: did a command write an entry)
  }

  get isReplSet() { return this.name !== null; }
  get writable() { return !this.isReplSet || (this.state === 'PRIMARY' && !this.attemptingStepDown); }

  // ---- the logical clock ----
  // tick() makes the next oplog time: once per change-stream event (lib/changestream.js,
  // so the events of one command share the second with increasing increments, as
  // consecutive oplog entries do), or once for a write command that recorded none.
  tick() {
    this.ticks++;
    const s = Math.floor(Date.now() / 1000);
    this.lastTs = s > this.lastTs.t ? { t: s, i: 1 } : { t: this.lastTs.t, i: this.lastTs.i + 1 };
    this.lastWriteDate = new Date();
    return this.lastTs;
  }

  timestamp() { return new Timestamp({ t: this.lastTs.t, i: this.lastTs.i }); }
  opTime() { return { ts: this.timestamp(), t: V.mkLong(BigInt(this.term)) }; }
  // Compares a BSON Timestamp with the clock: <0, 0, >0.
  compareTs(ts) {
    const t = ts.high >>> 0, i = ts.low >>> 0;
    return t !== this.lastTs.t ? t - this.lastTs.t : i - this.lastTs.i;
  }

  // A client's $clusterTime ahead of this member's advances its clock (VectorClock gossip:
  // a client may have seen a later time elsewhere; with no keys nothing is verified).
  gossipIn(ct) {
    if (!this.isReplSet || !V.isPlainObject(ct) || V.btype(ct.clusterTime) !== 'timestamp') return;
    if (this.compareTs(ct.clusterTime) > 0) this.lastTs = { t: ct.clusterTime.high >>> 0, i: ct.clusterTime.low >>> 0 };
  }

  // $clusterTime and operationTime, appended to every reply of a replica-set member. With
  // no keys (no auth) the signature is a zero hash and keyId 0.
  decorate(reply) {
    if (!this.isReplSet || reply === null || typeof reply !== 'object') return reply;
    reply.$clusterTime = { clusterTime: this.timestamp(), signature: { hash: new Binary(Buffer.alloc(20), 0), keyId: V.mkLong(0n) } };
    reply.operationTime = this.timestamp();
    return reply;
  }

  // ---- topology changes ----
  topologyVersion() { return { processId: this.processId, counter: V.mkLong(this.counter) }; }

  changed() {
    this.counter += 1n;
    const w = [...this.waiters];
    this.waiters.clear();
    for (const f of w) f();
  }

  // Resolves when the topology changes or after ms.
  waitForChange(ms) {
    return new Promise((resolve) => {
      let timer = null;
      const done = () => { clearTimeout(timer); this.waiters.delete(done); resolve(); };
      timer = setTimeout(done, ms);
      this.waiters.add(done);
    });
  }

  // ---- hello ----
  // Checks topologyVersion / maxAwaitTimeMS; returns the milliseconds to wait (0: answer now).
  awaitTime(body) {
    const tv = body.topologyVersion, max = body.maxAwaitTimeMS;
    if ((tv === undefined) !== (max === undefined)) {
      throw new MongoError(31368, tv !== undefined ? "A request with a 'topologyVersion' must include 'maxAwaitTimeMS'"
        : "A request with 'maxAwaitTimeMS' must include a 'topologyVersion'");
    }
    if (tv === undefined) return 0;
    if (!V.isPlainObject(tv)) throw new MongoError(14, `BSON field 'hello.topologyVersion' is the wrong type '${V.btype(tv)}', expected type 'object'`);
    if (V.btype(tv.processId) !== 'objectId') throw new MongoError(V.btype(tv.processId) === 'missing' ? 40414 : 14, "BSON field 'TopologyVersion.processId' is missing or not an objectId");
    if (V.btype(tv.counter) !== 'long') throw new MongoError(V.btype(tv.counter) === 'missing' ? 40414 : 14, "BSON field 'TopologyVersion.counter' is missing or not a long");
    if (!V.isNumber(max)) throw new MongoError(14, `BSON field 'hello.maxAwaitTimeMS' is the wrong type '${V.btype(max)}', expected type 'long'`);
    const ms = V.toDouble(max);
    if (ms < 0) throw new MongoError(51024, `BSON field 'maxAwaitTimeMS' value must be >= 0, actual value '${ms}'`);
    const counter = V.toBig(tv.counter);
    if (counter < 0n) throw new MongoError(31372, 'topologyVersion must have a non-negative counter');
    if (!tv.processId.equals(this.processId)) return 0;
    if (counter > this.counter) {
      throw new MongoError(31382, `Received a topology version with counter: ${counter} which is greater than the server topology version counter: ${this.counter}`);
    }
    return counter < this.counter ? 0 : ms;
  }

  // The replica-set fields of a hello reply (and topologyVersion for both modes).
  helloFields(legacy) {
    const out = { topologyVersion: this.topologyVersion() };
    if (!this.isReplSet) {
      out[legacy ? 'ismaster' : 'isWritablePrimary'] = true;
      return out;
    }
    const primary = this.state === 'PRIMARY';
    Object.assign(out, { hosts: [this.host], setName: this.name, setVersion: V.mkInt(1) });
    out[legacy ? 'ismaster' : 'isWritablePrimary'] = primary && !this.attemptingStepDown;
    out.secondary = !primary;
    if (primary) out.primary = this.host;
    out.me = this.host;
    if (primary) out.electionId = this.electionId;
    const op = this.opTime();
    out.lastWrite = { opTime: op, lastWriteDate: this.lastWriteDate, majorityOpTime: op, majorityWriteDate: this.lastWriteDate };
    return out;
  }

  // ---- what a non-primary refuses ----
  // secondaryOk: $readPreference other than primary (OP_MSG) or the OP_QUERY flag.
  checkCanRun(name, body) {
    if (this.writable) return;
    if (WRITES.has(name)) throw new MongoError(10107, 'not primary');
    if (READS.has(name)) {
      const rp = body.$readPreference;
      const mode = V.isPlainObject(rp) ? rp.mode : undefined;
      if (this.state === 'PRIMARY') return; // attempting a step-down: still primary for reads
      if (mode === undefined || mode === 'primary') throw new MongoError(13435, 'not primary and secondaryOk=false');
    }
  }

  // ---- step-down ----
  stepDown(body, ctx) {
    if (!this.isReplSet) throw new MongoError(76, 'not running with --replSet');
    if (ctx.db !== 'admin') throw new MongoError(13, 'replSetStepDown may only be run against the admin database.');
    const force = body.force !== undefined && V.truthy(body.force);
    const first = body.replSetStepDown;
    let secs = V.isNumber(first) ? Math.trunc(V.toDouble(first)) : 0;
    if (secs === 0) secs = 60;
    else if (secs < 0) throw new MongoError(2, 'stepdown period must be a positive integer');
    let catchUp;
    if (body.secondaryCatchUpPeriodSecs === undefined) catchUp = force ? 0 : 10;
    else {
      if (!V.isNumber(body.secondaryCatchUpPeriodSecs)) {
        throw new MongoError(14, `"secondaryCatchUpPeriodSecs" had the wrong type. Expected long, found ${V.btype(body.secondaryCatchUpPeriodSecs)}`);
      }
      catchUp = Math.trunc(V.toDouble(body.secondaryCatchUpPeriodSecs));
    }
    if (catchUp < 0) throw new MongoError(2, 'secondaryCatchUpPeriodSecs period must be a positive or absent');
    if (secs < catchUp) throw new MongoError(2, 'stepdown period must be longer than secondaryCatchUpPeriodSecs');
    if (this.state !== 'PRIMARY' || this.attemptingStepDown) throw new MongoError(10107, "not primary so can't step down");
    if (force) {
      this.becomeSecondary(secs);
      return { ok: V.mkDouble(1) };
    }
    // No secondary can ever catch up: wait out the catch-up period, writes refused meanwhile.
    this.attemptingStepDown = true;
    this.changed();
    return new Promise((resolve, reject) => {
      setTimeout(() => {
        this.attemptingStepDown = false;
        this.changed();
        reject(new MongoError(262, `No electable secondaries caught up as of ${new Date().toISOString()}. Please use the replSetStepDown command with the argument {force: true} to force node to step down.`));
      }, catchUp * 1000);
    });
  }

  becomeSecondary(secs) {
    this.state = 'SECONDARY';
    this.changed();
    clearTimeout(this.stepDownTimer);
    this.stepDownTimer = setTimeout(() => this.electSelf(), secs * 1000);
    this.stepDownTimer.unref();
  }

  electSelf() {
    this.term += 1;
    this.electionId = electionIdFor(this.term);
    this.electionDate = new Date();
    this.state = 'PRIMARY';
    this.tick(); // a new primary writes a no-op "new primary" oplog entry
    this.changed();
  }

  status(body, ctx) {
    if (!this.isReplSet) throw new MongoError(76, 'not running with --replSet');
    if (ctx.db !== 'admin') throw new MongoError(13, 'replSetGetStatus may only be run against the admin database.');
    const primary = this.state === 'PRIMARY';
    const op = this.opTime();
    const member = {
      _id: V.mkInt(0), name: this.host, health: V.mkDouble(1), state: V.mkInt(primary ? 1 : 2), stateStr: this.state,
      uptime: V.mkInt(Math.floor((Date.now() - this.startedAt) / 1000)), optime: op, optimeDate: this.lastWriteDate,
      lastAppliedWallTime: this.lastWriteDate, lastDurableWallTime: this.lastWriteDate,
      syncSourceHost: '', syncSourceId: V.mkInt(-1), infoMessage: '', configVersion: V.mkInt(1), configTerm: V.mkLong(BigInt(this.term)), self: true,
    };
    if (primary) Object.assign(member, { electionTime: new Timestamp({ t: Math.floor(this.electionDate / 1000), i: 1 }), electionDate: this.electionDate });
    return {
      set: this.name, date: new Date(), myState: V.mkInt(primary ? 1 : 2), term: V.mkLong(BigInt(this.term)),
      syncSourceHost: '', syncSourceId: V.mkInt(-1), heartbeatIntervalMillis: V.mkLong(2000n),
      majorityVoteCount: V.mkInt(1), writeMajorityCount: V.mkInt(1), votingMembersCount: V.mkInt(1), writableVotingMembersCount: V.mkInt(1),
      optimes: { lastCommittedOpTime: op, lastCommittedWallTime: this.lastWriteDate, appliedOpTime: op, durableOpTime: op,
        lastAppliedWallTime: this.lastWriteDate, lastDurableWallTime: this.lastWriteDate },
      members: [member], ok: V.mkDouble(1),
    };
  }
}

module.exports = { ReplSet, WRITES, READS };
