/* socktrace dump: every record of the given rings, in time order, as text or JSON lines. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "xalloc.h"
#include "decode.h"
#include "reader.h"
#include "render.h"
#include "session.h"
#include "symbolize.h"
#include "util.h"

static void dump_json(const struct st_record *r, uint64_t t0)
{
	(void)t0;
	st_record_json(stdout, r, -1, NULL);
}

static void dump_text(const struct st_record *r, uint64_t t0)
{
	const struct st_pinfo *h = r->proc;
	printf("%12.6f %s[%d:%u] ", st_rel_s(r->ts_enter, t0), h->comm, h->pid, r->tid);
	st_print_call(stdout, r);
	putchar('\n');
}

static const char usage[] =
	"usage: socktrace dump [--json] [PATH...]\n"
	"  Print every recorded call of the ring files (or directories of them; default\n"
	"  ./socktrace.data), merged across threads and processes in time order.\n"
	"  --json   one JSON object per line (pid, tid, ts_ns, call, fd, ret, errno, args,\n"
	"           frames, complete)\n"
	"example: socktrace dump --json socktrace.data | jq 'select(.errno != null)'\n";

static int dump_run(struct st_session *ss, void *ctx)
{
	void (*show)(const struct st_record *, uint64_t) = *(int *)ctx ? dump_json : dump_text;
	struct st_merge *m = st_merge_new(ss->files, ss->n);
	const struct st_record *r;
	uint64_t t0 = 0;
	int first = 1;
	pager_start();
	while ((r = st_merge_next(m))) {
		if (first)
			t0 = r->ts_enter;       /* (times are from the first record) */
		first = 0;
		show(r, t0);
	}
	st_merge_free(m);
	return st_session_end(ss, 1);
}

int command_dump(int argc, char **argv)
{
	return st_session_run_flag(argc, argv, "dump", "json", usage, 1, dump_run);
}
