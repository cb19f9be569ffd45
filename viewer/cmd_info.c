/* socktrace info: what a trace file says: its header and counters, each process, its modules and live sockets. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmds.h"
#include "decode.h"
#include "reader.h"
#include "session.h"
#include "util.h"

static const char *state_name(const struct st_pinfo *p)
{
	switch (p->state) {
	case ST_PS_LIVE: return p->running ? "running" : "killed (it never said it exited)";
	case ST_PS_EXITED: return "exited";
	case ST_PS_GONE: return "killed";
	case ST_PS_EXECED: return "replaced by exec";
	}
	return "not in the process table";
}

static void show_proc(const struct st_file *f, const struct st_pinfo *p)
{
	printf("  process    %s pid %d ppid %d (trace id %u)%s%s\n", p->comm, p->pid, p->ppid, p->id,
	       p->flags & ST_PF_FORK ? " fork child" : "", p->flags & ST_PF_EXEC ? " exec'd image" : "");
	printf("    state    %s", state_name(p));
	if (p->state == ST_PS_EXITED)
		printf(", status %d", p->exit_status & 0xff);
	printf("; uid %u euid %u%s\n", p->uid, p->euid, p->flags & ST_PF_SETUID ? ", changed credentials" : "");
	if (p->flags & ST_PF_SECCOMP)
		printf("    seccomp  a filter was installed: no stacks, address lookups or fd probes after it\n");
	printf("    exe      %s\n", p->exe);
	printf("    cmdline ");
	for (uint32_t i = 0; i < p->cmdline_len; i++)
		putchar(p->cmdline[i] ? p->cmdline[i] : ' ');
	putchar('\n');
	printf("    modules  %d%s\n", p->nmods, p->image && p->image != p ? " (and its parent's)" : "");
	for (int i = 0; i < p->nmods; i++) {
		const struct st_module *m = &p->mods[i];
		char bid[41] = "-";
		for (unsigned k = 0; k < m->build_id_len && k < 20; k++)
			snprintf(bid + 2 * k, 3, "%02x", m->build_id[k]);
		printf("      %#14llx %-40s %s\n", (unsigned long long)m->base, bid, m->path);
	}
	printf("    live sockets (socket table)\n");
	for (int fd = 0; fd < 65536; fd++) {
		struct st_sock s;
		if (!st_sock_lookup(p, fd, &s))
			continue;
		char l[160] = "-", pe[160] = "-";
		if (s.local.len && s.local.len <= sizeof(s.local.raw))
			st_fmt_addr(s.local.raw, s.local.len, l, sizeof(l));
		if (s.peer.len && s.peer.len <= sizeof(s.peer.raw))
			st_fmt_addr(s.peer.raw, s.peer.len, pe, sizeof(pe));
		const char *fam = st_family_name(s.domain);
		printf("      fd %-5d %-9s %-10s %s -> %s\n", fd, fam ? fam : "?", st_origin_name(s.origin), l, pe);
	}
	(void)f;
}

static void show(const struct st_file *f)
{
	const struct st_trace_hdr *h = &f->hdr;
	const struct st_trace_hdr *live = (const struct st_trace_hdr *)f->map;
	printf("%s\n", f->path);
	printf("  trace      %llu bytes: ring %u blocks of %u bytes, %u process slots, %u socket slots\n",
	       (unsigned long long)h->file_size, h->nblocks, ST_BLOCK, h->nproc, h->nsock);
	if (f->missing)
		printf("  cut short  the last %llu bytes are missing (read as zeros)\n", (unsigned long long)f->missing);
	if (f->extra)
		printf("  extra      %llu bytes after the trace's end, left out\n", (unsigned long long)f->extra);
	printf("  started    %llu.%09llu (realtime) by pid %d; stacks %u frames, payload %u bytes\n",
	       (unsigned long long)(h->real0 / 1000000000ull), (unsigned long long)(h->real0 % 1000000000ull),
	       h->creator_pid, h->stack_depth, h->payload_cap);
	printf("  clock      %s\n", h->flags & ST_TF_TSC ? "TSC" : "CLOCK_MONOTONIC");
	printf("  counters   %llu bytes claimed, %llu calls and %llu exits overwritten, %llu dropped, "
	       "%llu bytes stepped over, %llu processes and %llu sockets without a table slot\n",
	       (unsigned long long)(live->head - (uint64_t)h->nblocks * ST_BLOCK),
	       (unsigned long long)live->lost_calls, (unsigned long long)live->lost_exits,
	       (unsigned long long)live->dropped, (unsigned long long)live->skipped,
	       (unsigned long long)live->procs_dropped, (unsigned long long)live->socks_dropped);
	printf("  processes  %d\n", f->nprocs);
	for (int i = 0; i < f->nprocs; i++)
		show_proc(f, f->procs[i]);
}

static const char usage[] =
	"usage: socktrace info [PATH...]\n"
	"  Show what a trace says: its size and counters, then each process: pid, state,\n"
	"  exe, command line, the module map (load bases, build-ids) and the sockets that\n"
	"  were still open when it stopped.\n"
	"example: socktrace info socktrace.data\n";

static int info_run(struct st_session *ss, void *ctx)
{
	(void)ctx;
	st_session_scan(ss);        /* (the processes an exec replaced are known from their records) */
	for (int i = 0; i < ss->n; i++)
		show(ss->files[i]);
	/* what info shows is the header and the tables: read when the file opened, whatever
	 * its records are like */
	int opened = ss->n > 0, bad = ss->bad;
	st_session_end(ss, 0);
	return !opened ? 2 : bad ? 1 : 0;
}

int command_info(int argc, char **argv)
{
	return st_session_run_flag(argc, argv, "info", NULL, usage, 1, info_run);
}
