// SPDX-License-Identifier: Apache-2.0
'use strict';
// Exact arithmetic on BSON numbers, with mongod's result types.
//
// Two flavours, as in mongod:
// - aggregation ($add, $subtract, $multiply; src/mongo/db/pipeline/expression.cpp): int32
//   overflowing becomes int64, int64 overflowing becomes a double;
// - update operators ($inc, $mul; src/mongo/util/safe_num.cpp, update/arithmetic_node.cpp):
//   int32 overflowing becomes int64, but int64 overflowing makes the update fail with
//   BadValue "Failed to apply $inc operations to current value (...)".
// Any double makes a double; any decimal128 makes a decimal128, computed exactly and
// rounded to 34 digits (ties to even). A double joins decimal arithmetic as
// Decimal128(double), i.e. rounded to 15 significant digits (src/mongo/platform/decimal128.h,
// the default kRoundTo15Digits; Value::coerceToDecimal, SafeNum::_convertToDecimal).
const V = require('./values');

const RANK = { int: 0, long: 1, double: 2, decimal: 3 };
const kindOf = (v) => V.btype(v);
const widest = (a, b) => (RANK[a] >= RANK[b] ? a : b);

// {special} or {c: signed BigInt coefficient, e: exponent}
function decOf(v) {
  switch (kindOf(v)) {
    case 'int': case 'long': return { c: V.toBig(v), e: 0 };
    case 'double': {
      const x = V.toDouble(v);
      if (!Number.isFinite(x)) return { special: x };
      return decOf(V.Decimal128.fromString(x.toPrecision(15).toUpperCase()));
    }
    case 'decimal': {
      const p = V.decimalParts(v);
      if (p.special !== undefined) return p;
      return { c: p.neg ? -p.coef : p.coef, e: p.exp };
    }
    default: throw new Error('unreachable');
  }
}

function decValue(r) {
  if (r.special !== undefined) return V.Decimal128.fromString(Number.isNaN(r.special) ? 'NaN' : r.special > 0 ? 'Infinity' : '-Infinity');
  try {
    return V.Decimal128.fromStringWithRounding(`${r.c}E${r.e}`);
  } catch (e) {
    return V.Decimal128.fromString(r.c < 0n ? '-Infinity' : 'Infinity'); // beyond the exponent range
  }
}

function specialOp(op, a, b) {
  const x = a.special !== undefined ? a.special : Number(a.c) * 10 ** a.e;
  const y = b.special !== undefined ? b.special : Number(b.c) * 10 ** b.e;
  return { special: op === 'add' ? x + y : op === 'sub' ? x - y : x * y };
}

function decOp(op, a, b) {
  const x = decOf(a), y = decOf(b);
  if (x.special !== undefined || y.special !== undefined) return decValue(specialOp(op, x, y));
  if (op === 'mul') return decValue({ c: x.c * y.c, e: x.e + y.e });
  const e = Math.min(x.e, y.e);
  const cx = x.c * 10n ** BigInt(x.e - e), cy = y.c * 10n ** BigInt(y.e - e);
  return decValue({ c: op === 'add' ? cx + cy : cx - cy, e });
}

const fitsInt32 = (b) => b >= BigInt(V.INT32_MIN) && b <= BigInt(V.INT32_MAX);
const fitsInt64 = (b) => b >= V.INT64_MIN && b <= V.INT64_MAX;

// a op b for op in add|sub|mul. mode 'aggregate' or 'update'; returns a BSON number, or
// null in update mode when an int64 result overflows (the caller reports the error).
function binary(op, a, b, mode) {
  const k = widest(kindOf(a), kindOf(b));
  if (k === 'decimal') return decOp(op, a, b);
  if (k === 'double') {
    const x = V.toDouble(a), y = V.toDouble(b);
    return V.mkDouble(op === 'add' ? x + y : op === 'sub' ? x - y : x * y);
  }
  const x = V.toBig(a), y = V.toBig(b);
  const r = op === 'add' ? x + y : op === 'sub' ? x - y : x * y;
  if (k === 'int' && fitsInt32(r)) return V.mkInt(Number(r));
  if (fitsInt64(r)) return V.mkLong(r);
  if (mode === 'update') return null;
  const dx = Number(x), dy = Number(y); // mongod carries a double total alongside
  return V.mkDouble(op === 'add' ? dx + dy : op === 'sub' ? dx - dy : dx * dy);
}

module.exports = { binary, decOf, kindOf };
