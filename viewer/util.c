/* Filters, colour and the pager shared by the listing subcommands. */
#include "util.h"
#include "xalloc.h"

#include <arpa/inet.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "reader.h"
#include <unistd.h>

int st_use_color;
static pid_t pager_pid;

void filter_init(struct filter *f)
{
	memset(f, 0, sizeof(*f));
	f->fd = -1;
	f->pid = -1;
	f->since_ns = -1;
	f->until_ns = -1;
	f->since_clock = -1;
	f->until_clock = -1;
}

/* HH:MM[:SS[.frac]] as seconds of the day; -1 if it is not a clock time */
static double parse_clock(const char *s)
{
	int h, m;
	double sec = 0;
	char tail;
	if (sscanf(s, "%d:%d:%lf%c", &h, &m, &sec, &tail) == 3 || sscanf(s, "%d:%d%c", &h, &m, &tail) == 2)
		if (h >= 0 && h < 24 && m >= 0 && m < 60 && sec >= 0 && sec < 61)
			return h * 3600.0 + m * 60.0 + sec;
	return -1;
}

void filter_resolve(struct filter *f, const struct st_file *file, uint64_t t0)
{
	if (!file || (f->since_clock < 0 && f->until_clock < 0))
		return;
	/* the wall-clock midnight of the day the ring started, in CLOCK_MONOTONIC terms */
	time_t start = (time_t)(file->hdr.real0 / 1000000000ull);
	struct tm tm;
	localtime_r(&start, &tm);
	double into_day = tm.tm_hour * 3600.0 + tm.tm_min * 60.0 + tm.tm_sec +
	                  (double)(file->hdr.real0 % 1000000000ull) / 1e9;
	double midnight_mono = (double)file->hdr.mono0 / 1e9 - into_day;
	double clocks[2] = { f->since_clock, f->until_clock };
	int64_t *outs[2] = { &f->since_ns, &f->until_ns };
	for (int i = 0; i < 2; i++) {
		if (clocks[i] < 0)
			continue;
		double mono = midnight_mono + clocks[i];
		double rel = mono * 1e9 - (double)t0;
		*outs[i] = rel < 0 ? 0 : (int64_t)rel;
	}
}

int parse_duration_ns(const char *s, int64_t *out)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || v < 0)
		return -1;
	double mul = 1e9;
	if (!strcmp(end, "ms"))
		mul = 1e6;
	else if (!strcmp(end, "us"))
		mul = 1e3;
	else if (!strcmp(end, "ns"))
		mul = 1;
	else if (*end && strcmp(end, "s"))
		return -1;
	*out = (int64_t)(v * mul);
	return 0;
}

static int parse_int(const char *s, int *out)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (end == s || *end || v < 0 || v > 0x7fffffff)
		return -1;
	*out = (int)v;
	return 0;
}

/* HOST, HOST:PORT, [V6], [V6]:PORT, /unix/path or @abstract. */
static int addr_valid(const char *a)
{
	if (a[0] == '/' || (a[0] == '@' && a[1]))
		return 1;
	char host[128];
	const char *port = NULL;
	unsigned char bin[16];
	if (a[0] == '[') {
		const char *e = strchr(a, ']');
		if (!e || (size_t)(e - a - 1) >= sizeof(host))
			return 0;
		snprintf(host, sizeof(host), "%.*s", (int)(e - a - 1), a + 1);
		if (e[1] == ':')
			port = e + 2;
		else if (e[1])
			return 0;
		if (inet_pton(AF_INET6, host, bin) != 1)
			return 0;
	} else {
		const char *c = strchr(a, ':');
		if (c && strchr(c + 1, ':'))    /* bare IPv6 */
			return inet_pton(AF_INET6, a, bin) == 1;
		size_t hl = c ? (size_t)(c - a) : strlen(a);
		if (hl >= sizeof(host))
			return 0;
		snprintf(host, sizeof(host), "%.*s", (int)hl, a);
		port = c ? c + 1 : NULL;
		if (inet_pton(AF_INET, host, bin) != 1)
			return 0;
	}
	if (port) {
		char *end;
		long v = strtol(port, &end, 10);
		if (!*port || *end || v < 0 || v > 65535)
			return 0;
	}
	return 1;
}

int filter_option(struct filter *f, int code, const char *arg)
{
	switch (code) {
	case 1001: return parse_int(arg, &f->fd) ? -1 : 1;
	case 1002: return parse_int(arg, &f->pid) ? -1 : 1;
	case 1003:
		if (!addr_valid(arg))
			return -1;
		snprintf(f->addr, sizeof(f->addr), "%s", arg);
		return 1;
	case 1004: f->errors = 1; return 1;
	case 1005:
		if ((f->since_clock = parse_clock(arg)) >= 0)
			return 1;
		return parse_duration_ns(arg, &f->since_ns) ? -1 : 1;
	case 1006:
		if ((f->until_clock = parse_clock(arg)) >= 0)
			return 1;
		return parse_duration_ns(arg, &f->until_ns) ? -1 : 1;
	case 1007: st_color_setup(1); return 1;
	}
	return 0;
}

/* "127.0.0.1" matches "127.0.0.1:80"; "[::1]:80" and "/run/x.sock" must match whole. */
static int addr_match(const char *want, const char *have)
{
	size_t n = strlen(want);
	if (!have[0] || strncmp(want, have, n))
		return 0;
	return have[n] == 0 || (have[n] == ':' && !strchr(want + (want[0] == '[' ? 1 : 0), ':'));
}

int filter_match(const struct filter *f, const struct lc_sock *s, uint64_t t0)
{
	if (f->fd >= 0) {
		int hit = 0;
		for (int i = 0; i < s->nfds; i++)
			hit |= s->fds[i] == f->fd;
		if (!hit)
			return 0;
	}
	if (f->pid >= 0) {
		int hit = 0;
		for (int i = 0; i < s->npids; i++)
			hit |= s->pids[i] == f->pid;
		if (!hit && s->pid != f->pid)
			return 0;
	}
	if (f->addr[0]) {
		int hit = addr_match(f->addr, s->local) || addr_match(f->addr, s->peer);
		for (int i = 0; i < s->npeers; i++)
			hit |= addr_match(f->addr, s->peers[i]);
		if (!hit)
			return 0;
	}
	if (f->errors && !s->nerrors)
		return 0;
	if (f->until_ns >= 0 && s->start_ns > t0 + (uint64_t)f->until_ns)
		return 0;
	if (f->since_ns >= 0 && s->end_ns && s->end_ns < t0 + (uint64_t)f->since_ns)
		return 0;
	return 1;
}

void st_color_setup(int disabled)
{
	const char *nc = getenv("NO_COLOR");
	st_use_color = !disabled && isatty(1) && !(nc && *nc);
}

const char *st_col(const char *code)
{
	static char buf[4][16];
	static int k;
	if (!st_use_color)
		return "";
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "\033[%sm", code);
	return buf[k];
}

void pager_start(void)
{
	if (!isatty(1))
		return;
	const char *pager = getenv("SOCKTRACE_PAGER");
	if (!pager)
		pager = getenv("PAGER");
	if (!pager)
		pager = "less";
	if (!*pager || !strcmp(pager, "cat"))
		return;
	int p[2];
	if (pipe(p) < 0)
		return;
	fflush(stdout);
	pager_pid = fork();
	if (pager_pid < 0) {
		close(p[0]);
		close(p[1]);
		pager_pid = 0;
		return;
	}
	if (pager_pid == 0) {
		dup2(p[0], 0);
		close(p[0]);
		close(p[1]);
		setenv("LESS", "FRX", 0);
		execlp("sh", "sh", "-c", pager, (char *)NULL);
		_exit(127);
	}
	dup2(p[1], 1);
	close(p[0]);
	close(p[1]);
	signal(SIGPIPE, SIG_IGN);  /* quitting the pager early is not an error */
}

void pager_end(void)
{
	fflush(stdout);
	if (!pager_pid)
		return;
	fclose(stdout);
	close(1);
	waitpid(pager_pid, NULL, 0);
	pager_pid = 0;
}

int cmd_flag(int code, const char *arg, void *ctx)
{
	(void)code;
	(void)arg;
	*(int *)ctx = 1;
	return 0;
}

int cmd_parse(int argc, char **argv, const struct cmd_opts *o, struct filter *f)
{
	static const struct option common[] = { FILTER_LONGOPTS, { "help", no_argument, NULL, 'h' } };
	size_t nown = 0, ncommon = sizeof(common) / sizeof(common[0]);
	const struct option *com = o->no_filters ? common + ncommon - 1 : common;
	if (o->no_filters)
		ncommon = 1;
	while (o->own && o->own[nown].name)
		nown++;
	struct option *all = st_xcalloc(nown + ncommon + 1, sizeof(*all));
	char shortopts[32];
	snprintf(shortopts, sizeof(shortopts), "%sh", o->shortopts);
	memcpy(all, o->own, nown * sizeof(*all));
	memcpy(all + nown, com, ncommon * sizeof(*all));
	int c, rc = -1, li = -1;
	filter_init(f);
	st_color_setup(0);
	optind = 1;
	char *prog = argv[0], full[64];     /* getopt's messages: "socktrace dump: ..." */
	snprintf(full, sizeof(full), "socktrace %s", o->name);
	argv[0] = full;
	while (rc < 0 && (li = -1, c = getopt_long(argc, argv, shortopts, all, &li)) != -1) {
		int k = o->no_filters ? 0 : filter_option(f, c, optarg);
		int h = k || c == 'h' || c == '?' || !o->handle ? 0 : o->handle(c, optarg, o->ctx);
		if (h == -2) {          /* (the command said what was wrong) */
			rc = 2;
		} else if (k < 0 || h < 0) {
			char name[40];
			if (li >= 0)
				snprintf(name, sizeof(name), "--%s", all[li].name);
			else
				snprintf(name, sizeof(name), "-%c", c);
			fprintf(stderr, "socktrace %s: %s: bad value '%s'%s\n", o->name, name, optarg ? optarg : "",
			        c == 1003 ? " (an address: IP, IP:PORT, [V6]:PORT, /unix/path or @abstract; names like "
			          "localhost are not resolved)"
			        : c == 1001 || c == 1002 ? " (a number)" : c == 1005 || c == 1006
			        ? " (seconds from the first record, like 1.5 or 200ms, or a time of day, like 14:03:07.250)" : "");
			rc = 2;
		} else if (c == 'h') {
			fputs(o->usage, stdout);
			rc = 0;
		} else if (c == '?') {
			fputs(o->usage, stderr);
			rc = 2;
		}
	}
	free(all);
	argv[0] = prog;
	return rc;
}
