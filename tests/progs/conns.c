/* Load for a forking server: N connections one after another to 127.0.0.1:PORT, each
 * sending a line and reading the echo back. Prints connections per second, measured from
 * the first connect to the last close.
 * usage: conns PORT N */
#include <time.h>
#include "common.h"

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	int port = atoi(argv[1]), n = atoi(argv[2]);
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < n; i++) {
		int fd = connect_port(SOCK_STREAM, port);
		char buf[64];
		if (write_all(fd, "ping\n", 5) < 0)
			die("send");
		size_t got = 0;
		while (got < 5) {
			ssize_t k = recv(fd, buf + got, sizeof(buf) - got, 0);
			if (k <= 0)
				die("recv after %zu bytes on connection %d", got, i);
			got += (size_t)k;
		}
		close(fd);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	printf("%.1f\n", n / s);
	return 0;
}
