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

class ProtocolError extends Error {}

function readCString(buf, off) {
  const end = buf.indexOf(0, off);
  if (end < 0) throw new ProtocolError('unterminated C string');
  return [buf.toString('utf8', off, end), end + 1];
}

function readDoc(buf, off, limit) {
  if (off + 5 > limit) throw new MongoError(22, 'BSON document is truncated');
  const len = buf.readInt32LE(off);
  if (len < 5 || off + len > limit) throw new MongoError(22, `invalid BSON document length ${len}`);
  let doc;
  try {
    doc = BSON.deserialize(buf.subarray(off, off + len), DECODE);
  } catch (e) {
    throw new MongoError(22, `invalid BSON: ${e.message}`);
  }
  return [doc, off + len];
}

// Parses one OP_MSG into {body, moreToCome}. Throws MongoError for bad content.
function parseMsg(msg) {
  const flags = msg.readUInt32LE(16);
  const checksum = (flags & 1) !== 0;
  // Required bits 0-15 other than checksumPresent and moreToCome must be unset.
  // IllegalOpMsgFlag (223) is connection-fatal on mongod (op_msg.cpp): no reply, hang up.
  if ((flags & 0xfffc) !== 0) throw new ProtocolError(`Message contains illegal flags value ${flags.toString(16)}`);
  const end = msg.length - (checksum ? 4 : 0);
  let off = 20;
  let body = null;
  const sequences = [];
  while (off < end) {
    const kind = msg[off++];
    if (kind === 0) {
      if (body) throw new MongoError(40430, 'Multiple body sections in message');
      [body, off] = readDoc(msg, off, end);
    } else if (kind === 1) {
      if (off + 4 > end) throw new MongoError(22, 'truncated document sequence');
      const size = msg.readInt32LE(off);
      const secEnd = off + size;
      if (size < 5 || secEnd > end) throw new MongoError(22, 'invalid document sequence size');
      let id;
      [id, off] = readCString(msg, off + 4);
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
    if (id in body) throw new MongoError(40433, `Duplicate field between command and document sequence ${id}`);
    body[id] = docs;
  }
  return { body, moreToCome: (flags & 2) !== 0 };
}

function parseQuery(msg) {
  let off = 20;
  let ns;
  [ns, off] = readCString(msg, off);
  off += 8; // numberToSkip, numberToReturn
  let query;
  [query] = readDoc(msg, off, msg.length);
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

function encodeMsg(responseTo, doc) {
  const body = BSON.serialize(doc, { ignoreUndefined: true });
  const flags = Buffer.alloc(5); // flagBits 0, section kind 0
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
