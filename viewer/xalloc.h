/* Allocation that cannot come back empty: the viewer has nothing sensible to do without the
 * memory it asked for, so it says so and exits 2 (the exit status of unreadable input).
 * And the small helpers of growing arrays and sorting them. */
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

/* -1, 0 or 1 as a is below, equal to or above b (for qsort's comparators) */
#define ST_CMP(a, b) ((a) < (b) ? -1 : (a) > (b))

/* Room for one more element at arr[n] of an array of cap elements, doubled (from `first`)
 * when full. */
#define ST_GROW(arr, n, cap, first)                                                     \
	do {                                                                              \
		if ((n) == (cap)) {                                                           \
			(cap) = (cap) ? (cap) * 2 : (first);                                      \
			(arr) = st_xrealloc((arr), (size_t)(cap) * sizeof(*(arr)));               \
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
