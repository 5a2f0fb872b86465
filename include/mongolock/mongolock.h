/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file
 * @brief mongolock: distributed locks stored in MongoDB.
 *
 * Include only this header. The application calls mongoc_init() once before using
 * mongolock and mongoc_cleanup() once at exit; mongolock never calls either.
 */
#ifndef MONGOLOCK_H
#define MONGOLOCK_H

#include <mongolock/mongolock-macros.h>
#include <mongolock/mongolock-version.h>
#include <mongolock/mongolock-version-functions.h>
#include <mongolock/mongolock-error.h>
#include <mongolock/mongolock-cancel.h>
#include <mongolock/mongolock-client.h>
#include <mongolock/mongolock-lock.h>
#include <mongolock/mongolock-semaphore.h>
#include <mongolock/mongolock-rwlock.h>
#include <mongolock/mongolock-doc.h>
#include <mongolock/mongolock-fence.h>
#include <mongolock/mongolock-guard.h>

#endif /* MONGOLOCK_H */
