/* Writes and reads on a socketpair from two threads until killed. */
#include <pthread.h>
#include "common.h"

static int sv[2];

static void *reader(void *arg)
{
	char buf[512];
	(void)arg;
	for (;;)
		if (recv(sv[1], buf, sizeof(buf), 0) <= 0)
			return NULL;
}

int main(void)
{
	pthread_t t;
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	pthread_create(&t, NULL, reader, NULL);
	printf("ready\n");
	fflush(stdout);
	for (;;)
		send(sv[0], "0123456789abcdef", 16, 0);
}
