/* The connection problems people hit, each as a small client/server pair in two processes
 * (both traced), for diagnose's scenario tests:
 *   patterns idle-reuse          the server closes a connection idle 300 ms; the client sends a
 *                                request on it after 700 ms: EOF, then EPIPE
 *   patterns half-close-linger   the client sends, shuts down its sending side, reads 10 bytes of
 *                                the reply and closes with SO_LINGER {1,0}: the server's next
 *                                write fails with EPIPE
 *   patterns proxy               client -> proxy -> slow upstream; the client gives up after
 *                                150 ms, the proxy closes the upstream connection, the upstream's
 *                                late reply fails
 *   patterns no-reply            the server reads the request and closes without a reply
 *   patterns one-write           one write on a socketpair (for fault injection)
 *   patterns multi-connect       three non-blocking connects completed by one poll
 *   patterns late-read           the client sends a request and closes at once; the server reads it
 *                                100 ms later and its reply fails
 *   patterns mute                the server reads the request and never answers; the client
 *                                gives up after 300 ms */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>

#include "common.h"

static int accept_one(int l)
{
	return accept(l, NULL, NULL);
}

static void msleep(int ms)
{
	usleep((useconds_t)ms * 1000);
}

/* A server in a fork child on a fresh loopback port: it accepts one connection, hands it to
 * serve and exits. The parent gets the client's end, connected, and the child's pid. */
static int with_server(void (*serve)(int s), pid_t *pid)
{
	int port, l = listen_any(SOCK_STREAM, &port, NULL);
	pid_t p = fork();
	if (p == 0) {
		serve(accept_one(l));
		_exit(0);
	}
	close(l);
	*pid = p;
	return connect_port(SOCK_STREAM, port);
}

/* the server: 300 ms idle timeout */
static void idle_server(int s)
{
	char b[64];
	if (recv(s, b, sizeof(b), 0) > 0)
		send(s, "+PONG\r\n", 7, 0);
	struct pollfd pf = { s, POLLIN, 0 };
	if (poll(&pf, 1, 300) == 0)
		close(s);                       /* idle too long */
	msleep(1500);
}

static int idle_reuse(void)
{
	pid_t p;
	int c = with_server(idle_server, &p);
	signal(SIGPIPE, SIG_IGN);
	char b[64];
	send(c, "PING\r\n", 6, 0);
	recv(c, b, sizeof(b), 0);
	msleep(700);                            /* idle: the server closes meanwhile */
	ssize_t w = send(c, "PING\r\n", 6, 0);
	ssize_t r = recv(c, b, sizeof(b), 0);
	ssize_t w2 = send(c, "PING\r\n", 6, 0);
	printf("after idle: send %zd, recv %zd, send %zd\n", w, r, w2);
	close(c);
	waitpid(p, NULL, 0);
	return 0;
}

/* the server: reads to EOF, then replies */
static void eof_then_reply_server(int s)
{
	signal(SIGPIPE, SIG_IGN);
	char b[256], reply[4000];
	memset(reply, 'r', sizeof(reply));
	while (recv(s, b, sizeof(b), 0) > 0)
		;
	ssize_t w1 = write(s, reply, sizeof(reply));
	msleep(100);
	ssize_t w2 = write(s, reply, sizeof(reply));
	msleep(100);
	ssize_t w3 = write(s, reply, sizeof(reply));
	printf("server writes: %zd %zd %zd\n", w1, w2, w3);
	close(s);
}

static int half_close_linger(void)
{
	pid_t p;
	int c = with_server(eof_then_reply_server, &p);
	char req[100], b[10];
	memset(req, 'q', sizeof(req));
	send(c, req, sizeof(req), 0);
	shutdown(c, SHUT_WR);                   /* half-close: "that is all" */
	recv(c, b, sizeof(b), MSG_WAITALL);     /* reads 10 bytes of the reply ... */
	msleep(50);
	struct linger lg = { 1, 0 };
	setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(c);                               /* ... and drops the rest: RST */
	waitpid(p, NULL, 0);
	return 0;
}

static int proxy(void)
{
	int uport, pport;
	int ul = listen_any(SOCK_STREAM, &uport, NULL), pl = listen_any(SOCK_STREAM, &pport, NULL);
	pid_t up = fork();
	if (up == 0) {                          /* the upstream: answers after 400 ms */
		signal(SIGPIPE, SIG_IGN);
		int s = accept_one(ul);
		char b[256];
		recv(s, b, sizeof(b), 0);
		msleep(400);
		ssize_t w1 = send(s, "HTTP/1.0 200 OK\r\n\r\nlate", 24, 0);
		msleep(50);
		ssize_t w2 = send(s, "more", 4, 0);
		printf("upstream sends: %zd %zd\n", w1, w2);
		close(s);
		_exit(0);
	}
	pid_t px = fork();
	if (px == 0) {                          /* the proxy: forwards, gives up with its client */
		int cs = accept_one(pl);
		int us = connect_port(SOCK_STREAM, uport);
		char b[256];
		ssize_t n = recv(cs, b, sizeof(b), 0);
		send(us, b, (size_t)n, 0);
		struct pollfd pf[2] = { { cs, POLLIN | POLLRDHUP, 0 }, { us, POLLIN, 0 } };
		while (poll(pf, 2, 2000) > 0) {
			if (pf[0].revents & (POLLRDHUP | POLLHUP)) {
				close(us);              /* the client went: so does the upstream request */
				close(cs);
				break;
			}
			if (pf[1].revents & POLLIN) {
				n = recv(us, b, sizeof(b), 0);
				if (n <= 0)
					break;
				send(cs, b, (size_t)n, 0);
			}
		}
		_exit(0);
	}
	close(ul);
	close(pl);
	int c = connect_port(SOCK_STREAM, pport);
	send(c, "GET / HTTP/1.0\r\n\r\n", 18, 0);
	struct pollfd pf = { c, POLLIN, 0 };
	if (poll(&pf, 1, 150) == 0)
		printf("client: gave up after 150 ms\n");
	close(c);
	waitpid(px, NULL, 0);
	waitpid(up, NULL, 0);
	return 0;
}

static void no_reply_server(int s)
{
	char b[64];
	recv(s, b, sizeof(b), 0);
	close(s);                               /* no reply */
}

static int no_reply(void)
{
	pid_t p;
	int c = with_server(no_reply_server, &p);
	char b[64];
	send(c, "GET /\r\n", 7, 0);
	ssize_t r = recv(c, b, sizeof(b), 0);
	printf("reply: %zd bytes\n", r);
	close(c);
	waitpid(p, NULL, 0);
	return 0;
}

static void mute_server(int s)
{
	char b[64];
	recv(s, b, sizeof(b), 0);
	msleep(800);                            /* never answers */
}

/* the server reads the request and sits on it; the client gives up after 300 ms */
static int mute(void)
{
	pid_t p;
	int c = with_server(mute_server, &p);
	send(c, "GET /\r\n", 7, 0);
	struct pollfd pf = { c, POLLIN, 0 };
	int n = poll(&pf, 1, 300);
	printf("reply ready: %d\n", n);
	close(c);                               /* timed out */
	waitpid(p, NULL, 0);
	return 0;
}

static void busy_server(int s)
{
	signal(SIGPIPE, SIG_IGN);
	msleep(100);
	char b[64];
	recv(s, b, sizeof(b), 0);
	char reply[1000] = { 0 };
	for (int i = 0; i < 3 && send(s, reply, sizeof(reply), 0) > 0; i++)
		msleep(20);
}

/* the client sends its request and leaves at once; the busy server reads it 100 ms later and
 * answers into a closed connection (ab closing its spare connections at the end of a run) */
static int late_read(void)
{
	pid_t p;
	int c = with_server(busy_server, &p);
	send(c, "GET /\r\n", 7, 0);
	close(c);
	waitpid(p, NULL, 0);
	return 0;
}

/* three non-blocking connects, completed by one poll */
static int multi_connect(void)
{
	int port, l = listen_any(SOCK_STREAM, &port, NULL);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct pollfd pf[3];
	for (int i = 0; i < 3; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		connect(fd, (struct sockaddr *)&a, sizeof(a));
		pf[i] = (struct pollfd){ fd, POLLOUT, 0 };
	}
	msleep(50);                             /* all three done by the time of the poll */
	int n = poll(pf, 3, 1000);
	for (int i = 0; i < 3; i++) {
		int s = accept(l, NULL, NULL);
		send(pf[i].fd, "hi", 2, 0);
		char b[4];
		recv(s, b, sizeof(b), 0);
		close(pf[i].fd);
		close(s);
	}
	printf("poll: %d ready\n", n);
	close(l);
	return 0;
}

/* one write on a connected pair: what an injected EPIPE does with SIGPIPE at its default */
static int one_write(void)
{
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	ssize_t n = write(sv[0], "hello", 5);
	printf("write %zd\n", n);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct { const char *name; int (*run)(void); } modes[] = {
		{ "idle-reuse", idle_reuse }, { "half-close-linger", half_close_linger }, { "proxy", proxy },
		{ "no-reply", no_reply }, { "one-write", one_write }, { "mute", mute },
		{ "multi-connect", multi_connect }, { "late-read", late_read },
	};
	const char *m = argc > 1 ? argv[1] : "";
	setvbuf(stdout, NULL, _IONBF, 0);
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (!strcmp(m, modes[i].name))
			return modes[i].run();
	fprintf(stderr, "usage: patterns MODE (");
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		fprintf(stderr, "%s%s", i ? ", " : "", modes[i].name);
	fprintf(stderr, ")\n");
	return 2;
}
