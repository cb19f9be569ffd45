# Lifetimes and timelines rebuilt from real traces of the scenario programs.

t_sockets_brokenpipe() {
	traced "$W/rings" "$TB/brokenpipe" --ignore-sigpipe > /dev/null 2>&1
	"$VIEW" sockets --json rings > s.json || return 1
	expect_eq "lifetimes" "$(wc -l < s.json)" 3 || return 1
	local srv cli
	srv=$(dump rings | $Q values pid call=accept)
	cli=$(dump rings | $Q values pid call=connect)
	local sp; sp=$($Q values local pid="$cli" origin=socket < s.json)
	expect_eq "accepted socket's peer is the client's local address" \
		"$($Q values peer origin=accept < s.json)" "$sp" || return 1
	expect_eq "bytes in/out" "$($Q values bytes_in origin=accept < s.json) $($Q values bytes_out origin=accept < s.json)" "18 30" || return 1
	expect_eq "server socket ended in a broken pipe" "$($Q values end origin=accept < s.json)" broken_pipe || return 1
	expect_eq "its error" "$($Q values errors origin=accept < s.json)" '[{"call":"send","errno":"EPIPE"}]' || return 1
	expect_eq "client socket" "$($Q values end pid="$cli" origin=socket < s.json)" closed || return 1
	expect_eq "listener held by both processes (fork)" "$($Q values pids origin=socket pid="$srv" < s.json)" "[$srv,$cli]" || return 1
	# filters
	expect_eq "--errors" "$("$VIEW" sockets --json --errors rings | wc -l)" 1 || return 1
	expect_eq "--pid" "$("$VIEW" sockets --json --pid "$cli" rings | wc -l)" 2 || return 1
	expect_eq "--addr" "$("$VIEW" sockets --json --addr "$sp" rings | wc -l)" 2 || return 1
	expect_eq "--addr host only" "$("$VIEW" sockets --json --addr 127.0.0.1 rings | wc -l)" 3 || return 1
	expect_eq "--fd" "$("$VIEW" sockets --json --fd 4 rings | wc -l)" 1 || return 1
	# --until just before the client's socket was made (times are from the first record): only
	# the listener; the accepted socket starts when the accept returned, not when it began to wait
	local t0 cs; t0=$(dump rings | head -n 1 | $Q values ts_ns); cs=$($Q values start_ns pid="$cli" origin=socket < s.json)
	expect_eq "--until before the client" "$("$VIEW" sockets --json --until $((cs - t0 - 1))ns rings | $Q values origin)" socket || return 1
	expect_ge "the accepted socket starts after the client's" "$($Q values start_ns origin=accept < s.json)" "$cs" || return 1
	expect_eq "--since a wall-clock time" "$("$VIEW" sockets --json --since 00:00:00 rings | wc -l)" 3 || return 1
	expect_eq "--until a wall-clock time" "$("$VIEW" sockets --json --until 00:00:00 rings | wc -l)" 0 || return 1
	"$VIEW" sockets --fd 9 --bogus rings 2> /dev/null; expect_eq "unknown option" $? 2 || return 1
	"$VIEW" sockets --since xyz rings 2> /dev/null; expect_eq "bad time" $? 2
}
run_case sockets_lifetimes_and_filters t_sockets_brokenpipe

t_sockets_died() {
	traced "$W/rings" "$TB/brokenpipe" > /dev/null 2>&1
	expect_eq "SIGPIPE death" "$("$VIEW" sockets --json --fd 4 rings | $Q values end)" process_died
}
run_case sockets_process_died t_sockets_died

t_sockets_fork_server() {
	local pf=$W/port
	traced "$W/rings" "$TB/classic" fork-server "$pf" 2 &
	wait_file "$pf" || return 1
	"$TB/classic" tcp-client "$(cat "$pf")" a > /dev/null || return 1
	"$TB/classic" tcp-client "$(cat "$pf")" b > /dev/null || return 1
	wait
	"$VIEW" sockets --json rings > s.json || return 1
	expect_eq "listener + 2 accepted" "$(wc -l < s.json)" 3 || return 1
	# each accepted socket was held by the parent and one child; it ended when the child
	# closed it after the client's FIN, not when the parent closed its copy
	expect_eq "accepted held by 2 processes" "$($Q values pids origin=accept < s.json | tr -dc ',\n' | sort -u)" "," || return 1
	expect_eq "ended after peer FIN" "$($Q values end origin=accept < s.json | sort -u)" peer_closed || return 1
	expect_eq "listener open at exit? no: closed" "$($Q values end origin=socket < s.json)" closed
}
run_case sockets_fork_per_client t_sockets_fork_server

t_sockets_fd_reuse() {
	traced "$W/rings" "$TB/invisible" > /dev/null 2>&1 || return 1
	"$VIEW" sockets --json rings > s.json || return 1
	# fds 3 and 4 were reused by a second socketpair after closefrom(3): four lifetimes
	expect_eq "socketpair ends" "$($Q count origin=socketpair < s.json)" 4 || return 1
	expect_eq "first pair closed by closefrom" "$($Q values end origin=socketpair < s.json | head -n 2 | sort -u)" closed || return 1
	local a b; a=$($Q values id origin=socketpair < s.json | sed -n 3p); b=$($Q values pair id="$a" < s.json)
	expect_eq "pairs know each other" "$($Q values pair id="$b" < s.json)" "$a" || return 1
	expect_eq "second pair still open at exit" "$($Q values end id="$a" < s.json)" open_at_exit || return 1
	expect_eq "refused connect" "$($Q values end peer=127.0.0.1:1 < s.json)" refused
}
run_case sockets_fd_reuse_and_socketpair t_sockets_fd_reuse

t_sockets_udp() {
	udp_run "$W/rings" > /dev/null || return 1
	"$VIEW" sockets --json rings > s.json || return 1
	local srv; srv=$(dump rings | $Q values pid call=recvfrom | sort -u)
	expect_eq "server heard two peers" "$($Q values peers pid="$srv" < s.json | tr -cd ',')" "," || return 1
	expect_eq "datagram sockets" "$($Q count type=SOCK_DGRAM < s.json)" 3
}
run_case sockets_udp_peers t_sockets_udp

t_timeline() {
	local pf=$W/port
	"$TB/classic" tcp-server "$pf" &
	wait_file "$pf" || return 1
	traced "$W/rings" "$TB/classic" tcp-client "$(cat "$pf")" hello > /dev/null || return 1
	wait
	"$VIEW" timeline --stack rings > tl.txt || return 1
	grep -q -- "-- connected to 127.0.0.1:$(cat "$pf")" tl.txt || fail "no connected line" || return 1
	grep -q -- "-- half-closed: we sent FIN" tl.txt || fail "no half-close line" || return 1
	grep -q -- "-- closed" tl.txt || return 1
	# the send's stack names the test program's function and source line
	grep -A2 " send(fd=3" tl.txt | grep -Eq "at (client|main)\+0x[0-9a-f]+ \(tests/progs/classic.c:[0-9]+\) \[classic\]" \
		|| fail "send not symbolized: $(grep -A3 ' send(fd=3' tl.txt)" || return 1
	if grep -q $'\033' tl.txt; then fail "colour escapes in piped output"; fi
}
run_case timeline_states_and_stacks t_timeline

t_scenarios() {
	traced "$W/a" "$TB/scenarios" dup2-stdout > out.txt || return 1
	expect_eq "dup2 over stdout" "$(cat out.txt)" "server got 19 bytes" || return 1
	expect_eq "client socket had fds 4 and 1" "$("$VIEW" sockets --json a | $Q values fds origin=socket peer='*' | grep ,)" "[4,1]" || return 1
	expect_eq "closed when the last alias went" "$("$VIEW" sockets --json --fd 1 a | $Q values end)" closed || return 1
	# the data written through fd 1 counts for the socket behind it
	expect_eq "bytes through fd 1" "$("$VIEW" sockets --json --fd 1 a | $Q values bytes_out)" 19 || return 1

	traced "$W/b" "$TB/scenarios" linger0 > /dev/null || return 1
	"$VIEW" sockets --json b > b.json || return 1
	# the listener closed normally; the client closed abortively
	expect_eq "abortive close" "$($Q values end origin=socket < b.json | tr '\n' ' ')" "closed reset " || return 1
	expect_eq "peer got RST" "$($Q values errors origin=accept < b.json)" '[{"call":"recv","errno":"ECONNRESET"}]' || return 1
	"$VIEW" timeline b > b.txt || return 1
	grep -q -- "-- abortive close (SO_LINGER 0): RST sent" b.txt || fail "$(cat b.txt)" || return 1
	grep -q -- "-- connection reset by peer (RST)" b.txt || return 1

	traced "$W/c" "$TB/scenarios" nb-refused > /dev/null || return 1
	expect_eq "non-blocking refused" "$("$VIEW" sockets --json c | $Q values end)" refused || return 1
	"$VIEW" timeline c | grep -q -- "-- connecting (non-blocking" || return 1
	traced "$W/c2" "$TB/scenarios" nb-connect > /dev/null || return 1
	"$VIEW" timeline --fd 4 c2 > c2.txt || return 1
	grep -A1 " poll(" c2.txt | grep -q -- "-- connected to 127.0.0.1:" || fail "poll readiness not taken as connected: $(cat c2.txt)" || return 1
	traced "$W/c3" "$TB/scenarios" nb-connect epoll > /dev/null || return 1
	"$VIEW" timeline --fd 4 c3 > c3.txt || return 1
	grep -A1 " epoll_wait(" c3.txt | grep -q -- "-- connected to 127.0.0.1:" || fail "epoll readiness not taken as connected: $(cat c3.txt)" || return 1

	traced "$W/d" "$TB/scenarios" exec-keep > /dev/null || return 1
	"$VIEW" sockets --json d > d.json || return 1
	expect_eq "kept across exec, used by the new image" "$($Q values bytes_out type=SOCK_DGRAM 'peers=["127.0.0.1:9"]' < d.json)" 4 || return 1
	expect_eq "CLOEXEC socket ended at exec" "$($Q values end 'fds=[4]' < d.json)" closed
}
run_case lifetimes_dup2_linger_nonblock_exec t_scenarios

t_wrapped() {
	SOCKTRACE_SIZE=4M SOCKTRACE_STACK_DEPTH=0 traced "$W/rings" "$TB/scenarios" many 60000 > /dev/null || return 1
	"$VIEW" sockets --json rings > s.json 2> err.txt || return 1
	grep -q "ring wrapped" err.txt || fail "no wrap reported" || return 1
	# the last pair's birth was overwritten; its creation metadata comes from the socket table
	expect_eq "wrapped lifetime" "$($Q values family origin=wrapped fds=[3] < s.json)" AF_UNIX || return 1
	expect_eq "still open" "$($Q values end origin=wrapped < s.json)" open_at_exit
}
run_case lifetimes_after_ring_wrap t_wrapped

t_processes() {
	traced "$W/rings" "$TB/forkexec" > /dev/null || return 1
	"$VIEW" processes rings > p.txt || return 1
	expect_eq "three images" "$(wc -l < p.txt)" 3 || return 1
	# calls: the SIGPIPE disposition at start, sockets, fork/close/exec, and the exit
	grep -Eq "^[0-9]+ forkexec  \(ppid [0-9]+\)  5 calls  exited 0 " p.txt || fail "$(cat p.txt)" || return 1
	grep -Eq "^  [0-9]+ forkexec  \(ppid [0-9]+, fork child\)  4 calls  exec'd " p.txt || fail "$(cat p.txt)" || return 1
	grep -Eq "^    [0-9]+ exe  \(ppid [0-9]+, exec'd image\)  4 calls  exited 0 .*exec-child" p.txt || fail "$(cat p.txt)" || return 1
	# _exit(-1) is status 255 to the parent (rsync's daemon does it), and so in the trace
	hneed python3 || return $?
	traced "$W/neg" python3 -c 'import os, socket; socket.socket(); os._exit(-1)'
	expect_eq "python's status" $? 255 || return 1
	"$VIEW" processes neg | grep -q "exited 255 " || fail "$("$VIEW" processes neg)" || return 1
	# a fork child that execs an untraced program: processes and info both say exec'd
	traced "$W/ex" python3 -c 'import os, socket
socket.socket().close()
p = os.fork()
if p == 0:
    socket.socket().close()
    os.execve("/bin/true", ["true"], {})
os.waitpid(p, 0); print(p)' > child.txt || return 1
	local cp; cp=$(cat child.txt)
	"$VIEW" processes ex | grep -Eq "^  $cp python3 .* exec'd " || fail "$("$VIEW" processes ex)" || return 1
	"$VIEW" info ex | grep -A1 "pid $cp " | grep -q "state    replaced by exec" || fail "$("$VIEW" info ex)"
}
run_case processes_fork_tree t_processes

t_stale_module() {
	cp "$TB/scenarios" prog
	traced "$W/rings" ./prog eof-reads > /dev/null || return 1
	"$VIEW" timeline --stack rings > before.txt || return 1
	grep -q "at main+0x[0-9a-f]* (tests/progs/scenarios.c:[0-9]*) \[prog\]$" before.txt || fail "$(head before.txt)" || return 1
	cp "$TB/fortify" prog            # another build-id at the same path
	"$VIEW" timeline --stack rings > after.txt || return 1
	grep -q "\[prog\] (module changed on disk)" after.txt || fail "$(head after.txt)"
}
run_case symbolize_flags_changed_module t_stale_module

# the peer's FIN that the program never read: known from the kernel's TCP state (CLOSE_WAIT)
# in the sockstate taken before its close
t_fin_from_tcp_state() {
	hneed python3 ss || return $?
	hi_start || return 1
	local port=$HI_PORT sp=$HI_PID
	traced "$W/rings" python3 -c "$(hi_client "$port")" || return 1
	wait $sp
	expect_eq "how the FIN was seen" "$("$VIEW" sockets --json rings | $Q values peer_fin family=AF_INET)" tcp_state || return 1
	expect_eq "its end" "$("$VIEW" sockets --json rings | $Q values end family=AF_INET)" peer_closed || return 1
	"$VIEW" timeline rings | grep -q -- "-- peer sent FIN (the kernel's TCP state, seen before a close or error)" \
		|| fail "$("$VIEW" timeline rings)"
}
run_case fin_known_from_tcp_state t_fin_from_tcp_state
