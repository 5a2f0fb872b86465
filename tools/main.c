/* SPDX-License-Identifier: Apache-2.0 */
/* mongolock: command-line tool for mongolock locks. See mongolock.1. */
#include "cli.h"
#include "redact-private.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char main_help[] =
   "Usage: mongolock [CONNECTION OPTIONS] COMMAND [OPTIONS] [ARGS]\n"
   "       mongolock --help | --version\n"
   "Distributed locks stored in MongoDB, from the shell.\n"
   "\n"
   "Commands:\n"
   "  run [--lease D] [--wait D|forever] [-E N] [--fence-env NAME] KEY -- CMD [ARGS...]\n"
   "                          run CMD while holding the lock KEY\n"
   "  status [--prefix P] [--json]\n"
   "                          list locks: holder, fencing token, time left, state\n"
   "  release --force KEY     break a stuck lock and print who held it\n"
   "  migrate [--spec FILE] [--dry-run] [--json]\n"
   "                          create the lock collection's and the spec's unique indexes\n"
   "\n"
   "Run 'mongolock COMMAND --help' for a command's options. See mongolock(1).\n"
   "\n"
   "  -h, --help              show this help\n"
   "  -V, --version           print mongolock's and libmongoc's versions\n"
   "\n"
   "Exit status:\n"
   "  0      success; run: the command's own status (128+N: killed by signal N)\n"
   "  1      release: no such lock\n"
   "  64     usage error (option, argument, duration; no URI)\n"
   "  65     spec file is not valid\n"
   "  66     spec file is missing or unreadable\n"
   "  69     no server reachable within the timeouts\n"
   "  70     internal error (cannot fork, out of resources)\n"
   "  74     standard output not writable (EPIPE)\n"
   "  75     run: the lock is busy (run -E N: N instead)\n"
   "  76     the server refused or failed a command\n"
   "  77     authentication failed\n"
   "  78     the MongoDB URI is malformed\n"
   "  79     run: the lease was lost; the command was stopped\n"
   "  80     migrate: existing duplicates; nothing built\n"
   "  81     migrate: a conflicting index; nothing built\n"
   "  126    run: the command cannot be executed\n"
   "  127    run: the command was not found\n"
   "  128+N  run: stopped by signal N while waiting for the lock\n"
   "\n";

typedef int (*cmd_fn) (int argc, char **argv, cli_common_t *common);

static const struct {
   const char *name;
   cmd_fn fn;
} commands[] = {
   {"run", cli_cmd_run},
   {"status", cli_cmd_status},
   {"release", cli_cmd_release},
   {"migrate", cli_cmd_migrate},
};

static int
dispatch (int argc, char **argv)
{
   static const struct option longopts[] = {
      CLI_COMMON_LONG_OPTIONS,
      {"version", no_argument, NULL, 'V'},
      {0},
   };
   cli_common_t common;
   cli_common_init (&common);
   bool help = false;
   int opt;
   opterr = 0;
   optind = 0;
   /* "+": stop at the subcommand; its options are parsed by the subcommand. */
   while ((opt = getopt_long (argc, argv, "+:hV", longopts, NULL)) != -1) {
      if (opt == 'V') {
         printf ("mongolock %s (libmongolock %s, libmongoc %s)\n", MONGOLOCK_VERSION_S, mongolock_get_version (),
                 mongoc_get_version ());
         return CLI_EXIT_OK;
      }
      if (opt == 'h') {
         help = true;
         continue;
      }
      int rc = cli_other_option (NULL, &common, opt, argv, &help);
      if (rc >= 0) {
         return rc;
      }
   }
   if (help) {
      fputs (main_help, stdout);
      fputs (cli_common_help, stdout);
      return CLI_EXIT_OK;
   }
   if (optind >= argc) {
      return cli_usage_error (NULL, "missing command (run, status, release or migrate)");
   }
   const char *name = argv[optind];
   if (strcmp (name, "help") == 0) {
      if (optind + 1 < argc) {
         char *sub[] = {argv[optind + 1], (char *) "--help", NULL};
         for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
            if (strcmp (argv[optind + 1], commands[i].name) == 0) {
               return commands[i].fn (2, sub, &common);
            }
         }
         return cli_usage_error (NULL, "unknown command '%s'", argv[optind + 1]);
      }
      fputs (main_help, stdout);
      fputs (cli_common_help, stdout);
      return CLI_EXIT_OK;
   }
   for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
      if (strcmp (name, commands[i].name) == 0) {
         return commands[i].fn (argc - optind, argv + optind, &common);
      }
   }
   return cli_usage_error (NULL, "unknown command '%s'", name);
}

/* Errors reach the user through bson_error_t, as one line each; the driver's own log
 * lines (warnings, monitoring chatter) only with MONGOLOCK_DRIVER_LOG set. */
static void
quiet_log (mongoc_log_level_t level, const char *domain, const char *message, void *data)
{
   (void) data;
   if (getenv ("MONGOLOCK_DRIVER_LOG")) {
      char *safe = _mongolock_redact_uri (cli_secret_uri, message);
      mongoc_log_default_handler (level, domain, safe, NULL);
      bson_free (safe);
   }
}

/* A closed 0, 1 or 2 would be taken by the next descriptor opened (a socket to MongoDB),
 * and the status table written into it, or the socket given to the command as its stdin:
 * open /dev/null in its place first. Returns false when that is impossible. */
static bool
open_standard_fds (void)
{
   for (int fd = 0; fd <= 2; fd++) {
      if (fcntl (fd, F_GETFD) == -1 && errno == EBADF) {
         int n = open ("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
         if (n != fd) {
            return false; /* lower ones are open, so n == fd unless open failed */
         }
      }
   }
   return true;
}

int
main (int argc, char **argv)
{
   if (!open_standard_fds ()) {
      return CLI_EXIT_INTERNAL; /* nowhere to say it */
   }
   /* A reader that went away is reported as EPIPE (exit 74), not a silent death that
    * would, in `run`, leave the lock held and the command not started. `run` restores the
    * default for its command. */
   signal (SIGPIPE, SIG_IGN);
   cli_secret_uri = getenv ("MONGOLOCK_URI");
   mongoc_log_set_handler (quiet_log, NULL);
   mongoc_init ();
   int rc = dispatch (argc, argv);
   errno = 0;
   if (fflush (stdout) != 0 || ferror (stdout)) {
      cli_error ("cannot write to standard output: %s", errno ? strerror (errno) : "write error");
      if (rc == CLI_EXIT_OK) {
         rc = CLI_EXIT_IO;
      }
   }
   mongoc_cleanup ();
   return rc;
}
