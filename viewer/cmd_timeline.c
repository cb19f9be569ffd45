/* socktrace timeline: for each socket lifetime, its calls in order, with state changes and,
 * with --stack, where in the program each call came from. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "render.h"
#include "session.h"
#include "xalloc.h"
#include "decode.h"
#include "lifecycle.h"
#include "order.h"
#include "symbolize.h"
#include "util.h"

/* A selected socket's lines: written as they come (in effect order), listed by time. */
struct tl_line { uint64_t ts, seq; size_t off, len; };
struct tl_out {
	char *buf;
	size_t len;
	FILE *f;                        /* open_memstream into buf, NULL if not selected */
	struct tl_line *lines;
	size_t nlines, cap;
};

static void line_begin(struct tl_out *o, uint64_t ts, uint64_t seq)
{
	ST_GROW(o->lines, o->nlines, o->cap, 16);
	fflush(o->f);
	o->lines[o->nlines++] = (struct tl_line){ ts, seq, o->len, 0 };
}

static void line_end(struct tl_out *o)
{
	fflush(o->f);
	struct tl_line *l = &o->lines[o->nlines - 1];
	l->len = o->len - l->off;
}

static int by_time(const void *a, const void *b)
{
	const struct tl_line *x = a, *y = b;
	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return ST_CMP(x->seq, y->seq);
}

static const char *fin_text(int how)
{
	return how == FIN_RDHUP ? "peer sent FIN (reported by poll/epoll as RDHUP)"
	       : how == FIN_HUP ? "peer hung up (reported by poll/epoll as HUP)"
	       : how == FIN_STATE ? "peer sent FIN (the kernel's TCP state, seen before a close or error)"
	       : "peer sent FIN: end of stream (read returned 0)";
}

static void state_lines(FILE *o, int ev, const struct lc_sock *s)
{
	static const struct { int bit; const char *text; } lines[] = {
		{ EV_LISTENING, "listening" },
		{ EV_CONNECTING, "connecting (non-blocking; completion comes with poll/SO_ERROR)" },
		{ EV_CONNECTED, "connected" },
		{ EV_ACCEPTED, "accepted" },
		{ EV_PEER_FIN, NULL },
		{ EV_HANGUP, "hung up: both directions closed" },
		{ EV_SOCK_ERROR, "error pending on the socket (reported by poll/epoll)" },
		{ EV_HALF_CLOSED, "half-closed: we sent FIN" },
		{ EV_REFUSED, "connection refused" },
		{ EV_TIMED_OUT, "timed out" },
		{ EV_RESET, "connection reset by peer (RST)" },
		{ EV_EPIPE, "broken pipe: the peer is gone" },
		{ EV_ABORTIVE, "abortive close (SO_LINGER 0): RST sent" },
		{ EV_CLOSED, "closed" },
		{ EV_EXIT_CLOSED, "closed by the process's exit" },
	};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		if (ev & lines[i].bit) {
			if (lines[i].bit == EV_HANGUP && (ev & EV_PEER_FIN) && s->peer_fin == FIN_HUP)
				continue;
			fprintf(o, "%s%27s-- %s", st_col(C_YELLOW), "",
			        lines[i].text ? lines[i].text : fin_text(s->peer_fin));
			if (lines[i].bit == EV_CONNECTED || lines[i].bit == EV_ACCEPTED)
				fprintf(o, " %s %s", lines[i].bit == EV_ACCEPTED ? "from" : "to", st_sock_peer(s));
			fprintf(o, "%s\n", st_col(C_RESET));
		}
}

static void stack_lines(FILE *o, struct symb *sy, const struct st_record *r)
{
	struct st_tlv_view t;
	if (!st_tlv_find(r, ST_T_FRAMES, &t)) {
		if (r->flags & ST_RF_NESTED)
			fprintf(o, "%27s   %s(no stack: recorded inside a signal handler)%s\n", "", st_col(C_DIM), st_col(C_RESET));
		return;
	}
	for (unsigned i = 0; i + 8 <= t.len; i += 8) {
		uint64_t a;
		memcpy(&a, t.p + i, 8);
		const struct symres *sr = symb_lookup(sy, r->proc, a);
		fprintf(o, "%27s   %sat ", "", st_col(C_DIM));
		if (sr->func && sr->func_off)
			fprintf(o, "%s+%#llx", sr->func, (unsigned long long)sr->func_off);
		else if (sr->func)
			fputs(sr->func, o);
		else
			fprintf(o, "%s+%#llx", sr->module, (unsigned long long)sr->mod_off);
		if (sr->file)
			fprintf(o, " (%s:%d)", sr->file, sr->line);
		fprintf(o, " [%s]%s%s\n", sr->module, sr->stale ? " (module changed on disk)" : "", st_col(C_RESET));
	}
}

static void record_line(FILE *o, const struct st_record *r, uint64_t ts, uint64_t t0)
{
	fprintf(o, "  %+12.6f %7d:%-7u ", st_rel_s(ts, t0), r->proc->pid, r->tid);
	if (!r->complete || r->err)
		fputs(st_col(C_RED), o);
	st_print_call(o, r);
	fprintf(o, "%s\n", st_col(C_RESET));
}

static const char usage[] =
	"usage: socktrace timeline [--stack] [filters] [PATH...]\n"
	"  For each socket lifetime, its calls in order: time since the first record,\n"
	"  pid:tid, the call, its result, and state changes (connected, peer sent FIN,\n"
	"  half-closed, reset, closed) where they happen.\n"
	"  --stack         symbolized stack of each call (function, file:line, module)\n"
	FILTER_HELP
	"example: socktrace timeline --stack --errors socktrace.data\n";

static int timeline_run(struct st_session *ss, void *ctx)
{
	int stack = *(int *)ctx;
	struct st_file **files = ss->files;
	int n = ss->n;
	/* pass 1: lifetimes, to know which are selected; pass 2: the same machine again, with
	 * each selected socket's lines collected (memory: the output, not the trace) */
	struct lc *lc = lc_new();
	st_session_lifetimes(ss, lc);
	uint64_t t0 = ss->t0;
	int ns = lc_count(lc);
	struct tl_out *out = st_xcalloc((size_t)ns + 1, sizeof(*out));
	for (int i = 0; i < ns; i++)
		if (filter_match(&ss->flt, lc_get(lc, i), t0))
			out[i].f = open_memstream(&out[i].buf, &out[i].len);
	struct symb *sy = stack ? symb_new() : NULL;
	struct lc *lc2 = lc_new();
	struct st_order *m = st_order_new(files, n);
	const struct st_record *r;
	uint64_t seq = 0;
	while ((r = st_order_next(m))) {
		lc_feed(lc2, r);
		const struct lc_touch *tv;
		int nt = lc_touches(lc2, &tv);
		/* a wait is listed where it returned, with what it reported; a call where it began */
		uint64_t ts = st_call_class(r->call) == ST_CL_WAIT ? st_effect_ns(r) : r->ts_enter;
		if (ts == UINT64_MAX)
			ts = r->ts_enter;
		for (int k = 0; k < nt; k++) {
			struct lc_sock *s = tv[k].s;
			if (s->id > ns || !out[s->id - 1].f)
				continue;
			struct tl_out *to = &out[s->id - 1];
			line_begin(to, ts, seq++);
			record_line(to->f, r, ts, t0);
			if (sy)
				stack_lines(to->f, sy, r);
			state_lines(to->f, tv[k].ev, s);
			line_end(to);
		}
	}
	st_order_free(m);
	lc_finish(lc2);
	pager_start();
	for (int i = 0; i < ns; i++) {
		if (!out[i].f)
			continue;
		fclose(out[i].f);
		qsort(out[i].lines, out[i].nlines, sizeof(*out[i].lines), by_time);
		struct lc_sock *s = lc_get(lc2, i);
		const char *fam = s->family >= 0 ? st_family_name(s->family) : NULL;
		printf("%ssocket %d%s  %s[%d] fd", st_col(C_BOLD), s->id, st_col(C_RESET), s->comm, s->pid);
		for (int k = 0; k < s->nfds; k++)
			printf("%s%d", k ? "," : " ", s->fds[k]);
		printf("  %s  %s -> %s  (%s%s%s)  ended: %s%s\n", fam ? fam : "?", s->local[0] ? s->local : "-",
		       st_sock_peer(s), s->role ? lc_role_name(s->role) : "", s->role ? ", " : "",
		       st_origin_name(s->origin), lc_end_name(s->end), st_holders_text(s));
		if (s->stdio)
			printf("  %s(on stdin/stdout/stderr: bytes moved through stdio are not seen; counts may be short)%s\n",
			       st_col(C_DIM), st_col(C_RESET));
		for (size_t k = 0; k < out[i].nlines; k++)
			fwrite(out[i].buf + out[i].lines[k].off, 1, out[i].lines[k].len, stdout);
		putchar('\n');
		free(out[i].buf);
		free(out[i].lines);
	}
	symb_free(sy);
	free(out);
	lc_free(lc);
	lc_free(lc2);
	return st_session_end(ss, 1);
}

int command_timeline(int argc, char **argv)
{
	return st_session_run_flag(argc, argv, "timeline", "stack", usage, 0, timeline_run);
}
