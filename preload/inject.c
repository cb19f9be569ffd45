/* Fault injection (SOCKTRACE_INJECT): the rules, read at the first traced call; which call a
 * rule picks (its calls, process, fd, addresses, count, bytes moved); and what it does to it.
 * With no rule, the wrappers pay one predictable branch on st_inj_on. */
#include "st_preload.h"

#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>

#include "socktrace_inject.h"

#define INJ_FDS 4096                /* per-socket counts for fds below this */

int st_inj_on = 1;                  /* 1 until the rules are read and there are none */

struct per_fd { uint64_t count, bytes_in, bytes_out; int fired; };

static struct st_rule rules[ST_INJ_MAX];
static int nrules, loaded, any_bytes;
static uint64_t counts[ST_INJ_MAX];
static struct per_fd *per[ST_INJ_MAX];

static void load(void)
{
	int expect = 0;
	/* Someone is reading them already: another thread, or this very thread interrupted by a
	 * signal handler that makes a socket call (waiting here would wait for ever: the
	 * dlopen-signal torture test hung so). The caller injects nothing until they are read. */
	if (!__atomic_compare_exchange_n(&loaded, &expect, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return;
	const char *spec = getenv("SOCKTRACE_INJECT");
	char err[256];
	int n = spec && *spec ? st_inject_parse(spec, rules, ST_INJ_MAX, err, sizeof(err)) : 0;
	if (n < 0) {
		st_say("socktrace: SOCKTRACE_INJECT: %s; no rule applied", err);
		n = 0;
	}
	for (int i = 0; i < n; i++) {
		if (!rules[i].per_socket)
			continue;
		void *m = mmap(NULL, INJ_FDS * sizeof(struct per_fd), PROT_READ | PROT_WRITE,
		               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		per[i] = m == MAP_FAILED ? NULL : m;
		any_bytes |= rules[i].after_bytes != 0;
	}
	nrules = n;
	__atomic_store_n(&loaded, 2, __ATOMIC_RELEASE);
	__atomic_store_n(&st_inj_on, n > 0, __ATOMIC_RELEASE);
}

/* The socket's address (peer or local) against a rule's filter. */
static int addr_ok(int fd, const struct st_inj_addr *want, int peer)
{
	if (!want->set)
		return 1;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (syscall(peer ? SYS_getpeername : SYS_getsockname, fd, &ss, &len) != 0)
		return 0;
	const uint8_t *a;
	uint16_t port;
	int fam = ss.ss_family;
	if (fam == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;
		a = (const uint8_t *)&s4->sin_addr;
		port = ntohs(s4->sin_port);
	} else if (fam == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
		a = s6->sin6_addr.s6_addr;
		port = ntohs(s6->sin6_port);
		static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
		if (want->family == AF_INET && !memcmp(a, mapped, 12)) {
			a += 12;        /* a dual-stack socket's IPv4 peer */
			fam = AF_INET;
		}
	} else {
		return 0;
	}
	if (want->port && want->port != port)
		return 0;
	if (!want->family)
		return 1;
	return want->family == fam && !memcmp(a, want->addr, fam == AF_INET ? 4 : 16);
}

static int direction(int call, uint64_t a1)
{
	int cls = st_class_of(call);
	if (cls == ST_CL_SEND || cls == ST_CL_SENDMANY)
		return 1;
	if (cls == ST_CL_RECV || cls == ST_CL_RECVMANY)
		return -1;
	if (cls == ST_CL_SPLICE)
		return (a1 >> 32) & 1 ? 1 : -1;
	return 0;
}

/* Does rule i pick this call? Counts it when the filters match. */
static int picks(int i, int call, int fd, uint64_t a1)
{
	const struct st_rule *r = &rules[i];
	if (!(r->calls[call / 64] & (1ull << (call % 64))))
		return 0;
	if (r->pid && r->pid != (int)syscall(SYS_getpid))
		return 0;
	if (r->fd >= 0 && r->fd != fd)
		return 0;
	if ((r->peer.set || r->local.set) && fd < 0)
		return 0;
	if (!addr_ok(fd, &r->peer, 1) || !addr_ok(fd, &r->local, 0))
		return 0;
	uint64_t n;
	if (r->per_socket) {
		if (!per[i] || fd < 0 || fd >= INJ_FDS)
			return 0;
		struct per_fd *p = &per[i][fd];
		if (r->after_bytes) {   /* the first call once that many bytes have moved its way */
			int dir = direction(call, a1);
			uint64_t moved = dir > 0 ? p->bytes_out : p->bytes_in;
			if (p->fired || moved < r->after_bytes)
				return 0;
			return __atomic_exchange_n(&p->fired, 1, __ATOMIC_ACQ_REL) == 0;
		}
		n = __atomic_add_fetch(&p->count, 1, __ATOMIC_RELAXED);
	} else {
		n = __atomic_add_fetch(&counts[i], 1, __ATOMIC_RELAXED);
	}
	if (n == r->when)
		return 1;
	if (!r->from || n < r->when)
		return 0;
	return r->step == 0 || (n - r->when) % r->step == 0;
}

void st_inject_sleep(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int st_inject_pre(int call, int fd, uint64_t a1, struct st_inj *out)
{
	if (__atomic_load_n(&loaded, __ATOMIC_ACQUIRE) != 2) {
		load();
		if (__atomic_load_n(&loaded, __ATOMIC_ACQUIRE) != 2)
			return 0;
	}
	if (!nrules || st_tls.nesting > 0)
		return 0;
	int saved = errno, hit = -1;
	for (int i = 0; i < nrules; i++)        /* each rule counts the calls it matches; */
		if (picks(i, call, fd, a1) && hit < 0)  /* the first that picks this one acts */
			hit = i;
	for (int i = hit; i >= 0; i = -1) {
		const struct st_rule *r = &rules[i];
		out->fired = 1;
		out->text = r->text;
		switch (r->action) {
		case ST_INJ_ERROR:
			out->skip = 1;
			out->ret = -1;
			out->err = r->err;
			break;
		case ST_INJ_EOF:
			out->skip = direction(call, a1) < 0;    /* (a write is made as it is) */
			out->ret = 0;
			out->err = 0;
			break;
		case ST_INJ_DELAY:
			out->delay_ns = r->delay_ns;
			break;
		case ST_INJ_SHORT:
			st_tls.inj_cap = r->max;
			break;
		case ST_INJ_RESET: {    /* abort the connection for real: the peer gets RST */
			struct linger lg = { 1, 0 };
			syscall(SYS_setsockopt, fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			struct sockaddr sa = { .sa_family = AF_UNSPEC };
			syscall(SYS_connect, fd, &sa, sizeof(sa));
			break;
		}
		case ST_INJ_FIN:
			syscall(SYS_shutdown, fd, SHUT_WR);
			break;
		}
		errno = saved;
		return 1;
	}
	errno = saved;
	return 0;
}

/* The result of a call that was not made: errno set; an EPIPE on a write raises SIGPIPE as
 * the kernel would (not with MSG_NOSIGNAL; ignored or handled as the program says). */
long st_inject_result(const struct st_inj *in, int call, uint64_t a1)
{
	if (in->err == EPIPE && direction(call, a1) > 0) {
		int cls = st_class_of(call);
		int nosig = (cls == ST_CL_SEND || cls == ST_CL_SENDMANY) && call != ST_C_WRITE &&
		            call != ST_C_WRITEV && call != ST_C_SENDFILE && (a1 & MSG_NOSIGNAL);
		if (!nosig)
			raise(SIGPIPE);
	}
	errno = in->err;
	return in->ret;
}

/* After the call: bytes moved on the socket (for after-bytes=), the length cap undone. */
void st_inject_after(int call, int fd, uint64_t a1, long ret)
{
	st_tls.inj_cap = 0;
	if (!any_bytes || ret <= 0 || fd < 0 || fd >= INJ_FDS)
		return;
	int dir = direction(call, a1);
	for (int i = 0; i < nrules; i++)
		if (per[i] && rules[i].after_bytes) {
			if (dir > 0)
				__atomic_add_fetch(&per[i][fd].bytes_out, (uint64_t)ret, __ATOMIC_RELAXED);
			else if (dir < 0)
				__atomic_add_fetch(&per[i][fd].bytes_in, (uint64_t)ret, __ATOMIC_RELAXED);
		}
}

/* A closed fd: the next socket with its number starts its counts afresh. */
void st_inject_forget(int fd)
{
	if (fd < 0 || fd >= INJ_FDS)
		return;
	for (int i = 0; i < nrules; i++)
		if (per[i])
			memset(&per[i][fd], 0, sizeof(per[i][fd]));
}

/* A fork child is a new process: counted from zero. */
void st_inject_fork_child(void)
{
	for (int i = 0; i < nrules; i++) {
		counts[i] = 0;
		if (per[i])
			memset(per[i], 0, INJ_FDS * sizeof(struct per_fd));
	}
}

size_t st_cap_len(size_t n)
{
	uint64_t c = st_tls.inj_cap;
	return c && n > c ? (size_t)c : n;
}

/* An iovec array cut to the cap (a copy in thread-local storage). */
const struct iovec *st_cap_iov(const struct iovec *iov, int n, int *outn)
{
	static __thread struct iovec cut[64];
	uint64_t left = st_tls.inj_cap;
	*outn = n;
	if (!left || !iov || n <= 0)
		return iov;
	int k = 0;
	for (; k < n && k < 64 && left; k++) {
		cut[k] = iov[k];
		if (cut[k].iov_len > left)
			cut[k].iov_len = left;
		left -= cut[k].iov_len;
	}
	*outn = k ? k : 1;
	if (!k)
		cut[0] = iov[0];
	return cut;
}
