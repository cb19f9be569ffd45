/* A signal handler that sends on a socket while the main loop is itself inside traced
 * calls: must be recorded without deadlock, and every byte must arrive. */
#include <time.h>
#include "common.h"

int main(void)
{
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	tick_start(sv[0], 'S', 1000);          /* the handler sends on sv[0] */
	long sent = 0, got = 0;
	char buf[256];
	while (tick_fired < 200) {
		/* bursts of traced calls (where the timer often lands inside the tracer), then a
		 * pause, so the log of the whole run fits the ring */
		for (int i = 0; i < 50; i++) {
			if (send(sv[0], "m", 1, 0) == 1)
				sent++;
			ssize_t n = recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT);
			if (n > 0)
				got += n;
		}
		struct timespec pause = { 0, 50000 };
		nanosleep(&pause, NULL);
	}
	tick_end();
	shutdown(sv[0], SHUT_WR);
	ssize_t n;
	while ((n = recv(sv[1], buf, sizeof(buf), 0)) > 0)
		got += n;
	printf("fired=%d bytes_ok=%s\n", (int)tick_fired >= 200, got == sent + tick_fired ? "yes" : "no");
	return 0;
}
