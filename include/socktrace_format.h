/* socktrace trace-file format (version 2): the only contract between libsocktrace.so and the viewer. */
#ifndef SOCKTRACE_FORMAT_H
#define SOCKTRACE_FORMAT_H

#include <stdint.h>

/*
 * One file per trace, shared by every process of the traced tree (SOCKTRACE_DIR/trace.ring).
 * The first traced process creates it; fork children keep writing into the mapping they
 * inherit (no new file, and it keeps working after setuid/chroot); an exec'd image maps it
 * again by path. All little-endian, offsets from the start of the file:
 *
 *   [0, 4096)          struct st_trace_hdr
 *   [proc_off, ...)    nproc x struct st_proc        processes, slot = (id - 1) % nproc
 *   [pidx_off, ...)    nproc x uint32                last process id seen per pid % nproc
 *   [sock_off, ...)    nsock x struct st_sock        live sockets, hashed by (proc id, fd)
 *   [modf_off, ...)    nmodf x struct st_modfile     module files (path, build-id), hashed
 *   [modi_off, ...)    nmodi x struct st_modinst     module load bases per image
 *   [btab_off, ...)    nblocks x uint64              stream position of the span covering each block
 *   [ring_off, end)    nblocks x ST_BLOCK bytes      the data ring
 *
 * The ring is a stream of bytes cut into spans. A writer claims a span of 1..64 blocks by
 * advancing hdr.head (a stream position, never reduced modulo the ring) with one CAS; the
 * span lands at ring offset pos % ring_bytes. A thread owns its span alone (no locked
 * instruction per record) until it moves to the next one and marks the old one retired. A
 * claim never overwrites a span that is not retired (a thread blocked in a call keeps its
 * entry record): it steps over it. A span's first 64 bytes are struct st_span; records
 * follow back to back, each 8-byte aligned.
 *
 * A span is current when btab[block] == span.pos for its first block and span.pos maps to
 * that block. Records inside it are walked from the start, span.nrec of them (counted when
 * started). Each record begins with one 64-bit word, written first as WRITING and last as
 * ENTERED/COMPLETE/EXIT with a release store: a record the process died while writing stays
 * WRITING, and a word whose check differs from the record's own stream position is stale.
 */

#define ST_MAGIC          "SOCKTRC\n"
#define ST_VERSION        2
#define ST_HDR_SIZE       4096
#define ST_BLOCK          1024      /* unit of ring space */
#define ST_SPAN_MAX       64        /* blocks in the largest span a thread claims */
#define ST_PATH_MAX       256
#define ST_MAX_FRAMES     64
#define ST_TRACE_FILE     "trace.ring"
#define ST_FILE_MAX       (64ull << 30)   /* SOCKTRACE_SIZE's upper bound */

struct st_trace_hdr {
	char     magic[8];          /* ST_MAGIC, written last */
	uint32_t version;
	uint32_t hdr_size;
	uint64_t layout;            /* st_layout_id() of the writer */
	uint64_t file_size;
	uint64_t size_arg;          /* the size st_layout() was given (SOCKTRACE_SIZE) */
	uint64_t proc_off;
	uint64_t pidx_off;
	uint64_t sock_off;
	uint64_t modf_off;
	uint64_t modi_off;
	uint64_t btab_off;
	uint64_t ring_off;
	uint32_t nproc, nsock, nmodf, nmodi;
	uint32_t nblocks;
	uint32_t flags;             /* ST_TF_* */
	uint32_t stack_depth;       /* as configured by the process that created the trace */
	uint32_t payload_cap;
	uint64_t tsc_hz;            /* ST_TF_TSC: ticks per second, calibrated at creation */
	uint64_t ts0;               /* a (timestamp, CLOCK_MONOTONIC, CLOCK_REALTIME) triple */
	uint64_t mono0;
	uint64_t real0;
	int32_t  creator_pid;
	uint32_t creator_uid;
	/* counters, each on its own cache line */
	uint64_t head __attribute__((aligned(64)));      /* next stream position to claim */
	uint64_t proc_next __attribute__((aligned(64))); /* last process id handed out */
	uint64_t modi_next __attribute__((aligned(64))); /* module instances handed out */
	uint64_t lost_calls __attribute__((aligned(64)));/* call records overwritten by wrap */
	uint64_t lost_exits;        /* separate exit records overwritten */
	uint64_t dropped;           /* records not written (no space could be claimed, too large) */
	uint64_t skipped;           /* bytes stepped over to keep spans that were not retired */
	uint64_t procs_dropped;     /* processes with no slot left in the process table */
	uint64_t socks_dropped;     /* sockets with no entry left in the socket table */
	uint64_t mods_dropped;      /* modules with no entry left in the module tables */
	uint64_t said __attribute__((aligned(64)));      /* notices already given (a bit each) */
};

#define ST_TF_TSC   1u          /* record timestamps are TSC ticks (else CLOCK_MONOTONIC ns) */

/* A process (one image: an exec makes a new entry that names the one before). */
/* GONE: found dead by another process (killed); EXECED: replaced by a newer image */
enum st_pstate { ST_PS_FREE = 0, ST_PS_WRITING, ST_PS_LIVE, ST_PS_EXITED, ST_PS_GONE, ST_PS_EXECED };

struct st_proc {
	uint32_t state;             /* enum st_pstate; LIVE is stored last (release) */
	uint32_t id;                /* process id in this trace, 1-based */
	int32_t  pid, ppid;
	uint32_t parent;            /* id of the fork parent, or of the image before exec; 0 none */
	uint32_t flags;             /* ST_PF_* */
	uint32_t uid, euid;         /* when the entry was made */
	uint32_t image;             /* id of the process whose modules this one has (fork: parent's) */
	int32_t  exit_status;       /* ST_PS_EXITED: the status given to exit()/_exit() */
	uint64_t start_ticks;       /* /proc/self/stat starttime, clock ticks since boot */
	uint64_t t_start, t_end;    /* timestamps: first record, exit */
	uint64_t sigpipe;           /* disposition at start: 0 SIG_DFL, 1 SIG_IGN, else handler */
	uint32_t stack_depth;
	uint32_t payload_cap;
	char     comm[16];
	uint32_t cmdline_len;
	uint32_t untraced;          /* ST_UT_*: why this process stopped recording, 0 if it did not */
	char     cmdline[152];      /* argv joined by NUL, truncated */
};

#define ST_PF_FORK      1u      /* made by fork() of a traced process */
#define ST_PF_EXEC      2u      /* an image that replaced a traced one (parent = that one) */
#define ST_PF_SECCOMP   4u      /* installed a seccomp filter: no more probes or stacks */
#define ST_PF_NOSTACKS  8u      /* stacks turned off at run time */
#define ST_PF_SETUID    16u     /* changed its credentials after the entry was made */
#define ST_PF_MODS_LOST 32u     /* some modules did not fit the module tables */

enum st_untraced { ST_UT_NONE = 0, ST_UT_NOSPACE };

/* Creation metadata of a live socket, so lifecycles survive the ring wrapping. */
struct st_saddr { uint16_t len; uint8_t raw[38]; };   /* raw struct sockaddr, truncated */

enum st_origin { ST_OR_NONE, ST_OR_SOCKET, ST_OR_ACCEPT, ST_OR_SOCKETPAIR, ST_OR_INHERITED,
                 ST_OR_UNSEEN, ST_OR_DUP,
                 ST_OR_WRAPPED,         /* (viewer) first met in a call: its birth was overwritten */
                 ST_OR_COUNT };

struct st_sock {
	uint64_t key;               /* proc id << 32 | fd; 0 = never used */
	uint32_t seq;               /* seqlock: odd while being written */
	uint8_t  origin;            /* enum st_origin; ST_OR_NONE = closed */
	uint8_t  pad;
	uint16_t domain;
	uint16_t type;
	uint16_t protocol;
	uint32_t pad2;
	uint64_t birth;             /* stream position of the creating record, 0 if none */
	uint64_t ino;               /* socket inode, 0 if unknown */
	struct st_saddr local;
	struct st_saddr peer;
	uint8_t  pad3[8];
};

struct st_modfile {
	uint32_t state;             /* 0 free, 1 being written, 2 valid */
	uint32_t hash;
	uint64_t lo, hi;            /* PT_LOAD extent relative to the load bias */
	uint8_t  build_id_len;
	uint8_t  build_id[20];
	uint8_t  pad[11];
	char     path[ST_PATH_MAX];
	uint8_t  pad2[8];
};

struct st_modinst {
	uint32_t image;             /* process id whose image this is; 0 = not written yet */
	uint32_t file;              /* index + 1 into the module-file table */
	uint64_t base;              /* load bias (dlpi_addr) */
};

/* First 64 bytes of a span. */
struct st_span {
	uint64_t pos;               /* stream position of the span */
	uint32_t size;              /* bytes, header included */
	uint32_t proc;              /* process id of the owner */
	uint32_t tid;
	uint32_t retired;           /* 1 once the owner will never write here again */
	uint32_t nrec;              /* records started in this span (calls and exits) */
	uint32_t nexit;             /* of which separate exit records */
	uint64_t ts;                /* a (timestamp, CLOCK_MONOTONIC) pair taken at the claim */
	uint64_t mono;
	uint64_t pad[2];
};

/* A record: this fixed part, then nframes return addresses, then TLVs; 8-byte aligned. */
struct st_rec {
	uint64_t w;                 /* ST_RW(): check, length, kind, flags */
	uint64_t t_enter;           /* timestamps in trace units (see ST_TF_TSC) */
	uint64_t t_exit;
	int64_t  ret;
	uint8_t  call;              /* enum st_callid */
	uint8_t  nframes;
	int16_t  err;               /* errno after the call, 0 if none */
	int32_t  fd;
	uint64_t a[3];              /* call-specific scalars, see socktrace_calls.h */
};

enum st_kind { ST_K_WRITING = 0, ST_K_ENTERED = 1, ST_K_COMPLETE = 2, ST_K_EXIT = 3 };

#define ST_RW(pos, len, kind, flags) \
	((uint64_t)(uint32_t)((pos) >> 3) << 32 | (uint64_t)(len) << 16 | (uint64_t)(flags) << 8 | (kind))
#define ST_RW_CHECK(w)  ((uint32_t)((w) >> 32))
#define ST_RW_LEN(w)    ((unsigned)((w) >> 16) & 0xffff)
#define ST_RW_FLAGS(w)  ((unsigned)((w) >> 8) & 0xff)
#define ST_RW_KIND(w)   ((unsigned)(w) & 0xff)
#define ST_REC_MAX      (65536 - 8)

#define ST_RF_NESTED   1u     /* recorded inside a signal handler or nested call: no stack */
#define ST_RF_LATE     2u     /* (viewer) completion whose entry record was overwritten */
#define ST_RF_FORTIFY  4u     /* reached through a _FORTIFY_SOURCE alias (__recv_chk...) */
#define ST_RF_TRUNC    8u     /* blob truncated (payload or lists cut) */
#define ST_RF_NOARGS  16u     /* exit record whose entry was overwritten before it was
                               * written: a[] unknown (zero), call, fd and t_enter kept */

/* TLVs after the frames: { uint8 type; uint8 pad; uint16 len; data[len] }, unaligned. */
enum st_tlv {
	ST_T_ADDR = 1,   /* sockaddr passed in (bind/connect/sendto target) */
	ST_T_LOCAL,      /* local address after the call (getsockname) */
	ST_T_PEER,       /* peer address after the call (getpeername / recvfrom source) */
	ST_T_FRAMES,     /* (viewer only) uint64 return addresses, innermost first */
	ST_T_DATA,       /* payload bytes */
	ST_T_STR,        /* a string argument (path, host) */
	ST_T_STR2,       /* a second string argument (service) */
	ST_T_FDS,        /* int32 fds (socketpair result, fds closed by close_range) */
	ST_T_POLL,       /* struct { int32 fd; int16 events; int16 revents; } array */
	ST_T_EPOLL,      /* struct { uint32 events; uint32 pad; uint64 data; } array */
	ST_T_U64,        /* a uint64 result (getsockopt value, bytes of mmsg, child pid) */
	ST_T_LATE_OF,    /* uint64 stream position of the entry record an exit record completes */
	ST_T_INJECT,     /* what SOCKTRACE_INJECT did to this call ("error=EPIPE") */
	ST_T_TCPBYTES,   /* sockstate: struct st_tcpbytes, the kernel's TCP byte counts */
	ST_T_INODE,      /* inherited/unseen: uint64 the socket's inode (one socket under several fds) */
};

/* A TCP socket's byte counts from the kernel's struct tcp_info (RFC 4898 names): data acked by
 * the peer, received in order, sent (retransmissions included) and retransmitted. What left on
 * the wire is sent - retrans. The offsets are those of <linux/tcp.h> since Linux 4.19. */
struct st_tcpbytes { uint64_t acked, received, sent, retrans; };
#define ST_TCPI_BYTES_ACKED     120
#define ST_TCPI_BYTES_RECEIVED  128
#define ST_TCPI_BYTES_SENT      200
#define ST_TCPI_BYTES_RETRANS   208

struct st_tlv_hdr {
	uint8_t  type;
	uint8_t  pad;
	uint16_t len;
};

struct st_pollent { int32_t fd; int16_t events; int16_t revents; };
struct st_epollent { uint32_t events; uint32_t pad; uint64_t data; };

_Static_assert(sizeof(struct st_trace_hdr) <= ST_HDR_SIZE, "trace header size");
_Static_assert(sizeof(struct st_proc) == 256, "process entry size");
_Static_assert(sizeof(struct st_sock) == 128, "socket entry size");
_Static_assert(sizeof(struct st_modfile) == 320, "module file entry size");
_Static_assert(sizeof(struct st_modinst) == 16, "module instance size");
_Static_assert(sizeof(struct st_span) == 64, "span header size");
_Static_assert(sizeof(struct st_rec) == 64, "record fixed part");

/* Table sizes for a trace of `size` bytes (the writer's choice; readers take the header's). */
static inline uint32_t st_clamp32(uint64_t v, uint32_t lo, uint32_t hi)
{
	return v < lo ? lo : v > hi ? hi : (uint32_t)v;
}

static inline uint32_t st_pow2_floor(uint32_t v)
{
	uint32_t p = 1;
	while (p * 2 <= v && p < (1u << 30))
		p *= 2;
	return p;
}

/* Table sizes and offsets for a trace of `size` bytes, the same for writer and reader.
 * Returns 0 when the size is too small for a trace. */
static inline int st_layout(struct st_trace_hdr *h, uint64_t size)
{
#define ST_ALIGN4K(v) (((v) + 4095) & ~4095ull)
	h->nproc = st_clamp32(size / 4096, 256, 65536);
	h->nsock = st_pow2_floor(st_clamp32(size / 4096, 1024, 65536));
	h->nmodf = st_clamp32(size / 65536, 64, 4096);
	h->nmodi = st_clamp32(size / 1024, 1024, 262144);
	h->proc_off = ST_HDR_SIZE;
	h->pidx_off = ST_ALIGN4K(h->proc_off + (uint64_t)h->nproc * sizeof(struct st_proc));
	h->sock_off = ST_ALIGN4K(h->pidx_off + (uint64_t)h->nproc * 4);
	h->modf_off = ST_ALIGN4K(h->sock_off + (uint64_t)h->nsock * sizeof(struct st_sock));
	h->modi_off = ST_ALIGN4K(h->modf_off + (uint64_t)h->nmodf * sizeof(struct st_modfile));
	h->btab_off = ST_ALIGN4K(h->modi_off + (uint64_t)h->nmodi * sizeof(struct st_modinst));
	if (size <= h->btab_off + 4096)
		return 0;
	uint64_t nb = (size - h->btab_off - 4096) / (ST_BLOCK + 8);
	if (nb > 0x3fffffffull)
		nb = 0x3fffffffull;
	if (nb < 2 * (ST_SPAN_MAX + 1))
		return 0;
	h->nblocks = (uint32_t)nb;
	h->ring_off = ST_ALIGN4K(h->btab_off + nb * 8);
	h->file_size = h->ring_off + nb * ST_BLOCK;
	return 1;
#undef ST_ALIGN4K
}

/* A fingerprint of everything a reader must agree on: struct sizes, the block size and the
 * call catalogue (its names string). Files of another build with the same version but a
 * different layout are refused rather than misread. */
static inline uint64_t st_layout_id(const char *calls)
{
	uint64_t h = 0xcbf29ce484222325ull;
	const unsigned sizes[] = { sizeof(struct st_trace_hdr), sizeof(struct st_proc),
	                           sizeof(struct st_sock), sizeof(struct st_modfile),
	                           sizeof(struct st_modinst), sizeof(struct st_span),
	                           sizeof(struct st_rec), ST_BLOCK, ST_SPAN_MAX, ST_VERSION };
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		h = (h ^ sizes[i]) * 0x100000001b3ull;
	for (; *calls; calls++)
		h = (h ^ (uint8_t)*calls) * 0x100000001b3ull;
	return h;
}

#endif
