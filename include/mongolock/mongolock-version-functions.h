/* SPDX-License-Identifier: Apache-2.0 */
#ifndef MONGOLOCK_VERSION_FUNCTIONS_H
#define MONGOLOCK_VERSION_FUNCTIONS_H

#include <stdbool.h>

#include <mongolock/mongolock-macros.h>

MONGOLOCK_BEGIN_DECLS

/**
 * @file mongolock-version-functions.h
 * @brief The version of the libmongolock loaded at run time.
 *
 * The macros of mongolock-version.h give the version of the headers a program was compiled
 * against; these functions give the version of the shared library it runs with, which can
 * be newer (same major version, same soname). Like mongoc_get_version() and friends.
 */

/**
 * @brief The version of the library loaded at run time, as "MAJOR.MINOR.MICRO".
 * @return A static string owned by the library; never NULL, never freed.
 * Errors: none. Thread safety: safe from any thread. Blocking: never blocks.
 */
MONGOLOCK_EXPORT const char *
mongolock_get_version (void);

/**
 * @brief The major version of the library loaded at run time.
 * @return MONGOLOCK_VERSION_MAJOR as the library was built.
 * Errors: none. Thread safety: safe from any thread. Blocking: never blocks.
 */
MONGOLOCK_EXPORT int
mongolock_get_major_version (void);

/**
 * @brief The minor version of the library loaded at run time.
 * @return MONGOLOCK_VERSION_MINOR as the library was built.
 * Errors: none. Thread safety: safe from any thread. Blocking: never blocks.
 */
MONGOLOCK_EXPORT int
mongolock_get_minor_version (void);

/**
 * @brief The micro (patch) version of the library loaded at run time.
 * @return MONGOLOCK_VERSION_MICRO as the library was built.
 * Errors: none. Thread safety: safe from any thread. Blocking: never blocks.
 */
MONGOLOCK_EXPORT int
mongolock_get_micro_version (void);

/**
 * @brief Whether the library loaded at run time is at least version major.minor.micro.
 *
 * The run-time twin of MONGOLOCK_CHECK_VERSION, which tests the headers.
 * @param major  The least major version accepted.
 * @param minor  The least minor version accepted within that major version.
 * @param micro  The least micro version accepted within that minor version.
 * @return true when the loaded library's version is greater than or equal to the one given.
 * Errors: none. Thread safety: safe from any thread. Blocking: never blocks.
 */
MONGOLOCK_EXPORT bool
mongolock_check_version (int major, int minor, int micro);

MONGOLOCK_END_DECLS

#endif /* MONGOLOCK_VERSION_FUNCTIONS_H */
