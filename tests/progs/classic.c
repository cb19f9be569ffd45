/* The socket-tutorial programs, one binary:
 *   classic tcp-server PORTFILE      single client: echo lines upper-cased until EOF
 *   classic fork-server PORTFILE N   a child per client, N clients then exit
 *   classic thread-server PORTFILE N a thread per client, N clients then exit
 *   classic udp-server PORTFILE N    echo N datagrams
 *   classic tcp-client PORT MSG...   send each MSG, print each reply
 *   classic udp-client PORT MSG...   same over UDP */
#include <ctype.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include "common.h"

static void serve(int c)
{
	char buf[512];
	ssize_t n;
	while ((n = read(c, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++)
			buf[i] = (char)toupper((unsigned char)buf[i]);
		if (write(c, buf, (size_t)n) != n)
			break;
	}
	close(c);
}

static void *serve_thread(void *arg)
{
	serve((int)(long)arg);
	return NULL;
}

static int client(int type, int port, int argc, char **argv)
{
	int fd = connect_port(type, port);
	for (int i = 0; i < argc; i++) {
		char buf[512];
		size_t len = strlen(argv[i]);
		if (send(fd, argv[i], len, 0) != (ssize_t)len)
			die("send");
		size_t got = 0;
		while (got < len) {
			ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
			if (n <= 0)
				die("recv");
			got += (size_t)n;
			if (type == SOCK_DGRAM)
				break;
		}
		buf[got] = 0;
		printf("reply: %s\n", buf);
	}
	shutdown(fd, SHUT_WR);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: see the comment at the top of classic.c\n");
		return 2;
	}
	const char *mode = argv[1];
	int n = argc > 3 ? atoi(argv[3]) : 1, port;
	if (!strcmp(mode, "tcp-client"))
		return client(SOCK_STREAM, atoi(argv[2]), argc - 3, argv + 3);
	if (!strcmp(mode, "udp-client"))
		return client(SOCK_DGRAM, atoi(argv[2]), argc - 3, argv + 3);
	if (!strcmp(mode, "udp-server")) {
		int fd = listen_any(SOCK_DGRAM, &port, argv[2]);
		for (int i = 0; i < n; i++) {
			char buf[512];
			struct sockaddr_in from;
			socklen_t fl = sizeof(from);
			ssize_t k = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
			if (k < 0)
				die("recvfrom");
			for (ssize_t j = 0; j < k; j++)
				buf[j] = (char)toupper((unsigned char)buf[j]);
			sendto(fd, buf, (size_t)k, 0, (struct sockaddr *)&from, fl);
		}
		close(fd);
		return 0;
	}
	int lfd = listen_any(SOCK_STREAM, &port, argv[2]);
	if (!strcmp(mode, "tcp-server")) {
		serve(accept(lfd, NULL, NULL));
	} else if (!strcmp(mode, "fork-server")) {
		fork_per_client(lfd, n, serve);
	} else if (!strcmp(mode, "thread-server")) {
		pthread_t t[64];
		for (int i = 0; i < n && i < 64; i++) {
			int c = accept(lfd, NULL, NULL);
			pthread_create(&t[i], NULL, serve_thread, (void *)(long)c);
		}
		for (int i = 0; i < n && i < 64; i++)
			pthread_join(t[i], NULL);
	} else {
		fprintf(stderr, "unknown mode %s\n", mode);
		return 2;
	}
	close(lfd);
	return 0;
}
