# Expected-output tests: the viewer's text for scenario traces, normalised (pids, times,
# ports, code offsets), against tests/golden/*.txt. A failure shows the diff.
source "$ROOT/tests/golden.sh"

t_golden_brokenpipe() {
	traced "$W/rings" "$TB/brokenpipe" --ignore-sigpipe > /dev/null 2>&1
	# the server's connection, with stacks; libc's own frames left out
	"$VIEW" timeline --stack --fd 4 rings | grep -v 'libc\.so' | golden timeline-brokenpipe-server
}
run_case golden_timeline_broken_pipe t_golden_brokenpipe

t_golden_client() {
	local pf=$W/port
	"$TB/classic" tcp-server "$pf" &
	wait_file "$pf" || return 1
	traced "$W/rings" "$TB/classic" tcp-client "$(cat "$pf")" one two > /dev/null || return 1
	wait
	"$VIEW" timeline rings | golden timeline-tcp-client
}
run_case golden_timeline_tcp_client t_golden_client

t_golden_linger() {
	traced "$W/rings" "$TB/scenarios" linger0 > /dev/null || return 1
	"$VIEW" sockets rings | golden sockets-linger0
}
run_case golden_sockets_linger0 t_golden_linger
