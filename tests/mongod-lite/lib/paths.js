// SPDX-License-Identifier: Apache-2.0
'use strict';
// Dotted paths in documents, and canonical keys for index entries and grouping.
const V = require('./values');
const { MongoError } = require('./errors');

function get(doc, path) {
  let cur = doc;
  for (const p of path.split('.')) {
    if (Array.isArray(cur) && /^\d+$/.test(p)) cur = cur[Number(p)];
    else if (V.isPlainObject(cur) && Object.prototype.hasOwnProperty.call(cur, p)) cur = cur[p];
    else return undefined;
  }
  return cur;
}

// Sets doc.path = value, creating objects on the way (update_executor's "create path").
function set(doc, path, value) {
  const parts = path.split('.');
  let cur = doc;
  for (let i = 0; i < parts.length - 1; i++) {
    const p = parts[i];
    let next;
    if (Array.isArray(cur) && /^\d+$/.test(p)) next = cur[Number(p)];
    else if (Array.isArray(cur)) {
      throw new MongoError(28, `Cannot create field '${p}' in element {${parts.slice(0, i).join('.')}: ${V.show(cur)}}`);
    } else next = Object.prototype.hasOwnProperty.call(cur, p) ? cur[p] : undefined;
    if (next === undefined) {
      next = {};
      assign(cur, p, next);
    } else if (!V.isPlainObject(next) && !Array.isArray(next)) {
      throw new MongoError(28, `Cannot create field '${parts[i + 1]}' in element {${p}: ${V.show(next)}}`);
    }
    cur = next;
  }
  assign(cur, parts[parts.length - 1], value);
}

function assign(container, key, value) {
  if (Array.isArray(container)) {
    if (!/^\d+$/.test(key)) throw new MongoError(28, `Cannot create field '${key}' in element {${V.show(container)}}`);
    const idx = Number(key);
    // update/path_support.cpp kMaxPaddingAllowed: never pad more than 1500000 nulls.
    if (idx - container.length > 1500000) throw new MongoError(34, "can't backfill more than 1500000 elements");
    while (container.length < idx) container.push(null);
    container[idx] = value;
    return;
  }
  Object.defineProperty(container, key, { value, writable: true, enumerable: true, configurable: true });
}

function unset(doc, path) {
  const parts = path.split('.');
  let cur = doc;
  for (let i = 0; i < parts.length - 1; i++) {
    if (Array.isArray(cur) && /^\d+$/.test(parts[i])) cur = cur[Number(parts[i])];
    else if (V.isPlainObject(cur)) cur = cur[parts[i]];
    else return false;
    if (cur === undefined || cur === null) return false;
  }
  const last = parts[parts.length - 1];
  if (Array.isArray(cur) && /^\d+$/.test(last)) {
    if (Number(last) < cur.length) { cur[Number(last)] = null; return true; }
    return false;
  }
  if (V.isPlainObject(cur) && Object.prototype.hasOwnProperty.call(cur, last)) {
    delete cur[last];
    return true;
  }
  return false;
}

// A string equal for exactly the values that compare equal: 1, NumberLong(1) and 1.0
// share a key, "1" does not (indexes compare numbers by value).
function canonKey(v) {
  const t = V.btype(v);
  switch (t) {
    case 'missing': case 'null': return 'N';
    case 'int': case 'long': case 'double': case 'decimal': return `n${V.numberKey(v)}`;
    case 'string': return `s${JSON.stringify(v)}`;
    case 'bool': return v ? 'T' : 'F';
    case 'date': return `d${v.getTime()}`;
    case 'objectId': return `o${v.toHexString()}`;
    case 'array': return `[${v.map(canonKey).join(',')}]`;
    case 'object': return `{${Object.keys(v).map((k) => `${JSON.stringify(k)}:${canonKey(v[k])}`).join(',')}}`;
    case 'binData': return `b${v.sub_type}:${Buffer.from(v.buffer).toString('hex')}`;
    default: return `${t}:${V.show(v)}`;
  }
}

// An empty array is keyed as the BSON value undefined: distinct from null/missing, and
// equal to another empty array (src/mongo/db/index/btree_key_generator.cpp).
const EMPTY_ARRAY = Symbol('empty array');

// The index (and sort) key values of one path: the elements of an array at the end of
// the path (a nested array stays one value), values inside arrays of subdocuments along
// the way, undefined where the path is missing.
function pathKeys(cur, parts, i, out) {
  if (i === parts.length) {
    if (!Array.isArray(cur)) out.push(cur);
    else if (cur.length === 0) out.push(EMPTY_ARRAY);
    else for (const el of cur) out.push(el);
    return;
  }
  if (Array.isArray(cur)) {
    if (/^\d+$/.test(parts[i]) && Number(parts[i]) < cur.length) {
      pathKeys(cur[Number(parts[i])], parts, i + 1, out);
      return;
    }
    if (cur.length === 0) { out.push(undefined); return; }
    for (const el of cur) pathKeys(el, parts, i, out);
    return;
  }
  if (!V.isPlainObject(cur) || !Object.prototype.hasOwnProperty.call(cur, parts[i])) {
    out.push(undefined);
    return;
  }
  pathKeys(cur[parts[i]], parts, i + 1, out);
}

module.exports = { get, set, unset, canonKey, assign, pathKeys, EMPTY_ARRAY };
