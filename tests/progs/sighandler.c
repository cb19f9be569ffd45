/* A signal handler that sends on a socket while the main loop is itself inside traced
 * calls: must be recorded without deadlock, and every byte must arrive. */
#include <signal.h>
#include <sys/time.h>
#include <time.h>
#include "common.h"

static int sv[2];
static volatile sig_atomic_t fired;

static void on_alarm(int sig)
{
	(void)sig;
	int saved = errno;
	send(sv[0], "S", 1, MSG_DONTWAIT);
	fired++;
	errno = saved;
}

int main(void)
{
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	struct sigaction sa = { .sa_handler = on_alarm, .sa_flags = SA_RESTART };
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = { { 0, 1000 }, { 0, 1000 } };
	setitimer(ITIMER_REAL, &it, NULL);
	long sent = 0, got = 0;
	char buf[256];
	while (fired < 200) {
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
	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	setitimer(ITIMER_REAL, &off, NULL);
	shutdown(sv[0], SHUT_WR);
	ssize_t n;
	while ((n = recv(sv[1], buf, sizeof(buf), 0)) > 0)
		got += n;
	printf("fired=%d bytes_ok=%s\n", (int)fired >= 200, got == sent + fired ? "yes" : "no");
	return 0;
}
