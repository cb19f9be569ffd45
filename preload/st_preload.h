/* Internal interfaces of libsocktrace.so: global state, the record API, fd and socket bookkeeping. */
#ifndef ST_PRELOAD_H
#define ST_PRELOAD_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "socktrace_format.h"
#include "socktrace_calls.h"

#define ST_EXPORT __attribute__((visibility("default")))

/* The tracer's own syscalls go straight to libc's syscall(), not through our interposed one
 * (wrap_sys.c), which would record or reroute them. */
long st_rawsys(long n, ...);
#define syscall(...) st_rawsys(__VA_ARGS__)
#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* The one state word. READY: configured, this process has no entry yet (before its first
 * socket call, and in a fresh fork child); ON: the trace is mapped and the process has its
 * entry, records are written; DISABLED: off for good (said once on stderr). */
enum st_state { ST_UNINIT, ST_INITING, ST_READY, ST_ON, ST_DISABLED };

struct st_config {
	uint64_t size;
	unsigned depth;
	unsigned payload;
	char dir[1024];
	char path[1100];                /* dir/trace.ring */
};

struct st_global {
	int state;                      /* enum st_state, accessed atomically */
	int tsc;                        /* timestamps are rdtsc ticks */
	int stacks;                     /* stack depth in use (0 = off) */
	struct st_config cfg;
	/* the trace file (trace.c) */
	uint8_t *map;
	size_t map_len;
	struct st_trace_hdr *hdr;
	struct st_proc *procs;
	struct st_sock *socks;
	struct st_modfile *modf;
	struct st_modinst *modi;
	uint64_t *btab;
	uint8_t *ring;
	uint64_t ring_bytes;
	int attach_lock;                /* 0 free, 1 a thread is attaching this process */
	/* this process (proc.c) */
	uint32_t proc_id;               /* our entry, 0 until the first record */
	uint32_t parent_id;             /* fork child: the parent's entry */
	uint32_t image_id;              /* whose module list we share (fork: the parent's) */
	uint32_t mods_seen;             /* modules already put in the table by this image */
	int pid, ppid;                  /* cached for the entry (st_proc_cache) */
	uint32_t uid, euid;
	uint64_t start_ticks;
	uint64_t sigpipe;               /* SIGPIPE disposition as last set (0 DFL, 1 IGN, handler) */
	char comm[16];
	int seccomp;                    /* a seccomp filter is installed: no syscall of our own */
	uint64_t said;                  /* st_say_once notices given by this process */
	uint64_t said_before;           /* ... and by the image that exec'd it (SOCKTRACE_SAID) */
	uint32_t gen;                   /* bumped in each fork child */
	char cmdline[152];              /* copied into fork children's entries */
	uint32_t cmdline_len;
	/* libunwind */
	uintptr_t self_lo, self_hi;     /* our own text: frames to skip */
	uintptr_t unw_lo, unw_hi;       /* libunwind's text: its calls hit the fd firewall */
	int (*unw_backtrace)(void **, int);
};

extern struct st_global st_g;

struct st_tls {
	uint8_t *cur, *end;             /* free space in the current span */
	struct st_span *span;           /* current span, NULL if none */
	int busy;                       /* cur/end/span being changed: a signal handler keeps off */
	int nesting;                    /* traced calls in progress on this thread (signal
	                                 * handlers nest) */
	int writing;                    /* records being written right now on this thread: a
	                                 * span one of them is in is not retired */
	struct st_span *entry_span;     /* span of the outermost call's entry while it is in
	                                 * progress: kept, so a call blocked for an hour while a
	                                 * signal handler writes still has its entry */
	int tid;
	uint64_t inj_cap;               /* short= in force for the call being made: bytes at most */
	uint32_t gen;                   /* st_g.gen this thread's state belongs to */
	uint32_t next_blocks;           /* size of the next span this thread claims */
	int npending;
	int key_set;                    /* thread-exit hook registered */
	int in_loader;                  /* inside dlopen/dlclose/dl_iterate_phdr: no stacks */
	struct st_span *pending[4];     /* spans to retire when no record write is in progress */
};

extern __thread struct st_tls st_tls __attribute__((tls_model("initial-exec")));

/* One call being recorded. Only what the common path needs lives here; the rest (call, fd,
 * arguments, entry time) is read back from the entry record when an exit record of its own
 * has to be written. */
struct st_call {
	struct st_rec *r;               /* NULL: not recording */
	struct st_span *span;           /* span the record lives in */
	uint64_t w;                     /* the record word without its kind: check, length, flags */
	uint64_t pos;                   /* stream position of the record */
	uint64_t enter_pos;             /* kind EXIT: where the entry is */
	uint64_t t_enter;               /* the entry's time, call and fd: a completion written */
	int fd;                         /* apart still has them when its entry was overwritten */
	uint8_t call;                   /* meanwhile (an hour-long call in a busy trace) */
	unsigned len;                   /* bytes reserved for the record */
	unsigned off;                   /* blob write offset, from the record's start */
	unsigned extra;                 /* bound of the exit phase's TLV bytes */
	uint8_t flags;                  /* ST_RF_* */
	uint8_t kind;                   /* kind to commit: ST_K_ENTERED / COMPLETE / EXIT */
	uint8_t priv;                   /* the record has a span of its own (retire after it) */
	uint8_t slow;                   /* anything but a fixed-size record in the thread's span */
};

/* Mark the record with a flag (before st_enter). */
#define ST_FLAG(c, f) (st_call_careful(c), (c)->flags |= (f))

/* Stream position of the call's entry record (the viewer's "ticket" of the call). */
#define ST_ENTRY_POS(c) ((c)->kind == ST_K_EXIT ? (c)->enter_pos : (c)->pos)

/*
 * The modules, bottom layer first. Each calls only the layers below it (tests/layers.sh
 * checks this from the objects' symbols):
 *   config.c  <- trace.c (+ the process table) <- unwind.c <- ring.c <- record.c
 *   <- socktab.c <- fdtab.c <- proc.c <- inject.c, init.c and the wrappers (wrap_*.c).
 */

/* ---- configuration, shared state, our own syscalls, stderr: config.c ---- */
void st_config_read(struct st_config *cfg);
void st_say_init(void);             /* note what fd 2 is at start */
void st_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void st_say_once(int what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
enum { ST_SAY_NOSPACE = 1, ST_SAY_PROCS, ST_SAY_TRACE, ST_SAY_SIZE, ST_SAY_DEPTH, ST_SAY_PAYLOAD,
       ST_SAY_VAR, ST_SAY_EMPTYDIR, ST_SAY_SECURE, ST_SAY_UNWIND, ST_SAY_MAX };
int st_gettid(void);
void *st_resolve(const char *name, void **slot);

/* 1 when records are being written (the trace is mapped and this process has its entry) */
static inline int st_on(void)
{
	return __atomic_load_n(&st_g.state, __ATOMIC_ACQUIRE) == ST_ON;
}

/* What each fd number is (written by fdtab.c, read by every layer). */
enum st_fdkind { FK_UNKNOWN = 0, FK_SOCK = 1, FK_OTHER = 2 };
#define FK_MASK      0x0f
#define FK_EPOLLSOCK 0x10           /* an epoll fd that watches sockets */
#define ST_FDTAB     65536
extern uint8_t st_fdkind[ST_FDTAB];

static inline int st_fd_kind(int fd)
{
	return fd >= 0 && fd < ST_FDTAB ? st_fdkind[fd] & FK_MASK : FK_UNKNOWN;
}

/* ---- the trace file and its process table: trace.c ---- */
int st_trace_map(int create);       /* map SOCKTRACE_DIR/trace.ring (creating it); 0 ok */
uint64_t st_clock_mono(void);
uint64_t st_calibrate_hz(void);
struct st_proc *st_proc_of(uint32_t id);
int st_proc_done(uint32_t id);      /* 1 when the process can no longer write (may probe) */
int st_proc_ended(uint32_t id);     /* 1 when it is known to have ended */

static inline uint64_t st_ts(void)
{
#if defined(__x86_64__) || defined(__i386__)
	if (likely(st_g.tsc)) {
		uint32_t lo, hi;
		__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
		return (uint64_t)hi << 32 | lo;
	}
#endif
	return st_clock_mono();
}

/* ---- stacks: unwind.c (the whole libunwind firewall) ---- */
void st_unwind_init(void);
void st_text_range(const void *sym, uintptr_t *lo, uintptr_t *hi);
void *st_real_dlopen(const char *file, int mode);
int st_fw_active(const void *ret_addr);  /* call comes from libunwind while we unwind */
int st_unw_fake_fd(int fd);
void st_unw_pipe(int fds[2]);
long st_unw_io(int op, int fd, size_t len);
unsigned st_capture_rec(struct st_rec *r, unsigned depth);

/* ---- spans: ring.c ---- */
struct st_rec *st_reserve_slow(unsigned len, uint64_t *pos, struct st_span **sp, uint8_t *priv);
void st_retire(struct st_span *s);
void st_retire_pending(void);
void st_thread_exit(void);
void st_ring_init(void);

static inline void st_sigfence(void) { __atomic_signal_fence(__ATOMIC_SEQ_CST); }

/* An increment that a signal handler on this thread cannot tear (one instruction). */
static inline void st_inc32(uint32_t *p)
{
#if defined(__x86_64__) || defined(__i386__)
	__asm__ volatile("incl %0" : "+m"(*p) : : "memory");
#else
	__atomic_fetch_add(p, 1, __ATOMIC_RELAXED);
#endif
}

/*
 * Claim `len` bytes of this thread's span for one record. The common case is a bump of a
 * thread-local pointer between two compiler barriers: a signal handler that lands inside
 * the bump (busy) takes a span of its own instead of racing for this one. A fork child
 * starts with no span (st_after_fork_child), so it claims its own.
 */
static inline struct st_rec *st_reserve(unsigned len, uint64_t *pos, struct st_span **sp,
                                        uint8_t *priv)
{
	if (likely(!st_tls.busy)) {
		st_tls.busy = 1;
		st_sigfence();
		uint8_t *p = st_tls.cur;
		if (likely((uintptr_t)p + len <= (uintptr_t)st_tls.end)) {
			st_tls.cur = p + len;
			struct st_span *s = st_tls.span;
			st_sigfence();
			st_tls.busy = 0;
			*pos = s->pos + (uint64_t)(p - (uint8_t *)s);
			*sp = s;
			*priv = 0;
			return (struct st_rec *)p;
		}
		st_sigfence();
		st_tls.busy = 0;
	}
	return st_reserve_slow(len, pos, sp, priv);
}

/* ---- records: record.c ---- */
void st_call_careful(struct st_call *c);
void st_put(struct st_call *c, int type, const void *p, unsigned len);
void st_put_iov(struct st_call *c, int type, const struct iovec *iov, size_t n, size_t len);
void st_put_addr(struct st_call *c, int type, const struct sockaddr *sa, socklen_t len);
void st_enter_slow(struct st_call *c);
void st_exit_slow(struct st_call *c, long ret, int err, uint64_t t);
void st_done_slow(struct st_call *c);
/* An argument known only once the call returned (after st_exit, before st_done). */
static inline void st_set_arg(struct st_call *c, int i, uint64_t v)
{
	if (c->r)
		c->r->a[i] = v;
}
/* A record with no real call behind it; `put` (may be NULL) adds up to `extra` TLV bytes. */
void st_event_x(int call, int fd, uint64_t a0, uint64_t a1, uint64_t a2, long ret, unsigned extra,
                void (*put)(struct st_call *c, int fd, const void *arg), const void *arg);
static inline void st_event(int call, int fd, uint64_t a0, uint64_t a1, uint64_t a2, long ret)
{
	st_event_x(call, fd, a0, a1, a2, ret, 0, NULL, NULL);
}

/* The class of a call (the catalogue's), for the preload's few decisions by class. */
static inline int st_class_of(int call)
{
	static const unsigned char cls[] = {
		0,
#define ST_X_PCLS(id, name, c, ...) ST_CL_##c,
		ST_CALLS(ST_X_PCLS)
#undef ST_X_PCLS
	};
	return call > 0 && call < (int)sizeof(cls) ? cls[call] : -1;
}

/*
 * Begin recording `call` on `fd` (when records are being written: the wrappers' st_wbegin
 * starts the tracer first); `extra` bounds the TLV bytes the caller adds with st_put
 * in each phase. Returns 0 (and records nothing) when not tracing. On 1 the caller must go
 * through st_enter, the real call, st_exit and st_done. Inlined into every wrapper: the
 * common path is a few dozen instructions, no call and no locked instruction.
 */
static inline __attribute__((always_inline)) int
st_begin_on(struct st_call *c, int call, int fd, uint64_t a0, uint64_t a1, uint64_t a2, unsigned extra)
{
	int nested = unlikely(st_tls.nesting++ > 0);
	uint64_t t = st_ts();
	unsigned depth = nested ? 0 : (unsigned)st_g.stacks;
	unsigned len = (64 + depth * 8 + extra + 7) & ~7u;
	uint8_t flags = nested ? ST_RF_NESTED : 0;
	if (unlikely(len > ST_REC_MAX)) {
		len = ST_REC_MAX;
		flags |= ST_RF_TRUNC;
	}
	st_tls.writing++;
	st_sigfence();
	struct st_rec *r = st_reserve(len, &c->pos, &c->span, &c->priv);
	if (unlikely(!r)) {
		st_tls.writing--;
		st_tls.nesting--;
		c->r = NULL;
		return 0;
	}
	uint64_t w = ST_RW(c->pos, len, 0, flags);      /* kind 0: WRITING */
	__atomic_store_n(&r->w, w, __ATOMIC_RELAXED);
	st_sigfence();
	st_inc32(&c->span->nrec);
	r->t_enter = t;
	r->call = (uint8_t)call;
	r->fd = fd;
	unsigned nf = depth ? st_capture_rec(r, depth) : 0;
	r->nframes = (uint8_t)nf;
	r->a[0] = a0;
	r->a[1] = a1;
	r->a[2] = a2;
	c->r = r;
	c->w = w;
	c->t_enter = t;
	c->fd = fd;
	c->call = (uint8_t)call;
	c->slow = 64 + nf * 8 != len || c->priv;
	if (unlikely(c->slow || flags)) {   /* what only the careful paths read */
		c->slow = 1;
		c->len = len;
		c->off = 64 + nf * 8;
		c->extra = extra;
		c->flags = flags;
		c->kind = ST_K_ENTERED;
	}
	return 1;
}

static inline __attribute__((always_inline)) int
st_begin(struct st_call *c, int call, int fd, uint64_t a0, uint64_t a1, uint64_t a2, unsigned extra)
{
	if (unlikely(__atomic_load_n(&st_g.state, __ATOMIC_RELAXED) != ST_ON)) {
		c->r = NULL;
		return 0;
	}
	return st_begin_on(c, call, fd, a0, a1, a2, extra);
}

/* The entry is written: make it visible (the call may never return). */
static inline void st_enter(struct st_call *c)
{
	if (likely(!c->slow)) {
		__atomic_store_n(&c->r->w, c->w | ST_K_ENTERED, __ATOMIC_RELEASE);
		st_sigfence();
		st_tls.writing--;
		if (st_tls.nesting == 1)
			st_tls.entry_span = c->span;
	} else {
		st_enter_slow(c);
	}
}

/* The call returned `ret` (errno holds its error when ret < 0). */
static inline void st_exit(struct st_call *c, long ret)
{
	int err = ret < 0 ? errno : 0;
	uint64_t t = st_ts();
	st_tls.writing++;
	st_sigfence();
	if (likely(c->span == st_tls.span && !c->slow)) {
		struct st_rec *r = c->r;
		r->t_exit = t;
		r->ret = ret;
		r->err = (int16_t)err;
	} else {
		st_exit_slow(c, ret, err, t);
	}
}

/* Commit the record; errno is as the real call left it. */
static inline void st_done(struct st_call *c)
{
	if (likely(!c->slow)) {
		__atomic_store_n(&c->r->w, c->w | ST_K_COMPLETE, __ATOMIC_RELEASE);
		st_sigfence();
		st_tls.writing--;
		if (likely(--st_tls.nesting == 0) && unlikely(st_tls.npending))
			st_retire_pending();
	} else {
		st_done_slow(c);
	}
}

/* ---- sockets: socktab.c ---- */
void st_sock_note(int fd, int origin, int domain, int type, int protocol, uint64_t birth);
void st_sock_put_known(int fd, struct st_call *c);
void st_sock_addrs(int fd, struct st_call *c, int want_local, int want_peer);
void st_sock_clear(int fd);
int st_sock_local_unknown(int fd);
void st_sock_set_peer(int fd, const struct sockaddr *sa, socklen_t len);
void st_sock_copy(int from, int to);
int st_sock_kind_known(int fd, int *dom, int *type, int *proto);
void st_sock_kind(int fd, int *dom, int *type, int *proto);     /* asked of the kernel */
void st_sock_publish_all(void);     /* a new entry: put our live sockets under our id */
void st_sock_init(void);
void st_sockstate(int fd);          /* the kernel's view of the socket, as a record */
void st_sockstate_if(int fd, int only_unread);
void st_after_error(int call, int fd, int err);

/* ---- fds: fdtab.c ---- */
void st_fd_set(int fd, int kind);
int st_fd_probe(int fd);            /* fstat an fd of unknown kind: 1 for a socket */
void st_fd_found(int fd, int call, int origin);  /* log a socket we did not see made */
void st_fd_scan(void);              /* sockets open at start: inherited */
void st_fd_report_inherited(void);  /* log them, once the process has its entry */
void st_fd_report_inherited_forget(void);

/* ---- this process's entry: proc.c ---- */
int st_attach(void);                /* make this process's entry; 0 ok */
void st_proc_cache(void);
void st_proc_exit(int status);      /* normal exit: mark the entry, retire our spans */
void st_modules_scan(void);
void st_seccomp_on(void);           /* no syscall of our own from now on */

/* ---- fault injection: inject.c ---- */
extern int st_inj_on;               /* 1 while rules may apply (until read and found none) */
struct st_inj {
	int fired, skip;                /* a rule picked the call; the call is not made */
	uint64_t delay_ns;              /* delay=: slept inside the call, before the real one */
	long ret;
	int err;
	const char *text;               /* "error=EPIPE", recorded with the call */
};
int st_inject_pre(int call, int fd, uint64_t a1, struct st_inj *out);
long st_inject_result(const struct st_inj *in, int call, uint64_t a1);
void st_inject_sleep(uint64_t ns);
void st_inject_after(int call, int fd, uint64_t a1, long ret);
void st_inject_forget(int fd);
void st_inject_fork_child(void);
size_t st_cap_len(size_t n);
struct iovec;
const struct iovec *st_cap_iov(const struct iovec *iov, int n, int *outn);

/* ---- start-up, fork, the loader: init.c; and what the wrappers share ---- */
int st_ready(void);                 /* 1 when calls may be recorded (initialises lazily) */
int st_start(int call, int fd);     /* the first call that attaches: 1 when records are on */
void st_after_fork_child(void);     /* fork, _Fork, raw clone: fresh per-process state */
int st_is_sock_slow(int fd);

/* 1 if fd is a socket of the program: cached per fd number, probed once otherwise. */
static inline int st_is_sock(int fd)
{
	if (likely((unsigned)fd < ST_FDTAB)) {
		int k = st_fdkind[fd] & FK_MASK;
		if (likely(k != FK_UNKNOWN))
			return k == FK_SOCK;
	}
	return st_is_sock_slow(fd);
}

#endif
