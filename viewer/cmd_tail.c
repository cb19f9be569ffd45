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
#include "xalloc.h"
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

static const char usage[] =
	"usage: socktrace tail [--from-start] [--for SECONDS] [filters] [DIR|FILE]\n"
	"  Follow the trace in DIR (default ./socktrace.data), which need not exist yet, and\n"
	"  print each call of every process as it completes, until interrupted. A call still\n"
	"  blocked after a second is shown once as <unfinished: still blocked>; a process that\n"
	"  ends with no exit recorded (killed) is told once, with the call it was blocked in.\n"
	"  --from-start    print what the trace already holds first (default: only new calls)\n"
	"  --for SECONDS   stop after this long\n" FILTER_HELP
	"example: socktrace tail --addr 127.0.0.1:6379 socktrace.data\n";

static int by_ts(const void *a, const void *b)
{
	const struct st_record *x = *(const struct st_record *const *)a, *y = *(const struct st_record *const *)b;
	return ST_CMP(x->ts_enter, y->ts_enter);
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

/* What tail keeps between two scans of the trace. */
/* What tail knows of a process: seen running, its death told, the call it was blocked in. */
struct pidstate {
	int pid;
	int seen_running, told, gone;   /* gone: scans in a row it was not running */
	uint32_t blocked_tid;
	char blocked[80];
	UT_hash_handle hh;
};

struct tail {
	struct st_file *f;
	struct pidstate *pids;
	struct spanstate *spans;        /* per span: how far it was read */
	struct lc *lc;
	struct st_record **batch;       /* this scan's records, put in time order */
	size_t nbatch, capbatch;
	int first_scan, from_start;
	uint64_t t0;
};

/* The trace file tail watches: the directory need not exist yet (tail can be started before
 * the program), so a name without ".ring" is taken for one. */
static void tail_path(const char *target, char *path, size_t size)
{
	struct stat sb;
	size_t tl = strlen(target);
	int is_dir = stat(target, &sb) == 0 ? S_ISDIR(sb.st_mode)
	             : !(tl > 5 && !strcmp(target + tl - 5, ".ring"));
	if (is_dir)
		snprintf(path, size, "%s/%s", target, ST_TRACE_FILE);
	else
		snprintf(path, size, "%s", target);
}

static struct st_record *batch_slot(struct tail *t)
{
	if (t->nbatch == t->capbatch) {
		t->capbatch = t->capbatch ? t->capbatch * 2 : 256;
		t->batch = st_xrealloc(t->batch, t->capbatch * sizeof(*t->batch));
		for (size_t b = t->nbatch; b < t->capbatch; b++)
			t->batch[b] = NULL;
	}
	if (!t->batch[t->nbatch])
		t->batch[t->nbatch] = st_xmalloc(sizeof(struct st_record));
	return t->batch[t->nbatch];
}

static struct pidstate *pid_state(struct tail *t, int pid)
{
	struct pidstate *ps;
	HASH_FIND_INT(t->pids, &pid, ps);
	if (!ps) {
		ps = st_xcalloc(1, sizeof(*ps));
		ps->pid = pid;
		HASH_ADD_INT(t->pids, pid, ps);
	}
	return ps;
}

/* A process seen running that is gone with no exit recorded (a kill -9, a crash, _exit):
 * said once, with the call it was blocked in, as strace says "+++ killed by SIGKILL +++". */
static void tell_deaths(struct tail *t, const struct filter *flt)
{
	for (int i = 0; t->f && i < t->f->nprocs; i++) {
		const struct st_pinfo *p = t->f->procs[i];
		if (p->state != ST_PS_LIVE || (flt->pid >= 0 && p->pid != flt->pid))
			continue;
		struct pidstate *ps = pid_state(t, p->pid);
		if (p->running) {
			ps->seen_running = 1;
			ps->gone = 0;
		} else if (ps->seen_running && !ps->told && ++ps->gone >= 2) {
			/* (twice in a row: an exit recorded between reading the table and looking at
			 * /proc is seen on the next scan) */
			ps->told = 1;
			printf("%12.6f %s[%d] +++ ended with no exit recorded (killed by a signal, or _exit)%s%s +++\n",
			       t->t0 ? st_rel_s(mono_now(), t->t0) : 0.0, p->comm, p->pid,
			       ps->blocked[0] ? "; it was blocked in " : "", ps->blocked);
			fflush(stdout);
		}
	}
}

/* The records span i gained since the last scan, up to one still in its call. */
static void scan_span(struct tail *t, size_t i, uint64_t now)
{
	uint64_t pos = st_span_start(t->f, i);
	struct spanstate *st;
	HASH_FIND(hh, t->spans, &pos, sizeof(pos), st);
	if (!st) {
		st = st_xcalloc(1, sizeof(*st));
		st->pos = pos;
		HASH_ADD(hh, t->spans, pos, sizeof(st->pos), st);
	}
	st->mark = 1;
	for (;;) {
		struct st_record *r = batch_slot(t);
		if (!st_span_next(t->f, i, &st->sp, r))
			break;
		if (t->first_scan && !t->from_start) {  /* there before we started: not shown */
			st_span_take(&st->sp);
			continue;
		}
		if (!r->complete && r->call != ST_C_EXEC) {
			/* still in the call: wait, but say so once after a second */
			if (!st->pending_since) {
				st->pending_since = now;
				struct pidstate *ps = pid_state(t, r->proc->pid);
				snprintf(ps->blocked, sizeof(ps->blocked), "%s(fd=%d)", st_call_name(r->call), r->fd);
				ps->blocked_tid = r->tid;
			}
			if (st->pending_since != 1 && now - st->pending_since > 1000000000ull) {
				st->pending_since = 1;
				t->nbatch++;
			}
			break;
		}
		if (st->pending_since) {        /* (another thread's wait goes on) */
			struct pidstate *ps = pid_state(t, r->proc->pid);
			if (ps->blocked_tid == r->tid)
				ps->blocked[0] = 0;
		}
		st->pending_since = 0;
		st_span_take(&st->sp);
		t->nbatch++;
	}
}

static void scan(struct tail *t)
{
	uint64_t now = mono_now();
	struct spanstate *st, *tmp;
	HASH_ITER(hh, t->spans, st, tmp)
		st->mark = 0;
	for (size_t i = 0; t->f && i < t->f->nspans; i++)
		scan_span(t, i, now);
	HASH_ITER(hh, t->spans, st, tmp)
		if (!st->mark) {        /* overwritten by a new lap of the ring */
			HASH_DEL(t->spans, st);
			free(st);
		}
	t->first_scan = 0;      /* a trace made after we started is all new */
}

static void show_batch(struct tail *t, const struct filter *flt)
{
	int socket_filter = flt->fd >= 0 || flt->addr[0] || flt->errors;
	if (t->nbatch)
		qsort(t->batch, t->nbatch, sizeof(*t->batch), by_ts);
	for (size_t b = 0; b < t->nbatch; b++) {
		struct st_record *r = t->batch[b];
		if (!t->t0)
			t->t0 = r->ts_enter;
		struct lc_sock *s = r->complete || r->call == ST_C_EXEC ? lc_feed(t->lc, r) : NULL;
		if (flt->pid >= 0 && r->proc->pid != flt->pid)
			continue;
		if (socket_filter && (!s || !filter_match(flt, s, t->t0)))
			continue;
		printf("%12.6f %s[%d:%u] ", st_rel_s(r->ts_enter, t->t0), r->proc->comm,
		       r->proc->pid, r->tid);
		st_print_call(stdout, r);
		putchar('\n');
	}
	t->nbatch = 0;
	fflush(stdout);
}

static void tail_free(struct tail *t)
{
	for (size_t b = 0; b < t->capbatch; b++)
		free(t->batch[b]);
	free(t->batch);
	ST_HASH_FREE(t->spans);
	ST_HASH_FREE(t->pids);
	st_file_close(t->f);
	lc_free(t->lc);
}

int command_tail(int argc, char **argv)
{
	static const struct option own[] = { { "from-start", no_argument, NULL, 's' },
		{ "for", required_argument, NULL, 'F' }, { 0, 0, 0, 0 } };
	struct filter flt;
	struct tail_opts to = { 0, -1 };
	const struct cmd_opts o = { "tail", "", own, usage, tail_opt, &to, 0 };
	int rc = cmd_parse(argc, argv, &o, &flt);
	if (rc >= 0)
		return rc;
	char path[4096];
	tail_path(optind < argc ? argv[optind] : "socktrace.data", path, sizeof(path));
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	struct tail t = { .lc = lc_new(), .first_scan = 1, .from_start = to.from_start };
	uint64_t started = mono_now();
	while (!stop && (to.for_ns < 0 || mono_now() - started < (uint64_t)to.for_ns)) {
		char err[256];
		if (!t.f && (t.f = st_file_open(path, err, sizeof(err))) == NULL && access(path, F_OK) == 0 &&
		    strncmp(err, "no trace-file magic", 19) != 0) {
			fprintf(stderr, "socktrace tail: %s: %s\n", path, err);
			break;
		} else if (t.f) {
			st_file_refresh(t.f);
		}
		scan(&t);
		show_batch(&t, &flt);
		tell_deaths(&t, &flt);
		struct timespec nap = { 0, 100000000 };
		nanosleep(&nap, NULL);
	}
	tail_free(&t);
	return 0;
}
