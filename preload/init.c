/* Start-up of libsocktrace.so: configuration, the ring file, the module map, fork, libunwind. */
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
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct st_global st_g;
__thread struct st_tls st_tls __attribute__((tls_model("initial-exec")));

static struct st_sock *parent_socktab;  /* fork child: the parent's table, until copied */
static uint8_t *parent_map;
static size_t parent_map_len;

uint64_t st_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

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

static void config(struct st_config *cfg)
{
	const char *v;
	int ok;
	cfg->size = 16ull << 20;
	cfg->depth = 16;
	cfg->payload = 0;
	if ((v = getenv("SOCKTRACE_SIZE")) && *v) {
		uint64_t s = parse_size(v, &ok);
		if (!ok || s < (4ull << 20) || s > (64ull << 30))
			st_say("socktrace: SOCKTRACE_SIZE='%s' is not a size from 4M to 64G; using 16M", v);
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
}

/* ---- small file helpers on raw syscalls ---- */

static ssize_t read_file(const char *path, char *buf, size_t cap)
{
	int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = syscall(SYS_read, fd, buf, cap);
	syscall(SYS_close, fd);
	return n;
}

static uint64_t start_ticks(void)
{
	char buf[1024];
	ssize_t n = read_file("/proc/self/stat", buf, sizeof(buf) - 1);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	if (!p)
		return 0;
	/* field 3 is state, right after ") "; starttime is field 22 */
	int field = 2;
	for (p++; *p && field < 22; p++)
		if (*p == ' ')
			field++;
	return strtoull(p, NULL, 10);
}

static int mkdirs(const char *dir)
{
	char tmp[1024];
	snprintf(tmp, sizeof(tmp), "%s", dir);
	for (char *p = tmp + 1; *p; p++) {
		if (*p == '/') {
			*p = 0;
			syscall(SYS_mkdirat, AT_FDCWD, tmp, 0755);
			*p = '/';
		}
	}
	if (syscall(SYS_mkdirat, AT_FDCWD, tmp, 0755) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

/* ---- modules: load bases and build-ids for offline symbolization ---- */

static int module_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	(void)data;
	struct st_file_hdr *h = st_g.hdr;
	uintptr_t lo = UINTPTR_MAX, hi = 0;
	const uint8_t *bid = NULL;
	unsigned bid_len = 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t a = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type == PT_LOAD) {
			if (a < lo)
				lo = a;
			if (a + ph->p_memsz > hi)
				hi = a + ph->p_memsz;
		} else if (ph->p_type == PT_NOTE && !bid) {
			const uint8_t *p = (const uint8_t *)a, *end = p + ph->p_memsz;
			while (p + sizeof(ElfW(Nhdr)) <= end) {
				const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
				const uint8_t *name = p + sizeof(*nh);
				const uint8_t *desc = name + ((nh->n_namesz + 3) & ~3u);
				if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
				    memcmp(name, "GNU", 4) == 0) {
					bid = desc;
					bid_len = nh->n_descsz > 20 ? 20 : nh->n_descsz;
					break;
				}
				p = desc + ((nh->n_descsz + 3) & ~3u);
			}
		}
	}
	if (hi == 0)
		return 0;
	uint32_t n = h->nmodules;
	for (uint32_t i = 0; i < n; i++)
		if (st_g.mods[i].base == info->dlpi_addr && st_g.mods[i].lo == lo)
			return 0;
	if (n >= ST_MAX_MODULES)
		return 1;
	struct st_module *m = &st_g.mods[n];
	m->base = info->dlpi_addr;
	m->lo = lo;
	m->hi = hi;
	m->build_id_len = (uint8_t)bid_len;
	if (bid)
		memcpy(m->build_id, bid, bid_len);
	const char *name = info->dlpi_name;
	if (!name || !*name) {
		ssize_t k = syscall(SYS_readlinkat, AT_FDCWD, "/proc/self/exe", m->path,
		                    sizeof(m->path) - 1);
		m->path[k > 0 ? k : 0] = 0;
	} else {
		snprintf(m->path, sizeof(m->path), "%s", name);
	}
	__atomic_store_n(&m->valid, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&h->nmodules, n + 1, __ATOMIC_RELEASE);
	return 0;
}

void st_modules_scan(void)
{
	if (st_g.ring_ok)
		dl_iterate_phdr(module_cb, NULL);
}

/* ---- the ring file ---- */

static void copy_parent_socktab(void)
{
	if (!parent_socktab)
		return;
	for (int fd = 0; fd < ST_SOCKTAB_N; fd++) {
		const struct st_sock *p = &parent_socktab[fd];
		if (p->seq && !(p->seq & 1) && p->origin != ST_OR_NONE && (st_fdkind[fd] & FK_MASK) == FK_SOCK)
			st_g.socktab[fd] = *p;
	}
	munmap(parent_map, parent_map_len);
	parent_socktab = NULL;
	parent_map = NULL;
}

/* The SIGPIPE disposition when the ring starts, so a later diagnosis knows it even when
 * signal(SIGPIPE, ...) was called before the first socket call. */
static void record_sigpipe_state(void)
{
	struct { void *handler; unsigned long flags; void *restorer; uint64_t mask; } ka;
	if (syscall(SYS_rt_sigaction, SIGPIPE, NULL, &ka, 8) != 0)
		return;
	uint64_t h = ka.handler == (void *)SIG_DFL ? 0 : ka.handler == (void *)SIG_IGN ? 1
	             : (uint64_t)(uintptr_t)ka.handler;
	st_event(ST_C_SIGACTION, -1, SIGPIPE, h, ka.flags | (1ull << 63), 0);
}

/*
 * Create, size and map this process's ring file, and close its fd at once so the program
 * can neither see nor close it. Returns 0, or -1 after saying why (tracing then stops).
 */
int st_ring_open(void)
{
	int saved = errno, rc = -1, fd = -1;
	char comm[32] = "", path[1200];
	size_t meta, len;
	ssize_t k = read_file("/proc/self/comm", comm, sizeof(comm) - 1);
	comm[k > 0 ? k : 0] = 0;
	for (char *p = comm; *p; p++)
		if (*p == '\n' || *p == '/' || *p == ' ')
			*p = *p == '\n' ? 0 : '_';
	if (!comm[0])
		snprintf(comm, sizeof(comm), "proc");
	uint64_t st = start_ticks();
	int pid = (int)syscall(SYS_getpid);
	if (mkdirs(st_g.cfg.dir) < 0) {
		st_say("socktrace: cannot create %s: %s; tracing disabled", st_g.cfg.dir, strerror(errno));
		goto out;
	}
	for (int i = 0; i < 100; i++) {
		if (i == 0)
			snprintf(path, sizeof(path), "%s/%s.%d.%llu.ring", st_g.cfg.dir, comm, pid,
			         (unsigned long long)st);
		else
			snprintf(path, sizeof(path), "%s/%s.%d.%llu.%d.ring", st_g.cfg.dir, comm, pid,
			         (unsigned long long)st, i);
		fd = (int)syscall(SYS_openat, AT_FDCWD, path,
		                  O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0) {
		st_say("socktrace: cannot create a ring file in %s: %s; tracing disabled", st_g.cfg.dir,
		       strerror(errno));
		goto out;
	}
	meta = 4096 + sizeof(struct st_module) * ST_MAX_MODULES +
	       sizeof(struct st_sock) * ST_SOCKTAB_N;
	meta = (meta + ST_CHUNK_SLOTS * ST_SLOT_SIZE - 1) & ~((size_t)ST_CHUNK_SLOTS * ST_SLOT_SIZE - 1);
	len = st_g.cfg.size;
	if (len < meta + 2 * ST_CHUNK_SLOTS * ST_SLOT_SIZE)
		len = meta + 2 * ST_CHUNK_SLOTS * ST_SLOT_SIZE;
	st_g.nchunks = (uint32_t)((len - meta) / (ST_CHUNK_SLOTS * ST_SLOT_SIZE));
	len = meta + (size_t)st_g.nchunks * ST_CHUNK_SLOTS * ST_SLOT_SIZE;
	/* reserve the blocks now: a sparse file would SIGBUS the program when the disk fills */
	if (syscall(SYS_fallocate, fd, 0, 0, (off_t)len) < 0) {
		st_say("socktrace: cannot reserve %zu bytes for %s: %s; tracing disabled", len, path,
		       strerror(errno));
		syscall(SYS_unlinkat, AT_FDCWD, path, 0);
		goto out;
	}
	st_g.map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (st_g.map == MAP_FAILED) {
		st_say("socktrace: cannot map %s: %s; tracing disabled", path, strerror(errno));
		st_g.map = NULL;
		syscall(SYS_unlinkat, AT_FDCWD, path, 0);
		goto out;
	}
	st_g.map_len = len;
	/* Fault the pages in writable now (up to 256M): a first write to a shared file page on
	 * the hot path is a page fault of microseconds, one per 16 records (measured: 10,000
	 * faults in 400k calls, ~50 ns a call). MAP_POPULATE maps shared pages read-only. */
	if (len <= (256u << 20) && madvise(st_g.map, len, 23 /* MADV_POPULATE_WRITE */) != 0)
		madvise(st_g.map, len, MADV_WILLNEED);
	struct st_file_hdr *h = st_g.hdr = (struct st_file_hdr *)st_g.map;
	h->version = ST_VERSION;
	h->hdr_size = 4096;
	h->slot_size = ST_SLOT_SIZE;
	h->chunk_slots = ST_CHUNK_SLOTS;
	h->nchunks = st_g.nchunks;
	h->max_modules = ST_MAX_MODULES;
	h->socktab_n = ST_SOCKTAB_N;
	h->sock_size = sizeof(struct st_sock);
	h->file_size = len;
	h->mod_off = 4096;
	h->socktab_off = h->mod_off + sizeof(struct st_module) * ST_MAX_MODULES;
	h->chunks_off = meta;
	struct timespec m, r;
	clock_gettime(CLOCK_MONOTONIC, &m);
	clock_gettime(CLOCK_REALTIME, &r);
	h->mono_ns = (uint64_t)m.tv_sec * 1000000000ull + (uint64_t)m.tv_nsec;
	h->real_ns = (uint64_t)r.tv_sec * 1000000000ull + (uint64_t)r.tv_nsec;
	h->start_ticks = st;
	h->pid = pid;
	h->ppid = (int)syscall(SYS_getppid);
	h->stack_depth = (uint32_t)st_g.stacks;
	h->payload_cap = st_g.cfg.payload;
	h->flags = parent_map ? ST_HF_FORK_CHILD : 0;
	snprintf(h->comm, sizeof(h->comm), "%s", comm);
	k = syscall(SYS_readlinkat, AT_FDCWD, "/proc/self/exe", h->exe, sizeof(h->exe) - 1);
	h->exe[k > 0 ? k : 0] = 0;
	k = read_file("/proc/self/cmdline", h->cmdline, sizeof(h->cmdline));
	h->cmdline_len = k > 0 ? (uint32_t)k : 0;
	st_g.mods = (struct st_module *)(st_g.map + h->mod_off);
	st_g.socktab = (struct st_sock *)(st_g.map + h->socktab_off);
	st_g.chunks = st_g.map + h->chunks_off;
	st_g.pid = pid;
	st_tls.chunk = NULL;  /* any chunk this thread held was in a parent's ring */
	__atomic_store_n(&st_g.ring_ok, 1, __ATOMIC_RELEASE);
	copy_parent_socktab();
	st_modules_scan();
	__atomic_thread_fence(__ATOMIC_RELEASE);
	memcpy(h->magic, ST_MAGIC, 8);
	rc = 0;
	record_sigpipe_state();
	st_fd_report_inherited();
out:
	if (fd >= 0)
		syscall(SYS_close, fd);
	if (rc != 0) {
		st_g.ring_ok = 0;
		__atomic_store_n(&st_g.state, ST_DISABLED, __ATOMIC_RELEASE);
	}
	errno = saved;
	return rc;
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

static void atfork_child(void)
{
	st_g.gen++;
	st_tls.gen = st_g.gen;
	st_tls.chunk = NULL;
	st_tls.tid = 0;
	st_tls.claiming = 0;
	st_g.pid = (int)syscall(SYS_getpid);
	if (st_g.ring_ok) {
		parent_map = st_g.map;
		parent_map_len = st_g.map_len;
		parent_socktab = st_g.socktab;
	}
	st_g.ring_ok = 0;
	if (st_g.ring_lazy == 2 || st_g.ring_lazy == 0)
		st_g.ring_lazy = 1;
	st_fd_report_inherited_forget();
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
	stacks_init();
	st_g.ring_lazy = 1;
	pthread_atfork(NULL, NULL, atfork_child);
	__atomic_store_n(&st_g.state, ST_READY, __ATOMIC_RELEASE);
	st_fd_scan();
	errno = saved;
}

/*
 * Create the ring on first need. One thread creates it; others that need it meanwhile
 * wait the fraction of a millisecond it takes. 0 when the ring is there.
 */
int st_ring_lazy_open(void)
{
	int expect = 1;
	if (__atomic_compare_exchange_n(&st_g.ring_lazy, &expect, 2, 0, __ATOMIC_ACQ_REL,
	                                __ATOMIC_ACQUIRE)) {
		int rc = st_ring_open();
		__atomic_store_n(&st_g.ring_lazy, 0, __ATOMIC_RELEASE);
		return rc;
	}
	while (__atomic_load_n(&st_g.ring_lazy, __ATOMIC_ACQUIRE) == 2)
		syscall(SYS_sched_yield);
	return __atomic_load_n(&st_g.ring_ok, __ATOMIC_ACQUIRE) ? 0 : -1;
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
	if (h && __atomic_load_n(&st_g.state, __ATOMIC_ACQUIRE) == ST_READY) {
		int saved = errno;
		st_modules_scan();
		errno = saved;
	}
	return h;
}
