/* Small socket stories for the lifecycle tests:
 *   scenarios dup2-stdout    a connected socket dup2'ed over stdout, written through fd 1
 *   scenarios linger0        a client closes with SO_LINGER {1,0}: the server's read gets ECONNRESET
 *   scenarios nb-refused     non-blocking connect to a closed port, completion via poll + SO_ERROR
 *   scenarios many N         N short-lived socketpairs (to make a small ring wrap)
 *   scenarios exec-keep      a socket kept across exec (no CLOEXEC), one dropped (CLOEXEC)
 *   scenarios unread-close   a server closes with unread data: the client's read gets ECONNRESET
 *   scenarios shut-write     writing after our own shutdown(SHUT_WR): EPIPE
 *   scenarios blocked        a thread blocks in recv forever (the test kills the process)
 *   scenarios eagain N [poll]  N non-blocking recvs in a row without waiting (or each after a poll)
 *   scenarios eof-reads [N]  reads N times (3) after the peer's FIN
 *   scenarios exit-unread    exits with data unread on a connection (the exit sends RST)
 *   scenarios close-wait-leak  forgets to close a connection its client closed, serves another */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include "common.h"

static void *late_reader(void *arg)
{
	int *sv = arg;
	char c;
	ssize_t n = recv(sv[1], &c, 1, 0);
	printf("late recv %zd\n", n);
	return NULL;
}

static int late_sv[2];

/* On the blocked thread: enough traced calls to move its span on, so the span holding the
 * recv's entry is retired and can be overwritten while the recv still waits. */
static void busy_handler(int sig)
{
	(void)sig;
	int v = 1;
	for (int i = 0; i < 50; i++)
		setsockopt(late_sv[0], SOL_SOCKET, SO_KEEPALIVE, &v, sizeof(v));
}

/* a thread blocked in late_reader on sv[1] (100 ms on) */
static pthread_t late_thread(int *sv)
{
	pthread_t t;
	pthread_create(&t, NULL, late_reader, sv);
	usleep(100000);
	return t;
}

/* 100,000 traced calls on sv[0] (they wrap a 4 MiB ring), then the byte that ends the late
 * reader t's recv */
static void wrap_then_wake(int *sv, pthread_t t)
{
	int v = 1;
	for (int i = 0; i < 100000; i++)
		setsockopt(sv[0], SOL_SOCKET, SO_KEEPALIVE, &v, sizeof(v));
	send(sv[0], "!", 1, 0);
	pthread_join(t, NULL);
}

static int pair_tcp(int *server_side)
{
	int port;
	int l = listen_any(SOCK_STREAM, &port, NULL);
	int c = connect_port(SOCK_STREAM, port);
	*server_side = accept(l, NULL, NULL);
	close(l);
	return c;
}

int main(int argc, char **argv)
{
	const char *m = argc > 1 ? argv[1] : "";
	if (!strcmp(m, "dup2-stdout")) {
		int s, c = pair_tcp(&s);
		int saved = dup(1);
		dup2(c, 1);
		close(c);
		/* write(2) itself: stdio's writes go through libc's internal write, unseen */
		if (write(1, "through the socket\n", 19) != 19)
			return 1;
		dup2(saved, 1);
		close(saved);
		char buf[64];
		ssize_t n = recv(s, buf, sizeof(buf), 0);
		printf("server got %zd bytes\n", n);
		close(s);
	} else if (!strcmp(m, "linger0")) {
		int s, c = pair_tcp(&s);
		send(c, "unread", 6, 0);
		struct linger lg = { 1, 0 };
		setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(c);
		char buf[64];
		ssize_t n = recv(s, buf, sizeof(buf), 0);
		ssize_t n2 = recv(s, buf, sizeof(buf), 0);
		printf("server reads: %zd then %zd (%s)\n", n, n2, n2 < 0 ? strerror(errno) : "-");
		close(s);
	} else if (!strcmp(m, "nb-refused")) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(1),
		                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		int r = connect(fd, (struct sockaddr *)&a, sizeof(a));
		int e = errno;
		struct pollfd p = { fd, POLLOUT, 0 };
		poll(&p, 1, 1000);
		int err = 0;
		socklen_t l = sizeof(err);
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l);
		printf("connect %d %s, then SO_ERROR %s\n", r, strerrorname_np(e), strerrorname_np(err));
		close(fd);
	} else if (!strcmp(m, "many")) {
		int n = argc > 2 ? atoi(argv[2]) : 1000;
		for (int i = 0; i < n; i++) {
			int sv[2];
			socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
			send(sv[0], "x", 1, 0);
			close(sv[0]);
			close(sv[1]);
		}
		int sv[2];
		socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
		for (int i = 0; i < n; i++)
			send(sv[0], "y", 1, MSG_DONTWAIT);
		printf("done\n");
	} else if (!strcmp(m, "exec-keep")) {
		int keep = socket(AF_INET, SOCK_DGRAM, 0);
		int drop = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		char fdarg[16];
		snprintf(fdarg, sizeof(fdarg), "%d", keep);
		(void)drop;
		execl("/proc/self/exe", argv[0], "exec-child", fdarg, (char *)NULL);
		return 127;
	} else if (!strcmp(m, "exec-child")) {
		int fd = atoi(argv[2]);
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(9),
		                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		sendto(fd, "kept", 4, 0, (struct sockaddr *)&a, sizeof(a));
		close(fd);
		printf("exec child wrote through fd %d\n", fd);
	} else if (!strcmp(m, "unread-close")) {
		int s, c = pair_tcp(&s);
		send(c, "first request;second request", 29, 0);
		char buf[8];
		recv(s, buf, 5, 0);                   /* reads only part of it */
		close(s);                             /* unread data: the kernel sends RST */
		usleep(20000);
		ssize_t n = recv(c, buf, sizeof(buf), 0);
		printf("client recv %zd %s\n", n, n < 0 ? strerrorname_np(errno) : "");
		close(c);
	} else if (!strcmp(m, "shut-write")) {
		signal(SIGPIPE, SIG_IGN);
		int s, c = pair_tcp(&s);
		shutdown(c, SHUT_WR);
		ssize_t n = send(c, "late", 4, 0);
		printf("send after shutdown %zd %s\n", n, n < 0 ? strerrorname_np(errno) : "");
		close(c);
		close(s);
	} else if (!strcmp(m, "blocked")) {
		int s, c = pair_tcp(&s);
		(void)c;
		printf("ready\n");
		fflush(stdout);
		char buf[8];
		recv(s, buf, sizeof(buf), 0);         /* nobody ever sends */
	} else if (!strcmp(m, "eagain")) {
		int n = argc > 2 ? atoi(argv[2]) : 500;
		int sv[2];
		socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
		char b;
		int wait = argc > 3 && !strcmp(argv[3], "poll");
		for (int i = 0; i < n; i++) {
			if (wait) {     /* a readiness wait between: no spin, whatever it says */
				struct pollfd pf = { sv[1], POLLIN, 0 };
				poll(&pf, 1, 0);
			}
			recv(sv[1], &b, 1, 0);
		}
		printf("spun %d times\n", n);
	} else if (!strcmp(m, "retry-refused")) {
		for (int i = 0; i < 3; i++) {
			int fd = socket(AF_INET, SOCK_STREAM, 0);
			struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(1),
			                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
			if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
				printf("attempt %d: %s\n", i + 1, strerrorname_np(errno));
			close(fd);
		}
	} else if (!strcmp(m, "nb-connect")) {
		int port;
		int l = listen_any(SOCK_STREAM, &port, NULL);
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port),
		                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		connect(fd, (struct sockaddr *)&a, sizeof(a));
		if (argc > 2 && !strcmp(argv[2], "epoll")) {
			int ep = epoll_create1(0);
			struct epoll_event ev = { .events = EPOLLOUT, .data.u64 = 0xfeed }, out;
			epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
			epoll_wait(ep, &out, 1, 1000);     /* writable: connected */
			close(ep);
		} else {
			struct pollfd p = { fd, POLLOUT, 0 };
			poll(&p, 1, 1000);                /* writable: connected, no SO_ERROR asked */
		}
		send(fd, "hi", 2, 0);
		close(fd);
		close(l);
	} else if (!strcmp(m, "late")) {
		/* a thread blocks in recv while the main thread wraps the whole ring; the recv's
		 * completion must still be logged (as a late record naming its entry) */
		static int sv[2];
		socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
		wrap_then_wake(sv, late_thread(sv));
	} else if (!strcmp(m, "late-handler")) {
		/* as "late", but a signal handler on the blocked thread fills its span first, so
		 * the thread moves to new spans while the recv still waits */
		socketpair(AF_UNIX, SOCK_STREAM, 0, late_sv);
		struct sigaction sa = { .sa_handler = busy_handler, .sa_flags = SA_RESTART };
		sigaction(SIGUSR1, &sa, NULL);
		pthread_t t = late_thread(late_sv);
		for (int i = 0; i < 40; i++) {
			pthread_kill(t, SIGUSR1);
			usleep(2000);
		}
		wrap_then_wake(late_sv, t);
	} else if (!strcmp(m, "v6")) {
		int l = socket(AF_INET6, SOCK_STREAM, 0);
		struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
		socklen_t al = sizeof(a);
		if (bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0)
			return 77;              /* no IPv6 loopback here */
		getsockname(l, (struct sockaddr *)&a, &al);
		int c = socket(AF_INET6, SOCK_STREAM, 0);
		if (connect(c, (struct sockaddr *)&a, sizeof(a)) < 0)
			return 77;
		int s = accept(l, NULL, NULL);
		send(c, "over six", 8, 0);
		char buf[16];
		ssize_t n = recv(s, buf, sizeof(buf), 0);
		close(c);
		n += recv(s, buf, sizeof(buf), 0);
		close(s);
		close(l);
		printf("v6 %zd\n", n);
	} else if (!strcmp(m, "eof-reads")) {
		int s, c = pair_tcp(&s);
		close(c);
		char b[8];
		int n = argc > 2 ? atoi(argv[2]) : 3;
		for (int i = 0; i < n; i++)
			read(s, b, sizeof(b));
		close(s);
	} else if (!strcmp(m, "close-wait-leak")) {
		/* a server that forgets to close a connection whose client has gone, then serves
		 * another one: the first socket sits in CLOSE_WAIT */
		int port;
		int l = listen_any(SOCK_STREAM, &port, NULL);
		for (int k = 0; k < 2; k++) {
			int c = connect_port(SOCK_STREAM, port);
			int s = accept(l, NULL, NULL);
			send(c, "bye", 3, 0);
			close(c);
			char b[8];
			while (read(s, b, sizeof(b)) > 0)
				;
			if (k == 1)
				close(s);       /* the second one is closed properly */
		}
		close(l);
		printf("served 2\n");
	} else if (!strcmp(m, "exit-unread")) {
		/* the client (a child) reads 10 bytes of the server's 100 kB and exits without
		 * closing: the exit closes the socket with data unread, so with an RST */
		int port, l = listen_any(SOCK_STREAM, &port, NULL);
		pid_t p = fork();
		if (p == 0) {
			close(l);
			int c = connect_port(SOCK_STREAM, port);
			char b[10];
			ssize_t got = recv(c, b, sizeof(b), MSG_WAITALL);
			usleep(50000);
			printf("client read %zd, exits\n", got);
			exit(0);
		}
		signal(SIGPIPE, SIG_IGN);
		int s = accept(l, NULL, NULL);
		static char big[100000];
		ssize_t n = send(s, big, sizeof(big), 0);
		waitpid(p, NULL, 0);
		ssize_t n2 = send(s, big, 10, 0);
		printf("server sent %zd, then %zd (%s)\n", n, n2, n2 < 0 ? strerror(errno) : "-");
	} else {
		fprintf(stderr, "unknown scenario\n");
		return 2;
	}
	return 0;
}
