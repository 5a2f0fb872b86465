// SPDX-License-Identifier: Apache-2.0
'use strict';
// Server errors with MongoDB's codes and code names (src/mongo/base/error_codes.yml).
const CODE_NAMES = {
  1: 'InternalError', 2: 'BadValue', 9: 'FailedToParse', 11: 'UserNotFound', 13: 'Unauthorized', 14: 'TypeMismatch',
  15: 'Overflow', 16: 'InvalidLength', 17: 'ProtocolError', 20: 'IllegalOperation', 28: 'PathNotViable',
  53: 'InvalidIdField', 54: 'NotSingleValueField', 68: 'IndexAlreadyExists', 79: 'UnknownReplWriteConcern',
  171: 'CannotIndexParallelArrays', 181: 'AmbiguousIndexKeyPattern', 197: 'InvalidIndexSpecificationOption', 322: 'APIVersionError', 323: 'APIStrictError',
  18: 'AuthenticationFailed', 22: 'InvalidBSON', 26: 'NamespaceNotFound', 27: 'IndexNotFound',
  40: 'ConflictingUpdateOperators', 43: 'CursorNotFound', 48: 'NamespaceExists', 52: 'DollarPrefixedFieldName',
  56: 'EmptyFieldName', 57: 'DottedFieldName', 59: 'CommandNotFound', 66: 'ImmutableField', 67: 'CannotCreateIndex',
  72: 'InvalidOptions', 73: 'InvalidNamespace', 85: 'IndexOptionsConflict', 86: 'IndexKeySpecsConflict',
  168: 'InvalidPipelineOperator', 224: 'QueryFeatureNotAllowed', 241: 'ConversionFailure',
  352: 'UnsupportedOpQueryCommand', 10334: 'BSONObjectTooLarge', 11000: 'DuplicateKey',
  15983: 'Location15983', 16612: 'Location16612', 17419: 'Location17419', 40324: 'Location40324',
  40353: 'Location40353', 40415: 'Location40415', 40573: 'Location40573', 31002: 'Location31002',
  51024: 'Location51024', 28724: 'Location28724',
  // Replica sets, sessions, failpoints.
  6: 'HostUnreachable', 7: 'HostNotFound', 50: 'MaxTimeMSExpired', 64: 'WriteConcernTimeout', 76: 'NoReplicationEnabled',
  89: 'NetworkTimeout', 91: 'ShutdownInProgress', 100: 'UnsatisfiableWriteConcern', 189: 'PrimarySteppedDown',
  225: 'TransactionTooOld', 262: 'ExceededTimeLimit', 266: 'FailPointSetFailed', 9001: 'SocketException',
  10107: 'NotWritablePrimary', 11600: 'InterruptedAtShutdown', 11601: 'Interrupted', 11602: 'InterruptedDueToReplStateChange',
  13435: 'NotPrimaryNoSecondaryOk', 13436: 'NotPrimaryOrSecondary', 50768: 'NotARetryableWriteCommand',
  47: 'NoMatchingDocument', 143: 'CursorInUse', 237: 'CursorKilled', 260: 'InvalidResumeToken',
  280: 'ChangeStreamFatalError', 286: 'ChangeStreamHistoryLost',
};

class MongoError extends Error {
  constructor(code, message, extra) {
    super(message);
    this.code = code;
    this.codeName = CODE_NAMES[code] || `Location${code}`;
    this.extra = extra || {};
  }

  toReply() {
    return { ok: 0, errmsg: this.message, code: this.code, codeName: this.codeName, ...this.extra };
  }

  toWriteError(index) {
    return { index, code: this.code, errmsg: this.message, ...this.extra };
  }
}

module.exports = { MongoError, CODE_NAMES };
