/* The record path: claim a slot in this thread's chunk, write a record in two phases. */
#include "st_preload.h"

#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define CHUNK_BYTES ((size_t)ST_CHUNK_SLOTS * ST_SLOT_SIZE)
#define CONT_DATA   (ST_SLOT_SIZE - 8)

static inline void store_rel64(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

/* Claim the next chunk of the ring for this thread; returns it, its header written. */
static uint8_t *claim_chunk_raw(uint64_t *ticket)
{
	struct st_file_hdr *h = st_g.hdr;
	uint64_t t = __atomic_fetch_add(&h->chunk_counter, 1, __ATOMIC_RELAXED);
	uint8_t *ch = st_g.chunks + (t % st_g.nchunks) * CHUNK_BYTES;
	struct st_chunk_hdr *ck = (struct st_chunk_hdr *)ch;

	if (ck->ticket_plus1)
		__atomic_fetch_add(&h->lost_records, ck->nrec, __ATOMIC_RELAXED);
	ck->nrec = 0;
	ck->tid = (uint32_t)st_tls.tid;
	ck->claim_ns = st_now();
	store_rel64(&ck->ticket_plus1, t + 1);
	*ticket = t;
	return ch;
}

/*
 * Reserve n consecutive slots in this thread's chunk; returns the first slot or NULL.
 * A signal handler that records while we claim a chunk drops its record rather than
 * racing us for the chunk (st_tls.claiming).
 */
static struct st_rec *reserve(unsigned n, uint64_t *ticket)
{
	if (n >= ST_CHUNK_SLOTS)
		return NULL;
	if (unlikely(st_tls.claiming)) {
		/* a signal handler interrupted this thread's own claim (a page fault on the new
		 * chunk can take microseconds): take a chunk of its own rather than race */
		uint64_t t;
		uint8_t *ch = claim_chunk_raw(&t);
		((struct st_chunk_hdr *)ch)->nrec = n;
		*ticket = t * ST_CHUNK_SLOTS + 1;
		return (struct st_rec *)(ch + ST_SLOT_SIZE);
	}
	if (unlikely(st_tls.gen != st_g.gen)) {
		st_tls.gen = st_g.gen;
		st_tls.chunk = NULL;
		st_tls.tid = 0;
	}
	if (unlikely(!st_tls.tid))
		st_tls.tid = st_gettid();
	for (int tries = 0; tries < 2; tries++) {
		uint8_t *ch = st_tls.chunk;
		if (ch && __atomic_load_n(&((struct st_chunk_hdr *)ch)->ticket_plus1,
		                          __ATOMIC_RELAXED) == st_tls.cticket + 1) {
			uint32_t idx = __atomic_fetch_add(&st_tls.idx, n, __ATOMIC_RELAXED);
			if (idx + n <= ST_CHUNK_SLOTS) {
				((struct st_chunk_hdr *)ch)->nrec = idx + n - 1;
				*ticket = st_tls.cticket * ST_CHUNK_SLOTS + idx;
				return (struct st_rec *)(ch + (size_t)idx * ST_SLOT_SIZE);
			}
		}
		st_tls.claiming = 1;
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		uint64_t t;
		uint8_t *nch = claim_chunk_raw(&t);
		st_tls.chunk = NULL;
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		st_tls.cticket = t;
		st_tls.idx = 1;
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		st_tls.chunk = nch;
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		st_tls.claiming = 0;
	}
	return NULL;
}

static unsigned slots_for(unsigned blob)
{
	if (blob <= ST_INLINE)
		return 1;
	return 1 + (blob - ST_INLINE + CONT_DATA - 1) / CONT_DATA;
}

static unsigned cap_for(unsigned nslots)
{
	return ST_INLINE + (nslots - 1) * CONT_DATA;
}

static void blob_write(struct st_rec *r, unsigned off, const void *p, unsigned len)
{
	const uint8_t *s = p;
	while (len) {
		unsigned room;
		uint8_t *d = st_blob_at(r, off, &room);
		unsigned k = len < room ? len : room;
		memcpy(d, s, k);
		s += k;
		off += k;
		len -= k;
	}
}

/* Start a record in slot space for `blob` bytes; fills the enter-phase header. */
static int open_record(struct st_call *c, unsigned blob, uint8_t flags)
{
	unsigned n = slots_for(blob);
	uint64_t ticket;
	struct st_rec *r = reserve(n, &ticket);
	if (!r) {
		__atomic_fetch_add(&st_g.hdr->dropped, 1, __ATOMIC_RELAXED);
		return 0;
	}
	__atomic_store_n(&r->seq, ticket << 3 | ST_PH_WRITING, __ATOMIC_RELAXED);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	for (unsigned i = 1; i < n; i++)
		((struct st_cont *)r)[i].seq = ticket << 3 | ST_PH_CONT;
	r->ts_enter = c->ts_enter;
	r->ts_exit = 0;
	r->ret = 0;
	memcpy(r->a, c->a, sizeof(r->a));
	r->tid = (uint32_t)st_tls.tid;
	r->fd = c->fd;
	r->err = 0;
	r->call = c->call;
	r->blob_len = 0;
	r->blob_elen = 0;
	r->nslots = (uint8_t)n;
	r->flags = flags;
	c->r = r;
	c->ticket = ticket;
	c->off = 0;
	c->cap = cap_for(n);
	return 1;
}

/* Capture the caller's stack into buf; returns frames kept, our own frames skipped. */
static int capture(uint64_t *buf, int depth)
{
	void *raw[ST_MAX_FRAMES + 8];
	int n = st_g.unw_backtrace(raw, depth + 8);
	int i = 0, k = 0;
	while (i < n && (uintptr_t)raw[i] >= st_g.self_lo && (uintptr_t)raw[i] < st_g.self_hi)
		i++;
	for (; i < n && k < depth; i++)
		buf[k++] = (uint64_t)(uintptr_t)raw[i];
	return k;
}

/* Process events alone do not make a ring file: a shell that only forks and execs leaves
 * none behind. The first socket call does (and records the SIGPIPE disposition and the
 * inherited sockets then). */
static int opens_ring(int call, int fd)
{
	switch (call) {
	case ST_C_EXEC: case ST_C_FORK: case ST_C_VFORK: case ST_C_POSIX_SPAWN:
	case ST_C_SIGNAL: case ST_C_SIGACTION:
		return 0;
	}
	/* nor does a socket call on something that is not a socket (bash asks getpeername(0)
	 * at every start, to see whether stdin is a socket) */
	return !(fd >= 0 && fd < ST_FDTAB && (st_fdkind[fd] & FK_MASK) == FK_OTHER);
}

/*
 * Begin recording `call` on `fd`; `extra` bounds the blob bytes the caller will add with
 * st_put (enter and exit together). Returns 0 (and records nothing) when not tracing.
 * On 1 the caller must go through st_enter, st_exit and st_done.
 */
int st_begin(struct st_call *c, int call, int fd, uint64_t a0, uint64_t a1, uint64_t a2,
             unsigned extra)
{
	c->r = NULL;
	c->a[0] = a0;
	c->a[1] = a1;
	c->a[2] = a2;
	if (unlikely(!st_ready()))
		return 0;
	int saved = errno;
	int nested = st_tls.nesting++ > 0;
	if (unlikely(!st_g.ring_ok) && (nested || !opens_ring(call, fd) || st_ring_lazy_open() != 0)) {
		st_tls.nesting--;
		errno = saved;
		return 0;
	}
	c->call = (uint16_t)call;
	c->fd = fd;
	c->gen = st_g.gen;
	c->ts_enter = st_now();
	uint64_t frames[ST_MAX_FRAMES];
	int nf = 0;
	if (st_g.stacks && !nested)
		nf = capture(frames, st_g.stacks);
	unsigned blob = extra + (nf ? 4 + nf * 8u : 0);
	if (!open_record(c, blob, nested ? ST_RF_NESTED : 0)) {
		st_tls.nesting--;
		errno = saved;
		return 0;
	}
	if (nf)
		st_put(c, ST_T_FRAMES, frames, nf * 8u);
	c->err = saved;
	return 1;
}

void st_put(struct st_call *c, int type, const void *p, unsigned len)
{
	if (!c->r || c->off + 4 > c->cap)
		return;
	if (len > c->cap - c->off - 4)
		len = c->cap - c->off - 4;
	struct st_tlv_hdr th = { (uint8_t)type, 0, (uint16_t)len };
	blob_write(c->r, c->off, &th, 4);
	blob_write(c->r, c->off + 4, p, len);
	c->off += 4 + len;
}

void st_put_iov(struct st_call *c, int type, const struct iovec *iov, size_t n, size_t len)
{
	if (!c->r || c->off + 4 > c->cap || !iov)
		return;
	size_t room = c->cap - c->off - 4;
	if (len > room)
		len = room;
	struct st_tlv_hdr th = { (uint8_t)type, 0, (uint16_t)len };
	unsigned off = c->off + 4;
	size_t left = len;
	for (size_t i = 0; i < n && left; i++) {
		size_t k = iov[i].iov_len < left ? iov[i].iov_len : left;
		blob_write(c->r, off, iov[i].iov_base, (unsigned)k);
		off += (unsigned)k;
		left -= k;
	}
	th.len = (uint16_t)(len - left);
	blob_write(c->r, c->off, &th, 4);
	c->off += 4 + th.len;
}

void st_put_addr(struct st_call *c, int type, const struct sockaddr *sa, socklen_t len)
{
	if (sa && len > 0)
		st_put(c, type, sa, len > 110 ? 110 : len);
}

void st_enter(struct st_call *c)
{
	struct st_rec *r = c->r;
	r->blob_elen = (uint16_t)c->off;
	r->csum_enter = st_rec_csum_enter(r);
	store_rel64(&r->seq, c->ticket << 3 | ST_PH_ENTERED);
	errno = c->err;
}

/*
 * Start the exit phase. If the record's slot was reused while the call blocked (another
 * thread wrapped the ring onto our chunk), write the completion as a new record that
 * names the old ticket.
 */
void st_exit(struct st_call *c, long ret)
{
	c->err = errno;
	struct st_rec *r = c->r;
	if (unlikely(c->gen != st_g.gen)) {
		/* we are the child of a fork that happened inside this call: the record is
		 * the parent's, in the parent's ring */
		c->r = NULL;
		return;
	}
	uint64_t want = c->ticket << 3 | ST_PH_ENTERED;
	if (unlikely(__atomic_load_n(&r->seq, __ATOMIC_ACQUIRE) != want)) {
		uint64_t old = c->ticket;
		unsigned keep = c->cap - c->off;
		__atomic_fetch_add(&st_g.hdr->late_exits, 1, __ATOMIC_RELAXED);
		if (!open_record(c, 12 + keep, ST_RF_LATE)) {
			c->r = NULL;
			return;
		}
		st_put(c, ST_T_LATE_OF, &old, 8);
		c->r->blob_elen = (uint16_t)c->off;
		c->r->csum_enter = st_rec_csum_enter(c->r);
		r = c->r;
	}
	__atomic_store_n(&r->seq, c->ticket << 3 | ST_PH_EXITING, __ATOMIC_RELAXED);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	r->ts_exit = st_now();
	r->ret = ret;
	r->err = (int16_t)(ret < 0 ? c->err : 0);
}

void st_done(struct st_call *c)
{
	struct st_rec *r = c->r;
	if (r) {
		r->blob_len = (uint16_t)c->off;
		r->csum_exit = st_rec_csum_exit(r);
		store_rel64(&r->seq, c->ticket << 3 | ST_PH_COMPLETE);
	}
	st_tls.nesting--;
	errno = c->err;
}

/* A record with no real call behind it (inherited socket, fork child marker...). */
void st_event(int call, int fd, uint64_t a0, uint64_t a1, uint64_t a2, long ret)
{
	struct st_call c;
	if (!st_begin(&c, call, fd, a0, a1, a2, 2 * (4 + 110)))
		return;
	st_enter(&c);
	errno = 0;
	st_exit(&c, ret);
	if (call == ST_C_INHERITED || call == ST_C_UNSEEN)
		st_sock_addrs(fd, &c, 1, 1);
	st_done(&c);
}

/* ---- the socket table: creation metadata of live sockets, by fd ---- */

static struct st_sock *sock_slot(int fd)
{
	if (!st_g.ring_ok || fd < 0 || fd >= ST_SOCKTAB_N)
		return NULL;
	return &st_g.socktab[fd];
}

static int sock_lock(struct st_sock *s)
{
	uint32_t v = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);
	if (v & 1)
		return 0;
	return __atomic_compare_exchange_n(&s->seq, &v, v + 1, 0, __ATOMIC_ACQUIRE,
	                                   __ATOMIC_RELAXED);
}

static void sock_unlock(struct st_sock *s)
{
	__atomic_fetch_add(&s->seq, 1, __ATOMIC_RELEASE);
}

void st_sock_note(int fd, int origin, int domain, int type, int protocol, uint64_t ticket)
{
	struct st_sock *s = sock_slot(fd);
	if (!s || !sock_lock(s))
		return;
	s->fd = fd;
	s->domain = (uint16_t)domain;
	s->type = (uint16_t)(type & 0xff);
	s->protocol = (uint16_t)protocol;
	s->origin = (uint8_t)origin;
	s->birth_ticket = ticket;
	s->birth_ns = st_now();
	s->local.len = 0;
	s->peer.len = 0;
	sock_unlock(s);
}

static void fill_addr(struct st_saddr *d, const struct sockaddr_storage *ss, socklen_t len)
{
	if (len > sizeof(d->raw))
		len = sizeof(d->raw);
	memcpy(d->raw, ss, len);
	d->len = (uint16_t)len;
}

/* Look up the real local/peer address of fd (ephemeral ports), add them to the record
 * being built and to the socket table. */
void st_sock_addrs(int fd, struct st_call *c, int want_local, int want_peer)
{
	int saved = errno;
	struct sockaddr_storage ss;
	socklen_t len;
	struct st_sock *s = sock_slot(fd);
	int locked = s && sock_lock(s);
	if (want_local) {
		len = sizeof(ss);
		if (syscall(SYS_getsockname, fd, &ss, &len) == 0 && len > 0) {
			if (c)
				st_put_addr(c, ST_T_LOCAL, (struct sockaddr *)&ss, len);
			if (locked)
				fill_addr(&s->local, &ss, len);
		}
	}
	if (want_peer) {
		len = sizeof(ss);
		if (syscall(SYS_getpeername, fd, &ss, &len) == 0 && len > 0) {
			if (c)
				st_put_addr(c, ST_T_PEER, (struct sockaddr *)&ss, len);
			if (locked)
				fill_addr(&s->peer, &ss, len);
		}
	}
	if (locked)
		sock_unlock(s);
	errno = saved;
}

int st_sock_local_unknown(int fd)
{
	const struct st_sock *s = sock_slot(fd);
	return s && s->origin != ST_OR_NONE && s->local.len == 0;
}

void st_sock_clear(int fd)
{
	struct st_sock *s = sock_slot(fd);
	if (s && sock_lock(s)) {
		s->origin = ST_OR_NONE;
		s->fd = -1;
		__atomic_fetch_add(&s->seq, 1, __ATOMIC_RELEASE);
		/* an even, non-zero seq with origin NONE is a cleared entry */
	}
}

void st_sock_copy(int from, int to)
{
	struct st_sock *a = sock_slot(from), *b = sock_slot(to);
	if (!a || !b || a == b || !sock_lock(b))
		return;
	uint32_t seq = b->seq;
	memcpy((char *)b + 4, (char *)a + 4, sizeof(*b) - 4);
	b->seq = seq;
	b->fd = to;
	sock_unlock(b);
}
