/* Torture loads for the recorder; each prints what it did, for the test to compare with the trace.
 *   torture threads N M        N threads alive at once, each: socketpair, M send+recv, 2 close
 *   torture payload T          T threads sending 16-byte self-checking payloads until killed
 *   torture wrap T M           T threads x M send+recv of 16-byte payloads (ring meant to wrap)
 *   torture alarm N            main: N send+recv; a 10 kHz SIGALRM handler sends beside it
 *   torture fork-handler K     a SIGUSR1 handler forks (K = fork | _Fork); the child sends
 *   torture setuid-server PF N fork per client; each child setuid(65534) before serving it
 *   torture setuid-child       a child that drops to 65534 before its first socket call
 *   torture families           every send/recv family with 32 bytes (payload cap checks)
 *   torture evil-name          a process name made of terminal escape sequences
 *   torture children N         N children alive at once, each making a socket call
 */
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include "common.h"

pid_t _Fork(void);

static long per_thread;
static pthread_barrier_t bar;

/* 16 bytes that say who wrote them: (thread, sequence) twice */
static void stamp(char *b, long thread, long seq)
{
	uint64_t v = (uint64_t)thread << 40 | (uint64_t)seq;
	memcpy(b, &v, 8);
	memcpy(b + 8, &v, 8);
}

static void *threads_work(void *arg)
{
	int sv[2];
	char b[16];
	pthread_barrier_wait(&bar);     /* all alive at once */
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		die("socketpair");
	for (long i = 0; i < per_thread; i++) {
		stamp(b, (long)(intptr_t)arg, i);
		if (send(sv[0], b, 16, 0) != 16 || recv(sv[1], b, 16, 0) != 16)
			die("send/recv");
	}
	close(sv[0]);
	close(sv[1]);
	return NULL;
}

static int run_threads(int n, long m, int barrier)
{
	pthread_t *t = calloc((size_t)n, sizeof(*t));
	per_thread = m;
	pthread_barrier_init(&bar, NULL, barrier ? (unsigned)n : 1);
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setstacksize(&at, 64 * 1024);
	for (int i = 0; i < n; i++)
		if (pthread_create(&t[i], &at, threads_work, (void *)(intptr_t)i) != 0)
			die("pthread_create %d", i);
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	/* socketpair + m x (send + recv) + 2 close per thread */
	printf("calls %ld\n", (long)n * (3 + 2 * m));
	return 0;
}

static int run_alarm(long n)
{
	int sv[2], hsv[2];
	char buf[64], drain[4096];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, hsv);
	tick_start(hsv[0], 'h', 100);          /* 10 kHz */
	long drains = 0;
	for (long i = 0; i < n; i++) {
		if (send(sv[0], "m", 1, 0) != 1 || recv(sv[1], buf, 1, 0) != 1)
			die("main loop");
		if (i % 64 == 0) {
			while (recv(hsv[1], drain, sizeof(drain), MSG_DONTWAIT) > 0)
				drains++;
			drains++;       /* the one that found nothing (EAGAIN) */
		}
	}
	tick_end();
	printf("main %ld handler %d drains %ld\n", n, (int)tick_fired, drains);
	return 0;
}

static int fork_kind_underscore;
static volatile sig_atomic_t child_pid;

static void on_usr1(int sig)
{
	(void)sig;
	int saved = errno;
	pid_t p = fork_kind_underscore ? _Fork() : fork();
	if (p == 0) {
		int s[2];
		socketpair(AF_UNIX, SOCK_DGRAM, 0, s);
		send(s[0], "child", 5, 0);
		_exit(0);
	}
	child_pid = p;
	errno = saved;
}

static int run_fork_handler(const char *kind)
{
	int sv[2];
	char b[8];
	fork_kind_underscore = !strcmp(kind, "_Fork");
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_RESTART };
	sigaction(SIGUSR1, &sa, NULL);
	long calls = 0;
	for (int round = 0; round < 20; round++) {
		raise(SIGUSR1);     /* lands at once, between two traced calls */
		for (int i = 0; i < 100; i++) {
			if (send(sv[0], "p", 1, 0) != 1 || recv(sv[1], b, 1, 0) != 1)
				die("parent");
			calls += 2;
		}
		int st;
		waitpid(child_pid, &st, 0);
	}
	printf("parent calls %ld\n", calls);
	return 0;
}

static void setuid_serve(int c)
{
	if (setgid(65534) != 0 || setuid(65534) != 0)
		die("setuid");
	char buf[64];
	ssize_t k = recv(c, buf, sizeof(buf), 0);
	if (k > 0)
		send(c, buf, (size_t)k, 0);
	close(c);
}

static int run_setuid_server(const char *pf, int n)
{
	int port;
	int l = listen_any(SOCK_STREAM, &port, pf);
	fork_per_client(l, n, setuid_serve);
	close(l);
	return 0;
}

static int run_setuid_child(void)
{
	pid_t p = fork();
	if (p == 0) {
		if (setgid(65534) != 0 || setuid(65534) != 0)
			die("setuid");
		int s[2];
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, s) != 0)
			die("socketpair");
		send(s[0], "dropped", 7, 0);
		_exit(0);
	}
	int st;
	waitpid(p, &st, 0);
	printf("child %d status %d\n", p, WEXITSTATUS(st));
	return 0;
}

/* A process name full of terminal commands (clear screen, set the window title, bell). */
static int run_evil_name(void)
{
	prctl(PR_SET_NAME, "ok\033[2J\033]0;x\a", 0, 0, 0);
	int s[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, s);
	send(s[0], "x", 1, 0);
	printf("named\n");
	return 0;
}

/* N children alive at once, each with a socket call (each wants an entry in the trace). */
static int run_children(int n)
{
	int gate[2];
	gated_children(n, gate);
	usleep(300000);
	close(gate[1]);
	while (wait(NULL) > 0)
		;
	printf("%d children\n", n);
	return 0;
}

static int run_families(void)
{
	int s[2], d[2];
	char out[32], in[64];
	for (int i = 0; i < 32; i++)
		out[i] = (char)('A' + i % 26);
	socketpair(AF_UNIX, SOCK_STREAM, 0, s);
	socketpair(AF_UNIX, SOCK_DGRAM, 0, d);
	struct iovec iv[2] = { { out, 10 }, { out + 10, 22 } };
	struct msghdr m = { .msg_iov = iv, .msg_iovlen = 2 };
	struct iovec ri[2] = { { in, 5 }, { in + 5, 59 } };
	struct msghdr rm = { .msg_iov = ri, .msg_iovlen = 2 };
	long ok = 0;
	ok += send(s[0], out, 32, 0) == 32;
	ok += recv(s[1], in, 64, 0) == 32;
	ok += sendto(d[0], out, 32, 0, NULL, 0) == 32;
	ok += recvfrom(d[1], in, 64, 0, NULL, NULL) == 32;
	ok += sendmsg(s[0], &m, 0) == 32;
	ok += recvmsg(s[1], &rm, 0) == 32;
	ok += write(s[0], out, 32) == 32;
	ok += read(s[1], in, 64) == 32;
	ok += writev(s[0], iv, 2) == 32;
	ok += readv(s[1], ri, 2) == 32;
	printf("ok %ld\n", ok);
	return 0;
}

static int run_payload(int t)
{
	printf("ready\n");
	return run_threads(t, 1L << 40, 0);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	MODE("threads", 2, run_threads(atoi(argv[2]), atol(argv[3]), 1));
	MODE("wrap", 2, run_threads(atoi(argv[2]), atol(argv[3]), 0));
	MODE("payload", 1, run_payload(atoi(argv[2])));
	MODE("alarm", 1, run_alarm(atol(argv[2])));
	MODE("fork-handler", 1, run_fork_handler(argv[2]));
	MODE("setuid-server", 2, run_setuid_server(argv[2], atoi(argv[3])));
	MODE("setuid-child", 0, run_setuid_child());
	MODE("families", 0, run_families());
	MODE("evil-name", 0, run_evil_name());
	MODE("children", 1, run_children(atoi(argv[2])));
	fprintf(stderr, "usage: torture threads|wrap|payload|alarm|fork-handler|setuid-server|setuid-child|families ...\n");
	return 2;
}
