// SPDX-License-Identifier: Apache-2.0
'use strict';
// Field names a stored document may hold (MONGODB-RULES 23). Since 5.0 names may start
// with '$' or contain '.', at any level (src/mongo/db/ops/insert.cpp
// fixDocumentForInsert), except inside _id: an object _id is checked with
// BSONObj::storageValidEmbedded (src/mongo/bson/bsonobj.cpp), which refuses a '$' name at
// any depth with 52 DollarPrefixedFieldName unless it is a DBRef ($ref: string, $id,
// optional $db: string, first), and storage_validation.cpp storageValidIdField words the
// error "_id fields may not contain '$'-prefixed fields".
const V = require('./values');
const { MongoError } = require('./errors');

// The first '$' name in v (an object or array) that storageValidEmbedded refuses, or null.
function refusedDollarName(v) {
  if (Array.isArray(v)) {
    for (const x of v) {
      const bad = refusedDollarName(x);
      if (bad) return bad;
    }
    return null;
  }
  if (!V.isPlainObject(v)) return null;
  const keys = Object.keys(v);
  let i = 0;
  if (keys[0] === '$ref' && typeof v.$ref === 'string' && keys[1] === '$id') {
    i = 2;
    if (keys[2] === '$db' && typeof v.$db === 'string') i = 3;
  }
  for (; i < keys.length; i++) {
    if (keys[i].startsWith('$')) return keys[i];
    const bad = refusedDollarName(v[keys[i]]);
    if (bad) return bad;
  }
  return null;
}

// Throws 52 when the _id value id holds a refused '$' name.
function checkIdDollarNames(id) {
  const bad = refusedDollarName(id);
  if (bad) {
    throw new MongoError(52, `_id fields may not contain '$'-prefixed fields: ${bad} is not valid for storage.`);
  }
}

module.exports = { checkIdDollarNames };
