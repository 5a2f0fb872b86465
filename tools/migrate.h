/* SPDX-License-Identifier: Apache-2.0 */
/* Results of `mongolock migrate` and how they are printed. */
#ifndef MONGOLOCK_CLI_MIGRATE_H
#define MONGOLOCK_CLI_MIGRATE_H

#include "spec.h"

/* One index: the lock collection's TTL index (index NULL) or one of the spec's. */
typedef struct {
   const char *db;
   const char *collection;
   const cli_spec_index_t *index; /* NULL: the lock collection's TTL index */
   const char *action;            /* created, exists, would-create, duplicates, conflict, error, skipped */
   char *lock_index_name;         /* the TTL index's name, once seen */
   bson_t report;
   bson_error_t error;
   int exit_code;
} cli_migrate_result_t;

/* The table: one line per index (action, namespace, name, keys, report). stopped: the
 * migration failed, so checked indexes were not built. */
void
cli_migrate_print_text (const cli_migrate_result_t *res, size_t n, bool stopped);

/* One JSON document {ok, dryRun, changed, results: [...]}. */
void
cli_migrate_print_json (const cli_migrate_result_t *res, size_t n, bool dry_run, bool ok, bool changed);

#endif
