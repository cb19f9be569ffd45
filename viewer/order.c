/* Completion order over the entry-ordered merge: records wait in a heap keyed by effect time
 * until the merge has passed that time (every record still to come entered later, so it
 * cannot take effect earlier). Memory: the calls in progress at any moment. */
#include "order.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

struct held {
	uint64_t key, seq;
	struct st_record *r;            /* a copy: fixed part plus blob_len bytes */
};

struct st_order {
	struct st_merge *m;
	int merge_done;
	uint64_t horizon;               /* entry time of the last record read from the merge */
	uint64_t seq;
	struct held *heap;
	size_t n, cap;
	struct st_record *out;          /* the record handed out last (freed at the next call) */
};

uint64_t st_effect_ns(const struct st_record *r)
{
	switch (r->call) {
	case ST_C_FORK: case ST_C_VFORK: case ST_C_POSIX_SPAWN: case ST_C_EXEC: case ST_C_EXIT:
		return r->ts_enter;
	}
	if (!r->complete)
		return UINT64_MAX;
	return r->ts_exit > r->ts_enter ? r->ts_exit : r->ts_enter;
}

struct st_order *st_order_new(struct st_file **files, int nfiles)
{
	struct st_order *o = st_xcalloc(1, sizeof(*o));
	o->m = st_merge_new(files, nfiles);
	return o;
}

static int before(const struct held *a, const struct held *b)
{
	return a->key < b->key || (a->key == b->key && a->seq < b->seq);
}

static void push(struct st_order *o, const struct st_record *r)
{
	ST_GROW(o->heap, o->n, o->cap, 64);
	size_t len = offsetof(struct st_record, blob) + r->blob_len;
	struct st_record *c = st_xmalloc(len);
	memcpy(c, r, len);
	struct held h = { st_effect_ns(r), o->seq++, c };
	size_t i = o->n++;
	while (i > 0 && before(&h, &o->heap[(i - 1) / 2])) {
		o->heap[i] = o->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	o->heap[i] = h;
}

static struct st_record *pop(struct st_order *o)
{
	struct st_record *top = o->heap[0].r;
	struct held last = o->heap[--o->n];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= o->n)
			break;
		if (c + 1 < o->n && before(&o->heap[c + 1], &o->heap[c]))
			c++;
		if (!before(&o->heap[c], &last))
			break;
		o->heap[i] = o->heap[c];
		i = c;
	}
	if (o->n)
		o->heap[i] = last;
	return top;
}

const struct st_record *st_order_next(struct st_order *o)
{
	free(o->out);
	o->out = NULL;
	for (;;) {
		if (o->n && (o->merge_done || o->heap[0].key <= o->horizon))
			return o->out = pop(o);
		if (o->merge_done)
			return NULL;
		const struct st_record *r = st_merge_next(o->m);
		if (!r) {
			o->merge_done = 1;
			continue;
		}
		if (r->ts_enter > o->horizon)
			o->horizon = r->ts_enter;
		push(o, r);
	}
}

void st_order_free(struct st_order *o)
{
	if (!o)
		return;
	while (o->n)
		free(pop(o));
	free(o->out);
	free(o->heap);
	st_merge_free(o->m);
	free(o);
}
