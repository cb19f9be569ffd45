/* Interposed readiness calls: poll, ppoll, select, pselect, epoll — only when sockets are watched. */
#include "st_wrap.h"

#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>

REAL_DECL(int, poll, (struct pollfd *, nfds_t, int))
REAL_DECL(int, ppoll, (struct pollfd *, nfds_t, const struct timespec *, const sigset_t *))
REAL_DECL(int, __poll_chk, (struct pollfd *, nfds_t, int, size_t))
REAL_DECL(int, __ppoll_chk, (struct pollfd *, nfds_t, const struct timespec *, const sigset_t *, size_t))
REAL_DECL(int, select, (int, fd_set *, fd_set *, fd_set *, struct timeval *))
REAL_DECL(int, pselect, (int, fd_set *, fd_set *, fd_set *, const struct timespec *, const sigset_t *))
REAL_DECL(int, epoll_ctl, (int, int, int, struct epoll_event *))
REAL_DECL(int, epoll_wait, (int, struct epoll_event *, int, int))
REAL_DECL(int, epoll_pwait, (int, struct epoll_event *, int, int, const sigset_t *))

#define MAXW 32

static int poll_socks(const struct pollfd *p, nfds_t n)
{
	int k = 0;
	for (nfds_t i = 0; p && i < n; i++)
		if (st_is_sock(p[i].fd))
			k++;
	return k;
}

static void put_poll(struct st_call *c, const struct pollfd *p, nfds_t n)
{
	struct st_pollent e[MAXW];
	int k = 0;
	for (nfds_t i = 0; i < n && k < MAXW; i++)
		if (st_is_sock(p[i].fd))
			e[k++] = (struct st_pollent){ p[i].fd, p[i].events, p[i].revents };
	st_put(c, ST_T_POLL, e, (unsigned)(k * sizeof(e[0])));
}

static long ts_ms(const struct timespec *t)
{
	return t ? (long)(t->tv_sec * 1000 + t->tv_nsec / 1000000) : -1;
}

#define POLL_ROOM(k) (4 + (unsigned)((k) < MAXW ? (k) : MAXW) * 8)

ST_EXPORT int poll(struct pollfd *p, nfds_t n, int tmo)
{
	int k = poll_socks(p, n);
	if (!k)
		return REAL(poll)(p, n, tmo);
	TRACED(int, ST_C_POLL, -1, n, tmo, 0, POLL_ROOM(k), REAL(poll)(p, n, tmo), NOTHING,
	       put_poll(&c, p, n));
}

ST_EXPORT int __poll_chk(struct pollfd *p, nfds_t n, int tmo, size_t plen)
{
	int k = poll_socks(p, n);
	if (!k)
		return REAL(__poll_chk)(p, n, tmo, plen);
	TRACED(int, ST_C_POLL, -1, n, tmo, 0, POLL_ROOM(k), REAL(__poll_chk)(p, n, tmo, plen),
	       ST_FLAG(&c, ST_RF_FORTIFY), put_poll(&c, p, n));
}

ST_EXPORT int ppoll(struct pollfd *p, nfds_t n, const struct timespec *t, const sigset_t *m)
{
	int k = poll_socks(p, n);
	if (!k)
		return REAL(ppoll)(p, n, t, m);
	TRACED(int, ST_C_PPOLL, -1, n, ts_ms(t), 0, POLL_ROOM(k), REAL(ppoll)(p, n, t, m), NOTHING,
	       put_poll(&c, p, n));
}

ST_EXPORT int __ppoll_chk(struct pollfd *p, nfds_t n, const struct timespec *t, const sigset_t *m,
                          size_t plen)
{
	int k = poll_socks(p, n);
	if (!k)
		return REAL(__ppoll_chk)(p, n, t, m, plen);
	TRACED(int, ST_C_PPOLL, -1, n, ts_ms(t), 0, POLL_ROOM(k), REAL(__ppoll_chk)(p, n, t, m, plen),
	       ST_FLAG(&c, ST_RF_FORTIFY), put_poll(&c, p, n));
}

/* Socket fds asked about in the select sets, with what was asked (POLLIN/OUT/PRI). */
static int sel_interest(int n, fd_set *r, fd_set *w, fd_set *e, struct st_pollent *out)
{
	int k = 0;
	if (n > FD_SETSIZE)
		n = FD_SETSIZE;
	for (int fd = 0; fd < n && k < MAXW; fd++) {
		short ev = (short)((r && FD_ISSET(fd, r) ? POLLIN : 0) | (w && FD_ISSET(fd, w) ? POLLOUT : 0) |
		                   (e && FD_ISSET(fd, e) ? POLLPRI : 0));
		if (ev && st_is_sock(fd))
			out[k++] = (struct st_pollent){ fd, ev, 0 };
	}
	return k;
}

static void sel_ready(struct st_call *c, int ret, fd_set *r, fd_set *w, fd_set *e,
                      struct st_pollent *ent, int k)
{
	for (int i = 0; i < k && ret > 0; i++) {
		int fd = ent[i].fd;
		ent[i].revents = (short)((r && FD_ISSET(fd, r) ? POLLIN : 0) | (w && FD_ISSET(fd, w) ? POLLOUT : 0) |
		                         (e && FD_ISSET(fd, e) ? POLLPRI : 0));
	}
	st_put(c, ST_T_POLL, ent, (unsigned)(k * sizeof(ent[0])));
}

ST_EXPORT int select(int n, fd_set *rs, fd_set *ws, fd_set *es, struct timeval *tv)
{
	struct st_pollent ent[MAXW];
	int k = sel_interest(n, rs, ws, es, ent);
	if (!k)
		return REAL(select)(n, rs, ws, es, tv);
	long ms = tv ? (long)(tv->tv_sec * 1000 + tv->tv_usec / 1000) : -1;
	TRACED(int, ST_C_SELECT, -1, n, ms, 0, POLL_ROOM(k), REAL(select)(n, rs, ws, es, tv), NOTHING,
	       sel_ready(&c, r, rs, ws, es, ent, k));
}

ST_EXPORT int pselect(int n, fd_set *rs, fd_set *ws, fd_set *es, const struct timespec *t,
                      const sigset_t *m)
{
	struct st_pollent ent[MAXW];
	int k = sel_interest(n, rs, ws, es, ent);
	if (!k)
		return REAL(pselect)(n, rs, ws, es, t, m);
	TRACED(int, ST_C_PSELECT, -1, n, ts_ms(t), 0, POLL_ROOM(k), REAL(pselect)(n, rs, ws, es, t, m),
	       NOTHING, sel_ready(&c, r, rs, ws, es, ent, k));
}

/*
 * The event of an EPOLL_CTL_ADD/MOD, read after the call: the kernel copies it first of all
 * and fails with EFAULT when it cannot, so any other outcome says the pointer was good. A
 * program's bad pointer gets its EFAULT, not our SIGSEGV. EPOLL_CTL_DEL's event is ignored by
 * the kernel (it may be any pointer) and never read.
 */
static void ctl_event(struct st_call *c, int op, const struct epoll_event *ev, int r, int err, int skipped)
{
	if (op == EPOLL_CTL_DEL || skipped || !ev || (r < 0 && err == EFAULT))
		return;
	uint64_t data = ev->data.u64;
	st_set_arg(c, 2, ev->events);
	st_put(c, ST_T_U64, &data, 8);
}

ST_EXPORT int epoll_ctl(int ep, int op, int fd, struct epoll_event *ev)
{
	if (!st_is_sock(fd))
		return REAL(epoll_ctl)(ep, op, fd, ev);
	if (ep >= 0 && ep < ST_FDTAB)
		st_fdkind[ep] |= FK_EPOLLSOCK;
	TRACED(int, ST_C_EPOLL_CTL, fd, ep, op, 0, 12, REAL(epoll_ctl)(ep, op, fd, ev), NOTHING,
	       ctl_event(&c, op, ev, r, errno, inj_.skip));
}

static void put_epoll(struct st_call *c, const struct epoll_event *ev, int n)
{
	struct st_epollent e[MAXW];
	int k = 0;
	for (int i = 0; i < n && k < MAXW; i++, k++)
		e[k] = (struct st_epollent){ ev[i].events, 0, ev[i].data.u64 };
	st_put(c, ST_T_EPOLL, e, (unsigned)(k * sizeof(e[0])));
}

static int watches_socks(int ep)
{
	return ep >= 0 && ep < ST_FDTAB && (st_fdkind[ep] & FK_EPOLLSOCK);
}

ST_EXPORT int epoll_wait(int ep, struct epoll_event *ev, int max, int tmo)
{
	if (!watches_socks(ep))
		return REAL(epoll_wait)(ep, ev, max, tmo);
	TRACED(int, ST_C_EPOLL_WAIT, ep, max, tmo, 0, 4 + MAXW * 16, REAL(epoll_wait)(ep, ev, max, tmo),
	       NOTHING, if (r > 0) put_epoll(&c, ev, r));
}

ST_EXPORT int epoll_pwait(int ep, struct epoll_event *ev, int max, int tmo, const sigset_t *m)
{
	if (!watches_socks(ep))
		return REAL(epoll_pwait)(ep, ev, max, tmo, m);
	TRACED(int, ST_C_EPOLL_PWAIT, ep, max, tmo, 0, 4 + MAXW * 16,
	       REAL(epoll_pwait)(ep, ev, max, tmo, m), NOTHING, if (r > 0) put_epoll(&c, ev, r));
}
