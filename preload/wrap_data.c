/* Interposed calls that move bytes: send/recv families, read/write on sockets, sendfile, splice. */
#include "st_wrap.h"

#include <fcntl.h>
#include <sys/sendfile.h>
#include <unistd.h>

REAL_DECL(ssize_t, send, (int, const void *, size_t, int))
REAL_DECL(ssize_t, sendto, (int, const void *, size_t, int, const struct sockaddr *, socklen_t))
REAL_DECL(ssize_t, sendmsg, (int, const struct msghdr *, int))
REAL_DECL(int, sendmmsg, (int, struct mmsghdr *, unsigned, int))
REAL_DECL(ssize_t, recv, (int, void *, size_t, int))
REAL_DECL(ssize_t, recvfrom, (int, void *, size_t, int, struct sockaddr *, socklen_t *))
REAL_DECL(ssize_t, recvmsg, (int, struct msghdr *, int))
REAL_DECL(int, recvmmsg, (int, struct mmsghdr *, unsigned, int, struct timespec *))
REAL_DECL(ssize_t, read, (int, void *, size_t))
REAL_DECL(ssize_t, write, (int, const void *, size_t))
REAL_DECL(ssize_t, readv, (int, const struct iovec *, int))
REAL_DECL(ssize_t, writev, (int, const struct iovec *, int))
REAL_DECL(ssize_t, sendfile, (int, int, off_t *, size_t))
REAL_DECL(ssize_t, sendfile64, (int, int, off_t *, size_t))
REAL_DECL(ssize_t, splice, (int, loff_t *, int, loff_t *, size_t, unsigned))
REAL_DECL(ssize_t, __recv_chk, (int, void *, size_t, size_t, int))
REAL_DECL(ssize_t, __recvfrom_chk, (int, void *, size_t, size_t, int, struct sockaddr *, socklen_t *))
REAL_DECL(ssize_t, __read_chk, (int, void *, size_t, size_t))

/* Keep up to SOCKTRACE_PAYLOAD bytes of what actually moved. */
#define KEEP(buf, r) \
	do { if ((r) > 0 && st_g.cfg.payload) st_put(&c, ST_T_DATA, buf, (unsigned)((size_t)(r) < st_g.cfg.payload ? (size_t)(r) : st_g.cfg.payload)); } while (0)
#define KEEP_IOV(iov, n, r) \
	do { if ((r) > 0 && st_g.cfg.payload) st_put_iov(&c, ST_T_DATA, iov, n, (size_t)(r) < st_g.cfg.payload ? (size_t)(r) : st_g.cfg.payload); } while (0)
#define FORTIFIED ST_FLAG(&c, ST_RF_FORTIFY)
/* An unbound datagram socket gets its address at its first send: look it up once. */
#define LEARN_LOCAL(r) \
	do { if ((r) >= 0 && st_sock_local_unknown(fd)) st_sock_addrs(fd, &c, 1, 0); } while (0)

/* libunwind reading/writing while we unwind: its made-up pipe, never a real fd. */
#define FIREWALL(op)                                                                 \
	if (unlikely(st_tls.nesting > 0) && st_fw_active(__builtin_return_address(0)))   \
		return st_unw_io(op, fd, len);

ST_EXPORT ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	st_is_sock(fd);
	TRACED(ssize_t, ST_C_SEND, fd, len, flags, 0, st_pay(len), REAL(send)(fd, buf, ST_CAP(len), flags),
	       NOTHING, KEEP(buf, r));
}

ST_EXPORT ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *sa,
                         socklen_t alen)
{
	st_is_sock(fd);
	TRACED(ssize_t, ST_C_SENDTO, fd, len, flags, 0, 2 * ADDR_ROOM + st_pay(len),
	       REAL(sendto)(fd, buf, ST_CAP(len), flags, sa, alen), st_put_addr(&c, ST_T_ADDR, sa, alen), {
		       KEEP(buf, r);
		       LEARN_LOCAL(r);
	       });
}

ST_EXPORT ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
	size_t len = m ? st_iov_len(m->msg_iov, m->msg_iovlen) : 0;
	st_is_sock(fd);
	TRACED(ssize_t, ST_C_SENDMSG, fd, len, flags, m ? m->msg_controllen : 0,
	       2 * ADDR_ROOM + st_pay(len), REAL(sendmsg)(fd, m, flags),
	       if (m) st_put_addr(&c, ST_T_ADDR, m->msg_name, m->msg_namelen), {
		       if (m)
			       KEEP_IOV(m->msg_iov, m->msg_iovlen, r);
		       LEARN_LOCAL(r);
	       });
}

ST_EXPORT int sendmmsg(int fd, struct mmsghdr *v, unsigned n, int flags)
{
	st_is_sock(fd);
	TRACED(int, ST_C_SENDMMSG, fd, n, flags, 0, 12, REAL(sendmmsg)(fd, v, n, flags), NOTHING, {
		uint64_t t = 0;
		for (int i = 0; i < r; i++)
			t += v[i].msg_len;
		st_put(&c, ST_T_U64, &t, 8);
	});
}

ST_EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	st_is_sock(fd);
	TRACED(ssize_t, ST_C_RECV, fd, len, flags, 0, st_pay(len), REAL(recv)(fd, buf, ST_CAP(len), flags),
	       NOTHING, KEEP(buf, r));
}

ST_EXPORT ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
	st_is_sock(fd);
	TRACED(ssize_t, ST_C_RECV, fd, len, flags, 0, st_pay(len),
	       REAL(__recv_chk)(fd, buf, ST_CAP(len), buflen, flags), FORTIFIED, KEEP(buf, r));
}

ST_EXPORT ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *sa,
                           socklen_t *alen)
{
	st_is_sock(fd);
	TRACED(ssize_t, ST_C_RECVFROM, fd, len, flags, 0, ADDR_ROOM + st_pay(len),
	       REAL(recvfrom)(fd, buf, ST_CAP(len), flags, sa, alen), NOTHING, {
		       if (r >= 0 && sa && alen)
			       st_put_addr(&c, ST_T_PEER, sa, *alen);
		       KEEP(buf, r);
	       });
}

ST_EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
                                 struct sockaddr *sa, socklen_t *alen)
{
	st_is_sock(fd);
	TRACED(ssize_t, ST_C_RECVFROM, fd, len, flags, 0, ADDR_ROOM + st_pay(len),
	       REAL(__recvfrom_chk)(fd, buf, ST_CAP(len), buflen, flags, sa, alen), FORTIFIED, {
		       if (r >= 0 && sa && alen)
			       st_put_addr(&c, ST_T_PEER, sa, *alen);
		       KEEP(buf, r);
	       });
}

ST_EXPORT ssize_t recvmsg(int fd, struct msghdr *m, int flags)
{
	size_t len = m ? st_iov_len(m->msg_iov, m->msg_iovlen) : 0;
	st_is_sock(fd);
	TRACED(ssize_t, ST_C_RECVMSG, fd, len, flags, m ? m->msg_controllen : 0,
	       ADDR_ROOM + st_pay(len), REAL(recvmsg)(fd, m, flags), NOTHING, {
		       if (r >= 0 && m && m->msg_name)
			       st_put_addr(&c, ST_T_PEER, m->msg_name, m->msg_namelen);
		       if (m)
			       KEEP_IOV(m->msg_iov, m->msg_iovlen, r);
	       });
}

ST_EXPORT int recvmmsg(int fd, struct mmsghdr *v, unsigned n, int flags, struct timespec *tmo)
{
	st_is_sock(fd);
	TRACED(int, ST_C_RECVMMSG, fd, n, flags, 0, 12, REAL(recvmmsg)(fd, v, n, flags, tmo), NOTHING, {
		uint64_t t = 0;
		for (int i = 0; i < r; i++)
			t += v[i].msg_len;
		st_put(&c, ST_T_U64, &t, 8);
	});
}

ST_EXPORT ssize_t read(int fd, void *buf, size_t len)
{
	FIREWALL('r');
	if (!st_is_sock(fd))
		return REAL(read)(fd, buf, len);
	TRACED(ssize_t, ST_C_READ, fd, len, 0, 0, st_pay(len), REAL(read)(fd, buf, ST_CAP(len)), NOTHING,
	       KEEP(buf, r));
}

ST_EXPORT ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
	if (!st_is_sock(fd))
		return REAL(__read_chk)(fd, buf, len, buflen);
	TRACED(ssize_t, ST_C_READ, fd, len, 0, 0, st_pay(len), REAL(__read_chk)(fd, buf, ST_CAP(len), buflen),
	       FORTIFIED, KEEP(buf, r));
}

ST_EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
	FIREWALL('w');
	if (!st_is_sock(fd))
		return REAL(write)(fd, buf, len);
	TRACED(ssize_t, ST_C_WRITE, fd, len, 0, 0, st_pay(len), REAL(write)(fd, buf, ST_CAP(len)), NOTHING,
	       KEEP(buf, r));
}

/* readv and writev; under short= the iovec is cut to the rule's bound */
#define IOV_WRAPPER(name, id)                                                                  \
	static ssize_t capped_##name(int fd, const struct iovec *iov, int n)                        \
	{                                                                                          \
		int k;                                                                                 \
		const struct iovec *v = st_cap_iov(iov, n, &k);                                        \
		return REAL(name)(fd, v, k);                                                           \
	}                                                                                          \
	ST_EXPORT ssize_t name(int fd, const struct iovec *iov, int n)                             \
	{                                                                                          \
		if (!st_is_sock(fd))                                                                   \
			return REAL(name)(fd, iov, n);                                                     \
		size_t len = st_iov_len(iov, n > 0 ? (size_t)n : 0);                                   \
		TRACED(ssize_t, id, fd, len, n, 0, st_pay(len),                                        \
		       st_injecting_ ? capped_##name(fd, iov, n) : REAL(name)(fd, iov, n), NOTHING,    \
		       KEEP_IOV(iov, (size_t)n, r));                                                   \
	}
IOV_WRAPPER(readv, ST_C_READV)
IOV_WRAPPER(writev, ST_C_WRITEV)

ST_EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t count)
{
	if (!st_is_sock(out) && !st_is_sock(in))
		return REAL(sendfile)(out, in, off, count);
	TRACED(ssize_t, ST_C_SENDFILE, out, in, count, off ? (uint64_t)*off : ~0ull, 0,
	       REAL(sendfile)(out, in, off, ST_CAP(count)), NOTHING, NOTHING);
}

ST_EXPORT ssize_t sendfile64(int out, int in, off_t *off, size_t count)
{
	if (!st_is_sock(out) && !st_is_sock(in))
		return REAL(sendfile64)(out, in, off, count);
	TRACED(ssize_t, ST_C_SENDFILE, out, in, count, off ? (uint64_t)*off : ~0ull, 0,
	       REAL(sendfile64)(out, in, off, ST_CAP(count)), NOTHING, NOTHING);
}

ST_EXPORT ssize_t splice(int in, loff_t *oin, int out, loff_t *oout, size_t len, unsigned flags)
{
	int sin = st_is_sock(in), sout = st_is_sock(out);
	if (!sin && !sout)
		return REAL(splice)(in, oin, out, oout, len, flags);
	TRACED(ssize_t, ST_C_SPLICE, sout ? out : in, sout ? in : out, len,
	       (uint64_t)flags | (sout ? 1ull << 32 : 0), 0, REAL(splice)(in, oin, out, oout, ST_CAP(len), flags),
	       NOTHING, NOTHING);
}
