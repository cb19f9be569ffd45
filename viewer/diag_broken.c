/* diagnose: broken connections. A write failed (EPIPE, a death by SIGPIPE) or a call met a
 * reset; or a client's request got end-of-stream for an answer. The story is anchored on
 * what the peer did — its close, FIN or RST when it is traced, otherwise our read of its FIN
 * or the error itself — and told for the roles found: who connected, who spoke first. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "decode.h"
#include "diagnose.h"
#include "render.h"

static const char *dispo(int d)
{
	return d == 0 ? "default (terminate)" : d == 1 ? "ignored" : "a handler";
}

static const char *who(const struct lc_sock *s)
{
	return s->peer[0] ? s->peer : s->pair_id > 0 ? "its socketpair end" : "address unknown";
}

/* The peer's process closed `up` (one of its sockets) soon after its own client went away on
 * another socket: a proxy giving up on its upstream. The client-side socket, or NULL. */
static struct lc_sock *proxy_client(struct diag *g, const struct lc_sock *up, const struct sdiag *ud)
{
	if (!ud->close.valid)
		return NULL;
	struct lc_sock *best = NULL;
	uint64_t best_ts = 0;
	for (int i = 0; i < lc_count(g->lc); i++) {
		struct lc_sock *c = lc_get(g->lc, i);
		const struct sdiag *cd = diag_of(g, c);
		if (c == up || !cd || c->role != ROLE_SERVER || !cd->fin.valid || cd->fin.f->pid != ud->close.f->pid)
			continue;
		if (cd->fin.ts <= ud->close.te + 1000 && cd->fin.ts + PROXY_NS >= ud->close.te && cd->fin.ts > best_ts) {
			best = c;
			best_ts = cd->fin.ts;
		}
	}
	return best;
}

struct story {
	struct diag *g;
	struct lc_sock *s, *ps;
	struct sdiag *d, *pd;
	const struct step *fail;
	int died, kind;
	int err;                        /* EPIPE or ECONNRESET (a SIGPIPE death: EPIPE) */
	uint64_t gone;                  /* when the peer went: its close, else the FIN we saw */
	/* for the telling */
	const char *peer;               /* who the peer is */
	const char *death;              /* "; the default SIGPIPE action killed..." or "" */
	uint64_t req;                   /* our last read before the failure, or 0 */
};

/* The kind: what the peer did, as far as the trace can tell. */
static int classify(struct story *x)
{
	struct sdiag *d = x->d, *pd = x->pd;
	const struct step *fail = x->fail;
	int peer_closed = pd && pd->close.valid && pd->close.te <= fail->ts;
	if (d->shut_wr.valid && d->shut_wr.ts < fail->ts && !d->fin.valid && !peer_closed)
		return K_WRITE_AFTER_SHUTDOWN;
	if (peer_closed) {
		x->gone = pd->close.te;
		int half = pd->shut_wr.valid && pd->shut_wr.te < pd->close.te && x->err == EPIPE;
		if (x->ps->linger0 || (pd->close_q.valid && pd->close_q.unread > 0))
			return half ? K_RST_AFTER_HALF_CLOSE : x->ps->linger0 ? K_ABORTIVE_CLOSE : K_RESET_UNREAD;
		if (proxy_client(x->g, x->ps, pd))
			return K_UPSTREAM_CLOSED;
		/* it sent its request before it left (its own write, when traced), though we may
		 * have read it only after */
		int asked = pd->last_out.valid && pd->last_out.te < x->gone;
		if (x->s->role == ROLE_SERVER && d->last_in.valid && (d->last_in.ts < x->gone || asked))
			return K_CLIENT_GAVE_UP;
	} else if (d->fin.valid && d->fin.ts <= fail->ts) {
		x->gone = d->fin.ts;
	}
	if (x->s->role == ROLE_CLIENT && d->idle_out.valid && d->idle_out.ts <= fail->ts)
		return K_IDLE_TIMEOUT;
	if (x->s->role == ROLE_SERVER && x->gone && d->last_in.valid && d->last_in.ts < x->gone)
		return K_CLIENT_GAVE_UP;
	return x->err == ECONNRESET ? K_CONNECTION_RESET : K_BROKEN_PIPE;
}

static void steps(struct story *x, struct finding *f)
{
	struct sdiag *d = x->d, *pd = x->pd;
	char n[200];
	/* the first write after the peer was gone, which still "succeeded" */
	const struct step *still = d->out_after_peer_close.valid ? &d->out_after_peer_close
	                           : !pd && d->out_after_fin.valid ? &d->out_after_fin : NULL;
	if (still && (still->ts >= x->fail->ts || x->kind == K_IDLE_TIMEOUT))
		still = NULL;
	if (x->kind == K_WRITE_AFTER_SHUTDOWN)
		add_step(f, &d->shut_wr, "we shut down our sending side (FIN)");
	else if (x->s->role == ROLE_CLIENT)
		add_step(f, &d->request, still && still->ts == d->request.ts && still->tid == d->request.tid
		                         ? "our request, sent after the peer was gone: it still \"succeeded\"; the "
		                           "peer's kernel answered with RST" : "our request");
	else
		add_step(f, &d->last_in, x->s->role == ROLE_SERVER ? "the client's request (last data we read)"
		                                                   : "last data we read");
	if (x->kind == K_IDLE_TIMEOUT) {
		add_step(f, &d->before_idle, "last exchange before the connection sat idle");
		snprintf(n, sizeof(n), "after %.1f s idle: a request on a connection the server had closed; it "
		         "\"succeeded\" (the bytes went into our send buffer)", (double)d->idle_ns / 1e9);
		add_step(f, &d->idle_out, n);
	}
	if (pd && pd->close.valid && pd->close.te <= x->fail->ts) {
		const struct lc_sock *ps = x->ps;
		if (pd->shut_wr.valid && pd->shut_wr.te < pd->close.te)
			add_step(f, &pd->shut_wr, "the peer half-closed: shutdown(SHUT_WR), FIN");
		if (ps->linger0)
			snprintf(n, sizeof(n), "the peer closed with SO_LINGER {1,0}: abortive close, RST%s",
			         pd->close_q.valid && pd->close_q.unread ? "" : "");
		else if (pd->close_q.valid && pd->close_q.unread)
			snprintf(n, sizeof(n), "the peer %s with %u byte(s) unread in its receive buffer: the kernel "
			         "sent RST, not FIN", pd->close.call == ST_C_EXIT ? "exited without closing, the socket open"
			         : "closed", pd->close_q.unread);
		else
			snprintf(n, sizeof(n), "the peer %s (FIN)", pd->close.call == ST_C_EXIT
			         ? "exited without closing: the exit closed its end" : "closed its end");
		add_step(f, &pd->close, n);
	}
	if (d->fin.valid && d->fin.ts <= x->fail->ts)
		add_step(f, &d->fin, d->fin.call == ST_C_EPOLL_WAIT || d->fin.call == ST_C_EPOLL_PWAIT ||
		                     st_call_class(d->fin.call) == ST_CL_WAIT
		                     ? "the peer's FIN, reported by poll/epoll (RDHUP/HUP)" : "read returned 0: the peer's FIN");
	if (still)
		add_step(f, still, "still \"succeeded\" after the peer was gone: its kernel answered with RST");
	int nosig = (x->fail->a1 & MSG_NOSIGNAL) != 0;
	if (x->died)
		snprintf(n, sizeof(n), "killed by SIGPIPE in this call (SIGPIPE disposition: %s)", dispo(d->sigpipe_at_fail));
	else if (x->err == EPIPE)
		snprintf(n, sizeof(n), "EPIPE%s (SIGPIPE %s)", nosig ? " with MSG_NOSIGNAL" : "",
		         nosig ? "suppressed" : dispo(d->sigpipe_at_fail));
	else
		snprintf(n, sizeof(n), "ECONNRESET: the peer's RST");
	if (d->err_q.valid && d->err_q.unsent) {
		size_t l = strlen(n);
		snprintf(n + l, sizeof(n) - l, "; %u byte(s) of ours never acknowledged", d->err_q.unsent);
	}
	add_step(f, x->fail, n);
	sort_steps(f);
}

/* why, for a broken pipe upstream of a proxy whose client left */
static void why_upstream_closed(struct story *x, struct finding *f)
{
	struct sdiag *pd = x->pd;
	char t1[32], t2[32];
	struct lc_sock *cl = proxy_client(x->g, x->ps, pd);
	const struct sdiag *cd = diag_of(x->g, cl);
	char t3[32];
	secs(t1, sizeof(t1), cd->fin.ts, pd->close.ts);
	secs(t2, sizeof(t2), cd->last_in.valid ? cd->last_in.ts : x->req, cd->fin.ts);
	secs(t3, sizeof(t3), pd->close.ts, x->fail->ts);
	snprintf(f->why, sizeof(f->why), "the proxy %s[%d] (%s) closed this connection %s after its own client (%s) "
	         "went away, %s after sending its request: the client gave up before the reply came, and our reply, "
	         "%s after the proxy left, had nobody to go to%s", pd->close.f->comm, pd->close.f->pid, x->peer, t1,
	         who(cl), t2, t3, x->death);
	snprintf(f->fix, sizeof(f->fix), "the client's timeout is shorter than this upstream's response time: make "
	         "the upstream faster, or raise the client's (and the proxy's) timeout; handle EPIPE as \"the "
	         "client went away\"");
}

/* why, for a reset drawn by data the peer left unread */
static void why_reset_unread(struct story *x, struct finding *f)
{
	struct sdiag *pd = x->pd;
	char t1[32];
	const char *then = x->fail->call == ST_C_GETSOCKOPT
	                   ? "we learnt of it from poll/epoll's error report and SO_ERROR"
	                   : "our next call failed";
	if (x->s->role == ROLE_SERVER && x->req && x->req < x->gone) {
		secs(t1, sizeof(t1), x->req, x->gone);
		snprintf(f->why, sizeof(f->why), "the client (%s) closed %s after its request — it gave up, or had read "
		         "all it wanted — while %u byte(s) of our reply were still unread in its receive buffer: the "
		         "kernel answers that with RST instead of FIN, and %s%s", x->peer, t1, pd->close_q.unread, then, x->death);
	} else {
		snprintf(f->why, sizeof(f->why), "the peer (%s) closed while %u byte(s) it had been sent were still "
		         "unread in its receive buffer: the kernel answers that with RST instead of FIN, and %s%s", x->peer,
		         pd->close_q.unread, then, x->death);
	}
	snprintf(f->fix, sizeof(f->fix), "on the peer side, read what the other end sends (or shutdown(SHUT_WR) and "
	         "drain) before close(); here, treat ECONNRESET/EPIPE as the peer going away");
}

static void why(struct story *x, struct finding *f)
{
	struct sdiag *d = x->d, *pd = x->pd;
	char t1[32], t2[32];
	switch (x->kind) {
	case K_WRITE_AFTER_SHUTDOWN:
		snprintf(f->why, sizeof(f->why), "this program called shutdown(SHUT_WR) on fd %d and wrote to it afterwards%s",
		         x->fail->fd, x->death);
		snprintf(f->fix, sizeof(f->fix), "do not write after shutdown(SHUT_WR); shut down only when all data is sent");
		return;
	case K_IDLE_TIMEOUT:
		secs(t1, sizeof(t1), d->before_idle.valid ? d->before_idle.ts : 0, d->idle_out.ts);
		if (pd && pd->close.valid)
			secs(t2, sizeof(t2), pd->close.ts, d->idle_out.ts);
		snprintf(f->why, sizeof(f->why), "the client sent a request on a connection the server (%s) had closed%s%s%s: "
		         "idle timeout (the connection sat idle %s); the request \"succeeded\" into the send buffer, "
		         "the server's kernel answered with RST%s", x->peer, pd && pd->close.valid ? " " : "",
		         pd && pd->close.valid ? t2 : "", pd && pd->close.valid ? " earlier" : "", t1,
		         x->err == EPIPE ? ", and the next write failed" : "");
		snprintf(f->fix, sizeof(f->fix), "a pooled or kept-alive connection can be closed by the server at any time: "
		         "check it before reuse (or retry once on EPIPE/ECONNRESET/EOF), or keep the client's idle time "
		         "below the server's timeout");
		return;
	case K_UPSTREAM_CLOSED:
		why_upstream_closed(x, f);
		return;
	case K_CLIENT_GAVE_UP: {
		/* the reply: its first write after the client left (which still "succeeded") */
		const struct step *reply = d->out_after_peer_close.valid ? &d->out_after_peer_close
		                           : d->out_after_fin.valid ? &d->out_after_fin : x->fail;
		uint64_t asked = pd && pd->last_out.valid && pd->last_out.te < x->gone ? pd->last_out.te : x->req;
		secs(t1, sizeof(t1), asked, x->gone);
		secs(t2, sizeof(t2), x->gone, reply->te);
		snprintf(f->why, sizeof(f->why), "the client (%s) gave up: it closed the connection %s after its request, "
		         "before our reply; our reply came %s later%s", x->peer, t1, t2, x->death);
		snprintf(f->fix, sizeof(f->fix), "compare the client's timeout with how long the reply takes (make it "
		         "faster, or stream something sooner); handle EPIPE as \"the client went away\": stop writing, close");
		return;
	}
	case K_RESET_UNREAD:
		why_reset_unread(x, f);
		return;
	case K_ABORTIVE_CLOSE:
		snprintf(f->why, sizeof(f->why), "the peer (%s) closed abortively with SO_LINGER {1,0}, which sends RST%s",
		         x->peer, x->death);
		snprintf(f->fix, sizeof(f->fix), "an abortive close throws away what is in flight: close normally unless "
		         "dropping the connection is the point; here, treat ECONNRESET/EPIPE as the peer going away");
		return;
	case K_RST_AFTER_HALF_CLOSE:
		snprintf(f->why, sizeof(f->why), "the peer (%s) half-closed (FIN: we read end of stream) and then closed %s, "
		         "which sent RST; after a half-close this side is in CLOSE_WAIT, so the RST shows up as EPIPE on the "
		         "next write, not as ECONNRESET%s", x->peer,
		         x->ps->linger0 ? "abortively (SO_LINGER {1,0})" : "with our data unread in its receive buffer", x->death);
		snprintf(f->fix, sizeof(f->fix), "a peer that half-closes must still read the reply before it closes; "
		         "if it does not want the reply, it should say so in the protocol. Here, handle EPIPE as the peer gone");
		return;
	}
	if (x->gone) {
		secs(t2, sizeof(t2), x->gone, x->fail->ts);
		snprintf(f->why, sizeof(f->why), "the peer (%s) closed the connection %s before this call%s", x->peer, t2, x->death);
	} else {
		snprintf(f->why, sizeof(f->why), "the peer (%s%s) closed or reset the connection before this call%s; "
		         "the first write after a peer's close usually succeeds and provokes the RST that fails the next",
		         x->peer, x->pd ? "" : ", not traced", x->death);
	}
	snprintf(f->fix, sizeof(f->fix), "handle %s as \"the peer went away\" (stop writing, close); if it happens often, "
	         "compare the peer's timeout with how long the reply takes",
	         x->err == ECONNRESET ? "ECONNRESET" : "EPIPE");
}

void detect_broken(struct diag *g, struct lc_sock *s)
{
	struct sdiag *d = diag_of(g, s);
	if (!d)
		return;
	const struct step *fail = d->epipe.valid ? &d->epipe : d->death.valid && d->death.out ? &d->death
	                          : d->reset.valid ? &d->reset : NULL;
	if (d->reset.valid && fail && d->reset.ts < fail->ts)
		fail = &d->reset;
	if (!fail)
		return;
	int died = fail == &d->death;
	struct story x = { g, s, peer_of(g, s), d, NULL, fail, died, 0, died ? EPIPE : fail->err, 0, who(s),
	                   died ? "; the default SIGPIPE action killed the process in that write" : "",
	                   d->last_in.valid ? d->last_in.ts : 0 };
	x.pd = diag_of(g, x.ps);
	x.kind = classify(&x);
	struct finding *f = add_finding(g, x.died ? K_SIGPIPE_DEATH : x.kind, s, fail->ts);
	f->pattern = x.died ? x.kind : -1;
	f->died = x.died;
	steps(&x, f);
	why(&x, f);
	if (x.died) {
		size_t l = strlen(f->fix);
		snprintf(f->fix + l, sizeof(f->fix) - l, "; and ignore SIGPIPE (signal(SIGPIPE, SIG_IGN)) or send with "
		         "MSG_NOSIGNAL, so a peer going away is an error to handle, not the end of the process");
	}
}

/* A client's request answered by end-of-stream: the server closed without a reply (or had
 * closed the connection while it sat idle, before the request). */
void detect_no_reply(struct diag *g, struct lc_sock *s)
{
	struct sdiag *d = diag_of(g, s);
	if (!d || s->role != ROLE_CLIENT || !d->fin.valid || !d->request.valid || d->answered ||
	    d->request.ts > d->fin.ts || d->epipe.valid || d->reset.valid || d->death.valid)
		return;
	struct lc_sock *ps = peer_of(g, s);
	struct sdiag *pd = diag_of(g, ps);
	int idle = d->idle_out.valid && d->idle_out.ts == d->request.ts;
	/* a last write answered by the server's FIN (a TLS close_notify, a goodbye) looks the
	 * same as a request left unanswered: told only after an idle spell, or when nothing ever
	 * came back on the connection */
	if (!idle && d->first_in.valid)
		return;
	struct finding *f = add_finding(g, idle ? K_IDLE_TIMEOUT : K_EOF_NO_REPLY, s, d->fin.ts);
	char t1[32], n[160];
	if (idle) {
		add_step(f, &d->before_idle, "last exchange before the connection sat idle");
		snprintf(n, sizeof(n), "after %.1f s idle: our request", (double)d->idle_ns / 1e9);
		add_step(f, &d->request, n);
	} else {
		add_step(f, &d->request, "our request");
	}
	if (pd && pd->close.valid && pd->close.ts <= d->fin.ts)
		add_step(f, &pd->close, "the server closed the connection (FIN)");
	add_step(f, &d->fin, "read returned 0: end of stream where the reply should be");
	sort_steps(f);
	if (idle) {
		secs(t1, sizeof(t1), pd && pd->close.valid ? pd->close.ts : d->request.ts, d->request.ts);
		snprintf(f->why, sizeof(f->why), "the client sent a request on a connection idle for %.1f s, which the "
		         "server (%s) had closed%s%s%s: idle timeout; the request got end-of-stream, no reply",
		         (double)d->idle_ns / 1e9, who(s), pd && pd->close.valid ? " " : "",
		         pd && pd->close.valid ? t1 : "", pd && pd->close.valid ? " earlier" : "");
		snprintf(f->fix, sizeof(f->fix), "a kept-alive connection can be closed by the server at any time: check it "
		         "before reuse (or retry once on EOF/EPIPE/ECONNRESET), or keep the client's idle time below the "
		         "server's timeout");
	} else {
		secs(t1, sizeof(t1), d->request.ts, d->fin.ts);
		snprintf(f->why, sizeof(f->why), "the server (%s) closed the connection %s after our request without a "
		         "reply", who(s), t1);
		snprintf(f->fix, sizeof(f->fix), "look at the server's side at that time (its log, its own trace): it "
		         "rejected, crashed on or timed out the request");
	}
}

/* A client's request that got nothing back, neither data nor end-of-stream, and that the
 * client gave up on: it closed (or was stopped) a while after sending it. Its timeout, and
 * what the server did with the request when it is traced. */
void detect_reply_timeout(struct diag *g, struct lc_sock *s)
{
	struct sdiag *d = diag_of(g, s);
	if (!d || s->role != ROLE_CLIENT || !d->request.valid || d->answered || d->fin.valid ||
	    d->epipe.valid || d->reset.valid || d->death.valid)
		return;
	uint64_t end = d->close.valid ? d->close.te : s->end_ns;
	if (!end || end < d->request.ts + WAITED_NS)
		return;
	if (proxy_client(g, s, d))
		return;         /* a proxy dropping its upstream request with its own client: the
		                 * upstream's side tells that story */
	struct lc_sock *ps = peer_of(g, s);
	struct sdiag *pd = diag_of(g, ps);
	struct finding *f = add_finding(g, K_NO_REPLY_TIMEOUT, s, end);
	char t1[32], n[160];
	add_step(f, &d->request, "our request");
	int server_read = pd && pd->last_in.valid && pd->last_in.ts >= d->request.te;
	if (server_read)
		add_step(f, &pd->last_in, "the server read the request, and never answered it");
	secs(t1, sizeof(t1), d->request.ts, end);
	snprintf(n, sizeof(n), "gave up after %s without a reply", t1);
	add_step(f, &d->close, n);
	sort_steps(f);
	snprintf(f->why, sizeof(f->why), "the client sent its request and waited %s without a reply, then gave up "
	         "(closed the connection): its timeout ran out first. %s", t1,
	         server_read ? "The server read the request and never answered it (and was left with a connection "
	                       "its client had closed, in CLOSE_WAIT)"
	         : ps ? "The server never read the request" : "The server is not traced: its side is not known");
	snprintf(f->fix, sizeof(f->fix), "find why the server took longer than the client's timeout (look at what "
	         "it was doing then: its own trace, a hang, a slow dependency); or raise the client's timeout");
}
