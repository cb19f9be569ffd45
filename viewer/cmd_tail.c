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

struct followed {
	struct st_file *f;
	uint64_t *cticket;              /* per chunk: the lap we are reading (UINT64_MAX: none) */
	unsigned *next;                 /* per chunk: next slot to read */
	uint64_t *pending_since;        /* per chunk: when the record at next was first seen entered */
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int is_followed(struct followed *v, int n, const char *path)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(v[i].f->path, path))
			return 1;
	return 0;
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
	      "  Follow the ring files in DIR (default ./socktrace.data), including rings of processes\n"
	      "  that start later, and print each call as it completes, until interrupted. A call\n"
	      "  still blocked after a second is shown once as <unfinished>.\n"
	      "  --from-start    print what the rings already hold first (default: only new calls)\n"
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
	int is_dir = stat(target, &sb) == 0 && S_ISDIR(sb.st_mode);
	if (!is_dir && stat(target, &sb) != 0 && strcmp(target, "socktrace.data")) {
		fprintf(stderr, "socktrace tail: %s: no such file or directory\n", target);
		return 2;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	struct followed *v = NULL;
	int nv = 0, first_scan = 1;
	struct lc *lc = lc_new();
	struct st_record **batch = NULL;
	size_t nbatch = 0, capbatch = 0;
	uint64_t started = mono_now(), t0 = 0;
	int socket_filter = flt.fd >= 0 || flt.addr[0] || flt.errors;
	while (!stop && (for_ns < 0 || mono_now() - started < (uint64_t)for_ns)) {
		/* new ring files (a process that started, or an exec'd image) */
		char **paths = NULL;
		int np = 0;
		if (is_dir || stat(target, &sb) == 0) {
			char *one[1] = { (char *)target };
			if (is_dir || S_ISDIR(sb.st_mode)) {
				is_dir = 1;
				DIR *d = opendir(target);
				struct dirent *e;
				while (d && (e = readdir(d))) {
					size_t l = strlen(e->d_name);
					if (l > 5 && !strcmp(e->d_name + l - 5, ".ring")) {
						paths = realloc(paths, (size_t)(np + 1) * sizeof(*paths));
						paths[np] = malloc(strlen(target) + l + 2);
						sprintf(paths[np++], "%s/%s", target, e->d_name);
					}
				}
				if (d)
					closedir(d);
			} else {
				paths = malloc(sizeof(*paths));
				paths[np++] = strdup(one[0]);
			}
		}
		for (int i = 0; i < np; i++) {
			char err[256];
			struct st_file *f;
			if (!is_followed(v, nv, paths[i]) && (f = st_file_open(paths[i], err, sizeof(err)))) {
				v = realloc(v, (size_t)(nv + 1) * sizeof(*v));
				struct followed *fo = &v[nv++];
				fo->f = f;
				fo->cticket = malloc(f->hdr.nchunks * sizeof(uint64_t));
				fo->next = malloc(f->hdr.nchunks * sizeof(unsigned));
				fo->pending_since = calloc(f->hdr.nchunks, sizeof(uint64_t));
				for (uint32_t ci = 0; ci < f->hdr.nchunks; ci++) {
					fo->cticket[ci] = UINT64_MAX;
					fo->next[ci] = 1;
				}
				/* rings that were there before we started: skip to their end */
				if (first_scan && !from_start)
					for (uint32_t ci = 0; ci < f->hdr.nchunks; ci++) {
						struct st_record tmp;
						uint64_t ct;
						unsigned s = 1;
						int k;
						while ((k = st_read_slot(f, ci, &ct, s, &tmp)) != 0 && s < ST_CHUNK_SLOTS)
							s += k > 0 ? (unsigned)k : 1;
						if (st_read_slot(f, ci, &ct, 0, &tmp) == 0 && ct != UINT64_MAX)
							fo->cticket[ci] = ct;
						fo->next[ci] = s;
					}
			}
			free(paths[i]);
		}
		free(paths);
		first_scan = 0;
		/* what was committed since the last look */
		uint64_t now = mono_now();
		for (int i = 0; i < nv; i++) {
			struct followed *fo = &v[i];
			for (uint32_t ci = 0; ci < fo->f->hdr.nchunks; ci++) {
				for (;;) {
					uint64_t ct = UINT64_MAX;
					if (nbatch == capbatch) {
						capbatch = capbatch ? capbatch * 2 : 256;
						batch = realloc(batch, capbatch * sizeof(*batch));
						for (size_t b = nbatch; b < capbatch; b++)
							batch[b] = NULL;
					}
					if (!batch[nbatch])
						batch[nbatch] = malloc(sizeof(struct st_record));
					int k = st_read_slot(fo->f, ci, &ct, fo->next[ci], batch[nbatch]);
					if (ct == UINT64_MAX)
						break;
					if (ct != fo->cticket[ci]) {   /* a new lap of the ring on this chunk */
						fo->cticket[ci] = ct;
						fo->next[ci] = 1;
						fo->pending_since[ci] = 0;
						continue;
					}
					if (k == 0 || fo->next[ci] >= ST_CHUNK_SLOTS)
						break;
					if (k < 0) {
						fo->next[ci]++;
						continue;
					}
					struct st_record *r = batch[nbatch];
					if (!r->complete && r->call != ST_C_EXEC) {
						/* still in the call: wait, but say so once after a second */
						if (!fo->pending_since[ci])
							fo->pending_since[ci] = now;
						if (fo->pending_since[ci] != 1 && now - fo->pending_since[ci] > 1000000000ull) {
							fo->pending_since[ci] = 1;
							nbatch++;
						}
						break;
					}
					fo->pending_since[ci] = 0;
					fo->next[ci] += (unsigned)k;
					nbatch++;
				}
			}
		}
		if (nbatch)
			qsort(batch, nbatch, sizeof(*batch), by_ts);
		for (size_t b = 0; b < nbatch; b++) {
			struct st_record *r = batch[b];
			if (!t0)
				t0 = r->ts_enter;
			struct lc_sock *s = r->complete || r->call == ST_C_EXEC ? lc_feed(lc, r) : NULL;
			if (flt.pid >= 0 && r->file->hdr.pid != flt.pid)
				continue;
			if (socket_filter && (!s || !filter_match(&flt, s, t0)))
				continue;
			printf("%12.6f %s[%d:%u] ", (double)(r->ts_enter - t0) / 1e9, r->file->hdr.comm,
			       r->file->hdr.pid, r->tid);
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
	for (int i = 0; i < nv; i++) {
		free(v[i].cticket);
		free(v[i].next);
		free(v[i].pending_since);
		st_file_close(v[i].f);
	}
	free(v);
	lc_free(lc);
	return 0;
}
