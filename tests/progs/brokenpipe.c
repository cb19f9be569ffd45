/* A client that gives up before a slow server replies: the server's reply hits EPIPE.
 * usage: brokenpipe [--ignore-sigpipe] [--nosignal]
 * Default SIGPIPE: the server dies in its second send (exit 141 reported by the parent). */
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include "common.h"

static void msleep(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

__attribute__((noinline)) static int send_reply(int fd, const char *part, int flags)
{
	return (int)send(fd, part, strlen(part), flags);
}

static int serve_one(int lfd, int flags)
{
	int c = accept(lfd, NULL, NULL);
	if (c < 0)
		die("accept");
	char req[128];
	ssize_t n = recv(c, req, sizeof(req), 0);
	printf("server: request of %zd bytes\n", n);
	fflush(stdout);
	msleep(300);  /* slow work: the client's patience is 100 ms */
	for (int i = 0; i < 3; i++) {
		if (send_reply(c, "HTTP/1.0 200 OK\r\n\r\nreply body\n", flags) < 0) {
			printf("server: send failed: %s\n", strerror(errno));
			close(c);
			return 1;
		}
		msleep(50);
	}
	close(c);
	return 0;
}

static void client(int port)
{
	int fd = connect_port(SOCK_STREAM, port);
	send(fd, "GET / HTTP/1.0\r\n\r\n", 18, 0);
	msleep(100);  /* gives up waiting */
	close(fd);
	printf("client: gave up after 100 ms\n");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	int flags = 0, port;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--ignore-sigpipe"))
			signal(SIGPIPE, SIG_IGN);
		else if (!strcmp(argv[i], "--nosignal"))
			flags = MSG_NOSIGNAL;
	}
	int lfd = listen_any(SOCK_STREAM, &port, NULL);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		close(lfd);
		client(port);
		_exit(0);
	}
	int rc = serve_one(lfd, flags);
	waitpid(pid, NULL, 0);
	return rc;
}
