/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers for the command-line tool's tests: run the built `mongolock` binary as a user
 * would (fork/exec, stdout and stderr captured, exit status) and small file utilities. */
#ifndef CLI_TEST_H
#define CLI_TEST_H

#include <mongoc/mongoc.h>
#include <mongolock/mongolock.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* A running mongolock process. Output goes to temporary files, read when it ends. */
typedef struct {
   pid_t pid;
   char out_path[64];
   char err_path[64];
   int64_t started_ms;
} cli_proc_t;

/* How it ended. code: the exit status, or 128 + N when killed by signal N. */
typedef struct {
   int code;
   bool signaled;
   char *out; /* NUL-terminated; free with cli_result_destroy */
   char *err;
   int64_t elapsed_ms;
} cli_result_t;

/* Path of the binary under test ($MONGOLOCK_CLI, set by tests/cli/meson.build). */
const char *cli_path (void);

/* Starts `mongolock ARGS...`; args is NULL-terminated. The child gets /dev/null as stdin
 * and no file descriptors other than 0, 1 and 2. */
void cli_start (cli_proc_t *p, const char *const *args);

/* cli_start with other stdin / stdout / stderr: a descriptor of the caller's (dup'ed into
 * place), CLI_FD_CLOSED (the tool starts with it closed) or CLI_FD_DEFAULT (/dev/null for
 * stdin, captured for the others). */
enum { CLI_FD_CLOSED = -1, CLI_FD_DEFAULT = -2 };
void cli_start_fds (cli_proc_t *p, const char *const *args, int in_fd, int out_fd, int err_fd);

/* Waits up to timeout_ms for it to end (then SIGKILLs it and fails the test). */
void cli_wait (cli_proc_t *p, int64_t timeout_ms, cli_result_t *r);

/* Waits up to timeout_ms for its stderr so far to contain needle; returns whether it does. */
bool cli_wait_stderr (const cli_proc_t *p, const char *needle, int64_t timeout_ms);

/* Whether it has ended (does not reap it). */
bool cli_running (const cli_proc_t *p);

/* cli_start + cli_wait (60 s bound). */
void cli_run (cli_result_t *r, const char *const *args);

void cli_result_destroy (cli_result_t *r);

/* Asserts r->code == code, printing stdout and stderr when not. */
#define cli_assert_code(r, expected)                                                                        \
   cr_assert_eq ((r)->code, (expected), "exit code %d, expected %d\n--- stdout:\n%s--- stderr:\n%s",        \
                 (r)->code, (expected), (r)->out, (r)->err)

/* A fresh temporary directory (caller frees the string; cli_rmdir removes it). */
char *cli_tmpdir (void);
void cli_rmdir (const char *dir);

/* dir/name, caller frees. */
char *cli_file (const char *dir, const char *name);

/* Waits up to timeout_ms for path to exist; returns whether it does. */
bool cli_wait_file (const char *path, int64_t timeout_ms);

/* The file's contents (caller frees) or NULL when it does not exist. */
char *cli_read (const char *path);

/* A live CLI test's fixture: a database of its own (named after tag), the library on it,
 * and with in_dir a temporary directory it works in (chdir). */
typedef struct {
   char *db;
   char *dir; /* NULL without in_dir */
   mongolock_client_t *lib;
} cli_fx_t;

void cli_fx_init (cli_fx_t *fx, const char *tag, bool in_dir);

/* Drops the database, frees the library and removes the directory. */
void cli_fx_fini (cli_fx_t *fx);

/* Whether pid is gone: no such process, or a zombie (exited, not yet reaped). */
bool cli_process_gone (pid_t pid);

/* Writes s to path (creating or truncating it). */
void cli_write (const char *path, const char *s);

/* The test server's URI with user:password inserted (for the authentication test). */
char *cli_uri_with_credentials (const char *user, const char *password);

/* Number of lines of s that contain needle. */
int cli_count_lines (const char *s, const char *needle);

/* Index names of db.coll, as a comma-separated sorted list ("" when none or no collection). */
char *cli_index_names (mongoc_client_t *client, const char *db, const char *coll);

#endif
