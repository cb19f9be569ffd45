/* socktrace diagnose: find broken pipes, resets, refusals, hangs and leaks, and tell each
 * as a short causal chain with the code location of every step. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <uthash.h>

#include "cmds.h"
#include "render.h"
#include "session.h"
#include "xalloc.h"
#include "decode.h"
#include "emit.h"
#include "lifecycle.h"
#include "order.h"
#include "symbolize.h"
#include "util.h"

#define NFR 4
#define EAGAIN_LOOP 100             /* EAGAINs in a row, no poll between: a busy loop */
#define EOF_LOOP 10                 /* reads after EOF, each returning 0 at once: a loop */
#define HANG_NS 1000000000ull       /* blocked this long in a read, write or connect: a hang */
#define LEAK_NS 1000000000ull       /* a process that ran on this long after the peer closed */

struct step {
	int valid;
	uint64_t ts;
	const struct st_pinfo *f;
	uint32_t tid;
	int fd, call, err, complete;
	int out;                        /* a write (or one that was going to be) */
	int64_t ret;
	uint64_t a1;                    /* flags of send-like calls */
	uint64_t frames[NFR];
	int nframes;
	char note[160];
};

struct sdiag {                      /* what diagnose remembers per socket lifetime */
	struct step last_in;            /* last successful read */
	struct step fin;                /* first read that returned 0 */
	int reads_after_eof;
	struct step after_eof_read;
	struct step shut_wr;
	struct step first_out_after_fin, first_out;
	int outs_after_fin;
	struct step epipe, reset, death, close;
	struct step conn_err[1];
	int conn_errs;
	int sigpipe_at_epipe;           /* disposition: 0 default, 1 ignored, 2 handler */
	uint64_t bytes_in_at_close, bytes_out_at_close;
	int eagain_run, eagain_max;
	uint64_t eagain_waits;          /* the thread's wait count at the run's start */
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


/* any call that writes to or reads from the socket, the mmsg and splice ones included (a
 * record that has not returned yet: by what it was going to do) */
static int is_out(const struct st_record *r)
{
	int cls = st_call_class(r->call);
	return cls == ST_CL_SEND || cls == ST_CL_SENDMANY || (cls == ST_CL_SPLICE && ((r->a[2] >> 32) & 1));
}

static int is_in(const struct st_record *r)
{
	int cls = st_call_class(r->call);
	return cls == ST_CL_RECV || cls == ST_CL_RECVMANY || (cls == ST_CL_SPLICE && !((r->a[2] >> 32) & 1));
}

/* A call that never returned is a hang worth telling when it waited on one connection's
 * data (a read, a write, a connect); a server idle in accept, poll or epoll_wait is not. */
static int hang_kind(const struct st_record *r)
{
	int cls = st_call_class(r->call);
	return cls == ST_CL_RECV || cls == ST_CL_RECVMANY || cls == ST_CL_CONNECT ||
	       (cls == ST_CL_SPLICE && !is_out(r));
}

static void set_step(struct step *s, const struct st_record *r, const char *note)
{
	memset(s, 0, sizeof(*s));
	s->valid = 1;
	s->ts = r->ts_enter;
	s->f = r->proc;
	s->tid = r->tid;
	s->fd = r->fd;
	s->call = r->call;
	s->err = r->err;
	s->ret = r->ret;
	s->complete = r->complete;
	s->a1 = r->a[1];
	s->out = is_out(r);
	struct st_tlv_view t;
	if (st_tlv_find(r, ST_T_FRAMES, &t))
		for (unsigned i = 0; i + 8 <= t.len && s->nframes < NFR; i += 8)
			memcpy(&s->frames[s->nframes++], t.p + i, 8);
	if (note)
		snprintf(s->note, sizeof(s->note), "%s", note);
}

static int is_wait(int c)
{
	return c == ST_C_POLL || c == ST_C_PPOLL || c == ST_C_SELECT || c == ST_C_PSELECT ||
	       c == ST_C_EPOLL_WAIT || c == ST_C_EPOLL_PWAIT;
}

/* ---- findings ---- */

enum kind { K_SIGPIPE_DEATH, K_BROKEN_PIPE, K_WRITE_AFTER_SHUTDOWN, K_RESET, K_CONNECT_FAILED,
            K_NEVER_RETURNED, K_EAGAIN_LOOP, K_READ_AFTER_EOF, K_LEAK };
static const char *const kind_names[] = { "sigpipe_death", "broken_pipe", "write_after_shutdown",
                                          "connection_reset", "connect_failed", "never_returned",
                                          "eagain_busy_loop", "read_after_eof", "never_closed" };

struct finding {
	int kind;
	struct lc_sock *s;
	struct step steps[8];
	int nsteps;
	char why[512], fix[512];
	uint64_t ts;
};

static struct finding *F;
static int nF, capF;

static struct finding *add_finding(int kind, struct lc_sock *s, uint64_t ts)
{
	if (nF == capF) {
		capF = capF ? capF * 2 : 32;
		F = st_xrealloc(F, (size_t)capF * sizeof(*F));
	}
	struct finding *f = &F[nF++];
	memset(f, 0, sizeof(*f));
	f->kind = kind;
	f->s = s;
	f->ts = ts;
	return f;
}

static void add_step(struct finding *f, const struct step *s, const char *note)
{
	if (!s->valid || f->nsteps >= 8)
		return;
	f->steps[f->nsteps] = *s;
	if (note)
		snprintf(f->steps[f->nsteps].note, sizeof(f->steps[0].note), "%s", note);
	f->nsteps++;
}

static int by_time(const void *a, const void *b)
{
	const struct step *x = a, *y = b;
	return x->ts < y->ts ? -1 : x->ts > y->ts;
}

static int by_severity(const void *a, const void *b)
{
	const struct finding *x = a, *y = b;
	if (x->kind != y->kind)
		return x->kind - y->kind;
	return x->ts < y->ts ? -1 : x->ts > y->ts;
}

/* the socket at the other end of a TCP connection, when both ends are in the trace */
static struct lc_sock *peer_of(struct lc *lc, const struct lc_sock *s)
{
	if (s->pair_id > 0)
		return lc_get(lc, s->pair_id - 1);
	if (!s->local[0] || !s->peer[0] || s->type != SOCK_STREAM)
		return NULL;
	for (int i = 0; i < lc_count(lc); i++) {
		struct lc_sock *o = lc_get(lc, i);
		if (o != s && st_addr_eq(o->local, s->peer) && st_addr_eq(o->peer, s->local))
			return o;
	}
	return NULL;
}

static const char *dispo(int d)
{
	return d == 0 ? "default (terminate)" : d == 1 ? "ignored" : "a handler";
}

static void secs(char *buf, size_t n, uint64_t a, uint64_t b)
{
	snprintf(buf, n, "%.3f s", b > a ? (double)(b - a) / 1e9 : 0.0);
}

static void explain(struct lc *lc, struct lc_sock *s, struct sdiag *d, struct sdiag *all)
{
	struct lc_sock *ps = peer_of(lc, s);
	struct sdiag *pd = ps ? &all[ps->id - 1] : NULL;
	char t1[32], t2[32];

	/* broken pipe, or death by SIGPIPE in a write */
	struct step *fail = d->epipe.valid ? &d->epipe
	                    : d->death.valid && d->death.out ? &d->death : NULL;
	if (fail) {
		int died = fail == &d->death;
		int shut = d->shut_wr.valid && d->shut_wr.ts < fail->ts && !d->fin.valid;
		struct finding *f = add_finding(died ? K_SIGPIPE_DEATH : shut ? K_WRITE_AFTER_SHUTDOWN
		                                : K_BROKEN_PIPE, s, fail->ts);
		if (shut) {
			add_step(f, &d->shut_wr, "we shut down our sending side (FIN)");
			add_step(f, fail, "wrote after our own shutdown: EPIPE");
			snprintf(f->why, sizeof(f->why), "this program called shutdown(SHUT_WR) on fd %d and wrote to it afterwards",
			         fail->fd);
			snprintf(f->fix, sizeof(f->fix), "do not write after shutdown(SHUT_WR); shut down only when all data is sent");
			return;
		}
		add_step(f, &d->last_in, "last data we received (the request)");
		uint64_t peer_gone = 0;
		if (pd && pd->close.valid) {
			add_step(f, &pd->close, "the peer closed its end (peer traced)");
			peer_gone = pd->close.ts;
		}
		if (d->fin.valid) {
			add_step(f, &d->fin, "read returned 0: the peer sent FIN");
			if (!peer_gone)
				peer_gone = d->fin.ts;
		}
		if (d->first_out_after_fin.valid && d->first_out_after_fin.ts < fail->ts)
			add_step(f, &d->first_out_after_fin, "still \"succeeded\": the peer's kernel answered with RST");
		else if (d->first_out.valid && d->first_out.ts < fail->ts && peer_gone && d->first_out.ts > peer_gone)
			add_step(f, &d->first_out, "still \"succeeded\": the peer's kernel answered with RST");
		int nosig = (fail->a1 & MSG_NOSIGNAL) != 0;
		char note[160];
		if (died)
			snprintf(note, sizeof(note), "killed by SIGPIPE in this call (SIGPIPE disposition: %s)",
			         dispo(d->sigpipe_at_epipe));
		else
			snprintf(note, sizeof(note), "EPIPE%s (SIGPIPE %s)", nosig ? " with MSG_NOSIGNAL" : "",
			         nosig ? "suppressed" : dispo(d->sigpipe_at_epipe));
		add_step(f, fail, note);
		qsort(f->steps, (size_t)f->nsteps, sizeof(f->steps[0]), by_time);
		if (peer_gone && d->last_in.valid && peer_gone > d->last_in.ts) {
			secs(t1, sizeof(t1), d->last_in.ts, peer_gone);
			secs(t2, sizeof(t2), peer_gone, fail->ts);
			snprintf(f->why, sizeof(f->why),
			         "the peer (%s) closed %s after its request, before our reply; our reply came %s later%s",
			         s->peer[0] ? s->peer : "?", t1, t2,
			         died ? ", and the default SIGPIPE action killed the process in that write" : "");
		} else if (peer_gone) {
			secs(t2, sizeof(t2), peer_gone, fail->ts);
			snprintf(f->why, sizeof(f->why), "the peer (%s) closed the connection %s before this write%s",
			         s->peer[0] ? s->peer : "?", t2, died ? "; the default SIGPIPE action killed the process" : "");
		} else {
			snprintf(f->why, sizeof(f->why),
			         "the peer (%s, not traced) closed or reset the connection before this write%s; "
			         "the first write after a peer's close usually succeeds and provokes the RST that fails the next",
			         s->peer[0] ? s->peer : "?", died ? ", and SIGPIPE killed the process" : "");
		}
		if (died)
			snprintf(f->fix, sizeof(f->fix),
			         "ignore SIGPIPE (signal(SIGPIPE, SIG_IGN)) or send with MSG_NOSIGNAL, and handle EPIPE as "
			         "\"the client went away\"; then check the peer's timeout against how long the reply takes");
		else
			snprintf(f->fix, sizeof(f->fix),
			         "handle EPIPE as \"the peer went away\" (stop writing, close); if it happens often, compare the "
			         "peer's timeout with how long the reply takes");
		return;
	}
	if (d->reset.valid) {
		struct finding *f = add_finding(K_RESET, s, d->reset.ts);
		add_step(f, &d->first_out, NULL);
		if (pd && pd->close.valid) {
			uint64_t unread = s->bytes_out > pd->bytes_in_at_close ? s->bytes_out - pd->bytes_in_at_close : 0;
			add_step(f, &pd->close, ps->linger0 ? "the peer closed with SO_LINGER {1,0}: abortive close (RST)"
			                                    : "the peer closed (peer traced)");
			if (ps->linger0)
				snprintf(f->why, sizeof(f->why), "the peer (%s) closed abortively with SO_LINGER {1,0}, which sends RST",
				         s->peer);
			else if (unread)
				snprintf(f->why, sizeof(f->why),
				         "the peer (%s) closed while %llu byte(s) we sent were still unread in its receive buffer: "
				         "the kernel answers that with RST", s->peer, (unsigned long long)unread);
			else
				snprintf(f->why, sizeof(f->why), "the peer (%s) closed; our later traffic was answered with RST", s->peer);
		} else {
			snprintf(f->why, sizeof(f->why),
			         "the peer (%s, not traced) reset the connection: usually it closed with data still unread "
			         "in its receive buffer, closed with SO_LINGER 0, or crashed", s->peer[0] ? s->peer : "?");
		}
		add_step(f, &d->reset, "ECONNRESET");
		qsort(f->steps, (size_t)f->nsteps, sizeof(f->steps[0]), by_time);
		snprintf(f->fix, sizeof(f->fix),
		         "treat ECONNRESET as the peer going away; on the peer side, read what the other end sends (or "
		         "shutdown(SHUT_WR) and drain) before close()");
		return;
	}
	if (d->conn_errs) {
		struct finding *f = add_finding(K_CONNECT_FAILED, s, d->conn_err[0].ts);
		add_step(f, &d->conn_err[0], NULL);
		const char *e = st_errno_name(d->conn_err[0].err);
		snprintf(f->why, sizeof(f->why), "connect to %s failed: %s (%s)", s->peer[0] ? s->peer : "?", e,
		         d->conn_err[0].err == ECONNREFUSED ? "nothing listens there"
		         : d->conn_err[0].err == ETIMEDOUT ? "no answer: filtered, or the host is down"
		         : "no route to the host or network");
		snprintf(f->fix, sizeof(f->fix), "check that the server runs and listens on %s, and the address the "
		         "program was configured with", s->peer[0] ? s->peer : "that address");
	}
}

/*
 * A leak, as a developer means it: the peer closed (we read its FIN, poll/epoll reported it,
 * or the connection failed) and this side never closed its socket, while the process that
 * held it went on: it made another socket afterwards, or ran a second more. The socket sat in
 * CLOSE_WAIT holding an fd. Sockets a process simply held when it exited or was stopped are
 * not leaks.
 */
static void leak(struct lc *lc, struct lc_sock *s, struct pstate *ps)
{
	if (s->listening || (s->end != END_OPEN_AT_EXIT && s->end != END_PROCESS_DIED &&
	                     s->end != END_STILL_OPEN && s->end != END_PEER_CLOSED))
		return;
	if (!s->nholders || !(s->peer_fin || s->reset || s->epipe))
		return;
	uint64_t gone = s->peer_fin ? s->peer_fin_ns : s->last_ns;
	for (int h = 0; h < s->nholders; h++) {
		int pid = s->holders[h];
		struct pstate *p;
		HASH_FIND_INT(ps, &pid, p);
		if (!p)
			continue;
		uint64_t until = p->image && p->image->t_end ? p->image->t_end : p->last_ts;
		int later = 0;
		for (int i = 0; i < lc_count(lc); i++) {
			const struct lc_sock *o = lc_get(lc, i);
			later += o != s && o->pid == pid && o->start_ns > gone && o->origin != ST_OR_WRAPPED;
		}
		if (!later && until < gone + LEAK_NS)
			continue;
		struct finding *f = add_finding(K_LEAK, s, gone);
		char went[64];
		if (later)
			snprintf(went, sizeof(went), "made %d more socket(s)", later);
		else
			snprintf(went, sizeof(went), "ran %.1f s more", (double)(until - gone) / 1e9);
		snprintf(f->why, sizeof(f->why), "the peer (%s) closed fd %d %s, and %s[%d] never closed it: it went on "
		         "and %s, the socket left in CLOSE_WAIT holding the fd", st_sock_peer(s),
		         s->nfds ? s->fds[s->nfds - 1] : -1,
		         s->peer_fin == FIN_READ0 ? "(our read returned 0)" : s->peer_fin ? "(poll/epoll reported it)"
		         : "(the connection failed)", p->image ? p->image->comm : "?", pid, went);
		snprintf(f->fix, sizeof(f->fix), "close the socket when a read returns 0 or an error ends the connection "
		         "(check every error path of the connection's handler)");
		return;
	}
}

static void usage(FILE *out)
{
	fputs("usage: socktrace diagnose [--json] [filters] [PATH...]\n"
	      "  Each problem found, worst first, as a causal chain (time, pid:tid, fd, call, result,\n"
	      "  where in the code), then why it happened and what to do: broken pipes and SIGPIPE\n"
	      "  deaths, writes after shutdown, resets, refused/timed-out connects, calls that never\n"
	      "  returned, EAGAIN busy loops, reads after EOF, sockets never closed.\n"
	      "  Exit status: 0 nothing found, 1 problems found, 2 bad usage or unreadable input.\n"
	      "  --json          one object per problem\n" FILTER_HELP
	      "example: socktrace diagnose socktrace.data\n", out);
}

static void frame_text(char *buf, size_t n, struct symb *sy, const struct step *s)
{
	buf[0] = 0;
	if (!s->nframes)
		return;
	const struct symres *r = symb_lookup(sy, s->f, s->frames[0]);
	if (r->func && r->file)
		snprintf(buf, n, "%s (%s:%d)", r->func, r->file, r->line);
	else if (r->func)
		snprintf(buf, n, "%s [%s]", r->func, r->module);
	else
		snprintf(buf, n, "%s+%#llx", r->module, (unsigned long long)r->mod_off);
}

int command_diagnose(int argc, char **argv)
{
	static const struct option own[] = { { "json", no_argument, NULL, 'j' }, { 0, 0, 0, 0 } };
	int json = 0;
	const struct cmd_opts o = { "diagnose", "j", own, usage, cmd_flag, &json, 0 };
	struct st_session ss;
	int rc = st_session_open(&ss, argc, argv, &o);
	if (rc >= 0)
		return rc;
	struct st_file **files = ss.files;
	int n = ss.n;
	if (n == 0) {
		st_session_end(&ss, 0);
		return 2;
	}
	/* one pass: the lifecycle machine, plus what each socket's story needs */
	struct lc *lc = lc_new();
	struct sdiag *D = NULL;
	int capD = 0;
	struct pstate *ps = NULL;
	struct st_order *m = st_order_new(files, n);
	const struct st_record *r;
	uint64_t t0 = UINT64_MAX, t_last = 0;
	struct step *hung = NULL;
	int nhung = 0;
	struct tstate *ts_tab = NULL;
	while ((r = st_order_next(m))) {
		if (r->ts_enter < t0)
			t0 = r->ts_enter;
		if (r->complete && r->ts_exit > t_last)
			t_last = r->ts_exit;
		if (r->ts_enter > t_last)
			t_last = r->ts_enter;
		int pid = r->proc->pid;
		/* per thread: how many waits it has made (an EAGAIN after a wait is not a spin) */
		struct tstate *th;
		uint64_t tkey = (uint64_t)(uint32_t)pid << 32 | r->tid;
		HASH_FIND(hh, ts_tab, &tkey, sizeof(tkey), th);
		if (!th) {
			th = st_xcalloc(1, sizeof(*th));
			th->key = tkey;
			HASH_ADD(hh, ts_tab, key, sizeof(th->key), th);
		}
		if (st_call_class(r->call) == ST_CL_WAIT)
			th->waits++;
		struct pstate *p;
		HASH_FIND_INT(ps, &pid, p);
		if (!p) {
			p = st_xcalloc(1, sizeof(*p));
			p->pid = pid;
			HASH_ADD_INT(ps, pid, p);
		}
		p->image = r->proc;
		if (r->ts_enter > p->last_ts)
			p->last_ts = r->ts_enter;
		if ((r->call == ST_C_SIGNAL || r->call == ST_C_SIGACTION) && r->a[0] == SIGPIPE &&
		    (!r->complete || r->ret == 0))
			p->sigpipe = r->a[1] == 0 ? 0 : r->a[1] == 1 ? 1 : 2;
		struct lc_sock *s = lc_feed(lc, r);
		for (; capD < lc_count(lc); capD++) {
			D = st_xrealloc(D, (size_t)(capD + 1) * sizeof(*D));
			memset(&D[capD], 0, sizeof(*D));
		}
		const struct lc_touch *tv;
		int nt = lc_touches(lc, &tv);
		for (int k = 0; k < nt; k++)    /* the peer's FIN as poll/epoll reported it */
			if ((tv[k].ev & EV_PEER_FIN) && st_call_class(r->call) == ST_CL_WAIT &&
			    !D[tv[k].s->id - 1].fin.valid) {
				set_step(&D[tv[k].s->id - 1].fin, r, NULL);
				D[tv[k].s->id - 1].fin.fd = -1;
			}
		if (!r->complete && hang_kind(r)) {
			hung = st_xrealloc(hung, (size_t)(nhung + 1) * sizeof(*hung));
			set_step(&hung[nhung], r, NULL);
			hung[nhung].ret = s ? s->id : 0;
			nhung++;
		}
		if (!s)
			continue;
		struct sdiag *d = &D[s->id - 1];
		int cl = r->call, ok = r->complete && r->ret >= 0;
		if (is_in(r) && ok && r->ret > 0)
			set_step(&d->last_in, r, NULL);
		if (st_call_class(cl) == ST_CL_RECV && ok && r->ret == 0 && r->a[0] > 0 && s->type == SOCK_STREAM) {
			if (!d->fin.valid)
				set_step(&d->fin, r, NULL);
			else if (d->reads_after_eof++ == 0)
				set_step(&d->after_eof_read, r, NULL);
		}
		if (is_out(r) && ok) {
			if (!d->first_out.valid || (d->fin.valid && d->first_out.ts < d->fin.ts))
				set_step(&d->first_out, r, NULL);
			if (d->fin.valid && d->outs_after_fin++ == 0)
				set_step(&d->first_out_after_fin, r, NULL);
		}
		if (cl == ST_C_SHUTDOWN && ok && (r->a[0] == SHUT_WR || r->a[0] == SHUT_RDWR) && !d->shut_wr.valid)
			set_step(&d->shut_wr, r, NULL);
		if (r->complete && r->ret < 0 && r->err == EPIPE && !d->epipe.valid) {
			set_step(&d->epipe, r, NULL);
			d->sigpipe_at_epipe = p->sigpipe;
		}
		if (!r->complete && is_out(r) && !d->death.valid) {
			set_step(&d->death, r, NULL);
			d->sigpipe_at_epipe = p->sigpipe;
		}
		if (r->complete && r->ret < 0 && r->err == ECONNRESET && !d->reset.valid)
			set_step(&d->reset, r, NULL);
		if (cl == ST_C_CONNECT && r->complete && r->ret < 0 &&
		    (r->err == ECONNREFUSED || r->err == ETIMEDOUT || r->err == EHOSTUNREACH || r->err == ENETUNREACH)) {
			if (!d->conn_errs)
				set_step(&d->conn_err[0], r, NULL);
			d->conn_errs++;
		}
		if (cl == ST_C_GETSOCKOPT && ok && r->a[1] == SO_ERROR) {
			struct st_tlv_view t;
			uint64_t v;
			if (st_tlv_find(r, ST_T_U64, &t) && t.len == 8 && (memcpy(&v, t.p, 8), v) &&
			    (v == ECONNREFUSED || v == ETIMEDOUT || v == EHOSTUNREACH || v == ENETUNREACH)) {
				if (!d->conn_errs) {
					set_step(&d->conn_err[0], r, NULL);
					d->conn_err[0].err = (int)v;
				}
				d->conn_errs++;
			}
		}
		if (cl == ST_C_CLOSE && r->complete && s->end != END_NONE) {
			set_step(&d->close, r, NULL);
			d->bytes_in_at_close = s->bytes_in;
			d->bytes_out_at_close = s->bytes_out;
		}
		if (r->complete && r->ret < 0 && r->err == EAGAIN) {
			if (d->eagain_run == 0 || d->eagain_tid != (int)r->tid || d->eagain_waits != th->waits) {
				d->eagain_run = 0;
				d->eagain_tid = (int)r->tid;
				d->eagain_waits = th->waits;
				set_step(&d->eagain_first, r, NULL);
			}
			d->eagain_run++;
			if (d->eagain_run > d->eagain_max) {
				d->eagain_max = d->eagain_run;
				set_step(&d->eagain_last, r, NULL);
			}
		} else if (r->tid == (uint32_t)d->eagain_tid && (is_wait(cl) || ok)) {
			d->eagain_run = 0;
		}
	}
	st_order_free(m);
	lc_finish(lc);
	if (t0 == UINT64_MAX)
		t0 = 0;
	filter_resolve(&ss.flt, files[0], t0);
	for (int i = 0; i < lc_count(lc) && i < capD; i++) {
		struct lc_sock *s = lc_get(lc, i);
		if (!filter_match(&ss.flt, s, t0))
			continue;
		struct sdiag *d = &D[i];
		explain(lc, s, d, D);
		if (d->eagain_max >= EAGAIN_LOOP) {
			struct finding *f = add_finding(K_EAGAIN_LOOP, s, d->eagain_first.ts);
			add_step(f, &d->eagain_first, "first EAGAIN of the run");
			add_step(f, &d->eagain_last, "last");
			snprintf(f->why, sizeof(f->why), "%d calls in a row failed with EAGAIN on this non-blocking socket "
			         "with no poll/select/epoll between them: the thread spins", d->eagain_max);
			snprintf(f->fix, sizeof(f->fix), "wait for readiness (poll/epoll) after EAGAIN instead of retrying at once");
		}
		if (d->reads_after_eof >= EOF_LOOP) {
			struct finding *f = add_finding(K_READ_AFTER_EOF, s, d->after_eof_read.ts);
			add_step(f, &d->fin, "read returned 0: end of stream");
			add_step(f, &d->after_eof_read, "read again after EOF");
			snprintf(f->why, sizeof(f->why), "%d read(s) after the peer's FIN, each returning 0 at once",
			         d->reads_after_eof);
			snprintf(f->fix, sizeof(f->fix), "treat a 0-byte read as end of stream: stop reading and close "
			         "(or stop polling the fd for input)");
		}
		leak(lc, s, ps);
	}
	for (int i = 0; i < nhung; i++) {
		struct lc_sock *s = hung[i].ret > 0 ? lc_get(lc, (int)hung[i].ret - 1) : NULL;
		if (s && !filter_match(&ss.flt, s, t0))
			continue;
		/* an exit ended it (other threads were blocked while one exited): no hang. Still
		 * running: told once it has waited a second. Killed: how long it waited before the
		 * kill is not known (at least until the trace's last record) */
		const struct st_pinfo *pi = hung[i].f;
		int running = pi->running, killed = !running && pi->state != ST_PS_EXITED && pi->state != ST_PS_EXECED;
		if (!running && !killed)
			continue;
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		uint64_t end = running ? (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec : t_last;
		if (running && end < hung[i].ts + HANG_NS)
			continue;
		double waited = end > hung[i].ts ? (double)(end - hung[i].ts) / 1e9 : 0.0;
		struct finding *f = add_finding(K_NEVER_RETURNED, s, hung[i].ts);
		hung[i].ret = 0;
		char note[160], how[64] = "";
		if (waited >= 0.001)
			snprintf(how, sizeof(how), " after %s%.1f s", running ? "" : "at least ", waited);
		snprintf(note, sizeof(note), "entered, never returned: %s%s", running ? "still waiting" : "killed", how);
		add_step(f, &hung[i], note);
		snprintf(f->why, sizeof(f->why), "thread %u of %s[%d] was blocked in %s on %s%s when %s",
		         hung[i].tid, pi->comm, pi->pid, st_call_name(hung[i].call),
		         s && s->peer[0] ? s->peer : "its socket", how,
		         running ? "the trace was read (it is still running)" : "the process was killed");
		snprintf(f->fix, sizeof(f->fix), "if it hung: put a timeout on it (SO_RCVTIMEO, poll with a timeout) "
		         "and check what the peer was doing at that time");
	}
	/* one connect_failed finding per address, however many sockets tried it */
	for (int i = 0; i < nF; i++) {
		if (F[i].kind != K_CONNECT_FAILED || !F[i].s)
			continue;
		int tries = 1;
		for (int k = i + 1; k < nF; k++)
			if (F[k].kind == K_CONNECT_FAILED && F[k].s && !strcmp(F[k].s->peer, F[i].s->peer)) {
				tries++;
				if (F[i].nsteps < 8)
					add_step(&F[i], &F[k].steps[0], "tried again");
				F[k--] = F[--nF];
			}
		if (tries > 1) {
			size_t l = strlen(F[i].why);
			snprintf(F[i].why + l, sizeof(F[i].why) - l, "; %d attempts in all", tries);
		}
	}
	if (nF)
		qsort(F, (size_t)nF, sizeof(*F), by_severity);

	struct symb *sy = symb_new();
	if (!json)
		pager_start();
	for (int i = 0; i < nF; i++) {
		struct finding *f = &F[i];
		struct lc_sock *s = f->s;
		if (json) {
			struct emit e;
			emit_init(&e, &emit_json, stdout);
			const struct emit_ops *eo = e.ops;
			eo->begin_obj(&e, NULL);
			eo->kv_str(&e, "kind", kind_names[f->kind]);
			if (s) {
				eo->kv_int(&e, "socket", s->id);
				eo->kv_int(&e, "pid", s->pid);
				eo->kv_str(&e, "local", s->local[0] ? s->local : NULL);
				eo->kv_str(&e, "peer", s->peer[0] ? s->peer : NULL);
			}
			eo->begin_list(&e, "steps");
			for (int k = 0; k < f->nsteps; k++) {
				struct step *st = &f->steps[k];
				char fr[300];
				frame_text(fr, sizeof(fr), sy, st);
				eo->begin_obj(&e, NULL);
				eo->kv_int(&e, "ts_ns", (int64_t)st->ts);
				eo->kv_int(&e, "pid", st->f->pid);
				eo->kv_int(&e, "tid", st->tid);
				eo->kv_int(&e, "fd", st->fd);
				eo->kv_str(&e, "call", st_call_name(st->call));
				if (st->complete)
					eo->kv_int(&e, "ret", st->ret);
				else
					eo->kv_str(&e, "ret", NULL);
				eo->kv_str(&e, "errno", st_errno_name(st->err));
				eo->kv_str(&e, "where", fr[0] ? fr : NULL);
				eo->kv_str(&e, "note", st->note[0] ? st->note : NULL);
				eo->end_obj(&e);
			}
			eo->end_list(&e);
			eo->kv_str(&e, "explanation", f->why);
			eo->kv_str(&e, "suggestion", f->fix);
			eo->end_obj(&e);
			putchar('\n');
			continue;
		}
		printf("%s%d. %s%s", st_col(C_BOLD), i + 1, kind_names[f->kind], st_col(C_RESET));
		if (s)
			printf(": %s[%d] fd %d  %s -> %s  (socket %d)", s->comm, s->pid,
			       s->nfds ? s->fds[s->nfds - 1] : -1, s->local[0] ? s->local : "-", st_sock_peer(s), s->id);
		putchar('\n');
		for (int k = 0; k < f->nsteps; k++) {
			struct step *st = &f->steps[k];
			char fr[300], res[96];
			frame_text(fr, sizeof(fr), sy, st);
			if (!st->complete)
				snprintf(res, sizeof(res), "? never returned");
			else if (st->ret < 0)
				snprintf(res, sizeof(res), "-1 %s", st_errno_name(st->err));
			else
				snprintf(res, sizeof(res), "%lld", (long long)st->ret);
			printf("   %+10.6f %6d:%-6u %s(fd=%d) = %s%s%s\n", st_rel_s(st->ts, t0),
			       st->f->pid, st->tid, st_call_name(st->call), st->fd,
			       !st->complete || st->ret < 0 ? st_col(C_RED) : "", res, st_col(C_RESET));
			if (fr[0] || st->note[0])
				printf("   %28s %s%s%s%s%s\n", "", st->note, st->note[0] && fr[0] ? "  " : "",
				       st_col(C_DIM), fr[0] ? fr : "", st_col(C_RESET));
		}
		printf("   why: %s\n   fix: %s\n\n", f->why, f->fix);
	}
	if (!json && nF == 0)
		printf("no problems found in %d process(es)\n", n);
	fflush(stdout);
	pager_end();
	symb_free(sy);
	int found = nF > 0;
	free(F);
	F = NULL;
	nF = capF = 0;
	free(D);
	free(hung);
	struct pstate *p, *pt;
	HASH_ITER(hh, ps, p, pt) {
		HASH_DEL(ps, p);
		free(p);
	}
	struct tstate *th, *tt;
	HASH_ITER(hh, ts_tab, th, tt) {
		HASH_DEL(ts_tab, th);
		free(th);
	}
	lc_free(lc);
	rc = st_session_end(&ss, 1);
	if (rc == 2)
		return 2;
	return found || rc ? 1 : 0;
}
