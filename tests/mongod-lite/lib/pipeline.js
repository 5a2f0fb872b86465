// SPDX-License-Identifier: Apache-2.0
'use strict';
// Aggregation stages. Unknown stages are refused (40324), never ignored.
const V = require('./values');
const { evaluate, REMOVE, fieldPath } = require('./expr');
const { check: checkExpr } = require('./expr-compile');
const { matches, compile: compileFilter } = require('./query');
const { MongoError } = require('./errors');
const paths = require('./paths');

function addFields(docs, spec, ctx) {
  if (!V.isPlainObject(spec)) throw new MongoError(40272, '$addFields specification stage must be an object');
  return docs.map((d) => {
    const out = V.deepClone(d);
    for (const [k, e] of Object.entries(spec)) {
      if (k.startsWith('$')) throw new MongoError(16410, `FieldPath field names may not start with '$'. Consider using $getField or $setField.`);
      const v = evaluate(e, { ...ctx, root: d });
      if (v === REMOVE || v === undefined) paths.unset(out, k);
      else paths.set(out, k, v);
    }
    return out;
  });
}

function unsetStage(docs, spec) {
  const fields = typeof spec === 'string' ? [spec] : spec;
  if (!Array.isArray(fields) || fields.length === 0 || fields.some((f) => typeof f !== 'string')) {
    throw new MongoError(31002, '$unset specification must be a string or an array containing only string values');
  }
  return docs.map((d) => {
    const out = V.deepClone(d);
    for (const f of fields) paths.unset(out, f);
    return out;
  });
}

// $project and find projections: inclusion or exclusion, not both (but _id may be excluded).
// Inclusion or exclusion, not both (but _id may be excluded): 'include' | 'exclude'.
function projectionMode(spec, where) {
  if (!V.isPlainObject(spec)) throw new MongoError(15969, `${where} specification must be an object`);
  const entries = Object.entries(spec);
  if (entries.length === 0) throw new MongoError(51272, `${where} specification must have at least one field`);
  let mode = null;
  for (const [k, v] of entries) {
    const isFlag = V.btype(v) === 'bool' || V.isNumber(v);
    const kind = isFlag ? (V.truthy(v) ? 'include' : 'exclude') : 'include';
    if (k === '_id' && kind === 'exclude') continue;
    if (mode && mode !== kind) {
      throw new MongoError(31254, `Cannot do ${kind === 'exclude' ? 'exclusion' : 'inclusion'} on field ${k} in ${mode === 'exclude' ? 'exclusion' : 'inclusion'} projection`);
    }
    mode = kind;
  }
  return mode || 'exclude';
}

function project(docs, spec, ctx, where = '$project') {
  const mode = projectionMode(spec, where);
  const entries = Object.entries(spec);
  return docs.map((d) => {
    if (mode === 'exclude') {
      const out = V.deepClone(d);
      for (const [k] of entries) paths.unset(out, k);
      return out;
    }
    const out = {};
    const idSpec = spec._id;
    if (idSpec === undefined || (V.btype(idSpec) !== 'bool' && !V.isNumber(idSpec)) || V.truthy(idSpec)) {
      if (idSpec !== undefined && V.btype(idSpec) !== 'bool' && !V.isNumber(idSpec)) {
        const v = evaluate(idSpec, { ...ctx, root: d });
        if (v !== undefined && v !== REMOVE) out._id = v;
      } else if (d._id !== undefined) {
        out._id = d._id;
      }
    }
    for (const [k, v] of entries) {
      if (k === '_id') continue;
      if (V.btype(v) === 'bool' || V.isNumber(v)) {
        const val = fieldPath(d, k.split('.'));
        if (val !== undefined) paths.set(out, k, V.deepClone(val));
      } else {
        const val = evaluate(v, { ...ctx, root: d });
        if (val !== undefined && val !== REMOVE) paths.set(out, k, val);
      }
    }
    return out;
  });
}

function replaceRoot(docs, expr, ctx, name) {
  return docs.map((d) => {
    const v = evaluate(expr, { ...ctx, root: d });
    if (!V.isPlainObject(v)) {
      throw new MongoError(40228, `'newRoot' expression must evaluate to an object, but resulting value was: ${V.show(v)}. Type of resulting value: '${V.typeName(v)}'. Input document: ${V.show(d)}`);
    }
    void name;
    return v;
  });
}

// Sort order (manual "Comparison/Sort Order"; sort_key_generator.cpp): an array field
// sorts by its smallest element ascending and its largest descending; an empty array
// sorts before null and missing; missing sorts as null.
function sortKey(doc, parts, dir) {
  const vals = [];
  paths.pathKeys(doc, parts, 0, vals);
  let best;
  for (const v of vals) {
    const k = v === undefined ? null : v;
    if (best === undefined || dir * compareSortKeys(k, best) < 0) best = k;
  }
  return best;
}

function compareSortKeys(a, b) {
  const ea = a === paths.EMPTY_ARRAY, eb = b === paths.EMPTY_ARRAY;
  if (ea || eb) {
    if (ea && eb) return 0;
    const other = ea ? b : a;
    const c = V.btype(other) === 'minKey' ? 1 : -1;
    return ea ? c : -c;
  }
  return V.compare(a, b);
}

// [[path parts, 1 | -1], ...] of a sort specification.
function sortKeys(spec) {
  if (!V.isPlainObject(spec) || Object.keys(spec).length === 0) throw new MongoError(15976, '$sort stage must have at least one sort key');
  return Object.entries(spec).map(([k, v]) => {
    const d = V.isNumber(v) ? V.toDouble(v) : NaN;
    if (d !== 1 && d !== -1) throw new MongoError(15975, '$sort key ordering must be 1 (for ascending) or -1 (for descending)');
    return [k.split('.'), d];
  });
}

function sortDocs(docs, spec) {
  const keys = sortKeys(spec);
  return docs
    .map((d, i) => ({ d, i, k: keys.map(([p, dir]) => sortKey(d, p, dir)) }))
    .sort((a, b) => {
      for (let j = 0; j < keys.length; j++) {
        const c = compareSortKeys(a.k[j], b.k[j]);
        if (c) return c * keys[j][1];
      }
      return a.i - b.i;
    })
    .map((x) => x.d);
}

const ACCUMULATORS = {
  $sum: () => ({ init: () => V.mkInt(0), step: (acc, v) => (V.isNumber(v) ? evaluate({ $add: [{ $literal: acc }, { $literal: v }] }, {}) : acc) }),
  $count: () => ({ init: () => V.mkInt(0), step: (acc) => evaluate({ $add: [{ $literal: acc }, 1] }, {}), noArg: true }),
  $first: () => ({ init: () => undefined, step: (acc, v, first) => (first ? (v === undefined ? null : v) : acc) }),
  $last: () => ({ init: () => undefined, step: (acc, v) => (v === undefined ? null : v) }),
  $push: () => ({ init: () => [], step: (acc, v) => (v === undefined ? acc : [...acc, v]) }),
  $addToSet: () => ({ init: () => [], step: (acc, v) => (v === undefined || acc.some((x) => V.equal(x, v)) ? acc : [...acc, v]) }),
  $min: () => ({ init: () => null, step: (acc, v) => (v == null ? acc : acc === null || V.compare(v, acc) < 0 ? v : acc) }),
  $max: () => ({ init: () => null, step: (acc, v) => (v == null ? acc : acc === null || V.compare(v, acc) > 0 ? v : acc) }),
};

function group(docs, spec, ctx) {
  if (!V.isPlainObject(spec) || !('_id' in spec)) throw new MongoError(15955, "a group specification must include an _id");
  const fields = Object.entries(spec).filter(([k]) => k !== '_id').map(([k, v]) => {
    if (!V.isPlainObject(v) || Object.keys(v).length !== 1) throw new MongoError(40234, `The field '${k}' must be an accumulator object`);
    const [op, arg] = Object.entries(v)[0];
    const acc = ACCUMULATORS[op];
    if (!acc) throw new MongoError(15952, `unknown group operator '${op}'`);
    return [k, acc(), arg];
  });
  const groups = new Map();
  for (const d of docs) {
    let id = evaluate(spec._id, { ...ctx, root: d });
    if (id === undefined || id === REMOVE) id = null;
    const key = paths.canonKey(id);
    let g = groups.get(key);
    const first = !g;
    if (!g) {
      g = { _id: id, vals: fields.map(([, a]) => a.init()) };
      groups.set(key, g);
    }
    fields.forEach(([, a, arg], i) => {
      const v = a.noArg ? undefined : evaluate(arg, { ...ctx, root: d });
      g.vals[i] = a.step(g.vals[i], v === REMOVE ? undefined : v, first);
    });
  }
  return [...groups.values()].map((g) => {
    const out = { _id: g._id };
    fields.forEach(([k], i) => { V.setOwn(out, k, g.vals[i] === undefined ? null : g.vals[i]); });
    return out;
  });
}

function nonNegInt(v, name) {
  if (!V.isNumber(v) || !Number.isInteger(V.toDouble(v))) throw new MongoError(15957, `the ${name} must be specified as a number`);
  const n = V.toDouble(v);
  if (name === 'limit' ? n <= 0 : n < 0) throw new MongoError(15958, `the ${name} must be positive`);
  return n;
}

// Stages a pipeline-style update may use (pipeline_executor.cpp: isAllowedWithinUpdatePipeline).
const UPDATE_STAGES = new Set(['$addFields', '$set', '$project', '$unset', '$replaceRoot', '$replaceWith']);

function runStage(docs, stage, ctx, env) {
  if (!V.isPlainObject(stage) || Object.keys(stage).length !== 1) {
    throw new MongoError(40323, 'A pipeline stage specification object must contain exactly one field.');
  }
  const [name, spec] = Object.entries(stage)[0];
  if (env.update && !UPDATE_STAGES.has(name)) {
    if (!STAGES.has(name)) throw new MongoError(40324, `Unrecognized pipeline stage name: '${name}'`);
    throw new MongoError(72, `${name} is not allowed to be used within an update`);
  }
  switch (name) {
    case '$match':
      if (!V.isPlainObject(spec)) throw new MongoError(15959, 'the match filter must be an expression in an object');
      return docs.filter((d) => matches(d, spec, ctx));
    case '$addFields': case '$set': return addFields(docs, spec, ctx);
    case '$unset': return unsetStage(docs, spec);
    case '$project': return project(docs, spec, ctx);
    case '$replaceRoot':
      if (!V.isPlainObject(spec) || !('newRoot' in spec)) throw new MongoError(40231, "no newRoot specified for the $replaceRoot stage");
      return replaceRoot(docs, spec.newRoot, ctx, name);
    case '$replaceWith': return replaceRoot(docs, spec, ctx, name);
    case '$sort': return sortDocs(docs, spec);
    case '$limit': return docs.slice(0, nonNegInt(spec, 'limit'));
    case '$skip': return docs.slice(nonNegInt(spec, 'skip'));
    case '$group': return group(docs, spec, ctx);
    case '$count':
      if (typeof spec !== 'string' || !spec || spec.startsWith('$') || spec.includes('.')) {
        throw new MongoError(40156, 'the count field must be a non-empty string');
      }
      return docs.length ? [{ [spec]: V.mkInt(docs.length) }] : [];
    case '$changeStream':
      // A standalone has no oplog to stream (MONGODB-RULES 18).
      throw new MongoError(40573, 'The $changeStream stage is only supported on replica sets');
    default:
      throw new MongoError(40324, `Unrecognized pipeline stage name: '${name}'`);
  }
}

const STAGES = new Set(['$match', '$addFields', '$set', '$unset', '$project', '$replaceRoot', '$replaceWith', '$sort',
  '$limit', '$skip', '$group', '$count', '$changeStream', '$lookup', '$unwind', '$facet', '$out', '$merge', '$sample',
  '$bucket', '$sortByCount', '$geoNear', '$graphLookup', '$indexStats', '$collStats', '$densify', '$fill', '$redact',
  '$setWindowFields', '$unionWith', '$documents', '$currentOp', '$listSessions', '$planCacheStats']);

function run(docs, pipeline, ctx, env = {}) {
  if (!Array.isArray(pipeline)) throw new MongoError(14, "'pipeline' option must be specified as an array");
  let out = docs;
  for (const stage of pipeline) out = runStage(out, stage, ctx, env);
  return out;
}

// ---- Compile: the checks mongod makes while parsing a pipeline (document_source*.cpp) ----

// A top-level field path written by $addFields/$set/$project ('a.b' allowed).
function checkFieldPath(k) {
  const parts = k.split('.');
  for (const p of parts) {
    if (p === '') throw new MongoError(15998, 'FieldPath field names may not be empty strings.');
    if (p.startsWith('$')) throw new MongoError(16410, "FieldPath field names may not start with '$'. Consider using $getField or $setField.");
  }
}

// Checks a $project stage or a find/findAndModify projection.
function checkProjection(spec, scope, where) {
  projectionMode(spec, where);
  for (const [k, v] of Object.entries(spec)) {
    checkFieldPath(k);
    if (V.btype(v) !== 'bool' && !V.isNumber(v)) checkExpr(v, scope);
  }
}

function checkGroup(spec, scope) {
  if (!V.isPlainObject(spec) || !('_id' in spec)) throw new MongoError(15955, 'a group specification must include an _id');
  checkExpr(spec._id, scope);
  for (const [k, v] of Object.entries(spec)) {
    if (k === '_id') continue;
    if (k.includes('.')) throw new MongoError(40235, `The field name '${k}' cannot contain '.'`);
    if (!V.isPlainObject(v) || Object.keys(v).length !== 1) throw new MongoError(40234, `The field '${k}' must be an accumulator object`);
    const [op, arg] = Object.entries(v)[0];
    if (!ACCUMULATORS[op]) throw new MongoError(15952, `unknown group operator '${op}'`);
    if (!ACCUMULATORS[op]().noArg) checkExpr(arg, scope);
  }
}

function checkStage(stage, scope, env) {
  if (!V.isPlainObject(stage) || Object.keys(stage).length !== 1) {
    throw new MongoError(40323, 'A pipeline stage specification object must contain exactly one field.');
  }
  const [name, spec] = Object.entries(stage)[0];
  if (env.update && !UPDATE_STAGES.has(name)) {
    if (!STAGES.has(name)) throw new MongoError(40324, `Unrecognized pipeline stage name: '${name}'`);
    throw new MongoError(72, `${name} is not allowed to be used within an update`);
  }
  switch (name) {
    case '$match':
      if (!V.isPlainObject(spec)) throw new MongoError(15959, 'the match filter must be an expression in an object');
      compileFilter(spec, scope);
      return;
    case '$addFields': case '$set':
      if (!V.isPlainObject(spec)) throw new MongoError(40272, '$addFields specification stage must be an object');
      for (const [k, e] of Object.entries(spec)) {
        checkFieldPath(k);
        checkExpr(e, scope);
      }
      return;
    case '$unset': unsetStage([], spec); return;
    case '$project': checkProjection(spec, scope, '$project'); return;
    case '$replaceRoot':
      if (!V.isPlainObject(spec) || !('newRoot' in spec)) throw new MongoError(40231, 'no newRoot specified for the $replaceRoot stage');
      checkExpr(spec.newRoot, scope);
      return;
    case '$replaceWith': checkExpr(spec, scope); return;
    case '$sort': sortKeys(spec); return;
    case '$limit': nonNegInt(spec, 'limit'); return;
    case '$skip': nonNegInt(spec, 'skip'); return;
    case '$group': checkGroup(spec, scope); return;
    case '$count': runStage([], stage, {}, env); return;
    default: runStage([], stage, {}, env); // refuses what this server does not run
  }
}

// A checked pipeline: run(docs, ctx) runs it. scope: the user variables it may read;
// env.update: a pipeline-style update (MONGODB-RULES 5).
function compile(stages, scope = new Set(), env = {}) {
  if (!Array.isArray(stages)) throw new MongoError(14, "'pipeline' option must be specified as an array");
  for (const stage of stages) checkStage(stage, scope, env);
  return { run: (docs, ctx) => run(docs, stages, ctx, env) };
}

// A checked find/findAndModify projection: run(docs, ctx) projects them.
function compileProjection(spec, scope = new Set()) {
  checkProjection(spec, scope, 'projection');
  return { run: (docs, ctx) => project(docs, spec, ctx, 'projection') };
}

module.exports = { run, project, sortDocs, sortKeys, compile, compileProjection };
