/* Turning raw record fields into names people know: calls, errnos, flags, addresses. */
#ifndef ST_DECODE_H
#define ST_DECODE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "emit.h"
#include "reader.h"

const char *st_call_name(int call);
/* Calls whose result is payload bytes sent (send, sendto, sendmsg, write, writev, sendfile)
 * or received (recv, recvfrom, recvmsg, read, readv); the mmsg calls count messages. */
int st_call_sends(int call);
int st_call_receives(int call);
int st_call_class(int call);                 /* enum st_class */
const struct st_calldesc *st_call_desc(int call);
int st_rec_bytes(const struct st_record *r, int64_t *bytes);   /* 1 out, -1 in, 0 */
const char *st_errno_name(int err);          /* "EPIPE"; NULL for 0 */
const char *st_family_name(int family);
const char *st_socktype_name(int type);       /* "SOCK_STREAM"; NULL if unknown */
const char *st_origin_name(int origin);
const char *st_tcp_state_name(int state);       /* tcpi_state: "CLOSE_WAIT"; NULL if unknown */
/* An address as text with IPv4-mapped IPv6 written as IPv4 (buf when changed); equality so. */
const char *st_addr_plain(const char *a, char *buf, size_t n);
int st_addr_eq(const char *a, const char *b);       /* enum st_origin: "accept"... */
void st_fmt_addr(const uint8_t *raw, unsigned len, char *out, size_t outlen);
void st_fmt_flags(uint64_t v, const void *table, char *out, size_t outlen);

/* "call(fd=3, args...) = ret ERRNO (text) <duration>", no newline. */
void st_print_call(FILE *out, const struct st_record *r);
/* What SOCKTRACE_INJECT did to the call ("error=EPIPE") into buf; 0 if nothing. */
int st_injected(const struct st_record *r, char *buf, size_t n);
/* getsockopt(SOL_SOCKET, SO_ERROR)'s value (0: no error pending); -1 for any other record. */
int st_so_error(const struct st_record *r);
/* An inherited/unseen socket's inode (strace's socket:[N]), 0 when not recorded. */
uint64_t st_found_inode(const struct st_record *r);
/* A sockstate's TCP byte counts (ST_T_TCPBYTES): 1 when the record has them. */
int st_tcpbytes(const struct st_record *r, struct st_tcpbytes *tb);

/* Emit the decoded arguments of a record as key/value pairs. */
void st_emit_args(struct emit *e, const struct st_record *r);

#endif
