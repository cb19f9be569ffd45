/* Unit tests for the decoder: every row of the call catalogue decodes, with its keys. */
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "decode.h"
#include "emit.h"
#include "reader.h"
#include "unit.h"

static struct st_record R;

static void put(int type, const void *p, unsigned len)
{
	struct st_tlv_hdr h = { (uint8_t)type, 0, (uint16_t)len };
	memcpy(R.blob + R.blob_len, &h, 4);
	memcpy(R.blob + R.blob_len + 4, p, len);
	R.blob_len += 4 + len;
}

/* The record as JSON, in a static buffer. */
static const char *as_json(void)
{
	static char *buf;
	size_t n;
	free(buf);
	FILE *f = open_memstream(&buf, &n);
	struct emit e;
	emit_init(&e, &emit_json, f);
	e.ops->begin_obj(&e, NULL);
	st_emit_args(&e, &R);
	e.ops->end_obj(&e);
	st_print_call(f, &R);       /* the text form must not trip either */
	fclose(f);
	return buf;
}

static int has_key(const char *json, const char *key)
{
	char k[64];
	snprintf(k, sizeof(k), "\"%s\":", key);
	return strstr(json, k) != NULL;
}

TEST(every_catalogue_row_decodes_with_its_keys)
{
	struct sockaddr_storage ss = { .ss_family = AF_INET };
	int32_t fds[2] = { 3, 4 };
	uint64_t u = 7;
	for (int call = 1; call < ST_C_COUNT; call++) {
		const struct st_calldesc *d = st_call_desc(call);
		CHECK(d->name && *d->name && strcmp(d->name, "?"), "call %d has no name", call);
		memset(&R, 0, offsetof(struct st_record, blob));
		R.call = (uint16_t)call;
		R.fd = 3;
		R.complete = 1;
		R.a[0] = 1;
		R.a[1] = call == ST_C_EPOLL_CTL ? 1 : 2;   /* (2 is EPOLL_CTL_DEL: no event) */
		R.a[2] = 3ull | 1ull << 63;
		put(ST_T_ADDR, &ss, 16);
		put(ST_T_U64, &u, 8);
		put(ST_T_STR, "host", 4);
		put(ST_T_FDS, fds, 8);
		const char *j = as_json();
		for (int i = 0; i < 3; i++) {
			int k = d->arg[i].kind;
			if (k == ST_AK_NONE || k == ST_AK_SIGFLAGS)
				continue;
			CHECK(has_key(j, d->arg[i].key), "%s: no '%s' in %s", d->name, d->arg[i].key, j);
		}
		if (d->u64key)
			CHECK(has_key(j, d->u64key), "%s: no '%s' in %s", d->name, d->u64key, j);
		if (d->strkey)
			CHECK(has_key(j, d->strkey), "%s: no '%s' in %s", d->name, d->strkey, j);
		if (d->fdskey)
			CHECK(has_key(j, d->fdskey), "%s: no '%s' in %s", d->name, d->fdskey, j);
		CHECK(has_key(j, d->cls == ST_CL_RESOLVE ? "first" : "addr"), "%s: the address given: %s", d->name, j);
	}
}

TEST(classes_answer_the_byte_questions)
{
	int64_t n;
	memset(&R, 0, offsetof(struct st_record, blob));
	R.complete = 1;
	R.ret = 5;
	R.call = ST_C_SENDFILE;
	CHECK(st_rec_bytes(&R, &n) == 1 && n == 5, "sendfile sends");
	R.call = ST_C_READV;
	CHECK(st_rec_bytes(&R, &n) == -1 && n == 5, "readv receives");
	R.call = ST_C_SPLICE;
	R.a[2] = 1ull << 32;
	CHECK(st_rec_bytes(&R, &n) == 1, "splice to the socket sends");
	R.a[2] = 0;
	CHECK(st_rec_bytes(&R, &n) == -1, "splice from the socket receives");
	R.call = ST_C_SENDMMSG;
	R.ret = 2;
	uint64_t b = 300;
	put(ST_T_U64, &b, 8);
	CHECK(st_rec_bytes(&R, &n) == 1 && n == 300, "sendmmsg's bytes, not its messages: %lld", (long long)n);
	R.call = ST_C_SETSOCKOPT;
	CHECK(st_rec_bytes(&R, &n) == 0, "setsockopt moves nothing");
	R.call = ST_C_SEND;
	R.ret = -1;
	CHECK(st_rec_bytes(&R, &n) == 0, "a failed send moved nothing");
	R.call = ST_C_RECV;
	R.ret = 5;
	R.a[1] = MSG_PEEK;
	CHECK(st_rec_bytes(&R, &n) == 0 && n == 0, "a peek reads nothing");
	R.ret = 0;
	CHECK(st_rec_bytes(&R, &n) == -1 && n == 0, "a peek of 0 is EOF");
}

TEST(options_epoll_del_and_tcp_counts_decode_as_strace_would)
{
	static const struct { int level, opt; const char *want; } o[] = {
		{ IPPROTO_IP, IP_TOS, "\"optname\":\"IP_TOS\"" },
		{ IPPROTO_TCP, TCP_NODELAY, "\"optname\":\"TCP_NODELAY\"" },
		{ IPPROTO_TCP, TCP_CONGESTION, "\"optname\":\"TCP_CONGESTION\"" },
		{ IPPROTO_IPV6, IPV6_TCLASS, "\"optname\":\"IPV6_TCLASS\"" },
		{ SOL_SOCKET, SO_PRIORITY, "\"optname\":\"SO_PRIORITY\"" },
		{ SOL_SOCKET, 9999, "\"optname\":9999" },
	};
	for (size_t i = 0; i < sizeof(o) / sizeof(o[0]); i++) {
		memset(&R, 0, offsetof(struct st_record, blob));
		R.call = ST_C_SETSOCKOPT;
		R.complete = 1;
		R.a[0] = (uint64_t)o[i].level;
		R.a[1] = (uint64_t)o[i].opt;
		const char *j = as_json();
		CHECK(strstr(j, o[i].want) != NULL, "want %s in %s", o[i].want, j);
	}
	memset(&R, 0, offsetof(struct st_record, blob));
	R.call = ST_C_EPOLL_CTL;
	R.complete = 1;
	R.a[1] = EPOLL_CTL_DEL;
	R.a[2] = EPOLLIN;
	uint64_t junk = 12345;
	put(ST_T_U64, &junk, 8);
	const char *j = as_json();
	CHECK(strstr(j, "EPOLL_CTL_DEL") && !has_key(j, "events") && !has_key(j, "data"), "DEL: %s", j);
	memset(&R, 0, offsetof(struct st_record, blob));
	R.call = ST_C_SOCKSTATE;
	R.complete = 1;
	struct st_tcpbytes tb = { .acked = 85, .received = 2712428, .sent = 84, .retrans = 0 };
	put(ST_T_TCPBYTES, &tb, sizeof(tb));
	j = as_json();
	CHECK(strstr(j, "\"bytes_sent\":84") && strstr(j, "\"bytes_received\":2712428") &&
	      !has_key(j, "bytes_retrans"), "sockstate: %s", j);
}

TEST(text_from_a_trace_is_neutralised)
{
	char s[64] = "ok\033[2J\033]0;x\a caf\xc3\xa9 \xc2\x9b bad\xff";
	st_sanitize(s);
	CHECK(!strcmp(s, "ok?[2J?]0;x? caf\xc3\xa9 ?? bad?"), "%s", s);
}

TEST(addresses_read_as_strace_and_wireshark_write_them)
{
	char out[128];
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons(6379) };
	inet_pton(AF_INET, "127.0.0.1", &a4.sin_addr);
	st_fmt_addr((const uint8_t *)&a4, sizeof(a4), out, sizeof(out));
	CHECK(!strcmp(out, "127.0.0.1:6379"), "%s", out);
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(443) };
	inet_pton(AF_INET6, "::1", &a6.sin6_addr);
	st_fmt_addr((const uint8_t *)&a6, sizeof(a6), out, sizeof(out));
	CHECK(!strcmp(out, "[::1]:443"), "%s", out);
	/* netlink: the port id (0 is the kernel), and the multicast groups when there are any */
	struct sockaddr_nl nl = { .nl_family = AF_NETLINK, .nl_pid = 4242 };
	st_fmt_addr((const uint8_t *)&nl, sizeof(nl), out, sizeof(out));
	CHECK(!strcmp(out, "netlink:4242"), "%s", out);
	nl.nl_pid = 0;
	nl.nl_groups = 0x11;
	st_fmt_addr((const uint8_t *)&nl, sizeof(nl), out, sizeof(out));
	CHECK(!strcmp(out, "netlink:0 groups=0x11"), "%s", out);
	st_fmt_addr((const uint8_t *)&nl, 2, out, sizeof(out));     /* cut short: the family only */
	CHECK(!strcmp(out, "AF_NETLINK"), "%s", out);
}
