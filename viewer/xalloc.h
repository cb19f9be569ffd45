/* Allocation that cannot come back empty: the viewer has nothing sensible to do without the
 * memory it asked for, so it says so and exits 2 (the exit status of unreadable input). */
#ifndef ST_XALLOC_H
#define ST_XALLOC_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Free every element of a uthash table whose handle is `hh` (the elements malloc'ed, nothing
 * inside them to free); the head ends NULL. Needs <uthash.h>. */
#define ST_HASH_FREE(head)                                                            \
	do {                                                                              \
		__typeof__(head) el_, tmp_;                                                   \
		HASH_ITER(hh, head, el_, tmp_) {                                              \
			HASH_DEL(head, el_);                                                      \
			free(el_);                                                                \
		}                                                                             \
	} while (0)

static inline void *st_oom(void *p)
{
	if (!p) {
		fputs("socktrace: out of memory\n", stderr);
		exit(2);
	}
	return p;
}

static inline void *st_xmalloc(size_t n)
{
	return st_oom(malloc(n ? n : 1));
}

static inline void *st_xcalloc(size_t n, size_t size)
{
	return st_oom(calloc(n ? n : 1, size ? size : 1));
}

static inline void *st_xrealloc(void *p, size_t n)
{
	return st_oom(realloc(p, n ? n : 1));
}

static inline char *st_xstrdup(const char *s)
{
	return st_oom(strdup(s));
}

#endif
