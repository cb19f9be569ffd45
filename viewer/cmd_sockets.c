/* socktrace sockets: one line per socket lifetime, in the spirit of bcc's tcplife. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cmds.h"
#include "render.h"
#include "session.h"
#include "decode.h"
#include "emit.h"
#include "lifecycle.h"
#include "util.h"

static const char *type_short(int t)
{
	switch (t) {
	case SOCK_STREAM: return "STREAM";
	case SOCK_DGRAM: return "DGRAM";
	case SOCK_SEQPACKET: return "SEQPACKET";
	case SOCK_RAW: return "RAW";
	}
	return "?";
}

static void sock_json(const struct lc_sock *s, uint64_t t0)
{
	(void)t0;
	struct emit e;
	emit_init(&e, &emit_json, stdout);
	const struct emit_ops *o = e.ops;
	o->begin_obj(&e, NULL);
	o->kv_int(&e, "id", s->id);
	o->kv_int(&e, "pid", s->pid);
	o->kv_str(&e, "comm", s->comm);
	o->begin_list(&e, "fds");
	for (int i = 0; i < s->nfds; i++)
		o->kv_int(&e, NULL, s->fds[i]);
	o->end_list(&e);
	o->begin_list(&e, "pids");
	for (int i = 0; i < s->npids; i++)
		o->kv_int(&e, NULL, s->pids[i]);
	o->end_list(&e);
	o->kv_str(&e, "family", s->family >= 0 ? st_family_name(s->family) : NULL);
	o->kv_str(&e, "type", st_socktype_name(s->type));
	o->kv_str(&e, "local", s->local[0] ? s->local : NULL);
	o->kv_str(&e, "peer", s->peer[0] ? s->peer : NULL);
	o->begin_list(&e, "peers");
	for (int i = 0; i < s->npeers; i++)
		o->kv_str(&e, NULL, s->peers[i]);
	o->end_list(&e);
	if (s->more_peers)      /* (the list keeps four; --addr matches only those) */
		o->kv_int(&e, "datagrams_with_other_peers", s->more_peers);
	if (s->pair_id > 0)
		o->kv_int(&e, "pair", s->pair_id);
	o->kv_str(&e, "origin", st_origin_name(s->origin));
	o->kv_str(&e, "role", s->role ? lc_role_name(s->role) : NULL);
	o->kv_int(&e, "start_ns", (int64_t)s->start_ns);
	o->kv_int(&e, "end_ns", (int64_t)s->end_ns);
	o->kv_int(&e, "calls", (int64_t)s->calls);
	o->kv_int(&e, "bytes_out", (int64_t)s->bytes_out);
	o->kv_int(&e, "bytes_in", (int64_t)s->bytes_in);
	o->begin_list(&e, "errors");
	for (int i = 0; i < s->nerrors; i++) {
		o->begin_obj(&e, NULL);
		o->kv_str(&e, "call", st_call_name(s->errors[i].call));
		o->kv_str(&e, "errno", st_errno_name(s->errors[i].err));
		o->end_obj(&e);
	}
	o->end_list(&e);
	o->kv_str(&e, "end", lc_end_name(s->end));
	o->begin_list(&e, "holders");
	for (int i = 0; i < s->nholders; i++)
		o->kv_int(&e, NULL, s->holders[i]);
	o->end_list(&e);
	if (s->peer_fin)
		o->kv_str(&e, "peer_fin", s->peer_fin == FIN_READ0 ? "read0" : s->peer_fin == FIN_RDHUP ? "rdhup"
		                           : s->peer_fin == FIN_STATE ? "tcp_state" : "hup");
	if (s->stdio)
		o->kv_bool(&e, "stdio", 1);
	if (s->handed_off)
		o->kv_bool(&e, "handed_off", 1);
	o->end_obj(&e);
	putchar('\n');
}

static void fmt_dur(char *buf, size_t n, uint64_t ns)
{
	if (ns >= 10000000000ull)
		snprintf(buf, n, "%.1fs", (double)ns / 1e9);
	else if (ns >= 1000000)
		snprintf(buf, n, "%.1fms", (double)ns / 1e6);
	else
		snprintf(buf, n, "%.0fus", (double)ns / 1e3);
}

static void sock_text(const struct lc_sock *s, uint64_t t0)
{
	char fds[64] = "", dur[32], start[32], errs[96] = "";
	size_t o = 0;
	for (int i = 0; i < s->nfds; i++)
		o += (size_t)snprintf(fds + o, o < sizeof(fds) ? sizeof(fds) - o : 0, "%s%d", i ? "," : "", s->fds[i]);
	if (!s->nfds)
		snprintf(fds, sizeof(fds), "-");
	fmt_dur(dur, sizeof(dur), s->end_ns > s->start_ns ? s->end_ns - s->start_ns : 0);
	snprintf(start, sizeof(start), "%.6f", st_rel_s(s->start_ns, t0));
	o = 0;
	for (int i = 0; i < s->nerrors && i < 2; i++)
		o += (size_t)snprintf(errs + o, o < sizeof(errs) ? sizeof(errs) - o : 0, "%s%s:%s", i ? "," : "",
		                      st_call_name(s->errors[i].call), st_errno_name(s->errors[i].err));
	if (s->nerrors > 2 || s->more_errors)
		snprintf(errs + o, o < sizeof(errs) ? sizeof(errs) - o : 0, ",+%d", s->nerrors - 2 + s->more_errors);
	const char *fam = s->family >= 0 ? st_family_name(s->family) : NULL;
	const char *endc = s->end == END_CLOSED || s->end == END_PEER_CLOSED ? C_GREEN
	                   : s->end == END_OPEN_AT_EXIT ? C_YELLOW : C_RED;
	printf("%4d %7d %-12.12s %-7s %-5s %-6s %-22s %-22s %-10s %10s %8s %6llu %8llu %8llu %s%-12s%s %s\n",
	       s->id, s->pid, s->comm, fds, fam ? fam + 3 : "?", type_short(s->type),
	       s->local[0] ? s->local : "-", st_sock_peer(s), st_origin_name(s->origin), start, dur,
	       (unsigned long long)s->calls, (unsigned long long)s->bytes_out,
	       (unsigned long long)s->bytes_in, st_col(endc), lc_end_name(s->end), st_col(C_RESET), errs);
}

static const char usage[] =
	"usage: socktrace sockets [--json] [filters] [PATH...]\n"
	"  One line per socket lifetime: who made it, its fds, addresses, how it was born,\n"
	"  when, how long, calls, bytes out/in, errors and how it ended.\n"
	"  --json          one object per line\n" FILTER_HELP
	"example: socktrace sockets --addr 127.0.0.1:6379 --errors\n";

static int sockets_run(struct st_session *ss, void *ctx)
{
	int json = *(int *)ctx;
	void (*show)(const struct lc_sock *, uint64_t) = json ? sock_json : sock_text;
	struct lc *lc = lc_new();
	st_session_lifetimes(ss, lc);
	uint64_t t0 = ss->t0;
	if (!json && ss->n > 0) {        /* (nothing readable: only the error) */
		pager_start();
		printf("%s%4s %7s %-12s %-7s %-5s %-6s %-22s %-22s %-10s %10s %8s %6s %8s %8s %-12s %s%s\n",
		       st_col(C_BOLD), "ID", "PID", "COMM", "FDS", "FAM", "TYPE", "LOCAL", "PEER", "ORIGIN",
		       "START", "DUR", "CALLS", "OUT", "IN", "END", "ERRORS", st_col(C_RESET));
	}
	for (int i = 0; i < lc_count(lc); i++) {
		struct lc_sock *s = lc_get(lc, i);
		if (!filter_match(&ss->flt, s, t0))
			continue;
		show(s, t0);
	}
	lc_free(lc);
	return st_session_end(ss, 1);
}

int command_sockets(int argc, char **argv)
{
	return st_session_run_flag(argc, argv, "sockets", "json", usage, 0, sockets_run);
}
