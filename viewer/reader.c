/* Trace-file reader: trusts nothing in the file, checks every span and record before use. */
#include "reader.h"
#include "xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define FIXED ((unsigned)sizeof(struct st_rec))
#define BTAB_VOID (~0ull)

struct st_span_ix {
	uint64_t pos;
	uint64_t off;                   /* byte offset of the span in the ring */
	uint32_t size, tid, nrec, nexit;
	uint64_t ts, mono;              /* the clock pair taken at its claim */
	const struct st_pinfo *p;
};

struct pair { uint64_t a, b; };     /* exit pairing: entry position, exit position */

struct st_file_priv {
	struct pair *by_enter, *by_exit;
	size_t npairs;
	struct pair *socks;             /* socket table: key, entry index */
	size_t nsocks;
};

/* ---- header ---- */

static int check_header(const struct st_trace_hdr *h, size_t len, char *err, size_t errlen)
{
	if (h->version != ST_VERSION) {
		snprintf(err, errlen, "ring format version %u is not supported (this socktrace reads %d)",
		         h->version, ST_VERSION);
		return -1;
	}
	uint64_t want_layout = st_layout_id(ST_CALL_NAMES);
	if (h->layout != want_layout) {
		snprintf(err, errlen, "written by an incompatible build of socktrace (layout %016llx; "
		         "this socktrace reads %016llx)", (unsigned long long)h->layout,
		         (unsigned long long)want_layout);
		return -1;
	}
	if (h->file_size != len) {
		snprintf(err, errlen, "truncated or extended: header says %llu bytes, file has %zu",
		         (unsigned long long)h->file_size, len);
		return -1;
	}
	struct st_trace_hdr w;
	memset(&w, 0, sizeof(w));
	if (h->hdr_size != ST_HDR_SIZE || !st_layout(&w, h->size_arg) || w.file_size != h->file_size ||
	    w.nproc != h->nproc || w.nsock != h->nsock || w.nmodf != h->nmodf || w.nmodi != h->nmodi ||
	    w.nblocks != h->nblocks || w.proc_off != h->proc_off || w.pidx_off != h->pidx_off ||
	    w.sock_off != h->sock_off || w.modf_off != h->modf_off || w.modi_off != h->modi_off ||
	    w.btab_off != h->btab_off || w.ring_off != h->ring_off) {
		snprintf(err, errlen, "corrupt header (layout does not match the file size)");
		return -1;
	}
	if ((h->flags & ST_TF_TSC) && (h->tsc_hz < 1000000 || h->tsc_hz > 100000000000ull)) {
		snprintf(err, errlen, "corrupt header (TSC frequency %llu Hz)", (unsigned long long)h->tsc_hz);
		return -1;
	}
	return 0;
}

/* ---- time ---- */

uint64_t st_file_ns(const struct st_file *f, uint64_t ts)
{
	if (!(f->hdr.flags & ST_TF_TSC))
		return ts;
	double d = ((double)ts - (double)f->ts_at) * f->ns_per_tick;
	double v = (double)f->mono_at + d;
	return v <= 0 ? 0 : (uint64_t)v;
}

/* One line through the header's pair and the spans' pairs farthest from it: durations stay
 * TSC-exact, wall times follow CLOCK_MONOTONIC over the trace. */
static void fit_clock(struct st_file *f)
{
	f->ts_at = f->hdr.ts0;
	f->mono_at = f->hdr.mono0;
	f->ns_per_tick = f->hdr.tsc_hz ? 1e9 / (double)f->hdr.tsc_hz : 1.0;
	if (!(f->hdr.flags & ST_TF_TSC))
		return;
	uint64_t best = 0, bts = 0, bmono = 0;
	for (size_t i = 0; i < f->nspans; i++) {
		uint64_t ts = f->spans[i].ts, mono = f->spans[i].mono;
		if (ts > f->ts_at && mono > f->mono_at && ts - f->ts_at > best) {
			best = ts - f->ts_at;
			bts = ts;
			bmono = mono;
		}
	}
	double k = (double)(bmono - f->mono_at) / (double)(bts - f->ts_at);
	/* more than 10 ms apart, and within 1% of the calibration: use the fit */
	if (best && bmono - f->mono_at > 10000000 && k > f->ns_per_tick * 0.99 && k < f->ns_per_tick * 1.01)
		f->ns_per_tick = k;
}

/* ---- text from the trace ---- */

/* Length of the valid UTF-8 sequence at p that is not a control character (C1 included),
 * or 0. */
static unsigned utf8_ok(const unsigned char *p)
{
	unsigned n = p[0] >= 0xf0 && p[0] < 0xf5 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 ? 2 : 0;
	for (unsigned i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if (n == 2 && p[0] == 0xc2 && p[1] < 0xa0)
		return 0;               /* U+0080..U+009F: C1 controls (CSI, OSC...) */
	return n;
}

void st_sanitize(char *s)
{
	unsigned char *p = (unsigned char *)s;
	while (*p) {
		if (*p >= 0x20 && *p < 0x7f) {
			p++;
			continue;
		}
		unsigned n = *p >= 0x80 ? utf8_ok(p) : 0;
		if (n) {
			p += n;
			continue;
		}
		*p++ = '?';
	}
}

/* ---- processes and modules ---- */

static int cmp_pinfo(const void *a, const void *b)
{
	uint32_t x = (*(struct st_pinfo *const *)a)->id, y = (*(struct st_pinfo *const *)b)->id;
	return ST_CMP(x, y);
}

const struct st_pinfo *st_file_proc(const struct st_file *f, uint32_t id)
{
	int lo = 0, hi = f->nprocs - 1;
	while (lo <= hi) {
		int mid = (lo + hi) / 2;
		uint32_t v = f->procs[mid]->id;
		if (v == id)
			return f->procs[mid];
		if (v < id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

static struct st_pinfo *add_proc(struct st_file *f, uint32_t id)
{
	struct st_pinfo **v = st_xrealloc(f->procs, (size_t)(f->nprocs + 1) * sizeof(*v));
	struct st_pinfo *p = st_xcalloc(1, sizeof(*p));
	if (!v || !p) {
		free(p);
		if (v)
			f->procs = v;
		return NULL;
	}
	f->procs = v;
	v[f->nprocs++] = p;
	p->file = f;
	p->id = id;
	return p;
}

/* Is the process of this entry still running here (its pid alive, with its start time)? */
static int still_running(const struct st_pinfo *p)
{
	char path[64], buf[1024];
	if (p->state != ST_PS_LIVE || p->pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", p->pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	char *q = strrchr(buf, ')');
	if (!q || q[1] != ' ' || q[2] == 'Z')
		return 0;       /* a zombie has ended */
	int field = 2;
	for (q++; *q && field < 22; q++)
		if (*q == ' ')
			field++;
	return !p->start_ticks || strtoull(q, NULL, 10) == p->start_ticks;
}

static void load_procs(struct st_file *f)
{
	const struct st_trace_hdr *h = &f->hdr;
	for (uint32_t i = 0; i < h->nproc; i++) {
		struct st_proc e;
		memcpy(&e, f->map + h->proc_off + (size_t)i * sizeof(e), sizeof(e));
		if (e.state < ST_PS_LIVE || e.state > ST_PS_EXECED || !e.id || (e.id - 1) % h->nproc != i)
			continue;
		struct st_pinfo *p = add_proc(f, e.id);
		if (!p)
			return;
		p->pid = e.pid;
		p->ppid = e.ppid;
		p->flags = e.flags;
		p->state = e.state;
		p->exit_status = e.exit_status;
		p->uid = e.uid;
		p->euid = e.euid;
		p->start_ticks = e.start_ticks;
		p->t_start = e.t_start ? st_file_ns(f, e.t_start) : 0;
		p->t_end = e.t_end ? st_file_ns(f, e.t_end) : 0;
		p->sigpipe = e.sigpipe;
		p->stack_depth = e.stack_depth;
		p->payload_cap = e.payload_cap;
		memcpy(p->comm, e.comm, sizeof(p->comm));
		p->comm[sizeof(p->comm) - 1] = 0;
		st_sanitize(p->comm);
		p->cmdline_len = e.cmdline_len > sizeof(e.cmdline) ? sizeof(e.cmdline) : e.cmdline_len;
		memcpy(p->cmdline, e.cmdline, p->cmdline_len);
		for (uint32_t k = 0; k < p->cmdline_len;) {   /* each NUL-separated argument */
			st_sanitize(p->cmdline + k);
			k += (uint32_t)strnlen(p->cmdline + k, p->cmdline_len - k) + 1;
		}
		p->image = (const struct st_pinfo *)(uintptr_t)e.image;    /* ids until linked */
		p->parent = (const struct st_pinfo *)(uintptr_t)e.parent;
	}
	if (f->nprocs)
		qsort(f->procs, (size_t)f->nprocs, sizeof(*f->procs), cmp_pinfo);
	for (int i = 0; i < f->nprocs; i++) {
		struct st_pinfo *p = f->procs[i];
		p->running = f->mapped && still_running(p);   /* (not for an image in memory) */
		p->image = st_file_proc(f, (uint32_t)(uintptr_t)p->image);
		p->parent = st_file_proc(f, (uint32_t)(uintptr_t)p->parent);
	}
}

static void load_modules(struct st_file *f)
{
	const struct st_trace_hdr *h = &f->hdr;
	uint64_t n = h->modi_next < h->nmodi ? h->modi_next : h->nmodi;
	for (uint64_t i = 0; i < n; i++) {
		struct st_modinst mi;
		struct st_modfile mf;
		memcpy(&mi, f->map + h->modi_off + i * sizeof(mi), sizeof(mi));
		if (!mi.image || !mi.file || mi.file > h->nmodf)
			continue;
		memcpy(&mf, f->map + h->modf_off + (size_t)(mi.file - 1) * sizeof(mf), sizeof(mf));
		if (mf.state != 2 || mf.hi <= mf.lo || mf.build_id_len > 20)
			continue;
		struct st_pinfo *p = (struct st_pinfo *)st_file_proc(f, mi.image);
		if (!p)
			continue;
		struct st_module *v = st_xrealloc(p->mods, (size_t)(p->nmods + 1) * sizeof(*v));
		if (!v)
			return;
		p->mods = v;
		struct st_module *m = &v[p->nmods++];
		m->base = mi.base;
		m->lo = mi.base + mf.lo;
		m->hi = mi.base + mf.hi;
		m->build_id_len = mf.build_id_len;
		memcpy(m->build_id, mf.build_id, sizeof(m->build_id));
		memcpy(m->path, mf.path, sizeof(m->path));
		m->path[sizeof(m->path) - 1] = 0;
		st_sanitize(m->path);
	}
	for (int i = 0; i < f->nprocs; i++) {
		struct st_pinfo *p = f->procs[i];
		const struct st_pinfo *img = p->image && p->image != p ? p->image : p;
		if (img->nmods)
			snprintf(p->exe, sizeof(p->exe), "%s", img->mods[0].path);
		else if (p->cmdline_len)
			snprintf(p->exe, sizeof(p->exe), "%.*s", (int)strnlen(p->cmdline, p->cmdline_len),
			         p->cmdline);
	}
}

int st_module_of(const struct st_pinfo *p, uint64_t addr, const struct st_module **out)
{
	for (int depth = 0; p && depth < 2; depth++) {
		for (int i = 0; i < p->nmods; i++)
			if (addr >= p->mods[i].lo && addr < p->mods[i].hi) {
				*out = &p->mods[i];
				return 1;
			}
		p = p->image != p ? p->image : NULL;
	}
	return 0;
}

static int cmp_pair_a(const void *x, const void *y)
{
	const struct pair *a = x, *b = y;
	return ST_CMP(a->a, b->a);
}

static int cmp_pair_b(const void *x, const void *y)
{
	const struct pair *a = x, *b = y;
	return ST_CMP(a->b, b->b);
}

static const struct pair *find_pair(const struct pair *v, size_t n, uint64_t key, int by_b)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		uint64_t k = by_b ? v[mid].b : v[mid].a;
		if (k == key)
			return &v[mid];
		if (k < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static void load_socks(struct st_file *f, struct st_file_priv *pv)
{
	const struct st_trace_hdr *h = &f->hdr;
	pv->socks = st_xcalloc(h->nsock ? h->nsock : 1, sizeof(*pv->socks));
	if (!pv->socks)
		return;
	for (uint32_t i = 0; i < h->nsock; i++) {
		uint64_t key;
		memcpy(&key, f->map + h->sock_off + (size_t)i * sizeof(struct st_sock), 8);
		if (key)
			pv->socks[pv->nsocks++] = (struct pair){ key, i };
	}
	if (pv->nsocks)
		qsort(pv->socks, pv->nsocks, sizeof(*pv->socks), cmp_pair_a);
}

int st_sock_lookup(const struct st_pinfo *p, int fd, struct st_sock *out)
{
	const struct st_file *f = p ? p->file : NULL;
	if (!f || fd < 0)
		return 0;
	const struct st_file_priv *pv = (const struct st_file_priv *)(f + 1);
	if (!pv->socks)
		return 0;
	uint64_t key = (uint64_t)p->id << 32 | (uint32_t)fd;
	const struct pair *e = find_pair(pv->socks, pv->nsocks, key, 0);
	if (!e)
		return 0;
	memcpy(out, f->map + f->hdr.sock_off + e->b * sizeof(*out), sizeof(*out));
	return !(out->seq & 1) && out->origin != ST_OR_NONE && out->key == key;
}

/* ---- spans and records ---- */

static const uint8_t *ring(const struct st_file *f)
{
	return f->map + f->hdr.ring_off;
}

/* Unmap the ring's pages from this process (they stay in the page cache). Reading one span
 * header maps 64 KiB around it (the kernel's fault-around), so without this a scan of the
 * span headers alone holds the whole ring in our RSS. */
static void drop_ring(const struct st_file *f)
{
	if (f->mapped)
		madvise((void *)ring(f), (size_t)f->hdr.nblocks * ST_BLOCK, MADV_DONTNEED);
}

static int cmp_span(const void *x, const void *y)
{
	const struct st_span_ix *a = x, *b = y;
	return ST_CMP(a->pos, b->pos);
}

/* Every current span: its first block's btab entry names it and all its blocks agree. */
static int index_spans(struct st_file *f)
{
	const struct st_trace_hdr *h = &f->hdr;
	uint64_t R = (uint64_t)h->nblocks * ST_BLOCK;
	const uint8_t *bt = f->map + h->btab_off;
	free(f->spans);
	f->spans = NULL;
	f->nspans = 0;
	size_t cap = 0;
	for (uint64_t b = 0; b < h->nblocks;) {
		uint64_t p;
		memcpy(&p, bt + b * 8, 8);
		if (!p || p == BTAB_VOID || p % ST_BLOCK || (p % R) / ST_BLOCK != b) {
			b++;
			continue;
		}
		struct st_span s;
		memcpy(&s, ring(f) + b * ST_BLOCK, sizeof(s));
		uint64_t nb = s.size / ST_BLOCK;
		int ok = s.pos == p && s.size >= ST_BLOCK && s.size % ST_BLOCK == 0 &&
		         nb <= ST_SPAN_MAX + 65 && b + nb <= h->nblocks;
		for (uint64_t k = 1; ok && k < nb; k++) {
			uint64_t q;
			memcpy(&q, bt + (b + k) * 8, 8);
			ok = q == p;
		}
		if (!ok) {
			b++;
			continue;
		}
		ST_GROW(f->spans, f->nspans, cap, 256);
		if ((f->nspans & 255) == 255)
			drop_ring(f);
		f->spans[f->nspans++] = (struct st_span_ix){ .pos = p, .off = b * ST_BLOCK, .size = s.size,
		                                             .tid = s.tid, .nrec = s.nrec, .nexit = s.nexit,
		                                             .ts = s.ts, .mono = s.mono,
		                                             .p = (const struct st_pinfo *)(uintptr_t)s.proc };
		b += nb;
	}
	if (f->nspans)
		qsort(f->spans, f->nspans, sizeof(*f->spans), cmp_span);
	drop_ring(f);
	return 0;
}

/* Attach each span to its process (one made up for ids missing from the table). */
static void link_spans(struct st_file *f)
{
	for (size_t i = 0; i < f->nspans; i++) {
		uint32_t id = (uint32_t)(uintptr_t)f->spans[i].p;
		const struct st_pinfo *p = st_file_proc(f, id);
		if (!p) {
			struct st_pinfo *np = add_proc(f, id);
			if (np) {
				snprintf(np->comm, sizeof(np->comm), "?");
				qsort(f->procs, (size_t)f->nprocs, sizeof(*f->procs), cmp_pinfo);
			}
			p = st_file_proc(f, id);
		}
		f->spans[i].p = p;
	}
}

enum { REC_BAD = -1, REC_END = 0 };

/* The record at byte `off` of span s: its length (>= 64), or REC_BAD when its word does
 * not belong there or does not fit. */
static int rec_at(const struct st_file *f, const struct st_span_ix *s, uint32_t off, struct st_rec *out)
{
	if (off < sizeof(struct st_span) || off + FIXED > s->size || off % 8)
		return REC_BAD;
	memcpy(out, ring(f) + s->off + off, sizeof(*out));
	unsigned len = ST_RW_LEN(out->w);
	if (ST_RW_CHECK(out->w) != (uint32_t)((s->pos + off) >> 3) || len < FIXED || len % 8 ||
	    off + len > s->size || ST_RW_KIND(out->w) > ST_K_EXIT)
		return REC_BAD;
	if (ST_RW_KIND(out->w) != ST_K_WRITING &&
	    (out->call == 0 || out->call >= ST_C_COUNT || out->nframes > ST_MAX_FRAMES ||
	     FIXED + out->nframes * 8u > len))
		return REC_BAD;
	return (int)len;
}

static const struct st_span_ix *span_of(const struct st_file *f, uint64_t pos)
{
	size_t lo = 0, hi = f->nspans;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const struct st_span_ix *s = &f->spans[mid];
		if (pos < s->pos)
			hi = mid;
		else if (pos >= s->pos + s->size)
			lo = mid + 1;
		else
			return s;
	}
	return NULL;
}

/* The entry record at stream position pos, if it is there and still waits for its exit. */
static int entry_at(const struct st_file *f, uint64_t pos)
{
	const struct st_span_ix *s = span_of(f, pos);
	struct st_rec r;
	return s && rec_at(f, s, (uint32_t)(pos - s->pos), &r) > 0 && ST_RW_KIND(r.w) == ST_K_ENTERED;
}

static uint64_t late_of(const struct st_file *f, const struct st_span_ix *s, uint32_t off, unsigned len)
{
	struct st_rec r;
	memcpy(&r, ring(f) + s->off + off, sizeof(r));
	unsigned t = FIXED + r.nframes * 8u;
	struct st_tlv_hdr th;
	if (t + 4 + 8 > len)
		return 0;
	memcpy(&th, ring(f) + s->off + off + t, 4);
	if (th.type != ST_T_LATE_OF || th.len != 8)
		return 0;
	uint64_t v;
	memcpy(&v, ring(f) + s->off + off + t + 4, 8);
	return v;
}

/* Separate exit records, paired with the entries they complete (where those survive). */
static int pair_exits(struct st_file *f, struct st_file_priv *pv)
{
	size_t cap = 0;
	for (size_t i = 0; i < f->nspans; i++) {
		const struct st_span_ix *s = &f->spans[i];
		if (!s->nexit)
			continue;
		uint32_t off = sizeof(struct st_span);
		for (uint32_t k = 0; k < s->nrec; k++) {
			struct st_rec r;
			int len = rec_at(f, s, off, &r);
			if (len <= 0)
				break;
			if (ST_RW_KIND(r.w) == ST_K_EXIT) {
				uint64_t e = late_of(f, s, off, (unsigned)len);
				if (e && entry_at(f, e)) {
					ST_GROW(pv->by_enter, pv->npairs, cap, 64);
					pv->by_enter[pv->npairs++] = (struct pair){ e, s->pos + off };
				}
			}
			off += (uint32_t)len;
		}
	}
	if (pv->npairs) {
		pv->by_exit = st_xmalloc(pv->npairs * sizeof(struct pair));
		if (!pv->by_exit)
			return -1;
		memcpy(pv->by_exit, pv->by_enter, pv->npairs * sizeof(struct pair));
		qsort(pv->by_enter, pv->npairs, sizeof(struct pair), cmp_pair_a);
		qsort(pv->by_exit, pv->npairs, sizeof(struct pair), cmp_pair_b);
	}
	return 0;
}

static void free_contents(struct st_file *f)
{
	struct st_file_priv *pv = (struct st_file_priv *)(f + 1);
	for (int i = 0; i < f->nprocs; i++) {
		free(f->procs[i]->mods);
		free(f->procs[i]);
	}
	free(f->procs);
	f->procs = NULL;
	f->nprocs = 0;
	free(f->spans);
	f->spans = NULL;
	f->nspans = 0;
	free(pv->by_enter);
	free(pv->by_exit);
	free(pv->socks);
	memset(pv, 0, sizeof(*pv));
}

static int load(struct st_file *f)
{
	struct st_file_priv *pv = (struct st_file_priv *)(f + 1);
	free_contents(f);
	fit_clock(f);
	load_procs(f);
	load_modules(f);
	load_socks(f, pv);
	if (index_spans(f) < 0)
		return -1;
	link_spans(f);
	fit_clock(f);
	for (int i = 0; i < f->nprocs; i++) {   /* again, with the fitted clock */
		struct st_proc e;
		struct st_pinfo *p = f->procs[i];
		if (!p->state)
			continue;
		memcpy(&e, f->map + f->hdr.proc_off + (size_t)((p->id - 1) % f->hdr.nproc) * sizeof(e), sizeof(e));
		p->t_start = e.t_start ? st_file_ns(f, e.t_start) : 0;
		p->t_end = e.t_end ? st_file_ns(f, e.t_end) : 0;
	}
	return pair_exits(f, pv);
}

/* Take over a file image already in memory (mapped, or the fuzzer's buffer) and check it. */
struct st_file *st_file_adopt(const char *path, const uint8_t *map, size_t len, int mapped,
                              char *err, size_t errlen)
{
	if (len < ST_HDR_SIZE) {
		snprintf(err, errlen, "%s (%zu bytes)", len == 0 ? "empty file" : "too short for a trace file", len);
		return NULL;
	}
	struct st_file *f = st_xcalloc(1, sizeof(*f) + sizeof(struct st_file_priv));
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
		         ? "no trace-file magic (the process died while creating it, or this is not a trace file)"
		         : "not a socktrace trace file (bad magic)");
		free(f);
		return NULL;
	}
	if (check_header(&f->hdr, f->len, err, errlen) < 0) {
		free(f);
		return NULL;
	}
	f->path = st_xstrdup(path);
	if (!f->path || load(f) < 0) {
		snprintf(err, errlen, "out of memory");
		st_file_close(f);
		return NULL;
	}
	return f;
}

int st_file_refresh(struct st_file *f)
{
	memcpy(&f->hdr, f->map, sizeof(f->hdr));
	return load(f);
}

/*
 * Map the trace in fd (*len: the file's size in, the trace's size out). A file cut short (a
 * disk that filled, a partial copy) is mapped at the size its header says, the missing end
 * reading as zeros: what is there is shown, and the reader finds nothing where the zeros
 * are. Bytes after the trace's end are left out. NULL (err set) if it cannot be mapped.
 */
static void *map_whole(int fd, size_t *len, char *err, size_t errlen)
{
	size_t have = *len, want = have;
	struct st_trace_hdr h;
	char e2[8];
	if (pread(fd, &h, sizeof(h), 0) == (ssize_t)sizeof(h) && memcmp(h.magic, ST_MAGIC, 8) == 0 &&
	    h.file_size <= ST_FILE_MAX && h.file_size >= ST_HDR_SIZE && h.file_size != have &&
	    check_header(&h, (size_t)h.file_size, e2, sizeof(e2)) == 0)
		want = (size_t)h.file_size;
	if (want <= have) {
		void *map = mmap(NULL, want, PROT_READ, MAP_SHARED, fd, 0);
		if (map == MAP_FAILED) {
			snprintf(err, errlen, "cannot map: %s", strerror(errno));
			return NULL;
		}
		*len = want;
		return map;
	}
	/* zeros (read-only: no memory committed for them), with the file's whole pages mapped over
	 * them and its last partial page copied into one writable page */
	size_t page = (size_t)sysconf(_SC_PAGESIZE), whole = have / page * page;
	size_t last = want - whole < page ? want - whole : page;
	uint8_t *map = mmap(NULL, want, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (map == MAP_FAILED ||
	    (whole && mmap(map, whole, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED) ||
	    (have > whole && (mmap(map + whole, last, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS |
	                           MAP_FIXED, -1, 0) == MAP_FAILED ||
	                      pread(fd, map + whole, have - whole, (off_t)whole) != (ssize_t)(have - whole)))) {
		snprintf(err, errlen, "cannot map: %s", strerror(errno));
		if (map != MAP_FAILED)
			munmap(map, want);
		return NULL;
	}
	if (have > whole)
		mprotect(map + whole, last, PROT_READ);
	*len = want;
	return map;
}

struct st_file *st_file_open(const char *path, char *err, size_t errlen)
{
	struct stat sb;
	struct st_file *f = NULL;
	/* non-blocking: a FIFO planted in a trace directory must not hang us */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		return NULL;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "not a regular file");
		goto out;
	}
	if ((uint64_t)sb.st_size > ST_FILE_MAX) {
		snprintf(err, errlen, "%llu bytes: larger than any trace (64 GiB at most)",
		         (unsigned long long)sb.st_size);
		goto out;
	}
	if ((size_t)sb.st_size < ST_HDR_SIZE) {
		f = st_file_adopt(path, NULL, (size_t)sb.st_size, 0, err, errlen);
		goto out;
	}
	size_t have = (size_t)sb.st_size, len = have;
	void *map = map_whole(fd, &len, err, errlen);
	if (!map)
		goto out;
	/* random access: no read-ahead, no fault-around (one span header per 64 KiB would
	 * otherwise map the whole ring) */
	madvise(map, len, MADV_RANDOM);
	f = st_file_adopt(path, map, len, 1, err, errlen);
	if (!f) {
		munmap(map, len);
	} else if (len != have) {
		f->missing = len > have ? len - have : 0;
		f->extra = have > len ? have - len : 0;
	}
out:
	close(fd);
	return f;
}

void st_file_close(struct st_file *f)
{
	if (!f)
		return;
	free_contents(f);
	if (f->mapped)
		munmap((void *)f->map, f->len);
	free(f->path);
	free(f);
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

/* Append the TLVs of the record at ring bytes [from, to) to out's blob, up to padding. */
static void copy_tlvs(struct st_record *out, const uint8_t *p, unsigned from, unsigned to, int skip_late)
{
	while (from + 4 <= to) {
		struct st_tlv_hdr th;
		memcpy(&th, p + from, 4);
		if (th.type == 0 || from + 4 + th.len > to)
			break;
		if (!(skip_late && th.type == ST_T_LATE_OF) && out->blob_len + 4 + th.len <= sizeof(out->blob)) {
			memcpy(out->blob + out->blob_len, p + from, 4 + th.len);
			out->blob_len += 4 + th.len;
		}
		from += 4 + th.len;
	}
}

/* ---- merge: one cursor per span, a binary heap ordered by the next record's time ---- */

struct cursor {
	struct st_file *f;
	const struct st_span_ix *s;
	uint32_t next;                  /* byte offset of the next record to examine */
	uint32_t left;                  /* records still to examine */
	uint32_t cur;                   /* offset of the current record */
	uint64_t ts, pos;               /* of the current record: all the merge orders by */
};

struct st_merge {
	struct cursor *c;
	int n;
	struct st_record *out;
};

/* Move to the next record to hand out; 0 at the end of the span. */
static int cursor_advance(struct cursor *c)
{
	struct st_file *f = c->f;
	const struct st_file_priv *pv = (const struct st_file_priv *)(f + 1);
	while (c->left > 0) {
		struct st_rec r;
		int len = rec_at(f, c->s, c->next, &r);
		if (len <= 0) {
			f->corrupt++;
			c->left = 0;
			return 0;
		}
		c->cur = c->next;
		c->next += (uint32_t)len;
		c->left--;
		unsigned kind = ST_RW_KIND(r.w);
		if (kind == ST_K_WRITING) {
			f->torn++;
			continue;
		}
		uint64_t pos = c->s->pos + c->cur;
		if (kind == ST_K_EXIT && find_pair(pv->by_exit, pv->npairs, pos, 1))
			continue;       /* handed out with its entry */
		c->ts = r.t_enter;
		c->pos = pos;
		return 1;
	}
	return 0;
}

static void decode(struct st_file *f, const struct cursor *c, struct st_record *out)
{
	const struct st_file_priv *pv = (const struct st_file_priv *)(f + 1);
	struct st_rec r;
	int len = rec_at(f, c->s, c->cur, &r);
	const uint8_t *base = ring(f) + c->s->off + c->cur;
	unsigned kind = ST_RW_KIND(r.w);
	memset(out, 0, offsetof(struct st_record, blob));
	out->file = f;
	out->proc = c->s->p;
	out->tid = c->s->tid;
	out->ticket = c->pos;
	out->ts_enter = st_file_ns(f, r.t_enter);
	out->ret = r.ret;
	memcpy(out->a, r.a, sizeof(out->a));
	out->fd = r.fd;
	out->err = r.err;
	out->call = r.call;
	out->flags = (uint8_t)ST_RW_FLAGS(r.w);
	out->complete = kind != ST_K_ENTERED;
	if (r.nframes) {
		struct st_tlv_hdr th = { ST_T_FRAMES, 0, (uint16_t)(r.nframes * 8) };
		memcpy(out->blob, &th, 4);
		memcpy(out->blob + 4, base + FIXED, r.nframes * 8u);
		out->blob_len = 4 + r.nframes * 8u;
	}
	copy_tlvs(out, base, FIXED + r.nframes * 8u, (unsigned)len, 0);
	if (kind == ST_K_EXIT) {
		out->flags |= ST_RF_LATE;
		f->late++;
	}
	const struct pair *pr;
	if (kind == ST_K_ENTERED && (pr = find_pair(pv->by_enter, pv->npairs, c->pos, 0))) {
		const struct st_span_ix *xs = span_of(f, pr->b);
		struct st_rec x;
		int xl = xs ? rec_at(f, xs, (uint32_t)(pr->b - xs->pos), &x) : -1;
		if (xl > 0) {
			out->complete = 1;
			out->ret = x.ret;
			out->err = x.err;
			/* the completion holds the entry's arguments, and one the call only knew once it
			 * returned (epoll_ctl's event, read after the call) */
			if (!(ST_RW_FLAGS(x.w) & ST_RF_NOARGS))
				memcpy(out->a, x.a, sizeof(out->a));
			r.t_exit = x.t_exit;
			copy_tlvs(out, ring(f) + xs->off + (pr->b - xs->pos), FIXED + x.nframes * 8u,
			          (unsigned)xl, 1);
		}
	}
	out->ts_exit = out->complete ? st_file_ns(f, r.t_exit) : 0;
	if (!out->complete)
		out->err = 0, out->ret = 0;
}

int st_span_next(struct st_file *f, size_t i, struct st_span_pos *sp, struct st_record *out)
{
	const struct st_span_ix *s = &f->spans[i];
	if (sp->off == 0)
		sp->off = sizeof(struct st_span);
	if (sp->seen >= s->nrec)
		return 0;
	struct cursor c = { .f = f, .s = s, .next = sp->off, .left = s->nrec - sp->seen };
	uint32_t left0 = c.left;
	uint64_t corrupt = f->corrupt, records = f->records;
	int got = cursor_advance(&c);
	(void)records;
	if (f->corrupt != corrupt) {    /* not written yet (a live writer), or damaged: wait */
		f->corrupt = corrupt;
		return 0;
	}
	if (!got) {
		sp->off = c.next;
		sp->seen += left0 - c.left;
		return 0;
	}
	/* skipped records before this one are consumed; this one is taken by st_span_take */
	sp->seen += left0 - c.left - 1;
	sp->off = c.cur;
	sp->next_off = c.next;
	decode(f, &c, out);
	return 1;
}

uint64_t st_span_start(const struct st_file *f, size_t i)
{
	return f->spans[i].pos;
}

void st_span_take(struct st_span_pos *sp)
{
	sp->off = sp->next_off;
	sp->seen++;
}

/* Give a span's pages back (they stay in the page cache): the merge's RSS stays at the spans
 * it is in the middle of, not the whole trace. */
static void drop_span(const struct st_file *f, const struct st_span_ix *s)
{
	if (!f->mapped)
		return;
	uintptr_t a = (uintptr_t)(ring(f) + s->off), e = a + s->size;
	a = (a + 4095) & ~(uintptr_t)4095;
	e &= ~(uintptr_t)4095;
	if (e > a)
		madvise((void *)a, e - a, MADV_DONTNEED);
}

static int before(const struct cursor *a, const struct cursor *b)
{
	if (a->ts != b->ts)
		return a->ts < b->ts;
	return a->pos < b->pos;
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

struct st_merge *st_merge_new_after(struct st_file **files, int nfiles, const uint64_t *after)
{
	struct st_merge *m = st_xcalloc(1, sizeof(*m));
	size_t cap = 0;
	if (!m)
		return NULL;
	for (int i = 0; i < nfiles; i++)
		cap += files[i]->nspans;
	m->c = st_xcalloc(cap ? cap : 1, sizeof(*m->c));
	m->out = st_xmalloc(sizeof(*m->out));
	if (!m->c || !m->out) {
		st_merge_free(m);
		return NULL;
	}
	for (int i = 0; i < nfiles; i++) {
		struct st_file *f = files[i];
		f->records = f->torn = f->corrupt = f->incomplete = f->late = 0;
		for (int k = 0; k < f->nprocs; k++)
			f->procs[k]->records = f->procs[k]->incomplete = 0;
		for (size_t k = 0; k < f->nspans; k++) {
			struct cursor *c = &m->c[m->n];
			*c = (struct cursor){ .f = f, .s = &f->spans[k], .next = sizeof(struct st_span),
			                      .left = f->spans[k].nrec };
			while (cursor_advance(c))
				if (!after || c->pos > after[i]) {
					m->n++;
					break;
				}
			drop_span(f, c->s);
		}
	}
	for (int i = 0; i < nfiles; i++)
		drop_ring(files[i]);
	for (int i = m->n / 2 - 1; i >= 0; i--)
		sift_down(m, i);
	return m;
}

struct st_merge *st_merge_new(struct st_file **files, int nfiles)
{
	return st_merge_new_after(files, nfiles, NULL);
}

/* The next record in time order, or NULL at the end. Valid until the next call. */
const struct st_record *st_merge_next(struct st_merge *m)
{
	if (!m || m->n == 0)
		return NULL;
	struct cursor *top = &m->c[0];
	struct st_file *f = top->f;
	decode(f, top, m->out);
	if ((++f->records & 0x1fff) == 0)
		drop_ring(f);
	if (m->out->proc && m->out->call != ST_C_SOCKSTATE)   /* (the kernel's queues: not a call) */
		((struct st_pinfo *)m->out->proc)->records++;
	/* an exec that worked into a program that never made a socket call: the image was
	 * replaced, not killed */
	if (m->out->proc && m->out->call == ST_C_EXEC && !m->out->complete &&
	    m->out->proc->state == ST_PS_LIVE && !m->out->proc->running)
		((struct st_pinfo *)m->out->proc)->state = ST_PS_EXECED;
	if (!m->out->complete && m->out->call != ST_C_EXEC) {  /* an exec that worked never returns */
		f->incomplete++;
		if (m->out->proc)
			((struct st_pinfo *)m->out->proc)->incomplete++;
	}
	if (!cursor_advance(top)) {
		drop_span(f, top->s);
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
	free(m);
}

static int add_path(char ***out, int *n, const char *p)
{
	char **v = st_xrealloc(*out, (size_t)(*n + 1) * sizeof(char *));
	if (!v)
		return -1;
	*out = v;
	v[(*n)++] = st_xstrdup(p);
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
			fprintf(stderr, "socktrace: %s: no trace in this directory\n", argv[i]);
			rc = -1;
		}
	}
	return rc;
}
