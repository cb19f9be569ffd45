/* Interposed process-level events: getaddrinfo, SIGPIPE disposition, fork, spawn, exec. */
#include "st_wrap.h"

#include <alloca.h>
#include <netdb.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

REAL_DECL(int, getaddrinfo, (const char *, const char *, const struct addrinfo *, struct addrinfo **))
REAL_DECL(sighandler_t, signal, (int, sighandler_t))
REAL_DECL(int, sigaction, (int, const struct sigaction *, struct sigaction *))
REAL_DECL(pid_t, fork, (void))
REAL_DECL(int, posix_spawn, (pid_t *, const char *, const posix_spawn_file_actions_t *,
                             const posix_spawnattr_t *, char *const[], char *const[]))
REAL_DECL(int, posix_spawnp, (pid_t *, const char *, const posix_spawn_file_actions_t *,
                              const posix_spawnattr_t *, char *const[], char *const[]))
REAL_DECL(int, execve, (const char *, char *const[], char *const[]))
REAL_DECL(int, execvpe, (const char *, char *const[], char *const[]))

static unsigned str_room(const char *s)
{
	return s ? 4 + (unsigned)strnlen(s, 200) : 0;
}

static void put_str(struct st_call *c, int type, const char *s)
{
	if (s)
		st_put(c, type, s, (unsigned)strnlen(s, 200));
}

ST_EXPORT int getaddrinfo(const char *node, const char *svc, const struct addrinfo *hints,
                          struct addrinfo **res)
{
	TRACED(int, ST_C_GETADDRINFO, -1, hints ? hints->ai_family : 0, 0, 0,
	       str_room(node) + str_room(svc) + ADDR_ROOM + 12, REAL(getaddrinfo)(node, svc, hints, res),
	       { put_str(&c, ST_T_STR, node); put_str(&c, ST_T_STR2, svc); },
	       if (r == 0 && res && *res) {
		       uint64_t n = 0;
		       for (struct addrinfo *a = *res; a; a = a->ai_next)
			       n++;
		       st_put_addr(&c, ST_T_ADDR, (*res)->ai_addr, (*res)->ai_addrlen);
		       st_put(&c, ST_T_U64, &n, 8);
	       });
}

static uint64_t handler_val(sighandler_t h)
{
	return h == SIG_DFL ? 0 : h == SIG_IGN ? 1 : (uint64_t)(uintptr_t)h;
}

ST_EXPORT sighandler_t signal(int sig, sighandler_t h)
{
	if (sig != SIGPIPE)
		return REAL(signal)(sig, h);
	struct st_call c;
	if (!st_wbegin(&c, ST_C_SIGNAL, -1, (uint64_t)sig, handler_val(h), 0, 0))
		return REAL(signal)(sig, h);
	st_enter(&c);
	sighandler_t r = REAL(signal)(sig, h);
	if (r != SIG_ERR)
		st_g.sigpipe = handler_val(h);
	st_exit(&c, r == SIG_ERR ? -1 : 0);
	st_done(&c);
	return r;
}

ST_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	if (sig != SIGPIPE || !act)
		return REAL(sigaction)(sig, act, old);
	uint64_t h = (act->sa_flags & SA_SIGINFO) ? (uint64_t)(uintptr_t)act->sa_sigaction
	                                            : handler_val(act->sa_handler);
	TRACED(int, ST_C_SIGACTION, -1, sig, h, act->sa_flags, 0, REAL(sigaction)(sig, act, old),
	       NOTHING, if (r == 0) st_g.sigpipe = h);
}

static pid_t fork_as(int id)
{
	TRACED(pid_t, id, -1, 0, 0, 0, 0, REAL(fork)(), NOTHING, NOTHING);
}

ST_EXPORT pid_t fork(void)
{
	return fork_as(ST_C_FORK);
}

/* vfork is run as fork (as valgrind does): a wrapper cannot return into a vfork child. */
ST_EXPORT pid_t vfork(void)
{
	return fork_as(ST_C_VFORK);
}

ST_EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
                          const posix_spawnattr_t *at, char *const argv[], char *const envp[])
{
	TRACED(int, ST_C_POSIX_SPAWN, -1, 0, 0, 0, str_room(path) + 12,
	       REAL(posix_spawn)(pid, path, fa, at, argv, envp), put_str(&c, ST_T_STR, path),
	       if (r == 0 && pid) { uint64_t p = (uint64_t)*pid; st_put(&c, ST_T_U64, &p, 8); });
}

ST_EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
                           const posix_spawnattr_t *at, char *const argv[], char *const envp[])
{
	TRACED(int, ST_C_POSIX_SPAWN, -1, 1, 0, 0, str_room(file) + 12,
	       REAL(posix_spawnp)(pid, file, fa, at, argv, envp), put_str(&c, ST_T_STR, file),
	       if (r == 0 && pid) { uint64_t p = (uint64_t)*pid; st_put(&c, ST_T_U64, &p, 8); });
}

/* An exec that works never returns: its record stays "entered", which the viewer reads as
 * the moment the process image was replaced. */
#define EXEC_TRACED(path, realcall) \
	TRACED(int, ST_C_EXEC, -1, 0, 0, 0, str_room(path), realcall, put_str(&c, ST_T_STR, path), NOTHING)

/*
 * The notices this process gave (or was told were given) go to the image it execs, as
 * SOCKTRACE_SAID in the environment passed to exec: the new image does not repeat them.
 * The environment of this process is left as it is (a copy of the pointer array is made on
 * the stack: the process image is about to go anyway).
 */
#define WITH_SAID(envp, out)                                                              \
	do {                                                                                  \
		uint64_t said_ = st_g.said | st_g.said_before;                                    \
		char *const *src_ = (envp);                                                       \
		(out) = (char **)src_;                                                            \
		if (!said_ || !src_)                                                              \
			break;                                                                        \
		size_t n_ = 0;                                                                    \
		while (src_[n_])                                                                  \
			n_++;                                                                         \
		char **v_ = alloca((n_ + 2) * sizeof(char *));                                    \
		char *var_ = alloca(40);                                                          \
		snprintf(var_, 40, "SOCKTRACE_SAID=%llx", (unsigned long long)said_);             \
		size_t k_ = 0;                                                                    \
		for (size_t i_ = 0; i_ < n_; i_++)                                                \
			if (strncmp(src_[i_], "SOCKTRACE_SAID=", 15))                                 \
				v_[k_++] = src_[i_];                                                      \
		v_[k_++] = var_;                                                                  \
		v_[k_] = NULL;                                                                    \
		(out) = v_;                                                                       \
	} while (0)

extern char **environ;

ST_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	char **env;
	WITH_SAID(envp, env);
	EXEC_TRACED(path, REAL(execve)(path, argv, env));
}

ST_EXPORT int execv(const char *path, char *const argv[])
{
	char **env;
	WITH_SAID(environ, env);
	EXEC_TRACED(path, REAL(execve)(path, argv, env));
}

ST_EXPORT int execvp(const char *file, char *const argv[])
{
	char **env;
	WITH_SAID(environ, env);
	EXEC_TRACED(file, REAL(execvpe)(file, argv, env));
}

ST_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	char **env;
	WITH_SAID(envp, env);
	EXEC_TRACED(file, REAL(execvpe)(file, argv, env));
}

/* execl* build an argv and go to glibc's execve internally; rebuild it and use ours. */
#define COLLECT_ARGS(arg0, ap, argv)                          \
	do {                                                                \
		va_list cp;                                                     \
		size_t n = 1;                                                   \
		va_copy(cp, ap);                                                \
		while (va_arg(cp, char *))                                      \
			n++;                                                        \
		va_end(cp);                                                     \
		argv = alloca((n + 1) * sizeof(char *));                        \
		argv[0] = (char *)(arg0);                                       \
		for (size_t i = 1; i <= n; i++)                                 \
			argv[i] = va_arg(ap, char *);                               \
	} while (0)

/* execl and execlp: the argv collected, then execv and execvp */
#define EXECL_WRAPPER(name, to)                                 \
	ST_EXPORT int name(const char *path, const char *arg, ...)  \
	{                                                           \
		char **argv;                                            \
		va_list ap;                                             \
		va_start(ap, arg);                                      \
		COLLECT_ARGS(arg, ap, argv);                            \
		va_end(ap);                                             \
		return to(path, argv);                                  \
	}
EXECL_WRAPPER(execl, execv)
EXECL_WRAPPER(execlp, execvp)

ST_EXPORT int execle(const char *path, const char *arg, ...)
{
	char **argv, **envp = NULL;
	va_list ap;
	va_start(ap, arg);
	COLLECT_ARGS(arg, ap, argv);
	envp = va_arg(ap, char **);
	va_end(ap);
	return execve(path, argv, envp);
}

/* _Fork runs no atfork handlers: the child's state is reset here. */
REAL_DECL(pid_t, _Fork, (void))

ST_EXPORT pid_t _Fork(void)
{
	struct st_call c;
	int traced = st_wbegin(&c, ST_C_FORK, -1, 1, 0, 0, 0);
	if (traced)
		st_enter(&c);
	pid_t r = REAL(_Fork)();
	if (r == 0)
		st_after_fork_child();
	if (traced) {
		st_exit(&c, r);
		st_done(&c);
	}
	return r;
}

/* ---- exit: the process's entry says it ended, with its status ---- */

REAL_DECL(void, _exit, (int))
REAL_DECL(void, _Exit, (int))

ST_EXPORT void _exit(int status)
{
	st_proc_exit(status);
	REAL(_exit)(status);
	for (;;)
		syscall(SYS_exit_group, status);
}

ST_EXPORT void _Exit(int status)
{
	st_proc_exit(status);
	REAL(_Exit)(status);
	for (;;)
		syscall(SYS_exit_group, status);
}

/* ---- credentials and root: map the trace while the process still may ---- */

static void before_drop(void)
{
	if (st_ready() && !st_g.map)
		st_trace_map(1);
}

static void after_drop(int r)
{
	struct st_proc *p = st_proc_of(st_g.proc_id);
	if (r == 0 && p && st_on())
		__atomic_fetch_or(&p->flags, ST_PF_SETUID, __ATOMIC_RELAXED);
}

#define CRED_WRAP(name, params, args)                 \
	REAL_DECL(int, name, params)                      \
	ST_EXPORT int name params                         \
	{                                                 \
		before_drop();                                \
		int r = REAL(name) args;                      \
		after_drop(r);                                \
		return r;                                     \
	}

CRED_WRAP(setuid, (uid_t u), (u))
CRED_WRAP(setgid, (gid_t g), (g))
CRED_WRAP(seteuid, (uid_t u), (u))
CRED_WRAP(setegid, (gid_t g), (g))
CRED_WRAP(setreuid, (uid_t r_, uid_t e), (r_, e))
CRED_WRAP(setregid, (gid_t r_, gid_t e), (r_, e))
CRED_WRAP(setresuid, (uid_t r_, uid_t e, uid_t s), (r_, e, s))
CRED_WRAP(setresgid, (gid_t r_, gid_t e, gid_t s), (r_, e, s))
CRED_WRAP(chroot, (const char *path), (path))
