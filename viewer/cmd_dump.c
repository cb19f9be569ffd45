/* socktrace dump: every record of the given rings, in time order, as text or JSON lines. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "decode.h"
#include "reader.h"
#include "symbolize.h"
#include "util.h"

int open_rings(int argc, char **argv, struct st_file ***files, int *bad)
{
	char **paths;
	int np, n = 0;
	*bad = st_collect_paths(argc, argv, "socktrace.data", &paths, &np) < 0;
	*files = calloc((size_t)np + 1, sizeof(**files));
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

void close_rings(struct st_file **files, int n)
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
	int readable = 0;
	for (int i = 0; i < n; i++)
		readable |= files[i]->records > 0 || !files[i]->corrupt;
	if (n == 0 || !readable)
		return 2;
	return bad ? 1 : 0;
}

/* What could not be shown, said once per file on stderr. */
void report_damage(struct st_file **files, int n)
{
	for (int i = 0; i < n; i++) {
		const struct st_file *f = files[i];
		const struct st_trace_hdr *h = (const struct st_trace_hdr *)f->map;
		uint64_t lost = h->lost_calls, dropped = h->dropped;
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
void record_json(FILE *out, const struct st_record *r, int socket_id, struct symb *sy)
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

static void dump_json(const struct st_record *r)
{
	record_json(stdout, r, -1, NULL);
}

static void dump_text(const struct st_record *r, uint64_t t0)
{
	const struct st_pinfo *h = r->proc;
	printf("%12.6f %s[%d:%u] ", (double)(r->ts_enter - t0) / 1e9, h->comm, h->pid, r->tid);
	st_print_call(stdout, r);
	putchar('\n');
}

static void usage(FILE *out)
{
	fputs("usage: socktrace dump [--json] [PATH...]\n"
	      "  Print every recorded call of the ring files (or directories of them; default\n"
	      "  ./socktrace.data), merged across threads and processes in time order.\n"
	      "  --json   one JSON object per line (pid, tid, ts_ns, call, fd, ret, errno, args,\n"
	      "           frames, complete)\n"
	      "example: socktrace dump --json socktrace.data | jq 'select(.errno != null)'\n", out);
}

int command_dump(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' }, { 0, 0, 0, 0 } };
	int json = 0, c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		if (c == 'j')
			json = 1;
		else if (c == 'h') {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	struct st_file **files;
	int bad;
	int n = open_rings(argc - optind, argv + optind, &files, &bad);
	struct st_merge *m = st_merge_new(files, n);
	const struct st_record *r;
	uint64_t t0 = 0;
	int first = 1;
	pager_start();
	while ((r = st_merge_next(m))) {
		if (first)
			t0 = r->ts_enter;
		first = 0;
		if (json)
			dump_json(r);
		else
			dump_text(r, t0);
	}
	st_merge_free(m);
	pager_end();
	report_damage(files, n);
	int rc = st_read_status(files, n, bad);
	close_rings(files, n);
	return rc;
}
