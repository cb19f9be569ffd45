/* libFuzzer target for the viewer: the input becomes the records (and optionally the header,
 * module map and socket table) of an otherwise valid ring; everything the viewer does with a
 * trace runs over it: validation, merge, lifecycle, argument decoding in text and JSON.
 * Input: a mode byte, then up to two chunks of ring, then socket-table entries.
 * The mode byte: bit 0 repairs seq/checksums so the fuzzer reaches the decoders
 * behind them, bit 1 lets the input overwrite header fields. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "emit.h"
#include "lifecycle.h"
#include "reader.h"

#define NCHUNKS 2
#define CHUNK (ST_CHUNK_SLOTS * ST_SLOT_SIZE)

static size_t meta_size(void)
{
	size_t meta = 4096 + sizeof(struct st_module) * ST_MAX_MODULES + sizeof(struct st_sock) * ST_SOCKTAB_N;
	return (meta + CHUNK - 1) & ~(size_t)(CHUNK - 1);
}

static void repair(uint8_t *img, size_t meta)
{
	for (unsigned c = 0; c < NCHUNKS; c++) {
		uint8_t *ch = img + meta + (size_t)c * CHUNK;
		struct st_chunk_hdr *ck = (struct st_chunk_hdr *)ch;
		ck->ticket_plus1 = c + 1;
		for (unsigned i = 1; i < ST_CHUNK_SLOTS;) {
			struct st_rec *r = (struct st_rec *)(ch + (size_t)i * ST_SLOT_SIZE);
			unsigned phase = (unsigned)(r->seq & 7);
			if (phase < ST_PH_ENTERED || phase > ST_PH_COMPLETE)
				phase = ST_PH_COMPLETE;
			uint64_t ticket = (uint64_t)c * ST_CHUNK_SLOTS + i;
			r->seq = ticket << 3 | phase;
			if (r->nslots == 0 || i + r->nslots > ST_CHUNK_SLOTS)
				r->nslots = 1;
			r->call = (uint16_t)(r->call % (ST_C_COUNT - 1) + 1);
			unsigned cap = ST_INLINE + (r->nslots - 1u) * (ST_SLOT_SIZE - 8u);
			r->blob_len %= cap + 1;
			r->blob_elen %= r->blob_len + 1u;
			for (unsigned k = 1; k < r->nslots; k++)
				((struct st_cont *)r)[k].seq = ticket << 3 | ST_PH_CONT;
			r->csum_enter = st_rec_csum_enter(r);
			r->csum_exit = st_rec_csum_exit(r);
			i += r->nslots;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *img;
	size_t meta = meta_size(), len = meta + (size_t)NCHUNKS * CHUNK;
	if (!img)
		img = malloc(len);
	memset(img, 0, len);
	struct st_file_hdr *h = (struct st_file_hdr *)img;
	h->version = ST_VERSION;
	h->hdr_size = 4096;
	h->slot_size = ST_SLOT_SIZE;
	h->chunk_slots = ST_CHUNK_SLOTS;
	h->nchunks = NCHUNKS;
	h->max_modules = ST_MAX_MODULES;
	h->socktab_n = ST_SOCKTAB_N;
	h->sock_size = sizeof(struct st_sock);
	h->file_size = len;
	h->mod_off = 4096;
	h->socktab_off = 4096 + sizeof(struct st_module) * ST_MAX_MODULES;
	h->chunks_off = meta;
	h->pid = 1;
	memcpy(h->magic, ST_MAGIC, 8);
	if (size < 1)
		return 0;
	unsigned mode = data[0];
	data++;
	size--;
	if ((mode & 2) && size >= 96) {
		memcpy(img + 8, data, 96);       /* version .. chunks_off and the clocks */
		data += 96;
		size -= 96;
	}
	/* then the chunks, then the socket table entries of the first fds */
	size_t n = size < (size_t)NCHUNKS * CHUNK ? size : (size_t)NCHUNKS * CHUNK;
	memcpy(img + meta, data, n);
	data += n;
	size -= n;
	size_t k = size < 8 * sizeof(struct st_sock) ? size : 8 * sizeof(struct st_sock);
	memcpy(img + 4096 + sizeof(struct st_module) * ST_MAX_MODULES, data, k);
	if (mode & 1)
		repair(img, meta);

	char err[256];
	struct st_file *f = st_file_adopt("fuzz", img, len, 0, err, sizeof(err));
	if (!f)
		return 0;
	FILE *null = fopen("/dev/null", "w");
	struct st_merge *m = st_merge_new(&f, 1);
	struct lc *lc = lc_new();
	const struct st_record *r;
	while ((r = st_merge_next(m))) {
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
	st_merge_free(m);
	fclose(null);
	st_file_close(f);
	return 0;
}
