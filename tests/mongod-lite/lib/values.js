// SPDX-License-Identifier: Apache-2.0
'use strict';
// Typed BSON values. Documents are decoded with promoteValues: false, so numbers stay
// Int32, Long, Double or Decimal128 objects and keep their BSON type through every
// operation (MONGODB-RULES 11); int64 arithmetic is exact (BigInt), never via doubles.
// A missing field is JavaScript `undefined` throughout.
const { Int32, Long, Double, Decimal128, ObjectId, Binary, Timestamp, BSONRegExp, MinKey, MaxKey } = require('bson');
const { MongoError } = require('./errors');

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function btype(v) {
  if (v === undefined) return 'missing';
  if (v === null) return 'null';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) && v >= INT32_MIN && v <= INT32_MAX ? 'int' : 'double';
  if (typeof v === 'bigint') return 'long';
  if (Array.isArray(v)) return 'array';
  if (v instanceof Date) return 'date';
  switch (v._bsontype) {
    case 'Int32': return 'int';
    case 'Long': return 'long';
    case 'Double': return 'double';
    case 'Decimal128': return 'decimal';
    case 'ObjectId': case 'ObjectID': return 'objectId';
    case 'Binary': return 'binData';
    case 'Timestamp': return 'timestamp';
    case 'BSONRegExp': return 'regex';
    case 'MinKey': return 'minKey';
    case 'MaxKey': return 'maxKey';
    case 'Code': return 'javascript';
    case 'BSONSymbol': return 'symbol';
    case 'DBRef': return 'object';
    default: break;
  }
  if (v instanceof RegExp) return 'regex';
  return 'object';
}

const NUMERIC = new Set(['int', 'long', 'double', 'decimal']);
const isNumber = (v) => NUMERIC.has(btype(v));

// Canonical type ranks (src/mongo/bson/bsontypes.cpp canonicalizeBSONType): the order
// in which values of different types compare and sort (MONGODB-RULES 12).
const RANK = {
  minKey: -1, missing: 0, null: 5, int: 10, long: 10, double: 10, decimal: 10, string: 15, symbol: 15,
  object: 20, array: 25, binData: 30, objectId: 35, bool: 40, date: 45, timestamp: 47, regex: 50,
  javascript: 60, maxKey: 127,
};
const rank = (v) => RANK[btype(v)];

// Type names and numbers as $type reports them.
const TYPE_NUMBERS = {
  double: 1, string: 2, object: 3, array: 4, binData: 5, undefined: 6, objectId: 7, bool: 8, date: 9,
  null: 10, regex: 11, javascript: 13, symbol: 14, int: 16, timestamp: 17, long: 18, decimal: 19,
  minKey: -1, maxKey: 127,
};

function decimalToNumber(d) { return Number(d.toString()); }

function toDouble(v) {
  switch (btype(v)) {
    case 'int': return typeof v === 'number' ? v : v.value;
    case 'double': return typeof v === 'number' ? v : v.value;
    case 'long': return typeof v === 'bigint' ? Number(v) : Number(v.toBigInt());
    case 'decimal': return decimalToNumber(v);
    default: return NaN;
  }
}

function toBig(v) {
  switch (btype(v)) {
    case 'int': return BigInt(typeof v === 'number' ? v : v.value);
    case 'long': return typeof v === 'bigint' ? v : v.toBigInt();
    default: throw new Error('toBig of non-integer');
  }
}

const mkInt = (n) => new Int32(n);
const mkLong = (b) => Long.fromBigInt(BigInt.asIntN(64, b));
const mkDouble = (x) => new Double(x);

// Numbers as exact rationals {n, d} (d > 0), or {special: -Infinity|NaN|Infinity}: int32,
// int64, double and decimal128 compare by exact value across types, as mongod does
// (src/mongo/bson/bsonelement.cpp compareElementValues -> compareDoubleToDecimal etc.):
// Decimal128("0.1") is not equal to the double 0.1, and two decimals that differ in the
// 34th digit are different. Doubles are taken apart bit by bit, never rounded.
const F64 = new DataView(new ArrayBuffer(8));

function doubleRational(x) {
  if (Number.isNaN(x)) return { special: NaN };
  if (x === Infinity || x === -Infinity) return { special: x };
  if (Number.isInteger(x)) return { n: BigInt(x), d: 1n };
  F64.setFloat64(0, x);
  const hi = F64.getUint32(0), lo = F64.getUint32(4);
  const sign = hi >>> 31 ? -1n : 1n;
  const exp = (hi >>> 20) & 0x7ff;
  let mant = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let e;
  if (exp === 0) e = -1074; // subnormal
  else { mant |= 1n << 52n; e = exp - 1075; }
  return reduce(sign * mant * (e > 0 ? 2n ** BigInt(e) : 1n), e < 0 ? 2n ** BigInt(-e) : 1n);
}

// A Decimal128 as {neg, coef: BigInt, exp} (value = (-1)^neg * coef * 10^exp), or
// {special} for NaN and the infinities.
function decimalParts(v) {
  const s = v.toString();
  if (s === 'NaN' || s === '-NaN') return { special: NaN };
  if (s === 'Infinity') return { special: Infinity };
  if (s === '-Infinity') return { special: -Infinity };
  const m = /^(-)?(\d+)(?:\.(\d+))?(?:E([+-]?\d+))?$/i.exec(s);
  if (!m) throw new MongoError(1, `internal: cannot read decimal ${s}`);
  const frac = m[3] || '';
  return { neg: !!m[1], coef: BigInt(m[2] + frac), exp: Number(m[4] || 0) - frac.length };
}

function bigAbs(b) { return b < 0n ? -b : b; }
function gcd(a, b) {
  a = bigAbs(a); b = bigAbs(b);
  while (b) [a, b] = [b, a % b];
  return a;
}
function reduce(n, d) {
  if (n === 0n) return { n: 0n, d: 1n };
  const g = gcd(n, d);
  return { n: n / g, d: d / g };
}

function rational(v) {
  switch (btype(v)) {
    case 'int': case 'long': return { n: toBig(v), d: 1n };
    case 'double': return doubleRational(toDouble(v));
    case 'decimal': {
      const p = decimalParts(v);
      if (p.special !== undefined) return p;
      const c = p.neg ? -p.coef : p.coef;
      return p.exp >= 0 ? { n: c * 10n ** BigInt(p.exp), d: 1n } : reduce(c, 10n ** BigInt(-p.exp));
    }
    default: throw new MongoError(1, 'internal: rational of a non-number');
  }
}

// NaN sorts below every other number (and equals NaN); then -Infinity ... Infinity.
function compareNumbers(a, b) {
  const ra = rational(a), rb = rational(b);
  const na = ra.special !== undefined && Number.isNaN(ra.special), nb = rb.special !== undefined && Number.isNaN(rb.special);
  if (na || nb) return na && nb ? 0 : na ? -1 : 1;
  if (ra.special !== undefined || rb.special !== undefined) {
    const x = ra.special !== undefined ? ra.special : 0, y = rb.special !== undefined ? rb.special : 0;
    if (ra.special !== undefined && rb.special !== undefined) return cmpPrim(x, y);
    return ra.special !== undefined ? (x > 0 ? 1 : -1) : (y > 0 ? -1 : 1);
  }
  return cmpPrim(ra.n * rb.d, rb.n * ra.d);
}

// The canonical text of a number's exact value (equal values, any types, share it).
function numberKey(v) {
  const r = rational(v);
  if (r.special !== undefined) return Number.isNaN(r.special) ? 'NaN' : String(r.special);
  return r.d === 1n ? `${r.n}` : `${r.n}/${r.d}`;
}

function cmpPrim(a, b) {
  if (typeof a === 'number' && typeof b === 'number') {
    if (Number.isNaN(a)) return Number.isNaN(b) ? 0 : -1;
    if (Number.isNaN(b)) return 1;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareStrings(a, b) {
  // Simple binary comparison of UTF-8 bytes, as MongoDB without a collation.
  const ba = Buffer.from(a, 'utf8'), bb = Buffer.from(b, 'utf8');
  return Math.sign(Buffer.compare(ba, bb));
}

// Total order of BSON values (src/mongo/bson/bsonelement.cpp compareElements).
function compare(a, b) {
  const ra = rank(a), rb = rank(b);
  if (ra !== rb) return ra < rb ? -1 : 1;
  const t = btype(a);
  switch (t) {
    case 'missing': case 'null': case 'minKey': case 'maxKey': return 0;
    case 'int': case 'long': case 'double': case 'decimal': return compareNumbers(a, b);
    case 'string': case 'symbol': return compareStrings(String(a.valueOf ? a.valueOf() : a), String(b.valueOf ? b.valueOf() : b));
    case 'object': return compareObjects(a, b);
    case 'array': {
      for (let i = 0; i < Math.min(a.length, b.length); i++) {
        const c = compare(a[i], b[i]);
        if (c) return c;
      }
      return cmpPrim(a.length, b.length);
    }
    case 'binData': {
      const la = a.buffer.length, lb = b.buffer.length;
      if (la !== lb) return la < lb ? -1 : 1;
      if (a.sub_type !== b.sub_type) return a.sub_type < b.sub_type ? -1 : 1;
      return Math.sign(Buffer.compare(Buffer.from(a.buffer), Buffer.from(b.buffer)));
    }
    case 'objectId': return Math.sign(Buffer.compare(Buffer.from(a.id), Buffer.from(b.id)));
    case 'bool': return cmpPrim(a ? 1 : 0, b ? 1 : 0);
    case 'date': return cmpPrim(a.getTime(), b.getTime());
    case 'timestamp': return cmpPrim(a.toBigInt ? a.toBigInt() : BigInt(a.toString()), b.toBigInt ? b.toBigInt() : BigInt(b.toString()));
    case 'regex': {
      const c = compareStrings(a.pattern ?? a.source, b.pattern ?? b.source);
      return c || compareStrings(a.options ?? a.flags, b.options ?? b.flags);
    }
    case 'javascript': return compareStrings(a.code, b.code);
    default: return 0;
  }
}

function compareObjects(a, b) {
  const ka = Object.keys(a), kb = Object.keys(b);
  for (let i = 0; i < Math.min(ka.length, kb.length); i++) {
    const c = rank(a[ka[i]]) - rank(b[kb[i]]);
    if (c) return c < 0 ? -1 : 1;
    const n = compareStrings(ka[i], kb[i]);
    if (n) return n;
    const v = compare(a[ka[i]], b[kb[i]]);
    if (v) return v;
  }
  return cmpPrim(ka.length, kb.length);
}

const equal = (a, b) => compare(a, b) === 0;

// Truthiness in aggregation expressions: false, null, missing, undefined and 0 are false.
function truthy(v) {
  const t = btype(v);
  if (t === 'missing' || t === 'null') return false;
  if (t === 'bool') return v;
  if (NUMERIC.has(t)) return toDouble(v) !== 0;
  return true;
}

// Sets an own, enumerable property even for names like '__proto__' (plain assignment
// would call the prototype setter and lose the field).
function setOwn(obj, k, v) {
  Object.defineProperty(obj, k, { value: v, writable: true, enumerable: true, configurable: true });
}

function deepClone(v) {
  if (Array.isArray(v)) return v.map(deepClone);
  if (btype(v) === 'object' && !(v._bsontype)) {
    const out = {};
    for (const k of Object.keys(v)) setOwn(out, k, deepClone(v[k]));
    return out;
  }
  return v; // BSON value objects are immutable in practice
}

const isPlainObject = (v) => btype(v) === 'object' && !v._bsontype;

// Renders a value the way the server's error messages do ({ a: "x", b: 1 }).
function show(v) {
  const t = btype(v);
  switch (t) {
    case 'missing': return 'missing';
    case 'null': return 'null';
    case 'string': return JSON.stringify(v);
    case 'int': case 'double': return String(toDouble(v));
    case 'long': return String(toBig(v));
    case 'decimal': return v.toString();
    case 'bool': return String(v);
    case 'date': return `new Date(${v.getTime()})`;
    case 'objectId': return `ObjectId('${v.toHexString()}')`;
    case 'array': return `[ ${v.map(show).join(', ')} ]`;
    case 'object': {
      const ks = Object.keys(v);
      return ks.length ? `{ ${ks.map((k) => `${k}: ${show(v[k])}`).join(', ')} }` : '{}';
    }
    default: return String(v);
  }
}

function typeName(v) { return btype(v) === 'missing' ? 'missing' : btype(v); }

function assertNoBigints(v) {
  // Values we build must be BSON value objects, never bare BigInt.
  if (typeof v === 'bigint') throw new MongoError(1, 'internal: bare bigint');
}

module.exports = {
  setOwn, btype, isNumber, rank, compare, equal, truthy, deepClone, isPlainObject, show, typeName, toDouble, toBig,
  mkInt, mkLong, mkDouble, compareNumbers, numberKey, rational, decimalParts, TYPE_NUMBERS, INT32_MIN, INT32_MAX, INT64_MIN, INT64_MAX,
  Int32, Long, Double, Decimal128, ObjectId, Binary, Timestamp, BSONRegExp, MinKey, MaxKey, assertNoBigints,
};
