/* Start-up of libsocktrace.so: configuration, libunwind, fork, exit, and saying things once. */
#include "st_preload.h"

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

struct st_global st_g;
__thread struct st_tls st_tls __attribute__((tls_model("initial-exec")));

int st_gettid(void)
{
	return (int)syscall(SYS_gettid);
}

/* What fd 2 was when we started: we only ever write there if it still is that, and not a
 * socket (a program that closed stderr and made a socketpair would have our text sent to
 * its peer). */
static struct { int ok; dev_t dev; ino_t ino; } err_fd;

static void note_stderr(void)
{
	struct stat sb;
	err_fd.ok = syscall(SYS_fstat, 2, &sb) == 0 && !S_ISSOCK(sb.st_mode);
	err_fd.dev = sb.st_dev;
	err_fd.ino = sb.st_ino;
}

static int stderr_is_ours(void)
{
	struct stat sb;
	if (!err_fd.ok || (st_fdkind[2] & FK_MASK) == FK_SOCK)
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

static void config(struct st_config *cfg)
{
	const char *v;
	int ok;
	cfg->size = DEFAULT_SIZE;
	cfg->depth = 16;
	cfg->payload = 0;
	if ((v = getenv("SOCKTRACE_SAID")))
		st_g.said_before = strtoull(v, NULL, 16);
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

/* ---- fork and exit ---- */

/* In a fork child (fork, vfork run as fork, _Fork, a raw clone): the process needs its own
 * entry, made at its first socket call; the parent's span is left to the parent. */
void st_after_fork_child(void)
{
	st_g.gen++;
	if (!st_tls.busy) {     /* else a signal handler forked inside our reservation: the
		                 * interrupted code finishes it, the next one starts afresh */
		st_tls.span = NULL;
		st_tls.cur = st_tls.end = NULL;
		st_tls.npending = 0;
		st_tls.tid = 0;
	}
	st_g.parent_id = st_g.on ? st_g.proc_id : 0;
	st_g.proc_id = 0;
	if (!st_g.seccomp) {
		st_proc_cache();
		st_tls.tid = st_g.pid;  /* the child's only thread is its main thread */
	}
	__atomic_store_n(&st_g.on, 0, __ATOMIC_RELEASE);
	if (st_g.attach_lock == 1)
		st_g.attach_lock = 0;
	st_fd_report_inherited_forget();
	st_inject_fork_child();
}

/* Started under a seccomp filter already (a sandboxed service, a child of a sandbox)? */
static int seccomp_at_start(void)
{
	char buf[4096];
	int fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/status", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = syscall(SYS_read, fd, buf, sizeof(buf) - 1);
	syscall(SYS_close, fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	const char *p = strstr(buf, "\nSeccomp:");
	return p && atoi(p + 9) == 2;
}

static void exit_hook(int status, void *arg)
{
	(void)arg;
	st_proc_exit(status);
}

static void st_init(void)
{
	int expect = ST_UNINIT;
	if (!__atomic_compare_exchange_n(&st_g.state, &expect, ST_INITING, 0, __ATOMIC_ACQ_REL,
	                                 __ATOMIC_ACQUIRE))
		return;
	int saved = errno;
	note_stderr();
	const char *said = getenv("SOCKTRACE_SAID");
	if (said)
		st_g.said_before = strtoull(said, NULL, 16);
	if (getauxval(AT_SECURE)) {
		st_say_once(ST_SAY_SECURE, "socktrace: not tracing a setuid/setgid program (AT_SECURE)");
		__atomic_store_n(&st_g.state, ST_DISABLED, __ATOMIC_RELEASE);
		errno = saved;
		return;
	}
	st_proc_cache();
	config(&st_g.cfg);
	st_text_range((void *)st_init, &st_g.self_lo, &st_g.self_hi);
	if (seccomp_at_start())
		st_seccomp_on();
	st_sock_init();
	st_ring_init();
	st_unwind_init();
	pthread_atfork(NULL, NULL, st_after_fork_child);
	on_exit(exit_hook, NULL);
	st_fd_scan();
	/* an image exec'd into a trace maps it at once, so a later setuid or chroot cannot
	 * keep it out; a trace is only created at the first socket call */
	st_trace_map(0);
	__atomic_store_n(&st_g.state, ST_READY, __ATOMIC_RELEASE);
	errno = saved;
}

int st_ready(void)
{
	int s = __atomic_load_n(&st_g.state, __ATOMIC_ACQUIRE);
	if (likely(s == ST_READY))
		return 1;
	if (s == ST_UNINIT) {
		st_init();
		return __atomic_load_n(&st_g.state, __ATOMIC_ACQUIRE) == ST_READY;
	}
	return 0;
}

__attribute__((constructor)) static void st_ctor(void)
{
	st_ready();
}

/* While this thread is inside the loader (dlopen, dlclose, our module scan), a signal
 * handler's call is recorded without a stack: libunwind would look up unwind info with
 * dl_iterate_phdr and wait for the loader lock this thread holds, for good. */
ST_EXPORT void *dlopen(const char *file, int mode)
{
	st_tls.in_loader++;
	void *h = st_real_dlopen(file, mode);
	st_tls.in_loader--;
	if (h && __atomic_load_n(&st_g.on, __ATOMIC_ACQUIRE))
		st_modules_scan();
	return h;
}

static int (*real_dlclose_p)(void *);

ST_EXPORT int dlclose(void *h)
{
	if (!real_dlclose_p)
		real_dlclose_p = dlsym(RTLD_NEXT, "dlclose");
	st_tls.in_loader++;
	int r = real_dlclose_p ? real_dlclose_p(h) : -1;
	st_tls.in_loader--;
	return r;
}
