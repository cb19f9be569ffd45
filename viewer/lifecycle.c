/* Socket lifetimes: identity is the socket, not the fd number (see README "Lifecycle rules"). */
#include "lifecycle.h"
#include "xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <uthash.h>

#include "decode.h"

struct fdent {
	uint64_t key;                   /* pid << 32 | fd */
	struct lc_sock *s;
	int pending_exec;               /* set at exec until the new image reports it inherited */
	UT_hash_handle hh;
};

struct epdata {                     /* epoll_ctl registrations: (pid, epfd, data) -> fd */
	struct { int pid, epfd; uint64_t data; } key;
	int fd;
	UT_hash_handle hh;
};

struct snapshot {                   /* a parent's fd table at fork, for the child to adopt */
	int fd;
	struct lc_sock *s;
};

struct proc {
	int pid;
	const struct st_pinfo *image;   /* current image */
	int incomplete;                 /* calls entered and never returned (not exec) */
	uint64_t last_ts;
	int in_exec_handover;           /* first records of a new image: inherited list */
	struct snapshot *snap;          /* fork snapshot to adopt, from the parent */
	int nsnap;
	UT_hash_handle hh;
};

struct lc {
	struct lc_sock **socks;
	int n, cap;
	struct fdent *fds;
	struct proc *procs;
	struct proc *pending;           /* fork snapshots for children not seen yet, by pid */
	int ev;                         /* enum lc_event of the last feed */
	struct lc_sock *also;
	struct epdata *ep;
};

int lc_events(const struct lc *lc)
{
	return lc->ev;
}

struct lc_sock *lc_also(const struct lc *lc)
{
	return lc->also;
}

const char *lc_end_name(int end)
{
	static const char *const n[] = { "open", "closed", "peer_closed", "reset", "broken_pipe",
	                                  "refused", "timed_out", "open_at_exit", "process_died",
	                                  "unknown" };
	return end >= 0 && end <= END_UNKNOWN ? n[end] : "unknown";
}

struct lc *lc_new(void)
{
	return st_xcalloc(1, sizeof(struct lc));
}

static struct lc_sock *new_sock(struct lc *lc, const struct st_record *r, int origin)
{
	if (lc->n == lc->cap) {
		lc->cap = lc->cap ? lc->cap * 2 : 64;
		lc->socks = st_xrealloc(lc->socks, (size_t)lc->cap * sizeof(*lc->socks));
	}
	struct lc_sock *s = st_xcalloc(1, sizeof(*s));
	s->id = lc->n + 1;
	s->pid = r->proc->pid;
	memcpy(s->comm, r->proc->comm, sizeof(s->comm));
	s->origin = origin;
	s->start_ns = r->ts_enter;
	s->pair_id = -1;
	s->family = -1;
	s->type = -1;
	lc->socks[lc->n++] = s;
	return s;
}

static struct fdent *fd_find(struct lc *lc, int pid, int fd)
{
	uint64_t key = (uint64_t)(uint32_t)pid << 32 | (uint32_t)fd;
	struct fdent *e;
	HASH_FIND(hh, lc->fds, &key, sizeof(key), e);
	return e;
}

static void note_pid(struct lc_sock *s, int pid)
{
	for (int i = 0; i < s->npids; i++)
		if (s->pids[i] == pid)
			return;
	if (s->npids < LC_MAX_PIDS)
		s->pids[s->npids++] = pid;
}

static void end_sock(struct lc_sock *s, uint64_t ts)
{
	s->end_ns = ts;
	if (s->reset || s->linger0)
		s->end = END_RESET;
	else if (s->epipe)
		s->end = END_BROKEN_PIPE;
	else if (s->refused)
		s->end = END_REFUSED;
	else if (s->timed_out)
		s->end = END_TIMED_OUT;
	else if (s->peer_fin)
		s->end = END_PEER_CLOSED;
	else
		s->end = END_CLOSED;
}

static void unbind(struct lc *lc, int pid, int fd, uint64_t ts)
{
	struct fdent *e = fd_find(lc, pid, fd);
	if (!e)
		return;
	struct lc_sock *s = e->s;
	HASH_DEL(lc->fds, e);
	free(e);
	if (--s->refs <= 0) {
		end_sock(s, ts);
		lc->ev |= EV_CLOSED | (s->linger0 ? EV_ABORTIVE : 0);
	}
}

static void bind_fd(struct lc *lc, int pid, int fd, struct lc_sock *s, uint64_t ts)
{
	unbind(lc, pid, fd, ts);  /* a number reused without a close we saw */
	struct fdent *e = st_xcalloc(1, sizeof(*e));
	e->key = (uint64_t)(uint32_t)pid << 32 | (uint32_t)fd;
	e->s = s;
	HASH_ADD(hh, lc->fds, key, sizeof(e->key), e);
	if (s->refs++ == 0 && s->end != END_NONE) {
		s->end = END_NONE;   /* revived: a fork child adopted it after the parent closed */
		s->end_ns = 0;
	}
	note_pid(s, pid);
	if (pid == s->pid) {
		for (int i = 0; i < s->nfds; i++)
			if (s->fds[i] == fd)
				return;
		if (s->nfds < LC_MAX_FDS)
			s->fds[s->nfds++] = fd;
	}
}

static struct proc *proc_get(struct proc **tab, int pid, int create)
{
	struct proc *p;
	HASH_FIND_INT(*tab, &pid, p);
	if (!p && create) {
		p = st_xcalloc(1, sizeof(*p));
		p->pid = pid;
		HASH_ADD_INT(*tab, pid, p);
	}
	return p;
}

static void set_addr(char *dst, const struct st_record *r, int type)
{
	struct st_tlv_view t;
	if (st_tlv_find(r, type, &t))
		st_fmt_addr(t.p, t.len, dst, 128);
}

static void add_peer(struct lc_sock *s, const struct st_record *r, int type)
{
	char a[128] = "";
	set_addr(a, r, type);
	if (!a[0])
		return;
	for (int i = 0; i < s->npeers; i++)
		if (!strcmp(s->peers[i], a))
			return;
	if (s->npeers < 4)
		strcpy(s->peers[s->npeers++], a);
}

/* The first record of a process we have not seen: adopt a fork snapshot, or an exec'd
 * image's inheritance. */
static struct proc *enter_proc(struct lc *lc, const struct st_record *r)
{
	int pid = r->proc->pid;
	struct proc *p = proc_get(&lc->procs, pid, 0);
	if (!p) {
		p = proc_get(&lc->procs, pid, 1);
		p->image = r->proc;
		struct proc *pend = proc_get(&lc->pending, pid, 0);
		if (pend) {
			for (int i = 0; i < pend->nsnap; i++)
				bind_fd(lc, pid, pend->snap[i].fd, pend->snap[i].s, r->ts_enter);
			HASH_DEL(lc->pending, pend);
			free(pend->snap);
			free(pend);
		}
	} else if (p->image != r->proc) {
		/* a new image (exec): fds survive only if it reports them inherited */
		p->image = r->proc;
		struct fdent *e, *tmp;
		HASH_ITER(hh, lc->fds, e, tmp)
			if ((int)(e->key >> 32) == pid)
				e->pending_exec = 1;
		p->in_exec_handover = 1;
	}
	if (p->in_exec_handover && r->call != ST_C_INHERITED && r->call != ST_C_SIGACTION) {
		struct fdent *e, *tmp;
		HASH_ITER(hh, lc->fds, e, tmp)
			if ((int)(e->key >> 32) == pid && e->pending_exec)
				unbind(lc, pid, (int)(uint32_t)e->key, r->ts_enter);
		p->in_exec_handover = 0;
	}
	return p;
}

static void snapshot_fork(struct lc *lc, int pid, int child)
{
	struct proc *pend = proc_get(&lc->pending, child, 1);
	struct fdent *e, *tmp;
	HASH_ITER(hh, lc->fds, e, tmp) {
		if ((int)(e->key >> 32) != pid)
			continue;
		pend->snap = st_xrealloc(pend->snap, (size_t)(pend->nsnap + 1) * sizeof(*pend->snap));
		pend->snap[pend->nsnap++] = (struct snapshot){ (int)(uint32_t)e->key, e->s };
	}
}

static void note_error(struct lc_sock *s, const struct st_record *r)
{
	if (!r->complete || r->ret >= 0 || !r->err || r->err == EAGAIN || r->err == EINPROGRESS ||
	    r->err == EINTR)
		return;
	if (s->nerrors < LC_MAX_ERR) {
		s->errors[s->nerrors].call = r->call;
		s->errors[s->nerrors].err = (int16_t)r->err;
		s->nerrors++;
	} else {
		s->more_errors++;
	}
	if (r->err == ECONNRESET)
		s->reset = 1;
	else if (r->err == EPIPE)
		s->epipe = 1;
	else if (r->err == ECONNREFUSED)
		s->refused = 1;
	else if (r->err == ETIMEDOUT)
		s->timed_out = 1;
}

static int error_event(int err)
{
	switch (err) {
	case ECONNRESET: return EV_RESET;
	case EPIPE: return EV_EPIPE;
	case ECONNREFUSED: return EV_REFUSED;
	case ETIMEDOUT: return EV_TIMED_OUT;
	}
	return 0;
}

/* A socket for a call on an fd we have no lifetime for: its birth was overwritten by the
 * ring wrapping, or happened where the tracer could not see it. */
static struct lc_sock *adopt_unknown(struct lc *lc, const struct st_record *r, int pid)
{
	struct lc_sock *s = new_sock(lc, r, ST_OR_WRAPPED);
	struct st_sock e;
	if (st_sock_lookup(r->proc, r->fd, &e) && e.birth <= r->ticket) {
		{
			s->family = e.domain;
			s->type = e.type;
			if (e.local.len && e.local.len <= sizeof(e.local.raw))
				st_fmt_addr(e.local.raw, e.local.len, s->local, sizeof(s->local));
			if (e.peer.len && e.peer.len <= sizeof(e.peer.raw))
				st_fmt_addr(e.peer.raw, e.peer.len, s->peer, sizeof(s->peer));
		}
	}
	bind_fd(lc, pid, r->fd, s, r->ts_enter);
	return s;
}

struct lc_sock *lc_feed(struct lc *lc, const struct st_record *r)
{
	int pid = r->proc->pid;
	lc->ev = 0;
	lc->also = NULL;
	struct proc *p = enter_proc(lc, r);
	if (!r->complete && r->call != ST_C_EXEC)
		p->incomplete++;
	if (r->ts_enter > p->last_ts)
		p->last_ts = r->ts_enter;
	int c = r->call, ok = r->complete && r->ret >= 0;
	struct fdent *e;
	struct lc_sock *s = NULL;

	switch (c) {
	case ST_C_SOCKET:
		if (!ok)
			return NULL;
		s = new_sock(lc, r, ST_OR_SOCKET);
		s->family = (int)r->a[0];
		s->type = (int)(r->a[1] & 0xff);
		bind_fd(lc, pid, (int)r->ret, s, r->ts_enter);
		s->calls++;
		return s;
	case ST_C_SOCKETPAIR: {
		struct st_tlv_view t;
		if (!ok || !st_tlv_find(r, ST_T_FDS, &t) || t.len < 8)
			return NULL;
		int32_t fds[2];
		memcpy(fds, t.p, 8);
		struct lc_sock *a = new_sock(lc, r, ST_OR_SOCKETPAIR), *b = new_sock(lc, r, ST_OR_SOCKETPAIR);
		a->family = b->family = (int)r->a[0];
		a->type = b->type = (int)(r->a[1] & 0xff);
		a->pair_id = b->id;
		b->pair_id = a->id;
		bind_fd(lc, pid, fds[0], a, r->ts_enter);
		bind_fd(lc, pid, fds[1], b, r->ts_enter);
		a->calls++;
		b->calls++;
		lc->also = b;
		return a;
	}
	case ST_C_INHERITED: case ST_C_UNSEEN:
		if ((e = fd_find(lc, pid, r->fd)) && p->in_exec_handover) {
			e->pending_exec = 0;    /* the same socket, carried across exec */
			return e->s;
		}
		s = new_sock(lc, r, c == ST_C_INHERITED ? ST_OR_INHERITED : ST_OR_UNSEEN);
		s->family = (int)r->a[0];
		s->type = (int)r->a[1];
		set_addr(s->local, r, ST_T_LOCAL);
		set_addr(s->peer, r, ST_T_PEER);
		bind_fd(lc, pid, r->fd, s, r->ts_enter);
		return s;
	case ST_C_ACCEPT: case ST_C_ACCEPT4: {
		struct lc_sock *l = (e = fd_find(lc, pid, r->fd)) ? e->s : NULL;
		if (l) {
			l->calls++;
			note_error(l, r);
		}
		if (!ok)
			return l;
		s = new_sock(lc, r, ST_OR_ACCEPT);
		if (l) {
			s->family = l->family;
			s->type = l->type;
		}
		set_addr(s->local, r, ST_T_LOCAL);
		set_addr(s->peer, r, ST_T_PEER);
		bind_fd(lc, pid, (int)r->ret, s, r->ts_enter);
		s->calls++;
		lc->also = l;
		lc->ev |= EV_ACCEPTED;
		return s;
	}
	case ST_C_FORK: case ST_C_VFORK:
		if (ok && r->ret > 0)
			snapshot_fork(lc, pid, (int)r->ret);
		return NULL;
	case ST_C_CLOSE_RANGE: case ST_C_CLOSEFROM: {
		struct st_tlv_view t;
		if (r->complete && r->ret == 0 && st_tlv_find(r, ST_T_FDS, &t) &&
		    !(c == ST_C_CLOSE_RANGE && (r->a[2] & 4 /* CLOSE_RANGE_CLOEXEC */)))
			for (unsigned i = 0; i + 4 <= t.len; i += 4) {
				int32_t fd;
				memcpy(&fd, t.p + i, 4);
				unbind(lc, pid, fd, r->ts_enter);
			}
		return NULL;
	}
	case ST_C_POLL: case ST_C_PPOLL: case ST_C_SELECT: case ST_C_PSELECT: {
		/* a non-blocking connect completes when its socket polls writable */
		struct st_tlv_view t;
		if (!r->complete || r->ret <= 0 || !st_tlv_find(r, ST_T_POLL, &t))
			return NULL;
		for (unsigned i = 0; i + sizeof(struct st_pollent) <= t.len; i += sizeof(struct st_pollent)) {
			struct st_pollent pe;
			memcpy(&pe, t.p + i, sizeof(pe));
			struct fdent *pf = fd_find(lc, pid, pe.fd);
			if (pf && pf->s->connecting && (pe.revents & 0x4 /* POLLOUT */) &&
			    !(pe.revents & (0x8 | 0x10) /* POLLERR, POLLHUP */)) {
				pf->s->connecting = 0;
				lc->ev |= EV_CONNECTED;
				s = pf->s;
			}
		}
		return s;
	}
	default:
		break;
	}
	if (r->fd < 0)
		return NULL;
	e = fd_find(lc, pid, r->fd);
	if (c == ST_C_DUP2 || c == ST_C_DUP3) {
		/* dup2 onto a socket's number closes that socket */
		int nfd = (int)r->a[0];
		if (ok && nfd != r->fd) {
			struct fdent *victim = fd_find(lc, pid, nfd);
			if (victim && (!e || victim->s != e->s)) {
				lc->also = victim->s;   /* the socket this dup2 closed */
				victim->s->calls++;
			}
			unbind(lc, pid, nfd, r->ts_enter);
			if (e)
				bind_fd(lc, pid, nfd, e->s, r->ts_enter);
		}
		if (e)
			e->s->calls++;
		return e ? e->s : NULL;
	}
	if (c == ST_C_EPOLL_WAIT || c == ST_C_EPOLL_PWAIT) {
		/* fd is the epoll fd; events carry the user's data, mapped back to the fd it was
		 * registered for: a non-blocking connect completes when it reports EPOLLOUT */
		struct st_tlv_view t;
		if (!ok || !st_tlv_find(r, ST_T_EPOLL, &t))
			return NULL;
		for (unsigned i = 0; i + sizeof(struct st_epollent) <= t.len; i += sizeof(struct st_epollent)) {
			struct st_epollent pe;
			struct epdata *d, probe;
			memcpy(&pe, t.p + i, sizeof(pe));
			memset(&probe, 0, sizeof(probe));
			probe.key.pid = pid;
			probe.key.epfd = r->fd;
			probe.key.data = pe.data;
			HASH_FIND(hh, lc->ep, &probe.key, sizeof(probe.key), d);
			struct fdent *pf = d ? fd_find(lc, pid, d->fd) : NULL;
			if (pf && pf->s->connecting && (pe.events & 0x4 /* EPOLLOUT */) &&
			    !(pe.events & (0x8 | 0x10) /* EPOLLERR, EPOLLHUP */)) {
				pf->s->connecting = 0;
				lc->ev |= EV_CONNECTED;
				s = pf->s;
			}
		}
		return s;
	}
	if (!e)
		s = adopt_unknown(lc, r, pid);
	else
		s = e->s;
	s->calls++;
	note_error(s, r);
	if (r->complete && r->ret < 0)
		lc->ev |= error_event(r->err);
	switch (c) {
	case ST_C_DUP:
		if (ok)
			bind_fd(lc, pid, (int)r->ret, s, r->ts_enter);
		break;
	case ST_C_FCNTL:
		if (ok && (r->a[0] == 0 /* F_DUPFD */ || r->a[0] == 1030 /* F_DUPFD_CLOEXEC */))
			bind_fd(lc, pid, (int)r->ret, s, r->ts_enter);
		break;
	case ST_C_CLOSE:
		if (r->complete)
			unbind(lc, pid, r->fd, r->ts_enter);
		break;
	case ST_C_BIND:
		set_addr(s->local, r, ST_T_LOCAL);
		break;
	case ST_C_LISTEN:
		if (ok) {
			s->listening = 1;
			lc->ev |= EV_LISTENING;
		}
		break;
	case ST_C_CONNECT:
		set_addr(s->peer, r, ST_T_ADDR);
		set_addr(s->local, r, ST_T_LOCAL);
		if (r->err == EINPROGRESS) {
			s->connecting = 1;
			lc->ev |= EV_CONNECTING;
		} else if (ok && s->type == SOCK_STREAM) {
			lc->ev |= EV_CONNECTED;
		}
		break;
	case ST_C_EPOLL_CTL: {
		struct st_tlv_view t;
		uint64_t data;
		if (ok && r->a[1] != 2 /* EPOLL_CTL_DEL */ && st_tlv_find(r, ST_T_U64, &t) && t.len == 8) {
			memcpy(&data, t.p, 8);
			struct epdata *d = st_xcalloc(1, sizeof(*d)), *old;
			d->key.pid = pid;
			d->key.epfd = (int)r->a[0];
			d->key.data = data;
			d->fd = r->fd;
			HASH_FIND(hh, lc->ep, &d->key, sizeof(d->key), old);
			if (old) {
				old->fd = r->fd;
				free(d);
			} else {
				HASH_ADD(hh, lc->ep, key, sizeof(d->key), d);
			}
		}
		break;
	}
	case ST_C_GETSOCKOPT: {
		uint64_t v;
		struct st_tlv_view t;
		if (ok && r->a[0] == SOL_SOCKET && r->a[1] == SO_ERROR && st_tlv_find(r, ST_T_U64, &t) &&
		    t.len == 8) {
			memcpy(&v, t.p, 8);
			struct st_record fake = *r;
			fake.ret = -1;
			fake.err = (int)v;
			if (v) {
				note_error(s, &fake);
				lc->ev |= error_event((int)v);
			} else if (s->connecting) {
				lc->ev |= EV_CONNECTED;
			}
			s->connecting = 0;
		}
		break;
	}
	case ST_C_SETSOCKOPT:
		if (ok && r->a[0] == SOL_SOCKET && r->a[1] == SO_LINGER)
			s->linger0 = (r->a[2] >> 32) != 0 && (uint32_t)r->a[2] == 0;
		break;
	case ST_C_SHUTDOWN:
		if (ok && (r->a[0] == SHUT_WR || r->a[0] == SHUT_RDWR)) {
			s->we_fin = 1;
			lc->ev |= EV_HALF_CLOSED;
		}
		break;
	default: {
		int64_t n;
		int dir = st_rec_bytes(r, &n);
		if (dir > 0) {
			s->bytes_out += (uint64_t)n;
			if (!s->local[0])
				set_addr(s->local, r, ST_T_LOCAL);
			if (c == ST_C_SENDTO)
				add_peer(s, r, ST_T_ADDR);
		} else if (dir < 0) {
			s->bytes_in += (uint64_t)n;
			if (n == 0 && st_call_class(c) == ST_CL_RECV && s->type == SOCK_STREAM && r->a[0] > 0) {
				if (!s->peer_fin)
					lc->ev |= EV_PEER_FIN;
				s->peer_fin = 1;
			}
			if (c == ST_C_RECVFROM || c == ST_C_RECVMSG)
				add_peer(s, r, ST_T_PEER);
		}
		break;
	}
	}
	return s;
}

void lc_finish(struct lc *lc)
{
	struct fdent *e, *tmp;
	HASH_ITER(hh, lc->fds, e, tmp) {
		struct lc_sock *s = e->s;
		if (s->end != END_NONE)
			continue;
		struct proc *p = proc_get(&lc->procs, (int)(e->key >> 32), 0);
		uint64_t ts = p && p->last_ts > s->end_ns ? p->last_ts : s->end_ns;
		end_sock(s, ts);
		/* never closed: a connection-ending error still says most; else how it stayed */
		if (s->end == END_CLOSED || s->end == END_PEER_CLOSED)
			s->end = p && p->incomplete ? END_PROCESS_DIED : END_OPEN_AT_EXIT;
	}
	for (int i = 0; i < lc->n; i++)
		if (lc->socks[i]->end == END_NONE)
			lc->socks[i]->end = END_UNKNOWN;
}

int lc_count(const struct lc *lc)
{
	return lc->n;
}

struct lc_sock *lc_get(struct lc *lc, int i)
{
	return i >= 0 && i < lc->n ? lc->socks[i] : NULL;
}

void lc_free(struct lc *lc)
{
	if (!lc)
		return;
	struct fdent *e, *tmp;
	HASH_ITER(hh, lc->fds, e, tmp) {
		HASH_DEL(lc->fds, e);
		free(e);
	}
	struct epdata *d, *dt;
	HASH_ITER(hh, lc->ep, d, dt) {
		HASH_DEL(lc->ep, d);
		free(d);
	}
	struct proc *p, *pt;
	HASH_ITER(hh, lc->procs, p, pt) {
		HASH_DEL(lc->procs, p);
		free(p->snap);
		free(p);
	}
	HASH_ITER(hh, lc->pending, p, pt) {
		HASH_DEL(lc->pending, p);
		free(p->snap);
		free(p);
	}
	for (int i = 0; i < lc->n; i++)
		free(lc->socks[i]);
	free(lc->socks);
	free(lc);
}
