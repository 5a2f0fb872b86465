/* SPDX-License-Identifier: Apache-2.0 */
/* The index spec file of `mongolock migrate` (format in mongolock.1). */
#ifndef MONGOLOCK_CLI_SPEC_H
#define MONGOLOCK_CLI_SPEC_H

#include "cli.h"

typedef struct {
   const char *collection;
   bson_t keys; /* static views into cli_spec_t.doc */
   bool has_pfe;
   bson_t pfe;
   const char *name; /* NULL: MongoDB's default name */
} cli_spec_index_t;

typedef struct {
   bson_t *doc;
   const char *database; /* NULL when the file has none */
   cli_spec_index_t *indexes;
   size_t n;
} cli_spec_t;

/* Reads and checks the spec file. Returns CLI_EXIT_OK, or prints one line naming the
 * problem and returns CLI_EXIT_SPEC_MISSING (cannot read) or CLI_EXIT_SPEC_INVALID. */
int
cli_spec_load (const char *path, cli_spec_t *spec);

/* Frees what cli_spec_load filled; safe on a zeroed spec. */
void
cli_spec_destroy (cli_spec_t *spec);

#endif
