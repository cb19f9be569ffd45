/* Unit tests for the lifecycle rules (viewer/lifecycle.c) on synthetic records. */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <sys/epoll.h>
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

/* The record being built: rec() starts one, put_tlv() adds to it, lc_feed(lc, &R) feeds it. */
static void rec(struct st_pinfo *f, int call, int fd, long ret, uint64_t a0, uint64_t a1, uint64_t a2)
{
	memset(&R, 0, offsetof(struct st_record, blob));
	R.proc = f;
	R.ts_enter = now++;
	R.ts_exit = now++;
	R.call = (uint16_t)call;
	R.fd = fd;
	R.ret = ret;
	R.a[0] = a0;
	R.a[1] = a1;
	R.a[2] = a2;
	R.complete = 1;
}

static void put_tlv(int type, const void *v, unsigned len)
{
	struct st_tlv_hdr h = { (uint16_t)type, 0, (uint16_t)len };
	memcpy(R.blob + R.blob_len, &h, 4);
	memcpy(R.blob + R.blob_len + 4, v, len);
	R.blob_len += 4 + ((len + 3) & ~3u);
}

/* one record with no TLVs, fed at once */
static struct lc_sock *feed(struct lc *lc, struct st_pinfo *f, int call, int fd, long ret, int err,
                            uint64_t a0, uint64_t a1, uint64_t a2)
{
	rec(f, call, fd, ret, a0, a1, a2);
	R.err = err;
	return lc_feed(lc, &R);
}

static void put_fds(int a, int b)
{
	int32_t v[2] = { a, b };
	put_tlv(ST_T_FDS, v, sizeof(v));
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
	feed(lc, p, ST_C_EXIT, -1, 0, 0, 0, 0, 0);
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
	feed(lc, p, ST_C_EXIT, -1, 0, 0, 0, 0, 0);
	lc_finish(lc);
	CHECK(g->end == END_REFUSED, "refused, never closed: %s", lc_end_name(g->end));
	lc_free(lc);
}

/* socketpair ends know each other; closefrom closes many */
TEST(socketpair_and_closefrom)
{
	struct lc *lc = lc_new();
	memset(&R, 0, sizeof(R));
	rec(p, ST_C_SOCKETPAIR, -1, 0, AF_UNIX, SOCK_STREAM, 0);
	put_fds(3, 4);
	struct lc_sock *a = lc_feed(lc, &R), *b = lc_also(lc);
	CHECK(a && b && a->pair_id == b->id && b->pair_id == a->id, "socketpair pairing");
	rec(p, ST_C_CLOSEFROM, -1, 0, 3, 0, 0);
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

/* ---- on real servers (issue 13) ---- */

static struct lc_sock *nb_connect(struct lc *lc, int fd)
{
	struct lc_sock *s = sock(lc, p, fd);
	feed(lc, p, ST_C_CONNECT, fd, -1, EINPROGRESS, 0, 0, 0);
	return s;
}

/* what a process held when it exited, was killed or still runs */
TEST(exit_kill_and_running_are_told_apart)
{
	struct st_pinfo *x = proc(300, 1, 0), *y = proc(301, 1, 0), *z = proc(302, 1, 0);
	struct lc *lc = lc_new();
	struct lc_sock *a = sock(lc, x, 3), *b = sock(lc, y, 3), *c2 = sock(lc, z, 3);
	feed(lc, x, ST_C_EXIT, -1, 0, 0, 0, 0, 0);
	const struct lc_touch *t;
	CHECK(a->end == END_OPEN_AT_EXIT && lc_touches(lc, &t) == 1 && (t[0].ev & EV_EXIT_CLOSED),
	      "exit closes what it held: %s", lc_end_name(a->end));
	y->state = ST_PS_GONE;
	z->running = 1;
	lc_finish(lc);
	CHECK(b->end == END_PROCESS_DIED && b->nholders == 1 && b->holders[0] == 301, "killed: %s",
	      lc_end_name(b->end));
	CHECK(c2->end == END_STILL_OPEN && c2->end_ns >= c2->start_ns, "still running: %s", lc_end_name(c2->end));
	lc_free(lc);
	free(x);
	free(y);
	free(z);
}

/* a close that entered before a concurrent accept but returned after it: the accept got the
 * number the close freed; the close does not end the new socket */
TEST(close_racing_accept_keeps_the_new_socket)
{
	struct lc *lc = lc_new();
	struct lc_sock *l = sock(lc, p, 3), *old = sock(lc, p, 5);
	uint64_t close_enter = now++;
	rec(p, ST_C_ACCEPT4, 3, 5, 0, 0, 0);            /* returned first ... */
	struct lc_sock *n = lc_feed(lc, &R);
	rec(p, ST_C_CLOSE, 5, 0, 0, 0, 0);             /* ... the close that began before it */
	R.ts_enter = close_enter;
	lc_feed(lc, &R);
	CHECK(n && n != old && n != l && n->end == END_NONE, "the accepted socket lives on: %s",
	      n ? lc_end_name(n->end) : "-");
	CHECK(old->end == END_CLOSED, "the old socket ended");
	CHECK(n->start_ns > close_enter, "starts when the accept returned");
	lc_free(lc);
}

/* one poll reports three non-blocking connects done: three connected sockets */
TEST(one_wait_many_sockets)
{
	struct lc *lc = lc_new();
	struct lc_sock *a = nb_connect(lc, 3), *b = nb_connect(lc, 4), *c3 = nb_connect(lc, 5);
	rec(p, ST_C_POLL, -1, 3, 3, 1000, 0);
	struct st_pollent pe[3] = { { 3, POLLOUT, POLLOUT }, { 4, POLLOUT, POLLOUT }, { 5, POLLOUT, POLLOUT } };
	put_tlv(ST_T_POLL, pe, sizeof(pe));
	lc_feed(lc, &R);
	const struct lc_touch *t;
	int n = lc_touches(lc, &t), conn = 0;
	for (int i = 0; i < n; i++)
		conn += (t[i].ev & EV_CONNECTED) != 0;
	CHECK(n == 3 && conn == 3, "three connected: %d touched, %d connected", n, conn);
	CHECK(!a->connecting && !b->connecting && !c3->connecting, "none still connecting");
	lc_free(lc);
}

/* epoll: the event's data is mapped back to the fd registered with it; RDHUP is the peer's
 * FIN, at the wait's return; a fork child's epoll has its parent's registrations */
TEST(epoll_data_maps_to_its_socket)
{
	struct lc *lc = lc_new();
	struct lc_sock *a = sock(lc, p, 6), *b = sock(lc, p, 7);
	uint64_t da = 0x5555aaaa0010, db = 0x5555aaaa0020;
	rec(p, ST_C_EPOLL_CTL, 6, 0, 9, EPOLL_CTL_ADD, EPOLLIN | EPOLLRDHUP);
	put_tlv(ST_T_U64, &da, 8);
	lc_feed(lc, &R);
	rec(p, ST_C_EPOLL_CTL, 7, 0, 9, EPOLL_CTL_ADD, EPOLLIN | EPOLLRDHUP);
	put_tlv(ST_T_U64, &db, 8);
	lc_feed(lc, &R);
	feed(lc, p, ST_C_FORK, -1, 200, 0, 0, 0, 0);
	rec(c, ST_C_EPOLL_WAIT, 9, 1, 64, -1, 0);
	struct st_epollent ev = { EPOLLIN | EPOLLRDHUP, 0, db };
	put_tlv(ST_T_EPOLL, &ev, sizeof(ev));
	uint64_t ret_at = R.ts_exit;
	lc_feed(lc, &R);
	const struct lc_touch *t;
	int n = lc_touches(lc, &t);
	CHECK(n == 1 && t[0].s == b && (t[0].ev & EV_PEER_FIN) && (t[0].revents & POLLRDHUP),
	      "RDHUP on the second socket, in the child");
	CHECK(b->peer_fin == FIN_RDHUP && b->peer_fin_ns == ret_at, "the FIN when the wait returned");
	CHECK(!a->peer_fin, "the other socket untouched");
	feed(lc, c, ST_C_CLOSE, 7, 0, 0, 0, 0, 0);
	feed(lc, p, ST_C_CLOSE, 7, 0, 0, 0, 0, 0);
	CHECK(b->end == END_PEER_CLOSED, "ended by the peer: %s", lc_end_name(b->end));
	lc_free(lc);
}

/* inetd-style: accept, fork, the child moves the socket onto 0 and 1 and execs; the new
 * image reports them inherited: one lifetime, not three */
TEST(exec_handoff_is_one_lifetime)
{
	struct st_pinfo *img = proc(200, 100, 0);    /* the child's exec'd image */
	img->flags = ST_PF_EXEC;
	struct lc *lc = lc_new();
	sock(lc, p, 3);
	struct lc_sock *s = feed(lc, p, ST_C_ACCEPT, 3, 4, 0, 0, 0, 0);
	feed(lc, p, ST_C_FORK, -1, 200, 0, 0, 0, 0);
	feed(lc, c, ST_C_DUP2, 4, 0, 0, 0, 0, 0);
	feed(lc, c, ST_C_DUP2, 4, 1, 0, 1, 0, 0);
	feed(lc, c, ST_C_CLOSE, 4, 0, 0, 0, 0, 0);
	feed(lc, p, ST_C_CLOSE, 4, 0, 0, 0, 0, 0);
	rec(c, ST_C_EXEC, -1, 0, 0, 0, 0);
	R.complete = 0;
	lc_feed(lc, &R);
	struct lc_sock *i0 = feed(lc, img, ST_C_INHERITED, 0, 0, 0, AF_INET, SOCK_STREAM, 6);
	struct lc_sock *i1 = feed(lc, img, ST_C_INHERITED, 1, 0, 0, AF_INET, SOCK_STREAM, 6);
	feed(lc, img, ST_C_WRITE, 1, 5, 0, 5, 0, 0);
	CHECK(i0 == s && i1 == s && lc_count(lc) == 2, "the accepted socket, carried across exec (%d sockets)",
	      lc_count(lc));
	CHECK(s->end == END_NONE && s->handed_off && s->stdio && s->bytes_out == 5, "alive, handed off, on stdio");
	feed(lc, img, ST_C_EXIT, -1, 0, 0, 0, 0, 0);
	CHECK(s->end == END_OPEN_AT_EXIT, "closed by the exit of the program it was handed to: %s",
	      lc_end_name(s->end));
	lc_free(lc);
	free(img);
}

/* close-on-exec sockets go at the exec itself */
TEST(cloexec_sockets_close_at_exec)
{
	struct lc *lc = lc_new();
	struct lc_sock *a = feed(lc, p, ST_C_SOCKET, -1, 3, 0, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct lc_sock *b = sock(lc, p, 4);
	rec(p, ST_C_EXEC, -1, 0, 0, 0, 0);
	R.complete = 0;
	lc_feed(lc, &R);
	CHECK(a->end == END_CLOSED && b->end == END_NONE, "cloexec closed at exec, the other kept");
	lc_free(lc);
}

/* a call on something that is no socket (EBADF, ENOTSOCK) makes up no socket */
TEST(calls_on_no_socket_make_none)
{
	struct lc *lc = lc_new();
	feed(lc, p, ST_C_RECV, 555, -1, EBADF, 10, 0, 0);
	feed(lc, p, ST_C_SEND, 1, -1, ENOTSOCK, 10, 0, 0);
	feed(lc, p, ST_C_CLOSE, 555, -1, EBADF, 0, 0, 0);
	CHECK(lc_count(lc) == 0, "%d sockets made up", lc_count(lc));
	lc_free(lc);
}

/* routine errors are not the socket's errors */
TEST(routine_errors_are_not_listed)
{
	struct lc *lc = lc_new();
	struct lc_sock *a = sock(lc, p, 3);
	feed(lc, p, ST_C_RECV, 3, -1, EAGAIN, 10, 0, 0);
	feed(lc, p, ST_C_EPOLL_CTL, 3, -1, EEXIST, 9, EPOLL_CTL_ADD, 0);
	feed(lc, p, ST_C_CONNECT, 3, -1, EINPROGRESS, 0, 0, 0);
	CHECK(a->nerrors == 0, "%d errors listed", a->nerrors);
	feed(lc, p, ST_C_SEND, 3, -1, EPIPE, 10, 0, 0);
	CHECK(a->nerrors == 1 && a->epipe, "EPIPE is");
	lc_free(lc);
}

/* a UDP server's peers: the first four listed, the datagrams of the others counted; a
 * fork server's parent closing its copy leaves no unread count for the child's close */
TEST(udp_peers_and_unread_of_a_copy)
{
	struct lc *lc = lc_new();
	struct lc_sock *u = feed(lc, p, ST_C_SOCKET, -1, 5, 0, AF_INET, SOCK_DGRAM, 0);
	for (int i = 0; i < 6; i++) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)(4000 + i)),
		                         .sin_addr.s_addr = htonl(0x7f000001) };
		rec(p, ST_C_RECVFROM, 5, 10, 100, 0, 0);
		put_tlv(ST_T_PEER, &a, sizeof(a));
		lc_feed(lc, &R);
	}
	CHECK(u->npeers == 4 && u->more_peers == 2, "peers %d, more %d", u->npeers, u->more_peers);
	struct lc_sock *s = sock(lc, p, 6);
	feed(lc, p, ST_C_FORK, -1, 200, 0, 0, 0, 0);
	feed(lc, c, ST_C_SEND, 6, 10, 0, 10, 0, 0);
	feed(lc, p, ST_C_SOCKSTATE, 6, 0, 0, 300, 0, 1);
	CHECK(s->unread == 300, "sockstate's unread: %lld", (long long)s->unread);
	feed(lc, p, ST_C_CLOSE, 6, 0, 0, 0, 0, 0);
	CHECK(s->end == END_NONE && s->unread == -1, "the parent's copy: end %s, unread %lld",
	      lc_end_name(s->end), (long long)s->unread);
	lc_free(lc);
}

/* shutdown sends a FIN only on a connected stream: not on a listener, not on UDP */
TEST(shutdown_of_a_listener_sends_no_fin)
{
	struct lc *lc = lc_new();
	struct lc_sock *l = sock(lc, p, 3);
	feed(lc, p, ST_C_LISTEN, 3, 0, 0, 16, 0, 0);
	feed(lc, p, ST_C_SHUTDOWN, 3, 0, 0, SHUT_RDWR, 0, 0);
	CHECK(!l->we_fin, "a listener's shutdown is no FIN");
	struct lc_sock *u = feed(lc, p, ST_C_SOCKET, -1, 4, 0, AF_INET, SOCK_DGRAM, 0);
	feed(lc, p, ST_C_SHUTDOWN, 4, 0, 0, SHUT_WR, 0, 0);
	CHECK(!u->we_fin, "nor a datagram socket's");
	struct lc_sock *c2 = sock(lc, p, 5);
	feed(lc, p, ST_C_CONNECT, 5, 0, 0, 0, 0, 0);
	feed(lc, p, ST_C_SHUTDOWN, 5, 0, 0, SHUT_WR, 0, 0);
	CHECK(c2->we_fin, "a connected stream's is");
	lc_free(lc);
}

/* one socket inherited under two numbers (a dup we did not see, inetd's 0 and 1): the same
 * inode, one lifetime; another inode is another socket */
TEST(one_socket_inherited_under_two_numbers)
{
	struct lc *lc = lc_new();
	uint64_t ino = 4242, other = 4343;
	rec(p, ST_C_INHERITED, 0, 0, AF_INET, SOCK_STREAM, 6);
	put_tlv(ST_T_INODE, &ino, 8);
	struct lc_sock *a = lc_feed(lc, &R);
	rec(p, ST_C_INHERITED, 1, 0, AF_INET, SOCK_STREAM, 6);
	put_tlv(ST_T_INODE, &ino, 8);
	struct lc_sock *b = lc_feed(lc, &R);
	rec(p, ST_C_INHERITED, 5, 0, AF_INET, SOCK_STREAM, 6);
	put_tlv(ST_T_INODE, &other, 8);
	struct lc_sock *c3 = lc_feed(lc, &R);
	CHECK(a && a == b && a->nfds == 2 && a->fds[1] == 1, "fds 0 and 1: one lifetime");
	CHECK(c3 && c3 != a, "another inode, another socket");
	feed(lc, p, ST_C_CLOSE, 0, 0, 0, 0, 0, 0);
	CHECK(a->end == END_NONE, "alive while fd 1 holds it");
	feed(lc, p, ST_C_CLOSE, 1, 0, 0, 0, 0, 0);
	CHECK(a->end != END_NONE, "ended with its last number");
	lc_free(lc);
}
