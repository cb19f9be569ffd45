/* Records: an entry written before the real call, completed in place after it (or, when the
 * span moved on meanwhile, by a separate exit record that names the entry). */
#include "st_preload.h"

#include <errno.h>
#include <string.h>

#define FIXED ((unsigned)sizeof(struct st_rec))

static unsigned round8(unsigned n)
{
	return (n + 7) & ~7u;
}

/* A call recorded on the common path keeps only what that path needs in st_call: fill in
 * the rest before anything else touches it. */
void st_call_careful(struct st_call *c)
{
	if (c->slow)
		return;
	c->slow = 1;
	c->len = ST_RW_LEN(c->w);
	c->off = c->len;
	c->extra = 0;
	c->flags = (uint8_t)ST_RW_FLAGS(c->w);
	c->kind = ST_K_ENTERED;
}

/* 1 in a fork child for a record its parent began (the fork happened during the call). */
static int parents(const struct st_call *c)
{
	return c->span->proc != st_g.proc_id || !st_g.proc_id;
}

static void blob_room(struct st_call *c, unsigned *len)
{
	unsigned room = c->len > c->off + 4 ? c->len - c->off - 4 : 0;
	if (*len > room) {
		*len = room;
		c->flags |= ST_RF_TRUNC;
	}
}

void st_put(struct st_call *c, int type, const void *p, unsigned len)
{
	st_call_careful(c);
	if (!c->r || c->off + 4 > c->len)
		return;
	blob_room(c, &len);
	uint8_t *d = (uint8_t *)c->r + c->off;
	struct st_tlv_hdr th = { (uint8_t)type, 0, (uint16_t)len };
	memcpy(d, &th, 4);
	memcpy(d + 4, p, len);
	c->off += 4 + len;
	c->slow = 1;
}

void st_put_iov(struct st_call *c, int type, const struct iovec *iov, size_t n, size_t len)
{
	st_call_careful(c);
	if (!c->r || c->off + 4 > c->len || !iov)
		return;
	unsigned want = len > 0xffff ? 0xffff : (unsigned)len;
	blob_room(c, &want);
	uint8_t *d = (uint8_t *)c->r + c->off + 4;
	size_t left = want;
	for (size_t i = 0; i < n && left; i++) {
		size_t k = iov[i].iov_len < left ? iov[i].iov_len : left;
		memcpy(d, iov[i].iov_base, k);
		d += k;
		left -= k;
	}
	struct st_tlv_hdr th = { (uint8_t)type, 0, (uint16_t)(want - left) };
	memcpy((uint8_t *)c->r + c->off, &th, 4);
	c->off += 4 + th.len;
	c->slow = 1;
}

void st_put_addr(struct st_call *c, int type, const struct sockaddr *sa, socklen_t len)
{
	if (sa && len > 0)
		st_put(c, type, sa, len > 110 ? 110 : len);
}

/* Give back the reserved bytes the record did not use, if nothing was written after it;
 * otherwise zero them (a TLV walker stops at type 0). */
static void trim(struct st_call *c)
{
	unsigned used = round8(c->off);
	if (used < c->len && !c->priv) {
		st_tls.busy = 1;
		st_sigfence();
		if (st_tls.cur == (uint8_t *)c->r + c->len) {
			st_tls.cur = (uint8_t *)c->r + used;
			c->len = used;
		}
		st_sigfence();
		st_tls.busy = 0;
	}
	if (c->off < c->len)
		memset((uint8_t *)c->r + c->off, 0, c->len - c->off);
}

void st_enter_slow(struct st_call *c)
{
	trim(c);
	c->slow = 1;            /* the exit goes the careful way too */
	__atomic_store_n(&c->r->w, ST_RW(c->pos, c->len, ST_K_ENTERED, c->flags), __ATOMIC_RELEASE);
	st_sigfence();
	st_tls.writing--;
	if (c->priv)
		st_retire(c->span);     /* its exit will be a record of its own */
	else if (st_tls.nesting == 1)
		st_tls.entry_span = c->span;
}

/* Room for `extra` more bytes right after the record, in the current span. */
static int extend(struct st_call *c, unsigned extra)
{
	int ok = 0;
	st_tls.busy = 1;
	st_sigfence();
	uint8_t *end = (uint8_t *)c->r + c->len;
	if (st_tls.cur == end && (uintptr_t)end + extra <= (uintptr_t)st_tls.end &&
	    c->len + extra <= ST_REC_MAX) {
		st_tls.cur = end + extra;
		c->len += extra;
		ok = 1;
	}
	st_sigfence();
	st_tls.busy = 0;
	return ok;
}

void st_exit_slow(struct st_call *c, long ret, int err, uint64_t t)
{
	st_call_careful(c);
	if (parents(c)) {
		c->r = NULL;            /* a fork child: the entry is in the parent's span */
		return;
	}
	unsigned extra = round8(c->extra);
	struct st_rec *e = c->r;
	if (c->span == st_tls.span && !c->priv && (!extra || extend(c, extra))) {
		e->t_exit = t;
		e->ret = ret;
		e->err = (int16_t)err;
		c->kind = ST_K_COMPLETE;
		return;
	}
	/* the entry's span is no longer ours to write: a separate exit record */
	unsigned len = round8(FIXED + 12 + extra);
	uint64_t pos;
	struct st_span *sp;
	uint8_t priv;
	struct st_rec *r = st_reserve(len, &pos, &sp, &priv);
	if (!r) {
		c->r = NULL;
		return;
	}
	__atomic_store_n(&r->w, ST_RW(pos, len, ST_K_WRITING, 0), __ATOMIC_RELAXED);
	st_sigfence();
	st_inc32(&sp->nrec);
	st_inc32(&sp->nexit);
	/* the entry, if it is still there: copied, then its word checked again (a writer
	 * that reclaimed the span would have changed it first) */
	uint64_t w0 = __atomic_load_n(&e->w, __ATOMIC_ACQUIRE);
	int intact = ST_RW_CHECK(w0) == ST_RW_CHECK(c->w) && ST_RW_KIND(w0) == ST_K_ENTERED;
	if (intact) {
		memcpy(r->a, e->a, sizeof(r->a));
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		intact = __atomic_load_n(&e->w, __ATOMIC_RELAXED) == w0;
	}
	if (!intact) {
		memset(r->a, 0, sizeof(r->a));
		c->flags |= ST_RF_NOARGS;
	}
	r->t_enter = c->t_enter;
	r->t_exit = t;
	r->ret = ret;
	r->call = c->call;
	r->nframes = 0;
	r->err = (int16_t)err;
	r->fd = c->fd;
	c->enter_pos = c->pos;
	c->r = r;
	c->pos = pos;
	c->span = sp;
	c->priv = priv;
	c->len = len;
	c->off = FIXED;
	c->kind = ST_K_EXIT;
	c->slow = 1;
	st_put(c, ST_T_LATE_OF, &c->enter_pos, 8);
}

void st_done_slow(struct st_call *c)
{
	if (c->r) {
		trim(c);
		__atomic_store_n(&c->r->w, ST_RW(c->pos, c->len, c->kind, c->flags), __ATOMIC_RELEASE);
		st_sigfence();
		if (c->priv)
			st_retire(c->span);
	}
	st_tls.writing--;
	if (--st_tls.nesting == 0 && st_tls.npending)
		st_retire_pending();
}

/* A record with no real call behind it (inherited socket, the disposition at start, a
 * socket's state...); `put` adds what else it carries, up to `extra` bytes. */
void st_event_x(int call, int fd, uint64_t a0, uint64_t a1, uint64_t a2, long ret, unsigned extra,
                void (*put)(struct st_call *c, int fd, const void *arg), const void *arg)
{
	struct st_call c;
	int saved = errno;
	if (!st_begin(&c, call, fd, a0, a1, a2, extra))
		return;
	st_enter(&c);
	st_exit(&c, ret);
	if (put)
		put(&c, fd, arg);
	st_done(&c);
	errno = saved;
}
