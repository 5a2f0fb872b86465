/* mongolock migrate: placeholder until the unique-index helper lands. */
#include "cli.h"

int
cli_cmd_migrate (int argc, char **argv, cli_common_t *common)
{
   (void) argc;
   (void) argv;
   (void) common;
   cli_error ("migrate is not available yet");
   return CLI_EXIT_INTERNAL;
}
