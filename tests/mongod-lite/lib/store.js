'use strict';
// In-memory databases, collections and indexes. Every write goes through insertDoc,
// replaceDoc or removeDoc, which keep the unique indexes exact: a write that would
// duplicate a key fails with 11000 and changes nothing (MONGODB-RULES 9, 13-16).
const V = require('./values');
const paths = require('./paths');
const { matches, candidates } = require('./query');
const { MongoError } = require('./errors');

const MAX_BSON = 16 * 1024 * 1024;

function keyValueDoc(index, values) {
  const out = {};
  Object.keys(index.key).forEach((f, i) => { out[f] = values[i] === undefined ? null : values[i]; });
  return out;
}

class Index {
  constructor(spec) {
    this.spec = spec; // {v, key, name, unique?, sparse?, partialFilterExpression?, expireAfterSeconds?}
    this.key = spec.key;
    this.name = spec.name;
    this.fields = Object.keys(spec.key);
    this.unique = spec.unique === true;
    this.entries = new Map(); // canonKey -> doc (unique indexes and _id_)
  }

  // The key tuples of doc in this index ([] when doc is not in the index). An array
  // field makes one tuple per element (a multikey index).
  keysOf(doc) {
    if (this.spec.partialFilterExpression && !matches(doc, this.spec.partialFilterExpression, { now: new Date() })) return [];
    const perField = this.fields.map((f) => {
      const parts = f.split('.');
      const vals = candidates(doc, parts).filter((v, i, all) => !(Array.isArray(v) && all.length > 1));
      return vals.length ? vals : [undefined];
    });
    if (this.spec.sparse && perField.every((vals) => vals.every((v) => v === undefined))) return [];
    let tuples = [[]];
    for (const vals of perField) {
      const next = [];
      for (const t of tuples) for (const v of vals) next.push([...t, v]);
      tuples = next;
    }
    const seen = new Map();
    for (const t of tuples) seen.set(paths.canonKey(t.map((v) => (v === undefined ? null : v))), t);
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
    return this.indexes[0].entries.get(paths.canonKey([id])) || null;
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
        if (!idx.unique && idx.name !== '_id_') continue;
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
      if (!idx.unique && idx.name !== '_id_') continue;
      for (const [k] of idx.keysOf(doc)) if (idx.entries.get(k) === doc) idx.entries.delete(k);
    }
  }

  insertDoc(doc) {
    this.checkSize(doc);
    this.indexDoc(doc);
    this.docs.push(doc);
  }

  replaceDoc(oldDoc, newDoc) {
    this.checkSize(newDoc);
    this.unindexDoc(oldDoc);
    try {
      this.indexDoc(newDoc);
    } catch (e) {
      this.indexDoc(oldDoc);
      throw e;
    }
    this.docs[this.docs.indexOf(oldDoc)] = newDoc;
  }

  removeDoc(doc) {
    this.unindexDoc(doc);
    this.docs.splice(this.docs.indexOf(doc), 1);
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
  constructor(name) {
    this.name = name;
    this.collections = new Map();
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

const OPTION_FIELDS = ['unique', 'sparse', 'partialFilterExpression', 'expireAfterSeconds'];

function normalizeSpec(raw, collName) {
  if (!V.isPlainObject(raw)) throw new MongoError(14, "'indexes' must be an array of objects");
  for (const k of Object.keys(raw)) {
    if (!['key', 'name', 'unique', 'sparse', 'partialFilterExpression', 'expireAfterSeconds', 'background', 'v', 'hidden', 'ns'].includes(k)) {
      throw new MongoError(197, `The field '${k}' is not valid for an index specification. Specification: ${V.show(raw)}`);
    }
  }
  if (!V.isPlainObject(raw.key) || Object.keys(raw.key).length === 0) {
    throw new MongoError(67, `Error in specification ${V.show(raw)} :: caused by :: The 'key' field must be a non-empty object`);
  }
  if (typeof raw.name !== 'string' || raw.name === '') {
    throw new MongoError(9, `Error in specification ${V.show(raw)} :: caused by :: The 'name' field is a required property of an index specification`);
  }
  for (const [f, d] of Object.entries(raw.key)) {
    if (!V.isNumber(d) || V.toDouble(d) === 0) {
      throw new MongoError(67, `Error in specification ${V.show(raw)} :: caused by :: Values in the index key pattern can only be positive or negative numbers (this test server supports no special index types): ${f}`);
    }
  }
  const spec = { v: V.mkInt(2), key: raw.key, name: raw.name };
  if (raw.unique !== undefined && V.truthy(raw.unique)) spec.unique = true;
  if (raw.sparse !== undefined && V.truthy(raw.sparse)) spec.sparse = true;
  if (raw.partialFilterExpression !== undefined) {
    if (spec.sparse) throw new MongoError(67, 'cannot mix "partialFilterExpression" and "sparse" options');
    checkPartialFilter(raw.partialFilterExpression);
    spec.partialFilterExpression = raw.partialFilterExpression;
  }
  const isId = Object.keys(raw.key).length === 1 && '_id' in raw.key;
  if (raw.expireAfterSeconds !== undefined) {
    if (isId) throw new MongoError(67, "The field 'expireAfterSeconds' is not valid for an _id index specification.");
    if (Object.keys(raw.key).length !== 1) throw new MongoError(67, 'TTL indexes are single-field indexes, compound indexes do not support TTL.');
    const s = raw.expireAfterSeconds;
    if (!V.isNumber(s) || V.toDouble(s) < 0 || !Number.isInteger(V.toDouble(s))) {
      throw new MongoError(67, `TTL index 'expireAfterSeconds' option must be numeric and non-negative: ${V.show(s)}`);
    }
    spec.expireAfterSeconds = V.mkInt(V.toDouble(s));
  }
  if (isId && (spec.unique || spec.sparse || spec.partialFilterExpression)) {
    throw new MongoError(67, `The field '${spec.unique ? 'unique' : spec.sparse ? 'sparse' : 'partialFilterExpression'}' is not valid for an _id index specification.`);
  }
  void collName;
  return spec;
}

const sameKey = (a, b) => V.equal(a.key, b.key);
const sameOptions = (a, b) => OPTION_FIELDS.every((f) => (a[f] === undefined && b[f] === undefined) || (a[f] !== undefined && b[f] !== undefined && V.equal(a[f], b[f])));

class Store {
  constructor() {
    this.dbs = new Map();
    this.ttlSecs = 60;
  }

  db(name, create) {
    checkDbName(name);
    let d = this.dbs.get(name);
    if (!d && create) {
      d = new Database(name);
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

  dropCollection(dbName, name) {
    const d = this.db(dbName, false);
    return d ? d.collections.delete(name) : false;
  }

  // createIndexes for one collection. Returns {created: n, before, after}.
  createIndexes(coll, rawSpecs) {
    const specs = rawSpecs.map((r) => normalizeSpec(r, coll.name));
    const before = coll.indexes.length;
    const toBuild = [];
    for (const spec of specs) {
      const byName = coll.indexes.find((i) => i.name === spec.name);
      if (byName) {
        if (!sameKey(byName.spec, spec)) {
          throw new MongoError(86, `An existing index has the same name as the requested index. When index names are not specified, they are auto generated and can cause conflicts. Please refer to our documentation. Requested index: ${V.show(spec)}, existing index: ${V.show(byName.spec)}`);
        }
        if (!sameOptions(byName.spec, spec)) {
          throw new MongoError(85, `An existing index has the same name as the requested index. When index names are not specified, they are auto generated and can cause conflicts. Please refer to our documentation. Requested index: ${V.show(spec)}, existing index: ${V.show(byName.spec)}`);
        }
        continue;
      }
      const byKey = coll.indexes.find((i) => sameKey(i.spec, spec) &&
        ((i.spec.partialFilterExpression === undefined && spec.partialFilterExpression === undefined) ||
         (i.spec.partialFilterExpression !== undefined && spec.partialFilterExpression !== undefined && V.equal(i.spec.partialFilterExpression, spec.partialFilterExpression))));
      if (byKey) {
        if (sameOptions(byKey.spec, spec)) throw new MongoError(85, `Index already exists with a different name: ${byKey.name}`);
        throw new MongoError(85, `An equivalent index already exists with a different name and options. Requested index: ${V.show(spec)}, existing index: ${V.show(byKey.spec)}`);
      }
      if (toBuild.some((s) => s.name === spec.name)) throw new MongoError(68, `Identical index already exists: ${spec.name}`);
      toBuild.push(spec);
    }
    // Build every new index completely before adding any: a unique index over duplicates
    // fails with 11000 and leaves nothing behind (MONGODB-RULES 14).
    const built = [];
    for (const spec of toBuild) {
      const idx = new Index(spec);
      if (idx.unique) {
        for (const d of coll.docs) {
          for (const [k, tuple] of idx.keysOf(d)) {
            const other = idx.entries.get(k);
            if (other && other !== d) {
              const e = coll.dupError(idx, tuple);
              e.message = `Index build failed: ${coll.ns}: ${e.message}`;
              throw e;
            }
            idx.entries.set(k, d);
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
            const v = paths.get(doc, field);
            const dates = (Array.isArray(v) ? v : [v]).filter((x) => x instanceof Date);
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
