/* socktrace call catalogue: every recorded call or event — its id, name, class and what its scalars mean. */
#ifndef SOCKTRACE_CALLS_H
#define SOCKTRACE_CALLS_H

/*
 * One row per call:  X(ID, "name", CLASS, (ARG0), (ARG1), (ARG2), U64KEY, STRKEY, FDSKEY)
 *
 *   CLASS     what the call does to a socket (enum st_class below); the viewer's predicates
 *             (which calls send, receive, close, wait...) are read from it
 *   ARGn      (KIND, "key"): what st_rec.a[n] holds and the name it is shown under; (NONE, 0)
 *             when unused. KIND is enum st_argkind (decoded by viewer/decode.c).
 *   U64KEY    name of the call's ST_T_U64 value (bytes of mmsg, a getsockopt value, a child's
 *             pid...), or 0
 *   STRKEY    name of its ST_T_STR string (a host, a path), or 0
 *   FDSKEY    name of its ST_T_FDS list (socketpair's fds, the sockets close_range closed), or 0
 *
 * The other TLVs have one name each: ADDR "addr" (the address given), LOCAL "local", PEER
 * "peer" (after the call), DATA "data" (payload), POLL "fds", EPOLL "events"; a receive's
 * PEER is "from", getsockname/getpeername show theirs as "addr", getaddrinfo's ADDR is
 * "first" and its STR2 "service".
 *
 * st_rec.fd is the socket the call is about (-1 if none): sendfile's out fd, splice's socket
 * end, epoll_ctl's target, epoll_wait's epoll fd, dup's old fd. ret is the call's result
 * (the new fd of accept, dup; the child's pid of fork; getaddrinfo's EAI code). An exec that
 * worked never completes; signal/sigaction's a2 bit 63 marks the disposition found when the
 * process got its entry; inherited and unseen are sockets met open, not calls; sockstate is
 * what the kernel held for a socket just before it was closed, and right after a call on it
 * failed with EPIPE or ECONNRESET: bytes received and not read (SIOCINQ), bytes sent and not
 * acknowledged (SIOCOUTQ), TCP state (tcpi_state, 0 when not TCP).
 */
#define ST_CALLS(X)                                                                                   \
	X(SOCKET, "socket", CREATE, (FAMILY, "domain"), (SOCKTYPE, "type"), (INT, "protocol"), 0, 0, 0)  \
	X(SOCKETPAIR, "socketpair", CREATE, (FAMILY, "domain"), (SOCKTYPE, "type"), (INT, "protocol"), \
	  0, 0, "fds")                                                                                \
	X(BIND, "bind", NAME, (NONE, 0), (NONE, 0), (NONE, 0), 0, 0, 0)                                 \
	X(LISTEN, "listen", NAME, (INT, "backlog"), (NONE, 0), (NONE, 0), 0, 0, 0)                       \
	X(ACCEPT, "accept", ACCEPT, (NONE, 0), (NONE, 0), (NONE, 0), 0, 0, 0)                           \
	X(ACCEPT4, "accept4", ACCEPT, (SOCKFLAGS, "flags"), (NONE, 0), (NONE, 0), 0, 0, 0)              \
	X(CONNECT, "connect", CONNECT, (NONE, 0), (NONE, 0), (NONE, 0), 0, 0, 0)                        \
	X(SEND, "send", SEND, (INT, "len"), (MSGFLAGS, "flags"), (NONE, 0), 0, 0, 0)                    \
	X(SENDTO, "sendto", SEND, (INT, "len"), (MSGFLAGS, "flags"), (NONE, 0), 0, 0, 0)                \
	X(SENDMSG, "sendmsg", SEND, (INT, "len"), (MSGFLAGS, "flags"), (NONZERO, "controllen"), 0, 0, 0) \
	X(SENDMMSG, "sendmmsg", SENDMANY, (INT, "vlen"), (MSGFLAGS, "flags"), (NONE, 0), "bytes", 0, 0)  \
	X(RECV, "recv", RECV, (INT, "len"), (MSGFLAGS, "flags"), (NONE, 0), 0, 0, 0)                    \
	X(RECVFROM, "recvfrom", RECV, (INT, "len"), (MSGFLAGS, "flags"), (NONE, 0), 0, 0, 0)            \
	X(RECVMSG, "recvmsg", RECV, (INT, "len"), (MSGFLAGS, "flags"), (NONZERO, "controllen"), 0, 0, 0) \
	X(RECVMMSG, "recvmmsg", RECVMANY, (INT, "vlen"), (MSGFLAGS, "flags"), (NONE, 0), "bytes", 0, 0)  \
	X(READ, "read", RECV, (INT, "len"), (NONE, 0), (NONE, 0), 0, 0, 0)                              \
	X(WRITE, "write", SEND, (INT, "len"), (NONE, 0), (NONE, 0), 0, 0, 0)                            \
	X(READV, "readv", RECV, (INT, "len"), (INT, "iovcnt"), (NONE, 0), 0, 0, 0)                      \
	X(WRITEV, "writev", SEND, (INT, "len"), (INT, "iovcnt"), (NONE, 0), 0, 0, 0)                    \
	X(SENDFILE, "sendfile", SEND, (INT, "in_fd"), (INT, "count"), (INT, "offset"), 0, 0, 0)         \
	X(SPLICE, "splice", SPLICE, (INT, "other_fd"), (INT, "len"), (SPLICEDIR, "direction"), 0, 0, 0) \
	X(SHUTDOWN, "shutdown", SHUTDOWN, (SHUTHOW, "how"), (NONE, 0), (NONE, 0), 0, 0, 0)              \
	X(CLOSE, "close", CLOSE, (NONE, 0), (NONE, 0), (NONE, 0), 0, 0, 0)                              \
	X(CLOSE_RANGE, "close_range", CLOSEMANY, (INT, "first"), (UINT32, "last"), (INT, "flags"), 0, 0, \
	  "sockets")                                                                                  \
	X(CLOSEFROM, "closefrom", CLOSEMANY, (INT, "lowfd"), (NONE, 0), (NONE, 0), 0, 0, "sockets")     \
	X(DUP, "dup", ALIAS, (NONE, 0), (NONE, 0), (NONE, 0), 0, 0, 0)                                  \
	X(DUP2, "dup2", ALIAS, (INT, "newfd"), (NONE, 0), (NONE, 0), 0, 0, 0)                           \
	X(DUP3, "dup3", ALIAS, (INT, "newfd"), (INT, "flags"), (NONE, 0), 0, 0, 0)                      \
	X(FCNTL, "fcntl", CONTROL, (FCNTLCMD, "cmd"), (FCNTLARG, "arg"), (NONE, 0), 0, 0, 0)            \
	X(IOCTL, "ioctl", CONTROL, (IOCTLREQ, "request"), (INT, "value"), (NONE, 0), 0, 0, 0)           \
	X(SETSOCKOPT, "setsockopt", SOCKOPT, (LEVEL, "level"), (OPTNAME, "optname"), (OPTVAL, "value"), \
	  0, 0, 0)                                                                                    \
	X(GETSOCKOPT, "getsockopt", SOCKOPT, (LEVEL, "level"), (OPTNAME, "optname"), (NONE, 0), "value", \
	  0, 0)                                                                                       \
	X(GETSOCKNAME, "getsockname", ADDRESS, (NONE, 0), (NONE, 0), (NONE, 0), 0, 0, 0)                \
	X(GETPEERNAME, "getpeername", ADDRESS, (NONE, 0), (NONE, 0), (NONE, 0), 0, 0, 0)                \
	X(POLL, "poll", WAIT, (INT, "nfds"), (INT, "timeout_ms"), (NONE, 0), 0, 0, 0)                   \
	X(PPOLL, "ppoll", WAIT, (INT, "nfds"), (INT, "timeout_ms"), (NONE, 0), 0, 0, 0)                 \
	X(SELECT, "select", WAIT, (INT, "nfds"), (INT, "timeout_ms"), (NONE, 0), 0, 0, 0)               \
	X(PSELECT, "pselect", WAIT, (INT, "nfds"), (INT, "timeout_ms"), (NONE, 0), 0, 0, 0)             \
	X(EPOLL_CTL, "epoll_ctl", EPOLLCTL, (INT, "epfd"), (EPOLLOP, "op"), (EPOLLEV, "events"), "data", \
	  0, 0)                                                                                       \
	X(EPOLL_WAIT, "epoll_wait", WAIT, (INT, "maxevents"), (INT, "timeout_ms"), (NONE, 0), 0, 0, 0)  \
	X(EPOLL_PWAIT, "epoll_pwait", WAIT, (INT, "maxevents"), (INT, "timeout_ms"), (NONE, 0), 0, 0, 0) \
	X(GETADDRINFO, "getaddrinfo", RESOLVE, (FAMILY, "family"), (NONE, 0), (NONE, 0), "count", "node", \
	  0)                                                                                          \
	X(SIGNAL, "signal", SIGNAL, (SIGNUM, "signal"), (HANDLER, "handler"), (SIGFLAGS, 0), 0, 0, 0)  \
	X(SIGACTION, "sigaction", SIGNAL, (SIGNUM, "signal"), (HANDLER, "handler"), (SIGFLAGS, 0), 0, 0, \
	  0)                                                                                          \
	X(FORK, "fork", PROCESS, (NONE, 0), (NONE, 0), (NONE, 0), 0, 0, 0)                              \
	X(VFORK, "vfork", PROCESS, (NONE, 0), (NONE, 0), (NONE, 0), 0, 0, 0)                            \
	X(POSIX_SPAWN, "posix_spawn", PROCESS, (NONE, 0), (NONE, 0), (NONE, 0), "pid", "path", 0)      \
	X(EXEC, "exec", PROCESS, (NONE, 0), (NONE, 0), (NONE, 0), 0, "path", 0)                        \
	X(INHERITED, "inherited", FOUND, (FAMILY, "domain"), (SOCKTYPE, "type"), (INT, "protocol"), 0, 0, \
	  0)                                                                                          \
	X(UNSEEN, "unseen", FOUND, (FAMILY, "domain"), (SOCKTYPE, "type"), (INT, "protocol"), 0, 0, 0)  \
	X(EXIT, "exit", PROCESS, (INT32, "status"), (NONE, 0), (NONE, 0), 0, 0, 0)                      \
	X(SOCKSTATE, "sockstate", STATE, (UINT32, "unread"), (UINT32, "unsent"), (TCPSTATE, "state"), 0, 0, \
	  0)

/*
 * Every symbol libsocktrace.so exports is a row's name or listed here, with the row it records
 * into; NONE: recorded as no call of its own, interposed to keep the recorder right (the
 * module list, credentials and chroot for the process table, seccomp, libunwind's pipe, and
 * syscall(), which dispatches to the rows). Rows with no symbol of their own: ST_NO_SYMBOL.
 * tests/t_unit.sh checks `nm -D` against both.
 */
#define ST_ALIASES(A)                                                                            \
	A(__recv_chk, RECV) A(__recvfrom_chk, RECVFROM) A(__read_chk, READ) A(__poll_chk, POLL)      \
	A(__ppoll_chk, PPOLL) A(fcntl64, FCNTL) A(sendfile64, SENDFILE) A(_Fork, FORK)               \
	A(posix_spawnp, POSIX_SPAWN) A(execl, EXEC) A(execle, EXEC) A(execlp, EXEC) A(execv, EXEC)   \
	A(execve, EXEC) A(execvp, EXEC) A(execvpe, EXEC) A(_exit, EXIT) A(_Exit, EXIT)               \
	A(dlopen, NONE) A(dlclose, NONE) A(setuid, NONE) A(setgid, NONE) A(seteuid, NONE)            \
	A(setegid, NONE) A(setreuid, NONE) A(setregid, NONE) A(setresuid, NONE) A(setresgid, NONE)   \
	A(chroot, NONE) A(prctl, NONE) A(pipe2, NONE) A(syscall, NONE)
#define ST_NO_SYMBOL "exec", "inherited", "unseen", "exit", "sockstate"

/* What a call does to a socket. */
enum st_class {
	ST_CL_CREATE,       /* makes sockets: socket, socketpair */
	ST_CL_FOUND,        /* a socket met already open: inherited, unseen */
	ST_CL_NAME,         /* bind, listen */
	ST_CL_ACCEPT,       /* makes a socket from a listener */
	ST_CL_CONNECT,
	ST_CL_SEND,         /* moves bytes out: ret bytes */
	ST_CL_RECV,         /* moves bytes in: ret bytes, 0 = EOF */
	ST_CL_SENDMANY,     /* sendmmsg: ret messages, U64 bytes */
	ST_CL_RECVMANY,     /* recvmmsg */
	ST_CL_SPLICE,       /* either way: a2 bit 32 set when the socket is the output */
	ST_CL_SHUTDOWN,
	ST_CL_CLOSE,
	ST_CL_CLOSEMANY,    /* close_range, closefrom: FDS the sockets among them */
	ST_CL_ALIAS,        /* dup, dup2, dup3: ret a second fd for the socket */
	ST_CL_CONTROL,      /* fcntl, ioctl */
	ST_CL_SOCKOPT,
	ST_CL_ADDRESS,      /* getsockname, getpeername */
	ST_CL_WAIT,         /* poll, ppoll, select, pselect, epoll_wait, epoll_pwait */
	ST_CL_EPOLLCTL,
	ST_CL_RESOLVE,      /* getaddrinfo */
	ST_CL_SIGNAL,       /* signal, sigaction on SIGPIPE */
	ST_CL_PROCESS,      /* fork, vfork, posix_spawn, exec, exit */
	ST_CL_STATE,        /* sockstate: the kernel's queues at a close or a connection error */
};

/* How a scalar argument is shown. */
enum st_argkind {
	ST_AK_NONE, ST_AK_INT, ST_AK_INT32, ST_AK_UINT32, ST_AK_NONZERO, ST_AK_FAMILY, ST_AK_SOCKTYPE,
	ST_AK_SOCKFLAGS, ST_AK_MSGFLAGS, ST_AK_SHUTHOW, ST_AK_FCNTLCMD, ST_AK_FCNTLARG, ST_AK_IOCTLREQ,
	ST_AK_LEVEL, ST_AK_OPTNAME, ST_AK_OPTVAL, ST_AK_EPOLLOP, ST_AK_EPOLLEV, ST_AK_SPLICEDIR,
	ST_AK_SIGNUM, ST_AK_HANDLER, ST_AK_SIGFLAGS, ST_AK_TCPSTATE,
};

enum st_callid {
	ST_C_NONE = 0,
#define ST_X_ENUM(id, ...) ST_C_##id,
	ST_CALLS(ST_X_ENUM)
#undef ST_X_ENUM
	ST_C_COUNT
};

_Static_assert(ST_C_COUNT <= 256, "call ids fit a byte");

/* The catalogue's names as one string: part of the layout fingerprint. */
#define ST_X_NAMESTR(id, name, ...) name ","
#define ST_CALL_NAMES ST_CALLS(ST_X_NAMESTR)

/* One row of the catalogue as data (the viewer's table is generated from ST_CALLS). */
struct st_argdesc { unsigned char kind; const char *key; };
struct st_calldesc {
	const char *name;
	unsigned char cls;              /* enum st_class */
	struct st_argdesc arg[3];
	const char *u64key, *strkey, *fdskey;
};

#define ST_ARG_(kind, key) { ST_AK_##kind, key }
#define ST_ARG(p) ST_ARG_ p
#define ST_X_DESC(id, name, cls, a0, a1, a2, u64, str, fds) \
	[ST_C_##id] = { name, ST_CL_##cls, { ST_ARG(a0), ST_ARG(a1), ST_ARG(a2) }, u64, str, fds },

#endif
