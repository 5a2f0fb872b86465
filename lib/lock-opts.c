#include "mongolock-private.h"
/* TODO(issue 3): being written. */
typedef int _mongolock_lock_opts_placeholder_t;
