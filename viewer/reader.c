/* Ring-file reader: trusts nothing in the file, checks every record before handing it out. */
#include "reader.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK_BYTES ((size_t)ST_CHUNK_SLOTS * ST_SLOT_SIZE)

static int check_header(const struct st_file_hdr *h, size_t len, char *err, size_t errlen)
{
	if (h->version != ST_VERSION) {
		snprintf(err, errlen, "ring format version %u is not supported (this socktrace reads %d)",
		         h->version, ST_VERSION);
		return -1;
	}
	if (h->hdr_size < sizeof(*h) || h->slot_size != ST_SLOT_SIZE ||
	    h->chunk_slots != ST_CHUNK_SLOTS || h->max_modules != ST_MAX_MODULES ||
	    h->socktab_n != ST_SOCKTAB_N || h->sock_size != sizeof(struct st_sock)) {
		snprintf(err, errlen, "corrupt header (sizes do not match the format)");
		return -1;
	}
	if (h->file_size != len) {
		snprintf(err, errlen, "truncated or extended: header says %llu bytes, file has %zu",
		         (unsigned long long)h->file_size, len);
		return -1;
	}
	if (h->mod_off < h->hdr_size ||
	    h->mod_off + (uint64_t)ST_MAX_MODULES * sizeof(struct st_module) > h->socktab_off ||
	    h->socktab_off + (uint64_t)ST_SOCKTAB_N * sizeof(struct st_sock) > h->chunks_off ||
	    h->nchunks == 0 || h->chunks_off % ST_SLOT_SIZE || h->chunks_off + (uint64_t)h->nchunks * CHUNK_BYTES != len) {
		snprintf(err, errlen, "corrupt header (layout out of bounds)");
		return -1;
	}
	if (h->nmodules > ST_MAX_MODULES) {
		snprintf(err, errlen, "corrupt header (module count %u)", h->nmodules);
		return -1;
	}
	return 0;
}

/* Take over a file image already in memory (mapped, or the fuzzer's buffer) and check it. */
struct st_file *st_file_adopt(const char *path, const uint8_t *map, size_t len, int mapped,
                              char *err, size_t errlen)
{
	if (len < sizeof(struct st_file_hdr)) {
		snprintf(err, errlen, "%s (%zu bytes)", len == 0 ? "empty file" : "too short for a ring file", len);
		return NULL;
	}
	struct st_file *f = calloc(1, sizeof(*f));
	if (!f) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	f->map = map;
	f->len = len;
	f->mapped = mapped;
	memcpy(&f->hdr, f->map, sizeof(f->hdr));
	if (memcmp(f->hdr.magic, ST_MAGIC, 8) != 0) {
		static const char zero[8];
		snprintf(err, errlen, "%s", memcmp(f->hdr.magic, zero, 8) == 0
		         ? "no ring-file magic (the process died while creating it, or this is not a ring file)"
		         : "not a socktrace ring file (bad magic)");
		free(f);
		return NULL;
	}
	if (check_header(&f->hdr, f->len, err, errlen) < 0) {
		free(f);
		return NULL;
	}
	f->hdr.comm[sizeof(f->hdr.comm) - 1] = 0;
	f->hdr.exe[sizeof(f->hdr.exe) - 1] = 0;
	if (f->hdr.cmdline_len > sizeof(f->hdr.cmdline))
		f->hdr.cmdline_len = sizeof(f->hdr.cmdline);
	f->path = strdup(path);
	return f;
}

struct st_file *st_file_open(const char *path, char *err, size_t errlen)
{
	struct stat sb;
	struct st_file *f = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		return NULL;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "not a regular file");
		goto out;
	}
	if ((size_t)sb.st_size < sizeof(struct st_file_hdr)) {
		f = st_file_adopt(path, NULL, (size_t)sb.st_size, 0, err, errlen);
		goto out;
	}
	void *map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED) {
		snprintf(err, errlen, "cannot map: %s", strerror(errno));
		goto out;
	}
	f = st_file_adopt(path, map, (size_t)sb.st_size, 1, err, errlen);
	if (!f)
		munmap(map, (size_t)sb.st_size);
out:
	close(fd);
	return f;
}

void st_file_close(struct st_file *f)
{
	if (!f)
		return;
	if (f->mapped)
		munmap((void *)f->map, f->len);
	free(f->path);
	free(f);
}

static const uint8_t *chunk_at(const struct st_file *f, uint32_t i)
{
	return f->map + f->hdr.chunks_off + (size_t)i * CHUNK_BYTES;
}

/*
 * Decode slot `i` of chunk `ci` into out. Returns the number of slots it spans (>=1) when
 * it is a record to show, 0 to skip one slot silently (empty, stale, continuation),
 * or -1 for a damaged record (counted).
 */
static int decode(struct st_file *f, uint32_t ci, uint64_t cticket, unsigned i,
                  struct st_record *out, int full)
{
	const uint8_t *ch = chunk_at(f, ci);
	const struct st_rec *r = (const struct st_rec *)(ch + (size_t)i * ST_SLOT_SIZE);
	uint64_t want = cticket * ST_CHUNK_SLOTS + i;
	unsigned phase = r->seq & 7;
	if ((r->seq >> 3) != want || phase == ST_PH_CONT)
		return 0;  /* empty, left from an older lap of the ring, or a continuation */
	if (phase == ST_PH_WRITING) {
		f->torn++;
		return -1;
	}
	if (phase > ST_PH_COMPLETE || r->nslots == 0 || i + r->nslots > ST_CHUNK_SLOTS ||
	    r->call == 0 || r->call >= ST_C_COUNT) {
		f->corrupt++;
		return -1;
	}
	unsigned cap = ST_INLINE + (r->nslots - 1u) * (ST_SLOT_SIZE - 8u);
	for (unsigned k = 1; k < r->nslots; k++) {
		uint64_t cs;
		memcpy(&cs, ch + (size_t)(i + k) * ST_SLOT_SIZE, 8);
		if (cs != (want << 3 | ST_PH_CONT)) {
			f->corrupt++;
			return -1;
		}
	}
	int complete = phase == ST_PH_COMPLETE;
	if (r->blob_elen > cap || st_rec_csum_enter(r) != r->csum_enter ||
	    (complete && (r->blob_len > cap || r->blob_len < r->blob_elen ||
	                  st_rec_csum_exit(r) != r->csum_exit))) {
		f->corrupt++;
		return -1;
	}
	memset(out, 0, offsetof(struct st_record, blob));
	out->file = f;
	out->ticket = want;
	out->ts_enter = r->ts_enter;
	out->ts_exit = complete ? r->ts_exit : 0;
	out->ret = complete ? r->ret : 0;
	memcpy(out->a, r->a, sizeof(out->a));
	out->tid = r->tid;
	out->fd = r->fd;
	out->err = complete ? r->err : 0;
	out->call = r->call;
	out->flags = r->flags;
	out->complete = (uint8_t)complete;
	out->exit_torn = phase == ST_PH_EXITING;
	if (!full) {
		if (!complete && r->call != ST_C_EXEC)  /* an exec that worked never returns */
			f->incomplete++;
		f->records++;
	}
	out->blob_len = complete ? r->blob_len : r->blob_elen;
	if (!full)
		return r->nslots;          /* the merge only needs time and ticket to order */
	for (unsigned off = 0; off < out->blob_len;) {
		unsigned room;
		const uint8_t *p = st_blob_at(r, off, &room);
		unsigned n = out->blob_len - off < room ? out->blob_len - off : room;
		memcpy(out->blob + off, p, n);
		off += n;
	}
	return r->nslots;
}

int st_read_slot(struct st_file *f, uint32_t ci, uint64_t *cticket, unsigned slot,
                 struct st_record *out)
{
	struct st_chunk_hdr ck;
	memcpy(&ck, chunk_at(f, ci), sizeof(ck));
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (!ck.ticket_plus1 || (ck.ticket_plus1 - 1) % f->hdr.nchunks != ci)
		return 0;
	*cticket = ck.ticket_plus1 - 1;
	if (slot == 0 || slot >= ST_CHUNK_SLOTS)
		return 0;
	return decode(f, ci, *cticket, slot, out, 1);
}

int st_tlv_next(const struct st_record *r, unsigned *off, struct st_tlv_view *out)
{
	if (*off + 4 > r->blob_len)
		return 0;
	struct st_tlv_hdr h;
	memcpy(&h, r->blob + *off, 4);
	if (*off + 4 + h.len > r->blob_len)
		return 0;
	out->type = h.type;
	out->len = h.len;
	out->p = r->blob + *off + 4;
	*off += 4 + h.len;
	return 1;
}

int st_tlv_find(const struct st_record *r, int type, struct st_tlv_view *out)
{
	unsigned off = 0;
	while (st_tlv_next(r, &off, out))
		if (out->type == type)
			return 1;
	return 0;
}

/* ---- merge: one cursor per claimed chunk, a binary heap ordered by the next record's time ---- */

struct cursor {
	struct st_file *f;
	uint32_t ci;
	uint64_t cticket;
	unsigned next;                  /* next slot to examine */
	unsigned cur;                   /* slot of the current record */
	uint64_t ts, ticket;            /* of the current record: all the merge orders by */
};

struct st_merge {
	struct cursor *c;
	int n;
	struct st_record *out;          /* the one full record handed out */
	struct st_record *scratch;      /* headers only (blob left untouched) */
};

/* Give a chunk's pages back (they stay in the page cache): RSS stays at the chunks the merge
 * is in the middle of, not the whole ring. */
static void drop_chunk(const struct st_file *f, uint32_t ci)
{
	if (f->mapped)
		madvise((void *)chunk_at(f, ci), CHUNK_BYTES, MADV_DONTNEED);
}

static int cursor_advance(struct cursor *c, struct st_record *scratch)
{
	while (c->next < ST_CHUNK_SLOTS) {
		int k = decode(c->f, c->ci, c->cticket, c->next, scratch, 0);
		c->cur = c->next;
		c->next += k > 0 ? (unsigned)k : 1;
		if (k > 0) {
			c->ts = scratch->ts_enter;
			c->ticket = scratch->ticket;
			return 1;
		}
	}
	return 0;
}

static int before(const struct cursor *a, const struct cursor *b)
{
	if (a->ts != b->ts)
		return a->ts < b->ts;
	return a->ticket < b->ticket;
}

static void sift_down(struct st_merge *m, int i)
{
	for (;;) {
		int l = 2 * i + 1, r = l + 1, s = i;
		if (l < m->n && before(&m->c[l], &m->c[s]))
			s = l;
		if (r < m->n && before(&m->c[r], &m->c[s]))
			s = r;
		if (s == i)
			return;
		struct cursor t = m->c[i];
		m->c[i] = m->c[s];
		m->c[s] = t;
		i = s;
	}
}

/* Memory: one small cursor per claimed chunk and two records, whatever the trace's size. */
struct st_merge *st_merge_new(struct st_file **files, int nfiles)
{
	struct st_merge *m = calloc(1, sizeof(*m));
	size_t cap = 0;
	for (int i = 0; i < nfiles; i++)
		cap += files[i]->hdr.nchunks;
	m->c = calloc(cap ? cap : 1, sizeof(*m->c));
	m->out = malloc(sizeof(*m->out));
	m->scratch = malloc(offsetof(struct st_record, blob));
	for (int i = 0; i < nfiles; i++) {
		struct st_file *f = files[i];
		for (uint32_t ci = 0; ci < f->hdr.nchunks; ci++) {
			struct st_chunk_hdr ck;
			memcpy(&ck, chunk_at(f, ci), sizeof(ck));
			if (!ck.ticket_plus1)
				continue;
			if ((ck.ticket_plus1 - 1) % f->hdr.nchunks != ci) {
				f->corrupt++;
				continue;
			}
			struct cursor *c = &m->c[m->n];
			*c = (struct cursor){ .f = f, .ci = ci, .cticket = ck.ticket_plus1 - 1, .next = 1 };
			if (cursor_advance(c, m->scratch))
				m->n++;
			drop_chunk(f, ci);
		}
	}
	for (int i = m->n / 2 - 1; i >= 0; i--)
		sift_down(m, i);
	return m;
}

/* The next record in time order, or NULL at the end. Valid until the next call. */
const struct st_record *st_merge_next(struct st_merge *m)
{
	if (m->n == 0)
		return NULL;
	struct cursor *top = &m->c[0];
	decode(top->f, top->ci, top->cticket, top->cur, m->out, 1);
	if (!cursor_advance(top, m->scratch)) {
		drop_chunk(top->f, top->ci);
		m->c[0] = m->c[--m->n];
	}
	if (m->n)
		sift_down(m, 0);
	return m->out;
}

void st_merge_free(struct st_merge *m)
{
	if (!m)
		return;
	free(m->c);
	free(m->out);
	free(m->scratch);
	free(m);
}

static int add_path(char ***out, int *n, const char *p)
{
	char **v = realloc(*out, (size_t)(*n + 1) * sizeof(char *));
	if (!v)
		return -1;
	*out = v;
	v[(*n)++] = strdup(p);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Files named on the command line are taken as they are; directories give their *.ring. */
int st_collect_paths(int argc, char **argv, const char *dflt, char ***out, int *nout)
{
	char *one[1] = { (char *)dflt };
	int rc = 0;
	if (argc == 0) {
		argc = 1;
		argv = one;
	}
	*out = NULL;
	*nout = 0;
	for (int i = 0; i < argc; i++) {
		struct stat sb;
		if (stat(argv[i], &sb) < 0) {
			fprintf(stderr, "socktrace: %s: %s\n", argv[i], strerror(errno));
			rc = -1;
			continue;
		}
		if (!S_ISDIR(sb.st_mode)) {
			add_path(out, nout, argv[i]);
			continue;
		}
		DIR *d = opendir(argv[i]);
		if (!d) {
			fprintf(stderr, "socktrace: %s: %s\n", argv[i], strerror(errno));
			rc = -1;
			continue;
		}
		int first = *nout;
		struct dirent *e;
		while ((e = readdir(d))) {
			size_t l = strlen(e->d_name);
			if (l > 5 && strcmp(e->d_name + l - 5, ".ring") == 0) {
				char p[4096];
				snprintf(p, sizeof(p), "%s/%s", argv[i], e->d_name);
				add_path(out, nout, p);
			}
		}
		closedir(d);
		qsort(*out + first, (size_t)(*nout - first), sizeof(char *), cmp_str);
		if (*nout == first) {
			fprintf(stderr, "socktrace: %s: no ring files in this directory\n", argv[i]);
			rc = -1;
		}
	}
	return rc;
}
