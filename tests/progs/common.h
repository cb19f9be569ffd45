/* Helpers shared by the test programs: fatal errors and loopback listeners. */
#ifndef TEST_COMMON_H
#define TEST_COMMON_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define die(...) do { fprintf(stderr, __VA_ARGS__); fprintf(stderr, ": %s\n", strerror(errno)); exit(99); } while (0)

/* A listening TCP socket on 127.0.0.1 with a kernel-chosen port, written to portfile. */
static inline int listen_any(int type, int *port, const char *portfile)
{
	int fd = socket(AF_INET, type, 0);
	if (fd < 0)
		die("socket");
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("bind");
	if (type == SOCK_STREAM && listen(fd, 16) < 0)
		die("listen");
	socklen_t l = sizeof(a);
	getsockname(fd, (struct sockaddr *)&a, &l);
	*port = ntohs(a.sin_port);
	if (portfile) {
		char tmp[512];
		snprintf(tmp, sizeof(tmp), "%s.tmp", portfile);
		FILE *f = fopen(tmp, "w");
		if (!f)
			die("%s", tmp);
		fprintf(f, "%d\n", *port);
		fclose(f);
		rename(tmp, portfile);
	}
	return fd;
}

static inline int connect_port(int type, int port)
{
	int fd = socket(AF_INET, type, 0);
	if (fd < 0)
		die("socket");
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("connect");
	return fd;
}

/* Like write(2) but all of it, unless an error. */
static inline int write_all(int fd, const void *p, size_t n)
{
	const char *s = p;
	while (n) {
		ssize_t k = send(fd, s, n, 0);
		if (k < 0)
			return -1;
		s += k;
		n -= (size_t)k;
	}
	return 0;
}

/* (below the helpers above, so that their line numbers in golden stacks stay put) */
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>

/* In main(argc, argv): MODE("name", NARGS, call) returns call when argv[1] is name with at
 * least NARGS arguments after it. Direct calls: a mode's function may be inlined in main. */
#define MODE(name, nargs, call) \
	do { if (argc >= (nargs) + 2 && !strcmp(argv[1], (name))) return (call); } while (0)

/* n clients accepted on l, each served by a child of its own (which closes its copy of l,
 * runs serve(c) and exits; the parent closes c); then every child waited for */
static inline void fork_per_client(int l, int n, void (*serve)(int c))
{
	for (int i = 0; i < n; i++) {
		int c = accept(l, NULL, NULL);
		if (c < 0)
			die("accept");
		pid_t p = fork();
		if (p == 0) {
			close(l);
			serve(c);
			_exit(0);
		}
		close(c);
	}
	while (wait(NULL) > 0)
		;
}

/* n children alive at once, each with a socket open (each wants an entry in the trace),
 * until the parent closes gate[1]; the parent waits for them after that */
static inline void gated_children(int n, int gate[2])
{
	if (pipe(gate) < 0)
		die("pipe");
	for (int i = 0; i < n; i++)
		if (fork() == 0) {
			close(gate[1]);
			int s = socket(AF_INET, SOCK_DGRAM, 0);
			char c;
			if (read(gate[0], &c, 1) < 0)
				_exit(1);
			close(s);
			_exit(0);
		}
	close(gate[0]);
}

/* A SIGALRM handler every usec microseconds that sends one byte (tick_byte) on tick_fd
 * without waiting, errno kept; tick_fired counts its sends. tick_end() silences and stops it. */
static int tick_fd __attribute__((unused));
static char tick_byte __attribute__((unused));
static volatile sig_atomic_t tick_fired __attribute__((unused)), tick_stopped __attribute__((unused));

static inline void tick_send(int sig)
{
	(void)sig;
	if (tick_stopped)
		return;
	int saved = errno;
	send(tick_fd, &tick_byte, 1, MSG_DONTWAIT);
	tick_fired++;
	errno = saved;
}

static inline void tick_start(int fd, char byte, long usec)
{
	tick_fd = fd;
	tick_byte = byte;
	struct sigaction sa = { .sa_handler = tick_send, .sa_flags = SA_RESTART };
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = { { 0, usec }, { 0, usec } };
	setitimer(ITIMER_REAL, &it, NULL);
}

static inline void tick_end(void)
{
	tick_stopped = 1;
	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	setitimer(ITIMER_REAL, &off, NULL);
}

#endif
