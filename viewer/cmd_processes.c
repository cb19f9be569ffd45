/* socktrace processes: the traced processes as a fork tree, with what each did to sockets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "reader.h"

struct pinfo {
	const struct st_file *f;
	int depth;
	uint64_t records, incomplete;
	int printed;
};

static void print_tree(struct pinfo *p, int n, int parent, int depth, uint64_t t0)
{
	for (int i = 0; i < n; i++) {
		const struct st_file_hdr *h = &p[i].f->hdr;
		int is_root = parent < 0 ? 1 : 0;
		if (p[i].printed)
			continue;
		if (is_root) {
			/* a root: its parent is not among the traced processes */
			int found = 0;
			for (int k = 0; k < n; k++)
				found |= k != i && p[k].f->hdr.pid == h->ppid;
			if (found)
				continue;
		} else if (h->ppid != parent) {
			continue;
		}
		p[i].printed = 1;
		int exec_image = 0;
		for (int k = 0; k < i; k++)
			exec_image |= p[k].f->hdr.pid == h->pid;
		char cmd[96] = "";
		uint32_t cl = h->cmdline_len < sizeof(cmd) - 1 ? h->cmdline_len : (uint32_t)sizeof(cmd) - 1;
		for (uint32_t k = 0; k < cl; k++)
			cmd[k] = h->cmdline[k] ? h->cmdline[k] : ' ';
		printf("%*s%d %s  (ppid %d%s)  %llu calls%s  +%.6fs  %s\n", depth * 2, "", h->pid, h->comm,
		       h->ppid, exec_image ? ", exec'd image" : h->flags & ST_HF_FORK_CHILD ? ", fork child" : "",
		       (unsigned long long)p[i].records,
		       p[i].incomplete ? ", died in a call or still blocked" : "",
		       h->mono_ns > t0 ? (double)(h->mono_ns - t0) / 1e9 : 0.0, cmd);
		/* an exec'd image of the same pid is listed right under it */
		print_tree(p, n, h->pid, depth + 1, t0);
	}
}

int command_processes(int argc, char **argv)
{
	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		puts("usage: socktrace processes [PATH...]\n"
		     "  The traced processes as a fork tree: pid, name, parent, number of recorded calls,\n"
		     "  whether it died inside a call, start time and command line. An exec'd image of\n"
		     "  a process has a ring of its own and is listed under it with the same pid.\n"
		     "example: socktrace processes socktrace.data");
		return 0;
	}
	struct st_file **files;
	int bad;
	int n = open_rings(argc - 1, argv + 1, &files, &bad);
	struct st_merge *m = st_merge_new(files, n);   /* counts records per file */
	while (st_merge_next(m))
		;
	st_merge_free(m);
	struct pinfo *p = calloc((size_t)n + 1, sizeof(*p));
	uint64_t t0 = UINT64_MAX;
	for (int i = 0; i < n; i++) {
		p[i].f = files[i];
		p[i].records = files[i]->records;
		p[i].incomplete = files[i]->incomplete;
		if (files[i]->hdr.mono_ns < t0)
			t0 = files[i]->hdr.mono_ns;
	}
	/* exec'd images share the pid: order by start so the first image comes first */
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && p[j].f->hdr.mono_ns < p[j - 1].f->hdr.mono_ns; j--) {
			struct pinfo t = p[j];
			p[j] = p[j - 1];
			p[j - 1] = t;
		}
	print_tree(p, n, -1, 0, t0);
	free(p);
	report_damage(files, n);
	close_rings(files, n);
	return bad || n == 0 ? 1 : 0;
}
