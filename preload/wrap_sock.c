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
	if (!st_wbegin(&c, ST_C_SOCKET, -1, (uint64_t)domain, (uint64_t)type, (uint64_t)protocol, 0)) {
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
	if (!st_wbegin(&c, ST_C_SOCKETPAIR, -1, (uint64_t)domain, (uint64_t)type, (uint64_t)protocol, 12)) {
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
	struct st_inj inj = { 0, 0, 0, 0, 0, NULL };
	if (unlikely(st_inj_on))
		st_inject_pre(id, fd, 0, &inj);
	struct st_call c;
	int traced = st_wbegin(&c, id, fd, (uint64_t)flags, 0, 0, 2 * ADDR_ROOM + (inj.fired ? 48 : 0));
	if (traced) {
		if (inj.fired)
			st_put(&c, ST_T_INJECT, inj.text, (unsigned)strlen(inj.text));
		st_enter(&c);
	}
	if (inj.delay_ns)
		st_inject_sleep(inj.delay_ns);
	int r = inj.skip ? (int)st_inject_result(&inj, id, 0)
	        : id == ST_C_ACCEPT ? REAL(accept)(fd, sa, len) : REAL(accept4)(fd, sa, len, flags);
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
	       if (r == 0 || errno == EINPROGRESS) {
		       st_sock_addrs(fd, &c, 1, r == 0);
		       if (r != 0)
			       st_sock_set_peer(fd, sa, len);
	       });
}

ST_EXPORT int shutdown(int fd, int how)
{
	st_is_sock(fd);
	TRACED(int, ST_C_SHUTDOWN, fd, how, 0, 0, 0, REAL(shutdown)(fd, how), NOTHING, NOTHING);
}

/*
 * Take the fd's socket-ness away: 1 if it was a socket, and then this caller records its
 * close. Done before the real close (once that returns, another thread may get the number
 * from socket() or accept()), and by exchange, so that a close and a concurrent close_range
 * never both claim one socket, nor does close_range claim an fd that is no longer one.
 */
static int claim(int fd)
{
	if (st_fd_kind(fd) == FK_UNKNOWN)
		return 0;
	uint8_t k = __atomic_exchange_n(&st_fdkind[fd], FK_UNKNOWN, __ATOMIC_ACQ_REL);
	if ((k & FK_MASK) != FK_SOCK)
		return 0;
	st_sock_clear(fd);
	return 1;
}

ST_EXPORT int close(int fd)
{
	if (unlikely(st_tls.nesting > 0) && st_fw_active(__builtin_return_address(0)))
		return (int)st_unw_io('c', fd, 0);
	/* what is left unread or unsent is what the close throws away */
	if (st_fd_kind(fd) == FK_SOCK && st_tls.nesting == 0)
		st_sockstate(fd);
	if (!claim(fd))
		return REAL(close)(fd);
	if (unlikely(st_inj_on))
		st_inject_forget(fd);
	TRACED(int, ST_C_CLOSE, fd, 0, 0, 0, 0, REAL(close)(fd), NOTHING, NOTHING);
}

/* The sockets among [first, last], claimed (closing) or only listed (CLOSE_RANGE_CLOEXEC). */
static int sockets_in(unsigned first, unsigned last, int take, int32_t *out, int max)
{
	int n = 0;
	for (unsigned fd = first; fd <= last && fd < ST_FDTAB; fd++) {
		int is = take ? claim((int)fd) : st_fd_kind((int)fd) == FK_SOCK;
		if (is && n < max)
			out[n++] = (int32_t)fd;
	}
	return n;
}

ST_EXPORT int close_range(unsigned first, unsigned last, int flags)
{
	int32_t socks[64];
	int ns = sockets_in(first, last, !(flags & CLOSE_RANGE_CLOEXEC), socks, 64);
	struct st_call c;
	int traced = ns > 0 && st_wbegin(&c, ST_C_CLOSE_RANGE, -1, first, last, (uint64_t)flags,
	                                4 + 4 * ns);
	if (traced)
		st_enter(&c);
	int r = REAL(close_range)(first, last, flags);
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
	int ns = sockets_in(first, ~0u, 1, socks, 64);
	struct st_call c;
	int traced = ns > 0 && st_wbegin(&c, ST_C_CLOSEFROM, -1, first, 0, 0, 4 + 4 * ns);
	if (traced)
		st_enter(&c);
	REAL(closefrom)(lowfd);
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
	claim(r);
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

ST_EXPORT int dup2(int old, int nfd)
{
	int involved = (st_fd_kind(nfd) == FK_SOCK) | st_is_sock(old);
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
	int involved = (st_fd_kind(nfd) == FK_SOCK) | st_is_sock(old);
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

/* fcntl and fcntl64: the third argument read as a long whatever the command */
#define FCNTL_WRAPPER(name)                                     \
	ST_EXPORT int name(int fd, int cmd, ...)                    \
	{                                                           \
		va_list ap;                                             \
		va_start(ap, cmd);                                      \
		long arg = va_arg(ap, long);                            \
		va_end(ap);                                             \
		return fcntl_common(REAL(name), fd, cmd, arg);          \
	}
FCNTL_WRAPPER(fcntl)
FCNTL_WRAPPER(fcntl64)

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

/* libunwind's memory-validation pipe is made up, never a real pipe (see unwind.c). */
ST_EXPORT int pipe2(int fds[2], int flags)
{
	if (st_fw_active(__builtin_return_address(0))) {
		st_unw_pipe(fds);
		return 0;
	}
	return REAL(pipe2)(fds, flags);
}
