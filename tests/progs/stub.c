/* A send/recv that never enter the kernel, preloaded below libsocktrace.so by the benchmark:
 * what remains of a traced call's cost is the tracer's alone. */
#include <sys/socket.h>
#include <sys/types.h>

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	(void)fd;
	(void)buf;
	(void)flags;
	__asm__ volatile("" ::: "memory");
	return (ssize_t)len;
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	(void)fd;
	(void)buf;
	(void)flags;
	__asm__ volatile("" ::: "memory");
	return (ssize_t)len;
}
