/* This process's entry in the trace: made at its first socket call, marked at exit; its modules. */
#include "st_preload.h"

#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

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

static uint64_t sigpipe_now(void)
{
	struct { void *handler; unsigned long flags; void *restorer; uint64_t mask; } ka;
	if (syscall(SYS_rt_sigaction, SIGPIPE, NULL, &ka, 8) != 0)
		return 0;
	return ka.handler == (void *)SIG_DFL ? 0 : ka.handler == (void *)SIG_IGN ? 1
	       : (uint64_t)(uintptr_t)ka.handler;
}

/* ---- modules: load bases and build-ids for offline symbolization ---- */

static uint32_t fnv(uint32_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n--)
		h = (h ^ *b++) * 16777619u;
	return h;
}

/* The module-file entry for (path, build-id), made if new; 0 when the table is full. */
static uint32_t modfile(const char *path, const uint8_t *bid, unsigned bid_len, uint64_t lo, uint64_t hi)
{
	struct st_trace_hdr *h = st_g.hdr;
	uint32_t hash = fnv(fnv(2166136261u, path, strlen(path)), bid, bid_len);
	for (uint32_t i = 0; i < 64 && i < h->nmodf; i++) {
		struct st_modfile *m = &st_g.modf[(hash + i) % h->nmodf];
		uint32_t s = __atomic_load_n(&m->state, __ATOMIC_ACQUIRE);
		if (s == 2 && m->hash == hash && m->build_id_len == bid_len &&
		    memcmp(m->build_id, bid, bid_len) == 0 && m->lo == lo &&
		    strncmp(m->path, path, sizeof(m->path) - 1) == 0)
			return (uint32_t)((hash + i) % h->nmodf) + 1;
		if (s != 0)
			continue;
		if (!__atomic_compare_exchange_n(&m->state, &s, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			continue;
		m->hash = hash;
		m->lo = lo;
		m->hi = hi;
		m->build_id_len = (uint8_t)bid_len;
		memcpy(m->build_id, bid, bid_len);
		snprintf(m->path, sizeof(m->path), "%s", path);
		__atomic_store_n(&m->state, 2, __ATOMIC_RELEASE);
		return (uint32_t)((hash + i) % h->nmodf) + 1;
	}
	return 0;
}

#define MAX_SEEN 512
static uintptr_t seen[MAX_SEEN];     /* load biases already in the table for this image */
static int nseen;

static void add_module(uintptr_t base, uint32_t file)
{
	struct st_trace_hdr *h = st_g.hdr;
	uint64_t i = __atomic_fetch_add(&h->modi_next, 1, __ATOMIC_RELAXED);
	if (!file || i >= h->nmodi) {
		__atomic_fetch_add(&h->mods_dropped, 1, __ATOMIC_RELAXED);
		struct st_proc *p = st_proc_of(st_g.proc_id);
		if (p)
			__atomic_fetch_or(&p->flags, ST_PF_MODS_LOST, __ATOMIC_RELAXED);
		return;
	}
	struct st_modinst *mi = &st_g.modi[i];
	mi->file = file;
	mi->base = base;
	__atomic_store_n(&mi->image, st_g.proc_id, __ATOMIC_RELEASE);
}

static int module_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	(void)data;
	uintptr_t lo = UINTPTR_MAX, hi = 0;
	const uint8_t *bid = NULL;
	unsigned bid_len = 0;
	for (int i = 0; i < nseen; i++)
		if (seen[i] == info->dlpi_addr + 1)
			return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t a = ph->p_vaddr;
		if (ph->p_type == PT_LOAD) {
			if (a < lo)
				lo = a;
			if (a + ph->p_memsz > hi)
				hi = a + ph->p_memsz;
		} else if (ph->p_type == PT_NOTE && !bid) {
			const uint8_t *p = (const uint8_t *)(info->dlpi_addr + a), *end = p + ph->p_memsz;
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
	char path[ST_PATH_MAX];
	const char *name = info->dlpi_name;
	if (!name || !*name) {
		ssize_t k = st_g.seccomp ? -1 : syscall(SYS_readlinkat, AT_FDCWD, "/proc/self/exe", path,
		                                         sizeof(path) - 1);
		path[k > 0 ? k : 0] = 0;
	} else {
		snprintf(path, sizeof(path), "%s", name);
	}
	add_module(info->dlpi_addr, modfile(path, bid, bid_len, lo, hi));
	if (nseen < MAX_SEEN)
		seen[nseen++] = info->dlpi_addr + 1;
	return 0;
}

void st_modules_scan(void)
{
	if (!st_g.proc_id)
		return;
	int saved = errno;
	st_tls.in_loader++;
	dl_iterate_phdr(module_cb, NULL);
	st_tls.in_loader--;
	errno = saved;
}

/* ---- the entry ---- */

static struct st_proc *take_slot(uint32_t *idp)
{
	struct st_trace_hdr *h = st_g.hdr;
	for (int tries = 0; tries < 64; tries++) {
		uint32_t id = (uint32_t)__atomic_add_fetch(&h->proc_next, 1, __ATOMIC_RELAXED);
		if (!id)
			continue;
		struct st_proc *p = &st_g.procs[(id - 1) % h->nproc];
		uint32_t s = __atomic_load_n(&p->state, __ATOMIC_ACQUIRE);
		if (s == ST_PS_WRITING || (s == ST_PS_LIVE && !st_proc_done(p->id)))
			continue;
		s = __atomic_load_n(&p->state, __ATOMIC_ACQUIRE);
		if (s == ST_PS_WRITING || s == ST_PS_LIVE)
			continue;
		if (!__atomic_compare_exchange_n(&p->state, &s, ST_PS_WRITING, 0, __ATOMIC_ACQ_REL,
		                                 __ATOMIC_RELAXED))
			continue;
		*idp = id;
		return p;
	}
	__atomic_fetch_add(&h->procs_dropped, 1, __ATOMIC_RELAXED);
	return NULL;
}

/* The entry of the image this exec replaced (same pid and start time), marked replaced. */
static uint32_t exec_predecessor(int pid, uint64_t ticks)
{
	uint32_t *pidx = (uint32_t *)(st_g.map + st_g.hdr->pidx_off);
	uint32_t id = __atomic_load_n(&pidx[(uint32_t)pid % st_g.hdr->nproc], __ATOMIC_ACQUIRE);
	struct st_proc *p = st_proc_of(id);
	if (!p || p->id != id || p->pid != pid || p->start_ticks != ticks)
		return 0;
	uint32_t s = ST_PS_LIVE;
	if (!__atomic_compare_exchange_n(&p->state, &s, ST_PS_EXECED, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
		return 0;
	return id;
}

/* What the entry needs from the kernel, asked while that is allowed: at start, and in a
 * fork child right after the fork (st_after_fork_child), so that a process whose first
 * socket call comes after it installed a seccomp filter can still be given an entry. */
void st_proc_cache(void)
{
	st_g.pid = (int)syscall(SYS_getpid);
	st_g.ppid = (int)syscall(SYS_getppid);
	st_g.uid = (uint32_t)syscall(SYS_getuid);
	st_g.euid = (uint32_t)syscall(SYS_geteuid);
	syscall(SYS_prctl, PR_GET_NAME, st_g.comm, 0, 0, 0);
	st_g.comm[15] = 0;
	st_g.sigpipe = sigpipe_now();
	st_g.start_ticks = 0;       /* read at attach, if still allowed */
}

static void fill(struct st_proc *p, uint32_t id)
{
	if (!st_g.seccomp) {
		st_proc_cache();
		st_g.start_ticks = start_ticks();
		if (!st_g.cmdline_len) {
			ssize_t k = read_file("/proc/self/cmdline", st_g.cmdline, sizeof(st_g.cmdline));
			st_g.cmdline_len = k > 0 ? (uint32_t)k : 0;
		}
	}
	memset((char *)p + sizeof(p->state), 0, sizeof(*p) - sizeof(p->state));
	p->id = id;
	p->pid = st_g.pid;
	p->ppid = st_g.ppid;
	p->uid = st_g.uid;
	p->euid = st_g.euid;
	p->start_ticks = st_g.start_ticks;
	p->t_start = st_ts();
	p->sigpipe = st_g.sigpipe;
	p->stack_depth = (uint32_t)st_g.stacks;
	p->payload_cap = st_g.cfg.payload;
	if (st_g.seccomp)
		p->flags |= ST_PF_SECCOMP | ST_PF_NOSTACKS;
	if (st_g.parent_id) {
		p->parent = st_g.parent_id;
		p->flags |= ST_PF_FORK;
		p->image = st_g.image_id;
	} else {
		p->parent = exec_predecessor(p->pid, p->start_ticks);
		if (p->parent)
			p->flags |= ST_PF_EXEC;
		p->image = id;
	}
	memcpy(p->comm, st_g.comm, sizeof(p->comm));
	memcpy(p->cmdline, st_g.cmdline, st_g.cmdline_len);
	p->cmdline_len = st_g.cmdline_len;
}

static int do_attach(void)
{
	if (!st_g.map && (st_g.seccomp || st_trace_map(1) != 0))
		return -1;      /* (under a seccomp filter the trace cannot be opened now) */
	uint32_t id = 0;
	struct st_proc *p = take_slot(&id);
	if (!p) {
		st_say_once(ST_SAY_PROCS, "socktrace: the trace's process table is full (raise SOCKTRACE_SIZE); "
		            "pid %d (%s, uid %u) not traced, nor others after it", st_g.pid, st_g.comm, st_g.uid);
		return -1;
	}
	fill(p, id);
	__atomic_store_n(&p->state, ST_PS_LIVE, __ATOMIC_RELEASE);
	uint32_t *pidx = (uint32_t *)(st_g.map + st_g.hdr->pidx_off);
	__atomic_store_n(&pidx[(uint32_t)p->pid % st_g.hdr->nproc], id, __ATOMIC_RELEASE);
	st_g.proc_id = id;
	if (!st_g.parent_id) {
		st_g.image_id = id;
		nseen = 0;
	}
	st_modules_scan();
	st_sock_publish_all();
	__atomic_store_n(&st_g.state, ST_ON, __ATOMIC_RELEASE);
	/* the SIGPIPE disposition at start, for a diagnosis that needs it although signal()
	 * came before the first socket call; then the sockets inherited at start */
	st_event(ST_C_SIGACTION, -1, SIGPIPE, p->sigpipe, 1ull << 63, 0);
	if (!st_g.seccomp)
		st_fd_report_inherited();
	return 0;
}

/*
 * Give this process its entry in the trace (mapping the trace first, creating it if there
 * is none). One thread attaches; others wait the fraction of a millisecond it takes.
 * 0 when the process is traced; -1 when it is not (and tracing is off for good).
 */
int st_attach(void)
{
	int expect = 0;
	if (__atomic_compare_exchange_n(&st_g.attach_lock, &expect, 1, 0, __ATOMIC_ACQ_REL,
	                                __ATOMIC_ACQUIRE)) {
		int saved = errno;
		st_tls.nesting++;
		int rc = do_attach();
		st_tls.nesting--;
		if (rc != 0)
			__atomic_store_n(&st_g.state, ST_DISABLED, __ATOMIC_RELEASE);
		__atomic_store_n(&st_g.attach_lock, rc == 0 ? 0 : 2, __ATOMIC_RELEASE);
		errno = saved;
		return rc;
	}
	while (__atomic_load_n(&st_g.attach_lock, __ATOMIC_ACQUIRE) == 1)
		if (!st_g.seccomp)
			syscall(SYS_sched_yield);
	return st_on() ? 0 : -1;
}

/* The process ends normally with `status`: say so in the trace and free its spans. */
void st_proc_exit(int status)
{
	static int done;
	if (!st_on() || __atomic_exchange_n(&done, 1, __ATOMIC_ACQ_REL))
		return;
	status &= 0xff;     /* what the parent sees: exit(-1) is 255 */
	/* sockets the exit closes with data unread go out with an RST: say so, as a close would */
	for (int w = 0; w < ST_FDTAB; w += 8) {     /* (8 fds a load: most words are 0) */
		uint64_t k;
		memcpy(&k, st_fdkind + w, 8);
		for (int fd = w; k && fd < w + 8; fd++, k >>= 8)
			if ((k & FK_MASK) == FK_SOCK)
				st_sockstate_if(fd, 1);
	}
	st_event(ST_C_EXIT, -1, (uint64_t)(int64_t)status, 0, 0, 0);
	struct st_proc *p = st_proc_of(st_g.proc_id);
	if (!p || p->id != st_g.proc_id)
		return;
	st_thread_exit();
	p->exit_status = status;
	p->t_end = st_ts();
	uint32_t s = ST_PS_LIVE;
	__atomic_compare_exchange_n(&p->state, &s, ST_PS_EXITED, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

/*
 * A seccomp filter is about to be installed (or already was, at start): from now on the
 * tracer makes no syscall the program did not make itself — no stacks (libunwind's memory
 * validation calls mincore), no probes of unknown fds, no address lookups, no liveness
 * checks of other processes, nothing written to stderr — and the process's entry says so.
 */
void st_seccomp_on(void)
{
	if (st_g.seccomp)
		return;
	st_g.seccomp = 1;
	st_g.stacks = 0;
	struct st_proc *p = st_proc_of(st_g.proc_id);
	if (p && st_on())
		__atomic_fetch_or(&p->flags, ST_PF_SECCOMP | ST_PF_NOSTACKS, __ATOMIC_RELAXED);
}
