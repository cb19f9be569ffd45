/* Interposed calls that create, name, connect, configure and close sockets. */
#include "st_wrap.h"

#include <fcntl.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

REAL_DECL(int, socket, (int, int, int))
REAL_DECL(int, socketpair, (int, int, int, int[2]))
REAL_DECL(int, bind, (int, const struct sockaddr *, socklen_t))
REAL_DECL(int, listen, (int, int))
REAL_DECL(int, accept, (int, struct sockaddr *, socklen_t *))
REAL_DECL(int, accept4, (int, struct sockaddr *, socklen_t *, int))
REAL_DECL(int, connect, (int, const struct sockaddr *, socklen_t))
REAL_DECL(int, shutdown, (int, int))
REAL_DECL(int, close, (int))
REAL_DECL(int, close_range, (unsigned, unsigned, int))
REAL_DECL(void, closefrom, (int))
REAL_DECL(int, dup, (int))
REAL_DECL(int, dup2, (int, int))
REAL_DECL(int, dup3, (int, int, int))
REAL_DECL(int, fcntl, (int, int, ...))
REAL_DECL(int, fcntl64, (int, int, ...))
REAL_DECL(int, ioctl, (int, unsigned long, ...))
REAL_DECL(int, setsockopt, (int, int, int, const void *, socklen_t))
REAL_DECL(int, getsockopt, (int, int, int, void *, socklen_t *))
REAL_DECL(int, getsockname, (int, struct sockaddr *, socklen_t *))
REAL_DECL(int, getpeername, (int, struct sockaddr *, socklen_t *))
REAL_DECL(int, pipe2, (int[2], int))

static void learn(int fd, int origin, uint64_t birth, int dom, int type, int proto)
{
	st_fd_set(fd, FK_SOCK);
	st_sock_note(fd, origin, dom, type, proto, birth);
}

/* An accepted socket is of its listener's kind; ask the kernel only when that is unknown. */
static void learn_accepted(int lfd, int fd, struct st_call *c)
{
	int dom, type, proto;
	if (!st_sock_kind_known(lfd, &dom, &type, &proto))
		st_sock_kind(fd, &dom, &type, &proto);
	learn(fd, ST_OR_ACCEPT, ST_ENTRY_POS(c), dom, type, proto);
	st_sock_addrs(fd, c, 1, 1);
}

ST_EXPORT int socket(int domain, int type, int protocol)
{
	struct st_call c;
	if (!st_begin(&c, ST_C_SOCKET, -1, (uint64_t)domain, (uint64_t)type, (uint64_t)protocol, 0)) {
		int r = REAL(socket)(domain, type, protocol);
		if (r >= 0)
			st_fd_set(r, FK_SOCK);
		return r;
	}
	st_enter(&c);
	int r = REAL(socket)(domain, type, protocol);
	st_exit(&c, r);
	if (r >= 0)
		learn(r, ST_OR_SOCKET, ST_ENTRY_POS(&c), domain, type, protocol);
	st_done(&c);
	return r;
}

ST_EXPORT int socketpair(int domain, int type, int protocol, int sv[2])
{
	struct st_call c;
	if (!st_begin(&c, ST_C_SOCKETPAIR, -1, (uint64_t)domain, (uint64_t)type, (uint64_t)protocol, 12)) {
		int r = REAL(socketpair)(domain, type, protocol, sv);
		if (r == 0) {
			st_fd_set(sv[0], FK_SOCK);
			st_fd_set(sv[1], FK_SOCK);
		}
		return r;
	}
	st_enter(&c);
	int r = REAL(socketpair)(domain, type, protocol, sv);
	st_exit(&c, r);
	if (r == 0) {
		learn(sv[0], ST_OR_SOCKETPAIR, ST_ENTRY_POS(&c), domain, type, protocol);
		learn(sv[1], ST_OR_SOCKETPAIR, ST_ENTRY_POS(&c), domain, type, protocol);
		st_put(&c, ST_T_FDS, sv, 8);
	}
	st_done(&c);
	return r;
}

ST_EXPORT int bind(int fd, const struct sockaddr *sa, socklen_t len)
{
	st_is_sock(fd);
	TRACED(int, ST_C_BIND, fd, 0, 0, 0, 2 * ADDR_ROOM, REAL(bind)(fd, sa, len),
	       st_put_addr(&c, ST_T_ADDR, sa, len),
	       if (r == 0) st_sock_addrs(fd, &c, 1, 0));
}

ST_EXPORT int listen(int fd, int backlog)
{
	st_is_sock(fd);
	TRACED(int, ST_C_LISTEN, fd, backlog, 0, 0, 0, REAL(listen)(fd, backlog), NOTHING, NOTHING);
}

/* accept and accept4: the new fd is a socket whether or not we record the call. */
static int accept_common(int id, int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
	st_is_sock(fd);
	struct st_call c;
	int traced = st_begin(&c, id, fd, (uint64_t)flags, 0, 0, 2 * ADDR_ROOM);
	if (traced)
		st_enter(&c);
	int r = id == ST_C_ACCEPT ? REAL(accept)(fd, sa, len) : REAL(accept4)(fd, sa, len, flags);
	if (!traced) {
		if (r >= 0)
			st_fd_set(r, FK_SOCK);
		return r;
	}
	st_exit(&c, r);
	if (r >= 0)
		learn_accepted(fd, r, &c);
	st_done(&c);
	return r;
}

ST_EXPORT int accept(int fd, struct sockaddr *sa, socklen_t *len)
{
	return accept_common(ST_C_ACCEPT, fd, sa, len, 0);
}

ST_EXPORT int accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
	return accept_common(ST_C_ACCEPT4, fd, sa, len, flags);
}

ST_EXPORT int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	st_is_sock(fd);
	TRACED(int, ST_C_CONNECT, fd, 0, 0, 0, 3 * ADDR_ROOM, REAL(connect)(fd, sa, len),
	       st_put_addr(&c, ST_T_ADDR, sa, len),
	       if (r == 0 || errno == EINPROGRESS) st_sock_addrs(fd, &c, 1, r == 0));
}

ST_EXPORT int shutdown(int fd, int how)
{
	st_is_sock(fd);
	TRACED(int, ST_C_SHUTDOWN, fd, how, 0, 0, 0, REAL(shutdown)(fd, how), NOTHING, NOTHING);
}

static void forget(int fd)
{
	if (fd >= 0 && fd < ST_FDTAB) {
		if ((st_fdkind[fd] & FK_MASK) == FK_SOCK)
			st_sock_clear(fd);
		st_fdkind[fd] = FK_UNKNOWN;
	}
}

ST_EXPORT int close(int fd)
{
	if (unlikely(st_tls.nesting > 0) && st_fw_active(__builtin_return_address(0))) {
		/* libunwind closing: only its own pipe, or a file it opened itself */
		if (st_fd_unhide(fd) || (!st_fd_poisoned_take(fd) && fd >= 0 && fd < ST_FDTAB &&
		                         (st_fdkind[fd] & FK_MASK) == FK_UNKNOWN)) {
			forget(fd);
			return REAL(close)(fd);
		}
		errno = EBADF;
		return -1;
	}
	if (unlikely(fd >= 0 && fd < ST_FDTAB && (st_fdkind[fd] & FK_MASK) == FK_HIDDEN)) {
		errno = EBADF;  /* untraced, this fd would not exist */
		return -1;
	}
	if (fd < 0 || fd >= ST_FDTAB || (st_fdkind[fd] & FK_MASK) != FK_SOCK) {
		forget(fd);
		return REAL(close)(fd);
	}
	/* forgotten before the real close: once it returns, another thread may get the same
	 * number from socket() or accept() and note it as its own */
	forget(fd);
	TRACED(int, ST_C_CLOSE, fd, 0, 0, 0, 0, REAL(close)(fd), NOTHING, NOTHING);
}

/* Close [first, last] around the fds we hide; returns the first failure. */
static int close_range_around(unsigned first, unsigned last, int flags)
{
	int hid[8], n = st_hidden_in(first, last, hid, 8), rc = 0, r;
	unsigned lo = first;
	for (int i = 0; i < n; i++) {
		unsigned h = (unsigned)hid[i];
		if (h > lo && (r = REAL(close_range)(lo, h - 1, flags)) < 0 && rc == 0)
			rc = r;
		lo = h + 1;
	}
	if (lo <= last && (r = REAL(close_range)(lo, last, flags)) < 0 && rc == 0)
		rc = r;
	return rc;
}

static int sockets_in(unsigned first, unsigned last, int32_t *out, int max)
{
	int n = 0;
	for (unsigned fd = first; fd <= last && fd < ST_FDTAB; fd++)
		if ((st_fdkind[fd] & FK_MASK) == FK_SOCK && n < max)
			out[n++] = (int32_t)fd;
	return n;
}

static void forget_range(unsigned first, unsigned last)
{
	for (unsigned fd = first; fd <= last && fd < ST_FDTAB; fd++)
		if ((st_fdkind[fd] & FK_MASK) != FK_HIDDEN)
			forget((int)fd);
}

ST_EXPORT int close_range(unsigned first, unsigned last, int flags)
{
	int32_t socks[64];
	int ns = sockets_in(first, last, socks, 64);
	struct st_call c;
	int traced = ns > 0 && st_begin(&c, ST_C_CLOSE_RANGE, -1, first, last, (uint64_t)flags,
	                                4 + 4 * ns);
	if (traced)
		st_enter(&c);
	if (!(flags & CLOSE_RANGE_CLOEXEC))
		forget_range(first, last);      /* before: the numbers are free once it returns */
	int r = close_range_around(first, last, flags);
	if (traced) {
		st_exit(&c, r);
		st_put(&c, ST_T_FDS, socks, 4u * ns);
		st_done(&c);
	}
	return r;
}

ST_EXPORT void closefrom(int lowfd)
{
	int32_t socks[64];
	unsigned first = lowfd < 0 ? 0 : (unsigned)lowfd;
	int ns = sockets_in(first, ~0u, socks, 64);
	int hid[1];
	struct st_call c;
	int traced = ns > 0 && st_begin(&c, ST_C_CLOSEFROM, -1, first, 0, 0, 4 + 4 * ns);
	if (traced)
		st_enter(&c);
	forget_range(first, ~0u);
	int r = 0;
	if (st_hidden_in(first, ~0u, hid, 1) == 0)
		REAL(closefrom)(lowfd);
	else if ((r = close_range_around(first, ~0u, 0)) < 0)
		for (unsigned fd = first; fd < ST_FDTAB; fd++)
			if ((st_fdkind[fd] & FK_MASK) != FK_HIDDEN)
				syscall(SYS_close, fd);
	if (traced) {
		st_exit(&c, 0);
		st_put(&c, ST_T_FDS, socks, 4u * ns);
		st_done(&c);
	}
}

static void dup_done(int old, int nfd, int r)
{
	if (r < 0 || old == nfd)
		return;
	forget(r);
	if (st_is_sock(old)) {
		st_fd_set(r, FK_SOCK);
		st_sock_copy(old, r);
	}
}

ST_EXPORT int dup(int fd)
{
	if (!st_is_sock(fd))
		return REAL(dup)(fd);
	TRACED(int, ST_C_DUP, fd, 0, 0, 0, 0, REAL(dup)(fd), NOTHING, dup_done(fd, -1, r));
}

/* The program takes fd number nfd: if we hid libunwind's pipe there, give it up. */
static int target_is_sock(int nfd)
{
	if (nfd >= 0 && nfd < ST_FDTAB && (st_fdkind[nfd] & FK_MASK) == FK_HIDDEN) {
		st_fd_poison(nfd);
		st_fdkind[nfd] = FK_UNKNOWN;
		return 0;
	}
	return nfd >= 0 && nfd < ST_FDTAB && (st_fdkind[nfd] & FK_MASK) == FK_SOCK;
}

ST_EXPORT int dup2(int old, int nfd)
{
	int involved = target_is_sock(nfd) | st_is_sock(old);
	if (!involved) {
		int r = REAL(dup2)(old, nfd);
		dup_done(old, nfd, r);
		return r;
	}
	TRACED(int, ST_C_DUP2, old, nfd, 0, 0, 0, REAL(dup2)(old, nfd), NOTHING,
	       dup_done(old, nfd, r));
}

ST_EXPORT int dup3(int old, int nfd, int flags)
{
	int involved = target_is_sock(nfd) | st_is_sock(old);
	if (!involved) {
		int r = REAL(dup3)(old, nfd, flags);
		dup_done(old, nfd, r);
		return r;
	}
	TRACED(int, ST_C_DUP3, old, nfd, flags, 0, 0, REAL(dup3)(old, nfd, flags), NOTHING,
	       dup_done(old, nfd, r));
}

static int fcntl_common(int (*real)(int, int, ...), int fd, int cmd, long arg)
{
	int dupcmd = cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC;
	if ((!dupcmd && cmd != F_SETFL) || !st_is_sock(fd))
		return real(fd, cmd, arg);
	TRACED(int, ST_C_FCNTL, fd, cmd, arg, 0, 0, real(fd, cmd, arg), NOTHING,
	       if (dupcmd) dup_done(fd, -1, r));
}

ST_EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	long arg = va_arg(ap, long);
	va_end(ap);
	return fcntl_common(REAL(fcntl), fd, cmd, arg);
}

ST_EXPORT int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	long arg = va_arg(ap, long);
	va_end(ap);
	return fcntl_common(REAL(fcntl64), fd, cmd, arg);
}

ST_EXPORT int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	va_start(ap, req);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	if (req != FIONBIO || !st_is_sock(fd))
		return REAL(ioctl)(fd, req, arg);
	TRACED(int, ST_C_IOCTL, fd, req, arg ? *(int *)arg : 0, 0, 0, REAL(ioctl)(fd, req, arg),
	       NOTHING, NOTHING);
}

ST_EXPORT int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	uint64_t v = 0;
	if (val && level == SOL_SOCKET && name == SO_LINGER && len >= sizeof(struct linger)) {
		const struct linger *l = val;
		v = (uint64_t)(uint32_t)l->l_onoff << 32 | (uint32_t)l->l_linger;
	} else if (val && len >= sizeof(int)) {
		v = (uint64_t)(int64_t) * (const int *)val;
	}
	st_is_sock(fd);
	TRACED(int, ST_C_SETSOCKOPT, fd, level, name, v, 0, REAL(setsockopt)(fd, level, name, val, len),
	       NOTHING, NOTHING);
}

ST_EXPORT int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	st_is_sock(fd);
	TRACED(int, ST_C_GETSOCKOPT, fd, level, name, 0, 12,
	       REAL(getsockopt)(fd, level, name, val, len), NOTHING,
	       if (r == 0 && val && len && *len >= sizeof(int)) {
		       uint64_t v = (uint64_t)(int64_t) * (int *)val;
		       st_put(&c, ST_T_U64, &v, 8);
	       });
}

ST_EXPORT int getsockname(int fd, struct sockaddr *sa, socklen_t *len)
{
	st_is_sock(fd);
	TRACED(int, ST_C_GETSOCKNAME, fd, 0, 0, 0, ADDR_ROOM, REAL(getsockname)(fd, sa, len),
	       NOTHING, if (r == 0 && len) st_put_addr(&c, ST_T_LOCAL, sa, *len));
}

ST_EXPORT int getpeername(int fd, struct sockaddr *sa, socklen_t *len)
{
	st_is_sock(fd);
	TRACED(int, ST_C_GETPEERNAME, fd, 0, 0, 0, ADDR_ROOM, REAL(getpeername)(fd, sa, len),
	       NOTHING, if (r == 0 && len) st_put_addr(&c, ST_T_PEER, sa, *len));
}

/* libunwind's memory-validation pipe is moved out of the program's way (NOTES.md item 8). */
ST_EXPORT int pipe2(int fds[2], int flags)
{
	int r = REAL(pipe2)(fds, flags);
	if (r == 0 && st_fw_active(__builtin_return_address(0)))
		st_hide_pipe(fds);
	return r;
}
