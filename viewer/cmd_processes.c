/* socktrace processes: the traced processes as a fork tree, with what each did to sockets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "xalloc.h"
#include "reader.h"
#include "session.h"
#include "util.h"

static const char *state_text(const struct st_pinfo *p, char *buf, size_t n)
{
	switch (p->state) {
	case ST_PS_EXITED:
		snprintf(buf, n, "exited %d", p->exit_status & 0xff);
		return buf;
	case ST_PS_GONE:
		return "killed";
	case ST_PS_EXECED:
		return "exec'd";
	case ST_PS_LIVE:
		return p->running ? "running" : "killed";
	}
	return "not in the process table";
}

static void print_one(const struct st_pinfo *p, int depth, uint64_t t0)
{
	char cmd[120] = "", st[32];
	uint32_t cl = p->cmdline_len < sizeof(cmd) - 1 ? p->cmdline_len : (uint32_t)sizeof(cmd) - 1;
	for (uint32_t k = 0; k < cl; k++)
		cmd[k] = p->cmdline[k] ? p->cmdline[k] : ' ';
	while (cl > 0 && cmd[cl - 1] == ' ')
		cmd[--cl] = 0;
	printf("%*s%d %s  (ppid %d%s%s)  %llu calls%s  %s  +%.6fs  %s\n", depth * 2, "", p->pid, p->comm,
	       p->ppid, p->flags & ST_PF_EXEC ? ", exec'd image" : p->flags & ST_PF_FORK ? ", fork child" : "",
	       p->flags & ST_PF_SECCOMP ? ", seccomp" : "",
	       (unsigned long long)p->records,
	       p->incomplete && p->state != ST_PS_EXITED && p->state != ST_PS_EXECED
	           ? ", died in a call or still blocked" : "",
	       state_text(p, st, sizeof(st)), p->t_start > t0 ? (double)(p->t_start - t0) / 1e9 : 0.0, cmd);
}

/* Children of `parent` (NULL: the roots, whose parent is not in the trace), by start time. */
static void print_tree(const struct st_file *f, const struct st_pinfo *parent, int depth, uint64_t t0)
{
	for (int i = 0; i < f->nprocs; i++) {
		const struct st_pinfo *p = f->procs[i];
		if (p->parent != parent)
			continue;
		print_one(p, depth, t0);
		/* an exec'd image of the same pid is listed right under it, one level in */
		print_tree(f, p, depth + 1, t0);
	}
}

static int cmp_start(const void *a, const void *b)
{
	const struct st_pinfo *x = *(struct st_pinfo *const *)a, *y = *(struct st_pinfo *const *)b;
	return ST_CMP(x->t_start, y->t_start);
}

static const char usage[] =
	"usage: socktrace processes [PATH...]\n"
	"  The traced processes as a fork tree: pid, name, parent, number of recorded calls,\n"
	"  whether it died inside a call, how it ended (exited with its status, killed, still\n"
	"  running, exec'd), start time and command line. An exec'd image of a process is\n"
	"  listed under it with the same pid.\n"
	"example: socktrace processes socktrace.data\n";

static int processes_run(struct st_session *ss, void *ctx)
{
	(void)ctx;
	st_session_scan(ss);
	for (int i = 0; i < ss->n; i++) {
		struct st_file *f = ss->files[i];
		uint64_t t0 = f->hdr.mono0;
		/* print in start order; the id order is restored for the reader's lookups */
		struct st_pinfo **byid = st_xmalloc((size_t)f->nprocs * sizeof(*byid) + 1);
		if (!byid)
			continue;
		memcpy(byid, f->procs, (size_t)f->nprocs * sizeof(*byid));
		qsort(f->procs, (size_t)f->nprocs, sizeof(*f->procs), cmp_start);
		print_tree(f, NULL, 0, t0);
		memcpy(f->procs, byid, (size_t)f->nprocs * sizeof(*byid));
		free(byid);
	}
	return st_session_end(ss, 1);
}

int command_processes(int argc, char **argv)
{
	return st_session_run_flag(argc, argv, "processes", NULL, usage, 1, processes_run);
}
