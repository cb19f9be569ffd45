/* Reading ring files: validation, record decoding, and a time-ordered merge across files. */
#ifndef ST_READER_H
#define ST_READER_H

#include <stddef.h>
#include <stdint.h>

#include "socktrace_format.h"
#include "socktrace_calls.h"

struct st_file {
	char *path;
	const uint8_t *map;
	size_t len;
	int mapped;                     /* map is ours to munmap */
	struct st_file_hdr hdr;         /* copied out */
	/* what the reader found */
	uint64_t records, torn, corrupt, incomplete;  /* incomplete: calls never returned, exec aside */
};

/* One decoded record, with its blob copied out (aligned, contiguous). */
struct st_record {
	const struct st_file *file;
	uint64_t ticket;
	uint64_t ts_enter, ts_exit;
	int64_t ret;
	uint64_t a[3];
	uint32_t tid;
	int32_t fd;
	int err;
	uint16_t call;
	uint8_t flags;
	uint8_t complete;               /* 0: entered, never returned (or exit torn) */
	uint8_t exit_torn;
	uint16_t blob_len;
	uint8_t blob[ST_CHUNK_SLOTS * ST_SLOT_SIZE];
};

struct st_tlv_view {
	int type;
	unsigned len;
	const uint8_t *p;
};

/* Open and validate one ring file. NULL with a one-line message in err on failure. */
struct st_file *st_file_open(const char *path, char *err, size_t errlen);
struct st_file *st_file_adopt(const char *path, const uint8_t *map, size_t len, int mapped,
                              char *err, size_t errlen);
void st_file_close(struct st_file *f);

/* For following a live ring: the record in `slot` of chunk `ci` as it is now. Sets *cticket
 * to the chunk's current ticket; returns the record's slot count, 0 when there is none (yet),
 * -1 when it is damaged or torn. */
int st_read_slot(struct st_file *f, uint32_t ci, uint64_t *cticket, unsigned slot,
                 struct st_record *out);

/* Find the first TLV of `type` in the record's blob; 1 if found. */
int st_tlv_find(const struct st_record *r, int type, struct st_tlv_view *out);
/* Iterate: *off starts at 0; returns 0 at end. */
int st_tlv_next(const struct st_record *r, unsigned *off, struct st_tlv_view *out);

/* Merge all records of all files by time. */
struct st_merge;
struct st_merge *st_merge_new(struct st_file **files, int nfiles);
const struct st_record *st_merge_next(struct st_merge *m);
void st_merge_free(struct st_merge *m);

/* Expand PATH arguments (files or directories of *.ring) into a list of paths. */
int st_collect_paths(int argc, char **argv, const char *dflt, char ***out, int *nout);

#endif
