// SPDX-License-Identifier: Apache-2.0
'use strict';
// collMod on an index: change a TTL index's expireAfterSeconds in place, or make a
// single-field index a TTL index (5.1+). Other modifications (hidden, unique, validators,
// views, capped sizes...) are refused as unsupported rather than ignored.
//
// References (MongoDB source, 6.0-8.0):
// - src/mongo/db/coll_mod.idl: the request and CollModIndex are strict IDL structs
//   (unknown field 40415; name string, keyPattern object, expireAfterSeconds safeInt,
//   hidden/unique/prepareUnique/forceNonUnique safeBool; a wrong type is 14).
// - src/mongo/db/catalog/coll_mod.cpp: _collModInternal fails 26 "ns does not exist" for a
//   missing database or collection before parseCollModRequest, which checks, in order:
//   name and keyPattern both or neither (72), nothing to modify (72), expireAfterSeconds
//   through index_key_validate::validateExpireAfterSeconds (72), the index by name or key
//   pattern (27; 181 when a key pattern matches several), then a TTL for an index without
//   one: not the _id index, not a compound index (72).
// - src/mongo/db/catalog/coll_mod_index.cpp: the reply's expireAfterSeconds_old (when the
//   index had one) and expireAfterSeconds_new, appended as long long (int64).
const V = require('./values');
const { MongoError } = require('./errors');

// CollModRequest's fields (coll_mod.idl); only 'index' is modelled.
const REQUEST_FIELDS = new Set(['index', 'validator', 'validationLevel', 'validationAction', 'viewOn', 'pipeline',
  'recordPreImages', 'changeStreamPreAndPostImages', 'expireAfterSeconds', 'timeseries', 'isTimeseriesNamespace',
  'dryRun', 'collectionUUID', 'cappedSize', 'cappedMax']);

// CollModIndex's fields and their IDL types.
const INDEX_FIELDS = {
  name: 'string', keyPattern: 'object', expireAfterSeconds: 'safeInt', hidden: 'safeBool', unique: 'safeBool',
  prepareUnique: 'safeBool', forceNonUnique: 'safeBool',
};

const EXPECTED = {
  string: "expected type 'string'",
  object: "expected type 'object'",
  safeInt: "expected types '[long, int, decimal, double]'",
  safeBool: "expected types '[bool, long, int, decimal, double]'",
};

function typeOk(v, want) {
  switch (want) {
    case 'string': return typeof v === 'string';
    case 'object': return V.isPlainObject(v);
    case 'safeInt': return V.isNumber(v);
    default: return V.btype(v) === 'bool' || V.isNumber(v);
  }
}

function typeErr(path, v, want) {
  return new MongoError(14, `BSON field '${path}' is the wrong type '${V.btype(v)}', ${EXPECTED[want]}`);
}

// IDL parsing of the whole request, before the namespace is looked at.
function parse(body, isGeneric) {
  const keys = Object.keys(body);
  const name = body[keys[0]];
  if (typeof name !== 'string') throw new MongoError(73, `collection name has invalid type ${V.btype(name)}`);
  const req = {};
  for (const k of keys.slice(1)) {
    if (isGeneric(k)) continue;
    if (!REQUEST_FIELDS.has(k)) throw new MongoError(40415, `BSON field 'collMod.${k}' is an unknown field.`);
    req[k] = body[k];
  }
  if (req.index !== undefined) {
    if (!typeOk(req.index, 'object')) throw typeErr('collMod.index', req.index, 'object');
    for (const [k, v] of Object.entries(req.index)) {
      const want = INDEX_FIELDS[k];
      if (!want) throw new MongoError(40415, `BSON field 'collMod.index.${k}' is an unknown field.`);
      if (!typeOk(v, want)) throw typeErr(`collMod.index.${k}`, v, want);
    }
  }
  return { name, req };
}

// index_key_validate::validateExpireAfterSeconds (kSecondaryTTLIndex). safeInt truncates a
// fractional value; NaN and values outside int32 are refused here (stricter than a clamp).
function expireAfterSeconds(v) {
  const d = V.toDouble(v);
  if (Number.isNaN(d)) throw new MongoError(72, "TTL index 'expireAfterSeconds' option must not be NaN");
  const n = Math.trunc(d);
  if (n < 0) throw new MongoError(72, "TTL index 'expireAfterSeconds' option cannot be less than 0");
  if (n > V.INT32_MAX) {
    throw new MongoError(72, "TTL index 'expireAfterSeconds' option must be within an acceptable range, try a lower number");
  }
  return n;
}

function findIndex(coll, ns, idx) {
  if (idx.name !== undefined) {
    const found = coll.indexes.find((i) => i.name === idx.name);
    if (!found) throw new MongoError(27, `cannot find index ${idx.name} for ns ${ns}`);
    return found;
  }
  const all = coll.indexes.filter((i) => V.equal(i.key, idx.keyPattern));
  if (all.length > 1) {
    throw new MongoError(181, `index keyPattern ${V.show(idx.keyPattern)} matches ${all.length} indexes, must use index name. ` +
      `Conflicting indexes:${V.show(all[0].spec)}, ${V.show(all[1].spec)}`);
  }
  if (all.length === 0) throw new MongoError(27, `cannot find index ${V.show(idx.keyPattern)} for ns ${ns}`);
  return all[0];
}

// Runs {collMod: name, ...} on store for ctx.db. isGeneric(field) tells the generic
// command arguments (writeConcern, lsid, ...) apart.
function collMod(store, body, ctx, isGeneric) {
  const { name, req } = parse(body, isGeneric);
  const ns = `${ctx.db}.${name}`;
  const coll = store.coll(ctx.db, name, false);
  if (!coll) throw new MongoError(26, 'ns does not exist');
  const unsupported = Object.keys(req).filter((k) => k !== 'index');
  if (unsupported.length) {
    throw new MongoError(2, `collMod option '${unsupported[0]}' is not supported by this test server (only 'index')`);
  }
  const reply = {};
  const idx = req.index;
  if (idx !== undefined) {
    if (idx.name !== undefined && idx.keyPattern !== undefined) throw new MongoError(72, 'Cannot specify both key pattern and name.');
    if (idx.name === undefined && idx.keyPattern === undefined) throw new MongoError(72, 'Must specify either index name or key pattern.');
    const changes = ['expireAfterSeconds', 'hidden', 'unique', 'prepareUnique', 'forceNonUnique'].filter((k) => idx[k] !== undefined);
    if (changes.length === 0) throw new MongoError(72, 'no expireAfterSeconds, hidden, unique, or prepareUnique field');
    const other = changes.find((k) => k !== 'expireAfterSeconds');
    if (other) throw new MongoError(2, `collMod index option '${other}' is not supported by this test server`);
    const secs = expireAfterSeconds(idx.expireAfterSeconds);
    const index = findIndex(coll, ns, idx);
    const old = index.spec.expireAfterSeconds;
    if (old === undefined) {
      if (index.name === '_id_') throw new MongoError(72, 'the _id field does not support TTL indexes');
      if (index.fields.length !== 1) {
        throw new MongoError(72, 'TTL indexes are single-field indexes, compound indexes do not support TTL');
      }
    } else {
      reply.expireAfterSeconds_old = V.mkLong(BigInt(Math.trunc(V.toDouble(old))));
    }
    index.spec.expireAfterSeconds = V.mkInt(secs);
    reply.expireAfterSeconds_new = V.mkLong(BigInt(secs));
  }
  reply.ok = V.mkDouble(1);
  return reply;
}

module.exports = { collMod };
