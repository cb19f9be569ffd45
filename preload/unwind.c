/* Stacks: libunwind, loaded privately, fenced so that it never touches the program's fds. */
#include "st_preload.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <string.h>

/*
 * libunwind 1.6 validates memory (Debian builds it with conservative checks: every unw_step
 * that parses unwind info) by mincore() and then by writing one byte of the address into a
 * private pipe. That pipe is two real fds in the program's fd space: they shifted its fd
 * numbers, counted against its RLIMIT_NOFILE, and after the program closed them behind
 * libunwind's back (closefrom, a raw close_range) libunwind read and wrote the program's own
 * sockets. Here the pipe is made up: while we unwind, libunwind's pipe2() gets two fd
 * numbers no real fd can have, its read() of them finds nothing (EAGAIN), and its write
 * (syscall(SYS_write)) of one byte succeeds without a syscall — mincore(), which libunwind
 * calls first, has already said whether the page is mapped. No fd is ever made.
 */
#define FAKE_RD (-1000)
#define FAKE_WR (-1001)

static void *(*real_dlopen_p)(const char *, int);
static int unw_loading;

void *st_real_dlopen(const char *file, int mode)
{
	if (!real_dlopen_p)
		real_dlopen_p = dlsym(RTLD_NEXT, "dlopen");
	return real_dlopen_p ? real_dlopen_p(file, mode) : NULL;
}

/* The address range of the loaded object that holds sym. */
void st_text_range(const void *sym, uintptr_t *lo, uintptr_t *hi)
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

/* 1 when a libc call comes from libunwind while we unwind (its return address says so). */
int st_fw_active(const void *ret)
{
	return st_tls.nesting > 0 &&
	       (unw_loading || ((uintptr_t)ret >= st_g.unw_lo && (uintptr_t)ret < st_g.unw_hi));
}

int st_unw_fake_fd(int fd)
{
	return fd == FAKE_RD || fd == FAKE_WR;
}

/* libunwind's pipe2: two made-up numbers. */
void st_unw_pipe(int fds[2])
{
	fds[0] = FAKE_RD;
	fds[1] = FAKE_WR;
}

/* libunwind's read/write/close of an fd: ours are answered here; any other fd is the
 * program's, and libunwind gets EBADF without a syscall. Returns what the call returns. */
long st_unw_io(int op, int fd, size_t len)
{
	if (fd == FAKE_RD && op == 'r') {
		errno = EAGAIN;
		return -1;
	}
	if (fd == FAKE_WR && op == 'w')
		return (long)len;
	if (st_unw_fake_fd(fd) && op == 'c')
		return 0;
	errno = EBADF;
	return -1;
}

void st_unwind_init(void)
{
	st_g.stacks = 0;
	if (!st_g.cfg.depth)
		return;
	st_tls.nesting++;
	unw_loading = 1;
	void *h = st_real_dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
	void *fn = h ? dlsym(h, "unw_backtrace") : NULL;
	if (fn) {
		st_text_range(fn, &st_g.unw_lo, &st_g.unw_hi);
		st_g.unw_backtrace = (int (*)(void **, int))fn;
		void *warm[ST_MAX_FRAMES];
		st_g.unw_backtrace(warm, ST_MAX_FRAMES);  /* first unwind: ~0.2 ms, not on a hot path */
		st_g.stacks = (int)st_g.cfg.depth;
	} else {
		st_say_once(ST_SAY_UNWIND, "socktrace: cannot load libunwind.so.8 (%s); recording without stacks",
		            h ? "no unw_backtrace" : dlerror());
	}
	unw_loading = 0;
	st_tls.nesting--;
}

/*
 * Unwind the caller's stack straight into the record. unw_backtrace starts with the frame
 * that called it: this function (kept out of line for this) and then the wrapper that
 * st_begin is inlined into, so asking for depth + 2 frames written two slots before the
 * frame area lands the program's frames in place; a[1] and a[2] are filled afterwards. Any
 * other number of our own frames (a helper between wrapper and st_begin) is moved down.
 */
__attribute__((noinline)) unsigned st_capture_rec(struct st_rec *r, unsigned depth)
{
	uint64_t *base = &r->a[1];
	if (st_tls.in_loader)
		return 0;       /* libunwind would wait for the loader lock this thread holds */
	int saved = errno;
	int n = st_g.unw_backtrace((void **)base, (int)depth + 2);
	errno = saved;
	int own = 0;
	while (own < n && base[own] >= st_g.self_lo && base[own] < st_g.self_hi)
		own++;
	int keep = n - own < (int)depth ? n - own : (int)depth;
	if (keep <= 0)
		return 0;
	if (own != 2)
		memmove(base + 2, base + own, (size_t)keep * 8);
	return (unsigned)keep;
}
