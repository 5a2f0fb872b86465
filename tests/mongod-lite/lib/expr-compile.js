// SPDX-License-Identifier: Apache-2.0
'use strict';
// Compiling aggregation expressions and a command's 'let': the checks mongod makes while
// parsing (src/mongo/db/pipeline/expression.cpp parseExpression/parseOperand,
// field_path.cpp, variables.cpp, variable_validation.cpp), raised whether or not a
// document is ever evaluated (MONGODB-RULES 21, 22). Runtime errors (a type error in
// $add, say) stay with the document that causes them (lib/expr.js).
const V = require('./values');
const { MongoError } = require('./errors');
const { evaluate, REMOVE, isOperator, args } = require('./expr');

// Operators whose arity is checked at parse time: [min, max] arguments.
const ARITY = {
  $eq: [2, 2], $ne: [2, 2], $gt: [2, 2], $gte: [2, 2], $lt: [2, 2], $lte: [2, 2], $cmp: [2, 2], $subtract: [2, 2],
  $divide: [2, 2], $in: [2, 2], $arrayElemAt: [2, 2], $not: [1, 1], $toLong: [1, 1], $toInt: [1, 1], $toDouble: [1, 1],
  $toDate: [1, 1], $toString: [1, 1], $type: [1, 1], $size: [1, 1], $abs: [1, 1],
};

// Builtin variables a user may read ($$CURRENT is ROOT unless rebound).
const BUILTIN_VARS = new Set(['NOW', 'ROOT', 'CURRENT', 'REMOVE', 'CLUSTER_TIME']);

const isLower = (c) => c >= 'a' && c <= 'z';
const isLetter = (c) => isLower(c) || (c >= 'A' && c <= 'Z');
const isNameChar = (c) => isLetter(c) || (c >= '0' && c <= '9') || c === '_';
const nonAscii = (c) => c.charCodeAt(0) > 0x7f;

// A variable name mongod accepts for writing ($let, command let): a lowercase letter (or
// non-ASCII) first, then letters, digits and '_'; CURRENT may be rebound. Returns null or
// the reason (variable_validation.cpp isValidNameForUserWrite: FailedToParse).
function badWriteName(name) {
  if (name === 'CURRENT') return null;
  if (name === '') return 'empty variable names are not allowed';
  if (!isLower(name[0]) && !nonAscii(name[0])) return `'${name}' starts with an invalid character for a user variable name`;
  for (const c of name.slice(1)) {
    if (!isNameChar(c) && !nonAscii(c)) return `'${name}' contains an invalid character for a variable name: '${c}'`;
  }
  return null;
}

// A variable name read as $$name (variable_validation.cpp validateNameForUserRead).
function checkReadName(name) {
  if (name === '') throw new MongoError(9, 'empty variable names are not allowed');
  if (!isLetter(name[0]) && !nonAscii(name[0])) throw new MongoError(9, `'${name}' starts with an invalid character for a variable name`);
  for (const c of name.slice(1)) {
    if (!isNameChar(c) && !nonAscii(c)) throw new MongoError(9, `'${name}' contains an invalid character for a variable name: '${c}'`);
  }
}

// The parts after the first of a field path or variable path (field_path.cpp).
function checkPathParts(parts) {
  for (const p of parts) {
    if (p === '') throw new MongoError(15998, 'FieldPath field names may not be empty strings.');
    if (p.startsWith('$')) throw new MongoError(16410, "FieldPath field names may not start with '$'. Consider using $getField or $setField.");
  }
}

// A field name in an expression object ({a: <expr>}).
function checkObjectFieldName(k) {
  if (k === '') throw new MongoError(16410, 'FieldPath cannot be constructed with empty string');
  if (k.startsWith('$')) throw new MongoError(16410, "FieldPath field names may not start with '$'. Consider using $getField or $setField.");
  if (k.includes('.')) throw new MongoError(16412, "FieldPath field names may not contain '.'.");
}

// Checks expression e with the user variables in scope (a Set of names).
function check(e, scope) {
  if (typeof e === 'string') {
    if (e.startsWith('$$')) {
      const [name, ...rest] = e.slice(2).split('.');
      checkReadName(name);
      checkPathParts(rest);
      if (!scope.has(name) && !BUILTIN_VARS.has(name)) throw new MongoError(17276, `Use of undefined variable: ${name}`);
    } else if (e.startsWith('$')) {
      if (e.length === 1) throw new MongoError(16872, "'$' by itself is not a valid FieldPath");
      checkPathParts(e.slice(1).split('.'));
    }
    return;
  }
  if (Array.isArray(e)) {
    for (const x of e) check(x, scope);
    return;
  }
  if (!V.isPlainObject(e)) return;
  const keys = Object.keys(e);
  if (keys.length > 0 && keys[0].startsWith('$')) {
    if (keys.length !== 1) {
      throw new MongoError(15983, `an expression specification must contain exactly one field, the name of the expression. Found ${keys.length} fields in ${V.show(e)}`);
    }
    const name = keys[0];
    const a = e[name];
    if (!isOperator(name)) throw new MongoError(168, `Unrecognized expression '${name}'`);
    checkOperator(name, a, scope);
    return;
  }
  for (const k of keys) {
    checkObjectFieldName(k);
    check(e[k], scope);
  }
}

function checkOperator(name, a, scope) {
  switch (name) {
    case '$literal': return;
    case '$cond':
      if (V.isPlainObject(a)) {
        for (const k of Object.keys(a)) {
          if (!['if', 'then', 'else'].includes(k)) throw new MongoError(17083, `Unrecognized parameter to $cond: ${k}`);
        }
        if (!('if' in a)) throw new MongoError(17080, "Missing 'if' parameter to $cond");
        if (!('then' in a)) throw new MongoError(17081, "Missing 'then' parameter to $cond");
        if (!('else' in a)) throw new MongoError(17082, "Missing 'else' parameter to $cond");
        for (const k of ['if', 'then', 'else']) check(a[k], scope);
        return;
      }
      args(a, name, 3, 3).forEach((x) => check(x, scope));
      return;
    case '$ifNull':
      if (!Array.isArray(a) || a.length < 2) throw new MongoError(1257300, '$ifNull needs at least two arguments');
      a.forEach((x) => check(x, scope));
      return;
    case '$let': {
      if (!V.isPlainObject(a)) throw new MongoError(16874, '$let only supports an object as its argument');
      for (const k of Object.keys(a)) {
        if (k !== 'vars' && k !== 'in') throw new MongoError(16875, `Unrecognized parameter to $let: ${k}`);
      }
      if (!('vars' in a)) throw new MongoError(16876, "Missing 'vars' parameter to $let");
      if (!('in' in a)) throw new MongoError(16877, "Missing 'in' parameter to $let");
      if (!V.isPlainObject(a.vars)) throw new MongoError(10065, `invalid parameter: expected an object (vars)`);
      const inner = new Set(scope);
      for (const [k, v] of Object.entries(a.vars)) {
        check(v, scope);
        const bad = badWriteName(k);
        if (bad) throw new MongoError(9, bad);
        inner.add(k);
      }
      check(a.in, inner);
      return;
    }
    case '$filter':
      checkIterator(a, scope, '$filter', 'cond', { notObject: 28646, unknown: 28647, noInput: 28648, noBody: 28650 });
      return;
    case '$map':
      checkIterator(a, scope, '$map', 'in', { notObject: 16878, unknown: 16879, noInput: 16880, noBody: 16882 });
      return;
    default: {
      const [min, max] = ARITY[name] || [0, Infinity];
      args(a, name, min, max).forEach((x) => check(x, scope));
    }
  }
}

// $filter {input, as, cond} and $map {input, as, in} (expression.cpp ExpressionFilter::parse,
// ExpressionMap::parse): an object argument, no other parameters, input and the body
// required, 'as' optional ("this"), a name valid for writing, in scope for the body only.
// $filter's 'limit' (5.2+) is not implemented here: refused rather than ignored.
function checkIterator(a, scope, name, body, codes) {
  if (!V.isPlainObject(a)) throw new MongoError(codes.notObject, `${name} only supports an object as its argument`);
  for (const k of Object.keys(a)) {
    if (name === '$filter' && k === 'limit') throw new MongoError(2, "$filter's 'limit' is not supported by this test server");
    if (k !== 'input' && k !== 'as' && k !== body) throw new MongoError(codes.unknown, `Unrecognized parameter to ${name}: ${k}`);
  }
  if (!('input' in a)) throw new MongoError(codes.noInput, `Missing 'input' parameter to ${name}`);
  if (!(body in a)) throw new MongoError(codes.noBody, `Missing '${body}' parameter to ${name}`);
  check(a.input, scope);
  const as = a.as === undefined ? 'this' : (typeof a.as === 'string' ? a.as : '');
  const bad = badWriteName(as);
  if (bad) throw new MongoError(9, bad);
  const inner = new Set(scope);
  inner.add(as);
  check(a[body], inner);
}

// Whether e reads the document: a field path, $$ROOT or $$CURRENT outside $literal
// (expression_dependencies.cpp; a command let may not, 4890500).
function readsDocument(e, shadowed = new Set()) {
  if (typeof e === 'string') {
    if (e.startsWith('$$')) {
      const name = e.slice(2).split('.')[0];
      return (name === 'ROOT' || name === 'CURRENT') && !shadowed.has(name);
    }
    return e.startsWith('$');
  }
  if (Array.isArray(e)) return e.some((x) => readsDocument(x, shadowed));
  if (!V.isPlainObject(e)) return false;
  const keys = Object.keys(e);
  if (keys.length === 1 && keys[0] === '$literal') return false;
  if (keys.length === 1 && keys[0] === '$let' && V.isPlainObject(e.$let) && V.isPlainObject(e.$let.vars)) {
    const inner = new Set(shadowed);
    for (const k of Object.keys(e.$let.vars)) inner.add(k);
    return Object.values(e.$let.vars).some((x) => readsDocument(x, shadowed)) || readsDocument(e.$let.in, inner);
  }
  return keys.some((k) => readsDocument(e[k], shadowed));
}

// A checked expression: run(ctx) evaluates it against ctx.root.
function compile(e, scope = new Set()) {
  check(e, scope);
  return { run: (ctx) => evaluate(e, ctx) };
}

// System variables mongod lets only internal clients set (variables.cpp kSystemVarValidators).
const SYSTEM_VARS = new Set(['NOW', 'CLUSTER_TIME', 'JS_SCOPE', 'IS_MR', 'USER_ROLES']);

// A command's 'let' (variables.cpp seedVariablesWithLetParameters): each variable is
// checked with the variables before it in scope, refused when it reads the document
// (4890500), and evaluated once, with $$NOW = now. Returns {names: Set, vars: {name: value}}.
function compileLet(spec, now) {
  const names = new Set();
  const vars = {};
  if (spec === undefined || spec === null) return { names, vars };
  for (const [k, e] of Object.entries(spec)) {
    const bad = badWriteName(k);
    if (bad) {
      if (SYSTEM_VARS.has(k)) throw new MongoError(4738901, `Attempt to set internal constant: ${k}`);
      throw new MongoError(9, `Invalid 'let' parameter :: caused by :: ${bad}`);
    }
    check(e, names);
    if (readsDocument(e)) {
      throw new MongoError(4890500, 'Command let Expression tried to access a field, but this is not allowed because Command let Expressions run before the query examines any documents.');
    }
    const v = evaluate(e, { now, vars, root: undefined });
    V.setOwn(vars, k, v === REMOVE ? undefined : v);
    names.add(k);
  }
  return { names, vars };
}

module.exports = { compile, compileLet, check };
