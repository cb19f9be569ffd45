/* Programs the tracer must not harm: each prints what it saw, to compare traced and untraced.
 *   harm seccomp          socket I/O under a strict seccomp allow-list (parent, and a child
 *                         whose first socket call comes after its filter)
 *   harm dlopen-signal LIB N   a 5 kHz signal handler sends while the main thread dlopens
 *   harm raw-close-range  syscall(SYS_close_range, 3, ~0U, 0) after stacks were taken, then
 *                         new sockets: their numbers and their bytes
 *   harm fd-limit         sockets until EMFILE: how many, and the first and last numbers
 *   harm stderr-socket    stderr closed, a socketpair takes fd 2; 300 children fill the
 *                         trace's process table; the peer of fd 2 gets only our "hello"
 *   harm close-race N     one thread socket()+close(), another open()+close_range() on its own fd
 *   harm epoll-del        EPOLL_CTL_DEL with a pointer that is no event (the kernel ignores it),
 *                         and EPOLL_CTL_ADD with one (the kernel says EFAULT)
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include "common.h"

static void say(const char *s)
{
	if (write(1, s, strlen(s)) < 0)
		_exit(3);
}

/* Allow exactly what the loop below needs; anything else kills the process (SIGSYS). */
static void strict_filter(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_sendto, 6, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_recvfrom, 5, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_write, 4, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_exit_group, 3, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_exit, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_rt_sigreturn, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
		die("seccomp");
}

static __attribute__((noinline)) int io_loop(int a, int b, int n)
{
	char buf[16];
	int ok = 0;
	for (int i = 0; i < n; i++)
		ok += send(a, "ping", 4, 0) == 4 && recv(b, buf, sizeof(buf), 0) == 4;
	return ok;
}

static int run_seccomp(void)
{
	int sv[2], cv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, cv) < 0)
		die("socketpair");
	io_loop(sv[0], sv[1], 1);          /* before the filter: stacks are taken */
	pid_t p = fork();
	if (p == 0) {
		/* the child's first socket call comes after its filter */
		strict_filter();
		int ok = io_loop(cv[0], cv[1], 100);
		say(ok == 100 ? "child ok\n" : "child failed\n");
		_exit(0);
	}
	int st;
	waitpid(p, &st, 0);
	printf("child %s\n", WIFEXITED(st) ? "exited" : WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "?");
	fflush(stdout);
	strict_filter();
	int ok = io_loop(sv[0], sv[1], 100);
	say(ok == 100 ? "parent ok\n" : "parent failed\n");
	return 0;
}

static int run_dlopen_signal(const char *lib, int n)
{
	char buf[4096];
	int dsv[2];
	socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, dsv);
	tick_start(dsv[0], 'x', 200);          /* 5 kHz */
	for (int i = 0; i < n; i++) {
		void *d = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
		if (!d)
			die("dlopen %s", lib);
		dlclose(d);
		recv(dsv[1], buf, sizeof(buf), MSG_DONTWAIT);
	}
	tick_end();
	printf("done %d dlopens, handler ran: %s\n", n, tick_fired > 0 ? "yes" : "no");
	return 0;
}

static int run_raw_close_range(void)
{
	int sv[2];
	char buf[64];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	io_loop(sv[0], sv[1], 3);
	syscall(SYS_close_range, 3, ~0U, 0);
	int a[2], b[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, a);
	socketpair(AF_UNIX, SOCK_STREAM, 0, b);
	printf("new fds %d %d %d %d\n", a[0], a[1], b[0], b[1]);
	/* bytes pending on both pairs while the next calls take stacks */
	send(a[0], "abc", 3, 0);
	send(b[0], "defgh", 5, 0);
	ssize_t n1 = recv(a[1], buf, sizeof(buf), 0);
	ssize_t n2 = recv(b[1], buf + 8, sizeof(buf) - 8, 0);
	printf("got %zd '%.*s' %zd '%.*s'\n", n1, (int)n1, buf, n2, (int)n2, buf + 8);
	return 0;
}

static int run_fd_limit(void)
{
	int first = -1, last = -1, n = 0;
	for (;;) {
		int fd = socket(AF_INET, SOCK_DGRAM, 0);
		if (fd < 0) {
			printf("%d sockets, fds %d..%d, then %s\n", n, first, last, strerror(errno));
			return 0;
		}
		if (first < 0)
			first = fd;
		last = fd;
		n++;
	}
}

static int run_stderr_socket(void)
{
	int sv[2], gate[2];
	close(2);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		die("socketpair");
	gated_children(300, gate);
	usleep(300000);
	send(sv[0], "hello", 5, 0);
	usleep(100000);
	char buf[4096];
	ssize_t n = recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT);
	close(gate[1]);
	while (wait(NULL) > 0)
		;
	printf("fd 2's peer got %zd bytes: '%.*s'\n", n, (int)(n > 0 ? n : 0), buf);
	return 0;
}

static long race_n;

static void *race_sockets(void *arg)
{
	(void)arg;
	for (long i = 0; i < race_n; i++) {
		int s = socket(AF_INET, SOCK_DGRAM, 0);
		close(s);
	}
	return NULL;
}

static int run_close_race(long n)
{
	pthread_t t;
	race_n = n;
	pthread_create(&t, NULL, race_sockets, NULL);
	for (long i = 0; i < n; i++) {
		int fd = open("/dev/null", O_RDONLY);
		syscall(SYS_close_range, fd, fd, 0);
	}
	pthread_join(t, NULL);
	printf("%ld sockets closed, %ld close_range\n", n, n);
	return 0;
}

static int run_epoll_del(void)
{
	int ep = epoll_create1(0), sv[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 42 };
	epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev);
	int rc = epoll_ctl(ep, EPOLL_CTL_DEL, sv[0], (struct epoll_event *)16);  /* unmapped */
	printf("del %d\n", rc);
	rc = epoll_ctl(ep, EPOLL_CTL_ADD, sv[1], (struct epoll_event *)16);
	printf("add %d %s\n", rc, rc < 0 && errno == EFAULT ? "EFAULT" : "?");
	return 0;
}

int main(int argc, char **argv)
{
	MODE("seccomp", 0, run_seccomp());
	MODE("dlopen-signal", 2, run_dlopen_signal(argv[2], atoi(argv[3])));
	MODE("raw-close-range", 0, run_raw_close_range());
	MODE("fd-limit", 0, run_fd_limit());
	MODE("stderr-socket", 0, run_stderr_socket());
	MODE("close-race", 1, run_close_race(atol(argv[2])));
	MODE("epoll-del", 0, run_epoll_del());
	fprintf(stderr, "usage: harm seccomp|dlopen-signal LIB N|raw-close-range|fd-limit|stderr-socket|close-race N|"
	        "epoll-del\n");
	return 2;
}
