# The socket-tutorial programs, traced and untraced: same output, and the expected calls.

# run_pair MODE N CLIENTMODE DIRPREFIX: start a server (traced when DIRPREFIX is set), run N clients
run_pair() {
	local mode=$1 n=$2 cmode=$3 rings=$4 pf=$W/port.$RANDOM
	if [ -n "$rings" ]; then
		traced "$rings" "$TB/classic" "$mode" "$pf" "$n" &
	else
		"$TB/classic" "$mode" "$pf" "$n" &
	fi
	local spid=$!
	wait_file "$pf" || return 1
	for i in $(seq "$n"); do
		if [ -n "$rings" ]; then
			traced "$rings" "$TB/classic" "$cmode" "$(cat "$pf")" "hello-$i" "second line $i" || return 1
		else
			"$TB/classic" "$cmode" "$(cat "$pf")" "hello-$i" "second line $i" || return 1
		fi
	done
	wait $spid
}

classic_both() {  # classic_both SERVERMODE N: the same output untraced and traced; d.json: the trace
	run_pair "$1" "$2" tcp-client "" > untraced.txt || return 1
	run_pair "$1" "$2" tcp-client "$W/rings" > traced.txt || return 1
	expect_same_output untraced.txt traced.txt || return 1
	dump rings > d.json
}

t_tcp_single() {
	classic_both tcp-server 1 || return 1
	expect_eq "accept" "$($Q count call=accept complete=true < d.json)" 1 || return 1
	expect_eq "server reads (2 lines + EOF)" "$($Q count call=read < d.json)" 3 || return 1
	expect_eq "EOF read" "$($Q count call=read ret=0 < d.json)" 1 || return 1
	expect_eq "client half-close" "$($Q count call=shutdown args.how=SHUT_WR < d.json)" 1
}
run_case classic_tcp_single_client t_tcp_single

t_fork_server() {
	classic_both fork-server 3 || return 1
	expect_eq "forks" "$($Q count call=fork < d.json)" 3 || return 1
	expect_eq "server children that served" "$($Q values pid call=write < d.json | sort -u | wc -l)" 3 || return 1
	expect_eq "children closed the listener copy" "$($Q count call=close complete=true < d.json | awk '{print ($1 >= 9)}')" 1
}
run_case classic_fork_per_client t_fork_server

t_thread_server() {
	classic_both thread-server 3 || return 1
	local spid; spid=$($Q values pid call=accept < d.json | sort -u)
	expect_eq "serving threads" "$($Q values tid pid="$spid" call=write < d.json | sort -u | wc -l)" 3 || return 1
	"$VIEW" sockets --json --pid "$spid" rings > s.json || return 1
	expect_eq "accepted connections, each ended after the client's FIN" "$($Q count origin=accept end=peer_closed < s.json)" 3
}
run_case classic_thread_per_client t_thread_server

udp_run() {  # udp_run RINGS|"" : a server for 4 datagrams, two clients of two each
	local pf=$W/udp.port.$RANDOM pre=()
	[ -n "$1" ] && pre=(env SOCKTRACE_DIR="$1" LD_PRELOAD="$LIB")
	"${pre[@]}" "$TB/classic" udp-server "$pf" 4 &
	wait_file "$pf" || return 1
	"${pre[@]}" "$TB/classic" udp-client "$(cat "$pf")" one two || return 1
	"${pre[@]}" "$TB/classic" udp-client "$(cat "$pf")" three four || return 1
	wait
}

t_udp() {
	udp_run "" > untraced.txt || return 1
	udp_run "$W/rings" > traced.txt || return 1
	expect_same_output untraced.txt traced.txt || return 1
	expect_eq "replies" "$(tr '\n' ' ' < traced.txt)" "reply: ONE reply: TWO reply: THREE reply: FOUR " || return 1
	dump rings > d.json || return 1
	expect_eq "recvfrom with a source" "$($Q count call=recvfrom args.from='*' < d.json)" 4 || return 1
	expect_eq "sendto back to two peers" "$($Q values args.addr call=sendto < d.json | sort -u | wc -l)" 2
}
run_case classic_udp_echo t_udp
