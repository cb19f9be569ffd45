/* Names for calls, errnos, families, flags and socket options; per-call argument decoding. */
#include "decode.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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

static const char *const call_names[] = {
	[ST_C_NONE] = "?",
#define ST_X_NAME(id, name) [ST_C_##id] = name,
	ST_CALLS(ST_X_NAME)
#undef ST_X_NAME
};

const char *st_call_name(int call)
{
	return call > 0 && call < ST_C_COUNT ? call_names[call] : "?";
}

int st_call_sends(int c)
{
	return c == ST_C_SEND || c == ST_C_SENDTO || c == ST_C_SENDMSG || c == ST_C_WRITE ||
	       c == ST_C_WRITEV || c == ST_C_SENDFILE;
}

int st_call_receives(int c)
{
	return c == ST_C_RECV || c == ST_C_RECVFROM || c == ST_C_RECVMSG || c == ST_C_READ ||
	       c == ST_C_READV;
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

static const char *type_name(int t)
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
	{ POLLHUP, "POLLHUP" }, { POLLNVAL, "POLLNVAL" }, { POLLRDHUP, "POLLRDHUP" }, { 0, NULL } };
static const struct flag epoll_flags[] = {
	{ EPOLLIN, "EPOLLIN" }, { EPOLLPRI, "EPOLLPRI" }, { EPOLLOUT, "EPOLLOUT" },
	{ EPOLLERR, "EPOLLERR" }, { EPOLLHUP, "EPOLLHUP" }, { EPOLLRDHUP, "EPOLLRDHUP" },
	{ EPOLLET, "EPOLLET" }, { EPOLLONESHOT, "EPOLLONESHOT" }, { EPOLLEXCLUSIVE, "EPOLLEXCLUSIVE" },
	{ 0, NULL } };

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

static const char *optname(int level, int n)
{
	if (level == SOL_SOCKET) {
		switch (n) {
		case SO_REUSEADDR: return "SO_REUSEADDR";
		case SO_REUSEPORT: return "SO_REUSEPORT";
		case SO_KEEPALIVE: return "SO_KEEPALIVE";
		case SO_LINGER: return "SO_LINGER";
		case SO_SNDBUF: return "SO_SNDBUF";
		case SO_RCVBUF: return "SO_RCVBUF";
		case SO_ERROR: return "SO_ERROR";
		case SO_TYPE: return "SO_TYPE";
		case SO_RCVTIMEO_OLD: return "SO_RCVTIMEO";
		case SO_SNDTIMEO_OLD: return "SO_SNDTIMEO";
		case SO_BROADCAST: return "SO_BROADCAST";
		case SO_DOMAIN: return "SO_DOMAIN";
		case SO_PROTOCOL: return "SO_PROTOCOL";
		case SO_ACCEPTCONN: return "SO_ACCEPTCONN";
		}
	} else if (level == IPPROTO_TCP) {
		switch (n) {
		case TCP_NODELAY: return "TCP_NODELAY";
		case TCP_KEEPIDLE: return "TCP_KEEPIDLE";
		case TCP_KEEPINTVL: return "TCP_KEEPINTVL";
		case TCP_KEEPCNT: return "TCP_KEEPCNT";
		case TCP_USER_TIMEOUT: return "TCP_USER_TIMEOUT";
		case TCP_FASTOPEN: return "TCP_FASTOPEN";
		case TCP_CORK: return "TCP_CORK";
		}
	} else if (level == IPPROTO_IPV6 && n == IPV6_V6ONLY) {
		return "IPV6_V6ONLY";
	}
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

static void kv_poll(struct emit *e, const struct st_record *r)
{
	struct st_tlv_view t;
	if (!st_tlv_find(r, ST_T_POLL, &t))
		return;
	e->ops->begin_list(e, "fds");
	for (unsigned i = 0; i + sizeof(struct st_pollent) <= t.len; i += sizeof(struct st_pollent)) {
		struct st_pollent p;
		memcpy(&p, t.p + i, sizeof(p));
		e->ops->begin_obj(e, NULL);
		e->ops->kv_int(e, "fd", p.fd);
		kv_flags(e, "events", (uint16_t)p.events, poll_flags);
		if (r->complete)
			kv_flags(e, "revents", (uint16_t)p.revents, poll_flags);
		e->ops->end_obj(e);
	}
	e->ops->end_list(e);
}

static void kv_epoll(struct emit *e, const struct st_record *r)
{
	struct st_tlv_view t;
	if (!st_tlv_find(r, ST_T_EPOLL, &t))
		return;
	e->ops->begin_list(e, "events");
	for (unsigned i = 0; i + sizeof(struct st_epollent) <= t.len; i += sizeof(struct st_epollent)) {
		struct st_epollent p;
		memcpy(&p, t.p + i, sizeof(p));
		e->ops->begin_obj(e, NULL);
		kv_flags(e, "events", p.events, epoll_flags);
		e->ops->kv_int(e, "data", (int64_t)p.data);
		e->ops->end_obj(e);
	}
	e->ops->end_list(e);
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

void st_emit_args(struct emit *e, const struct st_record *r)
{
	const struct emit_ops *o = e->ops;
	int64_t a0 = (int64_t)r->a[0], a1 = (int64_t)r->a[1], a2 = (int64_t)r->a[2];
	uint64_t v;
	switch (r->call) {
	case ST_C_SOCKET: case ST_C_SOCKETPAIR: case ST_C_INHERITED: case ST_C_UNSEEN: {
		char t[128];
		kv_name(e, "domain", st_family_name((int)a0), a0);
		const char *tn = type_name((int)a1);
		if (tn && (a1 & ~0xffll)) {
			char fl[96];
			st_fmt_flags((uint64_t)a1 & ~0xffull, sock_flags, fl, sizeof(fl));
			snprintf(t, sizeof(t), "%s|%s", tn, fl);
			o->kv_str(e, "type", t);
		} else {
			kv_name(e, "type", tn, a1);
		}
		o->kv_int(e, "protocol", a2);
		kv_fds(e, r, "fds");
		kv_addr_tlv(e, r, ST_T_LOCAL, "local");
		kv_addr_tlv(e, r, ST_T_PEER, "peer");
		break;
	}
	case ST_C_BIND: case ST_C_CONNECT:
		kv_addr_tlv(e, r, ST_T_ADDR, "addr");
		kv_addr_tlv(e, r, ST_T_LOCAL, "local");
		kv_addr_tlv(e, r, ST_T_PEER, "peer");
		break;
	case ST_C_LISTEN:
		o->kv_int(e, "backlog", a0);
		break;
	case ST_C_ACCEPT: case ST_C_ACCEPT4:
		if (r->call == ST_C_ACCEPT4)
			kv_flags(e, "flags", (uint64_t)a0, sock_flags);
		kv_addr_tlv(e, r, ST_T_LOCAL, "local");
		kv_addr_tlv(e, r, ST_T_PEER, "peer");
		break;
	case ST_C_SEND: case ST_C_SENDTO: case ST_C_RECV: case ST_C_RECVFROM:
	case ST_C_SENDMSG: case ST_C_RECVMSG:
		o->kv_int(e, "len", a0);
		kv_flags(e, "flags", (uint64_t)a1, msg_flags);
		if ((r->call == ST_C_SENDMSG || r->call == ST_C_RECVMSG) && a2)
			o->kv_int(e, "controllen", a2);
		kv_addr_tlv(e, r, ST_T_ADDR, "addr");
		kv_addr_tlv(e, r, ST_T_PEER, "from");
		kv_payload(e, r);
		break;
	case ST_C_SENDMMSG: case ST_C_RECVMMSG:
		o->kv_int(e, "vlen", a0);
		kv_flags(e, "flags", (uint64_t)a1, msg_flags);
		if (tlv_u64(r, &v))
			o->kv_int(e, "bytes", (int64_t)v);
		break;
	case ST_C_READ: case ST_C_WRITE:
		o->kv_int(e, "len", a0);
		kv_payload(e, r);
		break;
	case ST_C_READV: case ST_C_WRITEV:
		o->kv_int(e, "len", a0);
		o->kv_int(e, "iovcnt", a1);
		kv_payload(e, r);
		break;
	case ST_C_SENDFILE:
		o->kv_int(e, "in_fd", a0);
		o->kv_int(e, "count", a1);
		o->kv_int(e, "offset", a2);
		break;
	case ST_C_SPLICE:
		o->kv_int(e, "other_fd", a0);
		o->kv_int(e, "len", a1);
		o->kv_str(e, "direction", (r->a[2] >> 32) & 1 ? "to_socket" : "from_socket");
		break;
	case ST_C_SHUTDOWN:
		kv_name(e, "how", a0 == SHUT_RD ? "SHUT_RD" : a0 == SHUT_WR ? "SHUT_WR" : a0 == SHUT_RDWR ? "SHUT_RDWR" : NULL, a0);
		break;
	case ST_C_CLOSE_RANGE:
		o->kv_int(e, "first", a0);
		o->kv_int(e, "last", (int64_t)(uint32_t)a1);
		o->kv_int(e, "flags", a2);
		kv_fds(e, r, "sockets");
		break;
	case ST_C_CLOSEFROM:
		o->kv_int(e, "lowfd", a0);
		kv_fds(e, r, "sockets");
		break;
	case ST_C_DUP2: case ST_C_DUP3:
		o->kv_int(e, "newfd", a0);
		if (r->call == ST_C_DUP3)
			o->kv_int(e, "flags", a1);
		break;
	case ST_C_FCNTL:
		kv_name(e, "cmd", fcntl_name((int)a0), a0);
		if (a0 == F_SETFL)
			kv_flags(e, "arg", (uint64_t)a1, o_flags);
		else
			o->kv_int(e, "arg", a1);
		break;
	case ST_C_IOCTL:
		kv_name(e, "request", (unsigned long)a0 == FIONBIO ? "FIONBIO" : NULL, a0);
		o->kv_int(e, "value", a1);
		break;
	case ST_C_SETSOCKOPT: case ST_C_GETSOCKOPT:
		kv_name(e, "level", level_name((int)a0), a0);
		kv_name(e, "optname", optname((int)a0, (int)a1), a1);
		if (r->call == ST_C_SETSOCKOPT && a0 == SOL_SOCKET && a1 == SO_LINGER) {
			o->begin_obj(e, "value");
			o->kv_int(e, "l_onoff", (int64_t)(r->a[2] >> 32));
			o->kv_int(e, "l_linger", (int32_t)(uint32_t)r->a[2]);
			o->end_obj(e);
		} else if (r->call == ST_C_SETSOCKOPT) {
			o->kv_int(e, "value", a2);
		} else if (tlv_u64(r, &v)) {
			if (a0 == SOL_SOCKET && a1 == SO_ERROR && v)
				o->kv_str(e, "value", st_errno_name((int)v));
			else
				o->kv_int(e, "value", (int64_t)v);
		}
		break;
	case ST_C_GETSOCKNAME:
		kv_addr_tlv(e, r, ST_T_LOCAL, "addr");
		break;
	case ST_C_GETPEERNAME:
		kv_addr_tlv(e, r, ST_T_PEER, "addr");
		break;
	case ST_C_POLL: case ST_C_PPOLL: case ST_C_SELECT: case ST_C_PSELECT:
		o->kv_int(e, "nfds", a0);
		o->kv_int(e, "timeout_ms", a1);
		kv_poll(e, r);
		break;
	case ST_C_EPOLL_CTL:
		o->kv_int(e, "epfd", a0);
		kv_name(e, "op", a1 == EPOLL_CTL_ADD ? "EPOLL_CTL_ADD" : a1 == EPOLL_CTL_MOD ? "EPOLL_CTL_MOD"
		                 : a1 == EPOLL_CTL_DEL ? "EPOLL_CTL_DEL" : NULL, a1);
		kv_flags(e, "events", (uint64_t)a2, epoll_flags);
		if (tlv_u64(r, &v))
			o->kv_int(e, "data", (int64_t)v);
		break;
	case ST_C_EPOLL_WAIT: case ST_C_EPOLL_PWAIT:
		o->kv_int(e, "maxevents", a0);
		o->kv_int(e, "timeout_ms", a1);
		kv_epoll(e, r);
		break;
	case ST_C_GETADDRINFO:
		kv_str_tlv(e, r, ST_T_STR, "node");
		kv_str_tlv(e, r, ST_T_STR2, "service");
		kv_name(e, "family", st_family_name((int)a0), a0);
		kv_addr_tlv(e, r, ST_T_ADDR, "first");
		if (tlv_u64(r, &v))
			o->kv_int(e, "count", (int64_t)v);
		break;
	case ST_C_SIGNAL: case ST_C_SIGACTION:
		kv_name(e, "signal", a0 == SIGPIPE ? "SIGPIPE" : NULL, a0);
		kv_handler(e, r->a[1]);
		if (r->a[2] >> 63)
			o->kv_bool(e, "at_start", 1);
		break;
	case ST_C_POSIX_SPAWN:
		kv_str_tlv(e, r, ST_T_STR, "path");
		if (tlv_u64(r, &v))
			o->kv_int(e, "pid", (int64_t)v);
		break;
	case ST_C_EXEC:
		kv_str_tlv(e, r, ST_T_STR, "path");
		break;
	case ST_C_EXIT:
		o->kv_int(e, "status", (int64_t)(int32_t)a0);
		break;
	default:
		break;
	}
	if (r->flags & ST_RF_FORTIFY)
		o->kv_bool(e, "fortify", 1);
	if (r->flags & ST_RF_LATE) {
		struct st_tlv_view t;
		if (st_tlv_find(r, ST_T_LATE_OF, &t) && t.len == 8) {
			memcpy(&v, t.p, 8);
			o->kv_int(e, "late_exit_of", (int64_t)v);
		}
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
}
