/* The trace file: created once per trace, mapped by every process of it, its fd closed at once. */
#include "st_preload.h"
#include "socktrace_dir.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

uint64_t st_clock_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t clock_real(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rdtsc(void)
{
#if defined(__x86_64__) || defined(__i386__)
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
#else
	return 0;
#endif
}

/* The kernel trusts the TSC as its clock source: so can we (invariant, synchronised). */
static int tsc_usable(void)
{
#if defined(__x86_64__) || defined(__i386__)
	char buf[32] = "";
	int fd = (int)syscall(SYS_openat, AT_FDCWD,
	                      "/sys/devices/system/clocksource/clocksource0/current_clocksource",
	                      O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = syscall(SYS_read, fd, buf, sizeof(buf) - 1);
	syscall(SYS_close, fd);
	return n >= 3 && memcmp(buf, "tsc", 3) == 0 && (n == 3 || buf[3] == '\n');
#else
	return 0;
#endif
}

/* TSC ticks per second, measured against CLOCK_MONOTONIC over ~2 ms (once per trace; the
 * viewer refines the conversion with the (tsc, mono) pair every span carries). */
uint64_t st_calibrate_hz(void)
{
	uint64_t m0 = st_clock_mono(), t0 = rdtsc(), m1, t1;
	do {
		m1 = st_clock_mono();
		t1 = rdtsc();
	} while (m1 - m0 < 2000000);
	return (t1 - t0) * 1000000000ull / (m1 - m0);
}

static void point_at(uint8_t *map, size_t len)
{
	struct st_trace_hdr *h = (struct st_trace_hdr *)map;
	st_g.map = map;
	st_g.map_len = len;
	st_g.hdr = h;
	st_g.procs = (struct st_proc *)(map + h->proc_off);
	st_g.socks = (struct st_sock *)(map + h->sock_off);
	st_g.modf = (struct st_modfile *)(map + h->modf_off);
	st_g.modi = (struct st_modinst *)(map + h->modi_off);
	st_g.btab = (uint64_t *)(map + h->btab_off);
	st_g.ring = map + h->ring_off;
	st_g.ring_bytes = (uint64_t)h->nblocks * ST_BLOCK;
	st_g.tsc = (h->flags & ST_TF_TSC) != 0;
}

/* The one notice that this process is not traced, and why (once per trace). */
__attribute__((format(printf, 1, 2))) static void untraced(const char *fmt, ...)
{
	char why[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	st_say_once(ST_SAY_TRACE, "socktrace: %s; pid %d (%s, uid %u) not traced", why, st_g.pid,
	            st_g.comm, st_g.uid);
}

/* Check a trace another process made before writing into it. 0 ok, else a reason. */
static const char *check(const struct st_trace_hdr *h, size_t len)
{
	if (len < ST_HDR_SIZE || memcmp(h->magic, ST_MAGIC, 8) != 0)
		return "not a socktrace trace";
	if (h->version != ST_VERSION)
		return "written by another version of socktrace";
	if (h->layout != st_layout_id(ST_CALL_NAMES))
		return "written by an incompatible build of socktrace";
	struct st_trace_hdr want;
	memset(&want, 0, sizeof(want));
	if (!st_layout(&want, h->size_arg) || want.file_size != h->file_size || h->file_size != len || want.ring_off != h->ring_off ||
	    want.nblocks != h->nblocks || want.nproc != h->nproc || want.nsock != h->nsock)
		return "its header does not match its size";
	return NULL;
}

/* Map an existing trace. 0 ok, -1 with errno (ENOENT: there is none), -2 said why. */
static int open_existing(const char *path)
{
	char why[512];
	if (st_dir_symlink_ok(st_g.cfg.dir, why, sizeof(why)) < 0) {
		untraced("%s", why);
		return -2;
	}
	int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct stat sb;
	int rc = -2;
	if (syscall(SYS_fstat, fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size < ST_HDR_SIZE) {
		untraced("%s is not a trace file", path);
		goto out;
	}
	uint8_t *map = mmap(NULL, (size_t)sb.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		untraced("cannot map %s: %s", path, strerror(errno));
		goto out;
	}
	const char *bad = check((struct st_trace_hdr *)map, (size_t)sb.st_size);
	if (bad) {
		untraced("%s: %s (remove it or choose another SOCKTRACE_DIR)", path, bad);
		munmap(map, (size_t)sb.st_size);
		goto out;
	}
	point_at(map, (size_t)sb.st_size);
	rc = 0;
out:
	syscall(SYS_close, fd);
	return rc;
}

/* Build a new trace under a private name and link it into place, so a process that opens
 * trace.ring always finds it whole. 0 ok (ours or a racer's), -2 said why. */
static int create(const char *dir, const char *path)
{
	char tmp[1200];
	struct st_trace_hdr want;
	memset(&want, 0, sizeof(want));
	if (!st_layout(&want, st_g.cfg.size)) {
		untraced("SOCKTRACE_SIZE=%llu is too small", (unsigned long long)st_g.cfg.size);
		return -2;
	}
	char why[512];
	if (st_trace_dir_check(dir, 1, why, sizeof(why)) < 0) {
		untraced("%s", why);
		return -2;
	}
	snprintf(tmp, sizeof(tmp), "%s/.trace.%d.tmp", dir, (int)syscall(SYS_getpid));
	int fd = (int)syscall(SYS_openat, AT_FDCWD, tmp,
	                      O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		untraced("cannot create a trace in %s: %s", dir, strerror(errno));
		return -2;
	}
	size_t len = want.file_size;
	uint8_t *map = MAP_FAILED;
	/* reserve the blocks now: a sparse file would SIGBUS the program when the disk fills */
	if (syscall(SYS_fallocate, fd, 0, 0, (off_t)len) < 0) {
		untraced("cannot reserve %zu bytes for %s: %s", len, path, strerror(errno));
		goto fail;
	}
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		untraced("cannot map %s: %s", path, strerror(errno));
		goto fail;
	}
	/* Fault the pages in writable now (up to 256M): a first write to a file page on the hot
	 * path costs microseconds. Processes that map it later only take minor faults. */
	if (len <= (256u << 20) && madvise(map, len, 23 /* MADV_POPULATE_WRITE */) != 0)
		madvise(map, len, MADV_WILLNEED);
	struct st_trace_hdr *h = (struct st_trace_hdr *)map;
	memcpy(h, &want, sizeof(want));
	h->version = ST_VERSION;
	h->hdr_size = ST_HDR_SIZE;
	h->layout = st_layout_id(ST_CALL_NAMES);
	h->size_arg = st_g.cfg.size;
	h->stack_depth = st_g.cfg.depth;
	h->payload_cap = st_g.cfg.payload;
	h->creator_pid = (int)syscall(SYS_getpid);
	h->creator_uid = (uint32_t)syscall(SYS_getuid);
	if (tsc_usable()) {
		h->flags |= ST_TF_TSC;
		h->tsc_hz = st_calibrate_hz();
	}
	h->mono0 = st_clock_mono();
	h->real0 = clock_real();
	h->ts0 = (h->flags & ST_TF_TSC) ? rdtsc() : h->mono0;
	h->head = (uint64_t)h->nblocks * ST_BLOCK;   /* stream positions start at one lap */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	memcpy(h->magic, ST_MAGIC, 8);
	if (syscall(SYS_linkat, AT_FDCWD, tmp, AT_FDCWD, path, 0) != 0) {
		int e = errno;
		munmap(map, len);
		map = MAP_FAILED;
		syscall(SYS_unlinkat, AT_FDCWD, tmp, 0);
		syscall(SYS_close, fd);
		if (e == EEXIST)
			return open_existing(path) == 0 ? 0 : -2;
		untraced("cannot create %s: %s", path, strerror(e));
		return -2;
	}
	syscall(SYS_unlinkat, AT_FDCWD, tmp, 0);
	syscall(SYS_close, fd);
	point_at(map, len);
	return 0;
fail:
	if (map != MAP_FAILED)
		munmap(map, len);
	syscall(SYS_unlinkat, AT_FDCWD, tmp, 0);
	syscall(SYS_close, fd);
	return -2;
}

/*
 * Map the trace of SOCKTRACE_DIR, creating it when `create` is set and there is none.
 * Returns 0, or -1 after saying why (the caller then stops tracing).
 */
int st_trace_map(int create_it)
{
	static int failed;
	if (st_g.map)
		return 0;
	if (failed)
		return -1;
	int saved = errno;
	int rc = open_existing(st_g.cfg.path);
	if (rc == -1 && errno == ENOENT && create_it) {
		rc = create(st_g.cfg.dir, st_g.cfg.path);
	} else if (rc == -1 && create_it) {
		int e = errno;
		char why[512];
		/* name the component at fault (EACCES on a parent, not ENOENT on the file) */
		if (st_trace_dir_check(st_g.cfg.dir, 0, why, sizeof(why)) < 0)
			untraced("%s", why);
		else
			untraced("cannot open %s: %s", st_g.cfg.path, strerror(e));
	}
	if (rc == -2 || (rc == -1 && create_it))
		failed = 1;
	errno = saved;
	return rc == 0 ? 0 : -1;
}

/* ---- the process table ---- */

struct st_proc *st_proc_of(uint32_t id)
{
	if (!id || !st_g.hdr)
		return NULL;
	return &st_g.procs[(id - 1) % st_g.hdr->nproc];
}

/* 1 when process `id` is known to have ended (no probe). */
int st_proc_ended(uint32_t id)
{
	struct st_proc *p = st_proc_of(id);
	if (!p || __atomic_load_n(&p->id, __ATOMIC_ACQUIRE) != id)
		return 1;
	uint32_t s = __atomic_load_n(&p->state, __ATOMIC_ACQUIRE);
	return s == ST_PS_EXITED || s == ST_PS_GONE || s == ST_PS_EXECED;
}

/* 1 when process `id` can no longer write: it exited, was replaced, or is found dead. */
int st_proc_done(uint32_t id)
{
	struct st_proc *p = st_proc_of(id);
	if (!p || __atomic_load_n(&p->id, __ATOMIC_ACQUIRE) != id)
		return 1;               /* its slot went to a newer process */
	uint32_t s = __atomic_load_n(&p->state, __ATOMIC_ACQUIRE);
	if (s == ST_PS_EXITED || s == ST_PS_GONE || s == ST_PS_EXECED)
		return 1;
	if (s != ST_PS_LIVE || id == st_g.proc_id || st_g.seccomp)
		return 0;
	int saved = errno;
	int dead = syscall(SYS_kill, p->pid, 0) != 0 && errno == ESRCH;
	errno = saved;
	if (dead)
		__atomic_compare_exchange_n(&p->state, &s, ST_PS_GONE, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
	return dead;
}
