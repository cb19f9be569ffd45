/* What every reading command does around its work: open the traces named on its command line
 * (or found in the directories named), say what could not be read, rebuild the socket
 * lifetimes, and turn what happened into the one exit status socktrace(1) documents. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "lifecycle.h"
#include "order.h"
#include "reader.h"
#include "session.h"
#include "xalloc.h"

int st_open_traces(int argc, char **argv, struct st_file ***files, int *bad)
{
	char **paths;
	int np, n = 0;
	*bad = st_collect_paths(argc, argv, "socktrace.data", &paths, &np) < 0;
	*files = st_xcalloc((size_t)np + 1, sizeof(**files));
	for (int i = 0; i < np; i++) {
		char err[256];
		struct st_file *f = st_file_open(paths[i], err, sizeof(err));
		if (f)
			(*files)[n++] = f;
		else {
			fprintf(stderr, "socktrace: %s: %s\n", paths[i], err);
			*bad = 1;
		}
		free(paths[i]);
	}
	free(paths);
	return n;
}

void st_close_traces(struct st_file **files, int n)
{
	for (int i = 0; i < n; i++)
		st_file_close(files[i]);
	free(files);
}

/*
 * The exit status every reading command shares (socktrace(1), EXIT STATUS): 2 when nothing
 * could be read (no trace opened, or none of its records), 1 when some input could not be
 * read but the rest was shown, 0 otherwise. diagnose adds 1 for "problems found".
 */
int st_read_status(struct st_file **files, int n, int bad)
{
	int readable = 0, cut = 0;
	for (int i = 0; i < n; i++) {
		readable |= files[i]->records > 0 || !files[i]->corrupt;
		cut |= files[i]->missing > 0;
	}
	if (n == 0 || !readable)
		return 2;
	return bad || cut ? 1 : 0;
}

/* What could not be shown, said once per file on stderr. */
void st_report_damage(struct st_file **files, int n)
{
	for (int i = 0; i < n; i++) {
		const struct st_file *f = files[i];
		const struct st_trace_hdr *h = (const struct st_trace_hdr *)f->map;
		uint64_t lost = h->lost_calls, dropped = h->dropped;
		if (f->missing)
			fprintf(stderr, "socktrace: %s: cut short: the last %llu of its %llu bytes are missing; what they "
			        "held is lost, the rest is shown\n", f->path, (unsigned long long)f->missing,
			        (unsigned long long)f->len);
		if (f->extra)
			fprintf(stderr, "socktrace: %s: %llu byte(s) after the trace's end left out\n", f->path,
			        (unsigned long long)f->extra);
		if (f->torn)
			fprintf(stderr, "socktrace: %s: %llu torn record(s): the writer died mid-record; not shown\n",
			        f->path, (unsigned long long)f->torn);
		if (f->corrupt)
			fprintf(stderr, "socktrace: %s: %llu damaged record(s) (length or check word wrong); "
			        "rest of their span not shown\n", f->path, (unsigned long long)f->corrupt);
		if (lost)
			fprintf(stderr, "socktrace: %s: ring wrapped, %llu oldest call(s) overwritten "
			        "(raise SOCKTRACE_SIZE to keep more)\n", f->path, (unsigned long long)lost);
		if (dropped)
			fprintf(stderr, "socktrace: %s: %llu call(s) not recorded (no room in the ring)\n",
			        f->path, (unsigned long long)dropped);
		if (!f->records && f->corrupt)
			fprintf(stderr, "socktrace: %s: no record could be read: written by an incompatible "
			        "build of socktrace, or damaged\n", f->path);
		if (h->procs_dropped)
			fprintf(stderr, "socktrace: %s: %llu process(es) not traced: the process table was full\n",
			        f->path, (unsigned long long)h->procs_dropped);
	}
}

/* Run every record through the lifecycle machine. Returns the first record's time. */
uint64_t st_build_lifetimes(struct st_file **files, int n, struct lc *lc)
{
	struct st_order *o = st_order_new(files, n);
	const struct st_record *r;
	uint64_t t0 = UINT64_MAX;
	while ((r = st_order_next(o))) {
		if (r->ts_enter < t0)
			t0 = r->ts_enter;
		lc_feed(lc, r);
	}
	st_order_free(o);
	lc_finish(lc);
	return t0 == UINT64_MAX ? 0 : t0;
}

int st_session_open(struct st_session *s, int argc, char **argv, const struct cmd_opts *o)
{
	*s = (struct st_session){ 0 };
	int rc = cmd_parse(argc, argv, o, &s->flt);
	if (rc >= 0)
		return rc;
	s->n = st_open_traces(argc - optind, argv + optind, &s->files, &s->bad);
	return -1;
}

int st_session_run(int argc, char **argv, const struct cmd_opts *o, int (*run)(struct st_session *ss, void *ctx))
{
	struct st_session ss;
	int rc = st_session_open(&ss, argc, argv, o);
	return rc >= 0 ? rc : run(&ss, o->ctx);
}

int st_session_run_flag(int argc, char **argv, const char *name, const char *flag, const char *usage,
                        int no_filters, int (*run)(struct st_session *ss, void *ctx))
{
	const struct option own[] = { { flag, no_argument, NULL, flag ? flag[0] : 0 }, { 0, 0, 0, 0 } };
	const char shortopt[2] = { flag ? flag[0] : 0, 0 };
	int on = 0;
	const struct cmd_opts o = { name, shortopt, flag ? own : own + 1, usage, cmd_flag, &on, no_filters };
	return st_session_run(argc, argv, &o, run);
}

void st_session_scan(struct st_session *s)
{
	struct st_merge *m = st_merge_new(s->files, s->n);
	while (st_merge_next(m))
		;
	st_merge_free(m);
}

void st_session_lifetimes(struct st_session *s, struct lc *lc)
{
	s->t0 = st_build_lifetimes(s->files, s->n, lc);
	filter_resolve(&s->flt, s->n ? s->files[0] : NULL, s->t0);
}

int st_session_end(struct st_session *s, int report)
{
	pager_end();
	if (report)
		st_report_damage(s->files, s->n);
	int rc = st_read_status(s->files, s->n, s->bad);
	st_close_traces(s->files, s->n);
	s->files = NULL;
	s->n = 0;
	return rc;
}
