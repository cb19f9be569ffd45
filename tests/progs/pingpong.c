/* Benchmark load: T threads, each send+recv of 64 bytes on its own socketpair, N times.
 * Prints the wall time per socket call in ns (two calls per round trip).
 * usage: pingpong N [T] */
#include <pthread.h>
#include <time.h>
#include "common.h"

static long iters;

static void *run(void *arg)
{
	int sv[2];
	char buf[64] = { 0 };
	(void)arg;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		die("socketpair");
	for (long i = 0; i < iters; i++) {
		if (send(sv[0], buf, sizeof(buf), 0) != sizeof(buf) ||
		    recv(sv[1], buf, sizeof(buf), 0) != sizeof(buf))
			die("pingpong");
	}
	close(sv[0]);
	close(sv[1]);
	return NULL;
}

int main(int argc, char **argv)
{
	iters = argc > 1 ? atol(argv[1]) : 100000;
	int t = argc > 2 ? atoi(argv[2]) : 1;
	pthread_t th[64];
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < t && i < 64; i++)
		pthread_create(&th[i], NULL, run, NULL);
	for (int i = 0; i < t && i < 64; i++)
		pthread_join(th[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	double ns = (double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec);
	/* per call, per thread: threads run in parallel, so this is what one thread sees */
	printf("%.1f\n", ns / (2.0 * (double)iters));
	return 0;
}
