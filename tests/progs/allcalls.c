/* One of every intercepted call that the other programs do not make, with results printed
 * so traced and untraced runs can be compared. */
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include "common.h"

extern char **environ;

int main(void)
{
	int sv[2], p[2];
	char buf[64];
	socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
	/* sendmmsg / recvmmsg */
	struct iovec iov[2] = { { "one", 3 }, { "three", 5 } };
	struct mmsghdr mm[2] = { { .msg_hdr = { .msg_iov = &iov[0], .msg_iovlen = 1 } },
	                         { .msg_hdr = { .msg_iov = &iov[1], .msg_iovlen = 1 } } };
	printf("sendmmsg %d\n", sendmmsg(sv[0], mm, 2, 0));
	char r1[8], r2[8];
	struct iovec riov[2] = { { r1, sizeof(r1) }, { r2, sizeof(r2) } };
	struct mmsghdr rm[2] = { { .msg_hdr = { .msg_iov = &riov[0], .msg_iovlen = 1 } },
	                         { .msg_hdr = { .msg_iov = &riov[1], .msg_iovlen = 1 } } };
	printf("recvmmsg %d\n", recvmmsg(sv[1], rm, 2, 0, NULL));
	/* sendmsg / recvmsg, writev / readv */
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
	printf("sendmsg %zd\n", sendmsg(sv[0], &mh, 0));
	struct iovec rv = { buf, sizeof(buf) };
	struct msghdr rh = { .msg_iov = &rv, .msg_iovlen = 1 };
	printf("recvmsg %zd\n", recvmsg(sv[1], &rh, 0));
	printf("writev %zd\n", writev(sv[0], iov, 2));
	printf("readv %zd\n", readv(sv[1], &rv, 1));
	close(sv[0]);
	close(sv[1]);

	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	/* sendfile from a file, splice from a pipe */
	int f = open("/proc/self/exe", O_RDONLY);
	off_t off = 0;
	printf("sendfile %zd\n", sendfile(sv[0], f, &off, 100));
	close(f);
	printf("recv %zd\n", recv(sv[1], buf, sizeof(buf), MSG_WAITALL));
	printf("recv %zd\n", recv(sv[1], buf, sizeof(buf), 0));
	if (pipe(p) == 0) {
		write(p[1], "spliced", 7);
		printf("splice %zd\n", splice(p[0], NULL, sv[0], NULL, 7, 0));
		close(p[0]);
		close(p[1]);
	}
	printf("recv %zd\n", recv(sv[1], buf, sizeof(buf), 0));
	/* readiness */
	struct pollfd pf = { sv[1], POLLIN, 0 };
	struct timespec ts = { 0, 1000000 };
	printf("ppoll %d revents %d\n", ppoll(&pf, 1, &ts, NULL), pf.revents);
	send(sv[0], "x", 1, 0);
	fd_set rs;
	FD_ZERO(&rs);
	FD_SET(sv[1], &rs);
	printf("pselect %d\n", pselect(sv[1] + 1, &rs, NULL, NULL, &ts, NULL));
	int ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 42 }, out[4];
	epoll_ctl(ep, EPOLL_CTL_ADD, sv[1], &ev);
	int ne = epoll_pwait(ep, out, 4, 100, NULL);
	printf("epoll_pwait %d data %llu\n", ne, (unsigned long long)out[0].data.u64);
	close(ep);
	recv(sv[1], buf, 1, 0);
	/* fcntl, ioctl, dup family */
	int fl = fcntl(sv[0], F_GETFL);
	printf("fcntl %d\n", fcntl(sv[0], F_SETFL, fl | O_NONBLOCK));
	int on = 1;
	printf("ioctl %d\n", ioctl(sv[1], FIONBIO, &on));
	int d = fcntl(sv[0], F_DUPFD_CLOEXEC, 20);
	int d3 = dup3(sv[0], 30, O_CLOEXEC);
	printf("dupfd %d dup3 %d\n", d, d3);
	printf("close_range %d\n", close_range(20, 30, 0));
	/* SIGPIPE disposition, getaddrinfo, posix_spawn */
	signal(SIGPIPE, SIG_IGN);
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *res = NULL;
	printf("getaddrinfo %d\n", getaddrinfo("127.0.0.1", "80", &hints, &res));
	freeaddrinfo(res);
	pid_t pid;
	char *argv[] = { "true", NULL };
	printf("posix_spawn %d\n", posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ));
	waitpid(pid, NULL, 0);
	return 0;
}
