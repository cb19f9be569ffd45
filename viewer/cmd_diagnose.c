/* socktrace diagnose: find broken pipes, resets, given-up clients, idle timeouts, refusals,
 * hangs and leaks, and tell each as a short causal chain with the code location of every
 * step. The facts come from diag_facts.c, the findings from the detectors (diag_*.c). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "decode.h"
#include "diagnose.h"
#include "emit.h"
#include "order.h"
#include "render.h"
#include "session.h"
#include "symbolize.h"
#include "util.h"
#include "xalloc.h"

static const char *const kind_names[K_COUNT] = {
	"sigpipe_death", "broken_pipe", "connection_reset", "client_gave_up", "idle_timeout",
	"upstream_closed_by_proxy", "reset_by_unread_data", "abortive_close", "rst_after_half_close",
	"write_after_shutdown", "eof_no_reply", "no_reply_timeout", "connect_failed", "never_returned", "eagain_busy_loop",
	"read_after_eof", "never_closed",
};

const char *diag_kind_name(int kind)
{
	return kind >= 0 && kind < K_COUNT ? kind_names[kind] : "?";
}

struct finding *add_finding(struct diag *g, int kind, struct lc_sock *s, uint64_t ts)
{
	ST_GROW(g->F, g->nF, g->capF, 32);
	struct finding *f = &g->F[g->nF++];
	memset(f, 0, sizeof(*f));
	f->kind = kind;
	f->pattern = -1;
	f->s = s;
	f->ts = ts;
	return f;
}

void add_step(struct finding *f, const struct step *s, const char *note)
{
	if (!s->valid || f->nsteps >= MAX_STEPS)
		return;
	for (int i = 0; i < f->nsteps; i++)     /* one call, one step */
		if (f->steps[i].ts == s->ts && f->steps[i].tid == s->tid && f->steps[i].call == s->call &&
		    f->steps[i].f == s->f)
			return;
	f->steps[f->nsteps] = *s;
	if (note)
		snprintf(f->steps[f->nsteps].note, sizeof(f->steps[0].note), "%s", note);
	f->nsteps++;
}

/* When a step acted on the wire, for ordering the two ends' steps by cause: a call that sent
 * something (data, a SYN, a FIN) did so once it entered — its return may be stamped after the
 * peer already read it; a call that saw something (a read, an error, an EOF) saw it by its
 * return. Within one thread the order stays that of the calls. */
uint64_t step_acted(const struct step *s)
{
	int cl = st_call_class(s->call);
	int sends = (s->out && s->ret >= 0) || ((cl == ST_CL_CLOSE || cl == ST_CL_SHUTDOWN ||
	             cl == ST_CL_CONNECT) && !s->err);
	return s->complete && sends && s->te ? s->te : s->ts;
}

static int by_time(const void *a, const void *b)
{
	uint64_t x = step_acted(a), y = step_acted(b);
	return ST_CMP(x, y);
}

void sort_steps(struct finding *f)
{
	qsort(f->steps, (size_t)f->nsteps, sizeof(f->steps[0]), by_time);
}

void secs(char *buf, size_t n, uint64_t a, uint64_t b)
{
	double s = b > a ? (double)(b - a) / 1e9 : 0.0;
	if (s < 0.001)
		snprintf(buf, n, "%.0f us", s * 1e6);
	else if (s < 1)
		snprintf(buf, n, "%.1f ms", s * 1e3);
	else
		snprintf(buf, n, "%.3f s", s);
}

static int by_severity(const void *a, const void *b)
{
	const struct finding *x = a, *y = b;
	if (x->kind != y->kind)
		return x->kind - y->kind;
	return ST_CMP(x->ts, y->ts);
}

/* ---------------- where: the first frame in the program itself ---------------- */

/* libc and the runtimes' socket layers: the frame to show is past them */
static int runtime_frame(const struct symres *r)
{
	static const char *const mods[] = { "libc.so", "libpthread", "ld-linux", "libdl.so", "libsocktrace",
	                                    "libpython", "libuv", "libnode", "libssl", "libcrypto", "libcurl",
	                                    "libstdc++", "libgcc_s", "libevent", "libglib" };
	static const char *const files[] = { "socketmodule.c", "selectmodule.c", "_ssl.c", "posixmodule.c",
	                                     "fileio.c", "bufferedio.c", "/src/unix/", "stream_wrap.cc",
	                                     "tcp_wrap.cc", "connection_wrap.cc", "ceval.c", "call.c",
	                                     "methodobject.c", "descrobject.c", "abstract.c", "typeobject.c",
	                                     "classobject.c", "funcobject.c", "pystate.c" };
	for (size_t i = 0; i < sizeof(mods) / sizeof(*mods); i++)
		if (r->module && strstr(r->module, mods[i]))
			return 1;
	for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++)
		if (r->file && strstr(r->file, files[i]))
			return 1;
	return 0;
}

/* A module named as the program was run: redis-server, not redis-check-rdb it links to. */
static const char *module_name(const struct st_pinfo *p, const char *mod)
{
	const char *exe = strrchr(p->exe, '/');
	exe = exe ? exe + 1 : p->exe;
	return mod && p->comm[0] && !strcmp(mod, exe) && strncmp(p->comm, exe, 15) ? p->comm : mod;
}

static void frame_text(char *buf, size_t n, struct symb *sy, const struct step *s)
{
	buf[0] = 0;
	if (!s->nframes)
		return;
	/* the first frame past the runtime with a source line, else past it at all (not the
	 * start-up code), else the innermost */
	const struct symres *r = NULL, *any = NULL;
	for (int i = 0; i < s->nframes && !r; i++) {
		const struct symres *c = symb_lookup(sy, s->f, s->frames[i]);
		if (runtime_frame(c) || (c->func && (!strcmp(c->func, "_start") || !strncmp(c->func, "__libc_start", 12))))
			continue;
		if (c->file)
			r = c;
		else if (!any)
			any = c;
	}
	if (!r)
		r = any ? any : symb_lookup(sy, s->f, s->frames[0]);
	const char *mod = module_name(s->f, r->module);
	if (r->func && r->file)
		snprintf(buf, n, "%s (%s:%d)", r->func, r->file, r->line);
	else if (r->func)
		snprintf(buf, n, "%s [%s]", r->func, mod);
	else
		snprintf(buf, n, "%s+%#llx", mod, (unsigned long long)r->mod_off);
}

/* ---------------- rendering: one view, two printers ---------------- */

struct step_view {
	char res[96], where[300];
	const struct step *st;
};

static void view_steps(struct symb *sy, const struct finding *f, struct step_view *v)
{
	for (int k = 0; k < f->nsteps; k++) {
		const struct step *st = &f->steps[k];
		v[k].st = st;
		frame_text(v[k].where, sizeof(v[k].where), sy, st);
		if (!st->complete)
			snprintf(v[k].res, sizeof(v[k].res), "? never returned");
		else if (st->ret < 0)
			snprintf(v[k].res, sizeof(v[k].res), "-1 %s", st_errno_name(st->err));
		else
			snprintf(v[k].res, sizeof(v[k].res), "%lld", (long long)st->ret);
	}
}

static void print_json(const struct finding *f, const struct step_view *v)
{
	struct emit e;
	emit_init(&e, &emit_json, stdout);
	const struct emit_ops *o = e.ops;
	const struct lc_sock *s = f->s;
	o->begin_obj(&e, NULL);
	o->kv_str(&e, "kind", diag_kind_name(f->kind));
	if (f->pattern >= 0)
		o->kv_str(&e, "pattern", diag_kind_name(f->pattern));
	if (f->injected[0])
		o->kv_str(&e, "injected", f->injected);
	if (s) {
		o->kv_int(&e, "socket", s->id);
		o->kv_int(&e, "pid", s->pid);
		o->kv_str(&e, "role", s->role ? lc_role_name(s->role) : NULL);
		o->kv_str(&e, "local", s->local[0] ? s->local : NULL);
		o->kv_str(&e, "peer", s->peer[0] ? s->peer : NULL);
	}
	o->begin_list(&e, "steps");
	for (int k = 0; k < f->nsteps; k++) {
		const struct step *st = v[k].st;
		o->begin_obj(&e, NULL);
		o->kv_int(&e, "ts_ns", (int64_t)st->ts);
		o->kv_int(&e, "pid", st->f->pid);
		o->kv_int(&e, "tid", st->tid);
		o->kv_int(&e, "fd", st->fd);
		o->kv_str(&e, "call", st_call_name(st->call));
		if (st->complete)
			o->kv_int(&e, "ret", st->ret);
		else
			o->kv_str(&e, "ret", NULL);
		o->kv_str(&e, "errno", st_errno_name(st->err));
		o->kv_str(&e, "where", v[k].where[0] ? v[k].where : NULL);
		o->kv_str(&e, "note", st->note[0] ? st->note : NULL);
		if (st->inject[0])
			o->kv_str(&e, "injected", st->inject);
		o->end_obj(&e);
	}
	o->end_list(&e);
	o->kv_str(&e, "explanation", f->why);
	o->kv_str(&e, "suggestion", f->fix);
	o->end_obj(&e);
	putchar('\n');
}

static void print_text(int i, const struct finding *f, const struct step_view *v, uint64_t t0)
{
	const struct lc_sock *s = f->s;
	printf("%s%d. %s%s", st_col(C_BOLD), i + 1, diag_kind_name(f->kind), st_col(C_RESET));
	if (f->pattern >= 0 && f->pattern != f->kind)
		printf(" (%s)", diag_kind_name(f->pattern));
	if (f->injected[0])
		printf(" [injected]");
	if (s)
		printf(": %s[%d] fd %d  %s -> %s  (%s%ssocket %d)", s->comm, s->pid, s->nfds ? s->fds[s->nfds - 1] : -1,
		       s->local[0] ? s->local : "-", st_sock_peer(s), s->role ? lc_role_name(s->role) : "",
		       s->role ? ", " : "", s->id);
	putchar('\n');
	for (int k = 0; k < f->nsteps; k++) {
		const struct step *st = v[k].st;
		printf("   %+10.6f %6d:%-6u %s(fd=%d) = %s%s%s%s%s%s\n", st_rel_s(step_acted(st), t0), st->f->pid, st->tid,
		       st_call_name(st->call), st->fd, !st->complete || st->ret < 0 ? st_col(C_RED) : "", v[k].res,
		       st_col(C_RESET), st->inject[0] ? " [injected: " : "", st->inject, st->inject[0] ? "]" : "");
		if (v[k].where[0] || st->note[0])
			printf("   %28s %s%s%s%s%s\n", "", st->note, st->note[0] && v[k].where[0] ? "  " : "",
			       st_col(C_DIM), v[k].where, st_col(C_RESET));
	}
	printf("   why: %s\n   fix: %s\n\n", f->why, f->fix);
}

static const char usage[] =
	"usage: socktrace diagnose [--json] [filters] [PATH...]\n"
	"  Each problem found, worst first, as a causal chain (time, pid:tid, fd, call, result,\n"
	"  where in the program's own code), then why it happened and what to do: broken pipes\n"
	"  and SIGPIPE deaths, clients that gave up, idle timeouts, proxies closing upstreams,\n"
	"  resets by unread data or abortive close, RST after a half-close, writes after\n"
	"  shutdown, end-of-stream instead of a reply, refused/timed-out connects, calls that\n"
	"  never returned, EAGAIN busy loops, reads after EOF, sockets never closed.\n"
	"  Exit status: 0 nothing found, 1 problems found, 2 bad usage or unreadable input.\n"
	"  --json          one object per problem\n" FILTER_HELP
	"example: socktrace diagnose socktrace.data\n";

static void mark_injected(struct finding *f)
{
	for (int k = 0; k < f->nsteps && !f->injected[0]; k++)
		if (f->steps[k].inject[0])
			snprintf(f->injected, sizeof(f->injected), "%s on %s", f->steps[k].inject,
			         st_call_name(f->steps[k].call));
	if (!f->injected[0])
		return;
	/* what the injection did, in the steps it touched */
	for (int k = 0; k < f->nsteps; k++) {
		struct step *st = &f->steps[k];
		if (!strncmp(st->inject, "reset", 5) && st->err)
			snprintf(st->note, sizeof(st->note), "%s: this end aborted the connection (the injected reset "
			         "sent the peer an RST)", st_errno_name(st->err));
		else if (!strncmp(st->inject, "error=", 6) && st->err)
			snprintf(st->note, sizeof(st->note), "%s: not made — the injected error", st_errno_name(st->err));
	}
	const struct step *last = f->nsteps ? &f->steps[f->nsteps - 1] : NULL;
	if (last && !strncmp(last->inject, "error=", 6) && last->err) {
		/* the failure itself was made up: no story of the peer to tell */
		snprintf(f->why, sizeof(f->why), "injected by SOCKTRACE_INJECT (%s): the %s was not made and failed with "
		         "%s as the rule says; nothing happened on the connection", f->injected, st_call_name(last->call),
		         st_errno_name(last->err));
		snprintf(f->fix, sizeof(f->fix), "this is the failure you asked for: check that the program handles "
		         "%s here (stops writing, closes, reconnects or reports it)", st_errno_name(last->err));
		return;
	}
	if (last && !strncmp(last->inject, "reset", 5) && last->err) {
		snprintf(f->why, sizeof(f->why), "injected by SOCKTRACE_INJECT (%s): this end aborted the connection just "
		         "before the %s (the peer got an RST), and the %s failed with %s as the kernel decided",
		         f->injected, st_call_name(last->call), st_call_name(last->call), st_errno_name(last->err));
		snprintf(f->fix, sizeof(f->fix), "this is the failure you asked for: check that the program handles "
		         "%s here, and that the peer copes with the reset", st_errno_name(last->err));
		return;
	}
	char pre[160];
	int pl = snprintf(pre, sizeof(pre), "injected by SOCKTRACE_INJECT (%s): ", f->injected);
	size_t l = pl > 0 && (size_t)pl < sizeof(pre) ? (size_t)pl : sizeof(pre) - 1;
	size_t wl = strlen(f->why);
	if (wl + l >= sizeof(f->why))
		wl = sizeof(f->why) - l - 1;
	memmove(f->why + l, f->why, wl);
	f->why[l + wl] = 0;
	memcpy(f->why, pre, l);
}

static int keep_sock(void *ctx, const struct lc_sock *s)
{
	struct st_session *ss = ctx;
	return filter_match(&ss->flt, s, ss->t0);
}

static void detect_all(struct diag *g, struct st_session *ss)
{
	for (int i = 0; i < lc_count(g->lc) && i < g->capD; i++) {
		struct lc_sock *s = lc_get(g->lc, i);
		if (!keep_sock(ss, s))
			continue;
		detect_broken(g, s);
		detect_no_reply(g, s);
		detect_reply_timeout(g, s);
		detect_connect(g, s);
		detect_loops(g, s);
		detect_leak(g, s);
	}
	detect_hangs(g, keep_sock, ss);
	merge_connect_failures(g);
	for (int i = 0; i < g->nF; i++)     /* said when a finding was caused on purpose */
		mark_injected(&g->F[i]);
	if (g->nF)
		qsort(g->F, (size_t)g->nF, sizeof(*g->F), by_severity);
}

static int diagnose_run(struct st_session *ss, void *ctx)
{
	int json = *(int *)ctx;
	int rc;
	if (ss->n == 0) {
		st_session_end(ss, 0);
		return 2;
	}
	struct diag g;
	diag_init(&g);
	struct st_order *m = st_order_new(ss->files, ss->n);
	const struct st_record *r;
	while ((r = st_order_next(m)))
		diag_observe(&g, r);
	st_order_free(m);
	lc_finish(g.lc);
	diag_index(&g);
	ss->t0 = g.t0 == UINT64_MAX ? 0 : g.t0;
	filter_resolve(&ss->flt, ss->files[0], ss->t0);
	detect_all(&g, ss);

	struct symb *sy = symb_new();
	if (!json)
		pager_start();
	for (int i = 0; i < g.nF; i++) {
		struct step_view v[MAX_STEPS];
		view_steps(sy, &g.F[i], v);
		if (json)
			print_json(&g.F[i], v);
		else
			print_text(i, &g.F[i], v, ss->t0);
	}
	if (!json && g.nF == 0)
		printf("no problems found in %d process(es)\n", HASH_COUNT(g.ps));
	symb_free(sy);
	int found = g.nF > 0;
	diag_free(&g);
	rc = st_session_end(ss, 1);
	if (rc == 2)
		return 2;
	return found || rc ? 1 : 0;
}

int command_diagnose(int argc, char **argv)
{
	return st_session_run_flag(argc, argv, "diagnose", "json", usage, 0, diagnose_run);
}
