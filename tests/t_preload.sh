# The preload must be invisible to the traced program and keep a complete, honest log.

t_invisible() {
	"$TB/invisible" > untraced.txt 2>&1 || return 1
	traced "$W/rings" "$TB/invisible" > traced.txt 2>&1 || return 1
	expect_same_output untraced.txt traced.txt || return 1
	SOCKTRACE_STACK_DEPTH=0 traced "$W/rings0" "$TB/invisible" > traced0.txt 2>&1 || return 1
	expect_same_output untraced.txt traced0.txt || return 1
	dump rings > d.json || return 1
	# after closefrom(3) the new socketpair got 3 and 4 again, and the log says so
	expect_eq "socketpairs" "$($Q values args.fds call=socketpair < d.json | tr '\n' ' ')" "[3,4] [3,4] " || return 1
	expect_eq "closefrom recorded" "$($Q count call=closefrom args.lowfd=3 < d.json)" 1 || return 1
	# sends from four threads and main, each with a stack
	expect_eq "thread sends" "$($Q values tid call=send fd=3 < d.json | sort -u | wc -l)" 5 || return 1
	expect_eq "sends without stack" "$($Q count call=send 'frames=[]' < d.json)" 0 || return 1
}
run_case invisible_fds_bytes_errno t_invisible

t_brokenpipe_default() {
	"$TB/brokenpipe" > untraced.txt 2>&1; local u=$?
	traced "$W/rings" "$TB/brokenpipe" > traced.txt 2>&1; local t=$?
	expect_eq "untraced exit" $u 141 || return 1
	expect_eq "traced exit (death by SIGPIPE)" $t 141 || return 1
	expect_same_output untraced.txt traced.txt || return 1
	dump rings > d.json || return 1
	# the server's fatal send: entered, never completed; its first send after the peer left worked
	local srv; srv=$($Q values pid call=accept < d.json)
	expect_eq "fatal send" "$($Q count pid="$srv" call=send complete=false < d.json)" 1 || return 1
	expect_eq "first send succeeded" "$($Q values ret pid="$srv" call=send complete=true < d.json)" 30 || return 1
	expect_eq "client close recorded" "$($Q count call=close complete=true < d.json | awk '$1>=1{print "yes"}')" yes
}
run_case brokenpipe_sigpipe_death t_brokenpipe_default

t_brokenpipe_ignored() {
	"$TB/brokenpipe" --ignore-sigpipe > untraced.txt 2>&1; local u=$?
	traced "$W/rings" "$TB/brokenpipe" --ignore-sigpipe > traced.txt 2>&1; local t=$?
	expect_eq "exit" "$t" "$u" || return 1
	expect_same_output untraced.txt traced.txt || return 1
	dump rings > d.json || return 1
	expect_eq "EPIPE send" "$($Q count call=send errno=EPIPE < d.json)" 1 || return 1
	# signal(SIGPIPE) came before the first socket call: the ring starts by noting it
	expect_eq "SIGPIPE disposition" "$($Q values args.handler call=sigaction args.at_start=true < d.json | sort -u)" SIG_IGN
}
run_case brokenpipe_sigpipe_ignored t_brokenpipe_ignored

t_threads() {
	SOCKTRACE_SIZE=256M SOCKTRACE_STACK_DEPTH=0 traced "$W/rings" "$TB/threads" 4 100000 > out.txt || return 1
	dump rings > d.json || return 1
	expect_eq "records" "$($Q count call=setsockopt < d.json)" 400000 || return 1
	expect_eq "threads" "$($Q values tid call=setsockopt < d.json | sort -u | wc -l)" 4 || return 1
	"$VIEW" dump rings > /dev/null 2> err.txt || return 1
	expect_eq "nothing lost or dropped" "$(cat err.txt)" ""
}
run_case threads_4x100k_exact t_threads

t_fork_exec() {
	"$TB/forkexec" > untraced.txt 2>&1 || return 1
	traced "$W/rings" "$TB/forkexec" > traced.txt 2>&1 || return 1
	expect_same_output untraced.txt traced.txt || return 1
	expect_eq "one trace file for the whole tree" "$(ls rings)" "trace.ring" || return 1
	local parent child
	parent=$(dump rings | $Q values pid call=fork | head -n 1)
	child=$(dump rings | $Q values ret call=fork | head -n 1)
	expect_ge "child pid" "$child" 1 || return 1
	expect_eq "parent sockets" "$(dump rings | $Q count pid="$parent" call=socket)" 2 || return 1
	expect_eq "child's own socket" "$(dump rings | $Q count pid="$child" call=socket args.domain=AF_UNIX)" 1 || return 1
	expect_eq "child closed inherited socket" "$(dump rings | $Q count pid="$child" call=close)" 1 || return 1
	expect_eq "exec recorded, never returned" "$(dump rings | $Q count pid="$child" call=exec complete=false)" 1 || return 1
	expect_eq "exec'd image socket" "$(dump rings | $Q count pid="$child" call=socket args.domain=AF_INET6)" 1 || return 1
	# records carry the process that wrote them (a fork child once wrote the fork's
	# completion as its parent's)
	expect_eq "parent's records: parent's thread only" "$(dump rings | $Q values tid pid="$parent" | sort -u)" "$parent" || return 1
	expect_eq "fork completed once, in the parent" "$(dump rings | $Q values ret call=fork)" "$child" || return 1
	# three entries: the parent, its fork child, and the image the child exec'd
	"$VIEW" processes rings > p.txt || return 1
	grep -Eq "^$parent forkexec  \(ppid [0-9]+\)  5 calls  exited 0 " p.txt || fail "parent: $(cat p.txt)" || return 1
	grep -Eq "^  $child forkexec  \(ppid $parent, fork child\)  [0-9]+ calls  exec'd " p.txt || fail "child: $(cat p.txt)" || return 1
	grep -Eq "^    $child exe  \(ppid $parent, exec'd image\)  [0-9]+ calls  exited 0 .* exec-child\$" p.txt \
		|| fail "exec'd image: $(cat p.txt)"
}
run_case fork_and_exec_rings t_fork_exec

t_exceptions() {
	"$TB/exceptions" > untraced.txt 2>&1 || return 1
	traced "$W/rings" "$TB/exceptions" > traced.txt 2>&1 || return 1
	expect_same_output untraced.txt traced.txt || return 1
	expect_eq "sends" "$(nrec rings call=send)" 1000
}
run_case cxx_exceptions t_exceptions

t_sighandler() {
	timeout 30 "$TB/sighandler" > untraced.txt 2>&1 || return 1
	timeout 30 env SOCKTRACE_SIZE=128M SOCKTRACE_DIR="$W/rings" LD_PRELOAD="$LIB" "$TB/sighandler" > traced.txt 2>&1 \
		|| fail "traced run failed or hung (exit $?)" || return 1
	expect_same_output untraced.txt traced.txt || return 1
	"$VIEW" dump rings 2> err.txt > /dev/null
	expect_eq "ring held the run" "$(cat err.txt)" "" || return 1
	expect_ge "sends from the handler" "$(nrec rings call=send args.flags=MSG_DONTWAIT)" 200 || return 1
	# some landed while the main loop was inside the tracer: recorded nested, without a stack
	expect_ge "nested records" "$(nrec rings call=send nested=true)" 1
}
run_case send_from_signal_handler t_sighandler

t_early() {
	# the other library's constructor runs before ours in one order or the other
	LD_PRELOAD="$LIB:$TB/libearly.so" SOCKTRACE_DIR="$W/a" "$TB/threads" 1 1 > /dev/null || return 1
	LD_PRELOAD="$TB/libearly.so:$LIB" SOCKTRACE_DIR="$W/b" "$TB/threads" 1 1 > /dev/null || return 1
	expect_eq "order 1" "$(nrec a call=socket args.type=SOCK_DGRAM)" 2 || return 1
	expect_eq "order 2" "$(nrec b call=socket args.type=SOCK_DGRAM)" 2
}
run_case calls_before_constructor t_early

t_fortify() {
	nm -D "$TB/fortify" | grep -q __recv_chk || fail "test program does not import __recv_chk" || return 1
	traced "$W/rings" "$TB/fortify" > out.txt || return 1
	expect_eq "output" "$(cat out.txt)" "9 5" || return 1
	expect_eq "fortified recv" "$(nrec rings call=recv args.fortify=true ret=9)" 1 || return 1
	expect_eq "fortified read" "$(nrec rings call=read args.fortify=true ret=5)" 1 || return 1
	expect_eq "fortified poll" "$(nrec rings call=poll args.fortify=true)" 1
}
run_case fortify_source_aliases t_fortify

t_sigkill() {
	SOCKTRACE_DIR="$W/rings" LD_PRELOAD="$LIB" "$TB/busy" > out.txt &
	local pid=$!
	wait_file out.txt || return 1
	sleep 0.3
	kill -9 $pid
	wait $pid 2>/dev/null
	dump rings > d.json 2> err.txt || { cat err.txt; return 1; }
	expect_ge "records" "$(wc -l < d.json)" 10000 || return 1
	$Q check-schema < d.json > /dev/null || return 1
	# each thread's last call was cut by the kill: entered, never completed
	expect_ge "calls in flight at the kill" "$($Q count complete=false < d.json)" 1 || return 1
	if grep -q "damaged" err.txt; then fail "committed records failed checks: $(cat err.txt)"; fi
}
run_case sigkill_mid_run t_sigkill

t_unwritable_dir() {
	"$TB/invisible" > untraced.txt 2>&1
	SOCKTRACE_DIR=/etc/hostname/sub LD_PRELOAD="$LIB" "$TB/invisible" > traced.txt 2> err.txt || return 1
	expect_same_output untraced.txt <(grep -v '^socktrace:' traced.txt) || return 1
	expect_eq "stderr lines" "$(grep -c '^socktrace:' err.txt)" 1 || return 1
	grep -Eq "/etc/hostname is not a directory; pid [0-9]+ \(invisible, uid [0-9]+\) not traced" err.txt || fail "no reason given: $(cat err.txt)"
}
run_case unwritable_dir t_unwritable_dir

t_disk_full() {
	mkdir -p small
	if ! mount -t tmpfs -o size=2M tmpfs small 2>/dev/null; then
		echo "cannot mount a small tmpfs here (needs root)"; return 77
	fi
	"$TB/invisible" > untraced.txt 2>&1
	SOCKTRACE_DIR="$W/small" LD_PRELOAD="$LIB" "$TB/invisible" > traced.txt 2> err.txt; local rc=$?
	local left; left=$(ls small | wc -l)
	umount small
	expect_eq "exit" $rc 0 || return 1
	expect_same_output untraced.txt traced.txt || return 1
	expect_eq "stderr lines" "$(grep -c '^socktrace:' err.txt)" 1 || return 1
	grep -q "No space left" err.txt || fail "reason: $(cat err.txt)" || return 1
	expect_eq "no half-made ring left" "$left" 0
}
run_case disk_full t_disk_full

t_bad_env() {
	SOCKTRACE_SIZE=lots SOCKTRACE_STACK_DEPTH=-3 SOCKTRACE_PAYLOAD=1x traced "$W/rings" "$TB/fortify" > out.txt 2> err.txt || return 1
	expect_eq "one line per bad variable" "$(grep -c '^socktrace:' err.txt)" 3 || return 1
	grep -q "SOCKTRACE_SIZE='lots'" err.txt || return 1
	expect_eq "traced anyway, with defaults" "$(nrec rings call=recv)" 1 || return 1
	trace_size_is rings/trace.ring $((64 << 20))
}
run_case bad_environment_values t_bad_env

t_payload_and_addresses() {
	local port
	"$TB/classic" tcp-server port > /dev/null &
	wait_file port || return 1
	SOCKTRACE_PAYLOAD=8 traced "$W/rings" "$TB/classic" tcp-client "$(cat port)" hello-world > out.txt || return 1
	wait
	dump rings > d.json || return 1
	# payload bytes (hex), cut at SOCKTRACE_PAYLOAD
	expect_eq "payload" "$($Q values args.data call=send < d.json)" "68656c6c6f2d776f" || return 1
	# the connect record names the peer and the ephemeral local port
	expect_eq "peer" "$($Q values args.peer call=connect < d.json)" "127.0.0.1:$(cat port)" || return 1
	local lport; lport=$($Q values args.local call=connect < d.json)
	[[ "$lport" =~ ^127\.0\.0\.1:[1-9][0-9]*$ ]] || fail "local address '$lport'"
}
run_case payload_and_ephemeral_ports t_payload_and_addresses

t_inherited() {
	"$TB/classic" tcp-server port > /dev/null &
	wait_file port || return 1
	# the shell opens the connection; the traced program inherits it as fd 5, and as fd 8 (the
	# same socket: the shell's dup, which we did not see)
	( exec 5<>"/dev/tcp/127.0.0.1/$(cat port)"; exec 8>&5; traced "$W/rings" "$TB/fortify" > /dev/null ) || return 1
	wait
	dump rings > d.json || return 1
	expect_eq "inherited socket" "$($Q values args.peer call=inherited fd=5 < d.json)" "127.0.0.1:$(cat port)" || return 1
	expect_eq "under two numbers" "$($Q count call=inherited args.peer="127.0.0.1:$(cat port)" < d.json)" 2 || return 1
	"$VIEW" info rings > info.txt || return 1
	grep -Eq "fd 5 +AF_INET +inherited +127.0.0.1:[0-9]+ -> 127.0.0.1:$(cat port)" info.txt || fail "$(cat info.txt)" || return 1
	# one socket, one lifetime, both numbers
	"$VIEW" sockets --json rings > s.json || return 1
	expect_eq "one lifetime" "$($Q count origin=inherited peer="127.0.0.1:$(cat port)" < s.json)" 1 || return 1
	expect_eq "its fds" "$($Q values fds origin=inherited peer="127.0.0.1:$(cat port)" < s.json)" "[5,8]"
}
run_case inherited_socket_at_start t_inherited

t_module_map() {
	traced "$W/rings" "$TB/dlopener" "$TB/libearly.so" > out.txt || return 1
	"$VIEW" info rings > info.txt || return 1
	local bid; bid=$(readelf -n "$TB/dlopener" | awk '/Build ID/ {print $3}')
	grep -Eq "0x[0-9a-f]+ $bid $TB/dlopener\$" info.txt || fail "exe module: $(cat info.txt)" || return 1
	grep -q " $TB/libearly.so\$" info.txt || fail "dlopened module missing: $(cat info.txt)" || return 1
	grep -q "libunwind.so.8" info.txt || fail "libunwind module missing"
}
run_case module_map_and_dlopen t_module_map

t_setuid() {
	[ "$(id -u)" -eq 0 ] && command -v setpriv > /dev/null || { echo "needs root and setpriv"; return 77; }
	# the loader preloads a setuid program only with a setuid library from a system directory
	local sys=/usr/lib/x86_64-linux-gnu/libsocktrace-suidtest.$$.so d
	d=$(mktemp -d /tmp/socktrace-suid.XXXXXX)
	chmod 755 "$d" && cp "$TB/fortify" "$d/prog" && chmod 4755 "$d/prog"
	cp "$LIB" "$sys" && chmod 4755 "$sys"
	(cd "$d" && setpriv --reuid=65534 --regid=65534 --clear-groups \
		env LD_PRELOAD="$(basename "$sys")" SOCKTRACE_DIR="$d/rings" ./prog) > out.txt 2> err.txt
	local rc=$? rings=no
	[ -e "$d/rings" ] && rings=yes
	rm -f "$sys"; rm -rf "$d"
	expect_eq "exit" $rc 0 || return 1
	expect_eq "output" "$(cat out.txt)" "9 5" || return 1
	expect_eq "said why, once" "$(cat err.txt)" "socktrace: not tracing a setuid/setgid program (AT_SECURE)" || return 1
	expect_eq "no ring written" $rings no
}
run_case setuid_program_untraced t_setuid

t_allcalls() {
	"$TB/allcalls" > untraced.txt 2>&1 || return 1
	traced "$W/rings" "$TB/allcalls" > traced.txt 2>&1 || return 1
	expect_same_output untraced.txt traced.txt || return 1
	dump rings > d.json || return 1
	local c
	for c in "call=sendmmsg ret=2 args.bytes=8" "call=recvmmsg ret=2 args.bytes=8" "call=sendmsg ret=8" \
		"call=recvmsg ret=8" "call=writev ret=8 args.iovcnt=2" "call=readv ret=8" \
		"call=sendfile ret=100 args.count=100" "call=splice ret=7 args.direction=to_socket" \
		"call=ppoll ret=0 args.timeout_ms=1" "call=pselect ret=1" \
		"call=epoll_ctl args.op=EPOLL_CTL_ADD args.data=42" "call=epoll_pwait ret=1" \
		"call=fcntl args.cmd=F_SETFL" "call=ioctl args.request=FIONBIO args.value=1" \
		"call=fcntl args.cmd=F_DUPFD_CLOEXEC ret=20" "call=dup3 ret=30" "call=close_range args.sockets=[20,30]" \
		"call=signal args.handler=SIG_IGN" "call=getaddrinfo args.node=127.0.0.1 args.first=127.0.0.1:80" \
		"call=posix_spawn args.path=/bin/true"; do
		# shellcheck disable=SC2086
		expect_eq "$c" "$($Q count $c < d.json)" 1 || return 1
	done
	# the spawned /bin/true inherited two sockets but made no socket call: not in the trace
	"$VIEW" processes rings > p.txt || return 1
	expect_eq "processes in the trace" "$(awk '{print $2}' p.txt)" "allcalls" 
}
run_case every_other_call t_allcalls

t_no_ring_without_socket_calls() {
	# a shell asks getpeername(0) at start (is stdin a socket?), then runs commands: no rings
	traced "$W/rings" bash -c 'ls > /dev/null; cat /dev/null' || return 1
	expect_eq "rings" "$(ls rings 2>/dev/null | wc -l)" 0 || return 1
	# but a program that uses a socket it inherited logs it, and the inheritance, at once
	"$TB/classic" tcp-server port > /dev/null &
	wait_file port || return 1
	( exec 5<>"/dev/tcp/127.0.0.1/$(cat port)"; traced "$W/r2" dd bs=3 count=1 status=none <<< hi >&5 ) || return 1
	wait
	"$VIEW" processes r2 > p.txt || return 1
	expect_eq "one process traced: dd, which wrote to the socket" "$(awk '{print $2}' p.txt)" "dd" || return 1
	expect_eq "inherited, written, the queues at close, closed" "$(dump r2 | $Q values call fd=1 | tr '\n' ' ')" \
		"inherited write sockstate close "
}
run_case no_ring_without_socket_calls t_no_ring_without_socket_calls

t_late_completion() {
	# a recv blocks while another thread wraps the whole ring: its span is still in use, so
	# the ring steps over it and the entry is completed in place
	SOCKTRACE_SIZE=4M SOCKTRACE_STACK_DEPTH=0 traced "$W/rings" "$TB/scenarios" late > out.txt || return 1
	expect_eq "program" "$(cat out.txt)" "late recv 1" || return 1
	dump rings > d.json 2> err.txt || return 1
	grep -q "ring wrapped" err.txt || fail "the ring did not wrap" || return 1
	expect_eq "entry kept and completed" "$($Q count call=recv complete=true ret=1 < d.json)" 1 || return 1
	expect_eq "not a late record" "$($Q count call=recv args.late_exit_of='*' < d.json)" 0 || return 1
	expect_ge "blocked for the whole wrap (ns)" "$($Q values dur_ns call=recv < d.json)" 50000000 || return 1
	# the same, but a signal handler on the blocked thread moved its span on meanwhile: the
	# old span is not retired while the call is in progress, so the entry survives again and
	# the completion (a record of its own, in the thread's new span) is paired with it
	SOCKTRACE_SIZE=4M SOCKTRACE_STACK_DEPTH=0 traced "$W/r2" "$TB/scenarios" late-handler > out.txt || return 1
	expect_eq "program" "$(cat out.txt)" "late recv 1" || return 1
	dump r2 > d2.json 2> err2.txt || return 1
	grep -q "ring wrapped" err2.txt || fail "the ring did not wrap" || return 1
	# (the handler's records in spans other than the entry's are retired as usual: the wrap
	# may take them, so only "some are there" is asked)
	expect_ge "handler records" "$($Q count call=setsockopt nested=true < d2.json)" 1 || return 1
	expect_eq "entry kept, completion paired" "$($Q count call=recv complete=true ret=1 < d2.json)" 1 || return 1
	expect_eq "not a late record" "$($Q count call=recv args.late_exit_of='*' < d2.json)" 0 || return 1
	expect_ge "blocked for the whole wrap (ns)" "$($Q values dur_ns call=recv < d2.json)" 50000000
}
run_case late_completion_after_wrap t_late_completion
