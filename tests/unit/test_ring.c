/* Unit tests for the ring writer and reader together: the preload's record path is linked
 * into this program and driven directly, and the file it writes is read back. Run with
 * SOCKTRACE_DIR set to an empty directory and SOCKTRACE_SIZE=1M (tests/t_unit.sh does). */
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/socket.h>
#include <linux/tcp.h>

#include "reader.h"
#include "st_preload.h"
#include "unit.h"

/* the sockstate's byte counts are read from struct tcp_info by offset */
_Static_assert(offsetof(struct tcp_info, tcpi_bytes_acked) == ST_TCPI_BYTES_ACKED, "tcpi_bytes_acked");
_Static_assert(offsetof(struct tcp_info, tcpi_bytes_received) == ST_TCPI_BYTES_RECEIVED, "tcpi_bytes_received");
_Static_assert(offsetof(struct tcp_info, tcpi_bytes_sent) == ST_TCPI_BYTES_SENT, "tcpi_bytes_sent");
_Static_assert(offsetof(struct tcp_info, tcpi_bytes_retrans) == ST_TCPI_BYTES_RETRANS, "tcpi_bytes_retrans");

/* The trace as the viewer reads it, merged; counts by kind. */
struct seen { uint64_t records, complete, late, torn, lost, recv_complete; uint64_t last_late_of;
	struct st_record last_recv; };

static struct seen read_back(void)
{
	struct seen s = { 0 };
	char err[256];
	struct st_file *f = st_file_open(st_g.cfg.path, err, sizeof(err));
	CHECK(f != NULL, "open: %s", err);
	if (!f)
		return s;
	struct st_merge *m = st_merge_new(&f, 1);
	const struct st_record *r;
	while ((r = st_merge_next(m))) {
		s.records++;
		s.complete += r->complete;
		if (r->call == ST_C_RECV && r->complete) {
			s.recv_complete++;
			s.last_recv = *r;
		}
		if (r->flags & ST_RF_LATE) {
			struct st_tlv_view t;
			s.late++;
			if (st_tlv_find(r, ST_T_LATE_OF, &t) && t.len == 8)
				memcpy(&s.last_late_of, t.p, 8);
		}
	}
	st_merge_free(m);
	s.torn = f->torn;
	s.lost = ((const struct st_trace_hdr *)f->map)->lost_calls;
	st_file_close(f);
	return s;
}

static void events(int n)
{
	if (!st_on())   /* (as a wrapper's first call does: attaches the process, creates the trace) */
		CHECK(st_start(ST_C_LISTEN, -1), "the tracer starts");
	for (int i = 0; i < n; i++)
		st_event(ST_C_LISTEN, 3, (uint64_t)i, 0, 0, 0);
}

TEST(a_record_the_writer_died_in_is_torn)
{
	events(1);      /* attaches the process, creates the trace */
	struct seen before = read_back();
	struct st_call c;
	CHECK(st_begin(&c, ST_C_SEND, 3, 1, 0, 0, 0), "begin");
	/* ... and the process dies here: no st_enter, no commit */
	struct seen after = read_back();
	CHECK(after.torn == before.torn + 1, "torn %llu", (unsigned long long)after.torn);
	CHECK(after.records == before.records, "the torn record is not shown");
	/* (we are still alive: finish the call, so the thread's span goes on normally) */
	st_enter(&c);
	st_exit(&c, 1);
	st_done(&c);
	CHECK(read_back().torn == before.torn, "finished, it is no longer torn");
}

TEST(kept_plus_lost_is_made_when_the_ring_wraps)
{
	struct seen a = read_back();
	events(50000);          /* 50,000 x 64 B: several laps of a 1 MiB trace */
	struct seen b = read_back();
	CHECK(b.lost > a.lost, "the ring wrapped");
	CHECK(b.records + b.lost + b.torn == a.records + a.lost + a.torn + 50000,
	      "kept %llu + lost %llu", (unsigned long long)b.records, (unsigned long long)b.lost);
}

/* A call whose thread moved to another span while it was blocked. */
static void blocked_call(int wrap_meanwhile, uint64_t *entry)
{
	struct st_call c;
	CHECK(st_begin(&c, ST_C_RECV, 4, 8, 0, 0, 0), "begin");
	st_enter(&c);
	*entry = c.pos;
	struct st_span *old = st_tls.span;
	st_tls.span = NULL;             /* the thread's next record claims a new span ... */
	st_tls.cur = st_tls.end = NULL;
	st_retire(old);                 /* ... and the old one is free for others */
	if (wrap_meanwhile)
		events(40000);
	errno = 0;
	st_exit(&c, 1);
	st_set_arg(&c, 2, 77);          /* known only once it returned (epoll_ctl's event) */
	st_done(&c);
}

TEST(a_completion_written_apart_is_paired_with_its_entry)
{
	uint64_t entry;
	events(1);
	struct seen a = read_back();
	blocked_call(0, &entry);
	struct seen b = read_back();
	CHECK(b.recv_complete == a.recv_complete + 1, "one more complete recv: %llu -> %llu",
	      (unsigned long long)a.recv_complete, (unsigned long long)b.recv_complete);
	CHECK(b.late == a.late && !(b.last_recv.flags & ST_RF_LATE), "paired, not late");
	CHECK(b.last_recv.fd == 4 && b.last_recv.a[0] == 8 && b.last_recv.ret == 1,
	      "entry's arguments and the exit's result: fd %d len %llu ret %lld", b.last_recv.fd,
	      (unsigned long long)b.last_recv.a[0], (long long)b.last_recv.ret);
	CHECK(b.last_recv.a[2] == 77, "an argument set after the call comes from the completion: %llu",
	      (unsigned long long)b.last_recv.a[2]);
}

TEST(a_completion_whose_entry_was_overwritten_is_late)
{
	uint64_t entry;
	blocked_call(1, &entry);
	struct seen b = read_back();
	const struct st_record *r = &b.last_recv;
	CHECK(r->flags & ST_RF_LATE, "the recv is a late record");
	CHECK(b.last_late_of == entry, "names its entry %llu: %llu", (unsigned long long)entry,
	      (unsigned long long)b.last_late_of);
	CHECK((r->flags & ST_RF_NOARGS) && r->a[0] == 0, "its arguments are said to be lost");
	CHECK(r->fd == 4 && r->ret == 1, "call, fd and result kept: fd %d ret %lld", r->fd,
	      (long long)r->ret);
	CHECK(r->ts_enter > 0 && r->ts_exit >= r->ts_enter, "entry time kept");
}
