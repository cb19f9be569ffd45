/* The one pattern every interposed call follows: check, begin, real call, exit, done. */
#ifndef ST_WRAP_H
#define ST_WRAP_H

#include "st_preload.h"

#include <signal.h>
#include <string.h>
#include <sys/types.h>

/* The real libc function, bound on first use (works before our constructor ran). */
#define REAL_DECL(ret, name, params) static ret(*real_##name) params;
#define REAL(name)                                                                   \
	(__atomic_load_n(&real_##name, __ATOMIC_ACQUIRE)                                 \
	     ?: (__typeof__(real_##name))st_resolve(#name, (void **)&real_##name))

/*
 * A wrapper's st_begin: at the first call (records off) the tracer starts and the process
 * gets its entry. Inlined like st_begin: the common path is the same one load and branch.
 */
static inline __attribute__((always_inline)) int
st_wbegin(struct st_call *c, int call, int fd, uint64_t a0, uint64_t a1, uint64_t a2, unsigned extra)
{
	if (unlikely(__atomic_load_n(&st_g.state, __ATOMIC_RELAXED) != ST_ON) && !st_start(call, fd)) {
		c->r = NULL;
		return 0;
	}
	return st_begin_on(c, call, fd, a0, a1, a2, extra);
}

/*
 * Record `realcall` as call `id` on `fd` with scalars a0..a2 and up to `extra` blob bytes.
 * `enter_code` runs before the call (st_put of arguments), `exit_code` after it, with the
 * result in `r` (errno is saved and restored around both).
 */
/*
 * The body of a traced call. With fault-injection rules (st_inj_on) a second copy of it runs,
 * which may delay, cut, replace or precede the real call; without, one predictable branch.
 * In `realcall`, ST_CAP(len) and ST_IOV/ST_IOVCNT apply short= (constants in the plain copy).
 */
/* A field of the rules' verdict: a constant 0 in the copy without injection, so that copy
 * never takes the verdict's address (the compiler then keeps it out of memory). */
#define INJ_(inj_body_, field) ((inj_body_) ? inj_.field : 0)

#define TRACED_BODY(inj_body_, type, id, fd, a0, a1, a2, extra, realcall, enter_code, exit_code) \
	do {                                                                             \
		struct st_inj inj_ = { 0, 0, 0, 0, 0, NULL };                                \
		if (inj_body_)                                                               \
			st_inject_pre(id, fd, (uint64_t)(a1), &inj_);                            \
		struct st_call c;                                                            \
		if (!st_wbegin(&c, id, fd, (uint64_t)(a0), (uint64_t)(a1), (uint64_t)(a2),    \
		              (extra) + (INJ_(inj_body_, fired) ? 48u : 0u))) {                          \
			if (INJ_(inj_body_, delay_ns))                                           \
				st_inject_sleep(inj_.delay_ns);                                      \
			type r0_ = INJ_(inj_body_, skip) ? (type)st_inject_result(&inj_, id, (uint64_t)(a1)) \
			                     : realcall;                                          \
			if (inj_body_)                                                           \
				st_inject_after(id, fd, (uint64_t)(a1), (long)r0_);                  \
			return r0_;                                                              \
		}                                                                            \
		enter_code;                                                                  \
		if (INJ_(inj_body_, fired))                                                  \
			st_put(&c, ST_T_INJECT, inj_.text, (unsigned)strlen(inj_.text));         \
		st_enter(&c);                                                                \
		if (INJ_(inj_body_, delay_ns))                                               \
			st_inject_sleep(inj_.delay_ns);                                          \
		type r = INJ_(inj_body_, skip) ? (type)st_inject_result(&inj_, id, (uint64_t)(a1))       \
		                   : realcall;                                                \
		st_exit(&c, (long)r);                                                        \
		exit_code;                                                                   \
		st_done(&c);                                                                 \
		if (inj_body_)                                                               \
			st_inject_after(id, fd, (uint64_t)(a1), (long)r);                        \
		if (unlikely((long)r < 0))                                                   \
			st_after_error(id, fd, errno);                                           \
		return r;                                                                    \
	} while (0)

#define TRACED(type, id, fd, a0, a1, a2, extra, realcall, enter_code, exit_code)     \
	do {                                                                             \
		if (unlikely(__atomic_load_n(&st_inj_on, __ATOMIC_RELAXED))) {               \
			const int st_injecting_ = 1;                                             \
			(void)st_injecting_;                                                     \
			TRACED_BODY(1, type, id, fd, a0, a1, a2, extra, realcall, enter_code,    \
			            exit_code);                                                  \
		}                                                                            \
		const int st_injecting_ = 0;                                                 \
		(void)st_injecting_;                                                         \
		TRACED_BODY(0, type, id, fd, a0, a1, a2, extra, realcall, enter_code,        \
		            exit_code);                                                      \
	} while (0)

/* short=: a length cut to the rule's bound, only in the injecting copy of the body */
#define ST_CAP(n) (st_injecting_ ? st_cap_len(n) : (n))

#define NOTHING ((void)0)

/* glibc's _FORTIFY_SOURCE entry points, which its headers do not declare */
struct pollfd;
struct timespec;
ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags, struct sockaddr *sa,
                       socklen_t *alen);
ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen);
int __poll_chk(struct pollfd *p, unsigned long n, int tmo, size_t plen);
int __ppoll_chk(struct pollfd *p, unsigned long n, const struct timespec *t, const __sigset_t *m,
                size_t plen);

/* Blob bytes needed to keep up to `n` bytes of payload. */
static inline unsigned st_pay(size_t n)
{
	unsigned p = st_g.cfg.payload;
	return p ? 4 + (unsigned)(n < p ? n : p) : 0;
}

#define ADDR_ROOM (4 + 110)

static inline size_t st_iov_len(const struct iovec *iov, size_t n)
{
	size_t t = 0;
	for (size_t i = 0; iov && i < n; i++)
		t += iov[i].iov_len;
	return t;
}

#endif
