/* socktrace tail: follow the rings of running processes (new ones included) and print each
 * record as it is committed, like tail -f on a strace log without the ptrace cost. */
#include <dirent.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmds.h"
#include "decode.h"
#include "lifecycle.h"
#include "reader.h"
#include "util.h"

#include <uthash.h>

/* Where we are in one span of the trace (keyed by its stream position). */
struct spanstate {
	uint64_t pos;
	struct st_span_pos sp;
	uint64_t pending_since;         /* when the record at sp was first seen unfinished */
	int mark;                       /* still in the trace at the last look */
	UT_hash_handle hh;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int by_ts(const void *a, const void *b)
{
	const struct st_record *x = *(const struct st_record *const *)a, *y = *(const struct st_record *const *)b;
	return x->ts_enter < y->ts_enter ? -1 : x->ts_enter > y->ts_enter;
}

static void usage(FILE *out)
{
	fputs("usage: socktrace tail [--from-start] [--for SECONDS] [filters] [DIR|FILE]\n"
	      "  Follow the trace in DIR (default ./socktrace.data), which need not exist yet, and\n"
	      "  print each call of every process as it completes, until interrupted. A call still\n"
	      "  blocked after a second is shown once as <unfinished: still blocked>.\n"
	      "  --from-start    print what the trace already holds first (default: only new calls)\n"
	      "  --for SECONDS   stop after this long\n" FILTER_HELP
	      "example: socktrace tail --addr 127.0.0.1:6379 socktrace.data\n", out);
}

struct tail_opts {
	int from_start;
	int64_t for_ns;
};

static int tail_opt(int c, const char *arg, void *ctx)
{
	struct tail_opts *t = ctx;
	if (c == 's')
		t->from_start = 1;
	else if (c == 'F')
		return parse_duration_ns(arg, &t->for_ns);
	return 0;
}

int command_tail(int argc, char **argv)
{
	static const struct option own[] = { { "from-start", no_argument, NULL, 's' },
		{ "for", required_argument, NULL, 'F' }, { 0, 0, 0, 0 } };
	struct filter flt;
	struct tail_opts to = { 0, -1 };
	const struct cmd_opts o = { "tail", "", own, usage, tail_opt, &to };
	int rc = cmd_parse(argc, argv, &o, &flt);
	if (rc >= 0)
		return rc;
	int from_start = to.from_start;
	int64_t for_ns = to.for_ns;
	const char *target = optind < argc ? argv[optind] : "socktrace.data";
	struct stat sb;
	/* the directory need not exist yet: tail can be started before the program */
	size_t tl = strlen(target);
	int is_dir = stat(target, &sb) == 0 ? S_ISDIR(sb.st_mode) : !(tl > 5 && !strcmp(target + tl - 5, ".ring"));
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	struct st_file *f = NULL;
	struct spanstate *spans = NULL;
	char path[4096];
	int first_scan = 1;
	struct lc *lc = lc_new();
	struct st_record **batch = NULL;
	size_t nbatch = 0, capbatch = 0;
	uint64_t started = mono_now(), t0 = 0;
	int socket_filter = flt.fd >= 0 || flt.addr[0] || flt.errors;
	if (is_dir)
		snprintf(path, sizeof(path), "%s/%s", target, ST_TRACE_FILE);
	else
		snprintf(path, sizeof(path), "%s", target);
	while (!stop && (for_ns < 0 || mono_now() - started < (uint64_t)for_ns)) {
		char err[256];
		if (!f && (f = st_file_open(path, err, sizeof(err))) == NULL && access(path, F_OK) == 0 &&
		    strncmp(err, "no trace-file magic", 19) != 0) {
			fprintf(stderr, "socktrace tail: %s: %s\n", path, err);
			break;
		}
		else if (f)
			st_file_refresh(f);
		uint64_t now = mono_now();
		struct spanstate *st, *tmp;
		HASH_ITER(hh, spans, st, tmp)
			st->mark = 0;
		for (size_t i = 0; f && i < f->nspans; i++) {
			uint64_t pos = st_span_start(f, i);
			HASH_FIND(hh, spans, &pos, sizeof(pos), st);
			if (!st) {
				st = calloc(1, sizeof(*st));
				st->pos = pos;
				HASH_ADD(hh, spans, pos, sizeof(st->pos), st);
			}
			st->mark = 1;
			for (;;) {
				if (nbatch == capbatch) {
					capbatch = capbatch ? capbatch * 2 : 256;
					batch = realloc(batch, capbatch * sizeof(*batch));
					for (size_t b = nbatch; b < capbatch; b++)
						batch[b] = NULL;
				}
				if (!batch[nbatch])
					batch[nbatch] = malloc(sizeof(struct st_record));
				struct st_record *r = batch[nbatch];
				if (!st_span_next(f, i, &st->sp, r))
					break;
				if (first_scan && !from_start) {   /* there before we started: not shown */
					st_span_take(&st->sp);
					continue;
				}
				if (!r->complete && r->call != ST_C_EXEC) {
					/* still in the call: wait, but say so once after a second */
					if (!st->pending_since)
						st->pending_since = now;
					if (st->pending_since != 1 && now - st->pending_since > 1000000000ull) {
						st->pending_since = 1;
						nbatch++;
					}
					break;
				}
				st->pending_since = 0;
				st_span_take(&st->sp);
				nbatch++;
			}
		}
		HASH_ITER(hh, spans, st, tmp)
			if (!st->mark) {        /* overwritten by a new lap of the ring */
				HASH_DEL(spans, st);
				free(st);
			}
		first_scan = 0;     /* a trace made after we started is all new */
		if (nbatch)
			qsort(batch, nbatch, sizeof(*batch), by_ts);
		for (size_t b = 0; b < nbatch; b++) {
			struct st_record *r = batch[b];
			if (!t0)
				t0 = r->ts_enter;
			struct lc_sock *s = r->complete || r->call == ST_C_EXEC ? lc_feed(lc, r) : NULL;
			if (flt.pid >= 0 && r->proc->pid != flt.pid)
				continue;
			if (socket_filter && (!s || !filter_match(&flt, s, t0)))
				continue;
			printf("%12.6f %s[%d:%u] ", (double)(r->ts_enter - t0) / 1e9, r->proc->comm,
			       r->proc->pid, r->tid);
			st_print_call(stdout, r);
			putchar('\n');
		}
		nbatch = 0;
		fflush(stdout);
		struct timespec nap = { 0, 100000000 };
		nanosleep(&nap, NULL);
	}
	for (size_t b = 0; b < capbatch; b++)
		free(batch[b]);
	free(batch);
	struct spanstate *st, *tmp;
	HASH_ITER(hh, spans, st, tmp) {
		HASH_DEL(spans, st);
		free(st);
	}
	st_file_close(f);
	lc_free(lc);
	return 0;
}
