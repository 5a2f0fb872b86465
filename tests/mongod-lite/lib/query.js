// SPDX-License-Identifier: Apache-2.0
'use strict';
// The query language (find filters, update and delete selectors, $match, partial index
// filters). Comparison operators use type bracketing: {$gt: 5} matches only numbers.
const V = require('./values');
const { evaluate } = require('./expr');
const { check: checkExpr } = require('./expr-compile');
const { MongoError } = require('./errors');

// Values a path reaches, arrays along the way expanded; a terminal array contributes
// itself and its elements. An unreachable path yields [undefined].
function candidates(doc, parts) {
  const out = [];
  walk(doc, parts, 0, out, false);
  return out.length ? out : [undefined];
}

function walk(cur, parts, i, out, viaArray) {
  if (i === parts.length) {
    out.push(cur);
    if (Array.isArray(cur) && !viaArray) for (const el of cur) out.push(el);
    return;
  }
  if (Array.isArray(cur)) {
    const p = parts[i];
    if (/^\d+$/.test(p)) {
      const idx = Number(p);
      if (idx < cur.length) walk(cur[idx], parts, i + 1, out, false);
    }
    for (const el of cur) if (V.isPlainObject(el)) walk(el, parts, i, out, true);
    return;
  }
  if (!V.isPlainObject(cur)) return;
  if (!Object.prototype.hasOwnProperty.call(cur, parts[i])) {
    if (!viaArray) out.push(undefined);
    return;
  }
  walk(cur[parts[i]], parts, i + 1, out, false);
}

const isOperatorDoc = (v) => V.isPlainObject(v) && Object.keys(v).length > 0 && Object.keys(v)[0].startsWith('$');

function sameBracket(a, b) {
  return V.rank(a) === V.rank(b);
}

function eqMatch(cand, v) {
  if (v === null) return cand === null || cand === undefined;
  if (V.btype(v) === 'regex') return regexMatch(cand, v) || V.equal(cand, v);
  return cand !== undefined && V.equal(cand, v);
}

// A quantified group that itself contains a quantifier, e.g. (a+)+ : JavaScript's regex
// engine has no backtracking limit (mongod's PCRE stops with an error), so one such
// pattern could stall this single-threaded server for every client. Refused instead.
function hasNestedQuantifier(src) {
  let s = src.replace(/\\./g, 'e').replace(/\[[^\]]*\]/g, 'c');
  let nested = false;
  for (let i = 0; i < 200 && !nested; i++) {
    const next = s.replace(/\(([^()]*)\)([*+]|\{\d)?/g, (m, inner, q) => {
      const quantified = /[*+]|\{\d|Q/.test(inner);
      if (quantified && q) nested = true;
      return quantified || q ? 'Q' : 'g';
    });
    if (next === s) break;
    s = next;
  }
  return nested;
}

function toRegExp(r) {
  const src = r.pattern ?? r.source;
  if (hasNestedQuantifier(src)) {
    throw new MongoError(2, `regular expressions with nested quantifiers are not supported by this test server: /${src}/`);
  }
  const opts = (r.options ?? r.flags ?? '').replace(/[^imsx]/g, '');
  if (opts.includes('x')) throw new MongoError(51108, 'the x regex option is not supported by this test server');
  return new RegExp(src, opts.replace('x', ''));
}

function regexMatch(cand, r) {
  return typeof cand === 'string' && toRegExp(r).test(cand);
}

function cmp(op) {
  return (cands, v) => cands.some((c) => {
    if (c === undefined && v === null) return op(0);
    if (c === undefined || !sameBracket(c, v)) {
      if (V.btype(v) === 'minKey' || V.btype(v) === 'maxKey') return c !== undefined && op(V.compare(c, v));
      return false;
    }
    return op(V.compare(c, v));
  });
}

const TYPE_ALIASES = {
  double: 1, string: 2, object: 3, array: 4, binData: 5, undefined: 6, objectId: 7, bool: 8, date: 9, null: 10,
  regex: 11, javascript: 13, symbol: 14, int: 16, timestamp: 17, long: 18, decimal: 19, minKey: -1, maxKey: 127,
};

function typeMatches(c, spec) {
  const specs = Array.isArray(spec) ? spec : [spec];
  return specs.some((s) => {
    if (s === 'number') return V.isNumber(c);
    const n = typeof s === 'string' ? TYPE_ALIASES[s] : V.isNumber(s) ? V.toDouble(s) : undefined;
    if (n === undefined) throw new MongoError(2, `Unknown type name alias: ${s}`);
    return c !== undefined && V.TYPE_NUMBERS[V.btype(c)] === n;
  });
}

const FIELD_OPS = {
  $eq: (cands, v) => cands.some((c) => eqMatch(c, v)),
  $ne: (cands, v) => !cands.some((c) => eqMatch(c, v)),
  $gt: cmp((c) => c > 0),
  $gte: cmp((c) => c >= 0),
  $lt: cmp((c) => c < 0),
  $lte: cmp((c) => c <= 0),
  $in: (cands, v) => {
    if (!Array.isArray(v)) throw new MongoError(2, '$in needs an array');
    return v.some((x) => cands.some((c) => eqMatch(c, x)));
  },
  $nin: (cands, v) => {
    if (!Array.isArray(v)) throw new MongoError(2, '$nin needs an array');
    return !v.some((x) => cands.some((c) => eqMatch(c, x)));
  },
  $exists: (cands, v) => V.truthy(v) === cands.some((c) => c !== undefined),
  $type: (cands, v) => cands.some((c) => typeMatches(c, v)),
  $size: (cands, v, ctx, raw) => {
    if (!V.isNumber(v)) throw new MongoError(2, '$size needs a number');
    return raw.some((c) => Array.isArray(c) && c.length === V.toDouble(v));
  },
  $all: (cands, v) => {
    if (!Array.isArray(v)) throw new MongoError(2, '$all needs an array');
    return v.length > 0 && v.every((x) => cands.some((c) => eqMatch(c, x)));
  },
  $mod: (cands, v) => {
    if (!Array.isArray(v) || v.length !== 2) throw new MongoError(2, 'malformed mod, needs to be an array of two numbers');
    const [d, r] = v.map(V.toDouble);
    if (d === 0) throw new MongoError(2, 'divisor cannot be 0');
    return cands.some((c) => V.isNumber(c) && Math.trunc(V.toDouble(c)) % d === r);
  },
  $elemMatch: (cands, v, ctx, raw) => {
    if (!V.isPlainObject(v)) throw new MongoError(2, '$elemMatch needs an Object');
    return raw.some((arr) => Array.isArray(arr) && arr.some((el) => (isOperatorDoc(v) && !['$and', '$or', '$nor', '$expr'].includes(Object.keys(v)[0])
      ? matchField([el], [el], v, ctx)
      : V.isPlainObject(el) && matches(el, v, ctx))));
  },
};

function matchField(cands, raw, spec, ctx) {
  if (!isOperatorDoc(spec)) {
    if (V.isPlainObject(spec) && Object.keys(spec).some((k) => k.startsWith('$'))) {
      throw new MongoError(2, `unknown operator: ${Object.keys(spec).find((k) => k.startsWith('$'))}`);
    }
    return FIELD_OPS.$eq(cands, spec);
  }
  for (const [op, v] of Object.entries(spec)) {
    if (op === '$regex' || op === '$options') {
      if (op === '$options') {
        if (!('$regex' in spec)) throw new MongoError(2, '$options needs a $regex');
        continue;
      }
      // $options applies to a string pattern and to a regex without flags (compile refuses both set).
      const r = typeof v === 'string' || spec.$options !== undefined
        ? { pattern: typeof v === 'string' ? v : v.pattern ?? v.source, options: spec.$options || '' } : v;
      if (!cands.some((c) => regexMatch(c, r))) return false;
      continue;
    }
    if (op === '$not') {
      if (V.btype(v) === 'regex') {
        if (cands.some((c) => regexMatch(c, v))) return false;
        continue;
      }
      if (!V.isPlainObject(v) || !isOperatorDoc(v)) throw new MongoError(2, '$not needs a regex or a document');
      if (matchField(cands, raw, v, ctx)) return false;
      continue;
    }
    const f = FIELD_OPS[op];
    if (!f) throw new MongoError(2, `unknown operator: ${op}`);
    if (!f(cands, v, ctx, raw)) return false;
  }
  return true;
}

function logical(op, v, doc, ctx) {
  if (!Array.isArray(v) || v.length === 0) throw new MongoError(2, `${op} argument must be a non-empty array`);
  for (const sub of v) if (!V.isPlainObject(sub)) throw new MongoError(2, `${op} argument's entries must be objects`);
  if (op === '$and') return v.every((s) => matches(doc, s, ctx));
  if (op === '$or') return v.some((s) => matches(doc, s, ctx));
  return !v.some((s) => matches(doc, s, ctx));
}

// ctx: {now: Date}. Throws MongoError for malformed filters.
function matches(doc, filter, ctx) {
  if (!V.isPlainObject(filter)) throw new MongoError(2, 'filter must be an object');
  for (const [k, v] of Object.entries(filter)) {
    if (k.startsWith('$')) {
      switch (k) {
        case '$and': case '$or': case '$nor':
          if (!logical(k, v, doc, ctx)) return false;
          break;
        case '$expr':
          if (!V.truthy(evaluate(v, { root: doc, now: ctx.now, vars: ctx.vars }))) return false;
          break;
        case '$comment':
          break;
        case '$where':
          throw new MongoError(2, '$where is not supported by this test server');
        case '$text':
          throw new MongoError(27, 'text index required for $text query');
        default:
          throw new MongoError(2, `unknown top level operator: ${k}. If you have a field name that starts with a '$' symbol, consider using $getField or $setField.`);
      }
      continue;
    }
    const parts = k.split('.');
    const raw = rawValues(doc, parts);
    if (!matchField(candidates(doc, parts), raw, v, ctx)) return false;
  }
  return true;
}

// The values at a path without expanding terminal arrays (for $size and $elemMatch).
function rawValues(doc, parts) {
  const out = [];
  (function go(cur, i) {
    if (i === parts.length) { out.push(cur); return; }
    if (Array.isArray(cur)) {
      if (/^\d+$/.test(parts[i]) && Number(parts[i]) < cur.length) go(cur[Number(parts[i])], i + 1);
      for (const el of cur) if (V.isPlainObject(el)) go(el, i);
      return;
    }
    if (V.isPlainObject(cur) && Object.prototype.hasOwnProperty.call(cur, parts[i])) go(cur[parts[i]], i + 1);
  })(doc, 0);
  return out;
}

// Whether a filter uses $expr anywhere (refused in an upsert's query, MONGODB-RULES 7).
function usesExpr(filter) {
  if (!V.isPlainObject(filter)) return false;
  for (const [k, v] of Object.entries(filter)) {
    if (k === '$expr') return true;
    if ((k === '$and' || k === '$or' || k === '$nor') && Array.isArray(v) && v.some(usesExpr)) return true;
    if (V.isPlainObject(v) && '$elemMatch' in v && usesExpr(v.$elemMatch)) return true;
  }
  return false;
}

// The equality fields an upsert seeds its new document from (MONGODB-RULES 8):
// {f: v}, {f: {$eq: v}}, {f: {$in: [v]}}, and those inside $and - and inside an $or of one
// clause, which canonicalization collapses into its clause (update_driver.cpp
// populateDocumentWithQueryFields canonicalizes "to collapse $and/$or"). Returns
// [[path, value], ...].
function equalityFields(filter, out = []) {
  for (const [k, v] of Object.entries(filter)) {
    if ((k === '$and' && Array.isArray(v)) || (k === '$or' && Array.isArray(v) && v.length === 1)) {
      for (const s of v) if (V.isPlainObject(s)) equalityFields(s, out);
      continue;
    }
    if (k.startsWith('$')) continue;
    if (isOperatorDoc(v)) {
      if ('$eq' in v) out.push([k, v.$eq]);
      else if (Array.isArray(v.$in) && v.$in.length === 1 && V.btype(v.$in[0]) !== 'regex') out.push([k, v.$in[0]]);
      continue;
    }
    if (V.btype(v) === 'regex') continue;
    out.push([k, v]);
  }
  return out;
}

// ---- Compile: the checks mongod's MatchExpressionParser makes (expression_parser.cpp) ----
// Every operator known, every argument of the right shape, every regex valid, every
// $expr checked, before any document is matched (MONGODB-RULES 21).

// Regex option letters mongod knows (regex_util.cpp flags2PcreOptions: else 51108).
const REGEX_FLAGS = new Set(['i', 'm', 's', 'u', 'x']);

function checkRegex(r) {
  for (const f of r.options ?? r.flags ?? '') {
    if (!REGEX_FLAGS.has(f)) throw new MongoError(51108, `invalid flag in regex options: ${f}`);
  }
  try {
    toRegExp(r);
  } catch (e) {
    if (!(e instanceof SyntaxError)) throw e;
    throw new MongoError(51091, `Regular expression is invalid: ${e.message}`);
  }
}

function checkType(spec) {
  const specs = Array.isArray(spec) ? spec : [spec];
  const codes = new Set(Object.values(TYPE_ALIASES));
  for (const s of specs) {
    if (s === 'number') continue;
    if (typeof s === 'string') {
      if (TYPE_ALIASES[s] === undefined) throw new MongoError(2, `Unknown type name alias: ${s}`);
    } else if (V.isNumber(s)) {
      const n = V.toDouble(s);
      if (!Number.isInteger(n) || !codes.has(n)) throw new MongoError(2, `Invalid numerical type code: ${n}`);
    } else {
      throw new MongoError(14, `type must be represented as a number or a string`);
    }
  }
}

const isOperatorObject = (v) => V.isPlainObject(v) && Object.keys(v).length > 0 && Object.keys(v)[0].startsWith('$');

function checkFieldSpec(spec, scope) {
  if (!isOperatorDoc(spec)) {
    if (V.isPlainObject(spec) && Object.keys(spec).some((k) => k.startsWith('$'))) {
      throw new MongoError(2, `unknown operator: ${Object.keys(spec).find((k) => k.startsWith('$'))}`);
    }
    if (V.btype(spec) === 'regex') checkRegex(spec);
    return;
  }
  for (const [op, v] of Object.entries(spec)) {
    switch (op) {
      case '$regex':
        if (typeof v !== 'string' && V.btype(v) !== 'regex') throw new MongoError(2, '$regex has to be a string');
        if (spec.$options !== undefined && typeof spec.$options !== 'string') throw new MongoError(2, '$options has to be a string');
        if (spec.$options !== undefined && V.btype(v) === 'regex' && (v.options ?? v.flags ?? '') !== '') {
          throw new MongoError(51075, 'options set in both $regex and $options');
        }
        checkRegex(typeof v === 'string' ? { pattern: v, options: spec.$options || '' } : v);
        break;
      case '$options':
        if (!('$regex' in spec)) throw new MongoError(2, '$options needs a $regex');
        break;
      case '$not':
        if (V.btype(v) === 'regex') checkRegex(v);
        else if (!V.isPlainObject(v) || !isOperatorDoc(v)) throw new MongoError(2, '$not needs a regex or a document');
        else checkFieldSpec(v, scope);
        break;
      case '$eq': case '$ne': case '$gt': case '$gte': case '$lt': case '$lte':
        if (V.btype(v) === 'regex') checkRegex(v);
        break;
      case '$in': case '$nin': case '$all':
        if (!Array.isArray(v)) throw new MongoError(2, `${op} needs an array`);
        for (const x of v) {
          if (isOperatorObject(x) && op === '$all' && '$elemMatch' in x) {
            throw new MongoError(2, '$all with $elemMatch is not supported by this test server');
          }
          if (isOperatorObject(x)) throw new MongoError(2, op === '$all' ? 'no $ expressions in $all' : `cannot nest $ under ${op}`);
          if (V.btype(x) === 'regex') checkRegex(x);
        }
        break;
      case '$exists':
        break;
      case '$type':
        checkType(v);
        break;
      case '$size': {
        if (!V.isNumber(v)) throw new MongoError(2, '$size needs a number');
        const n = V.toDouble(v);
        if (!Number.isInteger(n)) throw new MongoError(2, '$size must be a whole number');
        if (n < 0) throw new MongoError(2, '$size may not be negative');
        break;
      }
      case '$mod':
        if (!Array.isArray(v)) throw new MongoError(2, 'malformed mod, needs to be an array');
        if (v.length < 2) throw new MongoError(2, 'malformed mod, not enough elements');
        if (v.length > 2) throw new MongoError(2, 'malformed mod, too many elements');
        if (!V.isNumber(v[0])) throw new MongoError(2, 'malformed mod, divisor not a number');
        if (!V.isNumber(v[1])) throw new MongoError(2, 'malformed mod, remainder not a number');
        if (V.toDouble(v[0]) === 0) throw new MongoError(2, 'divisor cannot be 0');
        break;
      case '$elemMatch':
        if (!V.isPlainObject(v)) throw new MongoError(2, '$elemMatch needs an Object');
        if (isOperatorDoc(v) && !['$and', '$or', '$nor', '$expr'].includes(Object.keys(v)[0])) checkFieldSpec(v, scope);
        else checkFilter(v, scope);
        break;
      default:
        throw new MongoError(2, `unknown operator: ${op}`);
    }
  }
}

function checkFilter(filter, scope) {
  if (!V.isPlainObject(filter)) throw new MongoError(2, 'filter must be an object');
  for (const [k, v] of Object.entries(filter)) {
    if (!k.startsWith('$')) {
      checkFieldSpec(v, scope);
      continue;
    }
    switch (k) {
      case '$and': case '$or': case '$nor':
        if (!Array.isArray(v) || v.length === 0) throw new MongoError(2, `${k} argument must be a non-empty array`);
        for (const sub of v) if (!V.isPlainObject(sub)) throw new MongoError(2, `${k} argument's entries must be objects`);
        for (const sub of v) checkFilter(sub, scope);
        break;
      case '$expr': checkExpr(v, scope); break;
      case '$comment': break;
      case '$where': throw new MongoError(2, '$where is not supported by this test server');
      case '$text': throw new MongoError(27, 'text index required for $text query');
      default:
        throw new MongoError(2, `unknown top level operator: ${k}. If you have a field name that starts with a '$' symbol, consider using $getField or $setField.`);
    }
  }
}

// A checked filter: test(doc, ctx) tells whether doc matches. scope: the user variables
// ($$name) the filter's $expr may read.
function compile(filter, scope = new Set()) {
  checkFilter(filter, scope);
  return { filter, test: (doc, ctx) => matches(doc, filter, ctx) };
}

module.exports = { matches, usesExpr, equalityFields, candidates, isOperatorDoc, compile, checkFieldSpec };
