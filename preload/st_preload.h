/* Internal interfaces of libsocktrace.so: global state, the record API, fd bookkeeping. */
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
#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

enum st_state { ST_UNINIT, ST_INITING, ST_READY, ST_DISABLED };

struct st_config {
	uint64_t size;
	unsigned depth;
	unsigned payload;
	char dir[1024];
};

struct st_global {
	int state;                      /* enum st_state, accessed atomically */
	struct st_config cfg;
	int ring_ok;                    /* this process has a mapped ring */
	int ring_lazy;                  /* 1: create the ring on first need, 2: being created */
	uint8_t *map;
	size_t map_len;
	struct st_file_hdr *hdr;
	uint8_t *chunks;
	uint32_t nchunks;
	struct st_sock *socktab;
	struct st_module *mods;
	int pid;
	uint32_t gen;                   /* bumped in each fork child */
	uintptr_t self_lo, self_hi;     /* our own text: frames to skip */
	uintptr_t unw_lo, unw_hi;       /* libunwind's text: its calls hit the fd firewall */
	int (*unw_backtrace)(void **, int);
	int stacks;                     /* stack depth in use (0 = off) */
	int hidden_base;                /* where libunwind's pipe fds are moved to */
};

extern struct st_global st_g;

struct st_tls {
	int nesting;                    /* >0 while inside the tracer on this thread */
	int tid;
	uint32_t gen;
	uint32_t idx;                   /* next free slot in the current chunk */
	uint8_t *chunk;                 /* current chunk, NULL if none */
	uint64_t cticket;
	int claiming;
};

extern __thread struct st_tls st_tls __attribute__((tls_model("initial-exec")));

/* One call being recorded. */
struct st_call {
	struct st_rec *r;               /* NULL: not recording */
	uint64_t ticket;
	unsigned off, cap;              /* blob write offset and capacity */
	int err;                        /* errno of the real call */
	uint16_t call;
	int fd;
	uint64_t a[3];
	uint64_t ts_enter;
	uint32_t gen;                   /* process generation at begin (fork detection) */
};

/* Lifecycle: init.c */
int st_ready(void);                 /* 1 when calls should be recorded (may init lazily) */
void st_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
uint64_t st_now(void);
int st_gettid(void);
void *st_resolve(const char *name, void **slot);
int st_ring_open(void);             /* create this process's ring file; 0 ok */
int st_ring_lazy_open(void);
void st_modules_scan(void);

/* Records: ring.c */
int st_begin(struct st_call *c, int call, int fd, uint64_t a0, uint64_t a1, uint64_t a2,
             unsigned extra);
void st_put(struct st_call *c, int type, const void *p, unsigned len);
void st_put_iov(struct st_call *c, int type, const struct iovec *iov, size_t n, size_t len);
void st_put_addr(struct st_call *c, int type, const struct sockaddr *sa, socklen_t len);
void st_enter(struct st_call *c);
void st_exit(struct st_call *c, long ret);
void st_done(struct st_call *c);    /* commits and restores errno */
void st_event(int call, int fd, uint64_t a0, uint64_t a1, uint64_t a2, long ret);
void st_sock_note(int fd, int origin, int domain, int type, int protocol, uint64_t ticket);
void st_sock_addrs(int fd, struct st_call *c, int want_local, int want_peer);
void st_sock_clear(int fd);
int st_sock_local_unknown(int fd);
void st_sock_copy(int from, int to);

/* fds: fdtab.c */
enum st_fdkind { FK_UNKNOWN = 0, FK_SOCK = 1, FK_OTHER = 2, FK_HIDDEN = 3 };
#define FK_MASK      0x0f
#define FK_EPOLLSOCK 0x10           /* an epoll fd that watches sockets */
#define ST_FDTAB     65536
extern uint8_t st_fdkind[ST_FDTAB];
int st_is_sock(int fd);             /* knows, or probes once with fstat */
void st_fd_set(int fd, int kind);
void st_fd_scan(void);              /* sockets open at start: inherited */
void st_fd_report_inherited(void);  /* log them, once the ring exists */
void st_fd_report_inherited_forget(void);
void st_sock_kind(int fd, int *dom, int *type, int *proto);
int st_fw_active(const void *ret_addr);  /* call comes from libunwind while we unwind */
int st_fd_hidden(int fd);
void st_hide_pipe(int fds[2]);
void st_fd_poison(int fd);
int st_fd_poisoned_take(int fd);
int st_fd_unhide(int fd);
int st_hidden_in(unsigned lo, unsigned hi, int *out, int max);


#endif
