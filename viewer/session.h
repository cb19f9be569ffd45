/* The reading commands' common ground (session.c). */
#ifndef ST_SESSION_H
#define ST_SESSION_H

#include <stdint.h>

struct st_file;
struct lc;

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
