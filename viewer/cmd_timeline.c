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
#include "symbolize.h"
#include "util.h"

struct tl_out {
	char *buf;
	size_t len;
	FILE *f;                        /* open_memstream into buf, NULL if not selected */
};

static void state_lines(FILE *o, int ev, const struct lc_sock *s)
{
	static const struct { int bit; const char *text; } lines[] = {
		{ EV_LISTENING, "listening" },
		{ EV_CONNECTING, "connecting (non-blocking; completion comes with poll/SO_ERROR)" },
		{ EV_CONNECTED, "connected" },
		{ EV_ACCEPTED, "accepted" },
		{ EV_PEER_FIN, "peer sent FIN: end of stream" },
		{ EV_HALF_CLOSED, "half-closed: we sent FIN" },
		{ EV_REFUSED, "connection refused" },
		{ EV_TIMED_OUT, "timed out" },
		{ EV_RESET, "connection reset by peer (RST)" },
		{ EV_EPIPE, "broken pipe: the peer is gone" },
		{ EV_ABORTIVE, "abortive close (SO_LINGER 0): RST sent" },
		{ EV_CLOSED, "closed" },
	};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		if (ev & lines[i].bit) {
			fprintf(o, "%s%27s-- %s", st_col(C_YELLOW), "", lines[i].text);
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

static void record_line(FILE *o, const struct st_record *r, uint64_t t0)
{
	fprintf(o, "  %+12.6f %7d:%-7u ", st_rel_s(r->ts_enter, t0), r->proc->pid, r->tid);
	if (!r->complete || r->err)
		fputs(st_col(C_RED), o);
	st_print_call(o, r);
	fprintf(o, "%s\n", st_col(C_RESET));
}

static void usage(FILE *out)
{
	fputs("usage: socktrace timeline [--stack] [filters] [PATH...]\n"
	      "  For each socket lifetime, its calls in order: time since the first record,\n"
	      "  pid:tid, the call, its result, and state changes (connected, peer sent FIN,\n"
	      "  half-closed, reset, closed) where they happen.\n"
	      "  --stack         symbolized stack of each call (function, file:line, module)\n"
	      FILTER_HELP
	      "example: socktrace timeline --stack --errors socktrace.data\n", out);
}

int command_timeline(int argc, char **argv)
{
	static const struct option own[] = { { "stack", no_argument, NULL, 's' }, { 0, 0, 0, 0 } };
	struct filter f;
	int stack = 0;
	const struct cmd_opts o = { "timeline", "s", own, usage, cmd_flag, &stack, 0 };
	int rc = cmd_parse(argc, argv, &o, &f);
	if (rc >= 0)
		return rc;
	struct st_file **files;
	int bad;
	int n = st_open_traces(argc - optind, argv + optind, &files, &bad);
	/* pass 1: lifetimes, to know which are selected; pass 2: the same machine again, with
	 * each selected socket's lines collected (memory: the output, not the trace) */
	struct lc *lc = lc_new();
	uint64_t t0 = st_build_lifetimes(files, n, lc);
	filter_resolve(&f, n ? files[0] : NULL, t0);
	int ns = lc_count(lc);
	struct tl_out *out = st_xcalloc((size_t)ns + 1, sizeof(*out));
	for (int i = 0; i < ns; i++)
		if (filter_match(&f, lc_get(lc, i), t0))
			out[i].f = open_memstream(&out[i].buf, &out[i].len);
	struct symb *sy = stack ? symb_new() : NULL;
	struct lc *lc2 = lc_new();
	struct st_merge *m = st_merge_new(files, n);
	const struct st_record *r;
	while ((r = st_merge_next(m))) {
		struct lc_sock *s = lc_feed(lc2, r);
		struct lc_sock *both[2] = { s, lc_also(lc2) };
		for (int k = 0; k < 2; k++) {
			if (!both[k] || both[k]->id > ns || !out[both[k]->id - 1].f)
				continue;
			FILE *sf = out[both[k]->id - 1].f;
			record_line(sf, r, t0);
			if (sy)
				stack_lines(sf, sy, r);
			if (k == 0)
				state_lines(sf, lc_events(lc2), s);
		}
	}
	st_merge_free(m);
	lc_finish(lc2);
	pager_start();
	for (int i = 0; i < ns; i++) {
		if (!out[i].f)
			continue;
		fclose(out[i].f);
		struct lc_sock *s = lc_get(lc2, i);
		const char *fam = s->family >= 0 ? st_family_name(s->family) : NULL;
		printf("%ssocket %d%s  %s[%d] fd", st_col(C_BOLD), s->id, st_col(C_RESET), s->comm, s->pid);
		for (int k = 0; k < s->nfds; k++)
			printf("%s%d", k ? "," : " ", s->fds[k]);
		printf("  %s  %s -> %s  (%s)  ended: %s\n", fam ? fam : "?", s->local[0] ? s->local : "-",
		       st_sock_peer(s), st_origin_name(s->origin), lc_end_name(s->end));
		fwrite(out[i].buf, 1, out[i].len, stdout);
		putchar('\n');
		free(out[i].buf);
	}
	fflush(stdout);
	st_report_damage(files, n);
	pager_end();
	symb_free(sy);
	free(out);
	lc_free(lc);
	lc_free(lc2);
	rc = st_read_status(files, n, bad);
	st_close_traces(files, n);
	return rc;
}
