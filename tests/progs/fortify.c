/* Built with -O2 -D_FORTIFY_SOURCE=2: recv and read go through __recv_chk / __read_chk. */
#include <poll.h>
#include "common.h"

int main(int argc, char **argv)
{
	int sv[2];
	char buf[64];
	/* lengths the compiler cannot see, so the checked variants are called */
	size_t len = argc > 1 ? strtoul(argv[1], NULL, 10) : sizeof(buf);
	nfds_t nfds = argc > 2 ? strtoul(argv[2], NULL, 10) : 1;
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	send(sv[0], "fortified", 9, 0);
	struct pollfd p = { sv[1], POLLIN, 0 };
	poll(&p, nfds, 1000);
	ssize_t n = recv(sv[1], buf, len, 0);
	send(sv[0], "again", 5, 0);
	ssize_t m = read(sv[1], buf, len);
	printf("%zd %zd\n", n, m);
	return 0;
}
