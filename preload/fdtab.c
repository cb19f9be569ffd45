/* Which fds are sockets: known from the calls that made them, or probed once with fstat. */
#include "st_preload.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

void st_fd_set(int fd, int kind)
{
	if (fd >= 0 && fd < ST_FDTAB)
		st_fdkind[fd] = (uint8_t)kind;
}

static int probe_sock(int fd)
{
	struct stat sb;
	int saved = errno;
	long r = syscall(SYS_fstat, fd, &sb);
	errno = saved;
	return r == 0 && S_ISSOCK(sb.st_mode);
}

/* A found socket's addresses, and its inode: inetd's fds 0, 1 and 2 are one socket. */
static void put_found(struct st_call *c, int fd, const void *arg)
{
	(void)arg;
	st_sock_addrs(fd, c, 1, 1);
	struct stat sb;
	int saved = errno;
	if (syscall(SYS_fstat, fd, &sb) == 0) {
		uint64_t ino = (uint64_t)sb.st_ino;
		st_put(c, ST_T_INODE, &ino, 8);
	}
	errno = saved;
}

/* A socket found open that we did not see made: noted in the socket table and logged as
 * `call` (inherited, unseen), with what the kernel says of it. The process is attached. */
void st_fd_found(int fd, int call, int origin)
{
	int dom, type, proto;
	if (!st_on())
		return;
	st_sock_kind(fd, &dom, &type, &proto);
	st_sock_note(fd, origin, dom, type, proto, 0);
	st_event_x(call, fd, (uint64_t)dom, (uint64_t)type, (uint64_t)proto, 0, 2 * (4 + 110) + 12,
	           put_found, NULL);
}

/* The fd's kind is not cached yet: probe it once with fstat. 1 for a socket. */
int st_fd_probe(int fd)
{
	int s = probe_sock(fd);
	st_fd_set(fd, s ? FK_SOCK : FK_OTHER);
	return s;
}

#define MAX_PENDING 64
static int pending[MAX_PENDING], npending;

/*
 * Sockets already open when the tracer starts (inherited across exec or from a parent) are
 * noted now and logged when the process gets its ring, at its first socket call: a process
 * that only holds an inherited socket (every command of a shell whose stdout is a socket)
 * leaves no ring behind.
 */
void st_fd_report_inherited(void)
{
	int n = npending;
	npending = 0;
	for (int i = 0; i < n; i++)
		if (st_fd_kind(pending[i]) == FK_SOCK)
			st_fd_found(pending[i], ST_C_INHERITED, ST_OR_INHERITED);
}

/* A fork child's sockets are its parent's: they come from the parent's socket table. */
void st_fd_report_inherited_forget(void)
{
	npending = 0;
}

void st_fd_scan(void)
{
	char buf[4096];
	int saved = errno;
	int dfd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		goto out;
	for (;;) {
		long n = syscall(SYS_getdents64, dfd, buf, sizeof(buf));
		if (n <= 0)
			break;
		for (long off = 0; off < n;) {
			struct dirent64 *d = (struct dirent64 *)(buf + off);
			off += d->d_reclen;
			if (d->d_name[0] < '0' || d->d_name[0] > '9')
				continue;
			int fd = atoi(d->d_name);
			if (fd == dfd)
				continue;
			if (probe_sock(fd)) {
				st_fd_set(fd, FK_SOCK);
				if (npending < MAX_PENDING)
					pending[npending++] = fd;
			} else {
				st_fd_set(fd, FK_OTHER);
			}
		}
	}
	syscall(SYS_close, dfd);
out:
	errno = saved;
}
