/* Creation metadata of live sockets: a private table by fd (fork children inherit it with their
 * memory) mirrored into the trace's shared table under (process id, fd) for the viewer; and
 * what the kernel holds for a socket, as sockstate records. */
#include "st_preload.h"

#include <errno.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static struct st_sock *priv;        /* ST_FDTAB entries, mapped at start; NULL if that failed */
static int max_fd = -1;             /* highest fd ever noted */

void st_sock_init(void)
{
	void *p = mmap(NULL, (size_t)ST_FDTAB * sizeof(struct st_sock), PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	priv = p == MAP_FAILED ? NULL : p;
}

static struct st_sock *mine(int fd)
{
	return priv && fd >= 0 && fd < ST_FDTAB ? &priv[fd] : NULL;
}

static uint64_t mix(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	return k ^ (k >> 33);
}

/* The shared entry for `key`: found, or taken (empty, or left by a process that ended). */
static struct st_sock *shared(uint64_t key, int create)
{
	if (!st_g.hdr || !(key >> 32))
		return NULL;
	uint32_t mask = st_g.hdr->nsock - 1;
	uint64_t h = mix(key);
	for (uint32_t i = 0; i < 32; i++) {
		struct st_sock *s = &st_g.socks[(h + i) & mask];
		uint64_t k = __atomic_load_n(&s->key, __ATOMIC_ACQUIRE);
		if (k == key)
			return s;
		if (!create)
			continue;
		/* free: never used, left by a process that ended, or a closed socket's entry */
		int reusable = k == 0 || st_proc_ended((uint32_t)(k >> 32)) ||
		               (__atomic_load_n(&s->origin, __ATOMIC_RELAXED) == ST_OR_NONE &&
		                !(__atomic_load_n(&s->seq, __ATOMIC_ACQUIRE) & 1));
		if (reusable &&
		    __atomic_compare_exchange_n(&s->key, &k, key, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			return s;
		if (k == key)
			return s;
	}
	if (create)
		__atomic_fetch_add(&st_g.hdr->socks_dropped, 1, __ATOMIC_RELAXED);
	return NULL;
}

/* Copy our private entry for fd into the shared table (seqlock: a writer that finds it
 * locked by another gives up; the viewer reads only even sequences). */
static void publish(int fd)
{
	struct st_sock *m = mine(fd);
	if (!m || !st_g.proc_id)
		return;
	uint64_t key = (uint64_t)st_g.proc_id << 32 | (uint32_t)fd;
	struct st_sock *s = shared(key, m->origin != ST_OR_NONE);
	if (!s)
		return;
	uint32_t v = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);
	if ((v & 1) || !__atomic_compare_exchange_n(&s->seq, &v, v + 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return;
	memcpy((char *)s + 12, (char *)m + 12, sizeof(*s) - 12);   /* all after key and seq */
	__atomic_store_n(&s->seq, v + 2, __ATOMIC_RELEASE);
}

void st_sock_note(int fd, int origin, int domain, int type, int protocol, uint64_t birth)
{
	struct st_sock *m = mine(fd);
	if (!m)
		return;
	memset(m, 0, sizeof(*m));
	m->key = (uint32_t)fd;
	m->origin = (uint8_t)origin;
	m->domain = (uint16_t)domain;
	m->type = (uint16_t)(type & 0xff);
	m->protocol = (uint16_t)protocol;
	m->birth = birth;
	if (fd > max_fd)
		max_fd = fd;
	publish(fd);
}

int st_sock_kind_known(int fd, int *dom, int *type, int *proto)
{
	struct st_sock *m = mine(fd);
	if (!m || m->origin == ST_OR_NONE || !m->domain)
		return 0;
	*dom = m->domain;
	*type = m->type;
	*proto = m->protocol;
	return 1;
}

static void fill_addr(struct st_saddr *d, const struct sockaddr_storage *ss, socklen_t len)
{
	if (len > sizeof(d->raw))
		len = sizeof(d->raw);
	memcpy(d->raw, ss, len);
	d->len = (uint16_t)len;
}

/* The addresses the socket table already knows for fd, into the record (no syscall). */
void st_sock_put_known(int fd, struct st_call *c)
{
	struct st_sock *m = mine(fd);
	if (!m)
		return;
	if (m->local.len && m->local.len <= sizeof(m->local.raw))
		st_put_addr(c, ST_T_LOCAL, (const struct sockaddr *)m->local.raw, m->local.len);
	if (m->peer.len && m->peer.len <= sizeof(m->peer.raw))
		st_put_addr(c, ST_T_PEER, (const struct sockaddr *)m->peer.raw, m->peer.len);
}

/* Look up the real local/peer address of fd (ephemeral ports), add them to the record
 * being built and to the socket tables. */
void st_sock_addrs(int fd, struct st_call *c, int want_local, int want_peer)
{
	if (st_g.seccomp)
		return;                 /* no syscall the program did not make */
	int saved = errno;
	struct sockaddr_storage ss;
	socklen_t len;
	struct st_sock *m = mine(fd);
	for (int peer = 0; peer < 2; peer++) {
		if (!(peer ? want_peer : want_local))
			continue;
		len = sizeof(ss);
		if (syscall(peer ? SYS_getpeername : SYS_getsockname, fd, &ss, &len) != 0 || len == 0)
			continue;
		if (c)
			st_put_addr(c, peer ? ST_T_PEER : ST_T_LOCAL, (struct sockaddr *)&ss, len);
		if (m)
			fill_addr(peer ? &m->peer : &m->local, &ss, len);
	}
	publish(fd);
	errno = saved;
}

/* The address a non-blocking connect went to: the peer's, for the table (no syscall: the
 * connection is not made yet, getpeername would fail), so that a socket whose connect record
 * the ring overwrites is still paired with its other end. */
void st_sock_set_peer(int fd, const struct sockaddr *sa, socklen_t len)
{
	struct st_sock *m = mine(fd);
	if (!m || !sa || len <= 0 || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
		return;
	struct sockaddr_storage ss;
	if ((size_t)len > sizeof(ss))
		len = sizeof(ss);
	memcpy(&ss, sa, (size_t)len);
	fill_addr(&m->peer, &ss, len);
	publish(fd);
}

int st_sock_local_unknown(int fd)
{
	const struct st_sock *m = mine(fd);
	return m && m->origin != ST_OR_NONE && m->local.len == 0;
}

void st_sock_clear(int fd)
{
	struct st_sock *m = mine(fd);
	if (m && m->origin != ST_OR_NONE) {
		m->origin = ST_OR_NONE;
		publish(fd);
	}
}

void st_sock_copy(int from, int to)
{
	struct st_sock *a = mine(from), *b = mine(to);
	if (!a || !b || a == b)
		return;
	*b = *a;
	b->key = (uint32_t)to;
	if (to > max_fd)
		max_fd = to;
	publish(to);
}

/* A process that just got its entry (a fork child) shows the sockets it holds under its
 * own id: its parent may close its copies at once (fork servers do). */
void st_sock_publish_all(void)
{
	for (int fd = 0; priv && fd <= max_fd && fd < ST_FDTAB; fd++)
		if (priv[fd].origin != ST_OR_NONE && st_fd_kind(fd) == FK_SOCK)
			publish(fd);
}

/* Domain, type and protocol of a socket we did not create, asked of the kernel. */
void st_sock_kind(int fd, int *dom, int *type, int *proto)
{
	int saved = errno;
	socklen_t l = sizeof(int);
	*dom = *type = *proto = 0;
	syscall(SYS_getsockopt, fd, SOL_SOCKET, SO_DOMAIN, dom, &l);
	l = sizeof(int);
	syscall(SYS_getsockopt, fd, SOL_SOCKET, SO_TYPE, type, &l);
	l = sizeof(int);
	syscall(SYS_getsockopt, fd, SOL_SOCKET, SO_PROTOCOL, proto, &l);
	errno = saved;
}

struct sockstate {
	int inq, outq;
	socklen_t tl;
	/* the kernel's struct tcp_info up to tcpi_bytes_retrans (Linux 4.19), by offset: glibc's
	 * <netinet/tcp.h> stops before the byte counts */
	union { uint8_t state; uint8_t b[256]; } ti;
};

static void put_sockstate(struct st_call *c, int fd, const void *arg)
{
	const struct sockstate *ss = arg;
	st_sock_put_known(fd, c);
	if (ss->tl >= ST_TCPI_BYTES_RETRANS + 8) {
		struct st_tcpbytes tb;
		memcpy(&tb.acked, ss->ti.b + ST_TCPI_BYTES_ACKED, 8);
		memcpy(&tb.received, ss->ti.b + ST_TCPI_BYTES_RECEIVED, 8);
		memcpy(&tb.sent, ss->ti.b + ST_TCPI_BYTES_SENT, 8);
		memcpy(&tb.retrans, ss->ti.b + ST_TCPI_BYTES_RETRANS, 8);
		st_put(c, ST_T_TCPBYTES, &tb, sizeof(tb));
	}
}

/* What the kernel holds for a socket (its queues, TCP state and byte counts), as a sockstate
 * record: just before a close, and after a call failed with EPIPE or ECONNRESET. Three
 * syscalls of our own, never on the data path; none under seccomp. The addresses the socket
 * table knows go with it, so a socket whose birth the ring overwrote is still exported. */
void st_sockstate(int fd)
{
	st_sockstate_if(fd, 0);
}

/* The same, only when data is waiting unread (at exit: a socket the exit will close with an
 * RST instead of a FIN). */
void st_sockstate_if(int fd, int only_unread)
{
	if (st_g.seccomp || !st_on() || fd < 0)
		return;
	int saved = errno;
	struct sockstate ss;
	memset(&ss, 0, sizeof(ss));
	ss.tl = sizeof(ss.ti);
	if (syscall(SYS_ioctl, fd, SIOCINQ, &ss.inq) != 0 || (only_unread && ss.inq <= 0)) {
		errno = saved;
		return;
	}
	syscall(SYS_ioctl, fd, SIOCOUTQ, &ss.outq);
	if (syscall(SYS_getsockopt, fd, IPPROTO_TCP, TCP_INFO, &ss.ti, &ss.tl) != 0)
		ss.tl = 0;
	errno = saved;
	st_event_x(ST_C_SOCKSTATE, fd, (uint32_t)ss.inq, (uint32_t)ss.outq, ss.tl ? ss.ti.state : 0, 0,
	           2 * (4 + 110) + 4 + sizeof(struct st_tcpbytes), put_sockstate, &ss);
}

/* After a traced call failed: the kernel's view of a connection that broke. */
void st_after_error(int call, int fd, int err)
{
	if ((err == EPIPE || err == ECONNRESET) && st_tls.nesting == 0 && call != ST_C_SOCKSTATE &&
	    st_fd_kind(fd) == FK_SOCK)
		st_sockstate(fd);
}
