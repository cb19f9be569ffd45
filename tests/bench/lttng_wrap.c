/* The benchmark's LTTng-UST comparison: send/recv preloaded with an entry and an exit event
 * each, the way a tracer built on LTTng-UST would record them (no stacks). */
#define _GNU_SOURCE
#define TRACEPOINT_DEFINE
#define TRACEPOINT_CREATE_PROBES
#include "st_lttng_tp.h"
#include <dlfcn.h>
#include <sys/socket.h>

static ssize_t (*real_send)(int, const void *, size_t, int);
static ssize_t (*real_recv)(int, void *, size_t, int);

ssize_t send(int fd, const void *b, size_t n, int f)
{
	if (!real_send)
		real_send = (ssize_t (*)(int, const void *, size_t, int))dlsym(RTLD_NEXT, "send");
	tracepoint(stbench, call_entry, 1, fd, n);
	ssize_t r = real_send(fd, b, n, f);
	tracepoint(stbench, call_exit, 1, r);
	return r;
}

ssize_t recv(int fd, void *b, size_t n, int f)
{
	if (!real_recv)
		real_recv = (ssize_t (*)(int, void *, size_t, int))dlsym(RTLD_NEXT, "recv");
	tracepoint(stbench, call_entry, 2, fd, n);
	ssize_t r = real_recv(fd, b, n, f);
	tracepoint(stbench, call_exit, 2, r);
	return r;
}
