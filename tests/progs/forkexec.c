/* fork: parent and child each make sockets; then the child execs this program again
 * (mode "exec-child"), which makes a socket of its own. */
#include <sys/wait.h>
#include "common.h"

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "exec-child")) {
		int fd = socket(AF_INET6, SOCK_DGRAM, 0);
		printf("exec-child socket fd %d\n", fd);
		return 0;
	}
	int before = socket(AF_INET, SOCK_STREAM, 0);
	pid_t pid = fork();
	if (pid == 0) {
		int c = socket(AF_UNIX, SOCK_DGRAM, 0);
		close(before);
		printf("child socket fd %d\n", c);
		fflush(stdout);
		execl("/proc/self/exe", argv[0], "exec-child", (char *)NULL);
		_exit(127);
	}
	int st;
	waitpid(pid, &st, 0);
	int p = socket(AF_INET, SOCK_DGRAM, 0);
	printf("parent socket fds %d %d, child status %d\n", before, p, WEXITSTATUS(st));
	return 0;
}
