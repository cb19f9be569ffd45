/* The bottom layer: the configuration, the state every module reads (st_g, st_tls, the fd
 * kinds), the tracer's own syscalls, and saying things on stderr. Calls nothing of ours. */
#include "st_preload.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

struct st_global st_g;
__thread struct st_tls st_tls __attribute__((tls_model("initial-exec")));
uint8_t st_fdkind[ST_FDTAB];    /* enum st_fdkind | FK_EPOLLSOCK, by fd number (fdtab.c) */

int st_gettid(void)
{
	return (int)syscall(SYS_gettid);
}

/* What fd 2 was when we started: we only ever write there if it still is that, and not a
 * socket (a program that closed stderr and made a socketpair would have our text sent to
 * its peer). */
static struct { int ok; dev_t dev; ino_t ino; } err_fd;

void st_say_init(void)
{
	struct stat sb;
	err_fd.ok = syscall(SYS_fstat, 2, &sb) == 0 && !S_ISSOCK(sb.st_mode);
	err_fd.dev = sb.st_dev;
	err_fd.ino = sb.st_ino;
}

static int stderr_is_ours(void)
{
	struct stat sb;
	if (!err_fd.ok || st_fd_kind(2) == FK_SOCK)
		return 0;
	return syscall(SYS_fstat, 2, &sb) == 0 && sb.st_dev == err_fd.dev && sb.st_ino == err_fd.ino;
}

/* Print one line to stderr without going through stdio or our own wrappers. */
void st_say(const char *fmt, ...)
{
	if (st_g.seccomp)
		return;         /* a write(2) the program did not make could kill it */
	int saved0 = errno;
	int ours = stderr_is_ours();
	errno = saved0;
	if (!ours)
		return;
	char buf[512];
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	syscall(SYS_write, 2, buf, n);
	errno = saved;
}

/*
 * Say something at most once per trace: a notice already given by this process, by the
 * process that exec'd it (the SOCKTRACE_SAID it passed on, see wrap_proc.c), or by any
 * process of the same trace (the trace header's bits) is not given again. 500 fork children
 * that cannot be traced, or a script's 35 processes with the same bad variable, say it once.
 */
void st_say_once(int what, const char *fmt, ...)
{
	uint64_t bit = 1ull << what;
	if (what <= 0 || what >= ST_SAY_MAX)
		return;
	if ((__atomic_fetch_or(&st_g.said, bit, __ATOMIC_ACQ_REL) | st_g.said_before) & bit)
		return;
	if (st_g.hdr && (__atomic_fetch_or(&st_g.hdr->said, bit, __ATOMIC_ACQ_REL) & bit))
		return;
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	st_say("%s", buf);
}

static long enosys_stub(void)
{
	errno = ENOSYS;
	return -1;
}

/* Bind a real libc function once; a missing one is said loudly and fails with ENOSYS. */
void *st_resolve(const char *name, void **slot)
{
	void *p = dlsym(RTLD_NEXT, name);
	if (!p) {
		st_say("socktrace: cannot find the real %s(); calls to it fail with ENOSYS", name);
		p = (void *)enosys_stub;
	}
	__atomic_store_n(slot, p, __ATOMIC_RELEASE);
	return p;
}

/* ---- configuration ---- */

static uint64_t parse_size(const char *s, int *ok)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	*ok = errno == 0 && end != s && s[0] != '-';
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	}
	if (*end == 'i' || *end == 'B') {
		if (*end == 'i')
			end++;
		if (*end == 'B')
			end++;
	}
	if (*end)
		*ok = 0;
	return v;
}

#define DEFAULT_SIZE (64ull << 20)

static const char *const known_vars[] = { "SOCKTRACE_DIR", "SOCKTRACE_SIZE", "SOCKTRACE_STACK_DEPTH",
                                          "SOCKTRACE_PAYLOAD", "SOCKTRACE_SAID", "SOCKTRACE_INJECT" };

/* A SOCKTRACE_ variable we do not know is most likely a typo of one we do. */
static void unknown_vars(void)
{
	extern char **environ;
	for (char **e = environ; e && *e; e++) {
		if (strncmp(*e, "SOCKTRACE_", 10) != 0)
			continue;
		size_t n = strcspn(*e, "=");
		int known = 0;
		for (size_t i = 0; i < sizeof(known_vars) / sizeof(known_vars[0]); i++)
			known |= strlen(known_vars[i]) == n && !strncmp(*e, known_vars[i], n);
		if (!known)
			st_say_once(ST_SAY_VAR, "socktrace: unknown variable %.*s ignored (known: SOCKTRACE_DIR, "
			            "SOCKTRACE_SIZE, SOCKTRACE_STACK_DEPTH, SOCKTRACE_PAYLOAD, SOCKTRACE_INJECT)", (int)n, *e);
	}
}

void st_config_read(struct st_config *cfg)
{
	const char *v;
	int ok;
	cfg->size = DEFAULT_SIZE;
	cfg->depth = 16;
	cfg->payload = 0;
	unknown_vars();
	if ((v = getenv("SOCKTRACE_SIZE")) && *v) {
		uint64_t s = parse_size(v, &ok);
		if (!ok || s < (1ull << 20) || s > (64ull << 30))
			st_say_once(ST_SAY_SIZE, "socktrace: SOCKTRACE_SIZE='%s' is not a size from 1M to 64G; using 64M", v);
		else
			cfg->size = s;
	}
	if ((v = getenv("SOCKTRACE_STACK_DEPTH")) && *v) {
		uint64_t d = parse_size(v, &ok);
		if (!ok || d > ST_MAX_FRAMES)
			st_say_once(ST_SAY_DEPTH, "socktrace: SOCKTRACE_STACK_DEPTH='%s' is not a number from 0 to %d; using 16",
			            v, ST_MAX_FRAMES);
		else
			cfg->depth = (unsigned)d;
	}
	if ((v = getenv("SOCKTRACE_PAYLOAD")) && *v) {
		uint64_t p = parse_size(v, &ok);
		if (!ok || p > 8192)
			st_say_once(ST_SAY_PAYLOAD, "socktrace: SOCKTRACE_PAYLOAD='%s' is not a byte count from 0 to 8192; using 0", v);
		else
			cfg->payload = (unsigned)p;
	}
	v = getenv("SOCKTRACE_DIR");
	if (v && !*v)
		st_say_once(ST_SAY_EMPTYDIR, "socktrace: SOCKTRACE_DIR is empty; using ./socktrace.data");
	if (!v || !*v)
		v = "socktrace.data";
	if (v[0] == '/') {
		snprintf(cfg->dir, sizeof(cfg->dir), "%s", v);
	} else {
		char cwd[768];
		if (syscall(SYS_getcwd, cwd, sizeof(cwd)) < 0)
			snprintf(cwd, sizeof(cwd), ".");
		snprintf(cfg->dir, sizeof(cfg->dir), "%s/%s", cwd, v);
	}
	snprintf(cfg->path, sizeof(cfg->path), "%s/%s", cfg->dir, ST_TRACE_FILE);
}

/* ---- the tracer's own syscalls ---- */

static long (*real_syscall)(long, ...);

long st_rawsys(long n, ...)
{
	va_list ap;
	va_start(ap, n);
	long a1 = va_arg(ap, long), a2 = va_arg(ap, long), a3 = va_arg(ap, long);
	long a4 = va_arg(ap, long), a5 = va_arg(ap, long), a6 = va_arg(ap, long);
	va_end(ap);
	long (*f)(long, ...) = __atomic_load_n(&real_syscall, __ATOMIC_ACQUIRE);
	if (!f)
		f = (long (*)(long, ...))st_resolve("syscall", (void **)&real_syscall);
	return f(n, a1, a2, a3, a4, a5, a6);
}
