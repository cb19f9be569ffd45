/* Fault-injection rules (SOCKTRACE_INJECT, socktrace record --inject): the grammar, parsed
 * the same way by the preload (which applies them) and by record (which refuses a bad one
 * before the program starts). No allocation: the preload parses at its first socket call.
 *
 *   RULE  = CALLS:ACTION[:when=N[+[STEP]]][:fd=N][:peer=HOST[:PORT]][:local=[HOST]:PORT]
 *           [:after-bytes=N][:pid=P]
 *   CALLS = a call name (send, recv, connect, ...), a comma list, or a class: %send %recv
 *           %connect %accept %close
 *   ACTION= error=ERRNO | delay=DURATION | short=N | eof | reset | fin
 *   rules are separated by ';'
 */
#ifndef SOCKTRACE_INJECT_H
#define SOCKTRACE_INJECT_H

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "socktrace_calls.h"

#define ST_INJ_MAX 16               /* rules at most */

enum st_inj_action { ST_INJ_ERROR = 1, ST_INJ_DELAY, ST_INJ_SHORT, ST_INJ_EOF, ST_INJ_RESET, ST_INJ_FIN };

struct st_inj_addr {
	int set;                        /* 1: the filter is given */
	int family;                     /* 0: any host */
	uint8_t addr[16];
	uint16_t port;                  /* 0: any port (host byte order) */
};

struct st_rule {
	uint64_t calls[4];              /* bit per call id */
	int action;                     /* enum st_inj_action */
	int err;                        /* error=: the errno */
	uint64_t delay_ns;              /* delay= */
	uint64_t max;                   /* short=: bytes at most */
	uint64_t when, step;            /* when=N: the Nth matching call (1 = first) */
	int from;                       /* when=N+: from the Nth on; N+STEP: every STEP-th from the
	                                 * Nth (no when=: every call, N 1 STEP 1) */
	int fd;                         /* fd=: -1 any */
	int pid;                        /* pid=: 0 any */
	struct st_inj_addr peer, local;
	uint64_t after_bytes;           /* after-bytes=: 0 none */
	int per_socket;                 /* counted per socket (fd, peer or local given) */
	char text[40];                  /* what was injected, as recorded: "error=EPIPE" */
};

static const struct { const char *name; int err; } st_inj_errnos[] = {
	{ "EPIPE", EPIPE }, { "ECONNRESET", ECONNRESET }, { "ECONNREFUSED", ECONNREFUSED },
	{ "ECONNABORTED", ECONNABORTED }, { "ETIMEDOUT", ETIMEDOUT }, { "EAGAIN", EAGAIN },
	{ "EWOULDBLOCK", EWOULDBLOCK }, { "EINTR", EINTR }, { "ENOBUFS", ENOBUFS }, { "ENOMEM", ENOMEM },
	{ "EHOSTUNREACH", EHOSTUNREACH }, { "ENETUNREACH", ENETUNREACH }, { "ENETDOWN", ENETDOWN },
	{ "EADDRINUSE", EADDRINUSE }, { "EADDRNOTAVAIL", EADDRNOTAVAIL }, { "EMFILE", EMFILE },
	{ "ENFILE", ENFILE }, { "EACCES", EACCES }, { "EPERM", EPERM }, { "EBADF", EBADF },
	{ "EINVAL", EINVAL }, { "ENOTCONN", ENOTCONN }, { "EIO", EIO }, { "EMSGSIZE", EMSGSIZE },
	{ "EINPROGRESS", EINPROGRESS }, { "EALREADY", EALREADY }, { "EPROTO", EPROTO },
	{ "ENOSPC", ENOSPC }, { "EHOSTDOWN", EHOSTDOWN },
};

static inline int st_inj_errno(const char *s, size_t n)
{
	for (size_t i = 0; i < sizeof(st_inj_errnos) / sizeof(st_inj_errnos[0]); i++)
		if (strlen(st_inj_errnos[i].name) == n && !strncmp(s, st_inj_errnos[i].name, n))
			return st_inj_errnos[i].err;
	char *end;
	long v = strtol(s, &end, 10);
	return end == s + n && n && v > 0 && v < 4096 ? (int)v : 0;
}

static inline int st_inj_num(const char *s, size_t n, uint64_t *out)
{
	if (!n || n > 19)
		return 0;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 1;
}

/* "250ms", "2s", "1.5s", "100us": nanoseconds */
static inline int st_inj_duration(const char *s, size_t n, uint64_t *ns)
{
	char buf[32];
	if (!n || n >= sizeof(buf))
		return 0;
	memcpy(buf, s, n);
	buf[n] = 0;
	char *end;
	double v = strtod(buf, &end);
	double k = !strcmp(end, "s") ? 1e9 : !strcmp(end, "ms") ? 1e6 : !strcmp(end, "us") ? 1e3
	           : !strcmp(end, "ns") ? 1 : -1;
	if (end == buf || k < 0 || v < 0 || v > 3600)
		return 0;
	*ns = (uint64_t)(v * k);
	return 1;
}

/* "127.0.0.1", "127.0.0.1:80", "[::1]:80", "::1", ":80" (any host, local= only) */
static inline int st_inj_addr(const char *s, size_t n, struct st_inj_addr *a, int port_required)
{
	char host[64] = "";
	const char *port = NULL;
	size_t pn = 0;
	memset(a, 0, sizeof(*a));
	a->set = 1;
	if (n && s[0] == '[') {
		const char *close = memchr(s, ']', n);
		if (!close || (size_t)(close - s - 1) >= sizeof(host))
			return 0;
		memcpy(host, s + 1, (size_t)(close - s - 1));
		if ((size_t)(close - s) + 1 < n) {
			if (close[1] != ':')
				return 0;
			port = close + 2;
			pn = n - (size_t)(port - s);
		}
	} else {
		const char *colon = NULL;
		int colons = 0;
		for (size_t i = 0; i < n; i++)
			if (s[i] == ':') {
				colon = s + i;
				colons++;
			}
		size_t hl = colons == 1 ? (size_t)(colon - s) : n;
		if (hl >= sizeof(host))
			return 0;
		memcpy(host, s, hl);
		if (colons == 1) {
			port = colon + 1;
			pn = n - hl - 1;
		}
	}
	if (host[0]) {
		if (inet_pton(AF_INET, host, a->addr) == 1)
			a->family = AF_INET;
		else if (inet_pton(AF_INET6, host, a->addr) == 1)
			a->family = AF_INET6;
		else
			return 0;
	}
	if (port) {
		uint64_t p;
		if (!st_inj_num(port, pn, &p) || p == 0 || p > 65535)
			return 0;
		a->port = (uint16_t)p;
	}
	return port_required ? a->port != 0 : host[0] != 0;
}

static inline void st_inj_call(struct st_rule *r, int id)
{
	if (id > 0 && id < 256)
		r->calls[id / 64] |= 1ull << (id % 64);
}

/* One CALLS item: a name or a %class. 0 when unknown. */
static inline int st_inj_calls(struct st_rule *r, const char *s, size_t n)
{
	static const char *const names[] = {
#define ST_X_INJNAME(id, name, ...) name,
		ST_CALLS(ST_X_INJNAME)
#undef ST_X_INJNAME
	};
	static const unsigned char classes[] = {
#define ST_X_INJCLS(id, name, cls, ...) ST_CL_##cls,
		ST_CALLS(ST_X_INJCLS)
#undef ST_X_INJCLS
	};
	static const struct { const char *name; int cls[4]; } groups[] = {
		{ "%send", { ST_CL_SEND, ST_CL_SENDMANY, ST_CL_SPLICE, -1 } },
		{ "%recv", { ST_CL_RECV, ST_CL_RECVMANY, ST_CL_SPLICE, -1 } },
		{ "%connect", { ST_CL_CONNECT, -1, -1, -1 } },
		{ "%accept", { ST_CL_ACCEPT, -1, -1, -1 } },
		{ "%close", { ST_CL_CLOSE, -1, -1, -1 } },
	};
	int hit = 0;
	for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
		if (strlen(groups[g].name) != n || strncmp(s, groups[g].name, n))
			continue;
		for (int k = 0; k < 4 && groups[g].cls[k] >= 0; k++)
			for (size_t i = 0; i < sizeof(classes); i++)
				if (classes[i] == groups[g].cls[k]) {
					st_inj_call(r, (int)i + 1);
					hit = 1;
				}
		/* (a splice counts for %send when it writes to the socket: decided per call) */
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && !hit; i++)
		if (strlen(names[i]) == n && !strncmp(s, names[i], n) && classes[i] != ST_CL_FOUND &&
		    classes[i] != ST_CL_STATE && classes[i] != ST_CL_PROCESS) {
			st_inj_call(r, (int)i + 1);
			hit = 1;
		}
	return hit;
}

static inline int st_inj_fail(char *err, size_t errlen, const char *rule, size_t rn, const char *why)
{
	snprintf(err, errlen, "rule '%.*s': %s", (int)(rn > 120 ? 120 : rn), rule, why);
	return -1;
}

/* One rule, s[0..n). 0 or -1 with err set. */
static inline int st_inj_rule(const char *s, size_t n, struct st_rule *r, char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	r->fd = -1;
	r->when = 1;            /* no when=: every matching call, as strace's inject= */
	r->from = 1;
	r->step = 1;
	const char *p = s, *end = s + n;
	int field = 0;
	while (p < end) {
		const char *q = memchr(p, ':', (size_t)(end - p));
		/* peer= and local= values hold a colon themselves: HOST:PORT, [V6]:PORT, :PORT */
		if ((!strncmp(p, "peer=", 5) && (size_t)(end - p) > 5) || (!strncmp(p, "local=", 6) && (size_t)(end - p) > 6)) {
			const char *v0 = p + (p[0] == 'p' ? 5 : 6);
			const char *e = v0;
			if (*v0 == '[') {
				const char *close = memchr(v0, ']', (size_t)(end - v0));
				e = close ? close + 1 : end;
			} else {
				while (e < end && *e != ':')
					e++;
			}
			if (e < end && *e == ':') {     /* a port: digits up to the next ':' */
				const char *d = e + 1;
				while (d < end && *d >= '0' && *d <= '9')
					d++;
				if (d > e + 1 && (d == end || *d == ':'))
					e = d;
			}
			q = e < end ? e : NULL;
		}
		size_t len = q ? (size_t)(q - p) : (size_t)(end - p);
		const char *eq = memchr(p, '=', len);
		size_t kl = eq ? (size_t)(eq - p) : len;
		const char *v = eq ? eq + 1 : NULL;
		size_t vl = eq ? len - kl - 1 : 0;
		if (field == 0) {
			const char *c = p;
			while (c < p + len) {
				const char *comma = memchr(c, ',', (size_t)(p + len - c));
				size_t cl = comma ? (size_t)(comma - c) : (size_t)(p + len - c);
				if (!st_inj_calls(r, c, cl))
					return st_inj_fail(err, errlen, s, n, "unknown call or class (a call name like send, or "
					                   "%send %recv %connect %accept %close)");
				c += cl + (comma ? 1 : 0);
			}
		} else if (field == 1) {
			if (kl == 5 && !strncmp(p, "error", 5) && v) {
				r->action = ST_INJ_ERROR;
				if (!(r->err = st_inj_errno(v, vl)))
					return st_inj_fail(err, errlen, s, n, "error= wants an errno name (EPIPE, ECONNRESET...)");
			} else if (kl == 5 && !strncmp(p, "delay", 5) && v) {
				r->action = ST_INJ_DELAY;
				if (!st_inj_duration(v, vl, &r->delay_ns))
					return st_inj_fail(err, errlen, s, n, "delay= wants a duration (250ms, 2s)");
			} else if (kl == 5 && !strncmp(p, "short", 5) && v) {
				r->action = ST_INJ_SHORT;
				if (!st_inj_num(v, vl, &r->max) || r->max == 0)
					return st_inj_fail(err, errlen, s, n, "short= wants a byte count of 1 or more");
			} else if (len == 3 && !strncmp(p, "eof", 3)) {
				r->action = ST_INJ_EOF;
			} else if (len == 5 && !strncmp(p, "reset", 5)) {
				r->action = ST_INJ_RESET;
			} else if (len == 3 && !strncmp(p, "fin", 3)) {
				r->action = ST_INJ_FIN;
			} else {
				return st_inj_fail(err, errlen, s, n, "unknown action (error=ERRNO, delay=DURATION, "
				                   "short=N, eof, reset, fin)");
			}
			snprintf(r->text, sizeof(r->text), "%.*s", (int)len, p);
		} else if (kl == 4 && !strncmp(p, "when", 4) && v) {
			const char *plus = memchr(v, '+', vl);
			size_t nl = plus ? (size_t)(plus - v) : vl;
			r->from = 0;
			r->step = 0;
			if (!st_inj_num(v, nl, &r->when) || r->when == 0)
				return st_inj_fail(err, errlen, s, n, "when= wants N, N+ or N+STEP (N from 1)");
			if (plus) {
				r->from = 1;
				size_t sl = vl - nl - 1;
				if (sl && (!st_inj_num(plus + 1, sl, &r->step) || r->step == 0))
					return st_inj_fail(err, errlen, s, n, "when=N+STEP wants a step of 1 or more");
			}
		} else if (kl == 2 && !strncmp(p, "fd", 2) && v) {
			uint64_t fd;
			if (!st_inj_num(v, vl, &fd) || fd > 1 << 20)
				return st_inj_fail(err, errlen, s, n, "fd= wants a file descriptor number");
			r->fd = (int)fd;
			r->per_socket = 1;
		} else if (kl == 3 && !strncmp(p, "pid", 3) && v) {
			uint64_t pid;
			if (!st_inj_num(v, vl, &pid) || pid == 0 || pid > 1 << 30)
				return st_inj_fail(err, errlen, s, n, "pid= wants a process id");
			r->pid = (int)pid;
		} else if (kl == 4 && !strncmp(p, "peer", 4) && v) {
			if (!st_inj_addr(v, vl, &r->peer, 0))
				return st_inj_fail(err, errlen, s, n, "peer= wants HOST or HOST:PORT (127.0.0.1:6379, [::1]:80)");
			r->per_socket = 1;
		} else if (kl == 5 && !strncmp(p, "local", 5) && v) {
			if (!st_inj_addr(v, vl, &r->local, 1))
				return st_inj_fail(err, errlen, s, n, "local= wants [HOST]:PORT (:8080, 127.0.0.1:8080)");
			r->per_socket = 1;
		} else if (kl == 11 && !strncmp(p, "after-bytes", 11) && v) {
			if (!st_inj_num(v, vl, &r->after_bytes))
				return st_inj_fail(err, errlen, s, n, "after-bytes= wants a byte count");
			r->per_socket = 1;
		} else {
			return st_inj_fail(err, errlen, s, n, "unknown option (when=, fd=, peer=, local=, after-bytes=, pid=)");
		}
		field++;
		p += len + (q ? 1 : 0);
	}
	if (field < 2)
		return st_inj_fail(err, errlen, s, n, "wants CALLS:ACTION, like send:error=EPIPE");
	return 0;
}

/* All rules of a spec ("RULE;RULE"). The number of rules, or -1 with err set (then none
 * should be applied). */
static inline int st_inject_parse(const char *spec, struct st_rule *rules, int max, char *err, size_t errlen)
{
	int n = 0;
	const char *p = spec;
	while (p && *p) {
		const char *semi = strchr(p, ';');
		size_t len = semi ? (size_t)(semi - p) : strlen(p);
		while (len && (*p == ' ' || *p == '\t')) {
			p++;
			len--;
		}
		while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len) {
			if (n == max) {
				snprintf(err, errlen, "more than %d rules", max);
				return -1;
			}
			if (st_inj_rule(p, len, &rules[n], err, errlen) < 0)
				return -1;
			n++;
		}
		p = semi ? semi + 1 : NULL;
	}
	return n;
}

#endif
