#include "mongolock-private.h"
/* TODO(issue 3): being written. */
typedef int _mongolock_fence_placeholder_t;
