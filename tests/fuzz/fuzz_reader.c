/* libFuzzer target for the viewer: the input becomes two spans of records (and optionally the
 * header, process, socket and module entries) of an otherwise valid 1 MiB trace; everything
 * the viewer does with a trace runs over it: validation, merge, lifecycle, decoding.
 * Input: a mode byte, [96 header bytes if mode & 2], two spans of 4 KiB, then table entries.
 * mode & 1 repairs span headers and record words so the fuzzer reaches the decoders behind
 * them. Only the regions an input can touch are reset between runs (fast: no 1 MiB memset). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "emit.h"
#include "lifecycle.h"
#include "order.h"
#include "reader.h"

#define SIZE_ARG  (1u << 20)
#define SPAN      (4 * ST_BLOCK)
#define NSPANS    2
#define NPROCS    2
#define NSOCKS    4
#define NMODI     4

static uint8_t *img, *pristine;
static struct st_trace_hdr lay;

static void build(void)
{
	memset(&lay, 0, sizeof(lay));
	st_layout(&lay, SIZE_ARG);
	img = calloc(1, lay.file_size);
	pristine = calloc(1, lay.file_size);
	struct st_trace_hdr *h = (struct st_trace_hdr *)pristine;
	*h = lay;
	h->version = ST_VERSION;
	h->hdr_size = ST_HDR_SIZE;
	h->layout = st_layout_id(ST_CALL_NAMES);
	h->size_arg = SIZE_ARG;
	h->mono0 = 1000000000;
	h->ts0 = 1000000000;
	uint64_t R = (uint64_t)lay.nblocks * ST_BLOCK;
	h->head = R + NSPANS * SPAN;
	h->proc_next = 1;
	memcpy(h->magic, ST_MAGIC, 8);
	for (unsigned s = 0; s < NSPANS; s++)
		for (unsigned b = 0; b < SPAN / ST_BLOCK; b++) {
			uint64_t pos = R + (uint64_t)s * SPAN;
			memcpy(pristine + lay.btab_off + (s * SPAN / ST_BLOCK + b) * 8, &pos, 8);
		}
	struct st_proc *p = (struct st_proc *)(pristine + lay.proc_off);
	p->state = ST_PS_LIVE;
	p->id = 1;
	p->pid = 100;
	memcpy(p->comm, "fuzz", 5);
	memcpy(img, pristine, lay.file_size);
}

/* Put back what the last input may have changed. */
static void reset(void)
{
	memcpy(img, pristine, ST_HDR_SIZE);
	memcpy(img + lay.proc_off, pristine + lay.proc_off, NPROCS * sizeof(struct st_proc));
	memcpy(img + lay.sock_off, pristine + lay.sock_off, NSOCKS * sizeof(struct st_sock));
	memcpy(img + lay.modf_off, pristine + lay.modf_off, sizeof(struct st_modfile));
	memcpy(img + lay.modi_off, pristine + lay.modi_off, NMODI * sizeof(struct st_modinst));
	memcpy(img + lay.ring_off, pristine + lay.ring_off, NSPANS * SPAN);
}

static void repair(void)
{
	uint64_t R = (uint64_t)lay.nblocks * ST_BLOCK;
	for (unsigned s = 0; s < NSPANS; s++) {
		uint8_t *sp = img + lay.ring_off + (size_t)s * SPAN;
		struct st_span *h = (struct st_span *)sp;
		h->pos = R + (uint64_t)s * SPAN;
		h->size = SPAN;
		h->proc = 1;
		uint32_t off = sizeof(*h), n = 0;
		while (off + sizeof(struct st_rec) <= SPAN && n < 200) {
			struct st_rec *r = (struct st_rec *)(sp + off);
			unsigned len = ST_RW_LEN(r->w) & ~7u;
			if (len < sizeof(*r))
				len = sizeof(*r);
			if (off + len > SPAN)
				len = SPAN - off;
			unsigned kind = ST_RW_KIND(r->w) % 4;
			r->w = ST_RW(h->pos + off, len, kind, ST_RW_FLAGS(r->w));
			r->call = (uint8_t)(r->call % (ST_C_COUNT - 1) + 1);
			if (sizeof(*r) + r->nframes * 8u > len)
				r->nframes = (uint8_t)((len - sizeof(*r)) / 8);
			off += len;
			n++;
		}
		h->nrec = n;
		h->nexit %= n + 1;
	}
}

static size_t take(void *dst, size_t max, const uint8_t **data, size_t *size)
{
	size_t n = *size < max ? *size : max;
	memcpy(dst, *data, n);
	*data += n;
	*size -= n;
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!img)
		build();
	else
		reset();
	if (size < 1)
		return 0;
	unsigned mode = data[0];
	data++;
	size--;
	if ((mode & 2) && size >= 96)
		take(img + 8, 96, &data, &size);    /* version .. offsets and table sizes */
	take(img + lay.ring_off, NSPANS * SPAN, &data, &size);
	take(img + lay.proc_off, NPROCS * sizeof(struct st_proc), &data, &size);
	take(img + lay.sock_off, NSOCKS * sizeof(struct st_sock), &data, &size);
	take(img + lay.modf_off, sizeof(struct st_modfile), &data, &size);
	take(img + lay.modi_off, NMODI * sizeof(struct st_modinst), &data, &size);
	if (mode & 1)
		repair();

	char err[256];
	struct st_file *f = st_file_adopt("fuzz", img, lay.file_size, 0, err, sizeof(err));
	if (!f)
		return 0;
	static FILE *null;
	if (!null)
		null = fopen("/dev/null", "w");
	struct st_order *m = st_order_new(&f, 1);
	struct lc *lc = lc_new();
	const struct st_record *r;
	while ((r = st_order_next(m))) {
		lc_feed(lc, r);
		st_print_call(null, r);
		struct emit e;
		emit_init(&e, &emit_json, null);
		e.ops->begin_obj(&e, NULL);
		st_emit_args(&e, r);
		e.ops->end_obj(&e);
	}
	lc_finish(lc);
	lc_free(lc);
	st_order_free(m);
	st_file_close(f);
	return 0;
}
