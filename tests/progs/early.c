/* A shared library whose constructor makes a socket before anything else runs. */
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

__attribute__((constructor)) static void early(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	close(fd);
}
