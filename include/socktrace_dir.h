/* Where a trace may be written: the checks libsocktrace.so and `socktrace record` share. */
#ifndef SOCKTRACE_DIR_H
#define SOCKTRACE_DIR_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * A symlink planted by another user in a world-writable directory (the default
 * ./socktrace.data in /tmp, say) would make us create the trace where that user chose. Like
 * the kernel's protected_symlinks, follow such a symlink only if we own it, or the owner
 * of the directory it sits in does. 0 if path may be followed, else -1 with why.
 */
static inline int st_dir_symlink_ok(const char *path, char *why, size_t n)
{
	struct stat ls, ds;
	if (lstat(path, &ls) != 0 || !S_ISLNK(ls.st_mode))
		return 0;
	char parent[4096];
	snprintf(parent, sizeof(parent), "%s", path);
	char *slash = strrchr(parent, '/');
	if (slash == parent)
		slash[1] = 0;
	else if (slash)
		*slash = 0;
	else
		snprintf(parent, sizeof(parent), ".");
	if (stat(parent, &ds) != 0 || !(ds.st_mode & S_IWOTH))
		return 0;
	if (ls.st_uid == geteuid() || ls.st_uid == ds.st_uid)
		return 0;
	if ((size_t)snprintf(why, n, "%s is a symlink owned by uid %u in the world-writable %s: not "
	                     "following it (as the kernel's protected_symlinks would not)", path,
	                     (unsigned)ls.st_uid, parent) >= n && n > 4)
		memcpy(why + n - 4, "...", 4);
	return -1;
}

/*
 * Check (and with create, make) the trace directory dir, an absolute path: every component
 * passes st_dir_symlink_ok, the directory exists, and we may create files in it. 0, or -1
 * with why (naming the component that failed and the real reason: EACCES, not ENOENT).
 */
static inline int st_trace_dir_check(const char *dir, int create, char *why, size_t n)
{
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s", dir);
	size_t len = strlen(tmp);
	while (len > 1 && tmp[len - 1] == '/')
		tmp[--len] = 0;
	for (char *p = tmp + 1;; p++) {
		if (*p != '/' && *p)
			continue;
		char c = *p;
		*p = 0;
		if (st_dir_symlink_ok(tmp, why, n) < 0)
			return -1;
		struct stat sb;
		if (stat(tmp, &sb) != 0) {
			if (errno != ENOENT || !create || (mkdir(tmp, 0755) != 0 && errno != EEXIST)) {
				(void)!snprintf(why, n, "cannot create %.300s: %s", tmp, strerror(errno));
				return -1;
			}
		} else if (!S_ISDIR(sb.st_mode)) {
			snprintf(why, n, "%.300s is not a directory", tmp);
			return -1;
		}
		*p = c;
		if (!c)
			break;
	}
	if (faccessat(AT_FDCWD, tmp, W_OK | X_OK, AT_EACCESS) != 0) {
		snprintf(why, n, "cannot write in %.300s: %s", tmp, strerror(errno));
		return -1;
	}
	return 0;
}

#endif
