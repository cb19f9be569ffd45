/* Output formats as callback tables: the same decoded fields rendered as text or as JSON. */
#ifndef ST_EMIT_H
#define ST_EMIT_H

#include <stdint.h>
#include <stdio.h>

struct emit;

struct emit_ops {
	void (*begin_obj)(struct emit *e, const char *key);
	void (*end_obj)(struct emit *e);
	void (*begin_list)(struct emit *e, const char *key);
	void (*end_list)(struct emit *e);
	void (*kv_int)(struct emit *e, const char *key, int64_t v);
	void (*kv_str)(struct emit *e, const char *key, const char *s);   /* NULL s: null */
	void (*kv_bool)(struct emit *e, const char *key, int v);
	void (*kv_bytes)(struct emit *e, const char *key, const uint8_t *p, unsigned n);
};

struct emit {
	const struct emit_ops *ops;
	FILE *out;
	int depth;
	int first[16];                  /* per nesting level: nothing printed yet */
};

extern const struct emit_ops emit_text, emit_json;

void emit_init(struct emit *e, const struct emit_ops *ops, FILE *out);
void json_string(FILE *out, const char *s);

#endif
