/* The two renderings of decoded fields: "key=value, ..." text and JSON. */
#include "emit.h"

#include <string.h>

void emit_init(struct emit *e, const struct emit_ops *ops, FILE *out)
{
	memset(e, 0, sizeof(*e));
	e->ops = ops;
	e->out = out;
	e->first[0] = 1;
}

static void sep(struct emit *e, const char *text_sep)
{
	if (!e->first[e->depth])
		fputs(text_sep, e->out);
	e->first[e->depth] = 0;
}

static void push(struct emit *e)
{
	if (e->depth < 15)
		e->depth++;
	e->first[e->depth] = 1;
}

static void pop(struct emit *e)
{
	if (e->depth > 0)
		e->depth--;
}

/* ---- both: the key as the rendering writes it, then the value ---- */

static void key_of(struct emit *e, const char *key);

static void open_(struct emit *e, const char *key, int ch)
{
	key_of(e, key);
	fputc(ch, e->out);
	push(e);
}

static void close_(struct emit *e, int ch)
{
	pop(e);
	fputc(ch, e->out);
}

static void begin_obj(struct emit *e, const char *key) { open_(e, key, '{'); }
static void end_obj(struct emit *e) { close_(e, '}'); }
static void begin_list(struct emit *e, const char *key) { open_(e, key, '['); }
static void end_list(struct emit *e) { close_(e, ']'); }

static void kv_int(struct emit *e, const char *key, int64_t v)
{
	key_of(e, key);
	fprintf(e->out, "%lld", (long long)v);
}

static void kv_bool(struct emit *e, const char *key, int v)
{
	key_of(e, key);
	fputs(v ? "true" : "false", e->out);
}

/* ---- text ---- */

static void t_key(struct emit *e, const char *key)
{
	sep(e, ", ");
	if (key)
		fprintf(e->out, "%s=", key);
}

static void t_str(struct emit *e, const char *key, const char *s)
{
	t_key(e, key);
	fputs(s ? s : "NULL", e->out);
}

static void t_bytes(struct emit *e, const char *key, const uint8_t *p, unsigned n)
{
	t_key(e, key);
	fputc('"', e->out);
	for (unsigned i = 0; i < n; i++) {
		if (p[i] == '\n')
			fputs("\\n", e->out);
		else if (p[i] == '\r')
			fputs("\\r", e->out);
		else if (p[i] == '"' || p[i] == '\\')
			fprintf(e->out, "\\%c", p[i]);
		else if (p[i] >= 32 && p[i] < 127)
			fputc(p[i], e->out);
		else
			fprintf(e->out, "\\x%02x", p[i]);
	}
	fputc('"', e->out);
}

const struct emit_ops emit_text = { begin_obj, end_obj, begin_list, end_list, kv_int, t_str, kv_bool, t_bytes };

/* ---- JSON ---- */

void json_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p < 32 || *p >= 127)
			fprintf(out, "\\u%04x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

static void j_key(struct emit *e, const char *key)
{
	sep(e, ",");
	if (key) {
		json_string(e->out, key);
		fputc(':', e->out);
	}
}

static void j_str(struct emit *e, const char *key, const char *s)
{
	j_key(e, key);
	if (s)
		json_string(e->out, s);
	else
		fputs("null", e->out);
}

static void j_bytes(struct emit *e, const char *key, const uint8_t *p, unsigned n)
{
	j_key(e, key);
	fputc('"', e->out);
	for (unsigned i = 0; i < n; i++)
		fprintf(e->out, "%02x", p[i]);
	fputc('"', e->out);
}

const struct emit_ops emit_json = { begin_obj, end_obj, begin_list, end_list, kv_int, j_str, kv_bool, j_bytes };

static void key_of(struct emit *e, const char *key)
{
	if (e->ops == &emit_json)
		j_key(e, key);
	else
		t_key(e, key);
}
