/* diagnose: connects that failed, calls that never returned, spinning loops, leaks. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "decode.h"
#include "diagnose.h"
#include "render.h"

void detect_connect(struct diag *g, struct lc_sock *s)
{
	struct sdiag *d = diag_of(g, s);
	if (!d || !d->conn_errs)
		return;
	struct finding *f = add_finding(g, K_CONNECT_FAILED, s, d->conn_err.ts);
	const char *e = st_errno_name(d->conn_err.err);
	char note[96];
	snprintf(note, sizeof(note), "SO_ERROR: %s (the non-blocking connect failed)", e ? e : "?");
	add_step(f, &d->conn_err, d->conn_err.call == ST_C_GETSOCKOPT ? note : NULL);
	snprintf(f->why, sizeof(f->why), "connect to %s failed: %s (%s)", s->peer[0] ? s->peer : "?", e,
	         d->conn_err.err == ECONNREFUSED ? "nothing listens there"
	         : d->conn_err.err == ETIMEDOUT ? "no answer: filtered, or the host is down"
	         : "no route to the host or network");
	snprintf(f->fix, sizeof(f->fix), "check that the server runs and listens on %s, and the address the "
	         "program was configured with", s->peer[0] ? s->peer : "that address");
}

/* One connect_failed finding per address, however many sockets tried it. */
void merge_connect_failures(struct diag *g)
{
	for (int i = 0; i < g->nF; i++) {
		struct finding *a = &g->F[i];
		if (a->kind != K_CONNECT_FAILED || !a->s)
			continue;
		int tries = 1;
		for (int k = i + 1; k < g->nF; k++) {
			struct finding *b = &g->F[k];
			if (b->kind == K_CONNECT_FAILED && b->s && !strcmp(b->s->peer, a->s->peer)) {
				tries++;
				add_step(a, &b->steps[0], "tried again");
				*b = g->F[--g->nF];
				k--;
			}
		}
		if (tries > 1) {
			sort_steps(a);
			size_t l = strlen(a->why);
			snprintf(a->why + l, sizeof(a->why) - l, "; %d attempts in all", tries);
		}
	}
}

void detect_loops(struct diag *g, struct lc_sock *s)
{
	struct sdiag *d = diag_of(g, s);
	if (!d)
		return;
	if (d->eagain_max >= EAGAIN_LOOP) {
		struct finding *f = add_finding(g, K_EAGAIN_LOOP, s, d->eagain_first.ts);
		add_step(f, &d->eagain_first, "first EAGAIN of the run");
		add_step(f, &d->eagain_last, "last");
		snprintf(f->why, sizeof(f->why), "%d calls in a row failed with EAGAIN on this non-blocking socket "
		         "with no poll/select/epoll between them: the thread spins", d->eagain_max);
		snprintf(f->fix, sizeof(f->fix), "wait for readiness (poll/epoll) after EAGAIN instead of retrying at once");
	}
	if (d->reads_after_eof >= EOF_LOOP) {
		struct finding *f = add_finding(g, K_READ_AFTER_EOF, s, d->after_eof_read.ts);
		add_step(f, &d->fin, "read returned 0: end of stream");
		add_step(f, &d->after_eof_read, "read again after EOF");
		snprintf(f->why, sizeof(f->why), "%d read(s) after the peer's FIN, each returning 0 at once",
		         d->reads_after_eof);
		snprintf(f->fix, sizeof(f->fix), "treat a 0-byte read as end of stream: stop reading and close "
		         "(or stop polling the fd for input)");
	}
}

/*
 * A leak, as a developer means it: the peer closed (we read its FIN, poll/epoll reported it,
 * or the connection failed) and this side never closed its socket, while the process that
 * held it went on: it made another socket afterwards, or ran a second more. The socket sat in
 * CLOSE_WAIT holding an fd. Sockets a process simply held when it exited or was stopped are
 * not leaks.
 */
void detect_leak(struct diag *g, struct lc_sock *s)
{
	if (s->listening || (s->end != END_OPEN_AT_EXIT && s->end != END_PROCESS_DIED &&
	                     s->end != END_STILL_OPEN && s->end != END_PEER_CLOSED))
		return;
	if (!s->nholders || !(s->peer_fin || s->reset || s->epipe))
		return;
	uint64_t gone = s->peer_fin ? s->peer_fin_ns : s->last_ns;
	for (int h = 0; h < s->nholders; h++) {
		int pid = s->holders[h];
		struct pstate *p = diag_proc(g, pid);
		if (!p)
			continue;
		/* how long it went on: to its exit; a killed one at least to the trace's end; a
		 * running one to now */
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		uint64_t until = p->image && p->image->t_end ? p->image->t_end
		                 : p->image && p->image->running ? (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec
		                 : p->image && p->image->state != ST_PS_EXITED ? g->t_last : p->last_ts;
		int later = 0;
		for (int i = 0; i < lc_count(g->lc); i++) {
			const struct lc_sock *o = lc_get(g->lc, i);
			later += o != s && o->pid == pid && o->start_ns > gone && o->origin != ST_OR_WRAPPED;
		}
		if (!later && until < gone + LEAK_NS)
			continue;
		struct finding *f = add_finding(g, K_LEAK, s, gone);
		struct sdiag *d = diag_of(g, s);
		if (d) {
			add_step(f, d->first_in.valid ? &d->first_in : &d->first_out, "the connection in use");
			add_step(f, &d->fin, "the peer's FIN: this side should close now");
			add_step(f, &d->last_in, NULL);
			sort_steps(f);
		}
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

/* Calls that never returned: an exit ended them (other threads were blocked while one
 * exited): no hang. Still running: told once it has waited a second. Killed: how long it
 * waited before the kill is not known (at least until the trace's last record). */
void detect_hangs(struct diag *g, int (*keep)(void *ctx, const struct lc_sock *s), void *ctx)
{
	for (int i = 0; i < g->nhung; i++) {
		struct step *h = &g->hung[i];
		struct lc_sock *s = h->ret > 0 ? lc_get(g->lc, (int)h->ret - 1) : NULL;
		if (s && !keep(ctx, s))
			continue;
		const struct st_pinfo *pi = h->f;
		int running = pi->running, killed = !running && pi->state != ST_PS_EXITED && pi->state != ST_PS_EXECED;
		if (!running && !killed)
			continue;
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		uint64_t end = running ? (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec : g->t_last;
		if (running && end < h->ts + HANG_NS)
			continue;
		double waited = end > h->ts ? (double)(end - h->ts) / 1e9 : 0.0;
		struct finding *f = add_finding(g, K_NEVER_RETURNED, s, h->ts);
		char note[160], how[64] = "";
		if (waited >= 0.001)
			snprintf(how, sizeof(how), " after %s%.1f s", running ? "" : "at least ", waited);
		snprintf(note, sizeof(note), "entered, never returned: %s%s", running ? "still waiting" : "killed", how);
		struct step st = *h;
		st.ret = 0;
		add_step(f, &st, note);
		snprintf(f->why, sizeof(f->why), "thread %u of %s[%d] was blocked in %s on %s%s when %s", h->tid,
		         pi->comm, pi->pid, st_call_name(h->call), s && s->peer[0] ? s->peer : "its socket", how,
		         running ? "the trace was read (it is still running)" : "the process was killed");
		snprintf(f->fix, sizeof(f->fix), "if it hung: put a timeout on it (SO_RCVTIMEO, poll with a timeout) "
		         "and check what the peer was doing at that time");
	}
}
