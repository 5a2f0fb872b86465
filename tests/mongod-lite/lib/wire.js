// SPDX-License-Identifier: Apache-2.0
'use strict';
// The MongoDB wire protocol: message framing, OP_MSG (with document sequences) and the
// legacy OP_QUERY handshake. A malformed frame closes that client's connection only,
// as mongod does; a malformed command gets a typed error reply.
const { BSON } = require('bson');
const { MongoError } = require('./errors');

const OP_REPLY = 1;
const OP_QUERY = 2004;
const OP_MSG = 2013;
const MIN_MESSAGE = 16;

const DECODE = { promoteValues: false, promoteLongs: false, promoteBuffers: false, bsonRegExp: true, validation: { utf8: true } };

// BSONDepth::kDefaultMaxAllowableDepth: deeper BSON fails validation with 15 Overflow
// "BSONObj exceeds maximum nested object depth" (src/mongo/bson/bson_validate.cpp).
const MAX_DEPTH = 200;

class ProtocolError extends Error {}

// CRC-32C (Castagnoli), as the OP_MSG checksum (manual "OP_MSG": checksum).
const CRC32C = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

function crc32c(buf, start, end) {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = CRC32C[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// Fixed sizes of BSON element values by type; -1: variable, handled below.
const FIXED = { 0x01: 8, 0x06: 0, 0x07: 12, 0x08: 1, 0x09: 8, 0x0a: 0, 0x10: 4, 0x11: 8, 0x12: 8, 0x13: 16, 0xff: 0, 0x7f: 0 };

// Walks one BSON document without recursion before it is decoded: checks the structure,
// the nesting depth (<= 200, else 15 Overflow) and duplicate field names. mongod keeps
// documents with duplicate names; JavaScript objects cannot, so they are refused rather
// than silently losing a field (at the top of a command, as mongod's IDL does: 40413).
function scanDoc(buf, off, end, isCommand) {
  const bad = (m) => new MongoError(22, `invalid BSON: ${m}`);
  const frames = [];
  const push = (at, limit) => {
    if (at + 5 > limit) throw bad('document is truncated');
    const len = buf.readInt32LE(at);
    if (len < 5 || at + len > limit) throw bad(`invalid document length ${len}`);
    if (buf[at + len - 1] !== 0) throw bad('document is not NUL-terminated');
    if (frames.length >= MAX_DEPTH) throw new MongoError(15, 'BSONObj exceeds maximum nested object depth');
    frames.push({ pos: at + 4, end: at + len - 1, names: new Set(), top: frames.length === 0 });
  };
  push(off, end);
  const docEnd = off + buf.readInt32LE(off);
  while (frames.length) {
    const f = frames[frames.length - 1];
    if (f.pos === f.end) { frames.pop(); continue; }
    const type = buf[f.pos];
    const nameEnd = buf.indexOf(0, f.pos + 1);
    if (nameEnd < 0 || nameEnd >= f.end) throw bad('unterminated field name');
    const name = buf.toString('latin1', f.pos + 1, nameEnd);
    if (f.names.has(name)) {
      if (f.top && isCommand) throw new MongoError(40413, `BSON field '${buf.toString('utf8', f.pos + 1, nameEnd)}' is a duplicate field`);
      throw new MongoError(2, 'documents with duplicate field names are not supported by this test server');
    }
    f.names.add(name);
    let p = nameEnd + 1;
    const need = (n) => { if (p + n > f.end) throw bad('element runs past its document'); };
    const str = () => {
      need(4);
      const n = buf.readInt32LE(p);
      if (n < 1) throw bad('invalid string length');
      need(4 + n);
      if (buf[p + 4 + n - 1] !== 0) throw bad('string is not NUL-terminated');
      p += 4 + n;
    };
    if (type === 0x03 || type === 0x04) {
      f.pos = p + (need(4), buf.readInt32LE(p));
      if (f.pos > f.end || f.pos < p) throw bad('embedded document runs past its parent');
      push(p, f.end);
      continue;
    }
    if (FIXED[type] !== undefined) {
      need(FIXED[type]);
      p += FIXED[type];
    } else if (type === 0x02 || type === 0x0d || type === 0x0e) {
      str();
    } else if (type === 0x05) {
      need(5);
      const n = buf.readInt32LE(p);
      if (n < 0) throw bad('invalid binary length');
      need(5 + n);
      p += 5 + n;
    } else if (type === 0x0b) {
      for (let k = 0; k < 2; k++) {
        const z = buf.indexOf(0, p);
        if (z < 0 || z >= f.end) throw bad('unterminated regex');
        p = z + 1;
      }
    } else if (type === 0x0c) {
      str();
      need(12);
      p += 12;
    } else if (type === 0x0f) {
      need(4);
      const n = buf.readInt32LE(p);
      if (n < 14) throw bad('invalid code with scope length');
      need(n);
      p += n;
    } else {
      throw bad(`unknown BSON type ${type}`);
    }
    f.pos = p;
  }
  return docEnd;
}

function readCString(buf, off, limit = buf.length) {
  const end = buf.indexOf(0, off);
  if (end < 0 || end >= limit) throw new ProtocolError('unterminated C string');
  return [buf.toString('utf8', off, end), end + 1];
}

function readDoc(buf, off, limit, isCommand = false) {
  if (off + 5 > limit) throw new MongoError(22, 'BSON document is truncated');
  const len = buf.readInt32LE(off);
  if (len < 5 || off + len > limit) throw new MongoError(22, `invalid BSON document length ${len}`);
  scanDoc(buf, off, off + len, isCommand);
  let doc;
  try {
    doc = BSON.deserialize(buf.subarray(off, off + len), DECODE);
  } catch (e) {
    throw new MongoError(22, `invalid BSON: ${e.message}`);
  }
  return [doc, off + len];
}

// Parses one OP_MSG into {body, moreToCome}. Throws MongoError for bad content (answered
// with an error) and ProtocolError for what mongod treats as connection-fatal
// (ConnectionFatalMessageParseError: IllegalOpMsgFlag 223, TooManyDocumentSequences 233,
// ChecksumMismatch 288 - src/mongo/rpc/op_msg.cpp, base/error_codes.yml).
function parseMsg(msg) {
  if (msg.length < 21) throw new ProtocolError('OP_MSG is too short');
  const flags = msg.readUInt32LE(16);
  const checksum = (flags & 1) !== 0;
  // Required bits 0-15 other than checksumPresent and moreToCome must be unset.
  if ((flags & 0xfffc) !== 0) throw new ProtocolError(`Message contains illegal flags value ${flags.toString(16)}`);
  if (checksum) {
    if (msg.length < 25) throw new ProtocolError('OP_MSG too short for its checksum');
    if (crc32c(msg, 0, msg.length - 4) !== msg.readUInt32LE(msg.length - 4)) {
      throw new ProtocolError('OP_MSG checksum does not match contents');
    }
  }
  const end = msg.length - (checksum ? 4 : 0);
  let off = 20;
  let body = null;
  const sequences = [];
  while (off < end) {
    const kind = msg[off++];
    if (kind === 0) {
      if (body) throw new MongoError(40430, 'Multiple body sections in message');
      [body, off] = readDoc(msg, off, end, true);
    } else if (kind === 1) {
      if (sequences.length >= 2) throw new ProtocolError('Too many document sequences in OP_MSG');
      if (off + 4 > end) throw new MongoError(22, 'truncated document sequence');
      const size = msg.readInt32LE(off);
      const secEnd = off + size;
      if (size < 5 || secEnd > end) throw new MongoError(22, 'invalid document sequence size');
      let id;
      try {
        [id, off] = readCString(msg, off + 4, secEnd);
      } catch (e) {
        throw new MongoError(22, 'document sequence identifier runs past its section');
      }
      if (sequences.some(([other]) => other === id)) throw new MongoError(40431, `Duplicate document sequence: ${id}`);
      const docs = [];
      while (off < secEnd) {
        let d;
        [d, off] = readDoc(msg, off, secEnd);
        docs.push(d);
      }
      sequences.push([id, docs]);
    } else {
      throw new MongoError(40432, `Unknown section kind ${kind}`);
    }
  }
  if (!body) throw new MongoError(40587, 'OP_MSG messages must have a body');
  for (const [id, docs] of sequences) {
    if (Object.prototype.hasOwnProperty.call(body, id)) throw new MongoError(40433, `Duplicate field between body and document sequence ${id}`);
    Object.defineProperty(body, id, { value: docs, writable: true, enumerable: true, configurable: true });
  }
  return { body, moreToCome: (flags & 2) !== 0, exhaustAllowed: (flags & 0x10000) !== 0 };
}

function parseQuery(msg) {
  let off = 20;
  let ns;
  [ns, off] = readCString(msg, off);
  off += 8; // numberToSkip, numberToReturn
  let query;
  [query] = readDoc(msg, off, msg.length, true);
  if (query.$query && typeof query.$query === 'object') query = query.$query;
  return { ns, query };
}

function header(len, requestId, responseTo, opCode) {
  const h = Buffer.alloc(16);
  h.writeInt32LE(len, 0);
  h.writeInt32LE(requestId, 4);
  h.writeInt32LE(responseTo, 8);
  h.writeInt32LE(opCode, 12);
  return h;
}

let nextRequestId = 1;

// moreToCome: the exhaust reply flag (bit 1): another reply follows without a request.
function encodeMsg(responseTo, doc, moreToCome = false) {
  const body = BSON.serialize(doc, { ignoreUndefined: true });
  const flags = Buffer.alloc(5); // flagBits, then section kind 0
  if (moreToCome) flags.writeUInt32LE(2, 0);
  return Buffer.concat([header(16 + 5 + body.length, nextRequestId++, responseTo, OP_MSG), flags, body]);
}

function encodeReply(responseTo, doc) {
  const body = BSON.serialize(doc, { ignoreUndefined: true });
  const fixed = Buffer.alloc(20);
  fixed.writeInt32LE(0, 0); // responseFlags
  fixed.writeBigInt64LE(0n, 4); // cursorID
  fixed.writeInt32LE(0, 12); // startingFrom
  fixed.writeInt32LE(1, 16); // numberReturned
  return Buffer.concat([header(16 + 20 + body.length, nextRequestId++, responseTo, OP_REPLY), fixed, body]);
}

module.exports = { parseMsg, parseQuery, encodeMsg, encodeReply, ProtocolError, OP_MSG, OP_QUERY, MIN_MESSAGE };
