/* Prints everything the tracer must not change: fd numbers, bytes, errno, across threads and
 * closefrom(3) (the libunwind pipe hazard). Traced and untraced output must be identical. */
#include <pthread.h>
#include <fcntl.h>
#include "common.h"

static int sv[2];

static void *pingpong(void *arg)
{
	const char *msg = arg;
	char buf[64] = "";
	if (send(sv[0], msg, strlen(msg), 0) < 0)
		die("send");
	ssize_t n = recv(sv[1], buf, sizeof(buf) - 1, 0);
	printf("thread got %zd bytes: %.*s\n", n, (int)(n > 0 ? n : 0), buf);
	return NULL;
}

static void thread_round(const char *msg)
{
	pthread_t t;
	pthread_create(&t, NULL, pingpong, (void *)msg);
	pthread_join(t, NULL);
}

int main(void)
{
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		die("socketpair");
	printf("socketpair fds: %d %d\n", sv[0], sv[1]);
	thread_round("first-thread");
	int extra = socket(AF_INET, SOCK_STREAM, 0);
	printf("socket fd: %d\n", extra);
	fflush(stdout);
	/* a daemon-style purge of every fd above stderr, then new sockets reuse the numbers */
	closefrom(3);
	/* closing fds that do not exist fails the same way, also where the tracer keeps its own */
	int ebadf = 0;
	for (int fd = 1000; fd < 1030; fd++)
		ebadf += close(fd) < 0 && errno == EBADF;
	for (int fd = 4060; fd < 4096; fd++)
		ebadf += close(fd) < 0 && errno == EBADF;
	printf("EBADF closes: %d of 66\n", ebadf);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		die("socketpair 2");
	printf("after closefrom: socketpair fds: %d %d\n", sv[0], sv[1]);
	for (int i = 0; i < 3; i++) {
		char msg[32];
		snprintf(msg, sizeof(msg), "round-%d-payload", i);
		thread_round(msg);
	}
	/* the bytes: a long exchange must arrive exact */
	unsigned char out[4096], in[4096];
	for (unsigned i = 0; i < sizeof(out); i++)
		out[i] = (unsigned char)(i * 7 + 3);
	size_t got = 0;
	if (write_all(sv[0], out, sizeof(out)) < 0)
		die("write_all");
	while (got < sizeof(in)) {
		ssize_t n = read(sv[1], in + got, sizeof(in) - got);
		if (n <= 0)
			die("read");
		got += (size_t)n;
	}
	printf("bytes equal: %s\n", memcmp(in, out, sizeof(in)) == 0 ? "yes" : "NO");
	/* nothing stray is waiting on our sockets */
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	char c;
	ssize_t n = recv(sv[1], &c, 1, 0);
	printf("stray byte read: %zd errno=%s\n", n, n < 0 ? strerrorname_np(errno) : "-");
	/* errno and return values of failing calls */
	errno = 0;
	int rc = close(-1);
	printf("close(-1)=%d errno=%s\n", rc, strerrorname_np(errno));
	ssize_t sr = send(999, "x", 1, 0);
	printf("send(badfd)=%zd errno=%s\n", sr, strerrorname_np(errno));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(1), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int s = socket(AF_INET, SOCK_STREAM, 0);
	rc = connect(s, (struct sockaddr *)&a, sizeof(a));
	printf("connect(closed port)=%d errno=%s fd=%d\n", rc, strerrorname_np(errno), s);
	int p[2];
	if (pipe(p) == 0)
		printf("pipe fds: %d %d\n", p[0], p[1]);
	int nf = open("/dev/null", O_RDONLY);
	printf("next file fd: %d\n", nf);
	return 0;
}
