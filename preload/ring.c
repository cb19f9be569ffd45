/* The data ring: claiming spans for a thread, stepping over spans still in use, retiring them. */
#include "st_preload.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define BTAB_VOID (~0ull)           /* block stepped over by a claim: no span here */

static uint64_t block_of(uint64_t pos)
{
	return (pos % st_g.ring_bytes) / ST_BLOCK;
}

static struct st_span *span_at_block(uint64_t b)
{
	return (struct st_span *)(st_g.ring + b * ST_BLOCK);
}

/* The span that starts at block b, if one does and it is still intact there. */
static struct st_span *old_span(uint64_t b)
{
	uint64_t p = __atomic_load_n(&st_g.btab[b], __ATOMIC_ACQUIRE);
	if (p == 0 || p == BTAB_VOID || block_of(p) != b || p % ST_BLOCK)
		return NULL;
	struct st_span *s = span_at_block(b);
	if (__atomic_load_n(&s->pos, __ATOMIC_ACQUIRE) != p || s->size < ST_BLOCK ||
	    s->size % ST_BLOCK || s->size > (ST_SPAN_MAX + 65) * ST_BLOCK)
		return NULL;
	return s;
}

/* 1 when nobody will write into the span again: retired, or its process has ended. */
static int span_done(struct st_span *s)
{
	if (__atomic_load_n(&s->retired, __ATOMIC_ACQUIRE))
		return 1;
	return st_proc_done(s->proc);
}

/*
 * Where a claim of `bytes` starting no earlier than `h` can go: not across the end of the
 * ring, and not over a span that is still in use. Returns the start, or 0 when a whole lap
 * holds nothing but spans in use.
 */
static uint64_t find_room(uint64_t h, uint64_t bytes)
{
	uint64_t R = st_g.ring_bytes, start = h;
	while (start - h < R) {
		uint64_t off = start % R;
		if (off + bytes > R) {
			start += R - off;
			continue;
		}
		uint64_t next = 0;
		for (uint64_t x = start; x < start + bytes; x += ST_BLOCK) {
			struct st_span *s = old_span(block_of(x));
			if (s && s->pos < start && !span_done(s)) {
				next = x + s->size;
				break;
			}
		}
		if (!next)
			return start;
		start = next;
	}
	return 0;
}

/* After a successful claim of [h, end): count what is overwritten, mark what is stepped over. */
static void take_over(uint64_t h, uint64_t start, uint64_t end)
{
	struct st_trace_hdr *hdr = st_g.hdr;
	uint64_t lost = 0, lost_x = 0;
	for (uint64_t x = h; x < end;) {
		uint64_t b = block_of(x);
		struct st_span *s = old_span(b);
		if (s && s->pos < h) {
			if (x < start && !span_done(s)) {  /* kept: still in use */
				x += s->size;
				continue;
			}
			uint32_t n = __atomic_load_n(&s->nrec, __ATOMIC_RELAXED);
			uint32_t nx = __atomic_load_n(&s->nexit, __ATOMIC_RELAXED);
			lost += n - (nx < n ? nx : n);
			lost_x += nx < n ? nx : n;
		}
		if (x < start)
			__atomic_store_n(&st_g.btab[b], BTAB_VOID, __ATOMIC_RELEASE);
		x += ST_BLOCK;
	}
	if (lost)
		__atomic_fetch_add(&hdr->lost_calls, lost, __ATOMIC_RELAXED);
	if (lost_x)
		__atomic_fetch_add(&hdr->lost_exits, lost_x, __ATOMIC_RELAXED);
	if (start > h)
		__atomic_fetch_add(&hdr->skipped, start - h, __ATOMIC_RELAXED);
}

/* Claim a span of `blocks` blocks for this thread; NULL when the ring has no room. */
static struct st_span *claim(unsigned blocks)
{
	struct st_trace_hdr *hdr = st_g.hdr;
	uint64_t bytes = (uint64_t)blocks * ST_BLOCK;
	if (bytes > st_g.ring_bytes)
		return NULL;
	for (int tries = 0; tries < 100; tries++) {
		uint64_t h = __atomic_load_n(&hdr->head, __ATOMIC_ACQUIRE);
		uint64_t start = find_room(h, bytes);
		if (!start)
			return NULL;
		if (!__atomic_compare_exchange_n(&hdr->head, &h, start + bytes, 0, __ATOMIC_ACQ_REL,
		                                 __ATOMIC_RELAXED))
			continue;
		take_over(h, start, start + bytes);
		struct st_span *s = span_at_block(block_of(start));
		s->size = (uint32_t)bytes;
		s->proc = st_g.proc_id;
		s->tid = (uint32_t)st_tls.tid;
		s->retired = 0;
		s->nrec = 0;
		s->nexit = 0;
		s->ts = st_ts();
		s->mono = st_clock_mono();
		__atomic_store_n(&s->pos, start, __ATOMIC_RELEASE);
		for (uint64_t x = start; x < start + bytes; x += ST_BLOCK)
			__atomic_store_n(&st_g.btab[block_of(x)], start, __ATOMIC_RELEASE);
		return s;
	}
	return NULL;
}

void st_retire(struct st_span *s)
{
	if (s)
		__atomic_store_n(&s->retired, 1, __ATOMIC_RELEASE);
}

/* Retire the spans a signal handler left behind (the outermost call is done). */
void st_retire_pending(void)
{
	st_tls.entry_span = NULL;
	while (st_tls.npending > 0) {
		int i = --st_tls.npending;
		st_retire(st_tls.pending[i]);
		st_tls.pending[i] = NULL;
	}
}

static pthread_key_t exit_key;
static int have_key;

static void on_thread_exit(void *unused)
{
	(void)unused;
	st_thread_exit();
}

/* At start (a key made later could take a futex call under a seccomp filter). */
void st_ring_init(void)
{
	have_key = pthread_key_create(&exit_key, on_thread_exit) == 0;
}

/* A thread ends: the span it held is free for others. */
void st_thread_exit(void)
{
	if (st_tls.gen != st_g.gen)
		return;
	st_tls.busy = 1;
	st_sigfence();
	st_retire_pending();
	st_retire(st_tls.span);
	st_tls.span = NULL;
	st_tls.cur = st_tls.end = NULL;
	st_sigfence();
	st_tls.busy = 0;
}

/* Called with busy set: forget state that belongs to another process (fork child). */
static void fresh_thread(void)
{
	st_tls.gen = st_g.gen;
	st_tls.span = NULL;
	st_tls.cur = st_tls.end = NULL;
	st_tls.npending = 0;
	st_tls.next_blocks = 1;
	if (!st_tls.tid && !st_g.seccomp)
		st_tls.tid = st_gettid();
}

/*
 * Reserve `len` bytes when the current span is full, or there is none, or a signal handler
 * interrupted this thread's own reservation (then the record gets a span of its own, which
 * the caller retires once the record is written: *priv = 1).
 */
struct st_rec *st_reserve_slow(unsigned len, uint64_t *pos, struct st_span **sp, uint8_t *priv)
{
	int saved = errno;
	struct st_rec *r = NULL;
	unsigned need = (len + sizeof(struct st_span) + ST_BLOCK - 1) / ST_BLOCK;
	if (st_tls.busy) {
		if (!st_tls.tid && !st_g.seccomp)
			st_tls.tid = st_gettid();
		struct st_span *s = claim(need);
		if (s) {
			r = (struct st_rec *)(s + 1);
			*pos = s->pos + sizeof(*s);
			*sp = s;
			*priv = 1;
		}
		goto out;
	}
	st_tls.busy = 1;
	st_sigfence();
	if (unlikely(st_tls.gen != st_g.gen || (!st_tls.tid && !st_g.seccomp)))
		fresh_thread();
	unsigned blocks = st_tls.next_blocks ? st_tls.next_blocks : 1;
	if (blocks < need)
		blocks = need;
	struct st_span *old = st_tls.span;
	struct st_span *s = claim(blocks);
	if (s) {
		st_tls.span = s;
		st_tls.cur = (uint8_t *)(s + 1) + len;
		st_tls.end = (uint8_t *)s + s->size;
		if (st_tls.next_blocks < ST_SPAN_MAX)
			st_tls.next_blocks = st_tls.next_blocks ? st_tls.next_blocks * 2 : 2;
		r = (struct st_rec *)(s + 1);
		*pos = s->pos + sizeof(*s);
		*sp = s;
		*priv = 0;
	}
	st_sigfence();
	st_tls.busy = 0;
	if (s && old) {
		/* not retired yet when (we are a signal handler and) the code we interrupted is
		 * still writing a record into it, or it holds the entry of the call we
		 * interrupted: the outermost call retires it when it is done */
		int writing_below = st_tls.writing > 1;
		int keeps_entry = st_tls.nesting > 1 && old == st_tls.entry_span;
		if ((writing_below || keeps_entry) && st_tls.npending < 4)
			st_tls.pending[st_tls.npending++] = old;
		else if (!writing_below)
			st_retire(old);
	}
	if (s && !st_tls.key_set && have_key && st_tls.nesting <= 1) {
		st_tls.key_set = 1;
		pthread_setspecific(exit_key, (void *)1);
	}
out:
	if (!r)
		__atomic_fetch_add(&st_g.hdr->dropped, 1, __ATOMIC_RELAXED);
	errno = saved;
	return r;
}
