/* socktrace ring-file format: the only contract between libsocktrace.so and the viewer. */
#ifndef SOCKTRACE_FORMAT_H
#define SOCKTRACE_FORMAT_H

#include <stdint.h>

/*
 * File layout (all little-endian, offsets from the start of the file):
 *   [0, hdr_size)            struct st_file_hdr
 *   [mod_off, ...)           max_modules x struct st_module
 *   [socktab_off, ...)       socktab_n x struct st_sock, indexed by fd (fd < socktab_n)
 *   [chunks_off, file_size)  nchunks x chunk_slots x slot_size bytes
 *
 * The ring is a sequence of chunks. A thread claims a whole chunk with one atomic
 * increment of chunk_counter (chunk ticket T lands in chunk T % nchunks) and is then its
 * only writer, so threads never share a hot cache line. Slot 0 of a chunk is its
 * struct st_chunk_hdr; slots 1.. hold records. A record is one struct st_rec slot followed
 * by nslots-1 continuation slots (struct st_cont) that carry the rest of its blob.
 *
 * Record ticket = chunk_ticket * chunk_slots + slot index. Record state word:
 *   seq = ticket << 3 | phase, phase: 1 writing enter, 2 entered, 3 writing exit, 4 complete.
 * A reader accepts a record only when seq's ticket matches the slot's place and the
 * checksums agree; phase 1 is a torn record, phase 2/3 a call that never returned.
 */

#define ST_MAGIC          "SOCKTRC\n"
#define ST_VERSION        1
#define ST_SLOT_SIZE      256
#define ST_CHUNK_SLOTS    256
#define ST_MAX_MODULES    512
#define ST_SOCKTAB_N      4096
#define ST_PATH_MAX       256
#define ST_MAX_FRAMES     64

enum st_phase { ST_PH_WRITING = 1, ST_PH_ENTERED = 2, ST_PH_EXITING = 3, ST_PH_COMPLETE = 4,
                ST_PH_CONT = 5 };

struct st_file_hdr {
	char     magic[8];        /* ST_MAGIC, written last */
	uint32_t version;
	uint32_t hdr_size;
	uint32_t slot_size;
	uint32_t chunk_slots;
	uint32_t nchunks;
	uint32_t max_modules;
	uint32_t socktab_n;
	uint32_t sock_size;       /* sizeof(struct st_sock) */
	uint64_t file_size;
	uint64_t mod_off;
	uint64_t socktab_off;
	uint64_t chunks_off;
	uint64_t mono_ns;         /* CLOCK_MONOTONIC and CLOCK_REALTIME taken together */
	uint64_t real_ns;
	uint64_t start_ticks;     /* /proc/self/stat starttime (clock ticks since boot) */
	int32_t  pid;
	int32_t  ppid;
	uint32_t stack_depth;
	uint32_t payload_cap;
	uint32_t flags;           /* ST_HF_* */
	uint32_t nmodules;        /* entries of the module table in use (release-stored) */
	char     comm[16];
	char     exe[ST_PATH_MAX];
	char     cmdline[512];    /* argv joined by NUL, truncated */
	uint32_t cmdline_len;
	uint32_t pad0;
	/* counters, each on its own cache line */
	uint64_t chunk_counter __attribute__((aligned(64)));  /* next chunk ticket */
	uint64_t lost_records __attribute__((aligned(64)));   /* overwritten by wrap */
	uint64_t late_exits;      /* completions written as separate records */
	uint64_t dropped;         /* records not written (too large, ring disabled) */
};

#define ST_HF_FORK_CHILD  1u  /* process was created by fork() of a traced parent */
#define ST_HF_STACKS_LOST 2u  /* stacks were turned off at run time (see README) */

struct st_module {
	uint64_t base;            /* load bias (dlpi_addr) */
	uint64_t lo, hi;          /* lowest and highest mapped address of PT_LOAD segments */
	uint32_t valid;           /* 1 once the entry is filled (release-stored) */
	uint8_t  build_id_len;
	uint8_t  build_id[20];
	uint8_t  pad[3];
	char     path[ST_PATH_MAX];
};

/* A compact socket address: the raw struct sockaddr bytes (len 0 = none). */
struct st_saddr {
	uint16_t len;
	uint8_t  raw[110];
};

enum st_origin { ST_OR_NONE, ST_OR_SOCKET, ST_OR_ACCEPT, ST_OR_SOCKETPAIR, ST_OR_INHERITED,
                 ST_OR_UNSEEN, ST_OR_DUP };

/* Creation metadata of a live socket, kept here so lifecycles survive ring wrap. */
struct st_sock {
	uint32_t seq;             /* seqlock: odd while being written, 0 = empty */
	int32_t  fd;
	uint16_t domain;
	uint16_t type;
	uint16_t protocol;
	uint8_t  origin;          /* enum st_origin */
	uint8_t  pad;
	uint64_t birth_ticket;    /* record ticket of the creating call, 0 if none */
	uint64_t birth_ns;
	struct st_saddr local;
	struct st_saddr peer;
};

struct st_chunk_hdr {         /* occupies slot 0 of each chunk */
	uint64_t ticket_plus1;    /* chunk ticket + 1 (0 = never claimed) */
	uint32_t tid;
	uint32_t nrec;            /* records started in this chunk (owner-written) */
	uint64_t claim_ns;
};

#define ST_INLINE (ST_SLOT_SIZE - 88)

struct st_rec {               /* first slot of a record */
	uint64_t seq;
	uint64_t ts_enter;        /* CLOCK_MONOTONIC ns */
	uint64_t ts_exit;
	int64_t  ret;
	uint64_t a[3];            /* call-specific scalars, see socktrace_calls.h */
	uint32_t tid;
	int32_t  fd;
	uint32_t csum_enter;
	uint32_t csum_exit;
	int16_t  err;             /* errno after the call, 0 if none */
	uint16_t call;            /* enum st_callid */
	uint16_t blob_len;        /* bytes of blob used */
	uint16_t blob_elen;       /* bytes written at enter (covered by csum_enter) */
	uint8_t  nslots;
	uint8_t  flags;           /* ST_RF_* */
	uint8_t  pad[6];
	uint8_t  inl[ST_INLINE];  /* start of the blob */
};

struct st_cont {              /* continuation slot */
	uint64_t seq;             /* owner ticket << 3 | ST_PH_CONT */
	uint8_t  data[ST_SLOT_SIZE - 8];
};

#define ST_RF_NESTED   1u     /* recorded inside a signal handler or nested call: no stack */
#define ST_RF_LATE     2u     /* completion of a record that was overwritten while blocked */
#define ST_RF_FORTIFY  4u     /* reached through a _FORTIFY_SOURCE alias (__recv_chk...) */
#define ST_RF_TRUNC    8u     /* blob truncated (payload or lists cut) */

/* Blob: a sequence of TLV items, each { uint8 type; uint8 pad; uint16 len; data[len] }. */
enum st_tlv {
	ST_T_ADDR = 1,   /* sockaddr passed in (bind/connect/sendto target) */
	ST_T_LOCAL,      /* local address after the call (getsockname) */
	ST_T_PEER,       /* peer address after the call (getpeername / recvfrom source) */
	ST_T_FRAMES,     /* uint64 return addresses, innermost first */
	ST_T_DATA,       /* payload bytes */
	ST_T_STR,        /* a string argument (path, host) */
	ST_T_STR2,       /* a second string argument (service) */
	ST_T_FDS,        /* int32 fds (socketpair result, fds closed by close_range) */
	ST_T_POLL,       /* struct { int32 fd; int16 events; int16 revents; } array */
	ST_T_EPOLL,      /* struct { uint32 events; uint32 pad; uint64 data; } array */
	ST_T_U64,        /* a uint64 result (getsockopt value, bytes of mmsg, child pid) */
	ST_T_LATE_OF,    /* uint64 ticket of the record this late completion belongs to */
};

struct st_tlv_hdr {
	uint8_t  type;
	uint8_t  pad;
	uint16_t len;
};

struct st_pollent { int32_t fd; int16_t events; int16_t revents; };
struct st_epollent { uint32_t events; uint32_t pad; uint64_t data; };

_Static_assert(sizeof(struct st_rec) == ST_SLOT_SIZE, "record slot size");
_Static_assert(sizeof(struct st_cont) == ST_SLOT_SIZE, "continuation slot size");
_Static_assert(sizeof(struct st_chunk_hdr) <= ST_SLOT_SIZE, "chunk header size");
_Static_assert(sizeof(struct st_sock) == 256, "socket table entry size");

/* Checksum of record bytes: cheap, not cryptographic; catches torn and mixed writes. */
static inline uint32_t st_csum(uint32_t h, const void *p, unsigned len)
{
	const unsigned char *b = p;
	uint64_t x = 0x9e3779b97f4a7c15ull ^ h;
	while (len >= 8) {
		uint64_t w;
		__builtin_memcpy(&w, b, 8);
		x = (x ^ w) * 0xff51afd7ed558ccdull;
		x ^= x >> 29;
		b += 8;
		len -= 8;
	}
	if (len) {
		uint64_t w = 0;
		__builtin_memcpy(&w, b, len);
		x = (x ^ w ^ ((uint64_t)len << 56)) * 0xff51afd7ed558ccdull;
		x ^= x >> 29;
	}
	return (uint32_t)(x ^ (x >> 32));
}

/* Where blob byte `off` of the record in slot `r` lives; the record's slots are contiguous. */
static inline uint8_t *st_blob_at(const struct st_rec *r, unsigned off, unsigned *room)
{
	if (off < ST_INLINE) {
		*room = ST_INLINE - off;
		return (uint8_t *)r->inl + off;
	}
	off -= ST_INLINE;
	const struct st_cont *c = (const struct st_cont *)(r + 1) + off / sizeof(c->data);
	*room = sizeof(c->data) - off % sizeof(c->data);
	return (uint8_t *)c->data + off % sizeof(c->data);
}

/* Hash blob bytes [from, to) piece by piece, identically on writer and reader. */
static inline uint32_t st_blob_csum(uint32_t h, const struct st_rec *r, unsigned from, unsigned to)
{
	while (from < to) {
		unsigned room;
		const uint8_t *p = st_blob_at(r, from, &room);
		unsigned n = to - from < room ? to - from : room;
		h = st_csum(h, p, n);
		from += n;
	}
	return h;
}

static inline uint64_t st_mix(uint64_t x, uint64_t w)
{
	x = (x ^ w) * 0xff51afd7ed558ccdull;
	return x ^ (x >> 29);
}

/* csum_enter covers what the enter phase wrote; csum_exit what the exit phase wrote.
 * Fields are folded into three words first: this runs twice per traced call. */
static inline uint32_t st_rec_csum_enter(const struct st_rec *r)
{
	uint64_t x = st_mix(0x9e3779b97f4a7c15ull, (r->seq >> 3) ^ r->ts_enter);
	x = st_mix(x, r->a[0] ^ (r->a[1] << 21 | r->a[1] >> 43) ^ (r->a[2] << 42 | r->a[2] >> 22));
	x = st_mix(x, (uint64_t)r->tid << 32 ^ (uint32_t)r->fd ^
	              ((uint64_t)r->call << 48 | (uint64_t)r->blob_elen << 16 | (uint64_t)r->nslots << 8 | r->flags));
	uint32_t h = (uint32_t)(x ^ (x >> 32));
	return r->blob_elen ? st_blob_csum(h, r, 0, r->blob_elen) : h;
}

static inline uint32_t st_rec_csum_exit(const struct st_rec *r)
{
	uint64_t x = st_mix(0x2545f4914f6cdd1dull, (r->seq >> 3) ^ r->ts_exit);
	x = st_mix(x, (uint64_t)r->ret ^ ((uint64_t)(uint16_t)r->err << 48 | r->blob_len));
	uint32_t h = (uint32_t)(x ^ (x >> 32));
	return r->blob_len > r->blob_elen ? st_blob_csum(h, r, r->blob_elen, r->blob_len) : h;
}

#endif
