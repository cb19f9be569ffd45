/* What every listing subcommand shares: filters, colour, the pager, time arguments. */
#ifndef ST_UTIL_H
#define ST_UTIL_H

#include <stdint.h>
#include <getopt.h>
#include <stdio.h>

#include "lifecycle.h"

struct filter {
	int fd;                         /* -1: any */
	int pid;                        /* -1: any */
	char addr[128];                 /* "" any; HOST or HOST:PORT, either end */
	int errors;                     /* only lifetimes with a failed call */
	int64_t since_ns, until_ns;     /* relative to the first record; -1: open */
	double since_clock, until_clock;/* absolute HH:MM[:SS.frac] local time (seconds of the
	                                   day), -1 unless given; resolved by filter_resolve */
};

struct st_file;
/* Turn absolute --since/--until times into offsets from t0 using the ring's clock pair. */
void filter_resolve(struct filter *f, const struct st_file *file, uint64_t t0);

void filter_init(struct filter *f);
/* Handle one filter option (getopt code + optarg); 1 if it was one, -1 on a bad value. */
int filter_option(struct filter *f, int code, const char *arg);
int filter_match(const struct filter *f, const struct lc_sock *s, uint64_t t0);
#define FILTER_LONGOPTS \
	{ "fd", required_argument, NULL, 1001 }, { "pid", required_argument, NULL, 1002 }, \
	{ "addr", required_argument, NULL, 1003 }, { "errors", no_argument, NULL, 1004 }, \
	{ "since", required_argument, NULL, 1005 }, { "until", required_argument, NULL, 1006 }, \
	{ "no-color", no_argument, NULL, 1007 }
#define FILTER_HELP \
	"  --fd N          sockets that had fd N\n" \
	"  --pid P         sockets held by process P\n" \
	"  --addr H[:P]    sockets with this address (an IP, not a name) at either end\n" \
	"  --errors        only sockets with a failed call\n" \
	"  --since T, --until T   only what overlaps this window; T in seconds from the first\n" \
	"                  record (1.5, 1500ms, 2s) or a local wall-clock time (14:03:07.250)\n" \
	"  --no-color      no colour (also when NO_COLOR is set or output is not a terminal)\n"

/* A listing subcommand's command line: its own options plus the filters and --help. */
struct cmd_opts {
	const char *name;               /* "sockets", for messages */
	const char *shortopts;          /* its own short options ("j", "s", "f:o:") */
	const struct option *own;       /* its own long options, { 0 }-terminated */
	const char *usage;              /* its --help text */
	/* one of its own options: 0, -1 for a bad value, -2 for one it has said is bad */
	int (*handle)(int code, const char *arg, void *ctx);
	void *ctx;
	int no_filters;                 /* 1: the filter options are not this command's */
};

/* cmd_opts.handle for a command whose only own option is a flag: sets *(int *)ctx. */
int cmd_flag(int code, const char *arg, void *ctx);

/* Parse argv (colour set up, filters into *f). Returns -1 to go on, with optind at the
 * first PATH; otherwise the exit status to return (0 after --help, 2 on bad usage). */
int cmd_parse(int argc, char **argv, const struct cmd_opts *o, struct filter *f);

/* Colour: on only for a terminal, never with NO_COLOR or --no-color. */
extern int st_use_color;
void st_color_setup(int disabled);
const char *st_col(const char *code);  /* "" when colour is off */
#define C_RED "31"
#define C_GREEN "32"
#define C_YELLOW "33"
#define C_DIM "2"
#define C_BOLD "1"
#define C_RESET "0"

/* Page long output through $PAGER (less -FRX) when stdout is a terminal. */
void pager_start(void);
void pager_end(void);

int parse_duration_ns(const char *s, int64_t *out);

/* Seconds from t0 to t, negative when t is earlier (a late completion whose entry is older
 * than the first record kept). */
static inline double st_rel_s(uint64_t t, uint64_t t0)
{
	return (double)(int64_t)(t - t0) / 1e9;
}

#endif
