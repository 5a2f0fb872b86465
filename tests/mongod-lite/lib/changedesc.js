// SPDX-License-Identifier: Apache-2.0
'use strict';
// What an update changed, as a change stream reports it (updateDescription), computed
// from the document before and after and from the update itself:
//  - an update with operators is logged by MongoDB as the fields each operator touched
//    (update/update_node.cpp and its v2 delta log builder): a field set through a missing
//    parent reports the first missing parent with its new subtree; $unset and $rename
//    report removed fields; $push that only appended reports each appended element
//    ('arr.3'), other array operators report the whole array;
//  - a pipeline update is logged as the difference between the two documents
//    (doc_diff.cpp computeOplogDiff): changed fields at the deepest level where both
//    sides are documents, array elements by index, a shorter array in truncatedArrays;
//    when that difference is larger than the new document MongoDB logs a replacement,
//    and the stream reports a 'replace' event.
// A replacement-style update is always a 'replace' event.
const V = require('./values');
const { BSON } = require('bson');

// Byte equality: 1 and 1.0 differ here, as they do in the oplog.
function same(a, b) {
  if (a === undefined || b === undefined) return a === b;
  return BSON.serialize({ v: a }).equals(BSON.serialize({ v: b }));
}

const isObj = (v) => V.isPlainObject(v);

function at(doc, parts) {
  let cur = doc;
  for (const p of parts) {
    if (Array.isArray(cur) && /^\d+$/.test(p)) cur = cur[Number(p)];
    else if (isObj(cur) && Object.prototype.hasOwnProperty.call(cur, p)) cur = cur[p];
    else return undefined;
  }
  return cur;
}

function operatorDescription(before, after, u) {
  const updated = new Map();
  const removed = [];
  const touch = (path, op) => {
    const parts = path.split('.');
    // The first component missing before the update: everything under it is new.
    for (let i = 1; i <= parts.length; i++) {
      if (at(before, parts.slice(0, i)) === undefined) {
        const v = at(after, parts.slice(0, i));
        if (v !== undefined) updated.set(parts.slice(0, i).join('.'), v);
        return;
      }
    }
    const was = at(before, parts);
    const now = at(after, parts);
    if (now === undefined || same(was, now)) return;
    if (op === '$push' && Array.isArray(was) && Array.isArray(now) && was.length > 0 && now.length > was.length &&
        was.every((x, i) => same(x, now[i]))) {
      for (let i = was.length; i < now.length; i++) updated.set(`${path}.${i}`, now[i]);
      return;
    }
    updated.set(path, now);
  };
  for (const [op, fields] of Object.entries(u)) {
    if (op === '$setOnInsert' || !isObj(fields)) continue;
    for (const [path, arg] of Object.entries(fields)) {
      if (op === '$unset') {
        if (at(before, path.split('.')) !== undefined) removed.push(path);
      } else if (op === '$rename') {
        if (at(before, path.split('.')) !== undefined) {
          removed.push(path);
          touch(String(arg), '$set');
        }
      } else {
        touch(path, op);
      }
    }
  }
  const updatedFields = {};
  for (const k of [...updated.keys()].sort()) V.setOwn(updatedFields, k, updated.get(k));
  return { updatedFields, removedFields: removed.sort(), truncatedArrays: [] };
}

// computeOplogDiff's walk; returns the diff in the oplog's own shape too, so its size can
// be compared with the new document's.
function diffObject(pre, post, prefix, out) {
  const diff = {};
  for (const k of Object.keys(pre)) {
    if (!Object.prototype.hasOwnProperty.call(post, k)) {
      out.removed.push(prefix + k);
      (diff.d = diff.d || {})[k] = false;
    }
  }
  for (const k of Object.keys(post)) {
    const a = Object.prototype.hasOwnProperty.call(pre, k) ? pre[k] : undefined;
    const b = post[k];
    if (a === undefined) {
      out.updated.push([prefix + k, b]);
      (diff.i = diff.i || {})[k] = b;
    } else if (same(a, b)) {
      continue;
    } else if ((isObj(a) && isObj(b)) || (Array.isArray(a) && Array.isArray(b))) {
      const sub = subDiff(a, b, `${prefix}${k}`, out);
      if (sub) diff[`s${k}`] = sub;
      else {
        out.updated.push([prefix + k, b]);
        (diff.u = diff.u || {})[k] = b;
      }
    } else {
      out.updated.push([prefix + k, b]);
      (diff.u = diff.u || {})[k] = b;
    }
  }
  return diff;
}

function diffArray(pre, post, path, out) {
  const diff = { a: true };
  if (post.length < pre.length) {
    out.truncated.push({ field: path, newSize: V.mkInt(post.length) });
    diff.l = post.length;
  }
  for (let i = 0; i < post.length; i++) {
    const a = pre[i];
    const b = post[i];
    if (i < pre.length && same(a, b)) continue;
    const sub = i < pre.length && ((isObj(a) && isObj(b)) || (Array.isArray(a) && Array.isArray(b)))
      ? subDiff(a, b, `${path}.${i}`, out) : null;
    if (sub) diff[`s${i}`] = sub;
    else {
      out.updated.push([`${path}.${i}`, b]);
      diff[`u${i}`] = b;
    }
  }
  return diff;
}

// The diff of two documents or two arrays at path (its changes added to out), or null
// when it is not smaller than the new value, which is then logged whole (doc_diff.cpp's
// size checks).
function subDiff(a, b, path, out) {
  const mine = { updated: [], removed: [], truncated: [] };
  const d = isObj(a) ? diffObject(a, b, `${path}.`, mine) : diffArray(a, b, path, mine);
  if (BSON.calculateObjectSize(d) >= BSON.calculateObjectSize(isObj(b) ? b : { ...b })) return null;
  out.updated.push(...mine.updated);
  out.removed.push(...mine.removed);
  out.truncated.push(...mine.truncated);
  return d;
}

// Returns {type: 'update', updateDescription} or {type: 'replace'}.
function describe(before, after, how) {
  const kind = how && how.kind;
  if (kind === 'replacement') return { type: 'replace' };
  if (kind === 'operators') return { type: 'update', updateDescription: operatorDescription(before, after, how.u) };
  const out = { updated: [], removed: [], truncated: [] };
  const diff = diffObject(before, after, '', out);
  // computeOplogDiff: a diff that is not smaller than the new document is not used.
  if (BSON.calculateObjectSize(diff) >= BSON.calculateObjectSize(after)) return { type: 'replace' };
  const updatedFields = {};
  for (const [k, v] of out.updated) V.setOwn(updatedFields, k, v);
  return { type: 'update', updateDescription: { updatedFields, removedFields: out.removed, truncatedArrays: out.truncated } };
}

module.exports = { describe, same };
