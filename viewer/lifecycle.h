/* Rebuilding socket lifetimes from the time-ordered records of one or more processes. */
#ifndef ST_LIFECYCLE_H
#define ST_LIFECYCLE_H

#include <stdint.h>

#include "reader.h"

enum lc_end { END_NONE, END_CLOSED, END_PEER_CLOSED, END_RESET, END_BROKEN_PIPE, END_REFUSED,
              END_TIMED_OUT, END_OPEN_AT_EXIT, END_PROCESS_DIED, END_UNKNOWN };


#define LC_MAX_ERR 8
#define LC_MAX_FDS 8
#define LC_MAX_PIDS 8

struct lc_sock {
	int id;
	int pid;                        /* the process it was born in */
	char comm[16];
	int fds[LC_MAX_FDS], nfds;      /* every fd number it had in its birth process */
	int pids[LC_MAX_PIDS], npids;   /* every process that held it */
	int family, type;
	char local[128], peer[128];
	char peers[4][128];             /* UDP: distinct peers seen (sendto/recvfrom) */
	int npeers;
	int origin;                     /* enum st_origin */
	uint64_t start_ns, end_ns;
	uint64_t calls, bytes_out, bytes_in;
	struct { uint16_t call; int16_t err; } errors[LC_MAX_ERR];
	int nerrors, more_errors;
	int refs;                       /* fds (across processes) that refer to it */
	int peer_fin, we_fin, linger0, reset, epipe, refused, timed_out, connecting;
	int end;                        /* enum lc_end, END_NONE while open */
	int pair_id;                    /* socketpair: the other end, else -1 */
	int listening;
};

struct lc;

/* What the last lc_feed changed, for the timeline's state lines. */
enum lc_event { EV_CONNECTED = 1, EV_CONNECTING = 2, EV_ACCEPTED = 4, EV_PEER_FIN = 8,
                EV_HALF_CLOSED = 16, EV_RESET = 32, EV_EPIPE = 64, EV_REFUSED = 128,
                EV_CLOSED = 256, EV_ABORTIVE = 512, EV_TIMED_OUT = 1024, EV_LISTENING = 2048 };

struct lc *lc_new(void);
/* Feed one record; returns the socket it belongs to (NULL if none). */
struct lc_sock *lc_feed(struct lc *lc, const struct st_record *r);
/* After the last record: decide how still-open sockets ended. */
void lc_finish(struct lc *lc);
int lc_events(const struct lc *lc);              /* enum lc_event bits of the last feed */
struct lc_sock *lc_also(const struct lc *lc);     /* a second socket the last record concerns
                                                    (the listener of an accept, the other
                                                    end of a socketpair), or NULL */
int lc_count(const struct lc *lc);
struct lc_sock *lc_get(struct lc *lc, int i);
void lc_free(struct lc *lc);

const char *lc_end_name(int end);

#endif
