// SPDX-License-Identifier: Apache-2.0
'use strict';
// In-memory databases, collections and indexes. Every write goes through insertDoc,
// replaceDoc or removeDoc, which keep the unique indexes exact: a write that would
// duplicate a key fails with 11000 and changes nothing (MONGODB-RULES 9, 13-16). Each
// write that succeeded, and each drop, is then told to Store.observers (the change
// streams' log: one place, so no write path is missed).
const V = require('./values');
const paths = require('./paths');
const { matches, candidates } = require('./query');
const { MongoError } = require('./errors');

const MAX_BSON = 16 * 1024 * 1024;

const { EMPTY_ARRAY, pathKeys } = paths;

function keyValueDoc(index, values) {
  const out = {};
  Object.keys(index.key).forEach((f, i) => {
    const v = values[i];
    V.setOwn(out, f, v === undefined || v === EMPTY_ARRAY ? null : v);
  });
  return out;
}

// The first array met along a path ('a' for {a: [{b: 1}]} and path a.b), or null.
function firstArrayPrefix(doc, parts) {
  let cur = doc;
  for (let i = 0; i < parts.length; i++) {
    if (!V.isPlainObject(cur) || !Object.prototype.hasOwnProperty.call(cur, parts[i])) return null;
    cur = cur[parts[i]];
    if (Array.isArray(cur)) return parts.slice(0, i + 1).join('.');
  }
  return null;
}

class Index {
  constructor(spec) {
    this.spec = spec; // as listIndexes shows it
    this.key = spec.key;
    this.name = spec.name;
    this.fields = Object.keys(spec.key);
    this.unique = spec.unique === true || this.name === '_id_';
    this.sparse = spec.sparse !== undefined && V.truthy(spec.sparse);
    this.partial = spec.partialFilterExpression;
    this.entries = new Map(); // canonKey -> doc (unique indexes and _id_)
  }

  // The key tuples of doc in this index ([] when doc is not in the index). An array
  // field makes one tuple per element (a multikey index). A compound index cannot hold
  // two different arrays of one document: 171 CannotIndexParallelArrays, for any index,
  // unique or not (btree_key_generator.cpp "cannot index parallel arrays [b] [a]"). Only
  // the common case is modelled: two fields whose first arrays are at different paths.
  keysOf(doc) {
    if (this.fields.length > 1) {
      let seen = null;
      for (const f of this.fields) {
        const p = firstArrayPrefix(doc, f.split('.'));
        if (p === null) continue;
        if (seen !== null && seen !== p) {
          throw new MongoError(171, `cannot index parallel arrays [${p.split('.').pop()}] [${seen.split('.').pop()}]`);
        }
        seen = p;
      }
    }
    if (this.partial && !matches(doc, this.partial, { now: new Date() })) return [];
    const perField = this.fields.map((f) => {
      const vals = [];
      pathKeys(doc, f.split('.'), 0, vals);
      return vals;
    });
    if (this.sparse && perField.every((vals) => vals.every((v) => v === undefined))) return [];
    let tuples = [[]];
    for (const vals of perField) {
      const next = [];
      for (const t of tuples) for (const v of vals) next.push([...t, v]);
      tuples = next;
    }
    const seen = new Map();
    for (const t of tuples) {
      seen.set(t.map((v) => (v === EMPTY_ARRAY ? 'U' : paths.canonKey(v === undefined ? null : v))).join('|'), t);
    }
    return [...seen.entries()];
  }
}

class Collection {
  constructor(db, name) {
    this.db = db;
    this.name = name;
    this.docs = [];
    this.indexes = [new Index({ v: V.mkInt(2), key: { _id: V.mkInt(1) }, name: '_id_' })];
    this.uuid = new V.Binary(require('crypto').randomBytes(16), 4);
  }

  get ns() { return `${this.db.name}.${this.name}`; }

  findById(id) {
    return this.indexes[0].entries.get(paths.canonKey(id)) || null;
  }

  dupError(index, values) {
    const kv = keyValueDoc(index, values);
    return new MongoError(11000,
      `E11000 duplicate key error collection: ${this.ns} index: ${index.name} dup key: ${V.show(kv)}`,
      { keyPattern: index.key, keyValue: kv });
  }

  checkSize(doc) {
    const { BSON } = require('bson');
    const size = BSON.calculateObjectSize(doc);
    if (size > MAX_BSON) throw new MongoError(10334, `BSONObj size: ${size} (0x${size.toString(16)}) is invalid. Size must be between 0 and 16793600(16MB)`);
  }

  // Adds doc's keys to the unique indexes, or throws 11000 and adds nothing.
  indexDoc(doc) {
    const added = [];
    try {
      for (const idx of this.indexes) {
        if (!idx.unique) {
          if (idx.fields.length > 1) idx.keysOf(doc); // throws for parallel arrays
          continue;
        }
        for (const [k, tuple] of idx.keysOf(doc)) {
          const other = idx.entries.get(k);
          if (other && other !== doc) throw this.dupError(idx, tuple);
          if (!other) { idx.entries.set(k, doc); added.push([idx, k]); }
        }
      }
    } catch (e) {
      for (const [idx, k] of added) idx.entries.delete(k);
      throw e;
    }
  }

  unindexDoc(doc) {
    for (const idx of this.indexes) {
      if (!idx.unique) continue;
      for (const [k] of idx.keysOf(doc)) if (idx.entries.get(k) === doc) idx.entries.delete(k);
    }
  }

  insertDoc(doc) {
    this.checkSize(doc);
    this.indexDoc(doc);
    this.docs.push(doc);
    this.db.changed({ op: 'insert', coll: this, doc });
  }

  // how (optional): {kind: 'operators'|'pipeline'|'replacement', u} - the update that
  // made newDoc, which decides how a change stream describes it.
  replaceDoc(oldDoc, newDoc, how) {
    this.checkSize(newDoc);
    this.unindexDoc(oldDoc);
    try {
      this.indexDoc(newDoc);
    } catch (e) {
      this.indexDoc(oldDoc);
      throw e;
    }
    this.docs[this.docs.indexOf(oldDoc)] = newDoc;
    this.db.changed({ op: 'update', coll: this, before: oldDoc, after: newDoc, how });
  }

  removeDoc(doc) {
    this.unindexDoc(doc);
    this.docs.splice(this.docs.indexOf(doc), 1);
    this.db.changed({ op: 'delete', coll: this, doc });
  }

  // Documents matching filter, in natural order; uses the _id index for {_id: value}.
  find(filter, ctx) {
    if (filter && Object.keys(filter).length === 1 && '_id' in filter) {
      const id = filter._id;
      const t = V.btype(id);
      if (t !== 'object' && t !== 'array' && t !== 'regex' && t !== 'null') {
        const d = this.findById(id);
        return d ? [d] : [];
      }
    }
    return this.docs.filter((d) => matches(d, filter || {}, ctx));
  }
}

class Database {
  constructor(name, store) {
    this.name = name;
    this.collections = new Map();
    this.store = store;
  }

  changed(ev) {
    if (this.store) for (const f of this.store.observers) f(ev);
  }
}

function checkDbName(name) {
  if (typeof name !== 'string' || name.length === 0 || name.length >= 64 || /[/\\. "$\0]/.test(name)) {
    throw new MongoError(73, `Invalid database name: '${name}'`);
  }
}

function checkCollName(db, name) {
  if (typeof name !== 'string') throw new MongoError(73, 'collection name has invalid type');
  if (name.length === 0 || name.includes('\0') || name.startsWith('.') || (name.includes('$'))) {
    throw new MongoError(73, `Invalid namespace specified '${db}.${name}'`);
  }
  if (name.startsWith('system.')) throw new MongoError(73, `Invalid system namespace: ${db}.${name}`);
}

// Operators a partialFilterExpression may use (MONGODB-RULES 15; $or and $in since 6.0).
function checkPartialFilter(f, top = true) {
  if (!V.isPlainObject(f)) throw new MongoError(67, 'partialFilterExpression for an index must be a document');
  for (const [k, v] of Object.entries(f)) {
    if (k === '$and' || k === '$or') {
      if (!Array.isArray(v)) throw new MongoError(2, `${k} must be an array`);
      v.forEach((s) => checkPartialFilter(s, false));
      continue;
    }
    if (k.startsWith('$')) throw new MongoError(67, `Expression not supported in partial index: ${k}`);
    // {f: /x/} is a regex match, not an equality (index_catalog_impl.cpp _checkValidFilterExpressions).
    if (V.btype(v) === 'regex') throw new MongoError(67, `Expression not supported in partial index: ${k} regex ${V.show(v)}`);
    if (V.isPlainObject(v) && Object.keys(v).some((o) => o.startsWith('$'))) {
      for (const [op, arg] of Object.entries(v)) {
        const ok = ['$eq', '$gt', '$gte', '$lt', '$lte', '$type', '$in'].includes(op) || (op === '$exists' && V.truthy(arg));
        if (!ok) throw new MongoError(67, `Expression not supported in partial index: ${k} ${V.show({ [op]: arg })}`);
      }
    }
  }
  void top;
}

// Index spec fields (index_key_validate.cpp allowedFieldNames). Those this server does
// not implement are refused, never ignored.
const SPEC_FIELDS = new Set(['key', 'name', 'unique', 'sparse', 'partialFilterExpression', 'expireAfterSeconds',
  'background', 'v', 'hidden', 'ns']);
const UNSUPPORTED_SPEC_FIELDS = new Set(['collation', 'storageEngine', 'weights', 'default_language', 'language_override',
  'textIndexVersion', '2dsphereIndexVersion', 'bits', 'min', 'max', 'bucketSize', 'wildcardProjection',
  'columnstoreProjection', 'columnstoreCompressor', 'coarsestIndexedLevel', 'finestIndexedLevel', 'dropDups',
  'originalSpec', 'clustered', 'prepareUnique']);
const MAX_INDEXES = 64;

const isBoolish = (v) => V.btype(v) === 'bool' || V.isNumber(v);

// Validates a createIndexes spec as mongod 7.0 does (index_key_validate.cpp validateIndexSpec,
// validateKeyPattern, validateExpireAfterSeconds; create_indexes_cmd.cpp) and returns it the
// way listIndexes shows it: the fields in list_indexes.idl order (v, key, name, background,
// unique, hidden, partialFilterExpression, sparse, expireAfterSeconds), booleans as bool,
// expireAfterSeconds as int32 (safeBool/safeInt), unique and hidden only when true
// (IndexCatalogImpl::_fixIndexSpec).
function normalizeSpec(raw) {
  if (!V.isPlainObject(raw)) throw new MongoError(14, "'indexes' must be an array of objects");
  const ctx = `Error in specification ${V.show(raw)} :: caused by :: `;
  for (const k of Object.keys(raw)) {
    if (UNSUPPORTED_SPEC_FIELDS.has(k)) throw new MongoError(67, `${ctx}the index option '${k}' is not supported by this test server`);
    if (!SPEC_FIELDS.has(k)) {
      throw new MongoError(197, `${ctx}The field '${k}' is not valid for an index specification. Specification: ${V.show(raw)}`);
    }
  }
  for (const [k, v] of Object.entries(raw)) {
    const t = V.btype(v);
    if ((k === 'key' || k === 'partialFilterExpression') && !V.isPlainObject(v)) {
      throw new MongoError(14, `${ctx}The field '${k}' must be an object, but got ${t}`);
    }
    if (k === 'name' && t !== 'string') throw new MongoError(14, `${ctx}The field 'name' must be a string, but got ${t}`);
    if (k === 'hidden' && t !== 'bool') throw new MongoError(14, `${ctx}The field 'hidden' must be a bool, but got ${t}`);
    if (['unique', 'sparse', 'background'].includes(k) && !isBoolish(v)) {
      throw new MongoError(14, `${ctx}The field '${k} has value ${V.show(v)}, which is not convertible to bool`);
    }
    if (k === 'v') {
      if (!V.isNumber(v)) throw new MongoError(14, `${ctx}The field 'v' must be a number, but got ${t}`);
      if (V.toDouble(v) !== 1 && V.toDouble(v) !== 2) {
        throw new MongoError(67, `${ctx}Invalid index specification ${V.show(raw)}; cannot create an index with v=${V.show(v)}`);
      }
    }
  }
  if (raw.key === undefined) throw new MongoError(9, `${ctx}The 'key' field is a required property of an index specification`);
  const fields = Object.keys(raw.key);
  if (fields.length === 0) throw new MongoError(67, `${ctx}Index keys cannot be empty.`);
  for (const [f, d] of Object.entries(raw.key)) {
    if (V.btype(d) === 'string') {
      throw new MongoError(67, `${ctx}special index types ('${d}') are not supported by this test server`);
    }
    if (!V.isNumber(d)) {
      throw new MongoError(67, `${ctx}Values in v:2 index key pattern cannot be of type ${V.btype(d)}. Only numbers > 0, numbers < 0, and strings are allowed.`);
    }
    if (Number.isNaN(V.toDouble(d))) throw new MongoError(67, `${ctx}Values in the index key pattern cannot be NaN.`);
    if (V.toDouble(d) === 0) throw new MongoError(67, `${ctx}Values in the index key pattern cannot be 0.`);
    if (f === '') throw new MongoError(67, `${ctx}Index keys cannot be an empty field.`);
    for (const part of f.split('.')) {
      if (part === '') throw new MongoError(67, `${ctx}Index keys cannot contain an empty field.`);
      if (part.startsWith('$')) throw new MongoError(67, `${ctx}Index key contains an illegal field name: field name starts with '$'.`);
    }
  }
  if (raw.name === undefined) throw new MongoError(9, `${ctx}The 'name' field is a required property of an index specification`);
  if (raw.name === '') throw new MongoError(67, `${ctx}index name cannot be empty`);
  const isId = fields.length === 1 && fields[0] === '_id' && V.toDouble(raw.key._id) === 1;
  if (isId) {
    // validateIdIndexSpec: only v, key, name (and ns, collation) are allowed.
    for (const k of Object.keys(raw)) {
      if (!['v', 'key', 'name', 'ns'].includes(k)) {
        throw new MongoError(197, `The field '${k}' is not valid for an _id index specification. Specification: ${V.show(raw)}`);
      }
    }
  } else {
    if (raw.name === '_id_') {
      throw new MongoError(2, `The index name '_id_' is reserved for the _id index, which must have key pattern {_id: 1}, found ${V.show(raw.key)}`);
    }
    if (raw.name === '*') throw new MongoError(2, "The index name '*' is not valid.");
  }
  if (raw.partialFilterExpression !== undefined) {
    if (raw.sparse !== undefined && V.truthy(raw.sparse)) {
      throw new MongoError(67, `${ctx}cannot mix "partialFilterExpression" and "sparse" options`);
    }
    checkPartialFilter(raw.partialFilterExpression);
  }
  if (raw.expireAfterSeconds !== undefined) {
    const s = raw.expireAfterSeconds;
    const ttl = `TTL index 'expireAfterSeconds' option`;
    if (!V.isNumber(s)) throw new MongoError(67, `${ttl} must be numeric, but received a type of '${V.btype(s)}'. Index spec: ${V.show(raw)}`);
    const d = V.toDouble(s);
    if (Number.isNaN(d)) throw new MongoError(67, `${ttl} must not be NaN. Index spec: ${V.show(raw)}`);
    if (Math.trunc(d) < V.INT32_MIN || Math.trunc(d) > V.INT32_MAX) {
      throw new MongoError(67, `TTL index 'expireAfterSeconds' must be within the range of a 32-bit integer. Index spec: ${V.show(raw)}`);
    }
    if (d < 0) throw new MongoError(67, `${ttl} cannot be less than 0. Index spec: ${V.show(raw)}`);
    if (fields.length !== 1) {
      throw new MongoError(67, `TTL indexes are single-field indexes, compound indexes do not support TTL. Index spec: ${V.show(raw)}`);
    }
  }
  const spec = { v: V.mkInt(raw.v === undefined ? 2 : V.toDouble(raw.v)), key: raw.key, name: raw.name };
  if (raw.background !== undefined) spec.background = V.truthy(raw.background);
  if (raw.unique !== undefined && V.truthy(raw.unique)) spec.unique = true;
  if (raw.hidden === true) spec.hidden = true;
  if (raw.partialFilterExpression !== undefined) spec.partialFilterExpression = raw.partialFilterExpression;
  if (raw.sparse !== undefined) spec.sparse = V.truthy(raw.sparse);
  if (raw.expireAfterSeconds !== undefined) spec.expireAfterSeconds = V.mkInt(Math.trunc(V.toDouble(raw.expireAfterSeconds)));
  return { spec, raw };
}

// {f: v} and {f: {$eq: v}} are the same filter (MatchExpression::equivalent after
// parseAndNormalize); other rewrites of a filter count as different here.
function normalizeFilter(f) {
  if (Array.isArray(f)) return f.map(normalizeFilter);
  if (!V.isPlainObject(f)) return f;
  const out = {};
  for (const [k, v] of Object.entries(f)) {
    if (k.startsWith('$')) V.setOwn(out, k, normalizeFilter(v));
    else if (V.isPlainObject(v) && Object.keys(v).length && Object.keys(v)[0].startsWith('$')) V.setOwn(out, k, normalizeFilter(v));
    else if (V.btype(v) === 'regex') V.setOwn(out, k, v);
    else V.setOwn(out, k, { $eq: v });
  }
  return out;
}

// IndexDescriptor::compareIndexOptions (5.0+): the key pattern, unique, sparse,
// partialFilterExpression (and collation) identify an index, so differing in any of them
// is 'different'; then any other option (expireAfterSeconds here) differing makes it
// 'equivalent', else 'identical'. background, hidden and v are not compared.
function compareIndexes(candidate, existing) {
  if (!V.equal(candidate.key, existing.key)) return 'different';
  const truth = (s, f) => s[f] !== undefined && V.truthy(s[f]);
  if (truth(candidate, 'unique') !== truth(existing, 'unique')) return 'different';
  if (truth(candidate, 'sparse') !== truth(existing, 'sparse')) return 'different';
  const pa = candidate.partialFilterExpression, pb = existing.partialFilterExpression;
  if ((pa === undefined) !== (pb === undefined)) return 'different';
  if (pa !== undefined && !V.equal(normalizeFilter(pa), normalizeFilter(pb))) return 'different';
  const ea = candidate.expireAfterSeconds, eb = existing.expireAfterSeconds;
  if ((ea === undefined) !== (eb === undefined) || (ea !== undefined && !V.equal(ea, eb))) return 'equivalent';
  return 'identical';
}

class Store {
  constructor() {
    this.dbs = new Map();
    this.ttlSecs = 60;
    this.observers = []; // functions told of every write and drop, after it succeeded
  }

  db(name, create) {
    checkDbName(name);
    let d = this.dbs.get(name);
    if (!d && create) {
      d = new Database(name, this);
      this.dbs.set(name, d);
    }
    return d || null;
  }

  coll(dbName, name, create) {
    checkCollName(dbName, name);
    const d = this.db(dbName, create);
    if (!d) return null;
    let c = d.collections.get(name);
    if (!c && create) {
      c = new Collection(d, name);
      d.collections.set(name, c);
    }
    return c || null;
  }

  // quiet: undoing a collection this command created (no drop is reported).
  dropCollection(dbName, name, quiet = false) {
    const d = this.db(dbName, false);
    const c = d ? d.collections.get(name) : undefined;
    if (!c) return false;
    d.collections.delete(name);
    if (!quiet) d.changed({ op: 'drop', coll: c });
    return true;
  }

  // dropDatabase drops each collection, then the database (each a change event).
  dropDatabase(dbName) {
    const d = this.db(dbName, false);
    if (!d) return false;
    for (const name of [...d.collections.keys()]) this.dropCollection(dbName, name);
    this.dbs.delete(dbName);
    d.changed({ op: 'dropDatabase', db: dbName });
    return true;
  }

  // createIndexes for one collection. Returns {created: n, before, after}. Conflicts as
  // in IndexCatalogImpl::_doesSpecConflictWithExisting: an index of the same name that is
  // 'different' is 86 IndexKeySpecsConflict, 'equivalent' is 85 IndexOptionsConflict,
  // 'identical' is a no-op; an index of another name that is not 'different' is 85. So on
  // 5.0+ the same key may be indexed twice with different unique/sparse/partial options.
  createIndexes(coll, rawSpecs) {
    const specs = rawSpecs.map((r) => normalizeSpec(r).spec);
    const before = coll.indexes.length;
    const toBuild = [];
    for (const spec of specs) {
      const all = coll.indexes.map((i) => i.spec).concat(toBuild);
      const byName = all.find((i) => i.name === spec.name);
      if (byName) {
        const c = compareIndexes(spec, byName);
        if (c === 'different') {
          throw new MongoError(86, `An existing index has the same name as the requested index. When index names are not specified, they are auto generated and can cause conflicts. Please refer to our documentation. Requested index: ${V.show(spec)}, existing index: ${V.show(byName)}`);
        }
        if (c === 'equivalent') {
          throw new MongoError(85, `An equivalent index already exists with the same name but different options. Requested index: ${V.show(spec)}, existing index: ${V.show(byName)}`);
        }
        if (toBuild.includes(byName)) throw new MongoError(68, `Identical index already exists: ${spec.name}`);
        continue;
      }
      const byKey = all.find((i) => compareIndexes(spec, i) !== 'different');
      if (byKey) {
        if (compareIndexes(spec, byKey) === 'identical') throw new MongoError(85, `Index already exists with a different name: ${byKey.name}`);
        throw new MongoError(85, `An equivalent index already exists with a different name and options. Requested index: ${V.show(spec)}, existing index: ${V.show(byKey)}`);
      }
      if (coll.indexes.length + toBuild.length >= MAX_INDEXES) {
        throw new MongoError(67, `add index fails, too many indexes for ${coll.ns} key:${V.show(spec.key)}`);
      }
      toBuild.push(spec);
    }
    // Build every new index completely before adding any: a unique index over duplicates
    // fails with 11000 and leaves nothing behind (MONGODB-RULES 14).
    const built = [];
    for (const spec of toBuild) {
      const idx = new Index(spec);
      if (idx.unique || idx.fields.length > 1) {
        for (const d of coll.docs) {
          for (const [k, tuple] of idx.keysOf(d)) {
            const other = idx.entries.get(k);
            if (other && other !== d) {
              const e = coll.dupError(idx, tuple);
              e.message = `Index build failed: ${coll.ns}: ${e.message}`;
              throw e;
            }
            if (idx.unique) idx.entries.set(k, d);
          }
        }
      }
      built.push(idx);
    }
    coll.indexes.push(...built);
    return { created: built.length, before, after: coll.indexes.length };
  }

  // Deletes documents whose TTL-indexed date is older than now - expireAfterSeconds.
  // Missing or non-date values never expire; for an array, the earliest date counts.
  ttlPass(now) {
    let removed = 0;
    for (const d of this.dbs.values()) {
      for (const c of d.collections.values()) {
        for (const idx of c.indexes) {
          if (idx.spec.expireAfterSeconds === undefined) continue;
          const limit = now.getTime() - V.toDouble(idx.spec.expireAfterSeconds) * 1000;
          const field = idx.fields[0];
          const victims = c.docs.filter((doc) => {
            if (idx.spec.partialFilterExpression && !matches(doc, idx.spec.partialFilterExpression, { now })) return false;
            const vals = [];
            pathKeys(doc, field.split('.'), 0, vals); // through arrays, as the index keys it
            const dates = vals.filter((x) => x instanceof Date);
            if (dates.length === 0) return false;
            return Math.min(...dates.map((x) => x.getTime())) <= limit;
          });
          for (const doc of victims) c.removeDoc(doc);
          removed += victims.length;
        }
      }
    }
    return removed;
  }
}

module.exports = { Store, MAX_BSON };
