# The traced program behaves exactly as untraced: sandboxes, the loader, fds, stderr, races.

# same_as_untraced OUT CMD...: run CMD untraced and traced (into ./rings), same output
same_as_untraced() {
	local out=$1; shift
	"$@" > "$out.untraced" 2>&1; local u=$?
	traced "$W/rings" "$@" > "$out.traced" 2>&1; local t=$?
	expect_eq "exit status" "$t" "$u" || return 1
	expect_same_output "$out.untraced" "$out.traced"
}

t_seccomp_strict() {
	# a strict allow-list (sendto, recvfrom, write, exit): stacks were on before the filter;
	# after it the tracer makes no syscall of its own. A fork child whose first socket call
	# comes after its filter gets its entry without one.
	same_as_untraced out "$TB/harm" seccomp || return 1
	expect_eq "output" "$(cat out.traced)" "$(printf 'child ok\nchild exited\nparent ok')" || return 1
	dump rings > d.json || return 1
	local parent; parent=$($Q values pid call=socketpair < d.json | head -n 1)
	expect_eq "parent's sends and recvs" "$($Q count pid="$parent" call=send < d.json) $($Q count pid="$parent" call=recv < d.json)" "101 101" || return 1
	expect_eq "child's, recorded after its filter" "$($Q count call=send < d.json)" 201 || return 1
	expect_ge "stacks before the filter" "$($Q count pid="$parent" call=send 'frames=[]' < d.json | awk '{print 101 - $1}')" 1 || return 1
	"$VIEW" processes rings > p.txt || return 1
	expect_eq "both marked" "$(grep -c ', seccomp)' p.txt)" 2 || fail "$(cat p.txt)"
}
run_case seccomp_strict_allow_list t_seccomp_strict

t_sshd_login() {
	[ "$(id -u)" -eq 0 ] && [ -x /usr/sbin/sshd ] && command -v ssh > /dev/null ||
		{ echo "needs root and openssh-server/openssh-client (tests/deps.sh --test installs them)"; return 77; }
	id sttest > /dev/null 2>&1 || useradd -m -s /bin/sh sttest || return 1
	usermod -p '*' sttest || return 1     # not locked: key logins only
	local d port; d=$(mktemp -d /tmp/socktrace-ssh.XXXXXX); chmod 755 "$d"
	port=$((20000 + RANDOM % 20000))
	ssh-keygen -q -t ed25519 -N '' -f "$d/host_key" && ssh-keygen -q -t ed25519 -N '' -f "$d/user_key" || return 1
	cp "$d/user_key.pub" "$d/authorized_keys" && chmod 644 "$d/authorized_keys"
	mkdir -p /run/sshd && chmod 755 /run/sshd
	cat > "$d/sshd_config" <<EOC
Port $port
ListenAddress 127.0.0.1
HostKey $d/host_key
PidFile $d/sshd.pid
AuthorizedKeysFile $d/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
EOC
	# sshd's pre-auth child chroots, drops to the sshd user and installs a seccomp filter:
	# with stacks on, the first tracer killed it (SIGSYS) and the login failed
	SOCKTRACE_DIR="$W/rings" LD_PRELOAD="$LIB" /usr/sbin/sshd -D -e -f "$d/sshd_config" 2> sshd.log &
	local sp=$!
	for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2> /dev/null && break; sleep 0.05; done
	ssh -q -i "$d/user_key" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes \
		-p $port sttest@127.0.0.1 'echo hello from $(id -un)' > out.txt 2> err.txt
	local rc=$?
	stop_pids $sp
	rm -rf "$d"
	expect_eq "ssh exit status" $rc 0 || { cat err.txt sshd.log; return 1; }
	expect_eq "command output" "$(cat out.txt)" "hello from sttest" || return 1
	"$VIEW" processes rings > p.txt || return 1
	grep -q ", seccomp)" p.txt || fail "no sandboxed sshd child in the trace: $(cat p.txt)" || return 1
	dump rings > d.json || return 1
	expect_ge "listener's accept, with its stack" "$($Q count call=accept 'frames=*' < d.json)" 1
}
run_case sshd_login_traced_with_stacks t_sshd_login

t_dlopen_signal() {
	# a 5 kHz signal handler sends while the main thread is in dlopen/dlclose: no stack is
	# taken inside the loader (libunwind would wait for the loader lock), nothing hangs
	local lib i start; lib=$(ldconfig -p | awk '/libz\.so\.1 / {print $NF; exit}')
	start=$(date +%s%N)
	"$TB/harm" dlopen-signal "$lib" 2000 > untraced.txt || return 1
	local base=$(( ($(date +%s%N) - start) / 1000000 ))
	for i in 1 2 3 4 5 6; do
		rm -rf rings
		start=$(date +%s%N)
		timeout 30 env SOCKTRACE_DIR="$W/rings" LD_PRELOAD="$LIB" "$TB/harm" dlopen-signal "$lib" 2000 > traced.txt ||
			fail "run $i hung or failed (exit $?)" || return 1
		expect_same_output untraced.txt traced.txt || return 1
		echo "run $i: $(( ($(date +%s%N) - start) / 1000000 )) ms (untraced $base ms)"
	done
	expect_ge "handler's sends recorded" "$(dump rings | $Q count call=send args.flags=MSG_DONTWAIT)" 1
}
run_case dlopen_and_signal_handler t_dlopen_signal

t_raw_close_range() {
	# after stacks were taken, syscall(SYS_close_range, 3, ~0U, 0) closes everything: the
	# next sockets get the same numbers as untraced, and their bytes stay theirs (libunwind's
	# validation pipe, once two real fds, is made up now)
	same_as_untraced out "$TB/harm" raw-close-range || return 1
	expect_eq "output" "$(cat out.traced)" "$(printf "new fds 3 4 5 6\ngot 3 'abc' 5 'defgh'")" || return 1
	expect_eq "close_range recorded through syscall()" "$(dump rings | $Q count call=close_range args.sockets=[3,4])" 1
}
run_case raw_close_range_keeps_fds_and_bytes t_raw_close_range

t_fd_limits() {
	# the same numbers and the same EMFILE point as untraced, at 64 and at 5,010 fds
	local lim
	for lim in 64 5010; do
		(ulimit -n $lim && same_as_untraced "lim$lim" "$TB/harm" fd-limit) || return 1
		rm -rf rings
	done
	expect_eq "at 64" "$(cat lim64.traced)" "$(cat lim64.untraced)"
}
run_case fd_numbers_and_emfile_point t_fd_limits

t_stderr_socket() {
	# stderr closed, a socketpair takes fd 2; 300 children fill a 1 MiB trace's process
	# table (256 slots): the ones left out are told on stderr — which is now a socket, so
	# nothing is written; the socket's peer gets exactly what the program sent
	SOCKTRACE_SIZE=1M traced "$W/rings" "$TB/harm" stderr-socket > out.txt || return 1
	expect_eq "peer of fd 2" "$(cat out.txt)" "fd 2's peer got 5 bytes: 'hello'" || return 1
	"$VIEW" dump rings > /dev/null 2> err.txt
	grep -q "process(es) not traced: the process table was full" err.txt || fail "$(cat err.txt)"
}
run_case stderr_socket_untouched t_stderr_socket

t_close_race() {
	# socket()+close() in one thread, open()+close_range() of that one fd in another: every
	# socket close recorded once, no close_range claims a socket
	traced "$W/rings" "$TB/harm" close-race 100000 > out.txt || return 1
	dump rings > d.json || return 1
	expect_eq "closes" "$($Q count call=close < d.json)" 100000 || return 1
	expect_eq "close_range claiming sockets" "$($Q count call=close_range < d.json)" 0 || return 1
	expect_eq "unseen sockets" "$($Q count call=unseen < d.json)" 0
}
run_case close_vs_close_range_race t_close_race

t_epoll_del_pointer() {
	# EPOLL_CTL_DEL's event is ignored by the kernel: a program may pass any pointer, and the
	# tracer must not read it (it did, and died of SIGSEGV); dump shows no events for it
	# an ADD with such a pointer gets the kernel's EFAULT (the event is read only after the
	# call, when the kernel could read it: before, the tracer read it first and died)
	same_as_untraced out "$TB/harm" epoll-del || return 1
	expect_eq "output" "$(cat out.traced)" "del 0
add -1 EFAULT" || return 1
	dump rings > d.json || return 1
	expect_eq "DEL recorded" "$($Q count call=epoll_ctl args.op=EPOLL_CTL_DEL < d.json)" 1 || return 1
	expect_eq "DEL with events or data" "$($Q count call=epoll_ctl args.op=EPOLL_CTL_DEL 'args.events=*' < d.json)$($Q count call=epoll_ctl args.op=EPOLL_CTL_DEL 'args.data=*' < d.json)" 00 || return 1
	expect_eq "good ADD" "$($Q count call=epoll_ctl args.op=EPOLL_CTL_ADD args.events=EPOLLIN args.data=42 ret=0 < d.json)" 1 || return 1
	expect_eq "bad ADD" "$($Q count call=epoll_ctl args.op=EPOLL_CTL_ADD errno=EFAULT < d.json)" 1 || return 1
	expect_eq "bad ADD with events or data" "$($Q count call=epoll_ctl errno=EFAULT 'args.events=*' < d.json)$($Q count call=epoll_ctl errno=EFAULT 'args.data=*' < d.json)" 00
}
run_case epoll_del_pointer_not_read t_epoll_del_pointer
