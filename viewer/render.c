/* Renderings more than one command shares: a record as a JSON object, a socket's peer. */
#include <stdio.h>
#include <string.h>

#include "decode.h"
#include "emit.h"
#include "lifecycle.h"
#include "reader.h"
#include "render.h"
#include "symbolize.h"

static void frames_json(struct emit *e, const struct st_record *r)
{
	struct st_tlv_view t;
	e->ops->begin_list(e, "frames");
	if (st_tlv_find(r, ST_T_FRAMES, &t)) {
		for (unsigned i = 0; i + 8 <= t.len; i += 8) {
			uint64_t a;
			char buf[24];
			memcpy(&a, t.p + i, 8);
			snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)a);
			e->ops->kv_str(e, NULL, buf);
		}
	}
	e->ops->end_list(e);
}

/* One record as the dump --json object; export --format jsonl adds the socket id and the
 * symbolized stack. */
void st_record_json(FILE *out, const struct st_record *r, int socket_id, struct symb *sy)
{
	struct emit e;
	emit_init(&e, &emit_json, out);
	const struct st_pinfo *h = r->proc;
	e.ops->begin_obj(&e, NULL);
	e.ops->kv_int(&e, "pid", h->pid);
	e.ops->kv_int(&e, "tid", r->tid);
	e.ops->kv_str(&e, "comm", h->comm);
	e.ops->kv_int(&e, "ts_ns", (int64_t)r->ts_enter);
	if (r->complete)
		e.ops->kv_int(&e, "dur_ns", (int64_t)(r->ts_exit - r->ts_enter));
	e.ops->kv_str(&e, "call", st_call_name(r->call));
	e.ops->kv_int(&e, "fd", r->fd);
	if (r->complete)
		e.ops->kv_int(&e, "ret", r->ret);
	else
		e.ops->kv_str(&e, "ret", NULL);
	e.ops->kv_str(&e, "errno", st_errno_name(r->err));
	e.ops->begin_obj(&e, "args");
	st_emit_args(&e, r);
	e.ops->end_obj(&e);
	frames_json(&e, r);
	e.ops->kv_bool(&e, "complete", r->complete);
	char inj[64];
	if (st_injected(r, inj, sizeof(inj)))
		e.ops->kv_str(&e, "injected", inj);
	if (r->flags & ST_RF_NESTED)
		e.ops->kv_bool(&e, "nested", 1);
	if (socket_id >= 0) {
		if (socket_id > 0)
			e.ops->kv_int(&e, "socket", socket_id);
		else
			e.ops->kv_str(&e, "socket", NULL);
	}
	if (sy) {
		struct st_tlv_view t;
		e.ops->begin_list(&e, "stack");
		if (st_tlv_find(r, ST_T_FRAMES, &t))
			for (unsigned i = 0; i + 8 <= t.len; i += 8) {
				uint64_t a;
				char buf[512];
				memcpy(&a, t.p + i, 8);
				symb_format(sy, r->proc, a, buf, sizeof(buf));
				e.ops->kv_str(&e, NULL, buf);
			}
		e.ops->end_list(&e);
	}
	e.ops->end_obj(&e);
	fputc('\n', out);
}

const char *st_sock_peer(const struct lc_sock *s)
{
	if (s->peer[0])
		return s->peer;
	if (s->npeers)
		return s->peers[0];
	return s->pair_id > 0 ? "(socketpair)" : "-";
}

const char *st_holders_text(const struct lc_sock *s)
{
	static char buf[160];
	buf[0] = 0;
	if (!s->nholders || (s->end != END_OPEN_AT_EXIT && s->end != END_PROCESS_DIED &&
	                     s->end != END_STILL_OPEN))
		return buf;
	size_t n = (size_t)snprintf(buf, sizeof(buf), " (held by pid");
	for (int i = 0; i < s->nholders && n < sizeof(buf); i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s %d", i ? "," : "", s->holders[i]);
	if (n < sizeof(buf))
		snprintf(buf + n, sizeof(buf) - n, ")");
	return buf;
}
