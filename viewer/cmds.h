/* One entry point per subcommand, dispatched from main.c. */
#ifndef ST_CMDS_H
#define ST_CMDS_H

#include <stdint.h>

struct st_file;
struct lc;
struct lc_sock;

int command_record(int argc, char **argv);
int command_dump(int argc, char **argv);
int command_info(int argc, char **argv);
int command_sockets(int argc, char **argv);
int command_timeline(int argc, char **argv);
int command_processes(int argc, char **argv);
int command_diagnose(int argc, char **argv);
int command_export(int argc, char **argv);
int command_tail(int argc, char **argv);

struct st_record;
struct symb;
#include <stdio.h>
/* One record as a dump --json line; socket_id -1 leaves it out, symb NULL the stack. */
void record_json(FILE *out, const struct st_record *r, int socket_id, struct symb *sy);

/* Shared by the lifecycle views (cmd_sockets.c). */
uint64_t build_lifetimes(struct st_file **files, int n, struct lc *lc);
const char *sock_peer(const struct lc_sock *s);

/* Open every ring named (or found in named directories); prints one line per bad file.
 * Returns the number opened; *bad is set when any path failed. */
int open_rings(int argc, char **argv, struct st_file ***files, int *bad);
void close_rings(struct st_file **files, int n);
void report_damage(struct st_file **files, int n);
int st_read_status(struct st_file **files, int n, int bad);

#endif
