/* socktrace call catalogue: X(id, name) for every recorded call or event, shared by both sides. */
#ifndef SOCKTRACE_CALLS_H
#define SOCKTRACE_CALLS_H

/*
 * Meaning of struct st_rec fields per call (fd is the socket the call is about; -1 if none):
 *   socket/socketpair     a0 domain, a1 type (with flags), a2 protocol; FDS at exit (socketpair)
 *   bind/connect          ADDR in; LOCAL (and PEER for connect) at exit
 *   listen                a0 backlog
 *   accept/accept4        a0 flags; ret new fd; LOCAL, PEER of the new fd at exit
 *   send/recv/read/write  a0 length asked, a1 flags; DATA payload; sendto ADDR, recvfrom PEER;
 *                         sendto/sendmsg: LOCAL at exit when the socket had no address yet
 *   sendmsg/recvmsg       a0 total iov length, a1 flags, a2 controllen; ADDR/PEER; DATA
 *   sendmmsg/recvmmsg     a0 vlen, a1 flags; U64 total bytes at exit
 *   readv/writev          a0 total iov length, a1 iovcnt
 *   sendfile              fd out, a0 in fd, a1 count, a2 offset (or -1)
 *   splice                fd = the socket end, a0 other fd, a1 length, a2 flags | 1<<32 if fd is the output
 *   shutdown              a0 how
 *   close                 -
 *   close_range           a0 first, a1 last, a2 flags; FDS sockets among them
 *   closefrom             a0 lowfd; FDS sockets among them
 *   dup/dup2/dup3         fd old, a0 new (dup2/dup3), a1 flags (dup3); ret new fd
 *   fcntl                 a0 cmd, a1 arg
 *   ioctl                 a0 request, a1 value (FIONBIO)
 *   setsockopt            a0 level, a1 optname, a2 value (int, or onoff<<32|linger for SO_LINGER)
 *   getsockopt            a0 level, a1 optname; U64 value at exit
 *   getsockname/peername  LOCAL / PEER at exit
 *   poll/ppoll            a0 nfds, a1 timeout ms (-1 infinite); POLL entries of sockets at exit
 *   select/pselect        a0 nfds, a1 timeout ms; POLL entries (events asked, revents ready)
 *   epoll_ctl             fd target, a0 epfd, a1 op, a2 events; U64 data
 *   epoll_wait/pwait      fd epfd, a0 maxevents, a1 timeout; EPOLL entries at exit
 *   getaddrinfo           STR node, STR2 service, a0 hints family; ret EAI code; ADDR first result
 *   signal/sigaction      a0 signal, a1 handler (0 SIG_DFL, 1 SIG_IGN, else address), a2 sa_flags;
 *                         a2 bit 63 set: the disposition found when the ring was created
 *   fork/vfork            ret child pid
 *   posix_spawn           STR path; U64 child pid
 *   exec                  STR path; an exec that worked never completes
 *   inherited             a socket found open when the tracer started (fd; LOCAL, PEER)
 *   unseen                a socket first seen in a call, made where we could not see it
 *   exit                  the process ends: a0 status given to exit()/_exit()
 */
#define ST_CALLS(X) \
	X(SOCKET, "socket") X(SOCKETPAIR, "socketpair") X(BIND, "bind") X(LISTEN, "listen") \
	X(ACCEPT, "accept") X(ACCEPT4, "accept4") X(CONNECT, "connect") \
	X(SEND, "send") X(SENDTO, "sendto") X(SENDMSG, "sendmsg") X(SENDMMSG, "sendmmsg") \
	X(RECV, "recv") X(RECVFROM, "recvfrom") X(RECVMSG, "recvmsg") X(RECVMMSG, "recvmmsg") \
	X(READ, "read") X(WRITE, "write") X(READV, "readv") X(WRITEV, "writev") \
	X(SENDFILE, "sendfile") X(SPLICE, "splice") X(SHUTDOWN, "shutdown") X(CLOSE, "close") \
	X(CLOSE_RANGE, "close_range") X(CLOSEFROM, "closefrom") X(DUP, "dup") X(DUP2, "dup2") \
	X(DUP3, "dup3") X(FCNTL, "fcntl") X(IOCTL, "ioctl") X(SETSOCKOPT, "setsockopt") \
	X(GETSOCKOPT, "getsockopt") X(GETSOCKNAME, "getsockname") X(GETPEERNAME, "getpeername") \
	X(POLL, "poll") X(PPOLL, "ppoll") X(SELECT, "select") X(PSELECT, "pselect") \
	X(EPOLL_CTL, "epoll_ctl") X(EPOLL_WAIT, "epoll_wait") X(EPOLL_PWAIT, "epoll_pwait") \
	X(GETADDRINFO, "getaddrinfo") X(SIGNAL, "signal") X(SIGACTION, "sigaction") \
	X(FORK, "fork") X(VFORK, "vfork") X(POSIX_SPAWN, "posix_spawn") X(EXEC, "exec") \
	X(INHERITED, "inherited") X(UNSEEN, "unseen") X(EXIT, "exit")

enum st_callid {
	ST_C_NONE = 0,
#define ST_X_ENUM(id, name) ST_C_##id,
	ST_CALLS(ST_X_ENUM)
#undef ST_X_ENUM
	ST_C_COUNT
};

_Static_assert(ST_C_COUNT <= 256, "call ids fit a byte");

/* The catalogue's names as one string: part of the layout fingerprint. */
#define ST_X_NAMESTR(id, name) name ","
#define ST_CALL_NAMES ST_CALLS(ST_X_NAMESTR)

#endif
