/* Renderings shared by several commands (render.c). */
#ifndef ST_RENDER_H
#define ST_RENDER_H

#include <stdio.h>

struct st_record;
struct symb;
struct lc_sock;

/* One record as the dump --json line; socket_id -1 leaves it out, symb NULL the stack. */
void st_record_json(FILE *out, const struct st_record *r, int socket_id, struct symb *sy);

/* The socket's peer as shown in listings: its address, a socketpair, or "-". */
const char *st_sock_peer(const struct lc_sock *s);

/* " (held by pid 12, 40)" for a socket that ended with its holders' exit, death or still
 * open; "" otherwise. Static buffer. */
const char *st_holders_text(const struct lc_sock *s);

#endif
