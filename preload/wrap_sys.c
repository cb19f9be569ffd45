/* Interposed syscall() and prctl(): socket calls made by number, seccomp filters, raw forks. */
#include "st_wrap.h"

#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#undef syscall
long syscall(long n, ...);
REAL_DECL(long, syscall, (long, ...))
REAL_DECL(int, prctl, (int, ...))

static int installs_filter(long op)
{
	return op == SECCOMP_SET_MODE_STRICT || op == SECCOMP_SET_MODE_FILTER;
}

ST_EXPORT int prctl(int option, ...)
{
	va_list ap;
	va_start(ap, option);
	unsigned long a2 = va_arg(ap, unsigned long), a3 = va_arg(ap, unsigned long);
	unsigned long a4 = va_arg(ap, unsigned long), a5 = va_arg(ap, unsigned long);
	va_end(ap);
	if (option == PR_SET_SECCOMP)
		st_seccomp_on();
	return REAL(prctl)(option, a2, a3, a4, a5);
}

/* A raw fork or clone of a new process: the child's state is reset as fork's would be. */
static long fork_like(long n, long a1, long a2, long a3, long a4, long a5, long a6)
{
	long r = REAL(syscall)(n, a1, a2, a3, a4, a5, a6);
	if (r == 0)
		st_after_fork_child();
	return r;
}

/*
 * libc's syscall(): libuv closes with syscall(SYS_close, fd), libseccomp installs filters
 * with syscall(SYS_seccomp, ...). The numbers that matter to a socket's life go to the
 * named wrappers, so they are recorded like the named calls; the rest pass through.
 * (Reading six arguments whatever the call takes is what libc's own syscall() does.)
 */
ST_EXPORT long syscall(long n, ...)
{
	va_list ap;
	va_start(ap, n);
	long a1 = va_arg(ap, long), a2 = va_arg(ap, long), a3 = va_arg(ap, long);
	long a4 = va_arg(ap, long), a5 = va_arg(ap, long), a6 = va_arg(ap, long);
	va_end(ap);
	if (unlikely(st_tls.nesting > 0) && st_fw_active(__builtin_return_address(0))) {
		if (n == SYS_write || n == SYS_read || n == SYS_close)
			return st_unw_io(n == SYS_write ? 'w' : n == SYS_read ? 'r' : 'c', (int)a1, (size_t)a3);
		return REAL(syscall)(n, a1, a2, a3, a4, a5, a6);
	}
	switch (n) {
	case SYS_close: return close((int)a1);
	case SYS_close_range: return close_range((unsigned)a1, (unsigned)a2, (int)a3);
	case SYS_socket: return socket((int)a1, (int)a2, (int)a3);
	case SYS_socketpair: return socketpair((int)a1, (int)a2, (int)a3, (int *)a4);
	case SYS_bind: return bind((int)a1, (const struct sockaddr *)a2, (socklen_t)a3);
	case SYS_listen: return listen((int)a1, (int)a2);
	case SYS_accept: return accept((int)a1, (struct sockaddr *)a2, (socklen_t *)a3);
	case SYS_accept4: return accept4((int)a1, (struct sockaddr *)a2, (socklen_t *)a3, (int)a4);
	case SYS_connect: return connect((int)a1, (const struct sockaddr *)a2, (socklen_t)a3);
	case SYS_shutdown: return shutdown((int)a1, (int)a2);
	case SYS_sendto: return sendto((int)a1, (const void *)a2, (size_t)a3, (int)a4,
	                               (const struct sockaddr *)a5, (socklen_t)a6);
	case SYS_recvfrom: return recvfrom((int)a1, (void *)a2, (size_t)a3, (int)a4,
	                                   (struct sockaddr *)a5, (socklen_t *)a6);
	case SYS_sendmsg: return sendmsg((int)a1, (const struct msghdr *)a2, (int)a3);
	case SYS_recvmsg: return recvmsg((int)a1, (struct msghdr *)a2, (int)a3);
	case SYS_sendmmsg: return sendmmsg((int)a1, (struct mmsghdr *)a2, (unsigned)a3, (int)a4);
	case SYS_recvmmsg: return recvmmsg((int)a1, (struct mmsghdr *)a2, (unsigned)a3, (int)a4,
	                                   (struct timespec *)a5);
	case SYS_dup: return dup((int)a1);
	case SYS_dup3: return dup3((int)a1, (int)a2, (int)a3);
	case SYS_seccomp:
		if (installs_filter(a1))
			st_seccomp_on();
		break;
	case SYS_prctl:
		if (a1 == PR_SET_SECCOMP)
			st_seccomp_on();
		break;
	case SYS_exit_group:
		st_proc_exit((int)a1);
		break;
#ifdef SYS_fork
	case SYS_fork:
	case SYS_vfork:             /* run as fork, as vfork() itself is */
		return fork_like(SYS_fork, a1, a2, a3, a4, a5, a6);
#endif
	case SYS_clone:
		if (!(a1 & CLONE_VM))
			return fork_like(n, a1, a2, a3, a4, a5, a6);
		break;
	}
	return REAL(syscall)(n, a1, a2, a3, a4, a5, a6);
}
