/* LTTng-UST tracepoints for the benchmark's comparison: one event at entry, one at exit. */
#undef TRACEPOINT_PROVIDER
#define TRACEPOINT_PROVIDER stbench
#undef TRACEPOINT_INCLUDE
#define TRACEPOINT_INCLUDE "./st_lttng_tp.h"
#if !defined(ST_LTTNG_TP_H) || defined(TRACEPOINT_HEADER_MULTI_READ)
#define ST_LTTNG_TP_H
#include <lttng/tracepoint.h>
TRACEPOINT_EVENT(stbench, call_entry,
	TP_ARGS(int, call, int, fd, unsigned long, len),
	TP_FIELDS(ctf_integer(int, call, call) ctf_integer(int, fd, fd) ctf_integer(unsigned long, len, len)))
TRACEPOINT_EVENT(stbench, call_exit,
	TP_ARGS(int, call, long, ret),
	TP_FIELDS(ctf_integer(int, call, call) ctf_integer(long, ret, ret)))
#endif
#include <lttng/tracepoint-event.h>
