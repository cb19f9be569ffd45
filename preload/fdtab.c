/* Which fds are sockets: known from the calls that made them, or probed once with fstat. */
#include "st_preload.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

uint8_t st_fdkind[ST_FDTAB];


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

/* Domain, type and protocol of a socket we did not create, asked of the kernel. */
void st_sock_kind(int fd, int *dom, int *type, int *proto)
{
	int saved = errno;
	socklen_t l = sizeof(int);
	*dom = *type = *proto = 0;
	syscall(SYS_getsockopt, fd, SOL_SOCKET, SO_DOMAIN, dom, &l);
	l = sizeof(int);
	syscall(SYS_getsockopt, fd, SOL_SOCKET, SO_TYPE, type, &l);
	l = sizeof(int);
	syscall(SYS_getsockopt, fd, SOL_SOCKET, SO_PROTOCOL, proto, &l);
	errno = saved;
}

static void note_found(int fd, int call, int origin)
{
	int dom, type, proto;
	int saved = errno;
	st_sock_kind(fd, &dom, &type, &proto);
	if (!st_g.on && st_attach() != 0) {
		errno = saved;
		return;
	}
	errno = saved;
	st_sock_note(fd, origin, dom, type, proto, 0);
	st_event(call, fd, (uint64_t)dom, (uint64_t)type, (uint64_t)proto, 0);
}

/*
 * The fd's kind is not cached yet: probe it once with fstat. A socket found that way (made
 * where we could not see it: inside libc, by a static helper, in a parent before exec) is
 * logged as "unseen".
 */
int st_is_sock_slow(int fd)
{
	if (fd < 0 || st_g.seccomp)
		return 0;
	if (!st_ready())
		return 0;
	int s = probe_sock(fd);
	st_fd_set(fd, s ? FK_SOCK : FK_OTHER);
	if (s && st_tls.nesting == 0)
		note_found(fd, ST_C_UNSEEN, ST_OR_UNSEEN);
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
		if ((st_fdkind[pending[i]] & FK_MASK) == FK_SOCK)
			note_found(pending[i], ST_C_INHERITED, ST_OR_INHERITED);
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
