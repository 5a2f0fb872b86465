#include "mongolock-private.h"
/* TODO(issue 3): being written. */
typedef int _mongolock_client_opts_placeholder_t;
