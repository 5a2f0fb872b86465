/* SPDX-License-Identifier: Apache-2.0 */
/* What `mongolock run` holds: a named lock (plain run), a semaphore permit (--permits N)
 * or a reader hold on a reader/writer lock (--shared), behind one set of calls. */
#ifndef CLI_HOLD_H
#define CLI_HOLD_H

#include <mongolock/mongolock.h>

typedef struct cli_hold cli_hold_t;

/* permits > 0: a semaphore permit; shared: a reader hold; neither: a named lock (which
 * excludes, and is excluded by, --shared readers of the same key). lo: borrowed. Returns
 * NULL with error. */
cli_hold_t *cli_hold_new (mongolock_client_t *client, const char *key, int permits, bool shared,
                          const mongolock_lock_opts_t *lo, bson_error_t *error);
void cli_hold_destroy (cli_hold_t *h);

bool cli_hold_try_acquire (cli_hold_t *h, bool *acquired, bson_error_t *error);
bool cli_hold_acquire (cli_hold_t *h, bson_error_t *error);
bool cli_hold_release (cli_hold_t *h, bson_error_t *error);
bool cli_hold_is_held (const cli_hold_t *h);
int64_t cli_hold_token (const cli_hold_t *h);
int64_t cli_hold_remaining_ms (const cli_hold_t *h);
const char *cli_hold_key (const cli_hold_t *h);
/* "lock", "semaphore" or "shared lock", for messages. */
const char *cli_hold_what (const cli_hold_t *h);

/* A named lock's current holder (bson_free it), NULL otherwise or when free. */
char *cli_hold_holder (cli_hold_t *h);

#endif
