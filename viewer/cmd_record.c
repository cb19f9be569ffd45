/* socktrace record: run a command with libsocktrace.so preloaded and return its status. */
#include <errno.h>
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

static void usage(FILE *out)
{
	fputs("usage: socktrace record [-o DIR] [--size N] [--stack-depth N] [--payload N] -- CMD [ARGS...]\n"
	      "  Run CMD with every socket call recorded into one ring file per process in DIR\n"
	      "  (default ./socktrace.data). Exits with CMD's status (128+N if signal N killed it).\n"
	      "  -o, --output DIR     where ring files go (SOCKTRACE_DIR)\n"
	      "  --size N             ring size per process, e.g. 64M (SOCKTRACE_SIZE, default 16M)\n"
	      "  --stack-depth N      frames per call, 0 for none (SOCKTRACE_STACK_DEPTH, default 16)\n"
	      "  --payload N          bytes of data kept per send/recv (SOCKTRACE_PAYLOAD, default 0)\n"
	      "example: socktrace record -o /tmp/t -- curl -s http://127.0.0.1:8000/\n", out);
}

static int check_num(const char *opt, const char *v, int allow_suffix)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 10);
	(void)x;
	if (allow_suffix && strchr("kKmMgG", *end) && *end)
		end++;
	if (errno || end == v || *end || v[0] == '-') {
		fprintf(stderr, "socktrace record: %s '%s' is not a %s\n", opt, v,
		        allow_suffix ? "size (like 64M)" : "number");
		return -1;
	}
	return 0;
}

int command_record(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' }, { "size", required_argument, NULL, 's' },
		{ "stack-depth", required_argument, NULL, 'd' }, { "payload", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' }, { 0, 0, 0, 0 } };
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o': setenv("SOCKTRACE_DIR", optarg, 1); break;
		case 's':
			if (check_num("--size", optarg, 1))
				return 2;
			setenv("SOCKTRACE_SIZE", optarg, 1);
			break;
		case 'd':
			if (check_num("--stack-depth", optarg, 0))
				return 2;
			setenv("SOCKTRACE_STACK_DEPTH", optarg, 1);
			break;
		case 'p':
			if (check_num("--payload", optarg, 0))
				return 2;
			setenv("SOCKTRACE_PAYLOAD", optarg, 1);
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "socktrace record: no command given\n");
		usage(stderr);
		return 2;
	}
	char lib[PATH_MAX + 64];
	if (find_lib(lib, sizeof(lib)) != 0) {
		fprintf(stderr, "socktrace record: cannot find libsocktrace.so (looked beside this binary and in %s)\n",
		        ST_LIBDIR);
		return 2;
	}
	char *abs = realpath(lib, NULL);
	const char *old = getenv("LD_PRELOAD");
	size_t len = strlen(abs) + (old ? strlen(old) : 0) + 2;
	char *pre = malloc(len);
	snprintf(pre, len, "%s%s%s", abs, old && *old ? ":" : "", old ? old : "");
	setenv("LD_PRELOAD", pre, 1);
	free(pre);
	free(abs);
	const char *dir = getenv("SOCKTRACE_DIR");
	pid_t pid = fork();
	if (pid < 0) {
		perror("socktrace record: fork");
		return 2;
	}
	if (pid == 0) {
		execvp(argv[optind], argv + optind);
		fprintf(stderr, "socktrace record: %s: %s\n", argv[optind], strerror(errno));
		_exit(127);
	}
	signal(SIGINT, SIG_IGN);   /* the terminal's ^C goes to the command; we wait for it */
	signal(SIGQUIT, SIG_IGN);
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			perror("socktrace record: waitpid");
			return 2;
		}
	fprintf(stderr, "socktrace: trace in %s (see: socktrace dump %s)\n", dir ? dir : "socktrace.data",
	        dir ? dir : "socktrace.data");
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return WEXITSTATUS(st);
}
