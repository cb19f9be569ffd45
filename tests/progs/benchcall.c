/* Benchmark load: send+recv of 64 bytes on a socketpair, N times, called from `depth`
 * nested frames (so a 16-frame stack has 16 frames to record), in T threads.
 * Prints the wall time per socket call in ns (two calls per round trip), measured around
 * the loop only: start-up and the tracer's set-up stay outside.
 * usage: benchcall N [DEPTH [T]] */
#include <pthread.h>
#include <time.h>
#include "common.h"

static long iters;
static int depth;

static __attribute__((noinline)) void loop(int *sv)
{
	char buf[64] = { 0 };
	for (long i = 0; i < iters; i++) {
		if (send(sv[0], buf, sizeof(buf), 0) != sizeof(buf) ||
		    recv(sv[1], buf, sizeof(buf), 0) != sizeof(buf))
			die("benchcall");
	}
}

static __attribute__((noinline)) int nest(int d, int *sv)
{
	if (d <= 0) {
		loop(sv);
		return 0;
	}
	int r = nest(d - 1, sv);
	__asm__ volatile("" ::: "memory");   /* not a tail call: a real frame each */
	return r + 1;
}

static double now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static pthread_barrier_t bar;
static double t_start;

static void *run(void *arg)
{
	int sv[2];
	(void)arg;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		die("socketpair");
	/* warm-up: the thread's first traced call claims its span and its first unwind is slow */
	char b[64] = { 0 };
	if (send(sv[0], b, 64, 0) != 64 || recv(sv[1], b, 64, 0) != 64)
		die("warm-up");
	pthread_barrier_wait(&bar);
	if (!t_start)
		t_start = now_ns();
	nest(depth, sv);
	close(sv[0]);
	close(sv[1]);
	return NULL;
}

int main(int argc, char **argv)
{
	iters = argc > 1 ? atol(argv[1]) : 100000;
	depth = argc > 2 ? atoi(argv[2]) : 20;
	int t = argc > 3 ? atoi(argv[3]) : 1;
	if (t < 1 || t > 64)
		t = 1;
	pthread_t th[64];
	pthread_barrier_init(&bar, NULL, (unsigned)t);
	for (int i = 0; i < t; i++)
		pthread_create(&th[i], NULL, run, NULL);
	for (int i = 0; i < t; i++)
		pthread_join(th[i], NULL);
	double ns = now_ns() - t_start;
	printf("%.1f\n", ns / (2.0 * (double)iters));
	return 0;
}
