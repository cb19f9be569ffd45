/* Start-up of libsocktrace.so (the first call, the constructor), fork children, the loader
 * wrappers: the top layer, above every module it starts. */
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
	st_g.parent_id = st_on() ? st_g.proc_id : 0;
	st_g.proc_id = 0;
	if (!st_g.seccomp) {
		st_proc_cache();
		st_tls.tid = st_g.pid;  /* the child's only thread is its main thread */
	}
	int on = ST_ON;         /* recording starts again at the child's first socket call */
	__atomic_compare_exchange_n(&st_g.state, &on, ST_READY, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
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
	st_say_init();
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
	st_config_read(&st_g.cfg);
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
	if (likely(s == ST_READY || s == ST_ON))
		return 1;
	if (s == ST_UNINIT) {
		st_init();
		s = __atomic_load_n(&st_g.state, __ATOMIC_ACQUIRE);
		return s == ST_READY || s == ST_ON;
	}
	return 0;
}

/* Process events alone do not attach a process to the trace: a shell that only forks and
 * execs leaves no entry. Nor does a socket call on something that is not a socket (bash
 * asks getpeername(0) at every start, to see whether stdin is a socket). */
static int attaches(int call, int fd)
{
	switch (call) {
	case ST_C_EXEC: case ST_C_FORK: case ST_C_VFORK: case ST_C_POSIX_SPAWN:
	case ST_C_SIGNAL: case ST_C_SIGACTION: case ST_C_EXIT:
		return 0;
	}
	return st_fd_kind(fd) != FK_OTHER;
}

/* A wrapper's call found records off: start the tracer (at the first call), and give the
 * process its entry if this call is one that attaches. 1 when records are on. */
int st_start(int call, int fd)
{
	if (!st_ready() || st_tls.nesting > 0 || !attaches(call, fd))
		return 0;
	return st_attach() == 0 && st_on();     /* (a fork in a signal handler meanwhile: the child is
	                                         * not attached, whatever its parent's attach said) */
}

/*
 * The fd's kind is not cached yet: probe it once with fstat. A socket found that way (made
 * where we could not see it: inside libc, by a static helper, in a parent before exec) is
 * logged as "unseen".
 */
int st_is_sock_slow(int fd)
{
	if (fd < 0 || st_g.seccomp || !st_ready())
		return 0;
	int s = st_fd_probe(fd);
	if (s && st_tls.nesting == 0 && (st_on() || st_attach() == 0))
		st_fd_found(fd, ST_C_UNSEEN, ST_OR_UNSEEN);
	return s;
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
	if (h && st_on())
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
