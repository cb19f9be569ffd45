/* Socket lifetimes: identity is the socket, not the fd number (README "Lifecycle rules").
 * One handler per class of call (the catalogue's st_class); the fd table, the processes and
 * their fates are the state they share. */
#include "lifecycle.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <uthash.h>

#include "decode.h"
#include "xalloc.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

struct fdent {
	uint64_t key;                   /* pid << 32 | fd */
	struct lc_sock *s;
	uint64_t bound_ns;              /* when this number started to mean s */
	int cloexec;                    /* goes away at exec */
	int pending_exec;               /* set at exec until the new image reports it inherited */
	UT_hash_handle hh;
};

struct epkey { int pid, epfd; uint64_t data; };
struct epdata {                     /* epoll_ctl registrations: (pid, epfd, data) -> fd */
	struct epkey key;
	int fd;
	UT_hash_handle hh;
};

struct snapshot {                   /* a parent's fd table at fork, for the child to adopt */
	int fd, cloexec;
	struct lc_sock *s;
};

struct proc {
	int pid;
	const struct st_pinfo *image;   /* current image */
	uint64_t last_ts;
	int exited;                     /* its exit was recorded: its fds are closed */
	int in_exec_handover;           /* first records of a new image: inherited list */
	struct snapshot *snap;          /* fork snapshot to adopt, from the parent */
	int nsnap, snap_exec;           /* snap_exec: the child exec'd (posix_spawn) */
	UT_hash_handle hh;
};

#define LC_MAX_TOUCH 64

struct lc {
	struct lc_sock **socks;
	int n, cap;
	struct fdent *fds;
	struct proc *procs;
	struct proc *pending;           /* fork snapshots for children not seen yet, by pid */
	struct epdata *ep;
	struct lc_touch touch[LC_MAX_TOUCH];
	int ntouch;
	struct lc_sock *primary;        /* the socket the record is about: touch[0] after the feed */
	uint64_t t_last;                /* the latest time in the records fed */
};

/* ---------------- names ---------------- */

const char *lc_end_name(int end)
{
	static const char *const n[] = { "open", "closed", "peer_closed", "reset", "broken_pipe",
	                                  "refused", "timed_out", "open_at_exit", "process_died",
	                                  "unknown", "still_open" };
	return end >= 0 && end <= END_STILL_OPEN ? n[end] : "unknown";
}

const char *lc_role_name(int role)
{
	static const char *const n[] = { "-", "client", "server", "listener" };
	return role >= 0 && role <= ROLE_LISTENER ? n[role] : "-";
}

int lc_routine_error(int call, int err)
{
	switch (err) {
	case EAGAIN: case EINPROGRESS: case EALREADY: case EINTR:
		return 1;
	case EEXIST: case ENOENT:
		return call == ST_C_EPOLL_CTL;
	case ENOTCONN:
		return call == ST_C_GETPEERNAME || call == ST_C_SHUTDOWN;
	case ENOPROTOOPT: case EOPNOTSUPP:
		return call == ST_C_SETSOCKOPT || call == ST_C_GETSOCKOPT;
	case ENOTTY:
		return call == ST_C_IOCTL;
	}
	return 0;
}

/* ---------------- the touched sockets of one feed ---------------- */

static struct lc_touch *touch(struct lc *lc, struct lc_sock *s, int ev)
{
	if (!s)
		return NULL;
	for (int i = 0; i < lc->ntouch; i++)
		if (lc->touch[i].s == s) {
			lc->touch[i].ev |= ev;
			return &lc->touch[i];
		}
	if (lc->ntouch == LC_MAX_TOUCH)
		return NULL;
	lc->touch[lc->ntouch] = (struct lc_touch){ s, ev, 0 };
	return &lc->touch[lc->ntouch++];
}

int lc_touches(const struct lc *lc, const struct lc_touch **t)
{
	*t = lc->touch;
	return lc->ntouch;
}

int lc_events(const struct lc *lc)
{
	int ev = 0;
	for (int i = 0; i < lc->ntouch; i++)
		ev |= lc->touch[i].ev;
	return ev;
}

struct lc_sock *lc_also(const struct lc *lc)
{
	return lc->ntouch > 1 ? lc->touch[1].s : NULL;
}

/* ---------------- sockets and the fd table ---------------- */

struct lc *lc_new(void)
{
	return st_xcalloc(1, sizeof(struct lc));
}

static struct lc_sock *new_sock(struct lc *lc, const struct st_record *r, int origin, uint64_t start)
{
	ST_GROW(lc->socks, lc->n, lc->cap, 64);
	struct lc_sock *s = st_xmalloc(sizeof(*s));
	*s = (struct lc_sock){ .id = lc->n + 1, .pid = r->proc->pid, .origin = origin, .start_ns = start,
	                       .last_ns = start, .pair_id = -1, .unread = -1, .wire_out = -1, .kern_in = -1,
	                       .family = -1, .type = -1 };
	memcpy(s->comm, r->proc->comm, sizeof(s->comm));
	lc->socks[lc->n++] = s;
	return s;
}

static uint64_t fdkey(int pid, int fd)
{
	return (uint64_t)(uint32_t)pid << 32 | (uint32_t)fd;
}

static struct fdent *fd_find(struct lc *lc, int pid, int fd)
{
	uint64_t key = fdkey(pid, fd);
	struct fdent *e;
	HASH_FIND(hh, lc->fds, &key, sizeof(key), e);
	return e;
}

static void add_int(int *v, int *n, int max, int x)
{
	for (int i = 0; i < *n; i++)
		if (v[i] == x)
			return;
	if (*n < max)
		v[(*n)++] = x;
}

/* The end a socket comes to when its last fd goes: what it met decides, then how it went. */
static int end_reason(const struct lc_sock *s, int closed_by_program)
{
	if (s->reset || s->linger0)
		return END_RESET;
	if (s->epipe)
		return END_BROKEN_PIPE;
	if (s->refused)
		return END_REFUSED;
	if (s->timed_out)
		return END_TIMED_OUT;
	if (s->peer_fin)
		return END_PEER_CLOSED;
	return closed_by_program ? END_CLOSED : END_OPEN_AT_EXIT;
}

/* Drop one fd of a socket; the last one ends it. how: END_CLOSED (the program closed it) or
 * END_OPEN_AT_EXIT (its process exited). */
static void unbind(struct lc *lc, struct fdent *e, uint64_t ts, int how)
{
	struct lc_sock *s = e->s;
	if (how != END_CLOSED)      /* it was still held when its process ended */
		add_int(s->holders, &s->nholders, LC_MAX_PIDS, (int)(e->key >> 32));
	HASH_DEL(lc->fds, e);
	free(e);
	if (--s->refs > 0) {
		/* the queues seen before closing one copy (a fork server's parent) are not what
		 * the socket's real close will leave: that is told by its own sockstate */
		s->unread = -1;
		return;
	}
	s->end = end_reason(s, how == END_CLOSED);
	s->end_ns = ts;
	if (s->end_ns > s->last_ns)
		s->last_ns = ts;
	touch(lc, s, (how == END_CLOSED ? EV_CLOSED : EV_EXIT_CLOSED) | (s->linger0 ? EV_ABORTIVE : 0));
}

static void unbind_fd(struct lc *lc, int pid, int fd, uint64_t ts)
{
	struct fdent *e = fd_find(lc, pid, fd);
	if (e)
		unbind(lc, e, ts, END_CLOSED);
}

static struct fdent *bind_fd(struct lc *lc, int pid, int fd, struct lc_sock *s, uint64_t ts)
{
	unbind_fd(lc, pid, fd, ts);     /* a number reused without a close we saw */
	struct fdent *e = st_xcalloc(1, sizeof(*e));
	e->key = fdkey(pid, fd);
	e->s = s;
	e->bound_ns = ts;
	HASH_ADD(hh, lc->fds, key, sizeof(e->key), e);
	if (s->refs++ == 0 && s->end != END_NONE) {
		s->end = END_NONE;      /* revived: a fork child adopted it after the parent closed */
		s->end_ns = 0;
	}
	add_int(s->pids, &s->npids, LC_MAX_PIDS, pid);
	if (pid == s->pid)
		add_int(s->fds, &s->nfds, LC_MAX_FDS, fd);
	if (fd >= 0 && fd <= 2)
		s->stdio = 1;
	return e;
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

/* An address from the record, unless it would replace a specific one with the wildcard of
 * the same port (getsockname after connect(AF_UNSPEC) or a failed connect: 0.0.0.0:37154
 * where 127.0.0.1:37154 was known). */
static void set_addr(char *dst, const struct st_record *r, int type)
{
	struct st_tlv_view t;
	char a[128];
	if (!st_tlv_find(r, type, &t))
		return;
	st_fmt_addr(t.p, t.len, a, sizeof(a));
	const char *port = strrchr(a, ':'), *had = dst[0] ? strrchr(dst, ':') : NULL;
	if (had && port && (!strncmp(a, "0.0.0.0:", 8) || !strncmp(a, "[::]:", 5)) && !strcmp(port, had))
		return;
	memcpy(dst, a, sizeof(a));
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
	else
		s->more_peers++;
}

static int note_error(struct lc_sock *s, int call, int err)
{
	if (!err || lc_routine_error(call, err))
		return 0;
	if (s->nerrors < LC_MAX_ERR) {
		s->errors[s->nerrors].call = (uint16_t)call;
		s->errors[s->nerrors].err = (int16_t)err;
		s->nerrors++;
	} else {
		s->more_errors++;
	}
	switch (err) {
	case ECONNRESET: s->reset = 1; return EV_RESET;
	case EPIPE: s->epipe = 1; return EV_EPIPE;
	case ECONNREFUSED: s->refused = 1; return EV_REFUSED;
	case ETIMEDOUT: s->timed_out = 1; return EV_TIMED_OUT;
	}
	return 0;
}

static int peer_fin(struct lc_sock *s, int how, uint64_t ts)
{
	if (s->peer_fin || s->type != SOCK_STREAM)
		return 0;
	s->peer_fin = how;
	s->peer_fin_ns = ts;
	return EV_PEER_FIN;
}

/* ---------------- processes: fork, exec, exit ---------------- */

static void snapshot(struct lc *lc, int pid, int child, int exec)
{
	struct proc *pend = proc_get(&lc->pending, child, 1);
	pend->snap_exec = exec;
	struct fdent *e, *tmp;
	HASH_ITER(hh, lc->fds, e, tmp) {
		if ((int)(e->key >> 32) != pid || (exec && e->cloexec))
			continue;
		pend->snap = st_xrealloc(pend->snap, (size_t)(pend->nsnap + 1) * sizeof(*pend->snap));
		pend->snap[pend->nsnap++] = (struct snapshot){ (int)(uint32_t)e->key, e->cloexec, e->s };
	}
	/* the child's epoll instances are its parent's: the same registrations */
	struct epdata *d, *dt;
	HASH_ITER(hh, lc->ep, d, dt) {
		if (d->key.pid != pid)
			continue;
		struct epdata *c = st_xcalloc(1, sizeof(*c)), *old;
		*c = (struct epdata){ .key = d->key, .fd = d->fd };
		c->key.pid = child;
		HASH_FIND(hh, lc->ep, &c->key, sizeof(c->key), old);
		if (old) {
			old->fd = d->fd;
			free(c);
		} else {
			HASH_ADD(hh, lc->ep, key, sizeof(c->key), c);
		}
	}
}

/* The child takes its parent's sockets; after an exec only until it reports what it has. */
static void adopt(struct lc *lc, struct proc *p, struct proc *pend, int exec, uint64_t ts)
{
	for (int i = 0; i < pend->nsnap; i++) {
		struct fdent *e = bind_fd(lc, p->pid, pend->snap[i].fd, pend->snap[i].s, ts);
		e->cloexec = pend->snap[i].cloexec;
		e->pending_exec = exec;
	}
	p->in_exec_handover |= exec;
	HASH_DEL(lc->pending, pend);
	free(pend->snap);
	free(pend);
}

/* An exec: close-on-exec fds go now; the rest wait for the new image's inherited list. */
static void exec_fds(struct lc *lc, int pid, uint64_t ts)
{
	struct fdent *e, *tmp;
	HASH_ITER(hh, lc->fds, e, tmp) {
		if ((int)(e->key >> 32) != pid)
			continue;
		if (e->cloexec)
			unbind(lc, e, ts, END_CLOSED);
		else
			e->pending_exec = 1;
	}
}

static void exit_fds(struct lc *lc, int pid, uint64_t ts)
{
	struct fdent *e, *tmp;
	HASH_ITER(hh, lc->fds, e, tmp)
		if ((int)(e->key >> 32) == pid)
			unbind(lc, e, ts, END_OPEN_AT_EXIT);
}

static void end_handover(struct lc *lc, struct proc *p, uint64_t ts)
{
	struct fdent *e, *tmp;
	HASH_ITER(hh, lc->fds, e, tmp)
		if ((int)(e->key >> 32) == p->pid && e->pending_exec)
			unbind(lc, e, ts, END_CLOSED);   /* not there after the exec */
	p->in_exec_handover = 0;
}

/* The first record of a process or of a new image of one. */
static struct proc *enter_proc(struct lc *lc, const struct st_record *r)
{
	int pid = r->proc->pid;
	struct proc *p = proc_get(&lc->procs, pid, 0);
	if (!p || p->exited) {
		if (!p)
			p = proc_get(&lc->procs, pid, 1);
		p->exited = 0;      /* (a pid used again) */
		p->image = r->proc;
		struct proc *pend = proc_get(&lc->pending, pid, 0);
		if (pend)           /* an image made by exec reports what it inherited */
			adopt(lc, p, pend, pend->snap_exec || !(r->proc->flags & ST_PF_FORK), r->ts_enter);
	} else if (p->image != r->proc) {
		p->image = r->proc;         /* a new image (exec) */
		exec_fds(lc, pid, r->ts_enter);
		p->in_exec_handover = 1;
	}
	if (p->in_exec_handover && r->call != ST_C_INHERITED && r->call != ST_C_SIGACTION &&
	    r->call != ST_C_SIGNAL)
		end_handover(lc, p, r->ts_enter);
	return p;
}

/* The child's first image in the trace, if it has one. */
static const struct st_pinfo *child_image(const struct st_record *r, int child)
{
	const struct st_file *f = r->proc->file;
	const struct st_pinfo *best = NULL;
	for (int i = 0; f && i < f->nprocs; i++) {
		const struct st_pinfo *c = f->procs[i];
		if (c->pid == child && c->ppid == r->proc->pid && c->t_start >= r->ts_enter &&
		    (!best || c->t_start < best->t_start))
			best = c;
	}
	return best;
}

/* A child the trace holds takes its parent's sockets at the fork itself (its first record
 * may come after the parent closed its copies); one that never made a socket call takes
 * them at its first record, if ever. */
static void adopt_now(struct lc *lc, const struct st_record *r, int child)
{
	const struct st_pinfo *img = child_image(r, child);
	struct proc *pend = proc_get(&lc->pending, child, 0);
	if (!img || !pend)
		return;
	struct proc *c = proc_get(&lc->procs, child, 1);
	c->exited = 0;
	c->image = img;
	adopt(lc, c, pend, pend->snap_exec || !(img->flags & ST_PF_FORK), r->ts_enter);
}

static void h_process(struct lc *lc, const struct st_record *r, struct proc *p)
{
	int pid = p->pid;
	int64_t child = r->ret;
	switch (r->call) {
	case ST_C_FORK: case ST_C_VFORK: case ST_C_POSIX_SPAWN:
		if (!r->complete || r->ret < 0)
			return;
		if (r->call == ST_C_POSIX_SPAWN) {
			struct st_tlv_view t;
			uint64_t v = 0;
			if (r->ret != 0 || !st_tlv_find(r, ST_T_U64, &t) || t.len != 8)
				return;
			memcpy(&v, t.p, 8);
			child = (int64_t)v;
		}
		if (child > 0) {
			snapshot(lc, pid, (int)child, r->call == ST_C_POSIX_SPAWN);
			adopt_now(lc, r, (int)child);
		}
		return;
	case ST_C_EXEC:
		if (!r->complete)           /* it worked: the image is replaced */
			exec_fds(lc, pid, r->ts_enter);
		return;
	case ST_C_EXIT:
		exit_fds(lc, pid, r->ts_enter);
		p->exited = 1;
		return;
	}
}

/* ---------------- the handlers, one per class of call ---------------- */

struct ctx {
	struct lc *lc;
	const struct st_record *r;
	struct proc *p;
	int pid, ok;                    /* ok: it completed without an error */
	uint64_t t;                     /* when its effect happened: its completion */
};

static void h_create(struct ctx *x)
{
	const struct st_record *r = x->r;
	if (!x->ok)
		return;
	int cloexec = (r->a[1] & SOCK_CLOEXEC) != 0;
	if (r->call == ST_C_SOCKET) {
		struct lc_sock *s = new_sock(x->lc, r, ST_OR_SOCKET, x->t);
		x->lc->primary = s;
		s->family = (int)r->a[0];
		s->type = (int)(r->a[1] & 0xff);
		bind_fd(x->lc, x->pid, (int)r->ret, s, x->t)->cloexec = cloexec;
		s->calls++;
		touch(x->lc, s, 0);
		return;
	}
	struct st_tlv_view t;
	if (!st_tlv_find(r, ST_T_FDS, &t) || t.len < 8)
		return;
	int32_t fds[2];
	memcpy(fds, t.p, 8);
	struct lc_sock *a = new_sock(x->lc, r, ST_OR_SOCKETPAIR, x->t);
	struct lc_sock *b = new_sock(x->lc, r, ST_OR_SOCKETPAIR, x->t);
	a->family = b->family = (int)r->a[0];
	a->type = b->type = (int)(r->a[1] & 0xff);
	a->pair_id = b->id;
	b->pair_id = a->id;
	x->lc->primary = a;
	bind_fd(x->lc, x->pid, fds[0], a, x->t)->cloexec = cloexec;
	bind_fd(x->lc, x->pid, fds[1], b, x->t)->cloexec = cloexec;
	a->calls++;
	b->calls++;
	touch(x->lc, a, 0);
	touch(x->lc, b, 0);
}

/* An open socket this process found (inherited, unseen) before, with that inode. */
static struct lc_sock *found_before(struct ctx *x, uint64_t ino)
{
	for (int i = x->lc->n - 1; i >= 0 && i >= x->lc->n - 4096; i--) {
		struct lc_sock *s = x->lc->socks[i];
		if (s->inode == ino && s->end == END_NONE && s->pid == x->pid)
			return s;
	}
	return NULL;
}

/* A socket met open: inherited at start, or found where the tracer could not see it made.
 * When the process already has a socket on that number (across exec, or from its parent)
 * it is the same socket. */
static void h_found(struct ctx *x)
{
	const struct st_record *r = x->r;
	struct fdent *e = fd_find(x->lc, x->pid, r->fd);
	if (e && (e->s->family < 0 || e->s->family == (int)r->a[0])) {
		e->pending_exec = 0;
		if (!e->s->local[0])
			set_addr(e->s->local, r, ST_T_LOCAL);
		if (!e->s->peer[0])
			set_addr(e->s->peer, r, ST_T_PEER);
		e->s->handed_off = 1;
		x->lc->primary = e->s;
		touch(x->lc, e->s, 0);
		return;
	}
	uint64_t ino = st_found_inode(r);
	struct lc_sock *same = ino ? found_before(x, ino) : NULL;
	if (same) {                 /* the same socket under another number (inetd's 0 and 1) */
		bind_fd(x->lc, x->pid, r->fd, same, r->ts_enter);
		x->lc->primary = same;
		touch(x->lc, same, 0);
		return;
	}
	struct lc_sock *s = new_sock(x->lc, r, r->call == ST_C_INHERITED ? ST_OR_INHERITED : ST_OR_UNSEEN,
	                             r->ts_enter);
	x->lc->primary = s;
	s->inode = ino;
	s->family = (int)r->a[0];
	s->type = (int)r->a[1];
	set_addr(s->local, r, ST_T_LOCAL);
	set_addr(s->peer, r, ST_T_PEER);
	bind_fd(x->lc, x->pid, r->fd, s, r->ts_enter);
	touch(x->lc, s, 0);
}

/* A socket for a call on an fd we have no lifetime for: its birth was overwritten by the
 * ring wrapping, or happened where the tracer could not see it. */
static struct lc_sock *adopt_unknown(struct ctx *x)
{
	const struct st_record *r = x->r;
	struct lc_sock *s = new_sock(x->lc, r, ST_OR_WRAPPED, r->ts_enter);
	struct st_sock e;
	if (st_sock_lookup(r->proc, r->fd, &e) && e.birth <= r->ticket) {
		s->family = e.domain;
		s->type = e.type;
		if (e.local.len && e.local.len <= sizeof(e.local.raw))
			st_fmt_addr(e.local.raw, e.local.len, s->local, sizeof(s->local));
		if (e.peer.len && e.peer.len <= sizeof(e.peer.raw))
			st_fmt_addr(e.peer.raw, e.peer.len, s->peer, sizeof(s->peer));
	}
	bind_fd(x->lc, x->pid, r->fd, s, r->ts_enter);
	return s;
}

/* The socket the record's fd means, made up when its birth is not in the trace. */
static struct lc_sock *sock_of(struct ctx *x)
{
	struct fdent *e = fd_find(x->lc, x->pid, x->r->fd);
	if (e)
		return e->s;
	const struct st_record *r = x->r;
	if (r->complete && r->ret < 0 && (r->err == EBADF || r->err == ENOTSOCK))
		return NULL;    /* a call on no socket at all: nothing to make up */
	return adopt_unknown(x);
}

/* Count the call and its error; the touch of the socket it is about. */
static struct lc_touch *on_sock(struct ctx *x, struct lc_sock *s)
{
	const struct st_record *r = x->r;
	s->calls++;
	if (x->t > s->last_ns)
		s->last_ns = x->t;
	if (!x->lc->primary)
		x->lc->primary = s;
	int ev = r->complete && r->ret < 0 ? note_error(s, r->call, r->err) : 0;
	return touch(x->lc, s, ev);
}

static void h_accept(struct ctx *x)
{
	const struct st_record *r = x->r;
	struct fdent *le = fd_find(x->lc, x->pid, r->fd);
	struct lc_sock *l = le ? le->s : NULL;
	if (!x->ok) {
		if (l)
			on_sock(x, l);
		return;
	}
	struct lc_sock *s = new_sock(x->lc, r, ST_OR_ACCEPT, x->t);
	if (l) {
		s->family = l->family;
		s->type = l->type;
	}
	s->role = ROLE_SERVER;
	x->lc->primary = s;
	set_addr(s->local, r, ST_T_LOCAL);
	set_addr(s->peer, r, ST_T_PEER);
	int cloexec = r->call == ST_C_ACCEPT4 && (r->a[0] & SOCK_CLOEXEC);
	bind_fd(x->lc, x->pid, (int)r->ret, s, x->t)->cloexec = cloexec;
	s->calls++;
	touch(x->lc, s, EV_ACCEPTED);
	if (l) {
		on_sock(x, l);
		if (l->role == ROLE_NONE)
			l->role = ROLE_LISTENER;
	}
}

static void h_name(struct ctx *x, struct lc_sock *s)
{
	struct lc_touch *t = on_sock(x, s);
	if (x->r->call == ST_C_BIND) {
		set_addr(s->local, x->r, ST_T_LOCAL);
	} else if (x->ok) {
		s->listening = 1;
		s->role = ROLE_LISTENER;
		if (t)
			t->ev |= EV_LISTENING;
	}
}

static void h_connect(struct ctx *x, struct lc_sock *s)
{
	const struct st_record *r = x->r;
	struct lc_touch *t = on_sock(x, s);
	set_addr(s->peer, r, ST_T_ADDR);
	set_addr(s->local, r, ST_T_LOCAL);
	if (s->role == ROLE_NONE && s->type == SOCK_STREAM)
		s->role = ROLE_CLIENT;
	if (r->complete && r->ret < 0 && r->err == EINPROGRESS) {
		s->connecting = 1;
		if (t)
			t->ev |= EV_CONNECTING;
	} else if (x->ok && s->type == SOCK_STREAM && t) {
		t->ev |= EV_CONNECTED;
	}
}

static void h_io(struct ctx *x, struct lc_sock *s)
{
	const struct st_record *r = x->r;
	struct lc_touch *t = on_sock(x, s);
	int64_t n;
	int dir = st_rec_bytes(r, &n);
	if (dir > 0) {
		s->bytes_out += (uint64_t)n;
		if (!s->local[0])
			set_addr(s->local, r, ST_T_LOCAL);
		if (r->call == ST_C_SENDTO)
			add_peer(s, r, ST_T_ADDR);
	} else if (dir < 0) {
		s->bytes_in += (uint64_t)n;
		if (n > 0)
			s->unread = -1;     /* a sockstate's queue is stale once read from */
		if (n == 0 && st_call_class(r->call) == ST_CL_RECV && r->a[0] > 0 && t)
			t->ev |= peer_fin(s, FIN_READ0, x->t);
		if (r->call == ST_C_RECVFROM || r->call == ST_C_RECVMSG)
			add_peer(s, r, ST_T_PEER);
	}
}

static void h_shutdown(struct ctx *x, struct lc_sock *s)
{
	struct lc_touch *t = on_sock(x, s);
	/* (a listener, or a datagram socket, sends no FIN: shutdown only wakes its waiters) */
	if (x->ok && (x->r->a[0] == SHUT_WR || x->r->a[0] == SHUT_RDWR) && !s->listening &&
	    s->type != SOCK_DGRAM) {
		s->we_fin = 1;
		if (t)
			t->ev |= EV_HALF_CLOSED;
	}
}

static void h_close(struct ctx *x)
{
	const struct st_record *r = x->r;
	struct fdent *e = fd_find(x->lc, x->pid, r->fd);
	if (e && e->bound_ns > r->ts_enter && e->bound_ns < x->t)
		return;         /* the number was freed, then taken by a call that finished first:
		                 * this close was about the socket it meant before */
	struct lc_sock *s = e ? e->s : sock_of(x);
	if (!s)
		return;
	on_sock(x, s);
	if (r->complete)    /* (even when it failed with EINTR the fd is gone) */
		unbind_fd(x->lc, x->pid, r->fd, x->t);
}

static void h_closemany(struct ctx *x)
{
	const struct st_record *r = x->r;
	struct st_tlv_view t;
	if (!x->ok || !st_tlv_find(r, ST_T_FDS, &t))
		return;
	int cloexec_only = r->call == ST_C_CLOSE_RANGE && (r->a[2] & CLOSE_RANGE_CLOEXEC);
	for (unsigned i = 0; i + 4 <= t.len; i += 4) {
		int32_t fd;
		memcpy(&fd, t.p + i, 4);
		struct fdent *e = fd_find(x->lc, x->pid, fd);
		if (!e)
			continue;
		if (cloexec_only) {
			e->cloexec = 1;
		} else {
			e->s->calls++;
			unbind(x->lc, e, x->t, END_CLOSED);
		}
	}
}

/* dup, dup2, dup3. The old fd need not be a socket: dup2 of a file onto a socket's number
 * is recorded for the socket it closes. */
static void h_alias(struct ctx *x)
{
	const struct st_record *r = x->r;
	struct fdent *se = fd_find(x->lc, x->pid, r->fd);
	struct lc_sock *s = se ? se->s : NULL;
	if (!s && r->call == ST_C_DUP)
		s = sock_of(x);
	if (s)
		on_sock(x, s);
	if (!x->ok)
		return;
	if (r->call == ST_C_DUP) {
		bind_fd(x->lc, x->pid, (int)r->ret, s, x->t);
		return;
	}
	int nfd = (int)r->a[0];
	if (nfd == r->fd)
		return;
	struct fdent *victim = fd_find(x->lc, x->pid, nfd);
	if (victim && victim->s != s) {     /* dup2 onto a socket's number closes that socket */
		victim->s->calls++;
		touch(x->lc, victim->s, 0);
	}
	if (!s) {
		unbind_fd(x->lc, x->pid, nfd, x->t);
		return;
	}
	struct fdent *e = bind_fd(x->lc, x->pid, nfd, s, x->t);
	e->cloexec = r->call == ST_C_DUP3 && (r->a[1] & O_CLOEXEC);
}

static void h_control(struct ctx *x, struct lc_sock *s)
{
	const struct st_record *r = x->r;
	on_sock(x, s);
	if (!x->ok || r->call != ST_C_FCNTL)
		return;
	if (r->a[0] == F_DUPFD || r->a[0] == F_DUPFD_CLOEXEC) {
		bind_fd(x->lc, x->pid, (int)r->ret, s, x->t)->cloexec = r->a[0] == F_DUPFD_CLOEXEC;
	} else if (r->a[0] == F_SETFD) {
		struct fdent *e = fd_find(x->lc, x->pid, r->fd);
		if (e)
			e->cloexec = (r->a[1] & FD_CLOEXEC) != 0;
	}
}

static void h_sockopt(struct ctx *x, struct lc_sock *s)
{
	const struct st_record *r = x->r;
	struct lc_touch *t = on_sock(x, s);
	if (!x->ok || r->a[0] != SOL_SOCKET)
		return;
	if (r->call == ST_C_SETSOCKOPT && r->a[1] == SO_LINGER) {
		/* a2: l_onoff << 32 | l_linger */
		s->linger0 = (r->a[2] >> 32) != 0 && (uint32_t)r->a[2] == 0;
		return;
	}
	int v = st_so_error(r);     /* how a non-blocking connect ended, or an error pending */
	if (v < 0)
		return;
	if (v) {
		int ev = note_error(s, s->connecting ? ST_C_CONNECT : ST_C_GETSOCKOPT, v);
		if (t)
			t->ev |= ev;
	} else if (s->connecting && t) {
		t->ev |= EV_CONNECTED;
	}
	s->connecting = 0;
}

static void h_address(struct ctx *x, struct lc_sock *s)
{
	on_sock(x, s);
	if (!x->ok)
		return;
	if (x->r->call == ST_C_GETSOCKNAME)
		set_addr(s->local, x->r, ST_T_LOCAL);
	else
		set_addr(s->peer, x->r, ST_T_PEER);
}

static void h_epollctl(struct ctx *x, struct lc_sock *s)
{
	const struct st_record *r = x->r;
	on_sock(x, s);
	struct st_tlv_view t;
	uint64_t data;
	if (!x->ok || r->a[1] == EPOLL_CTL_DEL || !st_tlv_find(r, ST_T_U64, &t) || t.len != 8)
		return;
	memcpy(&data, t.p, 8);
	struct epdata *d = st_xcalloc(1, sizeof(*d)), *old;
	d->key.pid = x->pid;
	d->key.epfd = (int)r->a[0];
	d->key.data = data;
	d->fd = r->fd;
	HASH_FIND(hh, x->lc->ep, &d->key, sizeof(d->key), old);
	if (old) {
		old->fd = r->fd;
		free(d);
	} else {
		HASH_ADD(hh, x->lc->ep, key, sizeof(d->key), d);
	}
}

/* What a readiness report means for a socket: a non-blocking connect done, the peer's FIN,
 * a hang-up, an error. rev in poll bits. */
static void ready(struct ctx *x, int fd, uint32_t rev)
{
	struct fdent *e = fd_find(x->lc, x->pid, fd);
	if (!e || !rev)
		return;
	struct lc_sock *s = e->s;
	int ev = EV_READY;
	if (s->connecting && (rev & POLLOUT) && !(rev & (POLLERR | POLLHUP))) {
		s->connecting = 0;
		ev |= EV_CONNECTED;
	}
	/* with an error pending (a reset, mostly) a hang-up is no FIN: what it was shows when
	 * the program reads the error (SO_ERROR, or a failing call) */
	int failed = (rev & POLLERR) && s->type == SOCK_STREAM;
	if ((rev & POLLRDHUP) && !failed)
		ev |= peer_fin(s, FIN_RDHUP, x->t);
	if (rev & POLLHUP)
		ev |= (failed ? 0 : peer_fin(s, FIN_HUP, x->t)) | EV_HANGUP;
	if ((rev & POLLERR) && !s->connecting)
		ev |= EV_SOCK_ERROR;
	if (x->t > s->last_ns)
		s->last_ns = x->t;
	struct lc_touch *t = touch(x->lc, s, ev);
	if (t)
		t->revents |= rev;
}

static void h_wait(struct ctx *x)
{
	const struct st_record *r = x->r;
	struct st_tlv_view t;
	if (!x->ok || r->ret <= 0)
		return;
	if (st_tlv_find(r, ST_T_POLL, &t)) {
		for (unsigned i = 0; i + sizeof(struct st_pollent) <= t.len; i += sizeof(struct st_pollent)) {
			struct st_pollent pe;
			memcpy(&pe, t.p + i, sizeof(pe));
			ready(x, pe.fd, pe.revents);
		}
		return;
	}
	if (!st_tlv_find(r, ST_T_EPOLL, &t))
		return;
	/* events carry the registration's data: mapped back to the fd it was given for */
	for (unsigned i = 0; i + sizeof(struct st_epollent) <= t.len; i += sizeof(struct st_epollent)) {
		struct st_epollent pe;
		struct epdata *d;
		struct epkey k;
		memcpy(&pe, t.p + i, sizeof(pe));
		memset(&k, 0, sizeof(k));
		k.pid = x->pid;
		k.epfd = r->fd;
		k.data = pe.data;
		HASH_FIND(hh, x->lc->ep, &k, sizeof(k), d);
		if (d)      /* EPOLLIN, OUT, ERR, HUP, RDHUP have poll's values */
			ready(x, d->fd, pe.events & (POLLIN | POLLPRI | POLLOUT | POLLERR | POLLHUP | POLLRDHUP));
	}
}

struct lc_sock *lc_feed(struct lc *lc, const struct st_record *r)
{
	lc->ntouch = 0;
	lc->primary = NULL;
	uint64_t te = r->complete && r->ts_exit > r->ts_enter ? r->ts_exit : r->ts_enter;
	if (te > lc->t_last)
		lc->t_last = te;
	struct proc *p = enter_proc(lc, r);
	if (r->ts_enter > p->last_ts)
		p->last_ts = r->ts_enter;
	struct ctx x = { lc, r, p, p->pid, r->complete && r->ret >= 0,
	                 r->complete && r->ts_exit >= r->ts_enter ? r->ts_exit : r->ts_enter };
	int cls = st_call_class(r->call);
	switch (cls) {
	case ST_CL_CREATE: h_create(&x); break;
	case ST_CL_FOUND: h_found(&x); break;
	case ST_CL_ACCEPT: h_accept(&x); break;
	case ST_CL_CLOSE: h_close(&x); break;
	case ST_CL_CLOSEMANY: h_closemany(&x); break;
	case ST_CL_WAIT: h_wait(&x); break;
	case ST_CL_ALIAS: h_alias(&x); break;
	case ST_CL_PROCESS: h_process(lc, r, p); break;
	case ST_CL_SIGNAL: case ST_CL_RESOLVE: break;
	case ST_CL_STATE: {     /* the kernel's queues: shown with the socket, not a call of it */
		struct fdent *e = r->fd >= 0 ? fd_find(lc, p->pid, r->fd) : NULL;
		if (e) {
			struct lc_sock *s = e->s;
			lc->primary = s;
			/* a TCP state past the peer's FIN: it came, though the program never read the
			 * end of stream (nor was told by a wait). Only from the last holder: a fork
			 * server's parent closing its copy is not where the connection ends */
			int st = (int)r->a[2];
			int fin = s->type == SOCK_STREAM && s->refs == 1 && (st == TCP_CLOSE_WAIT || st == TCP_LAST_ACK ||
			          st == TCP_CLOSING || st == TCP_TIME_WAIT) ? peer_fin(s, FIN_STATE, x.t) : 0;
			touch(lc, s, fin);
			s->unread = (int64_t)(uint32_t)r->a[0];
			struct st_tcpbytes tb;
			if (st_tcpbytes(r, &tb))
				s->kern_in = (int64_t)tb.received;
			if (r->a[2] == TCP_CLOSE && st_tcpbytes(r, &tb) && tb.sent >= tb.retrans)
				s->wire_out = (int64_t)(tb.sent - tb.retrans);
			/* what a socket whose birth was overwritten was: its addresses, TCP if it has a
			 * TCP state */
			if (!s->local[0])
				set_addr(s->local, r, ST_T_LOCAL);
			if (!s->peer[0])
				set_addr(s->peer, r, ST_T_PEER);
			if (s->type < 0 && r->a[2])
				s->type = SOCK_STREAM;
			if (s->family < 0 && s->local[0])
				s->family = s->local[0] == '[' ? AF_INET6 : s->local[0] == '/' || s->local[0] == '@' ? AF_UNIX : AF_INET;
		}
		break;
	}
	default: {
		struct lc_sock *s = r->fd >= 0 ? sock_of(&x) : NULL;
		if (!s)
			break;
		switch (cls) {
		case ST_CL_NAME: h_name(&x, s); break;
		case ST_CL_CONNECT: h_connect(&x, s); break;
		case ST_CL_SHUTDOWN: h_shutdown(&x, s); break;
		case ST_CL_CONTROL: h_control(&x, s); break;
		case ST_CL_SOCKOPT: h_sockopt(&x, s); break;
		case ST_CL_ADDRESS: h_address(&x, s); break;
		case ST_CL_EPOLLCTL: h_epollctl(&x, s); break;
		default: h_io(&x, s); break;    /* send, receive, splice and their many forms */
		}
	}
	}
	if (lc->primary)        /* first in the list */
		for (int i = 1; i < lc->ntouch; i++)
			if (lc->touch[i].s == lc->primary) {
				struct lc_touch t = lc->touch[i];
				memmove(&lc->touch[1], &lc->touch[0], (size_t)i * sizeof(t));
				lc->touch[0] = t;
				break;
			}
	return lc->ntouch ? lc->touch[0].s : NULL;
}

/* ---------------- the end ---------------- */

enum fate { FATE_EXITED, FATE_KILLED, FATE_RUNNING };

static int fate_of(const struct proc *p)
{
	const struct st_pinfo *img = p ? p->image : NULL;
	if (!img)
		return FATE_EXITED;
	if (img->running)
		return FATE_RUNNING;
	if (img->state == ST_PS_EXITED || img->state == ST_PS_EXECED)
		return FATE_EXITED;     /* (exec'd into a program the trace does not follow) */
	return FATE_KILLED;
}

void lc_finish(struct lc *lc)
{
	lc->ntouch = 0;
	struct fdent *e, *tmp;
	HASH_ITER(hh, lc->fds, e, tmp) {
		struct lc_sock *s = e->s;
		struct proc *p = proc_get(&lc->procs, (int)(e->key >> 32), 0);
		add_int(s->holders, &s->nholders, LC_MAX_PIDS, (int)(e->key >> 32));
		int fate = fate_of(p);
		int end = fate == FATE_RUNNING ? END_STILL_OPEN : fate == FATE_KILLED ? END_PROCESS_DIED
		          : end_reason(s, 0);
		/* the strongest holder decides: still running, then killed, then exited */
		if (s->end == END_NONE || end == END_STILL_OPEN ||
		    (end == END_PROCESS_DIED && s->end != END_STILL_OPEN)) {
			s->end = end;
			/* still open or killed: as far as the trace goes (when it died is not known) */
			uint64_t ts = p && p->image && p->image->t_end ? p->image->t_end
			              : fate != FATE_EXITED ? lc->t_last
			              : p && p->last_ts > s->last_ns ? p->last_ts : s->last_ns;
			s->end_ns = ts;
		}
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

static void free_procs(struct proc **tab)
{
	struct proc *p, *pt;
	HASH_ITER(hh, *tab, p, pt) {
		HASH_DEL(*tab, p);
		free(p->snap);
		free(p);
	}
}

void lc_free(struct lc *lc)
{
	if (!lc)
		return;
	ST_HASH_FREE(lc->fds);
	ST_HASH_FREE(lc->ep);
	free_procs(&lc->procs);
	free_procs(&lc->pending);
	for (int i = 0; i < lc->n; i++)
		free(lc->socks[i]);
	free(lc->socks);
	free(lc);
}
