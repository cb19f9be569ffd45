/* socktrace export: the trace in the formats people already use — Chrome/Perfetto trace
 * events, JSON lines, and pcapng packets synthesised from the calls. Each format is a
 * writer: header, record, footer. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <uthash.h>

#include "cmds.h"
#include "render.h"
#include "session.h"
#include "xalloc.h"
#include "decode.h"
#include "emit.h"
#include "lifecycle.h"
#include "order.h"
#include "symbolize.h"
#include "util.h"

struct writer;

struct export_ctx {
	FILE *out;
	uint64_t t0, t_last;
	struct symb *sy;
	struct lc *lc;                  /* the lifecycle as the records go by */
	const struct writer *w;
	void *state;                    /* the writer's own */
	struct lc *sel;                 /* the whole trace's lifetimes (pass 1) */
};

struct writer {
	const char *name;
	void (*header)(struct export_ctx *x, struct st_file **files, int n);
	/* s: the socket the record is about (NULL if none); ev: lc_events of this record */
	void (*record)(struct export_ctx *x, const struct st_record *r, struct lc_sock *s, int ev);
	void (*footer)(struct export_ctx *x);
};

/* ---------------- jsonl ---------------- */

static void jsonl_record(struct export_ctx *x, const struct st_record *r, struct lc_sock *s, int ev)
{
	(void)ev;
	st_record_json(x->out, r, s ? s->id : 0, x->sy);
}

static const struct writer w_jsonl = { "jsonl", NULL, jsonl_record, NULL };

/* ---------------- chrome / Perfetto trace events ---------------- */

struct seen_thread {
	uint64_t key;
	UT_hash_handle hh;
};

struct open_call { int pid; uint32_t tid; int call; uint64_t ts, end; };

struct chrome_state {
	int first;
	struct open_call *open;         /* calls that never returned, ended with the trace */
	int nopen;
	struct seen_thread *threads;
	char *open_spans;               /* per socket id: 1 while its async span is open */
	int nspans;
};

static void ev_begin(struct export_ctx *x)
{
	struct chrome_state *c = x->state;
	fputs(c->first ? "\n" : ",\n", x->out);
	c->first = 0;
}

static double us(const struct export_ctx *x, uint64_t ts)
{
	return ts > x->t0 ? (double)(ts - x->t0) / 1e3 : 0.0;
}

static void chrome_header(struct export_ctx *x, struct st_file **files, int n)
{
	struct chrome_state *c = st_xcalloc(1, sizeof(*c));
	c->first = 1;
	x->state = c;
	fputs("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[", x->out);
	for (int i = 0; i < n; i++)
		for (int k = 0; k < files[i]->nprocs; k++) {
			const struct st_pinfo *h = files[i]->procs[k];
			if (h->parent && h->parent->pid == h->pid)
				continue;       /* an exec'd image: the process is named once */
			ev_begin(x);
			fprintf(x->out, "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":%d,\"tid\":%d,\"args\":{\"name\":",
			        h->pid, h->pid);
			char name[64];
			snprintf(name, sizeof(name), "%s %d", h->comm, h->pid);
			json_string(x->out, name);
			fputs("}}", x->out);
		}
}

static void span(struct export_ctx *x, struct lc_sock *s, const char *ph, uint64_t ts)
{
	ev_begin(x);
	fprintf(x->out, "{\"ph\":\"%s\",\"cat\":\"socket\",\"name\":\"socket %d\",\"id\":%d,\"pid\":%d,\"tid\":%d,"
	        "\"ts\":%.3f", ph, s->id, s->id, s->pid, s->pid, us(x, ts));
	if (*ph == 'b') {
		char d[300];
		snprintf(d, sizeof(d), "%s, %s", s->family == AF_UNIX ? "unix" : s->type == SOCK_DGRAM ? "udp" : "tcp",
		         st_origin_name(s->origin));
		fputs(",\"args\":{\"socket\":", x->out);
		json_string(x->out, d);
		fputs("}", x->out);
	} else {
		char d[300];
		snprintf(d, sizeof(d), "%s -> %s", s->local[0] ? s->local : "-", st_sock_peer(s));
		fprintf(x->out, ",\"args\":{\"end\":\"%s\",\"endpoints\":", lc_end_name(s->end == END_NONE ? END_OPEN_AT_EXIT : s->end));
		json_string(x->out, d);
		fputs("}", x->out);
	}
	fputs("}", x->out);
}

static void instant(struct export_ctx *x, const struct st_record *r, const char *name)
{
	ev_begin(x);
	fprintf(x->out, "{\"ph\":\"i\",\"s\":\"t\",\"cat\":\"failure\",\"name\":\"%s\",\"pid\":%d,\"tid\":%u,"
	        "\"ts\":%.3f,\"args\":{\"fd\":%d,\"call\":\"%s\"}}", name, r->proc->pid, r->tid,
	        us(x, r->ts_exit ? r->ts_exit : r->ts_enter), r->fd, st_call_name(r->call));
}

/* A call that waited (1 ms or more in the kernel, or never returned) holds a slice "blocked"
 * just inside its own, category "blocked": the waits stand out in the UI and can be selected
 * and summed apart from the calls' own time. */
#define BLOCKED_NS 1000000

static void blocked_slice(struct export_ctx *x, int pid, uint32_t tid, int call, uint64_t t, uint64_t end,
                          int returned)
{
	if ((returned > 0 && end < t + BLOCKED_NS) || call == ST_C_EXEC || call == ST_C_EXIT)
		return;
	if (end < t + 2)
		end = t + 2;
	ev_begin(x);
	fprintf(x->out, "{\"ph\":\"X\",\"cat\":\"blocked\",\"name\":\"blocked\",\"pid\":%d,\"tid\":%u,"
	        "\"ts\":%.3f,\"dur\":%.3f,\"args\":{\"in\":\"%s\",\"waited_ms\":%.3f%s}}",
	        pid, tid, us(x, t) + 0.001, (double)(end - t) / 1e3 - 0.002, st_call_name(call), (double)(end - t) / 1e6,
	        returned > 0 ? "" : returned == 0 ? ",\"until\":\"never returned: its process exited, or the trace was read\""
	        : ",\"until\":\"never returned: the process was killed; when is not recorded, so the slice ends at the "
	          "trace's last record\"");
}

/* A call still blocked at the end of the trace: its slice is ended there (footer). */
static void blocked(struct export_ctx *x, const struct st_record *r)
{
	struct chrome_state *c = x->state;
	if (r->complete) {
		blocked_slice(x, r->proc->pid, r->tid, r->call, r->ts_enter, r->ts_exit, 1);
		return;
	}
	if (r->call == ST_C_EXEC)
		return;
	/* until the process exited; a running one until now; a killed one as far as the trace goes */
	const struct st_pinfo *p = r->proc;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	uint64_t end = p->t_end ? p->t_end : p->running ? (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec : 0;
	c->open = st_xrealloc(c->open, (size_t)(c->nopen + 1) * sizeof(*c->open));
	c->open[c->nopen++] = (struct open_call){ p->pid, r->tid, r->call, r->ts_enter, end };
}

static void chrome_record(struct export_ctx *x, const struct st_record *r, struct lc_sock *s, int ev)
{
	struct chrome_state *c = x->state;
	const struct st_pinfo *h = r->proc;
	uint64_t key = (uint64_t)(uint32_t)h->pid << 32 | r->tid;
	struct seen_thread *t;
	HASH_FIND(hh, c->threads, &key, sizeof(key), t);
	if (!t) {
		t = st_xcalloc(1, sizeof(*t));
		t->key = key;
		HASH_ADD(hh, c->threads, key, sizeof(key), t);
		ev_begin(x);
		char name[64];
		snprintf(name, sizeof(name), "%s/%u", h->comm, r->tid);
		fprintf(x->out, "{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":%d,\"tid\":%u,\"args\":{\"name\":",
		        h->pid, r->tid);
		json_string(x->out, name);
		fputs("}}", x->out);
	}
	if (s && s->id > c->nspans) {
		c->open_spans = st_xrealloc(c->open_spans, (size_t)s->id + 1);
		memset(c->open_spans + c->nspans + 1, 0, (size_t)(s->id - c->nspans));
		c->nspans = s->id;
	}
	if (s && !c->open_spans[s->id] && s->end == END_NONE) {
		c->open_spans[s->id] = 1;
		span(x, s, "b", r->ts_enter);
	}
	/* the call itself: a complete slice, or an open one if it never returned */
	ev_begin(x);
	fprintf(x->out, "{\"ph\":\"%s\",\"cat\":\"call\",\"name\":\"%s\",\"pid\":%d,\"tid\":%u,\"ts\":%.3f",
	        r->complete ? "X" : "B", st_call_name(r->call), h->pid, r->tid, us(x, r->ts_enter));
	if (r->complete)
		fprintf(x->out, ",\"dur\":%.3f", (double)(r->ts_exit - r->ts_enter) / 1e3);
	fputs(",\"args\":{", x->out);
	struct emit e;
	emit_init(&e, &emit_json, x->out);
	if (r->fd >= 0)
		e.ops->kv_int(&e, "fd", r->fd);
	st_emit_args(&e, r);
	if (r->complete)
		e.ops->kv_int(&e, "result", r->ret);
	else
		e.ops->kv_str(&e, "result", "never returned");
	if (r->err)
		e.ops->kv_str(&e, "errno", st_errno_name(r->err));
	if (s)
		e.ops->kv_int(&e, "socket", s->id);
	struct st_tlv_view tv;
	if (st_tlv_find(r, ST_T_FRAMES, &tv)) {
		e.ops->begin_list(&e, "stack");
		for (unsigned i = 0; i + 8 <= tv.len && i < 5 * 8; i += 8) {
			uint64_t a;
			char buf[512];
			memcpy(&a, tv.p + i, 8);
			symb_format(x->sy, r->proc, a, buf, sizeof(buf));
			e.ops->kv_str(&e, NULL, buf);
		}
		e.ops->end_list(&e);
	}
	fputs("}}", x->out);
	blocked(x, r);
	if (r->complete && r->ret < 0 && (r->err == EPIPE || r->err == ECONNRESET || r->err == ECONNREFUSED))
		instant(x, r, st_errno_name(r->err));
	if (!r->complete && r->call != ST_C_EXEC &&
	    (r->call == ST_C_SEND || r->call == ST_C_SENDTO || r->call == ST_C_SENDMSG || r->call == ST_C_WRITE ||
	     r->call == ST_C_WRITEV))
		instant(x, r, "died in a write (SIGPIPE?)");
	if (s && (ev & EV_CLOSED) && c->open_spans[s->id]) {
		c->open_spans[s->id] = 0;
		span(x, s, "e", r->ts_exit ? r->ts_exit : r->ts_enter);
	}
	struct lc_sock *also = lc_also(x->lc);
	if (also && (ev & EV_CLOSED) && also->id <= c->nspans && c->open_spans[also->id] && also->end != END_NONE) {
		c->open_spans[also->id] = 0;
		span(x, also, "e", r->ts_enter);
	}
}

static void chrome_footer(struct export_ctx *x)
{
	struct chrome_state *c = x->state;
	for (int id = 1; id <= c->nspans; id++)
		if (c->open_spans[id])
			span(x, lc_get(x->lc, id - 1), "e", x->t_last);
	for (int i = 0; i < c->nopen; i++) {
		const struct open_call *o = &c->open[i];
		uint64_t end = o->end ? o->end : x->t_last;
		if (end < o->ts)
			end = o->ts;
		blocked_slice(x, o->pid, o->tid, o->call, o->ts, end, o->end ? 0 : -1);
		ev_begin(x);
		fprintf(x->out, "{\"ph\":\"E\",\"pid\":%d,\"tid\":%u,\"ts\":%.3f}", o->pid, o->tid, us(x, end));
	}
	free(c->open);
	fputs("\n]}\n", x->out);
	ST_HASH_FREE(c->threads);
	free(c->open_spans);
	free(c);
}

static const struct writer w_chrome = { "chrome", chrome_header, chrome_record, chrome_footer };

/* ---------------- pcapng ---------------- */

struct endpoint {
	int family;                     /* AF_INET / AF_INET6 */
	uint8_t addr[16];
	uint16_t port;
};

struct conn {
	char key[300];                  /* both endpoints, sorted: the connection */
	char a_str[160];                /* side 0's address ("local" of the first socket seen) */
	struct endpoint ep[2];          /* the two ends: 0 the first socket seen, 1 its peer */
	uint32_t seq[2];                /* next sequence number each end sends */
	int fin[2], rst[2];             /* FIN / RST sent by that end */
	int closed[2];                  /* that end's socket is gone: data to it draws RST */
	int both;                       /* both ends are in the trace: each sends its own */
	uint64_t sent[2];               /* data bytes each end has put on the wire */
	uint64_t wrote[2];              /* bytes each end's sends moved */
	uint64_t readb[2];              /* bytes of each end's stream the other end read */
	uint64_t acc[2];                /* bytes of each end's stream accounted for (put out by
	                                 * the send, or earlier by the read that saw them) */
	uint64_t cap[2];                /* at most what the other end's kernel received: when it
	                                 * reset the connection, the rest of the sender's queue
	                                 * was dropped unsent */
	int syn_done;
	int syn_sent;                   /* the client's SYN is out (a connect that went on) */
	int sock[2];                    /* the socket (lifetime id) of each end seen, 0 none yet */
	UT_hash_handle hh;
	struct conn *older;             /* ended connections of the same 4-tuple (to free) */
};


struct dgram {                      /* a datagram made from a send, not yet received */
	char key[400];                  /* src|dst|len */
	int count;
	UT_hash_handle hh;
};

struct proc_ix {                    /* a process image's Darwin process event block */
	const struct st_pinfo *image;
	uint32_t index;
	UT_hash_handle hh;
};

struct pcap_state {
	struct proc_ix *procs;
	uint32_t nprocs;
	struct dgram *dgrams;
	struct conn *conns;             /* by key */
	uint8_t *buf;
	size_t cap;
};

static int parse_ep(const char *s, struct endpoint *e)
{
	char host[128];
	const char *colon = strrchr(s, ':');
	memset(e, 0, sizeof(*e));
	if (!colon || colon == s)
		return -1;
	size_t hl = (size_t)(colon - s);
	if (s[0] == '[') {
		if (hl < 2 || s[hl - 1] != ']')
			return -1;
		memcpy(host, s + 1, hl - 2);
		host[hl - 2] = 0;
		e->family = AF_INET6;
	} else {
		memcpy(host, s, hl);
		host[hl] = 0;
		e->family = AF_INET;
	}
	if (hl >= sizeof(host) || inet_pton(e->family, host, e->addr) != 1)
		return -1;
	e->port = (uint16_t)atoi(colon + 1);
	return 0;
}

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

static void pcap_block(struct export_ctx *x, uint32_t type, const void *body, size_t len)
{
	uint32_t total = (uint32_t)(12 + ((len + 3) & ~(size_t)3));
	static const uint8_t pad[4];
	fwrite(&type, 4, 1, x->out);
	fwrite(&total, 4, 1, x->out);
	fwrite(body, 1, len, x->out);
	fwrite(pad, 1, (4 - len % 4) % 4, x->out);
	fwrite(&total, 4, 1, x->out);
}

static void pcap_header(struct export_ctx *x, struct st_file **files, int n)
{
	(void)files;
	(void)n;
	struct pcap_state *p = st_xcalloc(1, sizeof(*p));
	x->state = p;
	/* section header: byte-order magic, version 1.0, unknown section length, shb_userappl */
	uint8_t shb[16 + 4 + 12 + 4];
	memset(shb, 0, sizeof(shb));
	put32(shb, 0x1A2B3C4D);
	uint16_t v[2] = { 1, 0 };
	memcpy(shb + 4, v, 4);
	memset(shb + 8, 0xff, 8);
	uint16_t opt[2] = { 4, 9 };     /* shb_userappl, 9 bytes */
	memcpy(shb + 16, opt, 4);
	memcpy(shb + 20, "socktrace", 9);
	pcap_block(x, 0x0A0D0D0A, shb, 16 + 4 + 12 + 4);
	/* one interface: raw IP (LINKTYPE_RAW 101), nanosecond timestamps */
	uint8_t idb[8 + 8 + 4];
	memset(idb, 0, sizeof(idb));
	uint16_t lt[2] = { 101, 0 };
	memcpy(idb, lt, 4);
	put32(idb + 4, 262144);
	uint16_t tsres[2] = { 9, 1 };
	memcpy(idb + 8, tsres, 4);
	idb[12] = 9;                    /* 10^-9 */
	pcap_block(x, 1, idb, 8 + 8 + 4);
}

static uint32_t sum16(const uint8_t *p, size_t n, uint32_t s)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)(p[n - 1] << 8);
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

enum { F_FIN = 1, F_SYN = 2, F_RST = 4, F_PSH = 8, F_ACK = 16 };

/* Write one packet (IPv4/IPv6, TCP or UDP) with `len` payload bytes (from data, zeros after). */
/* The process whose call a packet comes from, as Apple's pktap captures name it: a Darwin
 * Process Event Block (type 0x80000001: pid, option 2 its name) written before the first
 * packet that needs it, which then carries its index in the section (EPB option 0x8001).
 * Wireshark reads these (4.0 in its pcapng file view, later releases with each frame). */
static uint32_t process_block(struct export_ctx *x, const struct st_pinfo *h)
{
	struct pcap_state *p = x->state;
	struct proc_ix *e;
	int pid = h->pid;
	HASH_FIND_PTR(p->procs, &h, e);        /* (an exec'd image has a name of its own) */
	if (e)
		return e->index;
	e = st_xcalloc(1, sizeof(*e));
	e->image = h;
	e->index = p->nprocs++;
	HASH_ADD_PTR(p->procs, image, e);
	uint8_t b[4 + 4 + 16 + 4];
	memset(b, 0, sizeof(b));
	put32(b, (uint32_t)pid);
	size_t n = strnlen(h->comm, 16);
	uint16_t oh[2] = { 2, (uint16_t)n };
	memcpy(b + 4, oh, 4);
	memcpy(b + 8, h->comm, n);
	pcap_block(x, 0x80000001, b, 8 + ((n + 3) & ~(size_t)3) + 4);
	return e->index;
}

/* An enhanced packet block: interface 0, ns since the epoch, the call as a comment and its
 * process as a Darwin process event block's index. */
static void enhanced_packet(struct export_ctx *x, const struct st_record *r, const uint8_t *b, size_t tot,
                            const char *comment)
{
	uint32_t dpeb = process_block(x, r->proc);
	const struct st_trace_hdr *fh = &r->file->hdr;
	uint64_t ts = fh->real0 + ((r->ts_exit ? r->ts_exit : r->ts_enter) - fh->mono0);
	size_t clen = strlen(comment), olen = 4 + ((clen + 3) & ~(size_t)3) + 8 + 4;
	size_t body = 20 + ((tot + 3) & ~(size_t)3) + olen;
	uint8_t *eb = st_xcalloc(1, body);
	put32(eb, 0);
	put32(eb + 4, (uint32_t)(ts >> 32));
	put32(eb + 8, (uint32_t)ts);
	put32(eb + 12, (uint32_t)tot);
	put32(eb + 16, (uint32_t)tot);
	memcpy(eb + 20, b, tot);
	uint8_t *o = eb + 20 + ((tot + 3) & ~(size_t)3);
	uint16_t oh[2] = { 1, (uint16_t)clen };
	memcpy(o, oh, 4);
	memcpy(o + 4, comment, clen);
	o += 4 + ((clen + 3) & ~(size_t)3);
	uint16_t ph[2] = { 0x8001, 4 };     /* epb_dpeb_id */
	memcpy(o, ph, 4);
	put32(o + 4, dpeb);
	pcap_block(x, 6, eb, body);
	free(eb);
}

static void packet(struct export_ctx *x, const struct st_record *r, const struct endpoint *src,
                   const struct endpoint *dst, int proto, uint32_t seq, uint32_t ack, int flags,
                   const uint8_t *data, size_t dlen, size_t len, const char *comment)
{
	struct pcap_state *p = x->state;
	size_t l4 = proto == IPPROTO_TCP ? 20 : 8, ip = src->family == AF_INET ? 20 : 40;
	size_t tot = ip + l4 + len;
	if (p->cap < tot + 64) {
		p->cap = tot + 64;
		p->buf = st_xrealloc(p->buf, p->cap);
	}
	uint8_t *b = p->buf;
	memset(b, 0, ip + l4);
	if (len)
		memset(b + ip + l4, 0, len);
	if (data && dlen)
		memcpy(b + ip + l4, data, dlen < len ? dlen : len);
	uint8_t *h4 = b + ip;
	h4[0] = (uint8_t)(src->port >> 8);
	h4[1] = (uint8_t)src->port;
	h4[2] = (uint8_t)(dst->port >> 8);
	h4[3] = (uint8_t)dst->port;
	if (proto == IPPROTO_TCP) {
		uint32_t ns = htonl(seq), na = htonl(ack);
		memcpy(h4 + 4, &ns, 4);
		memcpy(h4 + 8, &na, 4);
		h4[12] = 5 << 4;
		h4[13] = (uint8_t)flags;
		h4[14] = 0xff;              /* window 65535 */
		h4[15] = 0xff;
	} else {
		h4[4] = (uint8_t)((l4 + len) >> 8);
		h4[5] = (uint8_t)(l4 + len);
	}
	/* pseudo-header sum, then the L4 checksum */
	uint32_t s = 0;
	size_t alen = src->family == AF_INET ? 4 : 16;
	s = sum16(src->addr, alen, s);
	s = sum16(dst->addr, alen, s);
	s += (uint32_t)proto + (uint32_t)(l4 + len);
	s = sum16(h4, l4 + len, s);
	uint16_t ck = fold(s);
	if (proto == IPPROTO_UDP && ck == 0)
		ck = 0xffff;
	h4[proto == IPPROTO_TCP ? 16 : 6] = (uint8_t)(ck >> 8);
	h4[proto == IPPROTO_TCP ? 17 : 7] = (uint8_t)ck;
	if (src->family == AF_INET) {
		b[0] = 0x45;
		b[2] = (uint8_t)(tot >> 8);
		b[3] = (uint8_t)tot;
		b[6] = 0x40;                /* don't fragment */
		b[8] = 64;
		b[9] = (uint8_t)proto;
		memcpy(b + 12, src->addr, 4);
		memcpy(b + 16, dst->addr, 4);
		uint16_t hc = fold(sum16(b, 20, 0));
		b[10] = (uint8_t)(hc >> 8);
		b[11] = (uint8_t)hc;
	} else {
		b[0] = 0x60;
		b[4] = (uint8_t)((l4 + len) >> 8);
		b[5] = (uint8_t)(l4 + len);
		b[6] = (uint8_t)proto;
		b[7] = 64;
		memcpy(b + 8, src->addr, 16);
		memcpy(b + 24, dst->addr, 16);
	}
	enhanced_packet(x, r, b, tot, comment);
}

struct end_ix {                     /* "local|peer" of every traced TCP socket */
	char key[330];
	const struct lc_sock *s;        /* (the first with those ends) */
	UT_hash_handle hh;
};

static void ends_key(char *key, size_t n, const char *local, const char *peer)
{
	char a[160], b[160];
	snprintf(key, n, "%s|%s", st_addr_plain(local, a, sizeof(a)), st_addr_plain(peer, b, sizeof(b)));
}

/* The other end of s, if it is in the trace too (an index of all the trace's TCP ends, made
 * once), as the whole trace saw it. */
static const struct lc_sock *other_end_traced(struct export_ctx *x, const struct lc_sock *s)
{
	static struct end_ix *ix;
	static struct lc *built_for;
	if (built_for != x->sel) {
		ST_HASH_FREE(ix);
		built_for = x->sel;
		for (int i = 0; x->sel && i < lc_count(x->sel); i++) {
			const struct lc_sock *o = lc_get(x->sel, i);
			if (o->type != SOCK_STREAM || !o->local[0] || !o->peer[0])
				continue;
			struct end_ix *e = st_xcalloc(1, sizeof(*e));
			ends_key(e->key, sizeof(e->key), o->local, o->peer);
			e->s = o;
			struct end_ix *dup;
			HASH_FIND_STR(ix, e->key, dup);
			if (dup)
				free(e);
			else
				HASH_ADD_STR(ix, key, e);
		}
	}
	char key[330];
	struct end_ix *e;
	ends_key(key, sizeof(key), s->peer, s->local);
	HASH_FIND_STR(ix, key, e);
	return e ? e->s : NULL;
}

/* At most how many data bytes the sending end put on the wire, when a reset dropped the rest
 * of its send queue unsent (what it wrote, short of that, never left): the sender's kernel
 * count once reset, else what the receiving end read plus what it left unread when it reset
 * the connection (a close with unread data, SO_LINGER {1,0}); no limit otherwise. */
static uint64_t wire_limit(const struct lc_sock *from, const struct lc_sock *to)
{
	if (from && from->wire_out >= 0)
		return (uint64_t)from->wire_out;
	if (to && (to->linger0 || to->unread > 0) && to->end != END_NONE && to->unread >= 0) {
		/* its kernel's count when taken (reads through stdio, or overwritten by the ring,
		 * are not in bytes_in; a FIN counts one more: a limit one too high cuts nothing) */
		uint64_t got = to->bytes_in + (uint64_t)to->unread;
		return to->kern_in > 0 && (uint64_t)to->kern_in > got ? (uint64_t)to->kern_in : got;
	}
	return UINT64_MAX;
}

/* The connection a TCP socket belongs to, and which end (0 or 1) the socket is. */
/* A socket other than the one end `me` had, made by socket() or accept() (not one inherited
 * or found open: inetd's fds 0 and 1 are one connection), on a connection that is over
 * (reset, closed, or FIN both ways): the same 4-tuple used again. */
static int ended_for(const struct conn *c, const struct lc_sock *s, int me)
{
	return c->sock[me] && c->sock[me] != s->id && (s->origin == ST_OR_SOCKET || s->origin == ST_OR_ACCEPT) &&
	       (c->rst[0] || c->rst[1] || c->closed[me] || (c->fin[0] && c->fin[1]));
}

static struct conn *conn_for(struct export_ctx *x, struct lc_sock *s, int *me)
{
	struct pcap_state *p = x->state;
	/* a socket whose birth the ring overwrote learns what it was later in the trace (its
	 * sockstate at close): pass 1 saw that, with the same ids */
	const struct lc_sock *whole = x->sel ? lc_get(x->sel, s->id - 1) : NULL;
	if (whole && (!s->local[0] || !s->peer[0] || s->type < 0)) {
		if (!s->local[0])
			memcpy(s->local, whole->local, sizeof(s->local));
		if (!s->peer[0])
			memcpy(s->peer, whole->peer, sizeof(s->peer));
		if (s->type < 0)
			s->type = whole->type;
		if (s->family < 0)
			s->family = whole->family;
	}
	struct endpoint a, b;
	char pb[160], lb[160];
	const char *peer = st_addr_plain(s->peer[0] ? s->peer : s->npeers ? s->peers[0] : "", pb, sizeof(pb));
	const char *local = st_addr_plain(s->local, lb, sizeof(lb));
	if (s->type != SOCK_STREAM || parse_ep(local, &a) || parse_ep(peer, &b) || a.family != b.family)
		return NULL;
	/* a connect that failed leaves the local address a wildcard (0.0.0.0:port); towards a
	 * loopback peer the packets went from that same loopback address */
	static const uint8_t zero[16], lo6[16] = { [15] = 1 };
	int alen = a.family == AF_INET ? 4 : 16;
	if (!memcmp(a.addr, zero, (size_t)alen) &&
	    (a.family == AF_INET ? b.addr[0] == 127 : !memcmp(b.addr, lo6, 16)))
		memcpy(a.addr, b.addr, (size_t)alen);
	char key[300];
	int lt = strcmp(local, peer) < 0;
	snprintf(key, sizeof(key), "%s|%s", lt ? local : peer, lt ? peer : local);
	struct conn *c, *old = NULL;
	HASH_FIND_STR(p->conns, key, c);
	for (struct conn *o = c ? c->older : NULL; o; o = o->older)
		if (o->sock[0] == s->id || o->sock[1] == s->id) {   /* a late record of an old one */
			*me = strcmp(local, o->a_str) == 0 ? 0 : 1;
			return o;
		}
	if (c && ended_for(c, s, strcmp(local, c->a_str) == 0 ? 0 : 1)) {
		HASH_DEL(p->conns, c);          /* the 4-tuple again: a new connection */
		old = c;
		c = NULL;
	}
	if (!c) {
		c = st_xcalloc(1, sizeof(*c));
		snprintf(c->key, sizeof(c->key), "%s", key);
		snprintf(c->a_str, sizeof(c->a_str), "%s", local);
		c->ep[0] = a;
		c->ep[1] = b;
		c->seq[0] = 1000;
		c->seq[1] = 5000;
		if (old) {              /* (a new connection's sequence numbers start above the old's) */
			c->seq[0] = old->seq[0] + 1000000;
			c->seq[1] = old->seq[1] + 1000000;
		}
		const struct lc_sock *o = other_end_traced(x, s);
		c->both = o != NULL;
		c->cap[0] = wire_limit(whole, o);
		c->cap[1] = wire_limit(o, whole);
		c->older = old;
		HASH_ADD_STR(p->conns, key, c);
	}
	*me = strcmp(local, c->a_str) == 0 ? 0 : 1;
	if (!c->sock[*me])
		c->sock[*me] = s->id;
	return c;
}

#define SEG 65000u

/* `len` bytes from end `from` (payload where kept, zeros beyond), in segments */
static void tcp_data(struct export_ctx *x, const struct st_record *r, struct conn *c, int from,
                     const uint8_t *data, size_t dlen, size_t len, const char *cm)
{
	if (c->sent[from] + len > c->cap[from])         /* dropped from the queue by a reset */
		len = c->sent[from] >= c->cap[from] ? 0 : (size_t)(c->cap[from] - c->sent[from]);
	c->sent[from] += len;
	for (size_t off = 0; off < len;) {
		size_t k = len - off < SEG ? len - off : SEG;
		size_t have = dlen > off ? dlen - off : 0;
		packet(x, r, &c->ep[from], &c->ep[!from], IPPROTO_TCP, c->seq[from], c->seq[!from], F_PSH | F_ACK,
		       data ? data + off : NULL, have, k, cm);
		c->seq[from] += (uint32_t)k;
		off += k;
	}
}

static void tcp_flag(struct export_ctx *x, const struct st_record *r, struct conn *c, int from, int flags,
                     const char *cm)
{
	packet(x, r, &c->ep[from], &c->ep[!from], IPPROTO_TCP, c->seq[from], flags & F_RST ? 0 : c->seq[!from],
	       flags, NULL, 0, 0, cm);
	if (flags & F_FIN) {
		c->seq[from]++;
		c->fin[from] = 1;
	}
	if (flags & F_RST)
		c->rst[from] = 1;
}

static void handshake(struct export_ctx *x, const struct st_record *r, struct conn *c, int client, int me,
                      const char *cm)
{
	int sv = !client;
	/* with one end traced, the other end's packets say they are inferred */
	char inf[800];
	snprintf(inf, sizeof(inf), "%s (inferred: the other end is not traced)", cm);
	const char *cc = c->both || client == me ? cm : inf, *sc = c->both || sv == me ? cm : inf;
	if (!c->syn_sent)
		packet(x, r, &c->ep[client], &c->ep[sv], IPPROTO_TCP, c->seq[client], 0, F_SYN, NULL, 0, 0, cc);
	packet(x, r, &c->ep[sv], &c->ep[client], IPPROTO_TCP, c->seq[sv], c->seq[client] + 1, F_SYN | F_ACK, NULL,
	       0, 0, sc);
	c->seq[client]++;
	c->seq[sv]++;
	packet(x, r, &c->ep[client], &c->ep[sv], IPPROTO_TCP, c->seq[client], c->seq[sv], F_ACK, NULL, 0, 0, cc);
	c->syn_done = 1;
}

/* One record's part in a TCP connection: the record, the connection, which end it is. */
struct seg {
	struct export_ctx *x;
	const struct st_record *r;
	struct conn *c;
	int me, other;
	char *cm;                       /* the packets' comment (notes appended, then cut off) */
	size_t cmn;
	const uint8_t *data;            /* its payload, if kept */
	size_t dlen;
	int64_t moved;                  /* bytes it moved, dir: 1 out, -1 in, 0 */
	int dir;
};

/* Append " (note)" to the comment; the length to cut it back to. */
static size_t note(struct seg *g, const char *text)
{
	size_t l = strlen(g->cm);
	snprintf(g->cm + l, g->cmn - l, " (%s)", text);
	return l;
}

/* End `from`'s stream out to `upto` bytes: the bytes its peer has already taken in (read, or
 * left unread when it reset) were on the wire, whether or not the sender's call has returned
 * yet. With with_payload, the last bytes of this record's payload are those bytes' tail. */
static void catch_up(struct seg *g, int from, uint64_t upto, int with_payload)
{
	struct conn *c = g->c;
	if (upto <= c->acc[from])
		return;
	uint64_t n = upto - c->acc[from];
	c->acc[from] = upto;
	size_t off = with_payload && (size_t)g->moved > n ? (size_t)g->moved - (size_t)n : 0;
	const uint8_t *d = with_payload && g->dlen > off ? g->data + off : NULL;
	tcp_data(g->x, g->r, c, from, d, d ? g->dlen - off : 0, (size_t)n, g->cm);
}

/* The handshake, as far as this record shows it; 1 if the record is done with (refused). */
static int tcp_open(struct seg *g, int ev, int subject)
{
	struct conn *c = g->c;
	int me = g->me, other = g->other;
	/* the SYN leaves when connect is called; the rest of the handshake is known done when the
	 * connect returns, a wait reports it writable, or the server accepts */
	if (!c->syn_done && !c->syn_sent && (ev & (EV_CONNECTING | EV_REFUSED)) && subject) {
		packet(g->x, g->r, &c->ep[me], &c->ep[other], IPPROTO_TCP, c->seq[me], 0, F_SYN, NULL, 0, 0, g->cm);
		c->syn_sent = 1;
	}
	if (!c->syn_done && c->syn_sent && (ev & EV_REFUSED)) {
		/* nobody listened: the port's kernel answered the SYN with RST */
		size_t l = note(g, "inferred: the refusing end");
		packet(g->x, g->r, &c->ep[other], &c->ep[me], IPPROTO_TCP, 0, c->seq[me] + 1, F_RST | F_ACK, NULL, 0, 0,
		       g->cm);
		g->cm[l] = 0;
		c->rst[other] = 1;
		c->syn_done = 1;
		return 1;
	}
	if (!c->syn_done && (ev & (EV_CONNECTED | EV_ACCEPTED)))
		handshake(g->x, g->r, c, ev & EV_CONNECTED ? me : other, me, g->cm);
	return 0;
}

/* What this end sent: the bytes its peer has not already accounted for. */
static void tcp_sent(struct seg *g)
{
	struct conn *c = g->c;
	int me = g->me, other = g->other;
	if (g->dir <= 0 || g->moved <= 0)
		return;
	c->wrote[me] += (uint64_t)g->moved;
	uint64_t fresh = c->wrote[me] > c->acc[me] ? c->wrote[me] - c->acc[me] : 0;
	if (fresh > (uint64_t)g->moved)
		fresh = (uint64_t)g->moved;
	c->acc[me] += fresh;
	size_t skip = (size_t)g->moved - (size_t)fresh;
	if (fresh && !c->rst[me] && !c->rst[other] && !c->fin[me]) {
		tcp_data(g->x, g->r, c, me, g->dlen > skip ? g->data + skip : NULL, g->dlen > skip ? g->dlen - skip : 0,
		         (size_t)fresh, g->cm);
		if (c->closed[other] && !c->rst[other])     /* its kernel answers a closed socket's data */
			tcp_flag(g->x, g->r, c, other, F_RST, g->cm);
	}
}

/* What this end saw of the other: its data, FIN, RST. Both ends traced: causality — what this
 * end read or saw was on the wire before, though the sender's call may return (or be stamped)
 * after the receiver went on. One end traced: the other end's segments inferred from it. */
static void tcp_seen(struct seg *g, int ev)
{
	struct conn *c = g->c;
	int me = g->me, other = g->other;
	size_t l = note(g, c->both ? "sent by the other end before this; its call returned later"
	                           : "inferred: the other end is not traced");
	if (g->dir < 0 && g->moved > 0) {
		c->readb[other] += (uint64_t)g->moved;
		if (!c->rst[other] && !c->fin[other])
			catch_up(g, other, c->readb[other], 1);
		else
			c->acc[other] = c->readb[other] > c->acc[other] ? c->readb[other] : c->acc[other];
	}
	if ((ev & EV_PEER_FIN) && !c->fin[other] && !c->rst[other] && !(c->both && c->rst[me]))
		tcp_flag(g->x, g->r, c, other, F_FIN | F_ACK, g->cm);
	/* (one end: an EPIPE too — both traced, the RST comes from the other end's own calls) */
	if ((ev & (c->both ? EV_RESET : EV_RESET | EV_EPIPE)) && !c->rst[other] && !(c->both && c->rst[me]))
		tcp_flag(g->x, g->r, c, other, F_RST, g->cm);
	g->cm[l] = 0;
}

/* This end's close: an RST when it left data unread or lingered {1,0}, else a FIN. */
static void tcp_closed(struct seg *g, struct lc_sock *s, int ev)
{
	struct conn *c = g->c;
	int me = g->me, other = g->other;
	int unread = s->unread > 0;     /* its sockstate just before the close that ended it */
	int dead = c->rst[0] || c->rst[1];      /* a reset connection sends nothing more */
	if ((ev & (EV_CLOSED | EV_EXIT_CLOSED)) && unread && !dead && !c->fin[other]) {
		/* what it held unread had arrived: the sender's call may not have returned yet (both
		 * traced), or those bytes were never read (one end traced) */
		size_t l = note(g, c->both ? "sent by the other end before this; unread here"
		                           : "inferred: the other end is not traced; unread here");
		catch_up(g, other, c->readb[other] + (uint64_t)s->unread, 0);
		g->cm[l] = 0;
	}
	if ((ev & EV_ABORTIVE) || ((ev & (EV_CLOSED | EV_EXIT_CLOSED)) && unread)) {
		if (!dead)
			tcp_flag(g->x, g->r, c, me, F_RST, g->cm);
	} else if ((ev & (EV_HALF_CLOSED | EV_CLOSED | EV_EXIT_CLOSED)) && !c->fin[me] && !dead && c->syn_done) {
		tcp_flag(g->x, g->r, c, me, F_FIN | F_ACK, g->cm);
	}
	if (ev & (EV_CLOSED | EV_EXIT_CLOSED))
		c->closed[me] = 1;
}

/* One record's segments on a TCP connection, each from the end that sent it. When both ends
 * are traced each end's own calls make its segments (what the other never read still
 * appears); with one end traced, the other's are inferred from this end's reads and errors
 * (and say so). */
static void tcp_record(struct export_ctx *x, const struct st_record *r, struct lc_sock *s, int ev,
                       int subject, char *cm, size_t cmn)
{
	struct seg g = { .x = x, .r = r, .cm = cm, .cmn = cmn };
	g.c = conn_for(x, s, &g.me);
	if (!g.c)
		return;
	g.other = !g.me;
	if (tcp_open(&g, ev, subject))
		return;
	struct st_tlv_view tv;
	if (subject && st_tlv_find(r, ST_T_DATA, &tv)) {
		g.data = tv.p;
		g.dlen = tv.len;
	}
	g.dir = subject ? st_rec_bytes(r, &g.moved) : 0;
	tcp_sent(&g);
	tcp_seen(&g, ev);
	tcp_closed(&g, s, ev);
}

/* One end traced: the other end's FIN, when this end's kernel counted it (tcp_info's
 * bytes_received is the data that arrived plus one for a FIN) though the program never read
 * the end of stream. */
static void tcp_sockstate(struct export_ctx *x, const struct st_record *r, struct lc_sock *s)
{
	struct st_tcpbytes tb;
	if (s->type != SOCK_STREAM || s->origin == ST_OR_WRAPPED || s->stdio || !st_tcpbytes(r, &tb))
		return;
	char cm[300];
	struct seg g = { .x = x, .r = r, .cm = cm, .cmn = sizeof(cm) };
	struct conn *c = g.c = conn_for(x, s, &g.me);
	int other = g.other = !g.me;
	if (!c || c->both || !c->syn_done || c->fin[other] || c->rst[other] || c->rst[g.me] ||
	    tb.received != s->bytes_in + (uint32_t)r->a[0] + 1)
		return;
	snprintf(cm, sizeof(cm), "sockstate(fd=%d) bytes_received=%llu pid %d (inferred: the other end is not traced; "
	         "its FIN, counted by this end's kernel)", r->fd, (unsigned long long)tb.received, r->proc->pid);
	catch_up(&g, other, c->readb[other] + (uint32_t)r->a[0], 0);   /* what it left unread */
	tcp_flag(x, r, c, other, F_FIN | F_ACK, cm);
}

static void pcap_record(struct export_ctx *x, const struct st_record *r, struct lc_sock *s, int ev)
{
	if (r->call == ST_C_SOCKSTATE && s) {   /* (the lifetime keeps what the close needs) */
		tcp_sockstate(x, r, s);
		return;
	}
	if (!s || (!r->complete && r->call != ST_C_EXIT))
		return;
	const struct lc_sock *whole = x->sel ? lc_get(x->sel, s->id - 1) : NULL;
	int fam = s->family >= 0 ? s->family : whole ? whole->family : -1;
	if (fam != AF_INET && fam != AF_INET6)
		return;
	char cm[700], top[512] = "";
	struct st_tlv_view tv;
	if (st_tlv_find(r, ST_T_FRAMES, &tv) && tv.len >= 8) {
		uint64_t a;
		memcpy(&a, tv.p, 8);
		symb_format(x->sy, r->proc, a, top, sizeof(top));
	}
	snprintf(cm, sizeof(cm), "%s(fd=%d) = %lld%s%s pid %d tid %u%s%s", st_call_name(r->call), r->fd,
	         (long long)r->ret, r->err ? " " : "", r->err ? st_errno_name(r->err) : "", r->proc->pid, r->tid,
	         top[0] ? " at " : "", top);
	const uint8_t *data = NULL;
	size_t dlen = 0;
	if (st_tlv_find(r, ST_T_DATA, &tv)) {
		data = tv.p;
		dlen = tv.len;
	}
	int64_t moved;
	int dir = st_rec_bytes(r, &moved);      /* sendfile, splice and the mmsg calls too */
	if (s->type == SOCK_DGRAM) {
		struct endpoint me, other;
		if (parse_ep(s->local[0] ? s->local : s->family == AF_INET6 ? "[::]:0" : "0.0.0.0:0", &me))
			return;
		char addr[160] = "";
		struct st_tlv_view t;
		if (st_tlv_find(r, dir > 0 ? ST_T_ADDR : ST_T_PEER, &t))
			st_fmt_addr(t.p, t.len, addr, sizeof(addr));
		else
			snprintf(addr, sizeof(addr), "%s", s->peer);
		if (r->ret <= 0 || parse_ep(addr, &other) || other.family != me.family)
			return;
		/* both ends traced: the receiver's recvfrom is the sender's sendto again */
		struct pcap_state *p = x->state;
		char key[400];
		struct dgram *dg;
		snprintf(key, sizeof(key), "%s|%s|%lld", dir > 0 ? s->local : addr, dir > 0 ? addr : s->local,
		         (long long)r->ret);
		HASH_FIND_STR(p->dgrams, key, dg);
		if (!dg) {
			dg = st_xcalloc(1, sizeof(*dg));
			snprintf(dg->key, sizeof(dg->key), "%s", key);
			HASH_ADD_STR(p->dgrams, key, dg);
		}
		/* count > 0: sends made packets their receives have not matched yet; < 0: the other
		 * way round (a blocked recvfrom entered before the send that fed it) */
		if (dir > 0) {
			if (dg->count++ >= 0)
				packet(x, r, &me, &other, IPPROTO_UDP, 0, 0, 0, data, dlen, (size_t)r->ret, cm);
		} else if (dir < 0) {
			if (dg->count-- <= 0)
				packet(x, r, &other, &me, IPPROTO_UDP, 0, 0, 0, data, dlen, (size_t)r->ret, cm);
		}
		return;
	}
	/* every socket the record touched: the one it is about, and (a wait) those it reported */
	(void)ev;
	const struct lc_touch *tt;
	int nt = lc_touches(x->lc, &tt);
	for (int k = 0; k < nt; k++) {
		if (st_call_class(r->call) != ST_CL_WAIT || tt[k].s->pid != r->proc->pid || !tt[k].s->nfds) {
			tcp_record(x, r, tt[k].s, tt[k].ev, tt[k].s == s, cm, sizeof(cm));
			continue;
		}
		/* a wait: which of its sockets this packet is about ("poll(fd=-1)" says nothing) */
		char wc[sizeof(cm)];
		const char *rest = strchr(cm, ')');
		snprintf(wc, sizeof(wc), "%s(reported fd=%d%s", st_call_name(r->call), tt[k].s->fds[tt[k].s->nfds - 1],
		         rest ? rest : ")");
		tcp_record(x, r, tt[k].s, tt[k].ev, tt[k].s == s, wc, sizeof(wc));
	}
}

static void pcap_footer(struct export_ctx *x)
{
	struct pcap_state *p = x->state;
	for (struct conn *c = p->conns; c; c = c->hh.next)
		for (struct conn *o = c->older, *n; o; o = n) {
			n = o->older;
			free(o);
		}
	ST_HASH_FREE(p->conns);
	ST_HASH_FREE(p->procs);
	ST_HASH_FREE(p->dgrams);
	free(p->buf);
	free(p);
}

static const struct writer w_pcapng = { "pcapng", pcap_header, pcap_record, pcap_footer };

/* ---------------- the command ---------------- */

static const char usage[] =
	"usage: socktrace export --format chrome|jsonl|pcapng [-o FILE] [filters] [PATH...]\n"
	"  chrome   Trace Event JSON for Perfetto UI / chrome://tracing: every call a slice,\n"
	"           each socket lifetime an async span, EPIPE/ECONNRESET/deaths as instants\n"
	"  jsonl    one record per line: the dump --json schema plus socket id and stack\n"
	"  pcapng   TCP/UDP packets synthesised from the calls (handshakes, data, FIN, RST),\n"
	"           payload bytes when SOCKTRACE_PAYLOAD kept them (zeros otherwise), each\n"
	"           packet with a comment naming the call, pid/tid, fd and where it came from\n"
	"  -o FILE  write there instead of standard output\n" FILTER_HELP
	"examples: socktrace export --format chrome -o trace.json   (open in ui.perfetto.dev)\n"
	"          socktrace export --format pcapng -o calls.pcapng (open in Wireshark)\n";

struct export_opts {
	const struct writer *w;
	const char *outpath;
};

static int export_opt(int c, const char *arg, void *ctx)
{
	struct export_opts *e = ctx;
	if (c == 'o') {
		e->outpath = arg;
		return 0;
	}
	e->w = !strcmp(arg, "chrome") ? &w_chrome : !strcmp(arg, "jsonl") ? &w_jsonl
	       : !strcmp(arg, "pcapng") ? &w_pcapng : NULL;
	if (!e->w)
		fprintf(stderr, "socktrace export: --format: bad value '%s' (the formats are chrome, jsonl and pcapng)\n", arg);
	return e->w ? 0 : -2;
}

int command_export(int argc, char **argv)
{
	static const struct option own[] = { { "format", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' }, { 0, 0, 0, 0 } };
	struct export_opts eo = { NULL, NULL };
	const struct cmd_opts o = { "export", "f:o:", own, usage, export_opt, &eo, 0 };
	struct st_session ss;
	int rc = st_session_open(&ss, argc, argv, &o);
	if (rc >= 0)
		return rc;
	const struct writer *w = eo.w;
	const char *outpath = eo.outpath;
	if (!w) {
		fprintf(stderr, "socktrace export: --format is required (chrome, jsonl, pcapng)\n");
		st_session_end(&ss, 0);
		return 2;
	}
	if (!outpath && !strcmp(w->name, "pcapng") && isatty(1)) {
		fprintf(stderr, "socktrace export: not writing binary pcapng to a terminal: use -o FILE, "
		        "or a pipe (| tshark -r -)\n");
		st_session_end(&ss, 0);
		return 2;
	}
	struct st_file **files = ss.files;
	int n = ss.n;
	if (n == 0) {
		st_session_end(&ss, 0);
		return 2;
	}
	FILE *out = outpath ? fopen(outpath, "wb") : stdout;
	if (!out) {
		fprintf(stderr, "socktrace export: %s: %s\n", outpath, strerror(errno));
		st_session_end(&ss, 0);
		return 1;
	}
	/* pass 1: which sockets the filters select (memory: one struct per socket) */
	struct lc *sel = lc_new();
	st_session_lifetimes(&ss, sel);
	uint64_t t0 = ss.t0;
	int filtered = ss.flt.fd >= 0 || ss.flt.pid >= 0 || ss.flt.addr[0] || ss.flt.errors || ss.flt.since_ns >= 0 ||
	               ss.flt.until_ns >= 0;
	int ns = lc_count(sel);
	char *keep = st_xcalloc((size_t)ns + 2, 1);
	for (int i = 0; i < ns; i++)
		keep[i + 1] = (char)filter_match(&ss.flt, lc_get(sel, i), t0);
	/* pass 2: stream */
	struct export_ctx x = { .out = out, .t0 = t0, .sy = symb_new(), .lc = lc_new(), .w = w, .sel = sel };
	if (w->header)
		w->header(&x, files, n);
	struct st_order *m = st_order_new(files, n);
	const struct st_record *r;
	while ((r = st_order_next(m))) {
		struct lc_sock *s = lc_feed(x.lc, r);
		int ev = lc_events(x.lc);
		x.t_last = r->ts_exit > r->ts_enter ? r->ts_exit : r->ts_enter;
		if (filtered && (!s || s->id > ns || !keep[s->id]))
			continue;
		w->record(&x, r, s, ev);
	}
	st_order_free(m);
	lc_finish(x.lc);
	if (w->footer)
		w->footer(&x);
	errno = 0;
	int werr = fflush(out) != 0 || ferror(out) ? (errno ? errno : EIO) : 0;
	if (outpath && fclose(out) != 0 && !werr)
		werr = errno ? errno : EIO;
	if (werr)
		fprintf(stderr, "socktrace export: writing %s failed: %s\n", outpath ? outpath : "standard output",
		        strerror(werr));
	symb_free(x.sy);
	lc_free(x.lc);
	lc_free(sel);
	free(keep);
	rc = st_session_end(&ss, 1);
	return rc ? rc : werr ? 1 : 0;
}
