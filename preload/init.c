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
#include <sys/syscall.h>
#include <unistd.h>

struct st_global st_g;
__thread struct st_tls st_tls __attribute__((tls_model("initial-exec")));

int st_gettid(void)
{
	return (int)syscall(SYS_gettid);
}

/* Print one line to stderr without going through stdio or our own wrappers. */
void st_say(const char *fmt, ...)
{
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

/* Say something at most once per process. */
void st_say_once(int what, const char *fmt, ...)
{
	static int said[ST_SAY_MAX];
	if (what <= 0 || what >= ST_SAY_MAX || __atomic_exchange_n(&said[what], 1, __ATOMIC_ACQ_REL))
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

static void config(struct st_config *cfg)
{
	const char *v;
	int ok;
	cfg->size = DEFAULT_SIZE;
	cfg->depth = 16;
	cfg->payload = 0;
	if ((v = getenv("SOCKTRACE_SIZE")) && *v) {
		uint64_t s = parse_size(v, &ok);
		if (!ok || s < (1ull << 20) || s > (64ull << 30))
			st_say("socktrace: SOCKTRACE_SIZE='%s' is not a size from 1M to 64G; using 64M", v);
		else
			cfg->size = s;
	}
	if ((v = getenv("SOCKTRACE_STACK_DEPTH")) && *v) {
		uint64_t d = parse_size(v, &ok);
		if (!ok || d > ST_MAX_FRAMES)
			st_say("socktrace: SOCKTRACE_STACK_DEPTH='%s' is not a number from 0 to %d; using 16",
			       v, ST_MAX_FRAMES);
		else
			cfg->depth = (unsigned)d;
	}
	if ((v = getenv("SOCKTRACE_PAYLOAD")) && *v) {
		uint64_t p = parse_size(v, &ok);
		if (!ok || p > 8192)
			st_say("socktrace: SOCKTRACE_PAYLOAD='%s' is not a byte count from 0 to 8192; using 0", v);
		else
			cfg->payload = (unsigned)p;
	}
	v = getenv("SOCKTRACE_DIR");
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

/* ---- libunwind, loaded privately so it cannot capture the program's _Unwind_* calls ---- */

static void text_range(void *sym, uintptr_t *lo, uintptr_t *hi)
{
	Dl_info di;
	struct link_map *lm = NULL;
	if (!dladdr1(sym, &di, (void **)&lm, RTLD_DL_LINKMAP) || !lm)
		return;
	const ElfW(Ehdr) *eh = di.dli_fbase;
	const ElfW(Phdr) *ph = (const ElfW(Phdr) *)((const char *)eh + eh->e_phoff);
	*lo = UINTPTR_MAX;
	*hi = 0;
	for (int i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type != PT_LOAD)
			continue;
		uintptr_t a = lm->l_addr + ph[i].p_vaddr;
		if (a < *lo)
			*lo = a;
		if (a + ph[i].p_memsz > *hi)
			*hi = a + ph[i].p_memsz;
	}
}

static void *(*real_dlopen_p)(const char *, int);
static int unw_loading;

int st_fw_active(const void *ret)
{
	return st_tls.nesting > 0 &&
	       (unw_loading || ((uintptr_t)ret >= st_g.unw_lo && (uintptr_t)ret < st_g.unw_hi));
}

static void stacks_init(void)
{
	st_g.stacks = 0;
	if (!st_g.cfg.depth)
		return;
	if (!real_dlopen_p)
		real_dlopen_p = dlsym(RTLD_NEXT, "dlopen");
	st_tls.nesting++;
	unw_loading = 1;
	void *h = real_dlopen_p ? real_dlopen_p("libunwind.so.8", RTLD_NOW | RTLD_LOCAL) : NULL;
	void *fn = h ? dlsym(h, "unw_backtrace") : NULL;
	if (fn) {
		text_range(fn, &st_g.unw_lo, &st_g.unw_hi);
		st_g.unw_backtrace = (int (*)(void **, int))fn;
		void *warm[ST_MAX_FRAMES];
		st_g.unw_backtrace(warm, ST_MAX_FRAMES);  /* first unwind: ~0.2 ms, not on a hot path */
		st_g.stacks = (int)st_g.cfg.depth;
	} else {
		st_say("socktrace: cannot load libunwind.so.8 (%s); recording without stacks",
		       h ? "no unw_backtrace" : dlerror());
	}
	unw_loading = 0;
	st_tls.nesting--;
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
	st_g.pid = (int)syscall(SYS_getpid);
	__atomic_store_n(&st_g.on, 0, __ATOMIC_RELEASE);
	if (st_g.attach_lock == 1)
		st_g.attach_lock = 0;
	st_fd_report_inherited_forget();
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
	if (getauxval(AT_SECURE)) {
		st_say("socktrace: not tracing a setuid/setgid program (AT_SECURE)");
		__atomic_store_n(&st_g.state, ST_DISABLED, __ATOMIC_RELEASE);
		errno = saved;
		return;
	}
	config(&st_g.cfg);
	text_range((void *)st_init, &st_g.self_lo, &st_g.self_hi);
	struct rlimit rl;
	st_g.hidden_base = 0;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur >= 128)
		st_g.hidden_base = (int)((rl.rlim_cur > 4096 ? 4096 : rl.rlim_cur) - 16);
	st_sock_init();
	stacks_init();
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

ST_EXPORT void *dlopen(const char *file, int mode)
{
	if (!real_dlopen_p)
		real_dlopen_p = dlsym(RTLD_NEXT, "dlopen");
	void *h = real_dlopen_p(file, mode);
	if (h && __atomic_load_n(&st_g.on, __ATOMIC_ACQUIRE))
		st_modules_scan();
	return h;
}
