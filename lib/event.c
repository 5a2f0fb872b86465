/* SPDX-License-Identifier: Apache-2.0 */
#include "lock-private.h"

mongolock_event_type_t
mongolock_event_type (const mongolock_event_t *event)
{
   return event->type;
}

const char *
mongolock_event_type_name (mongolock_event_type_t type)
{
   switch (type) {
   case MONGOLOCK_EVENT_ACQUIRED:
      return "acquired";
   case MONGOLOCK_EVENT_CONTENDED:
      return "contended";
   case MONGOLOCK_EVENT_TIMED_OUT:
      return "timed_out";
   case MONGOLOCK_EVENT_RENEWED:
      return "renewed";
   case MONGOLOCK_EVENT_LOST:
      return "lost";
   case MONGOLOCK_EVENT_RELEASED:
      return "released";
   case MONGOLOCK_EVENT_DEGRADED:
      return "degraded";
   case MONGOLOCK_EVENT_WAIT_MODE:
      return "wait_mode";
   }
   return "unknown";
}

const char *
mongolock_event_key (const mongolock_event_t *event)
{
   return event->key;
}

int64_t
mongolock_event_token (const mongolock_event_t *event)
{
   return event->token;
}

int64_t
mongolock_event_wait_ms (const mongolock_event_t *event)
{
   return event->wait_ms;
}

int64_t
mongolock_event_hold_ms (const mongolock_event_t *event)
{
   return event->hold_ms;
}

int
mongolock_event_attempts (const mongolock_event_t *event)
{
   return event->attempts;
}

const bson_error_t *
mongolock_event_error (const mongolock_event_t *event)
{
   return event->error;
}

const char *
mongolock_event_wait_mode (const mongolock_event_t *event)
{
   return event->wait_mode;
}
