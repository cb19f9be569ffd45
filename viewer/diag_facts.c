/* diagnose: the facts each socket's story needs, gathered as the records go by (in the order
 * their effects happened). */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "decode.h"
#include "diagnose.h"
#include "xalloc.h"

/* any call that writes to or reads from the socket, the mmsg and splice ones included (a
 * record that has not returned yet: by what it was going to do) */
int is_out(const struct st_record *r)
{
	int cls = st_call_class(r->call);
	return cls == ST_CL_SEND || cls == ST_CL_SENDMANY || (cls == ST_CL_SPLICE && ((r->a[2] >> 32) & 1));
}

/* A call that never returned is a hang worth telling when it waited on one connection's
 * data (a read, a write, a connect); a server idle in accept, poll or epoll_wait is not. */
static int hang_kind(const struct st_record *r)
{
	int cls = st_call_class(r->call);
	return cls == ST_CL_RECV || cls == ST_CL_RECVMANY || cls == ST_CL_CONNECT ||
	       (cls == ST_CL_SPLICE && !is_out(r));
}

void set_step(struct step *s, const struct st_record *r, const char *note)
{
	memset(s, 0, sizeof(*s));
	s->valid = 1;
	s->ts = r->complete && r->ts_exit > r->ts_enter ? r->ts_exit : r->ts_enter;
	s->te = r->ts_enter;
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
	st_injected(r, s->inject, sizeof(s->inject));
}

void diag_init(struct diag *g)
{
	memset(g, 0, sizeof(*g));
	g->lc = lc_new();
	g->t0 = UINT64_MAX;
}

struct sdiag *diag_of(struct diag *g, const struct lc_sock *s)
{
	return s && s->id <= g->capD ? &g->D[s->id - 1] : NULL;
}

struct pstate *diag_proc(struct diag *g, int pid)
{
	struct pstate *p;
	HASH_FIND_INT(g->ps, &pid, p);
	return p;
}

static struct pstate *proc_state(struct diag *g, const struct st_record *r)
{
	int pid = r->proc->pid;
	struct pstate *p = diag_proc(g, pid);
	if (!p) {
		p = st_xcalloc(1, sizeof(*p));
		p->pid = pid;
		HASH_ADD_INT(g->ps, pid, p);
	}
	p->image = r->proc;
	if (r->ts_enter > p->last_ts)
		p->last_ts = r->ts_enter;
	if ((r->call == ST_C_SIGNAL || r->call == ST_C_SIGACTION) && r->a[0] == SIGPIPE &&
	    (!r->complete || r->ret == 0))
		p->sigpipe = r->a[1] == 0 ? 0 : r->a[1] == 1 ? 1 : 2;
	return p;
}

static struct tstate *thread_state(struct diag *g, const struct st_record *r)
{
	struct tstate *th;
	uint64_t key = (uint64_t)(uint32_t)r->proc->pid << 32 | r->tid;
	HASH_FIND(hh, g->ts, &key, sizeof(key), th);
	if (!th) {
		th = st_xcalloc(1, sizeof(*th));
		th->key = key;
		HASH_ADD(hh, g->ts, key, sizeof(th->key), th);
	}
	if (st_call_class(r->call) == ST_CL_WAIT)
		th->waits++;
	return th;
}

/* Data moving: who spoke, who answered, and a write after the connection sat idle. */
static void conversation(struct sdiag *d, const struct lc_sock *s, const struct st_record *r, int64_t n, int dir)
{
	uint64_t t = r->ts_exit > r->ts_enter ? r->ts_exit : r->ts_enter;
	if (!d->last_act)
		d->last_act = s->start_ns;
	if (dir > 0) {
		if (!d->request.valid || d->answered) {
			set_step(&d->request, r, NULL);
			d->answered = 0;
		}
		if (d->last_act && r->ts_enter > d->last_act + IDLE_NS && (d->first_in.valid || d->first_out.valid)) {
			set_step(&d->idle_out, r, NULL);
			d->idle_ns = r->ts_enter - d->last_act;
			d->before_idle = d->last_in.valid && (!d->last_out.valid || d->last_in.ts > d->last_out.ts)
			                 ? d->last_in : d->last_out;
		}
		if (!d->first_out.valid)
			set_step(&d->first_out, r, NULL);
		set_step(&d->last_out, r, NULL);
		if (d->fin.valid && !d->out_after_fin.valid)
			set_step(&d->out_after_fin, r, NULL);
	} else if (n > 0) {
		if (d->request.valid)
			d->answered = 1;
		if (!d->first_in.valid)
			set_step(&d->first_in, r, NULL);
		set_step(&d->last_in, r, NULL);
	}
	d->last_act = t;
}

static void eagain(struct sdiag *d, const struct st_record *r, const struct tstate *th, int ok)
{
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
	} else if (r->tid == (uint32_t)d->eagain_tid && (st_call_class(r->call) == ST_CL_WAIT || ok)) {
		d->eagain_run = 0;
	}
}

static void connect_error(struct sdiag *d, const struct st_record *r)
{
	int e = st_so_error(r);     /* a non-blocking connect's end, read with SO_ERROR */
	if (e < 0 && r->call != ST_C_CONNECT)
		return;
	if (e < 0)
		e = r->complete && r->ret < 0 ? r->err : 0;
	if (e != ECONNREFUSED && e != ETIMEDOUT && e != EHOSTUNREACH && e != ENETUNREACH)
		return;
	if (!d->conn_errs) {
		set_step(&d->conn_err, r, NULL);
		d->conn_err.err = e;
	}
	d->conn_errs++;
}

static void conn_register(struct diag *g, const struct lc_sock *s)
{
	if (!s->local[0] || !s->peer[0] || s->type != SOCK_STREAM || s->pair_id > 0)
		return;
	char a[160], b[160], key[260];
	snprintf(key, sizeof(key), "%s|%s", st_addr_plain(s->local, a, sizeof(a)), st_addr_plain(s->peer, b, sizeof(b)));
	struct conn_ix *c;
	HASH_FIND_STR(g->conns, key, c);
	if (!c) {
		c = st_xcalloc(1, sizeof(*c));
		snprintf(c->key, sizeof(c->key), "%s", key);
		c->id = s->id;
		HASH_ADD_STR(g->conns, key, c);
	}
}

/* After the last record: every connection's ends indexed, the undecided looked up again. */
void diag_index(struct diag *g)
{
	for (int i = 0; i < lc_count(g->lc); i++)
		conn_register(g, lc_get(g->lc, i));
	for (int i = 0; i < g->capD; i++)
		if (g->D[i].peer_id < 0)
			g->D[i].peer_id = 0;
}

/* The connection's other end, when it is in the trace: its socket has our addresses the
 * other way round (a socketpair knows its other end). */
struct lc_sock *peer_of(struct diag *g, struct lc_sock *s)
{
	struct sdiag *d = diag_of(g, s);
	if (d && d->peer_id)
		return d->peer_id > 0 ? lc_get(g->lc, d->peer_id - 1) : NULL;
	struct lc_sock *o = NULL;
	if (s->pair_id > 0) {
		o = lc_get(g->lc, s->pair_id - 1);
	} else if (s->local[0] && s->peer[0] && s->type == SOCK_STREAM) {
		char a[160], b[160], key[260];
		struct conn_ix *c;
		conn_register(g, s);
		snprintf(key, sizeof(key), "%s|%s", st_addr_plain(s->peer, a, sizeof(a)),
		         st_addr_plain(s->local, b, sizeof(b)));
		HASH_FIND_STR(g->conns, key, c);
		o = c && c->id != s->id ? lc_get(g->lc, c->id - 1) : NULL;
	}
	if (d && (o || s->end != END_NONE))     /* (an end not seen yet may still come) */
		d->peer_id = o ? o->id : -1;
	if (o && diag_of(g, o) && !diag_of(g, o)->peer_id)
		diag_of(g, o)->peer_id = s->id;
	return o;
}

/* What one record says about the socket it is about. */
static void socket_facts(struct diag *g, struct sdiag *d, struct lc_sock *s, const struct st_record *r,
                         struct pstate *p, struct tstate *th)
{
	int cl = r->call, ok = r->complete && r->ret >= 0;
	int64_t n;
	int dir = ok ? st_rec_bytes(r, &n) : 0;
	if (!d->indexed && s->local[0] && s->peer[0]) {   /* (so its peer can find it from now on) */
		conn_register(g, s);
		d->indexed = 1;
	}
	if (dir)
		conversation(d, s, r, n, dir);
	if (dir > 0 && !d->out_after_peer_close.valid) {
		struct lc_sock *o = peer_of(g, s);
		struct sdiag *od = diag_of(g, o);
		/* (a send held by an injected delay acts when the delay is over) */
		char inj[48];
		uint64_t acts = st_injected(r, inj, sizeof(inj)) && !strncmp(inj, "delay=", 6) ? r->ts_exit : r->ts_enter;
		if (od && od->close.valid && od->close.te < acts)
			set_step(&d->out_after_peer_close, r, NULL);
	}
	if (st_call_class(cl) == ST_CL_RECV && ok && r->ret == 0 && r->a[0] > 0 && s->type == SOCK_STREAM) {
		if (!d->fin.valid)
			set_step(&d->fin, r, NULL);
		else if (d->reads_after_eof++ == 0)
			set_step(&d->after_eof_read, r, NULL);
	}
	if (cl == ST_C_SHUTDOWN && ok && (r->a[0] == SHUT_WR || r->a[0] == SHUT_RDWR) && !d->shut_wr.valid)
		set_step(&d->shut_wr, r, NULL);
	if (r->complete && r->ret < 0 && r->err == EPIPE && !d->epipe.valid) {
		set_step(&d->epipe, r, NULL);
		d->sigpipe_at_fail = p->sigpipe;
	}
	if (!r->complete && is_out(r) && !d->death.valid) {
		set_step(&d->death, r, NULL);
		d->sigpipe_at_fail = p->sigpipe;
	}
	if (r->complete && r->ret < 0 && r->err == ECONNRESET && !d->reset.valid)
		set_step(&d->reset, r, NULL);
	int pending = st_so_error(r);      /* a reset learnt from poll/epoll's error, then SO_ERROR */
	if ((pending == ECONNRESET || pending == EPIPE) && !d->reset.valid) {
		set_step(&d->reset, r, "SO_ERROR: the error the kernel held for the socket");
		d->reset.err = pending;
	}
	connect_error(d, r);
	if (cl == ST_C_SOCKSTATE) {
		struct sockq q = { 1, (uint32_t)r->a[0], (uint32_t)r->a[1], (int)r->a[2] };
		if ((d->epipe.valid || d->reset.valid) && !d->err_q.valid)
			d->err_q = q;
		d->q_pending = q;       /* the close that follows (if one does) */
	}
	if (cl == ST_C_CLOSE && r->complete && s->end != END_NONE) {
		set_step(&d->close, r, NULL);
		d->bytes_in_at_close = s->bytes_in;
		d->bytes_out_at_close = s->bytes_out;
		d->close_q = d->q_pending;
	}
	eagain(d, r, th, ok);
}

void diag_observe(struct diag *g, const struct st_record *r)
{
	if (r->ts_enter < g->t0)
		g->t0 = r->ts_enter;
	uint64_t te = r->complete && r->ts_exit > r->ts_enter ? r->ts_exit : r->ts_enter;
	if (te > g->t_last)
		g->t_last = te;
	struct pstate *p = proc_state(g, r);
	struct tstate *th = thread_state(g, r);
	struct lc_sock *s = lc_feed(g->lc, r);
	for (; g->capD < lc_count(g->lc); g->capD++) {
		g->D = st_xrealloc(g->D, (size_t)(g->capD + 1) * sizeof(*g->D));
		memset(&g->D[g->capD], 0, sizeof(*g->D));
	}
	const struct lc_touch *tv;
	int nt = lc_touches(g->lc, &tv);
	for (int k = 0; k < nt; k++) {  /* the peer's FIN as poll/epoll reported it */
		struct sdiag *d = diag_of(g, tv[k].s);
		if ((tv[k].ev & EV_PEER_FIN) && st_call_class(r->call) == ST_CL_WAIT && !d->fin.valid) {
			set_step(&d->fin, r, NULL);
			d->fin.fd = -1;
			for (int i = 0; i < tv[k].s->nfds; i++)
				d->fin.fd = tv[k].s->fds[i];
		}
		if ((tv[k].ev & EV_EXIT_CLOSED) && r->call == ST_C_EXIT && !d->close.valid) {
			/* the exit closed it: a close as the peer sees it (an RST when data was left
			 * unread: the sockstate taken at the exit says) */
			set_step(&d->close, r, NULL);
			d->close.fd = tv[k].s->nfds ? tv[k].s->fds[tv[k].s->nfds - 1] : -1;
			d->bytes_in_at_close = tv[k].s->bytes_in;
			d->bytes_out_at_close = tv[k].s->bytes_out;
			d->close_q = d->q_pending;
		}
	}
	if (!r->complete && hang_kind(r)) {
		g->hung = st_xrealloc(g->hung, (size_t)(g->nhung + 1) * sizeof(*g->hung));
		set_step(&g->hung[g->nhung], r, NULL);
		g->hung[g->nhung].ret = s ? s->id : 0;
		g->nhung++;
	}
	if (s)
		socket_facts(g, diag_of(g, s), s, r, p, th);
}

void diag_free(struct diag *g)
{
	ST_HASH_FREE(g->conns);
	free(g->F);
	free(g->D);
	free(g->hung);
	ST_HASH_FREE(g->ps);
	ST_HASH_FREE(g->ts);
	lc_free(g->lc);
}
