// SPDX-License-Identifier: Apache-2.0
'use strict';
// Updates: operator documents, replacements and aggregation pipelines (MONGODB-RULES 5),
// and the seed document of an upsert (MONGODB-RULES 8).
const V = require('./values');
const { matches, equalityFields, compile: compileFilter } = require('./query');
const pipeline = require('./pipeline');
const paths = require('./paths');
const { MongoError } = require('./errors');
const A = require('./arith');

const OPERATORS = new Set(['$set', '$unset', '$inc', '$mul', '$min', '$max', '$setOnInsert', '$currentDate', '$push',
  '$addToSet', '$pull', '$pullAll', '$pop', '$rename']);

// 'operators' | 'replacement' | 'pipeline'; throws for malformed updates.
function kind(u) {
  if (Array.isArray(u)) return 'pipeline';
  if (!V.isPlainObject(u)) throw new MongoError(14, 'Update argument must be either an object or an array');
  const keys = Object.keys(u);
  if (keys.length && keys[0].startsWith('$')) {
    for (const k of keys) {
      if (!OPERATORS.has(k)) {
        throw new MongoError(9, `Unknown modifier: ${k}. Expected a valid update modifier or pipeline-style update specified as an array`);
      }
    }
    return 'operators';
  }
  for (const k of keys) {
    if (k.startsWith('$')) {
      throw new MongoError(52, `The dollar ($) prefixed field '${k}' in '${k}' is not allowed in the context of an update's replacement document. Consider using an aggregation pipeline with $replaceWith.`);
    }
  }
  return 'replacement';
}

// $inc and $mul with SafeNum's types: an int64 overflow fails the update (code 2), it
// never becomes a double (src/mongo/db/update/arithmetic_node.cpp).
function numericArith(name, cur, arg, doc, path) {
  if (!V.isNumber(arg)) {
    throw new MongoError(14, `Cannot ${name === '$inc' ? 'increment' : 'multiply'} with non-numeric argument: {${path}: ${V.show(arg)}}`);
  }
  if (cur === undefined) return name === '$inc' ? arg : A.binary('mul', arg, V.mkInt(0), 'update');
  if (!V.isNumber(cur)) {
    throw new MongoError(14, `Cannot apply ${name} to a value of non-numeric type. {_id: ${V.show(doc._id)}} has the field '${path.split('.').pop()}' of non-numeric type ${V.btype(cur)}`);
  }
  const r = A.binary(name === '$inc' ? 'add' : 'mul', cur, arg, 'update');
  if (r === null) {
    const shown = V.btype(cur) === 'long' ? `(NumberLong)${V.toBig(cur)}` : `(NumberInt)${V.toDouble(cur)}`;
    throw new MongoError(2, `Failed to apply ${name} operations to current value (${shown}) for document {_id: ${V.show(doc._id)}}`);
  }
  return r;
}

// Update paths: no empty parts (56); positional operators ($, $[], $[id]) are not
// implemented here and are refused; other $-prefixed parts are not storable (52).
function checkPath(p, op) {
  if (p === '') throw new MongoError(56, 'An empty update path is not valid.');
  for (const part of p.split('.')) {
    if (part === '') throw new MongoError(56, `The update path '${p}' contains an empty field name, which is not allowed.`);
    if (part === '$' || part.startsWith('$[')) {
      throw new MongoError(2, `${op}: the positional operator in '${p}' is not supported by this test server`);
    }
    if (part.startsWith('$')) throw new MongoError(52, `The dollar ($) prefixed field '${part}' in '${p}' is not valid for storage.`);
  }
}

function checkConflicts(u) {
  const seen = [];
  for (const [op, spec] of Object.entries(u)) {
    if (!V.isPlainObject(spec)) {
      throw new MongoError(9, `Modifiers operate on fields but we found type ${V.btype(spec)} instead. For example: {$mod: {<field>: ...}} not {${op}: ${V.show(spec)}}`);
    }
    const targets = Object.keys(spec).concat(op === '$rename' ? Object.values(spec).filter((x) => typeof x === 'string') : []);
    for (const p of targets) {
      checkPath(p, op);
      for (const q of seen) {
        if (p === q || p.startsWith(`${q}.`) || q.startsWith(`${p}.`)) {
          const at = p.length <= q.length ? p : q;
          throw new MongoError(40, `Updating the path '${p}' would create a conflict at '${at}'`);
        }
      }
      seen.push(p);
    }
  }
}

// Since 5.0 update operators visit fields in lexicographic order of their names, numeric
// names in numeric order (manual, "Update Operators", Behavior), so new fields are added
// in that order whatever order the update lists them in.
function comparePaths(a, b) {
  const pa = a.split('.'), pb = b.split('.');
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    if (pa[i] === pb[i]) continue;
    const na = /^\d+$/.test(pa[i]), nb = /^\d+$/.test(pb[i]);
    if (na && nb) return BigInt(pa[i]) < BigInt(pb[i]) ? -1 : 1;
    return Buffer.compare(Buffer.from(pa[i]), Buffer.from(pb[i]));
  }
  return pa.length - pb.length;
}

const PUSH_CLAUSES = new Set(['$each', '$slice', '$sort', '$position']);

// The values $push/$addToSet add, and the $slice to apply (push_node.cpp, addtoset_node.cpp).
function pushArgs(op, arg) {
  if (!V.isPlainObject(arg) || !('$each' in arg)) {
    if (V.isPlainObject(arg) && Object.keys(arg).some((k) => k.startsWith('$'))) {
      throw new MongoError(2, `${op}: a value with $-prefixed fields (${Object.keys(arg).join(', ')}) without $each is not supported by this test server`);
    }
    return { each: [arg], slice: undefined };
  }
  for (const k of Object.keys(arg)) {
    if (op === '$addToSet' && k !== '$each') throw new MongoError(2, `Found unexpected fields after $each in $addToSet: ${V.show(arg)}`);
    if (!PUSH_CLAUSES.has(k)) throw new MongoError(2, `Unrecognized clause in $push: ${k}`);
    if (k === '$sort' || k === '$position') throw new MongoError(2, `$push with ${k} is not supported by this test server`);
  }
  if (!Array.isArray(arg.$each)) throw new MongoError(2, `The argument to $each in ${op} must be an array but it was of type: ${V.btype(arg.$each)}`);
  if (arg.$slice !== undefined && !(V.isNumber(arg.$slice) && Number.isInteger(V.toDouble(arg.$slice)))) {
    throw new MongoError(2, `The value for $slice must be an integer value but was given type: ${V.btype(arg.$slice)}`);
  }
  return { each: arg.$each, slice: arg.$slice === undefined ? undefined : V.toDouble(arg.$slice) };
}

function applyOperators(doc, u, { isInsert, now }) {
  checkConflicts(u);
  const out = V.deepClone(doc);
  const steps = [];
  for (const [op, spec] of Object.entries(u)) for (const [path, arg] of Object.entries(spec)) steps.push([op, path, arg]);
  steps.sort((x, y) => comparePaths(x[1], y[1]));
  for (const [op, path, arg] of steps) {
    {
      const cur = paths.get(out, path);
      switch (op) {
        case '$set': paths.set(out, path, V.deepClone(arg)); break;
        case '$setOnInsert': if (isInsert) paths.set(out, path, V.deepClone(arg)); break;
        case '$unset': paths.unset(out, path); break;
        case '$inc': case '$mul': paths.set(out, path, numericArith(op, cur, arg, out, path)); break;
        case '$min': if (cur === undefined || V.compare(arg, cur) < 0) paths.set(out, path, arg); break;
        case '$max': if (cur === undefined || V.compare(arg, cur) > 0) paths.set(out, path, arg); break;
        case '$currentDate': {
          // true/false or {$type: "date"|"timestamp"} (current_date_node.cpp).
          const typed = V.isPlainObject(arg) && Object.keys(arg).length === 1 && (arg.$type === 'date' || arg.$type === 'timestamp');
          if (V.btype(arg) !== 'bool' && !typed) {
            throw new MongoError(2, `${V.show(arg)} is not valid type for $currentDate. Please use a boolean ('true') or a $type expression ({$type: 'timestamp/date'}).`);
          }
          const ts = typed && arg.$type === 'timestamp';
          paths.set(out, path, ts ? V.Timestamp.fromNumber(Math.floor(now.getTime() / 1000) * 2 ** 32) : new Date(now.getTime()));
          break;
        }
        case '$push': case '$addToSet': {
          const { each, slice } = pushArgs(op, arg);
          if (cur !== undefined && !Array.isArray(cur)) {
            throw new MongoError(2, `The field '${path}' must be an array but is of type ${V.btype(cur)} in document {_id: ${V.show(out._id)}}`);
          }
          let arr = cur ? cur.slice() : [];
          for (const x of each) if (op === '$push' || !arr.some((y) => V.equal(x, y))) arr.push(V.deepClone(x));
          if (slice !== undefined) arr = slice >= 0 ? arr.slice(0, slice) : arr.slice(slice);
          paths.set(out, path, arr);
          break;
        }
        case '$pull': case '$pullAll': {
          if (cur === undefined) break;
          if (!Array.isArray(cur)) throw new MongoError(2, `Cannot apply ${op} to a non-array value`);
          if (op === '$pullAll' && !Array.isArray(arg)) throw new MongoError(2, `$pullAll requires an array argument but was given a ${V.btype(arg)}`);
          const keep = cur.filter((el) => {
            if (op === '$pullAll') return !arg.some((x) => V.equal(x, el));
            if (V.isPlainObject(arg) && Object.keys(arg)[0]?.startsWith('$')) return !matches({ v: el }, { v: arg }, { now });
            if (V.isPlainObject(arg) && V.isPlainObject(el)) return !matches(el, arg, { now });
            return !V.equal(el, arg);
          });
          paths.set(out, path, keep);
          break;
        }
        case '$pop': {
          if (!V.isNumber(arg) || (V.toDouble(arg) !== 1 && V.toDouble(arg) !== -1)) {
            throw new MongoError(9, `$pop expects 1 or -1, found: ${V.show(arg)}`);
          }
          if (cur === undefined) break;
          if (!Array.isArray(cur)) throw new MongoError(14, `Path '${path}' contains an element of non-array type '${V.btype(cur)}'`);
          paths.set(out, path, V.toDouble(arg) === -1 ? cur.slice(1) : cur.slice(0, -1));
          break;
        }
        case '$rename': {
          if (typeof arg !== 'string') throw new MongoError(2, `The 'to' field for $rename must be a string: ${path}: ${V.show(arg)}`);
          if (cur !== undefined) {
            paths.unset(out, path);
            paths.set(out, arg, cur);
          }
          break;
        }
        default: throw new MongoError(9, `Unknown modifier: ${op}`);
      }
    }
  }
  return out;
}

function checkId(before, after) {
  if (!('_id' in after)) return;
  if (before._id !== undefined && !V.equal(before._id, after._id)) {
    throw new MongoError(66, `Performing an update on the path '_id' would modify the immutable field '_id'`);
  }
}

// Puts _id first, as the server stores it.
function idFirst(doc) {
  if (!('_id' in doc) || Object.keys(doc)[0] === '_id') return doc;
  const out = { _id: doc._id };
  for (const k of Object.keys(doc)) if (k !== '_id') paths.assign(out, k, doc[k]);
  return out;
}

// Applies update u to doc (a document, or the upsert seed with isInsert). Returns the new document.
function apply(doc, u, { isInsert = false, now, vars } = {}) {
  let out;
  switch (kind(u)) {
    case 'operators':
      out = applyOperators(doc, u, { isInsert, now });
      checkId(doc, out);
      break;
    case 'replacement':
      out = V.deepClone(u);
      if (out._id !== undefined && doc._id !== undefined && !V.equal(out._id, doc._id)) {
        throw new MongoError(66, `After applying the update, the (immutable) field '_id' was found to have been altered to _id: ${V.show(out._id)}`);
      }
      if (doc._id !== undefined) out._id = doc._id;
      break;
    case 'pipeline': {
      [out] = pipeline.run([doc], u, { now, vars }, { update: true });
      if (doc._id !== undefined) {
        if (out._id === undefined) out._id = doc._id; // the server puts back an _id the pipeline removed
        else checkId(doc, out);
      }
      break;
    }
    default: throw new Error('unreachable');
  }
  return idFirst(out);
}

// The seed of an upsert insert: the query's equality fields (MONGODB-RULES 8).
function seed(filter) {
  const doc = {};
  const seen = new Set();
  for (const [path, value] of equalityFields(filter)) {
    if (seen.has(path)) throw new MongoError(54, `cannot infer query fields to set, path '${path}' is matched twice`);
    for (const s of seen) {
      if (s.startsWith(`${path}.`) || path.startsWith(`${s}.`)) {
        throw new MongoError(54, `cannot infer query fields to set, both paths '${path}' and '${s}' are matched`);
      }
    }
    seen.add(path);
    paths.set(doc, path, V.deepClone(value));
  }
  return doc;
}

// ---- Compile: the checks mongod makes while parsing an update (update_driver.cpp) ----
// Each operator's argument is checked when its node is built (arithmetic_node.cpp,
// current_date_node.cpp, pop_node.cpp, push_node.cpp, addtoset_node.cpp,
// pull_node.cpp, pullall_node.cpp, rename_node.cpp), field by field in the order given,
// and each path is merged into the update tree, which refuses two operators on one
// path (40) - all before any document is read (MONGODB-RULES 21).

function checkArgument(op, path, arg, scope) {
  switch (op) {
    case '$inc': case '$mul':
      if (!V.isNumber(arg)) {
        throw new MongoError(14, `Cannot ${op === '$inc' ? 'increment' : 'multiply'} with non-numeric argument: {${path}: ${V.show(arg)}}`);
      }
      return;
    case '$currentDate': {
      const typed = V.isPlainObject(arg) && Object.keys(arg).length === 1 && (arg.$type === 'date' || arg.$type === 'timestamp');
      if (V.btype(arg) !== 'bool' && !typed) {
        throw new MongoError(2, `${V.show(arg)} is not valid type for $currentDate. Please use a boolean ('true') or a $type expression ({$type: 'timestamp/date'}).`);
      }
      return;
    }
    case '$push': case '$addToSet': pushArgs(op, arg); return;
    case '$pullAll':
      if (!Array.isArray(arg)) throw new MongoError(2, `$pullAll requires an array argument but was given a ${V.btype(arg)}`);
      return;
    case '$pull':
      if (V.isPlainObject(arg) && Object.keys(arg)[0]?.startsWith('$')) compileFilter({ v: arg }, scope);
      else if (V.isPlainObject(arg)) compileFilter(arg, scope);
      return;
    case '$pop':
      if (!V.isNumber(arg) || (V.toDouble(arg) !== 1 && V.toDouble(arg) !== -1)) {
        throw new MongoError(9, `$pop expects 1 or -1, found: ${V.show(arg)}`);
      }
      return;
    case '$rename':
      if (typeof arg !== 'string') throw new MongoError(2, `The 'to' field for $rename must be a string: ${path}: ${V.show(arg)}`);
      return;
    default:
  }
}

function checkOperators(u, scope) {
  const seen = [];
  for (const [op, spec] of Object.entries(u)) {
    if (!V.isPlainObject(spec)) {
      throw new MongoError(9, `Modifiers operate on fields but we found type ${V.btype(spec)} instead. For example: {$mod: {<field>: ...}} not {${op}: ${V.show(spec)}}`);
    }
    for (const [path, arg] of Object.entries(spec)) {
      checkPath(path, op);
      checkArgument(op, path, arg, scope);
      const targets = [path].concat(op === '$rename' && typeof arg === 'string' ? [arg] : []);
      for (const p of targets) {
        if (p !== path) checkPath(p, op);
        for (const q of seen) {
          if (p === q || p.startsWith(`${q}.`) || q.startsWith(`${p}.`)) {
            const at = p.length <= q.length ? p : q;
            throw new MongoError(40, `Updating the path '${p}' would create a conflict at '${at}'`);
          }
        }
        seen.push(p);
      }
    }
  }
}

// A checked update: apply(doc, opts) as apply() below. scope: the user variables a
// pipeline-style update (or a $pull condition) may read.
function compile(u, scope = new Set()) {
  const k = kind(u);
  if (k === 'operators') checkOperators(u, scope);
  if (k === 'pipeline') pipeline.compile(u, scope, { update: true });
  return { kind: k, apply: (doc, opts) => apply(doc, u, opts) };
}

module.exports = { apply, seed, kind, idFirst, compile };
