/* Names for calls, errnos, families, flags and socket options; per-call argument decoding. */
#include "decode.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>

struct flag { uint64_t bit; const char *name; };

/* The catalogue (include/socktrace_calls.h) as a table. */
static const struct st_calldesc calls[ST_C_COUNT] = {
	[ST_C_NONE] = { "?", ST_CL_PROCESS, { { 0, 0 }, { 0, 0 }, { 0, 0 } }, 0, 0, 0 },
	ST_CALLS(ST_X_DESC)
};

const struct st_calldesc *st_call_desc(int call)
{
	return &calls[call > 0 && call < ST_C_COUNT ? call : 0];
}

const char *st_call_name(int call)
{
	return st_call_desc(call)->name;
}

int st_call_class(int call)
{
	return st_call_desc(call)->cls;
}

int st_call_sends(int c)
{
	return st_call_class(c) == ST_CL_SEND;
}

int st_call_receives(int c)
{
	return st_call_class(c) == ST_CL_RECV;
}

/* Whether a completed record moved bytes over its socket, which way, and how many: the one
 * answer lifecycles, diagnosis and exports share. 1 out, -1 in, 0 neither. */
int st_rec_bytes(const struct st_record *r, int64_t *bytes)
{
	*bytes = 0;
	if (!r->complete || r->ret < 0)
		return 0;
	switch (st_call_class(r->call)) {
	case ST_CL_SEND: *bytes = r->ret; return 1;
	case ST_CL_RECV:
		if ((r->call == ST_C_RECV || r->call == ST_C_RECVFROM || r->call == ST_C_RECVMSG) &&
		    (r->a[1] & MSG_PEEK) && r->ret > 0)
			return 0;       /* a peek reads nothing: the bytes are read again (0 is EOF still) */
		*bytes = r->ret;
		return -1;
	case ST_CL_SPLICE: *bytes = r->ret; return (r->a[2] >> 32) & 1 ? 1 : -1;
	case ST_CL_SENDMANY: case ST_CL_RECVMANY: {
		struct st_tlv_view t;
		if (st_tlv_find(r, ST_T_U64, &t) && t.len == 8)
			memcpy(bytes, t.p, 8);
		return st_call_class(r->call) == ST_CL_SENDMANY ? 1 : -1;
	}
	}
	return 0;
}

const char *st_errno_name(int err)
{
	if (err == 0)
		return NULL;
	const char *n = strerrorname_np(err);
	return n ? n : "E?";
}

const char *st_family_name(int f)
{
	switch (f) {
	case AF_UNSPEC: return "AF_UNSPEC";
	case AF_UNIX: return "AF_UNIX";
	case AF_INET: return "AF_INET";
	case AF_INET6: return "AF_INET6";
	case AF_NETLINK: return "AF_NETLINK";
	case AF_PACKET: return "AF_PACKET";
	}
	return NULL;
}

const char *st_tcp_state_name(int st)
{
	static const char *const n[] = { NULL, "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1",
	                                  "FIN_WAIT2", "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK",
	                                  "LISTEN", "CLOSING" };
	return st >= 0 && st < (int)(sizeof(n) / sizeof(n[0])) ? n[st] : NULL;
}

const char *st_origin_name(int o)
{
	static const char *const n[ST_OR_COUNT] = { "none", "socket", "accept", "socketpair",
	                                            "inherited", "unseen", "dup", "wrapped" };
	return o >= 0 && o < ST_OR_COUNT ? n[o] : "unknown";
}

const char *st_socktype_name(int t)
{
	switch (t & 0xff) {
	case SOCK_STREAM: return "SOCK_STREAM";
	case SOCK_DGRAM: return "SOCK_DGRAM";
	case SOCK_RAW: return "SOCK_RAW";
	case SOCK_SEQPACKET: return "SOCK_SEQPACKET";
	}
	return NULL;
}

void st_fmt_addr(const uint8_t *raw, unsigned len, char *out, size_t outlen)
{
	sa_family_t fam;
	char ip[INET6_ADDRSTRLEN];
	if (len < sizeof(fam)) {
		snprintf(out, outlen, "?");
		return;
	}
	memcpy(&fam, raw, sizeof(fam));
	if (fam == AF_INET && len >= sizeof(struct sockaddr_in)) {
		struct sockaddr_in a;
		memcpy(&a, raw, sizeof(a));
		inet_ntop(AF_INET, &a.sin_addr, ip, sizeof(ip));
		snprintf(out, outlen, "%s:%u", ip, ntohs(a.sin_port));
	} else if (fam == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		struct sockaddr_in6 a;
		memcpy(&a, raw, sizeof(a));
		inet_ntop(AF_INET6, &a.sin6_addr, ip, sizeof(ip));
		snprintf(out, outlen, "[%s]:%u", ip, ntohs(a.sin6_port));
	} else if (fam == AF_UNIX) {
		unsigned off = offsetof(struct sockaddr_un, sun_path);
		if (len <= off) {
			snprintf(out, outlen, "(unnamed)");
		} else if (raw[off] == 0) {
			char name[110] = "";
			unsigned n = len - off - 1;
			for (unsigned i = 0; i < n && i < sizeof(name) - 1; i++)
				name[i] = raw[off + 1 + i] >= 32 && raw[off + 1 + i] < 127 ? (char)raw[off + 1 + i] : '?';
			snprintf(out, outlen, "@%s", name);
		} else {
			char path[110] = "";
			unsigned n = len - off;
			for (unsigned i = 0; i < n && i < sizeof(path) - 1 && raw[off + i]; i++)
				path[i] = (char)raw[off + i];
			st_sanitize(path);
			snprintf(out, outlen, "%s", path);
		}
	} else if (fam == AF_NETLINK && len >= sizeof(struct sockaddr_nl)) {
		struct sockaddr_nl a;       /* the port id (0: the kernel) and multicast groups */
		memcpy(&a, raw, sizeof(a));
		if (a.nl_groups)
			snprintf(out, outlen, "netlink:%u groups=%#x", a.nl_pid, a.nl_groups);
		else
			snprintf(out, outlen, "netlink:%u", a.nl_pid);
	} else {
		const char *fn = st_family_name(fam);
		if (fn)
			snprintf(out, outlen, "%s", fn);
		else
			snprintf(out, outlen, "family %u", fam);
	}
}

void st_fmt_flags(uint64_t v, const void *table, char *out, size_t outlen)
{
	const struct flag *t = table;
	size_t o = 0;
	out[0] = 0;
	for (; t->name; t++) {
		if ((v & t->bit) == t->bit && t->bit) {
			o += (size_t)snprintf(out + o, o < outlen ? outlen - o : 0, "%s%s", o ? "|" : "", t->name);
			v &= ~t->bit;
		}
	}
	if (v || !o)
		snprintf(out + (o < outlen ? o : outlen - 1), o < outlen ? outlen - o : 1, "%s%#llx",
		         o ? "|" : "", (unsigned long long)v);
}

static const struct flag msg_flags[] = {
	{ MSG_OOB, "MSG_OOB" }, { MSG_PEEK, "MSG_PEEK" }, { MSG_DONTROUTE, "MSG_DONTROUTE" },
	{ MSG_CTRUNC, "MSG_CTRUNC" }, { MSG_TRUNC, "MSG_TRUNC" }, { MSG_DONTWAIT, "MSG_DONTWAIT" },
	{ MSG_EOR, "MSG_EOR" }, { MSG_WAITALL, "MSG_WAITALL" }, { MSG_NOSIGNAL, "MSG_NOSIGNAL" },
	{ MSG_MORE, "MSG_MORE" }, { MSG_CMSG_CLOEXEC, "MSG_CMSG_CLOEXEC" }, { MSG_ZEROCOPY, "MSG_ZEROCOPY" },
	{ 0, NULL } };
static const struct flag sock_flags[] = {
	{ SOCK_NONBLOCK, "SOCK_NONBLOCK" }, { SOCK_CLOEXEC, "SOCK_CLOEXEC" }, { 0, NULL } };
static const struct flag o_flags[] = {
	{ O_NONBLOCK, "O_NONBLOCK" }, { O_APPEND, "O_APPEND" }, { O_ASYNC, "O_ASYNC" },
	{ O_RDWR, "O_RDWR" }, { O_WRONLY, "O_WRONLY" }, { 0, NULL } };
static const struct flag poll_flags[] = {
	{ POLLIN, "POLLIN" }, { POLLPRI, "POLLPRI" }, { POLLOUT, "POLLOUT" }, { POLLERR, "POLLERR" },
	{ POLLHUP, "POLLHUP" }, { POLLNVAL, "POLLNVAL" }, { POLLRDHUP, "POLLRDHUP" },
	{ POLLRDNORM, "POLLRDNORM" }, { POLLRDBAND, "POLLRDBAND" }, { POLLWRNORM, "POLLWRNORM" },
	{ POLLWRBAND, "POLLWRBAND" }, { POLLMSG, "POLLMSG" }, { 0, NULL } };
static const struct flag epoll_flags[] = {
	{ EPOLLIN, "EPOLLIN" }, { EPOLLPRI, "EPOLLPRI" }, { EPOLLOUT, "EPOLLOUT" },
	{ EPOLLERR, "EPOLLERR" }, { EPOLLHUP, "EPOLLHUP" }, { EPOLLRDHUP, "EPOLLRDHUP" },
	{ EPOLLET, "EPOLLET" }, { EPOLLONESHOT, "EPOLLONESHOT" }, { EPOLLEXCLUSIVE, "EPOLLEXCLUSIVE" },
	{ EPOLLRDNORM, "EPOLLRDNORM" }, { EPOLLRDBAND, "EPOLLRDBAND" }, { EPOLLWRNORM, "EPOLLWRNORM" },
	{ EPOLLWRBAND, "EPOLLWRBAND" }, { EPOLLMSG, "EPOLLMSG" }, { EPOLLWAKEUP, "EPOLLWAKEUP" }, { 0, NULL } };

static void kv_flags(struct emit *e, const char *key, uint64_t v, const struct flag *t)
{
	char buf[256];
	st_fmt_flags(v, t, buf, sizeof(buf));
	e->ops->kv_str(e, key, buf);
}

static void kv_name(struct emit *e, const char *key, const char *name, int64_t v)
{
	if (name)
		e->ops->kv_str(e, key, name);
	else
		e->ops->kv_int(e, key, v);
}

static const char *level_name(int l)
{
	switch (l) {
	case SOL_SOCKET: return "SOL_SOCKET";
	case IPPROTO_TCP: return "IPPROTO_TCP";
	case IPPROTO_IP: return "IPPROTO_IP";
	case IPPROTO_IPV6: return "IPPROTO_IPV6";
	case IPPROTO_UDP: return "IPPROTO_UDP";
	}
	return NULL;
}

/* Option names as strace prints them, for the options servers and clients commonly set. */
#define OPT(x) { x, #x }
struct optent { int n; const char *name; };
static const struct optent opt_sol[] = {
	OPT(SO_REUSEADDR), OPT(SO_REUSEPORT), OPT(SO_KEEPALIVE), OPT(SO_LINGER), OPT(SO_SNDBUF),
	OPT(SO_RCVBUF), OPT(SO_SNDBUFFORCE), OPT(SO_RCVBUFFORCE), OPT(SO_ERROR), OPT(SO_TYPE),
	{ SO_RCVTIMEO_OLD, "SO_RCVTIMEO" }, { SO_SNDTIMEO_OLD, "SO_SNDTIMEO" }, OPT(SO_BROADCAST),
	OPT(SO_DOMAIN), OPT(SO_PROTOCOL), OPT(SO_ACCEPTCONN), OPT(SO_PRIORITY), OPT(SO_RCVLOWAT),
	OPT(SO_SNDLOWAT), OPT(SO_PASSCRED), OPT(SO_PEERCRED), OPT(SO_BINDTODEVICE), OPT(SO_MARK),
	OPT(SO_OOBINLINE), OPT(SO_DONTROUTE), OPT(SO_ZEROCOPY), OPT(SO_INCOMING_CPU), OPT(SO_BUSY_POLL),
	{ SO_TIMESTAMP_OLD, "SO_TIMESTAMP" }, { SO_TIMESTAMPNS_OLD, "SO_TIMESTAMPNS" }, OPT(SO_PEEK_OFF),
	OPT(SO_ATTACH_FILTER), OPT(SO_DETACH_FILTER), OPT(SO_PASSSEC), OPT(SO_PEERSEC), { 0, NULL } };
static const struct optent opt_tcp[] = {
	OPT(TCP_NODELAY), OPT(TCP_MAXSEG), OPT(TCP_CORK), OPT(TCP_KEEPIDLE), OPT(TCP_KEEPINTVL),
	OPT(TCP_KEEPCNT), OPT(TCP_SYNCNT), OPT(TCP_LINGER2), OPT(TCP_DEFER_ACCEPT), OPT(TCP_WINDOW_CLAMP),
	OPT(TCP_INFO), OPT(TCP_QUICKACK), OPT(TCP_CONGESTION), OPT(TCP_USER_TIMEOUT), OPT(TCP_FASTOPEN),
	OPT(TCP_FASTOPEN_CONNECT), OPT(TCP_NOTSENT_LOWAT), OPT(TCP_ULP), { 0, NULL } };
static const struct optent opt_ip[] = {
	OPT(IP_TOS), OPT(IP_TTL), OPT(IP_HDRINCL), OPT(IP_OPTIONS), OPT(IP_PKTINFO), OPT(IP_RECVERR),
	OPT(IP_RECVTTL), OPT(IP_RECVTOS), OPT(IP_MTU_DISCOVER), OPT(IP_MTU), OPT(IP_FREEBIND),
	OPT(IP_TRANSPARENT), OPT(IP_BIND_ADDRESS_NO_PORT), OPT(IP_MULTICAST_IF), OPT(IP_MULTICAST_TTL),
	OPT(IP_MULTICAST_LOOP), OPT(IP_ADD_MEMBERSHIP), OPT(IP_DROP_MEMBERSHIP), { 0, NULL } };
static const struct optent opt_ip6[] = {
	OPT(IPV6_V6ONLY), OPT(IPV6_TCLASS), OPT(IPV6_UNICAST_HOPS), OPT(IPV6_RECVERR), OPT(IPV6_RECVPKTINFO),
	OPT(IPV6_MTU_DISCOVER), OPT(IPV6_MTU), OPT(IPV6_MULTICAST_IF), OPT(IPV6_MULTICAST_HOPS),
	OPT(IPV6_MULTICAST_LOOP), OPT(IPV6_JOIN_GROUP), OPT(IPV6_LEAVE_GROUP), OPT(IPV6_FREEBIND),
	OPT(IPV6_TRANSPARENT), { 0, NULL } };
#undef OPT

static const char *optname(int level, int n)
{
	const struct optent *t = level == SOL_SOCKET ? opt_sol : level == IPPROTO_TCP ? opt_tcp
	                         : level == IPPROTO_IP ? opt_ip : level == IPPROTO_IPV6 ? opt_ip6 : NULL;
	for (; t && t->name; t++)
		if (t->n == n)
			return t->name;
	return NULL;
}

static const char *fcntl_name(int c)
{
	switch (c) {
	case F_DUPFD: return "F_DUPFD";
	case F_DUPFD_CLOEXEC: return "F_DUPFD_CLOEXEC";
	case F_SETFL: return "F_SETFL";
	case F_GETFL: return "F_GETFL";
	}
	return NULL;
}

static void kv_addr_tlv(struct emit *e, const struct st_record *r, int type, const char *key)
{
	struct st_tlv_view t;
	char buf[160];
	if (st_tlv_find(r, type, &t)) {
		st_fmt_addr(t.p, t.len, buf, sizeof(buf));
		e->ops->kv_str(e, key, buf);
	}
}

static int tlv_u64(const struct st_record *r, uint64_t *v)
{
	struct st_tlv_view t;
	if (!st_tlv_find(r, ST_T_U64, &t) || t.len != 8)
		return 0;
	memcpy(v, t.p, 8);
	return 1;
}

static void kv_str_tlv(struct emit *e, const struct st_record *r, int type, const char *key)
{
	struct st_tlv_view t;
	char buf[256];
	if (st_tlv_find(r, type, &t)) {
		unsigned n = t.len < sizeof(buf) - 1 ? t.len : (unsigned)sizeof(buf) - 1;
		memcpy(buf, t.p, n);
		buf[n] = 0;
		st_sanitize(buf);
		e->ops->kv_str(e, key, buf);
	}
}

static void kv_fds(struct emit *e, const struct st_record *r, const char *key)
{
	struct st_tlv_view t;
	if (!st_tlv_find(r, ST_T_FDS, &t))
		return;
	e->ops->begin_list(e, key);
	for (unsigned i = 0; i + 4 <= t.len; i += 4) {
		int32_t fd;
		memcpy(&fd, t.p + i, 4);
		e->ops->kv_int(e, NULL, fd);
	}
	e->ops->end_list(e);
}

/* A list of fixed-size entries (TLV `type`) under `key`, each an object written by `one`. */
static void kv_entries(struct emit *e, const struct st_record *r, int type, const char *key, size_t size,
                       void (*one)(struct emit *e, const struct st_record *r, const uint8_t *p))
{
	struct st_tlv_view t;
	if (!st_tlv_find(r, type, &t))
		return;
	e->ops->begin_list(e, key);
	for (unsigned i = 0; i + size <= t.len; i += (unsigned)size) {
		e->ops->begin_obj(e, NULL);
		one(e, r, t.p + i);
		e->ops->end_obj(e);
	}
	e->ops->end_list(e);
}

static void poll_one(struct emit *e, const struct st_record *r, const uint8_t *b)
{
	struct st_pollent p;
	memcpy(&p, b, sizeof(p));
	e->ops->kv_int(e, "fd", p.fd);
	kv_flags(e, "events", (uint16_t)p.events, poll_flags);
	if (r->complete)
		kv_flags(e, "revents", (uint16_t)p.revents, poll_flags);
}

static void epoll_one(struct emit *e, const struct st_record *r, const uint8_t *b)
{
	(void)r;
	struct st_epollent p;
	memcpy(&p, b, sizeof(p));
	kv_flags(e, "events", p.events, epoll_flags);
	e->ops->kv_int(e, "data", (int64_t)p.data);
}

static void kv_poll(struct emit *e, const struct st_record *r)
{
	kv_entries(e, r, ST_T_POLL, "fds", sizeof(struct st_pollent), poll_one);
}

static void kv_epoll(struct emit *e, const struct st_record *r)
{
	kv_entries(e, r, ST_T_EPOLL, "events", sizeof(struct st_epollent), epoll_one);
}

static void kv_handler(struct emit *e, uint64_t h)
{
	char buf[32];
	if (h == 0)
		e->ops->kv_str(e, "handler", "SIG_DFL");
	else if (h == 1)
		e->ops->kv_str(e, "handler", "SIG_IGN");
	else {
		snprintf(buf, sizeof(buf), "%#llx", (unsigned long long)h);
		e->ops->kv_str(e, "handler", buf);
	}
}

static void kv_payload(struct emit *e, const struct st_record *r)
{
	struct st_tlv_view t;
	if (st_tlv_find(r, ST_T_DATA, &t))
		e->ops->kv_bytes(e, "data", t.p, t.len);
}

static void kv_socktype(struct emit *e, const char *key, int64_t a1)
{
	char t[128];
	const char *tn = st_socktype_name((int)a1);
	if (tn && (a1 & ~0xffll)) {
		char fl[96];
		st_fmt_flags((uint64_t)a1 & ~0xffull, sock_flags, fl, sizeof(fl));
		snprintf(t, sizeof(t), "%s|%s", tn, fl);
		e->ops->kv_str(e, key, t);
	} else {
		kv_name(e, key, tn, a1);
	}
}

static const char *shut_name(int64_t how)
{
	return how == SHUT_RD ? "SHUT_RD" : how == SHUT_WR ? "SHUT_WR" : how == SHUT_RDWR ? "SHUT_RDWR" : NULL;
}

static const char *epoll_op_name(int64_t op)
{
	return op == EPOLL_CTL_ADD ? "EPOLL_CTL_ADD" : op == EPOLL_CTL_MOD ? "EPOLL_CTL_MOD"
	       : op == EPOLL_CTL_DEL ? "EPOLL_CTL_DEL" : NULL;
}

/* One scalar argument, as its catalogue kind says. a[] gives the others (an option's name
 * depends on its level, fcntl's argument on its command). */
static void emit_arg(struct emit *e, const struct st_record *r, int kind, const char *key, int n)
{
	const struct emit_ops *o = e->ops;
	int64_t v = (int64_t)r->a[n], a0 = (int64_t)r->a[0], a1 = (int64_t)r->a[1];
	switch (kind) {
	case ST_AK_NONE: break;
	case ST_AK_INT: o->kv_int(e, key, v); break;
	case ST_AK_INT32: o->kv_int(e, key, (int32_t)v); break;
	case ST_AK_UINT32: o->kv_int(e, key, (int64_t)(uint32_t)v); break;
	case ST_AK_NONZERO: if (v) o->kv_int(e, key, v); break;
	case ST_AK_FAMILY: kv_name(e, key, st_family_name((int)v), v); break;
	case ST_AK_SOCKTYPE: kv_socktype(e, key, v); break;
	case ST_AK_SOCKFLAGS: kv_flags(e, key, (uint64_t)v, sock_flags); break;
	case ST_AK_MSGFLAGS: kv_flags(e, key, (uint64_t)v, msg_flags); break;
	case ST_AK_SHUTHOW: kv_name(e, key, shut_name(v), v); break;
	case ST_AK_FCNTLCMD: kv_name(e, key, fcntl_name((int)v), v); break;
	case ST_AK_FCNTLARG:
		if (a0 == F_SETFL)
			kv_flags(e, key, (uint64_t)v, o_flags);
		else
			o->kv_int(e, key, v);
		break;
	case ST_AK_IOCTLREQ: kv_name(e, key, (unsigned long)v == FIONBIO ? "FIONBIO" : NULL, v); break;
	case ST_AK_LEVEL: kv_name(e, key, level_name((int)v), v); break;
	case ST_AK_OPTNAME: kv_name(e, key, optname((int)a0, (int)v), v); break;
	case ST_AK_OPTVAL:
		if (a0 == SOL_SOCKET && a1 == SO_LINGER) {
			o->begin_obj(e, key);
			o->kv_int(e, "l_onoff", (int64_t)(r->a[n] >> 32));
			o->kv_int(e, "l_linger", (int32_t)(uint32_t)r->a[n]);
			o->end_obj(e);
		} else {
			o->kv_int(e, key, v);
		}
		break;
	case ST_AK_EPOLLOP: kv_name(e, key, epoll_op_name(v), v); break;
	case ST_AK_EPOLLEV:     /* (EPOLL_CTL_DEL: the kernel ignores the event; EFAULT: unread) */
		if (a1 != EPOLL_CTL_DEL && !(r->complete && r->ret < 0 && r->err == EFAULT))
			kv_flags(e, key, (uint64_t)v, epoll_flags);
		break;
	case ST_AK_SPLICEDIR: o->kv_str(e, key, (r->a[n] >> 32) & 1 ? "to_socket" : "from_socket"); break;
	case ST_AK_SIGNUM: kv_name(e, key, v == SIGPIPE ? "SIGPIPE" : NULL, v); break;
	case ST_AK_HANDLER: kv_handler(e, r->a[n]); break;
	case ST_AK_SIGFLAGS: if (r->a[n] >> 63) o->kv_bool(e, "at_start", 1); break;
	case ST_AK_TCPSTATE: if (v) kv_name(e, key, st_tcp_state_name((int)v), v); break;
	}
}

uint64_t st_found_inode(const struct st_record *r)
{
	struct st_tlv_view t;
	uint64_t v = 0;
	if (st_tlv_find(r, ST_T_INODE, &t) && t.len == 8)
		memcpy(&v, t.p, 8);
	return v;
}

int st_so_error(const struct st_record *r)
{
	uint64_t v;
	if (r->call != ST_C_GETSOCKOPT || !r->complete || r->ret != 0 || r->a[0] != SOL_SOCKET ||
	    r->a[1] != SO_ERROR || !tlv_u64(r, &v))
		return -1;
	return (int)v;
}

/* The call's U64 value under the catalogue's name (getsockopt(SO_ERROR) as an errno). */
static void emit_u64(struct emit *e, const struct st_record *r, const char *key)
{
	uint64_t v;
	if (!key || !tlv_u64(r, &v) || (r->call == ST_C_EPOLL_CTL && r->a[1] == EPOLL_CTL_DEL))
		return;
	if (st_so_error(r) > 0)
		e->ops->kv_str(e, key, st_errno_name((int)v));
	else
		e->ops->kv_int(e, key, (int64_t)v);
}

/* Arguments of a record: its scalars as the catalogue describes them, then its TLVs. */
void st_emit_args(struct emit *e, const struct st_record *r)
{
	const struct st_calldesc *d = st_call_desc(r->call);
	int cls = d->cls, rx = cls == ST_CL_RECV || cls == ST_CL_SEND || cls == ST_CL_RECVMANY;
	if (r->flags & ST_RF_NOARGS)
		e->ops->kv_str(e, "args", "lost: the call's entry was overwritten before it returned");
	else
		for (int i = 0; i < 3; i++)
			emit_arg(e, r, d->arg[i].kind, d->arg[i].key, i);
	if (d->fdskey)
		kv_fds(e, r, d->fdskey);
	kv_addr_tlv(e, r, ST_T_ADDR, cls == ST_CL_RESOLVE ? "first" : "addr");
	kv_addr_tlv(e, r, ST_T_LOCAL, cls == ST_CL_ADDRESS ? "addr" : "local");
	kv_addr_tlv(e, r, ST_T_PEER, cls == ST_CL_ADDRESS ? "addr" : rx ? "from" : "peer");
	if (d->strkey)
		kv_str_tlv(e, r, ST_T_STR, d->strkey);
	if (cls == ST_CL_RESOLVE)
		kv_str_tlv(e, r, ST_T_STR2, "service");
	kv_poll(e, r);
	kv_epoll(e, r);
	emit_u64(e, r, d->u64key);
	uint64_t ino = cls == ST_CL_FOUND ? st_found_inode(r) : 0;
	if (ino)
		e->ops->kv_int(e, "inode", (int64_t)ino);
	kv_payload(e, r);
	struct st_tcpbytes tb;
	if (st_tcpbytes(r, &tb)) {
		e->ops->kv_int(e, "bytes_sent", (int64_t)tb.sent);
		if (tb.retrans)
			e->ops->kv_int(e, "bytes_retrans", (int64_t)tb.retrans);
		e->ops->kv_int(e, "bytes_acked", (int64_t)tb.acked);
		e->ops->kv_int(e, "bytes_received", (int64_t)tb.received);
	}
	if (r->flags & ST_RF_FORTIFY)
		e->ops->kv_bool(e, "fortify", 1);
	struct st_tlv_view t;
	uint64_t v;
	if ((r->flags & ST_RF_LATE) && st_tlv_find(r, ST_T_LATE_OF, &t) && t.len == 8) {
		memcpy(&v, t.p, 8);
		e->ops->kv_int(e, "late_exit_of", (int64_t)v);
	}
}

void st_print_call(FILE *out, const struct st_record *r)
{
	struct emit e;
	emit_init(&e, &emit_text, out);
	fprintf(out, "%s(", st_call_name(r->call));
	if (r->fd >= 0 || r->call == ST_C_CLOSE)
		e.ops->kv_int(&e, "fd", r->fd);
	st_emit_args(&e, r);
	if (!r->complete) {
		const struct st_pinfo *p = r->proc;
		fputs(r->call == ST_C_EXEC ? ") = ? <process image replaced>"
		      : p && p->running ? ") = ? <unfinished: still blocked>"
		      : p && p->state == ST_PS_EXITED ? ") = ? <unfinished: the process exited meanwhile>"
		      : ") = ? <unfinished: never returned>", out);
		char inj[64];
		if (st_injected(r, inj, sizeof(inj)))
			fprintf(out, " [injected: %s]", inj);
		return;
	}
	fprintf(out, ") = %lld", (long long)r->ret);
	if (r->err)
		fprintf(out, " %s (%s)", st_errno_name(r->err), strerror(r->err));
	uint64_t d = r->ts_exit - r->ts_enter;
	if (d >= 1000000)
		fprintf(out, " <%.3f ms>", (double)d / 1e6);
	else
		fprintf(out, " <%.1f us>", (double)d / 1e3);
	char inj[64];
	if (st_injected(r, inj, sizeof(inj)))
		fprintf(out, " [injected: %s]", inj);
}

int st_tcpbytes(const struct st_record *r, struct st_tcpbytes *tb)
{
	struct st_tlv_view t;
	if (!st_tlv_find(r, ST_T_TCPBYTES, &t) || t.len != sizeof(*tb))
		return 0;
	memcpy(tb, t.p, sizeof(*tb));
	return 1;
}

int st_injected(const struct st_record *r, char *buf, size_t n)
{
	struct st_tlv_view t;
	if (!st_tlv_find(r, ST_T_INJECT, &t) || !t.len)
		return 0;
	snprintf(buf, n, "%.*s", (int)t.len, (const char *)t.p);
	st_sanitize(buf);
	return 1;
}

const char *st_addr_plain(const char *a, char *buf, size_t n)
{
	/* "[::ffff:10.0.0.1]:80" -> "10.0.0.1:80": a dual-stack listener sees IPv4 peers so */
	const char *close;
	if (strncmp(a, "[::ffff:", 8) != 0 || !(close = strstr(a, "]:")))
		return a;
	size_t hl = (size_t)(close - (a + 8));
	int dots = 0;
	for (size_t i = 0; i < hl; i++)
		dots += a[8 + i] == '.';
	if (dots != 3)
		return a;
	snprintf(buf, n, "%.*s:%s", (int)hl, a + 8, close + 2);
	return buf;
}

int st_addr_eq(const char *a, const char *b)
{
	char x[160], y[160];
	return !strcmp(st_addr_plain(a, x, sizeof(x)), st_addr_plain(b, y, sizeof(y)));
}
