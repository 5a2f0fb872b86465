// SPDX-License-Identifier: Apache-2.0
'use strict';
// Aggregation expressions ($expr, pipeline stages, pipeline updates). Unknown operators
// are refused (168 InvalidPipelineOperator) rather than guessed at.
const V = require('./values');
const { MongoError } = require('./errors');
const A = require('./arith');

const REMOVE = Symbol('$$REMOVE');

// "$a.b" on a document: arrays along the way map over their elements.
function fieldPath(doc, parts) {
  let cur = doc;
  for (let i = 0; i < parts.length; i++) {
    if (cur === undefined || cur === null) return undefined;
    if (Array.isArray(cur)) {
      const rest = parts.slice(i);
      const out = [];
      for (const el of cur) {
        if (V.isPlainObject(el)) {
          const r = fieldPath(el, rest);
          if (r !== undefined) out.push(r);
        } else if (Array.isArray(el)) {
          const r = fieldPath(el, rest);
          if (r !== undefined) out.push(r);
        }
      }
      return out;
    }
    if (!V.isPlainObject(cur)) return undefined;
    cur = Object.prototype.hasOwnProperty.call(cur, parts[i]) ? cur[parts[i]] : undefined;
  }
  return cur;
}

function variable(name, ctx) {
  const [v, ...rest] = name.split('.');
  let base;
  switch (v) {
    case 'NOW': base = ctx.now; break;
    case 'ROOT': base = ctx.root; break;
    case 'CURRENT': // ROOT unless $let or a command let rebound it
      base = ctx.vars && Object.prototype.hasOwnProperty.call(ctx.vars, v) ? ctx.vars[v] : ctx.root;
      break;
    case 'REMOVE': return REMOVE;
    case 'CLUSTER_TIME':
      throw new MongoError(10071, "'$$CLUSTER_TIME' is unavailable because the server is not a replica set member");
    default:
      if (ctx.vars && Object.prototype.hasOwnProperty.call(ctx.vars, v)) {
        base = ctx.vars[v];
        break;
      }
      throw new MongoError(17276, `Use of undefined variable: ${v}`);
  }
  return rest.length ? fieldPath(base, rest) : base;
}

function evaluate(e, ctx) {
  if (typeof e === 'string') {
    if (e.startsWith('$$')) return variable(e.slice(2), ctx);
    if (e.startsWith('$')) {
      if (e.length === 1) throw new MongoError(16872, "'$' by itself is not a valid FieldPath");
      return fieldPath(ctx.root, e.slice(1).split('.'));
    }
    return e;
  }
  if (Array.isArray(e)) return e.map((x) => evaluate(x, ctx));
  if (V.isPlainObject(e)) {
    const keys = Object.keys(e);
    if (keys.length > 0 && keys[0].startsWith('$')) {
      if (keys.length !== 1) {
        throw new MongoError(15983, `an expression specification must contain exactly one field, the name of the expression. Found ${keys.length} fields in ${V.show(e)}`);
      }
      const op = OPS[keys[0]];
      if (!op) throw new MongoError(168, `Unrecognized expression '${keys[0]}'`);
      return op(e[keys[0]], ctx, keys[0]);
    }
    const out = {};
    for (const k of keys) {
      if (k.startsWith('$')) throw new MongoError(16410, `FieldPath field names may not start with '$'. Consider using $getField or $setField.`);
      const v = evaluate(e[k], ctx);
      if (v !== undefined && v !== REMOVE) V.setOwn(out, k, v);
    }
    return out;
  }
  return e; // literal value
}

// ctx with the user variable name bound to value ($filter, $map).
function bind(ctx, name, value) {
  const vars = { ...(ctx.vars || {}) };
  V.setOwn(vars, name, value);
  return { ...ctx, vars };
}

function args(a, name, min, max) {
  const list = Array.isArray(a) ? a : [a];
  if (list.length < min || list.length > max) {
    const want = min === max ? `${min}` : `${min} to ${max}`;
    throw new MongoError(16020, `Expression ${name} takes exactly ${want} arguments. ${list.length} were passed in.`);
  }
  return list;
}

const isNullish = (v) => v === undefined || v === null || v === REMOVE;

// Result type of integer arithmetic: int32 while it fits, else int64, else double.
function intResult(big, anyLong) {
  if (!anyLong && big >= BigInt(V.INT32_MIN) && big <= BigInt(V.INT32_MAX)) return V.mkInt(Number(big));
  if (big >= V.INT64_MIN && big <= V.INT64_MAX) return V.mkLong(big);
  return V.mkDouble(Number(big));
}

// $add and $multiply: exact, typed (lib/arith.js); $add takes at most one date.
function arith(name, list) {
  let date = null;
  let acc = null;
  for (const v of list) {
    if (isNullish(v)) return null;
    const t = V.btype(v);
    if (t === 'date') {
      if (name !== '$add') throw new MongoError(14, `${name} only supports numeric types, not date`);
      if (date) throw new MongoError(16612, 'only one date allowed in an $add expression');
      date = v;
      continue;
    }
    if (!V.isNumber(v)) {
      throw new MongoError(14, `${name} only supports numeric${name === '$add' ? ' or date' : ''} types, not ${t}`);
    }
    acc = acc === null ? v : A.binary(name === '$add' ? 'add' : 'mul', acc, v, 'aggregate');
  }
  if (date) {
    if (acc === null) return date;
    const t = V.btype(acc);
    const ms = t === 'int' || t === 'long' ? Number(V.toBig(acc)) : Math.round(V.toDouble(acc));
    if (!Number.isFinite(ms)) throw new MongoError(15, 'date overflow in $add');
    return new Date(date.getTime() + ms);
  }
  if (acc === null) return name === '$add' ? V.mkInt(0) : V.mkInt(1);
  return acc;
}

function cmpOp(fn) {
  return (a, ctx, name) => {
    const [x, y] = args(a, name, 2, 2).map((v) => evaluate(v, ctx));
    return fn(V.compare(x === REMOVE ? undefined : x, y === REMOVE ? undefined : y));
  };
}

function toLong(v) {
  const t = V.btype(v);
  if (isNullish(v)) return null;
  switch (t) {
    case 'int': case 'long': return V.mkLong(V.toBig(v));
    case 'double': case 'decimal': {
      // Truncates toward zero, exactly (a decimal is not squeezed through a double first).
      const r = V.rational(v);
      if (r.special !== undefined) {
        throw new MongoError(241, `Attempt to convert ${Number.isNaN(r.special) ? 'NaN' : 'infinity'} value to integer type in $convert with no onError value`);
      }
      const q = r.n / r.d; // BigInt division truncates toward zero
      if (q < V.INT64_MIN || q > V.INT64_MAX) {
        throw new MongoError(241, `Conversion would overflow target type in $convert with no onError value: ${V.show(v)}`);
      }
      return V.mkLong(q);
    }
    case 'date': return V.mkLong(BigInt(v.getTime()));
    case 'bool': return V.mkLong(v ? 1n : 0n);
    case 'string':
      if (!/^-?\d+$/.test(v)) throw new MongoError(241, `Failed to parse number '${v}' in $convert with no onError value`);
      if (BigInt(v) < V.INT64_MIN || BigInt(v) > V.INT64_MAX) {
        // Never wrap around: mongod refuses a value outside int64 (ConversionFailure).
        throw new MongoError(241, `Failed to parse number '${v}' in $convert with no onError value: Overflow`);
      }
      return V.mkLong(BigInt(v));
    default:
      throw new MongoError(241, `Unsupported conversion from ${t} to long in $convert with no onError value`);
  }
}

function minMax(sign) {
  return (a, ctx, name) => {
    let list = Array.isArray(a) ? a.map((x) => evaluate(x, ctx)) : evaluate(a, ctx);
    if (!Array.isArray(a)) {
      if (!Array.isArray(list)) return isNullish(list) ? null : list;
    }
    let best;
    for (const v of list) {
      if (isNullish(v)) continue;
      if (best === undefined || sign * V.compare(v, best) > 0) best = v;
    }
    void name;
    return best === undefined ? null : best;
  };
}

const OPS = {
  $literal: (a) => a,
  $cond: (a, ctx) => {
    let c, t, f;
    if (Array.isArray(a)) {
      if (a.length !== 3) throw new MongoError(16020, `Expression $cond takes exactly 3 arguments. ${a.length} were passed in.`);
      [c, t, f] = a;
    } else if (V.isPlainObject(a)) {
      for (const k of Object.keys(a)) {
        if (!['if', 'then', 'else'].includes(k)) throw new MongoError(17083, `Unrecognized parameter to $cond: ${k}`);
      }
      if (!('if' in a)) throw new MongoError(17080, "Missing 'if' parameter to $cond");
      if (!('then' in a)) throw new MongoError(17081, "Missing 'then' parameter to $cond");
      if (!('else' in a)) throw new MongoError(17082, "Missing 'else' parameter to $cond");
      ({ if: c, then: t, else: f } = a);
    } else {
      throw new MongoError(16020, 'Expression $cond takes exactly 3 arguments. 1 were passed in.');
    }
    return V.truthy(evaluate(c, ctx)) ? evaluate(t, ctx) : evaluate(f, ctx);
  },
  $ifNull: (a, ctx) => {
    if (!Array.isArray(a) || a.length < 2) throw new MongoError(1257300, '$ifNull needs at least two arguments');
    for (let i = 0; i < a.length - 1; i++) {
      const v = evaluate(a[i], ctx);
      if (!isNullish(v)) return v;
    }
    return evaluate(a[a.length - 1], ctx);
  },
  $eq: cmpOp((c) => c === 0),
  $ne: cmpOp((c) => c !== 0),
  $gt: cmpOp((c) => c > 0),
  $gte: cmpOp((c) => c >= 0),
  $lt: cmpOp((c) => c < 0),
  $lte: cmpOp((c) => c <= 0),
  $cmp: cmpOp((c) => V.mkInt(c)),
  $and: (a, ctx) => (Array.isArray(a) ? a : [a]).every((x) => V.truthy(evaluate(x, ctx))),
  $or: (a, ctx) => (Array.isArray(a) ? a : [a]).some((x) => V.truthy(evaluate(x, ctx))),
  $not: (a, ctx, n) => !V.truthy(evaluate(args(a, n, 1, 1)[0], ctx)),
  $add: (a, ctx) => arith('$add', (Array.isArray(a) ? a : [a]).map((x) => evaluate(x, ctx))),
  $multiply: (a, ctx) => arith('$multiply', (Array.isArray(a) ? a : [a]).map((x) => evaluate(x, ctx))),
  $subtract: (a, ctx, n) => {
    const [x, y] = args(a, n, 2, 2).map((v) => evaluate(v, ctx));
    if (isNullish(x) || isNullish(y)) return null;
    const tx = V.btype(x), ty = V.btype(y);
    if (tx === 'date' && ty === 'date') return V.mkLong(BigInt(x.getTime() - y.getTime()));
    if (tx === 'date' && V.isNumber(y)) return new Date(x.getTime() - Math.round(V.toDouble(y)));
    if (!V.isNumber(x) || !V.isNumber(y)) {
      throw new MongoError(16556, `can't $subtract ${ty} from ${tx}`);
    }
    return A.binary('sub', x, y, 'aggregate');
  },
  $divide: (a, ctx, n) => {
    const [x, y] = args(a, n, 2, 2).map((v) => evaluate(v, ctx));
    if (isNullish(x) || isNullish(y)) return null;
    if (!V.isNumber(x) || !V.isNumber(y)) throw new MongoError(16609, `$divide only supports numeric types, not ${V.btype(x)} and ${V.btype(y)}`);
    if (V.toDouble(y) === 0) throw new MongoError(16608, "can't $divide by zero");
    if (V.btype(x) === 'decimal' || V.btype(y) === 'decimal') {
      // mongod divides decimals in decimal128; this server does not implement that.
      throw new MongoError(2, '$divide of decimal128 values is not supported by this test server');
    }
    return V.mkDouble(V.toDouble(x) / V.toDouble(y));
  },
  $toLong: (a, ctx, n) => toLong(evaluate(args(a, n, 1, 1)[0], ctx)),
  $toInt: (a, ctx, n) => {
    const v = evaluate(args(a, n, 1, 1)[0], ctx);
    if (isNullish(v)) return null;
    const l = V.toBig(toLong(v));
    if (l < BigInt(V.INT32_MIN) || l > BigInt(V.INT32_MAX)) throw new MongoError(241, 'Conversion would overflow target type in $convert with no onError value');
    return V.mkInt(Number(l));
  },
  $toDouble: (a, ctx, n) => {
    const v = evaluate(args(a, n, 1, 1)[0], ctx);
    if (isNullish(v)) return null;
    if (V.btype(v) === 'date') return V.mkDouble(v.getTime());
    if (V.isNumber(v)) return V.mkDouble(V.toDouble(v));
    throw new MongoError(241, `Unsupported conversion from ${V.btype(v)} to double in $convert with no onError value`);
  },
  $toDate: (a, ctx, n) => {
    const v = evaluate(args(a, n, 1, 1)[0], ctx);
    if (isNullish(v)) return null;
    if (V.btype(v) === 'date') return v;
    if (V.btype(v) === 'long' || V.btype(v) === 'double') return new Date(V.toDouble(v));
    throw new MongoError(241, `Unsupported conversion from ${V.btype(v)} to date in $convert with no onError value`);
  },
  $toString: (a, ctx, n) => {
    const v = evaluate(args(a, n, 1, 1)[0], ctx);
    if (isNullish(v)) return null;
    if (typeof v === 'string') return v;
    if (V.isNumber(v)) return V.btype(v) === 'long' ? String(V.toBig(v)) : String(V.toDouble(v));
    if (V.btype(v) === 'objectId') return v.toHexString();
    if (V.btype(v) === 'date') return v.toISOString();
    if (V.btype(v) === 'bool') return String(v);
    throw new MongoError(241, `Unsupported conversion from ${V.btype(v)} to string in $convert with no onError value`);
  },
  $type: (a, ctx, n) => {
    const v = evaluate(args(a, n, 1, 1)[0], ctx);
    return v === undefined ? 'missing' : V.btype(v);
  },
  $max: minMax(1),
  $min: minMax(-1),
  $concat: (a, ctx) => {
    const parts = (Array.isArray(a) ? a : [a]).map((x) => evaluate(x, ctx));
    if (parts.some(isNullish)) return null;
    for (const p of parts) if (typeof p !== 'string') throw new MongoError(16702, `$concat only supports strings, not ${V.btype(p)}`);
    return parts.join('');
  },
  $size: (a, ctx, n) => {
    const v = evaluate(args(a, n, 1, 1)[0], ctx);
    if (!Array.isArray(v)) throw new MongoError(17124, `The argument to $size must be an array. Type of the argument is: ${V.btype(v)}`);
    return V.mkInt(v.length);
  },
  $in: (a, ctx, n) => {
    const [x, arr] = args(a, n, 2, 2).map((v) => evaluate(v, ctx));
    if (!Array.isArray(arr)) throw new MongoError(40081, `$in requires an array as a second argument, found: ${V.btype(arr)}`);
    return arr.some((y) => V.equal(x, y));
  },
  $arrayElemAt: (a, ctx, n) => {
    const [arr, idx] = args(a, n, 2, 2).map((v) => evaluate(v, ctx));
    if (isNullish(arr) || isNullish(idx)) return null;
    if (!Array.isArray(arr)) throw new MongoError(28689, `$arrayElemAt's first argument must be an array, but is ${V.btype(arr)}`);
    let i = Number(V.toDouble(idx));
    if (i < 0) i += arr.length;
    return i >= 0 && i < arr.length ? arr[i] : undefined;
  },
  $mergeObjects: (a, ctx) => {
    const out = {};
    for (const x of (Array.isArray(a) ? a : [a]).map((y) => evaluate(y, ctx))) {
      if (isNullish(x)) continue;
      if (!V.isPlainObject(x)) throw new MongoError(40400, `$mergeObjects requires object inputs, but input ${V.show(x)} is of type ${V.btype(x)}`);
      for (const k of Object.keys(x)) V.setOwn(out, k, x[k]);
    }
    return out;
  },
  $sum: (a, ctx) => {
    const list = Array.isArray(a) ? a.map((x) => evaluate(x, ctx)) : [evaluate(a, ctx)].flat();
    return arith('$add', list.filter((v) => V.isNumber(v)));
  },
  $abs: (a, ctx, n) => {
    const v = evaluate(args(a, n, 1, 1)[0], ctx);
    if (isNullish(v)) return null;
    if (!V.isNumber(v)) throw new MongoError(28765, `$abs only supports numeric types, not ${V.btype(v)}`);
    if (V.btype(v) === 'double') return V.mkDouble(Math.abs(V.toDouble(v)));
    if (V.btype(v) === 'decimal') return V.Decimal128.fromString(v.toString().replace(/^-/, ''));
    const b = V.toBig(v);
    return intResult(b < 0n ? -b : b, V.btype(v) === 'long');
  },
  // Array operators (src/mongo/db/pipeline/expression.cpp): a nullish input gives null,
  // any other non-array fails at run time with the operator's own code. The argument
  // objects of $filter and $map were checked at parse time (lib/expr-compile.js).
  $concatArrays: (a, ctx) => {
    const out = [];
    for (const v of (Array.isArray(a) ? a : [a]).map((x) => evaluate(x, ctx))) {
      if (isNullish(v)) return null;
      if (!Array.isArray(v)) throw new MongoError(28664, `$concatArrays only supports arrays, not ${V.btype(v)}`);
      out.push(...v);
    }
    return out;
  },
  $filter: (a, ctx) => {
    const input = evaluate(a.input, ctx);
    if (isNullish(input)) return null;
    if (!Array.isArray(input)) throw new MongoError(28651, `input to $filter must be an array not ${V.btype(input)}`);
    const name = a.as === undefined ? 'this' : a.as;
    return input.filter((el) => V.truthy(evaluate(a.cond, bind(ctx, name, el))));
  },
  $map: (a, ctx) => {
    const input = evaluate(a.input, ctx);
    if (isNullish(input)) return null;
    if (!Array.isArray(input)) throw new MongoError(16883, `input to $map must be an array not ${V.btype(input)}`);
    const name = a.as === undefined ? 'this' : a.as;
    return input.map((el) => {
      const v = evaluate(a.in, bind(ctx, name, el));
      return v === undefined || v === REMOVE ? null : v; // a missing result is stored as null
    });
  },
  $let: (a, ctx) => {
    const vars = { ...(ctx.vars || {}) };
    for (const [k, v] of Object.entries(a.vars || {})) V.setOwn(vars, k, evaluate(v, ctx));
    return evaluate(a.in, { ...ctx, vars });
  },
};

// Whether name is an expression operator this server evaluates.
const isOperator = (name) => Object.prototype.hasOwnProperty.call(OPS, name);

module.exports = { evaluate, REMOVE, fieldPath, isNullish, isOperator, args };
