/* socktrace info: what a ring file says about its process: header, modules, live sockets. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmds.h"
#include "decode.h"
#include "reader.h"

static const char *origin_name(int o)
{
	static const char *const n[] = { "none", "socket", "accept", "socketpair", "inherited",
	                                  "unseen", "dup" };
	return o >= 0 && o < (int)(sizeof(n) / sizeof(n[0])) ? n[o] : "?";
}

static void show(const struct st_file *f)
{
	const struct st_file_hdr *h = &f->hdr;
	const struct st_file_hdr *live = (const struct st_file_hdr *)f->map;
	printf("%s\n", f->path);
	printf("  process    %s pid %d ppid %d%s\n", h->comm, h->pid, h->ppid,
	       h->flags & ST_HF_FORK_CHILD ? " (fork child)" : "");
	printf("  exe        %s\n", h->exe);
	printf("  cmdline   ");
	for (uint32_t i = 0; i < h->cmdline_len; i++)
		putchar(h->cmdline[i] ? h->cmdline[i] : ' ');
	putchar('\n');
	printf("  started    %llu.%09llu (realtime), monotonic %llu ns\n",
	       (unsigned long long)(h->real_ns / 1000000000ull), (unsigned long long)(h->real_ns % 1000000000ull),
	       (unsigned long long)h->mono_ns);
	printf("  ring       %llu bytes, %u chunks of %u slots; stacks %u frames, payload %u bytes\n",
	       (unsigned long long)h->file_size, h->nchunks, h->chunk_slots, h->stack_depth, h->payload_cap);
	printf("  counters   %llu chunks claimed, %llu records overwritten, %llu late exits, %llu dropped\n",
	       (unsigned long long)live->chunk_counter, (unsigned long long)live->lost_records,
	       (unsigned long long)live->late_exits, (unsigned long long)live->dropped);
	printf("  modules    %u\n", h->nmodules);
	for (uint32_t i = 0; i < h->nmodules; i++) {
		struct st_module m;
		memcpy(&m, f->map + h->mod_off + i * sizeof(m), sizeof(m));
		if (!m.valid)
			continue;
		m.path[sizeof(m.path) - 1] = 0;
		char bid[41] = "-";
		for (unsigned k = 0; k < m.build_id_len && k < 20; k++)
			snprintf(bid + 2 * k, 3, "%02x", m.build_id[k]);
		printf("    %#14llx %-40s %s\n", (unsigned long long)m.base, bid, m.path);
	}
	printf("  live sockets (socket table)\n");
	for (uint32_t fd = 0; fd < h->socktab_n; fd++) {
		struct st_sock s;
		memcpy(&s, f->map + h->socktab_off + fd * sizeof(s), sizeof(s));
		if (!s.seq || (s.seq & 1) || s.origin == ST_OR_NONE || s.fd != (int32_t)fd)
			continue;
		char l[160] = "-", p[160] = "-";
		if (s.local.len && s.local.len <= sizeof(s.local.raw))
			st_fmt_addr(s.local.raw, s.local.len, l, sizeof(l));
		if (s.peer.len && s.peer.len <= sizeof(s.peer.raw))
			st_fmt_addr(s.peer.raw, s.peer.len, p, sizeof(p));
		const char *fam = st_family_name(s.domain);
		printf("    fd %-5d %-9s %-10s %s -> %s\n", s.fd, fam ? fam : "?", origin_name(s.origin), l, p);
	}
}

int command_info(int argc, char **argv)
{
	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		puts("usage: socktrace info [PATH...]\n"
		     "  Show what each ring file says about its process: pid, exe, command line, ring\n"
		     "  size and counters, the module map (load bases, build-ids) and the sockets that\n"
		     "  were still open when it stopped.\n"
		     "example: socktrace info socktrace.data");
		return 0;
	}
	struct st_file **files;
	int bad;
	int n = open_rings(argc - 1, argv + 1, &files, &bad);
	for (int i = 0; i < n; i++)
		show(files[i]);
	close_rings(files, n);
	return bad || n == 0 ? 1 : 0;
}
