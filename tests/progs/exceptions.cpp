// A C++ program that throws and catches while its sockets are traced: libunwind must not
// capture libgcc's _Unwind_* (libunwind and libgcc both export them; a preload that pulls libunwind in
// must not win the C++ unwinder).
#include <stdexcept>
#include <cstdio>
#include <sys/socket.h>
#include <unistd.h>

static int depth(int n, int fd)
{
	if (n == 0) {
		char c = 'x';
		send(fd, &c, 1, 0);
		throw std::runtime_error("deep");
	}
	return depth(n - 1, fd) + 1;
}

int main()
{
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	int caught = 0;
	for (int i = 0; i < 1000; i++) {
		try {
			depth(i % 20, sv[0]);
		} catch (const std::exception &e) {
			char c;
			recv(sv[1], &c, 1, 0);
			caught++;
		}
	}
	std::printf("caught %d\n", caught);
	return 0;
}
