/* N threads each make M setsockopt calls on their own socket: the ring must keep every one.
 * usage: threads N M */
#include <pthread.h>
#include "common.h"

static long per_thread;

static void *work(void *arg)
{
	(void)arg;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	int v = 1;
	for (long i = 0; i < per_thread; i++)
		setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &v, sizeof(v));
	close(fd);
	return NULL;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 4;
	per_thread = argc > 2 ? atol(argv[2]) : 100000;
	pthread_t t[64];
	for (int i = 0; i < n && i < 64; i++)
		pthread_create(&t[i], NULL, work, NULL);
	for (int i = 0; i < n && i < 64; i++)
		pthread_join(t[i], NULL);
	printf("%d threads x %ld calls done\n", n, per_thread);
	return 0;
}
