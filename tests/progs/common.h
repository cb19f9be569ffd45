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

#endif
