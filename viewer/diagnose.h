/* diagnose: facts gathered per socket as the records go by (diag_facts.c), detectors that
 * turn them into findings at the end (diag_*.c, one family each), one rendering for text and
 * JSON (cmd_diagnose.c). */
#ifndef ST_DIAGNOSE_H
#define ST_DIAGNOSE_H

#include <stdint.h>
#include <uthash.h>

#include "lifecycle.h"
#include "reader.h"

#define NFR 16                      /* frames kept per step: enough to get past the runtime */
#define EAGAIN_LOOP 100             /* EAGAINs in a row, no wait between: a busy loop */
#define EOF_LOOP 10                 /* reads after EOF, each returning 0 at once: a loop */
#define HANG_NS 1000000000ull       /* blocked this long in a read, write or connect: a hang */
#define LEAK_NS 1000000000ull       /* a process that ran on this long after the peer closed */
#define IDLE_NS 500000000ull        /* a connection quiet this long was idle */
#define PROXY_NS 200000000ull       /* a proxy closing its upstream this soon after its client went */
#define WAITED_NS 200000000ull      /* a client that closed this long after an unanswered request */

struct step {
	int valid;
	uint64_t ts;                    /* when it happened: the call's return (its entry if none) */
	uint64_t te;                    /* when it began: a peer's close acts from there on */
	const struct st_pinfo *f;
	uint32_t tid;
	int fd, call, err, complete;
	int out;                        /* a write (or one that was going to be) */
	int64_t ret;
	uint64_t a1;                    /* flags of send-like calls */
	uint64_t frames[NFR];
	int nframes;
	char note[200];
	char inject[48];                /* what SOCKTRACE_INJECT did to this call, "" if nothing */
};

/* The kernel's queues for a socket (a sockstate record). */
struct sockq {
	int valid;
	uint32_t unread, unsent;
	int state;                      /* tcpi_state, 0 when not TCP */
};

struct sdiag {                      /* what diagnose remembers per socket lifetime */
	struct step first_in, last_in;  /* reads that brought data */
	struct step first_out, last_out;
	struct step fin;                /* the peer's FIN as this side saw it: read 0, RDHUP, HUP */
	int reads_after_eof;
	struct step after_eof_read;
	struct step shut_wr;
	struct step out_after_fin;      /* first write that succeeded after the FIN was seen */
	struct step epipe, reset, death, close;
	struct step conn_err;
	int conn_errs;
	int sigpipe_at_fail;            /* disposition: 0 default, 1 ignored, 2 handler */
	uint64_t bytes_in_at_close, bytes_out_at_close;
	struct sockq q_pending, close_q, err_q;
	/* the conversation */
	uint64_t last_act;              /* last data either way (or the connection's start) */
	struct step request;            /* first write after the last read: awaiting an answer */
	int answered;                   /* data read since `request` */
	struct step idle_out;           /* a write after the connection sat idle */
	uint64_t idle_ns;
	struct step before_idle;        /* the last exchange before that idle */
	int peer_id;                    /* the other end's socket when it is traced: id, -1 none, 0 not looked */
	int indexed;                    /* its connection is in g->conns (both addresses known) */
	struct step out_after_peer_close;  /* first write that succeeded after the traced peer closed */
	/* loops */
	int eagain_run, eagain_max;
	uint64_t eagain_waits;
	struct step eagain_first, eagain_last;
	int eagain_tid;
};

struct pstate {
	int pid;
	int sigpipe;                    /* current disposition */
	const struct st_pinfo *image;   /* its last image */
	uint64_t last_ts;               /* its last record */
	UT_hash_handle hh;
};

struct tstate {                     /* per thread */
	uint64_t key;                   /* pid << 32 | tid */
	uint64_t waits;                 /* poll/select/epoll_wait calls made */
	UT_hash_handle hh;
};

/* What a finding is: the worst first. */
enum kind { K_SIGPIPE_DEATH, K_BROKEN_PIPE, K_CONNECTION_RESET, K_CLIENT_GAVE_UP, K_IDLE_TIMEOUT,
            K_UPSTREAM_CLOSED, K_RESET_UNREAD, K_ABORTIVE_CLOSE, K_RST_AFTER_HALF_CLOSE,
            K_WRITE_AFTER_SHUTDOWN, K_EOF_NO_REPLY, K_NO_REPLY_TIMEOUT, K_CONNECT_FAILED, K_NEVER_RETURNED,
            K_EAGAIN_LOOP, K_READ_AFTER_EOF, K_LEAK, K_COUNT };

#define MAX_STEPS 10

struct finding {
	int kind;
	int pattern;                    /* for a SIGPIPE death: what led to it (a kind), else -1 */
	struct lc_sock *s;
	struct step steps[MAX_STEPS];
	int nsteps;
	char why[768], fix[512];
	uint64_t ts;
	int died;                       /* the process died by SIGPIPE in the failing write */
	char injected[96];              /* "error=EPIPE on send": the finding was caused on purpose */
};

struct conn_ix {                    /* "local|peer" -> socket id, to find a connection's other end */
	char key[260];
	int id;
	UT_hash_handle hh;
};

struct diag {
	struct lc *lc;
	struct conn_ix *conns;
	struct sdiag *D;                /* by socket id - 1 */
	int capD;
	struct pstate *ps;
	struct tstate *ts;
	struct step *hung;              /* calls that never returned */
	int nhung;
	uint64_t t0, t_last;
	struct finding *F;
	int nF, capF;
};

const char *diag_kind_name(int kind);

/* diag_facts.c */
void diag_init(struct diag *g);
void diag_observe(struct diag *g, const struct st_record *r);
void diag_index(struct diag *g);
void diag_free(struct diag *g);
void set_step(struct step *s, const struct st_record *r, const char *note);
struct sdiag *diag_of(struct diag *g, const struct lc_sock *s);
struct pstate *diag_proc(struct diag *g, int pid);
int is_out(const struct st_record *r);

/* findings (cmd_diagnose.c) */
struct finding *add_finding(struct diag *g, int kind, struct lc_sock *s, uint64_t ts);
void add_step(struct finding *f, const struct step *s, const char *note);
void sort_steps(struct finding *f);
/* When a step acted on the wire (a send's entry, a read's return): the chain's order and times. */
uint64_t step_acted(const struct step *s);
void secs(char *buf, size_t n, uint64_t a, uint64_t b);
struct lc_sock *peer_of(struct diag *g, struct lc_sock *s);

/* the detectors: each looks at one socket (filters already applied) */
void detect_broken(struct diag *g, struct lc_sock *s);      /* diag_broken.c */
void detect_no_reply(struct diag *g, struct lc_sock *s);
void detect_reply_timeout(struct diag *g, struct lc_sock *s);
void detect_connect(struct diag *g, struct lc_sock *s);     /* diag_misc.c */
void detect_loops(struct diag *g, struct lc_sock *s);
void detect_leak(struct diag *g, struct lc_sock *s);
void detect_hangs(struct diag *g, int (*keep)(void *ctx, const struct lc_sock *s), void *ctx);
void merge_connect_failures(struct diag *g);

#endif
