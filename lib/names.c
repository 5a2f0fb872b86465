/* SPDX-License-Identifier: Apache-2.0 */
/* MongoDB's naming rules for the lock collection's database and collection, checked when
 * they are set so a bad name fails at once with a clear message, not later on the server
 * (InvalidNamespace, 73). */
#include "mongolock-private.h"

#include <string.h>

/* Server source: NamespaceString::validDBName (src/mongo/db/namespace_string.h) refuses
 * an empty name, one of 64 bytes or more (DatabaseName::kMaxDatabaseNameLength = 63 in
 * src/mongo/db/database_name.h), NUL and / \ . space " $; on Windows also * < > : | ?
 * (FAT32). Refused here on every platform, so a name works on whatever server it meets.
 * Manual: reference/limits, "Restrictions on Database Names". */
#define DB_FORBIDDEN "/\\. \"$*<>:|?"

bool
_mongolock_check_db_name (const char *name, bson_error_t *error)
{
   if (!_mongolock_check_string ("database name", name, MONGOLOCK_DATABASE_NAME_MAX_BYTES, error)) {
      return false;
   }
   size_t bad = strcspn (name, DB_FORBIDDEN);
   if (name[bad]) {
      _mongolock_set_error (error,
                            MONGOLOCK_ERROR_INVALID_ARGUMENT,
                            "database name \"%s\" contains '%c'; MongoDB database names cannot contain any of "
                            "\"%s\" or a space",
                            name,
                            name[bad],
                            "/\\.\"$*<>:|?");
      return false;
   }
   return true;
}

/* Server source: NamespaceString::validCollectionName (src/mongo/db/namespace_string.h)
 * refuses an empty name, a leading '.', NUL and '$'. Names starting with "system." are
 * reserved for the server's own collections (NamespaceString::isLegalClientSystemNS). */
bool
_mongolock_check_coll_name (const char *name, bson_error_t *error)
{
   if (!_mongolock_check_string ("collection name", name, MONGOLOCK_NAMESPACE_MAX_BYTES, error)) {
      return false;
   }
   if (name[0] == '.') {
      _mongolock_set_error (
         error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "collection name \"%s\" starts with '.'", name);
      return false;
   }
   if (strchr (name, '$')) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "collection name \"%s\" contains '$'", name);
      return false;
   }
   if (strncmp (name, "system.", 7) == 0) {
      _mongolock_set_error (error,
                            MONGOLOCK_ERROR_INVALID_ARGUMENT,
                            "collection name \"%s\" is reserved: \"system.\" names belong to the server",
                            name);
      return false;
   }
   return true;
}

/* "<db>.<coll>" is at most 255 bytes (SERVER-46641, MongoDB 4.4+; manual: reference/limits,
 * "Namespace Length"; a sharded collection's limit is 235 bytes). */
bool
_mongolock_check_namespace (const char *db, const char *coll, bson_error_t *error)
{
   size_t len = strlen (db) + 1 + strlen (coll);
   if (len > MONGOLOCK_NAMESPACE_MAX_BYTES) {
      _mongolock_set_error (error,
                            MONGOLOCK_ERROR_INVALID_ARGUMENT,
                            "the namespace \"%s.%s\" is %zu bytes long; MongoDB's limit is %d",
                            db,
                            coll,
                            len,
                            MONGOLOCK_NAMESPACE_MAX_BYTES);
      return false;
   }
   return true;
}
