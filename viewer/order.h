/* The records of a trace in the order their effects happened: by completion. The merge gives
 * them by entry; a close that entered before a concurrent accept but returned first freed the
 * number the accept then got, and a poll that waited a second reports what it saw when it
 * returned. Forks, execs and exits take effect at their entry; calls that never returned come
 * last. */
#ifndef ST_ORDER_H
#define ST_ORDER_H

#include <stdint.h>

#include "reader.h"

struct st_order;

struct st_order *st_order_new(struct st_file **files, int nfiles);
/* The next record by effect time; valid until the next call. NULL at the end. */
const struct st_record *st_order_next(struct st_order *o);
void st_order_free(struct st_order *o);

/* When a record's effect happens (the order's key). */
uint64_t st_effect_ns(const struct st_record *r);

#endif
