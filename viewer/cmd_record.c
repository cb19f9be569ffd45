/* socktrace record: run a command with libsocktrace.so preloaded and return its status. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmds.h"
#include "reader.h"
#include "socktrace_inject.h"
#include "xalloc.h"
#include "socktrace_dir.h"
#include "socktrace_format.h"

#ifndef ST_LIBDIR
#define ST_LIBDIR "/usr/local/lib/socktrace"
#endif

/* libsocktrace.so beside this binary (build tree), else in the install prefix. */
static int find_lib(char *out, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = 0;
		char *slash = strrchr(self, '/');
		if (slash) {
			*slash = 0;
			snprintf(out, len, "%s/libsocktrace.so", self);
			if (access(out, R_OK) == 0)
				return 0;
			snprintf(out, len, "%s/../lib/socktrace/libsocktrace.so", self);
			if (access(out, R_OK) == 0)
				return 0;
		}
	}
	snprintf(out, len, "%s/libsocktrace.so", ST_LIBDIR);
	return access(out, R_OK);
}

static const char usage[] =
	"usage: socktrace record [-o DIR] [--size N] [--stack-depth N] [--payload N] [--inject RULE]...\n"
	"                        -- CMD [ARGS...]\n"
	"  Run CMD with every socket call of it and its children recorded into one trace in\n"
	"  DIR (default ./socktrace.data; a trace already there is kept as trace.ring.old,\n"
	"  or joined while a program traced into it still runs).\n"
	"  Exits with CMD's status (128+N if signal N killed it); INT, TERM, HUP, QUIT, USR1\n"
	"  and USR2 sent to record are passed on to CMD.\n"
	"  -o, --output DIR     the trace directory (SOCKTRACE_DIR)\n"
	"  --size N             size of the trace, 1M to 64G (SOCKTRACE_SIZE, default 64M)\n"
	"  --stack-depth N      frames per call, 0 to 64, 0 for none (SOCKTRACE_STACK_DEPTH, default 16)\n"
	"  --payload N          bytes of data kept per send/recv, 0 to 8192 (SOCKTRACE_PAYLOAD, default 0)\n"
	"  --inject RULE        break chosen calls on purpose (SOCKTRACE_INJECT; repeatable):\n"
	"                       CALLS:ACTION[:when=N[+[STEP]]][:fd=N][:peer=HOST[:PORT]]\n"
	"                       [:local=[HOST]:PORT][:after-bytes=N][:pid=P]; CALLS a call, a comma\n"
	"                       list or %send %recv %connect %accept %close; ACTION error=ERRNO,\n"
	"                       delay=DURATION, short=N, eof, reset or fin (README: Reproducing a bug)\n"
	"example: socktrace record -o /tmp/t -- curl -s http://127.0.0.1:8000/\n"
	"         socktrace record --inject '%send:error=EPIPE:when=2' -- python3 -m http.server\n";

/* A number with an optional k/M/G suffix within [lo, hi]; -1 after saying why. */
static int check_num(const char *opt, const char *v, int suffix, unsigned long long lo,
                     unsigned long long hi, const char *range)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 10);
	int shift = 0;
	if (suffix && *end && strchr("kKmMgG", *end)) {
		shift = strchr("kK", *end) ? 10 : strchr("mM", *end) ? 20 : 30;
		end++;
		if (*end == 'i')
			end++;
		if (*end == 'B')
			end++;
	}
	if (errno || end == v || *end || v[0] == '-' || (x << shift) >> shift != x ||
	    (x << shift) < lo || (x << shift) > hi) {
		fprintf(stderr, "socktrace record: %s '%s' is not %s\n", opt, v, range);
		return -1;
	}
	return 0;
}

/*
 * The trace directory, made absolute (each exec'd program resolves a relative one in its own
 * working directory), created, and checked usable before CMD starts. A trace already there
 * is kept as trace.ring.old. 0, or -1 after saying why.
 */
/* Is a process that writes this trace still running? (a trace we cannot read is not joined) */
static int trace_in_use(const char *path)
{
	char err[256];
	struct st_file *f = st_file_open(path, err, sizeof(err));
	if (!f)
		return 0;
	int live = 0;
	for (int i = 0; i < f->nprocs; i++)
		live |= f->procs[i]->running;
	st_file_close(f);
	return live;
}

static int prepare_dir(char *dir, size_t len)
{
	char abs[PATH_MAX];
	if (dir[0] != '/') {
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof(cwd))) {
			perror("socktrace record: getcwd");
			return -1;
		}
		if ((size_t)snprintf(abs, sizeof(abs), "%s/%s", cwd, dir) >= sizeof(abs) ||
		    (size_t)snprintf(dir, len, "%s", abs) >= len) {
			fprintf(stderr, "socktrace record: %s: path too long\n", dir);
			return -1;
		}
	}
	char why[512];
	if (st_trace_dir_check(dir, 1, why, sizeof(why)) < 0) {
		fprintf(stderr, "socktrace record: %s\n", why);
		return -1;
	}
	char path[PATH_MAX + 32], old[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/%s", dir, ST_TRACE_FILE);
	snprintf(old, sizeof(old), "%s/%s.old", dir, ST_TRACE_FILE);
	struct stat sb;
	if (lstat(path, &sb) == 0 && trace_in_use(path)) {
		/* a program traced there is still running: join its trace (one trace, both ends
		 * of a conversation), rather than cut it in two */
		fprintf(stderr, "socktrace: joining the trace still being written in %s\n", dir);
		return 0;
	}
	if (lstat(path, &sb) == 0) {
		if (rename(path, old) != 0) {
			fprintf(stderr, "socktrace record: cannot move the previous trace aside (%s): %s\n", path,
			        strerror(errno));
			return -1;
		}
		fprintf(stderr, "socktrace: previous trace kept as %s\n", old);
	}
	return 0;
}

static volatile pid_t child;

/* Pass on a signal sent to us by a process (kill, a script's `kill $!`, timeout); one from the
 * terminal reached CMD already (same process group), and a second copy would be one too many. */
static void forward(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (child > 0 && si->si_code != SI_KERNEL)
		kill(child, sig);
}

static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };

static int run(char **cmd, const char *dir)
{
	sigset_t block, old;
	sigemptyset(&block);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaddset(&block, forwarded[i]);
	sigprocmask(SIG_BLOCK, &block, &old);      /* nothing lost between fork and the handlers */
	pid_t pid = fork();
	if (pid < 0) {
		perror("socktrace record: fork");
		return -2;
	}
	if (pid == 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		execvp(cmd[0], cmd);
		fprintf(stderr, "socktrace record: %s: %s\n", cmd[0], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	child = pid;
	struct sigaction sa = { .sa_sigaction = forward, .sa_flags = SA_SIGINFO | SA_RESTART };
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaction(forwarded[i], &sa, NULL);
	sigprocmask(SIG_SETMASK, &old, NULL);
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			perror("socktrace record: waitpid");
			return -2;
		}
	(void)dir;
	return st;
}

/* A rule list that does not parse (or, from one --inject, is empty): said, 1. */
static int bad_rules(const char *text, const char *from, int one)
{
	struct st_rule rules[ST_INJ_MAX];
	char err[256];
	int n = st_inject_parse(text, rules, ST_INJ_MAX, err, sizeof(err));
	if (n < 0 || (one && n == 0)) {
		fprintf(stderr, "socktrace record: %s: %s\n", from, n < 0 ? err : "an empty rule");
		return 1;
	}
	return 0;
}

/* LD_PRELOAD with our library first, the user's after it. */
static void preload_first(const char *lib)
{
	char *abs = realpath(lib, NULL);
	const char *use = abs ? abs : lib, *oldpre = getenv("LD_PRELOAD");
	size_t len = strlen(use) + (oldpre ? strlen(oldpre) : 0) + 2;
	char *pre = st_xmalloc(len);
	snprintf(pre, len, "%s%s%s", use, oldpre && *oldpre ? ":" : "", oldpre ? oldpre : "");
	setenv("LD_PRELOAD", pre, 1);
	free(pre);
	free(abs);
}

/* One of record's options with a value: 1 (said why) if it is bad. */
static int record_opt(int c, const char *arg, char *dir, size_t dn, char *inject, size_t in)
{
	switch (c) {
	case 'o':
		if (!*arg) {
			fprintf(stderr, "socktrace record: -o needs a directory\n");
			return 1;
		}
		snprintf(dir, dn, "%s", arg);
		break;
	case 's':
		if (check_num("--size", arg, 1, 1ull << 20, 64ull << 30, "a size from 1M to 64G"))
			return 1;
		setenv("SOCKTRACE_SIZE", arg, 1);
		break;
	case 'd':
		if (check_num("--stack-depth", arg, 0, 0, ST_MAX_FRAMES, "a number from 0 to 64"))
			return 1;
		setenv("SOCKTRACE_STACK_DEPTH", arg, 1);
		break;
	case 'p':
		if (check_num("--payload", arg, 0, 0, 8192, "a byte count from 0 to 8192"))
			return 1;
		setenv("SOCKTRACE_PAYLOAD", arg, 1);
		break;
	case 'i': {
		if (bad_rules(arg, "--inject", 1))
			return 1;
		size_t l = strlen(inject);
		if (l + strlen(arg) + 2 >= in) {
			fprintf(stderr, "socktrace record: --inject: too many rules\n");
			return 1;
		}
		snprintf(inject + l, in - l, "%s%s", l ? ";" : "", arg);
		break;
	}
	}
	return 0;
}

int command_record(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' }, { "size", required_argument, NULL, 's' },
		{ "stack-depth", required_argument, NULL, 'd' }, { "payload", required_argument, NULL, 'p' },
		{ "inject", required_argument, NULL, 'i' }, { "help", no_argument, NULL, 'h' }, { 0, 0, 0, 0 } };
	char inject[4096] = "";
	char dir[PATH_MAX] = "socktrace.data";
	const char *env_dir = getenv("SOCKTRACE_DIR");
	if (env_dir && *env_dir)
		snprintf(dir, sizeof(dir), "%s", env_dir);
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o': case 's': case 'd': case 'p': case 'i':
			if (record_opt(c, optarg, dir, sizeof(dir), inject, sizeof(inject)))
				return 2;
			break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (inject[0]) {
		if (bad_rules(inject, "--inject", 0))
			return 2;
		setenv("SOCKTRACE_INJECT", inject, 1);
	} else if (getenv("SOCKTRACE_INJECT") && *getenv("SOCKTRACE_INJECT") &&
	           bad_rules(getenv("SOCKTRACE_INJECT"), "SOCKTRACE_INJECT", 0)) {
		return 2;
	}
	if (optind >= argc) {
		fprintf(stderr, "socktrace record: no command given\n");
		fputs(usage, stderr);
		return 2;
	}
	char lib[PATH_MAX + 64];
	if (find_lib(lib, sizeof(lib)) != 0) {
		fprintf(stderr, "socktrace record: cannot find libsocktrace.so (looked beside this binary and in %s)\n",
		        ST_LIBDIR);
		return 2;
	}
	if (prepare_dir(dir, sizeof(dir)) < 0)
		return 2;
	setenv("SOCKTRACE_DIR", dir, 1);
	preload_first(lib);
	int st = run(argv + optind, dir);
	if (st == -2)
		return 2;
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/%s", dir, ST_TRACE_FILE);
	if (access(path, F_OK) == 0)
		fprintf(stderr, "socktrace: trace in %s (see: socktrace dump %s)\n", dir, dir);
	else if (!(WIFEXITED(st) && WEXITSTATUS(st) >= 126))
		fprintf(stderr, "socktrace: no trace written in %s: %s made no socket call (or could not be "
		        "traced; it said why on stderr)\n", dir, argv[optind]);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return WEXITSTATUS(st);
}
