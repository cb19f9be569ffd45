/* The reading commands' common ground (session.c). */
#ifndef ST_SESSION_H
#define ST_SESSION_H

#include <stdint.h>

#include "util.h"

struct st_file;
struct lc;

/* A reading command's inputs: the traces named on its command line and its filters. */
struct st_session {
	struct st_file **files;
	int n;                          /* traces opened */
	int bad;                        /* some path could not be read */
	struct filter flt;
	uint64_t t0;                    /* the first record's time (after st_session_lifetimes) */
};

/* Parse the command line (o: the command's own options; the filters unless o->no_filters),
 * then open the traces it names. -1: go on; otherwise the exit status to return now. */
int st_session_open(struct st_session *s, int argc, char **argv, const struct cmd_opts *o);

/* st_session_open, then the command's body with the session and o->ctx (its options): the
 * exit status, from the open when it ended there, else from run. */
int st_session_run(int argc, char **argv, const struct cmd_opts *o, int (*run)(struct st_session *ss, void *ctx));

/* st_session_run for a command whose only option of its own is the flag --FLAG (-F, its
 * first letter), or none (flag NULL): run's ctx is an int, 1 when the flag was given. */
int st_session_run_flag(int argc, char **argv, const char *name, const char *flag, const char *usage,
                        int no_filters, int (*run)(struct st_session *ss, void *ctx));

/* Read every record once: each process's record count, and which processes an exec replaced
 * (an image that never made a socket call says so only through the exec it did not return
 * from). */
void st_session_scan(struct st_session *s);

/* The socket lifetimes of the whole session into lc; sets t0 and resolves the filters'
 * times against it. */
void st_session_lifetimes(struct st_session *s, struct lc *lc);

/* Say what could not be shown (report: 1), close, and return the exit status. */
int st_session_end(struct st_session *s, int report);

/* Open every trace named (or found in named directories; none: ./socktrace.data); prints one
 * line per path that could not be opened. Returns the number opened; *bad is set when any
 * path failed. */
int st_open_traces(int argc, char **argv, struct st_file ***files, int *bad);
void st_close_traces(struct st_file **files, int n);

/* What could not be shown (torn, damaged, overwritten records), said once per file. */
void st_report_damage(struct st_file **files, int n);

/* The exit status of a reading command: 2 nothing readable, 1 part unreadable, 0 all read. */
int st_read_status(struct st_file **files, int n, int bad);

/* Feed every record, merged, to the lifecycle builder; returns the first record's time. */
uint64_t st_build_lifetimes(struct st_file **files, int n, struct lc *lc);

#endif
