/* Unit tests for the lifecycle rules (viewer/lifecycle.c) on synthetic records. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lifecycle.h"
#include "reader.h"
#include "unit.h"

static uint64_t now = 1000;


static struct st_pinfo *proc(int pid, int ppid, int fork_child)
{
	struct st_pinfo *f = calloc(1, sizeof(*f));
	f->id = (uint32_t)pid;
	f->pid = pid;
	f->ppid = ppid;
	f->flags = fork_child ? ST_PF_FORK : 0;
	f->state = ST_PS_LIVE;
	snprintf(f->comm, sizeof(f->comm), "p%d", pid);
	return f;
}

static struct st_record R;

static struct lc_sock *feed(struct lc *lc, struct st_pinfo *f, int call, int fd, long ret, int err,
                            uint64_t a0, uint64_t a1, uint64_t a2)
{
	memset(&R, 0, offsetof(struct st_record, blob));
	R.proc = f;
	R.ts_enter = now++;
	R.ts_exit = now++;
	R.call = (uint16_t)call;
	R.fd = fd;
	R.ret = ret;
	R.err = err;
	R.a[0] = a0;
	R.a[1] = a1;
	R.a[2] = a2;
	R.complete = 1;
	return lc_feed(lc, &R);
}

static void put_fds(int a, int b)
{
	struct st_tlv_hdr h = { ST_T_FDS, 0, 8 };
	int32_t v[2] = { a, b };
	memcpy(R.blob, &h, 4);
	memcpy(R.blob + 4, v, 8);
	R.blob_len = 12;
}

static struct lc_sock *sock(struct lc *lc, struct st_pinfo *f, int fd)
{
	return feed(lc, f, ST_C_SOCKET, -1, fd, 0, AF_INET, SOCK_STREAM, 0);
}

static struct st_pinfo *p, *c;

/* the two processes the cases use: 100 and its fork child 200 */
__attribute__((constructor(200))) static void procs(void)
{
	p = proc(100, 1, 0);
	c = proc(200, 100, 1);
}

/* a number reused after close is a new lifetime */
TEST(fd_reuse_is_a_new_lifetime)
{
	struct lc *lc = lc_new();
	struct lc_sock *a = sock(lc, p, 3);
	feed(lc, p, ST_C_CLOSE, 3, 0, 0, 0, 0, 0);
	struct lc_sock *b = sock(lc, p, 3);
	CHECK(a != b && a->end == END_CLOSED && b->end == END_NONE, "fd reuse");
	lc_finish(lc);
	CHECK(b->end == END_OPEN_AT_EXIT, "open at exit: %s", lc_end_name(b->end));
	lc_free(lc);
}

/* dup adds an alias; the socket ends with its last fd */
TEST(dup_alias_ends_with_last_fd)
{
	struct lc *lc = lc_new();
	struct lc_sock *a = sock(lc, p, 3);
	feed(lc, p, ST_C_DUP, 3, 4, 0, 0, 0, 0);
	feed(lc, p, ST_C_CLOSE, 3, 0, 0, 0, 0, 0);
	CHECK(a->end == END_NONE, "alive while fd 4 is open");
	feed(lc, p, ST_C_CLOSE, 4, 0, 0, 0, 0, 0);
	CHECK(a->end == END_CLOSED && a->nfds == 2 && a->fds[1] == 4, "dup alias");
	lc_free(lc);
}

/* dup2 onto a socket's number closes that socket */
TEST(dup2_over_a_socket_closes_it)
{
	struct lc *lc = lc_new();
	struct lc_sock *a = sock(lc, p, 3), *b = sock(lc, p, 4);
	feed(lc, p, ST_C_DUP2, 3, 4, 0, 4, 0, 0);
	CHECK(b->end == END_CLOSED && a->end == END_NONE && a->nfds == 2, "dup2 over a socket");
	lc_free(lc);
}

/* fork: the child's references keep the parent's socket alive, and the other way */
TEST(fork_references_keep_a_socket)
{
	struct lc *lc = lc_new();
	struct lc_sock *l = sock(lc, p, 3);
	feed(lc, p, ST_C_FORK, -1, 200, 0, 0, 0, 0);
	feed(lc, c, ST_C_CLOSE, 3, 0, 0, 0, 0, 0);
	CHECK(l->end == END_NONE, "child closing its copy does not end the listener");
	feed(lc, p, ST_C_CLOSE, 3, 0, 0, 0, 0, 0);
	CHECK(l->end == END_CLOSED && l->npids == 2, "ended with the last reference");
	lc_free(lc);
}

/* the parent closes first, then the child adopts its snapshot: still one lifetime */
TEST(child_adopts_fork_snapshot)
{
	struct lc *lc = lc_new();
	struct lc_sock *a = sock(lc, p, 5);
	feed(lc, p, ST_C_FORK, -1, 200, 0, 0, 0, 0);
	feed(lc, p, ST_C_CLOSE, 5, 0, 0, 0, 0, 0);
	struct lc_sock *x = feed(lc, c, ST_C_SEND, 5, 10, 0, 10, 0, 0);
	CHECK(x == a && a->end == END_NONE && a->bytes_out == 10, "child's use after parent's close");
	feed(lc, c, ST_C_CLOSE, 5, 0, 0, 0, 0, 0);
	CHECK(a->end == END_CLOSED, "closed by the child");
	lc_free(lc);
}

/* how connections end */
TEST(how_connections_end)
{
	struct lc *lc = lc_new();
	struct lc_sock *a = sock(lc, p, 3);
	feed(lc, p, ST_C_RECV, 3, 0, 0, 100, 0, 0);
	feed(lc, p, ST_C_CLOSE, 3, 0, 0, 0, 0, 0);
	CHECK(a->end == END_PEER_CLOSED, "recv 0 then close: %s", lc_end_name(a->end));
	struct lc_sock *b = sock(lc, p, 3);
	feed(lc, p, ST_C_SEND, 3, 5, 0, 5, 0, 0);
	feed(lc, p, ST_C_SEND, 3, -1, EPIPE, 5, 0, 0);
	feed(lc, p, ST_C_CLOSE, 3, 0, 0, 0, 0, 0);
	CHECK(b->end == END_BROKEN_PIPE && b->nerrors == 1, "EPIPE: %s", lc_end_name(b->end));
	struct lc_sock *d = sock(lc, p, 3);
	feed(lc, p, ST_C_RECV, 3, -1, ECONNRESET, 5, 0, 0);
	feed(lc, p, ST_C_CLOSE, 3, 0, 0, 0, 0, 0);
	CHECK(d->end == END_RESET, "ECONNRESET");
	struct lc_sock *e = sock(lc, p, 3);
	feed(lc, p, ST_C_SETSOCKOPT, 3, 0, 0, SOL_SOCKET, SO_LINGER, 1ull << 32);
	feed(lc, p, ST_C_CLOSE, 3, 0, 0, 0, 0, 0);
	CHECK(e->end == END_RESET, "SO_LINGER {1,0} close is abortive");
	struct lc_sock *g = sock(lc, p, 3);
	feed(lc, p, ST_C_CONNECT, 3, -1, ECONNREFUSED, 0, 0, 0);
	lc_finish(lc);
	CHECK(g->end == END_REFUSED, "refused, never closed: %s", lc_end_name(g->end));
	lc_free(lc);
}

/* socketpair ends know each other; closefrom closes many */
TEST(socketpair_and_closefrom)
{
	struct lc *lc = lc_new();
	memset(&R, 0, sizeof(R));
	R.proc = p;
	R.ts_enter = now++;
	R.call = ST_C_SOCKETPAIR;
	R.fd = -1;
	R.a[0] = AF_UNIX;
	R.a[1] = SOCK_STREAM;
	R.complete = 1;
	put_fds(3, 4);
	struct lc_sock *a = lc_feed(lc, &R), *b = lc_also(lc);
	CHECK(a && b && a->pair_id == b->id && b->pair_id == a->id, "socketpair pairing");
	memset(&R, 0, offsetof(struct st_record, blob));
	R.proc = p;
	R.ts_enter = now++;
	R.call = ST_C_CLOSEFROM;
	R.fd = -1;
	R.complete = 1;
	put_fds(3, 4);
	lc_feed(lc, &R);
	CHECK(a->end == END_CLOSED && b->end == END_CLOSED, "closefrom");
	lc_free(lc);
}

/* a call on an fd whose birth we never saw; a process that died inside a call */
TEST(unknown_birth_and_death_in_call)
{
	struct lc *lc = lc_new();
	struct lc_sock *w = feed(lc, p, ST_C_SEND, 7, 3, 0, 3, 0, 0);
	CHECK(w && w->origin == ST_OR_WRAPPED, "unknown birth is 'wrapped', not merged");
	memset(&R, 0, offsetof(struct st_record, blob));
	R.proc = p;
	R.ts_enter = now++;
	R.call = ST_C_SEND;
	R.fd = 7;
	R.complete = 0;
	lc_feed(lc, &R);
	lc_finish(lc);
	CHECK(w->end == END_PROCESS_DIED, "died in a call: %s", lc_end_name(w->end));
	lc_free(lc);
}
