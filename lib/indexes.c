/* The lock collection's indexes (mongolock_client_ensure_indexes). */
#include "client-private.h"

bool
mongolock_client_ensure_indexes (mongolock_client_t *client, bson_error_t *error)
{
   if (!client) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "client is NULL");
      return false;
   }
   bson_t cmd = BSON_INITIALIZER, indexes, index, key, reply;
   BSON_APPEND_UTF8 (&cmd, "createIndexes", client->collection);
   BSON_APPEND_ARRAY_BEGIN (&cmd, "indexes", &indexes);
   BSON_APPEND_DOCUMENT_BEGIN (&indexes, "0", &index);
   BSON_APPEND_DOCUMENT_BEGIN (&index, "key", &key);
   BSON_APPEND_INT32 (&key, "expiresAt", 1);
   bson_append_document_end (&index, &key);
   BSON_APPEND_UTF8 (&index, "name", "mongolock_expiresAt_ttl");
   BSON_APPEND_INT64 (&index, "expireAfterSeconds", client->cleanup_secs);
   bson_append_document_end (&indexes, &index);
   bson_append_array_end (&cmd, &indexes);
   bool ok = _mongolock_client_write_command (client, &cmd, &reply, error);
   bson_destroy (&cmd);
   bson_destroy (&reply);
   return ok;
}
