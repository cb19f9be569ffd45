/* Reading trace files: validation, processes and modules, record decoding, a time-ordered merge. */
#ifndef ST_READER_H
#define ST_READER_H

#include <stddef.h>
#include <stdint.h>

#include "socktrace_format.h"
#include "socktrace_calls.h"

struct st_file;

/* A module of a process image, resolved from the trace's module tables. */
struct st_module {
	uint64_t base;                  /* load bias */
	uint64_t lo, hi;                /* mapped extent, absolute */
	uint8_t build_id_len;
	uint8_t build_id[20];
	char path[ST_PATH_MAX];
};

/* One process image of the trace (an exec makes a new one with the same pid). */
struct st_pinfo {
	const struct st_file *file;
	uint32_t id;                    /* process id in the trace */
	int pid, ppid;
	const struct st_pinfo *parent;  /* fork parent, or the image before exec; NULL if unknown */
	const struct st_pinfo *image;   /* whose modules this one has besides its own */
	uint32_t flags;                 /* ST_PF_* */
	uint32_t state;                 /* enum st_pstate; 0 for a process missing from the table */
	int running;                    /* still running when the trace was read (same machine) */
	int exit_status;
	uint32_t uid, euid;
	uint64_t start_ticks;
	uint64_t t_start, t_end;        /* CLOCK_MONOTONIC ns; t_end 0 unless it exited */
	uint64_t sigpipe;               /* disposition at start */
	uint32_t stack_depth, payload_cap;
	char comm[16];
	char exe[ST_PATH_MAX];
	char cmdline[160];
	uint32_t cmdline_len;
	struct st_module *mods;         /* its own modules (fork children: those it loaded) */
	int nmods;
	uint64_t records;               /* calls of this process handed out by the last merge (sockstate
	                                 * records, the kernel's queues, are not calls) */
	uint64_t incomplete;            /* of which calls that never returned (exec aside) */
};

struct st_span_ix;

struct st_file {
	char *path;
	const uint8_t *map;
	size_t len;
	int mapped;                     /* map is ours to munmap */
	struct st_trace_hdr hdr;        /* copied out at open */
	struct st_pinfo **procs;        /* by id, ascending */
	int nprocs;
	struct st_span_ix *spans;       /* current spans, by stream position */
	size_t nspans;
	double ns_per_tick;             /* timestamp conversion: ns = mono_at + (ts - ts_at) * k */
	uint64_t ts_at, mono_at;
	/* what the reader found */
	uint64_t records, torn, corrupt, incomplete;  /* incomplete: calls never returned, exec aside */
	uint64_t late;                  /* completions whose entry was overwritten */
	uint64_t missing;               /* bytes cut off the file's end (read as zeros) */
	uint64_t extra;                 /* bytes after the trace's end (left out) */
};

/* One decoded record, with its blob copied out (aligned, contiguous). */
struct st_record {
	const struct st_file *file;
	const struct st_pinfo *proc;
	uint64_t ticket;                /* stream position of the call's entry record */
	uint64_t ts_enter, ts_exit;     /* CLOCK_MONOTONIC ns */
	int64_t ret;
	uint64_t a[3];
	uint32_t tid;
	int32_t fd;
	int err;
	uint16_t call;
	uint8_t flags;
	uint8_t complete;               /* 0: entered, never returned */
	uint8_t exit_torn;
	uint32_t blob_len;
	uint8_t blob[ST_REC_MAX + 8 * ST_MAX_FRAMES + 64];
};

struct st_tlv_view {
	int type;
	unsigned len;
	const uint8_t *p;
};

/* Open and validate one trace file. NULL with a one-line message in err on failure. */
struct st_file *st_file_open(const char *path, char *err, size_t errlen);
struct st_file *st_file_adopt(const char *path, const uint8_t *map, size_t len, int mapped,
                              char *err, size_t errlen);
void st_file_close(struct st_file *f);

/* Timestamp of the file (trace units) as CLOCK_MONOTONIC ns. */
uint64_t st_file_ns(const struct st_file *f, uint64_t ts);

/* The process with id `id`, or NULL. */
const struct st_pinfo *st_file_proc(const struct st_file *f, uint32_t id);

/* The module holding addr in process p (its own, then its image's); 1 if found. */
int st_module_of(const struct st_pinfo *p, uint64_t addr, const struct st_module **out);

/* The socket-table entry of (p, fd) as the trace holds it now; 1 if one is there. */
int st_sock_lookup(const struct st_pinfo *p, int fd, struct st_sock *out);

/* For following a live trace: re-read the span index, the process table and the rest. */
int st_file_refresh(struct st_file *f);

/* Reading one span of a live trace record by record: from where sp says, the next record
 * to show, decoded into out (1), or 0 when there is none yet. Records that are not shown
 * (torn, exits handed out with their entry) are passed over; st_span_take moves past out. */
struct st_span_pos { uint32_t off, seen, next_off; };
int st_span_next(struct st_file *f, size_t i, struct st_span_pos *sp, struct st_record *out);
void st_span_take(struct st_span_pos *sp);
uint64_t st_span_start(const struct st_file *f, size_t i);

/* Replace what a terminal would take as a command (control characters, C1 included, and
 * bytes that are not UTF-8) by '?', in place: text from a trace is attacker-controlled. */
void st_sanitize(char *s);

/* Find the first TLV of `type` in the record's blob; 1 if found. */
int st_tlv_find(const struct st_record *r, int type, struct st_tlv_view *out);
/* Iterate: *off starts at 0; returns 0 at end. */
int st_tlv_next(const struct st_record *r, unsigned *off, struct st_tlv_view *out);

/* Merge all records of all files by time. after: only records at stream positions above it
 * (per file, 0 = all) -- for following a live trace. */
struct st_merge;
struct st_merge *st_merge_new(struct st_file **files, int nfiles);
struct st_merge *st_merge_new_after(struct st_file **files, int nfiles, const uint64_t *after);
const struct st_record *st_merge_next(struct st_merge *m);
void st_merge_free(struct st_merge *m);

/* Expand PATH arguments (files, or directories holding trace.ring or *.ring) into paths. */
int st_collect_paths(int argc, char **argv, const char *dflt, char ***out, int *nout);

#endif
