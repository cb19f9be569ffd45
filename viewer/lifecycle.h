/* Rebuilding socket lifetimes from the records of one or more processes (README "Lifecycle
 * rules"). Feed records in the order their effects happened (viewer/order.c gives them so:
 * by completion); each feed says which sockets the record touched and what it changed. */
#ifndef ST_LIFECYCLE_H
#define ST_LIFECYCLE_H

#include <stdint.h>

#include "reader.h"

/* How a lifetime ended. */
enum lc_end {
	END_NONE,           /* (while open) */
	END_CLOSED,         /* closed by the program */
	END_PEER_CLOSED,    /* the peer closed first (EOF read, or RDHUP/HUP reported), then we did */
	END_RESET,          /* ECONNRESET, or our abortive close (SO_LINGER {1,0}) */
	END_BROKEN_PIPE,    /* EPIPE */
	END_REFUSED,
	END_TIMED_OUT,
	END_OPEN_AT_EXIT,   /* the process that held it last exited (or exec'd an untraced program) */
	END_PROCESS_DIED,   /* the process that held it last was killed */
	END_UNKNOWN,        /* no process holds it, nothing said how it went */
	END_STILL_OPEN,     /* held by a process still running when the trace was read */
};

/* Who started the connection. */
enum lc_role { ROLE_NONE, ROLE_CLIENT, ROLE_SERVER, ROLE_LISTENER };

/* How the peer's FIN was first seen. */
enum lc_fin { FIN_NONE, FIN_READ0, FIN_RDHUP, FIN_HUP, FIN_STATE };

#define LC_MAX_ERR 8
#define LC_MAX_FDS 8
#define LC_MAX_PIDS 8

struct lc_sock {
	int id;
	int pid;                        /* the process it was born in */
	char comm[16];
	int fds[LC_MAX_FDS], nfds;      /* every fd number it had in its birth process */
	int pids[LC_MAX_PIDS], npids;   /* every process that held it */
	int holders[LC_MAX_PIDS], nholders;  /* the processes holding it at its end */
	int family, type;
	char local[128], peer[128];
	char peers[4][128];             /* UDP: the first distinct peers seen (sendto/recvfrom) */
	int npeers;
	int more_peers;                 /* datagrams to or from peers beyond those four */
	int origin;                     /* enum st_origin */
	int role;                       /* enum lc_role */
	uint64_t start_ns, end_ns, last_ns;
	uint64_t calls, bytes_out, bytes_in;
	struct { uint16_t call; int16_t err; } errors[LC_MAX_ERR];
	int nerrors, more_errors;
	int refs;                       /* fds (across processes) that refer to it */
	int peer_fin;                   /* enum lc_fin */
	uint64_t peer_fin_ns;
	int we_fin, linger0, reset, epipe, refused, timed_out, connecting;
	int end;                        /* enum lc_end, END_NONE while open */
	int pair_id;                    /* socketpair: the other end, else -1 */
	int listening;
	int stdio;                      /* held as fd 0, 1 or 2: bytes moved through stdio (FILE *)
	                                 * are not seen, its byte counts may be short */
	int handed_off;                 /* crossed an exec */
	uint64_t inode;                 /* inherited/unseen: the socket's inode (0 unknown) */
	int64_t unread;                 /* bytes unread in its receive queue at its last sockstate
	                                 * (just before its close), -1 when none was taken */
	int64_t kern_in;                /* data its kernel received in all (tcp_info's
	                                 * bytes_received at its last sockstate, a FIN counting
	                                 * one), -1 when not taken */
	int64_t wire_out;               /* data bytes its kernel put on the wire in all, known once
	                                 * a reset emptied its send queue (a sockstate in state
	                                 * CLOSE with the kernel's byte counts), else -1 */
};

struct lc;

/* What the last lc_feed changed, per socket. */
enum lc_event { EV_CONNECTED = 1, EV_CONNECTING = 2, EV_ACCEPTED = 4, EV_PEER_FIN = 8,
                EV_HALF_CLOSED = 16, EV_RESET = 32, EV_EPIPE = 64, EV_REFUSED = 128,
                EV_CLOSED = 256, EV_ABORTIVE = 512, EV_TIMED_OUT = 1024, EV_LISTENING = 2048,
                EV_HANGUP = 4096, EV_SOCK_ERROR = 8192, EV_READY = 16384, EV_EXIT_CLOSED = 32768 };

/* A socket the last record touched: the one it is about, the listener of an accept, the other
 * end of a socketpair, the socket dup2 closed, each socket a poll/epoll_wait reported. */
struct lc_touch {
	struct lc_sock *s;
	int ev;                         /* enum lc_event bits */
	uint32_t revents;               /* readiness: what the wait reported for it (poll bits) */
};

struct lc *lc_new(void);
/* Feed one record; returns the socket it is about (NULL if none). */
struct lc_sock *lc_feed(struct lc *lc, const struct st_record *r);
/* Every socket the last feed touched, the one returned first. */
int lc_touches(const struct lc *lc, const struct lc_touch **t);
/* After the last record: decide how still-open sockets ended and who held them. */
void lc_finish(struct lc *lc);
int lc_events(const struct lc *lc);              /* the last feed's events, all sockets */
struct lc_sock *lc_also(const struct lc *lc);     /* the second socket touched, or NULL */
int lc_count(const struct lc *lc);
struct lc_sock *lc_get(struct lc *lc, int i);
void lc_free(struct lc *lc);

const char *lc_end_name(int end);
const char *lc_role_name(int role);

/* The error is routine (EAGAIN, EINPROGRESS, EINTR, epoll_ctl's EEXIST...): handled by every
 * program that meets it, not one to list or diagnose. */
int lc_routine_error(int call, int err);

#endif
