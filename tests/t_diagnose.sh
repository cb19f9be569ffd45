# socktrace diagnose: one scenario per finding; each must name the fd, the call, the errno,
# the cause and the function of the test program where the failing call was made.

# diag DIR: the findings as JSON lines; exit status 1 means "problems found"
diag() { "$VIEW" diagnose --json "$1"; [ $? -eq 1 ] || echo "diagnose exit status was not 1" >&2; }

# steps_of FILE: the first finding's steps, "call ret errno note-start" a line
steps_of() { head -n 1 "$1" | python3 -c 'import json,sys; f=json.load(sys.stdin); [print(s["call"], s["ret"], s["errno"] or "-", (s["note"] or "")[:40], sep="|") for s in f["steps"]]'; }

t_diag_sigpipe_death() {
	traced "$W/rings" "$TB/brokenpipe" > /dev/null 2>&1
	diag rings > f.json 2> err.txt || return 1
	[ ! -s err.txt ] || fail "$(cat err.txt)" || return 1
	expect_eq "first finding" "$(head -n 1 f.json | $Q values kind)" sigpipe_death || return 1
	local steps; steps=$(head -n 1 f.json | python3 -c 'import json,sys; f=json.load(sys.stdin); [print(s["call"], s["fd"], s["ret"], s["errno"], (s["where"] or "").split(" ")[0], sep="|") for s in f["steps"]]')
	expect_eq "the chain" "$steps" "recv|4|18|None|serve_one
close|3|0|None|client
send|4|30|None|send_reply
send|4|None|None|send_reply" || return 1
	head -n 1 f.json | $Q values explanation | grep -Eq "the client \(127.0.0.1:[0-9]+\) gave up: it closed the connection [0-9.]+ (ms|s) after its request, before our reply" || return 1
	head -n 1 f.json | $Q values steps | grep -q "SIGPIPE disposition: default" || return 1
	head -n 1 f.json | $Q values suggestion | grep -q "MSG_NOSIGNAL" || return 1
	head -n 1 f.json | grep -q '"where":"send_reply (tests/progs/brokenpipe.c:17)"' || fail "fatal write not located"
}
run_case diagnose_sigpipe_death t_diag_sigpipe_death

t_diag_epipe() {
	traced "$W/a" "$TB/brokenpipe" --ignore-sigpipe > /dev/null 2>&1
	diag a | head -n 1 > f.json || return 1
	# the server replied after its client had closed: the client gave up, and it says so
	expect_eq "kind" "$($Q values kind < f.json)" client_gave_up || return 1
	expect_eq "role" "$($Q values role < f.json)" server || return 1
	grep -q '"call":"send","ret":-1,"errno":"EPIPE","where":"send_reply (tests/progs/brokenpipe.c:17)","note":"EPIPE (SIGPIPE ignored)' f.json \
		|| fail "$(cat f.json)" || return 1
	traced "$W/b" "$TB/brokenpipe" --nosignal > /dev/null 2>&1
	diag b | head -n 1 | grep -q '"note":"EPIPE with MSG_NOSIGNAL (SIGPIPE suppressed)' || fail "MSG_NOSIGNAL not named"
}
run_case diagnose_broken_pipe_handled t_diag_epipe

# a client writes after its server closed (the accepted socket closed by a fork child that
# made no other call on it): the write still "succeeds", the next fails with EPIPE; the
# first is told as sent after the peer was gone (the peer is found from its close on)
t_diag_client_wrote_after_close() {
	hneed python3 || return $?
	traced "$W/a" python3 -c '
import socket, time, os, signal
signal.signal(signal.SIGPIPE, signal.SIG_IGN)
l = socket.create_server(("127.0.0.1", 0))
if os.fork() == 0:
    c, _ = l.accept(); c.close(); os._exit(0)
s = socket.create_connection(l.getsockname()); time.sleep(0.2)
s.send(b"GET / HTTP/1.0\r\n"); time.sleep(0.05)
try: s.send(b"more")
except BrokenPipeError: print("EPIPE")' > out.txt || return 1
	expect_eq "the program saw" "$(cat out.txt)" EPIPE || return 1
	diag a | head -n 1 > f.json
	expect_eq "kind" "$($Q values kind < f.json)" broken_pipe || return 1
	expect_eq "role" "$($Q values role < f.json)" client || return 1
	expect_eq "the chain" "$(steps_of f.json | cut -d'|' -f1-3)" "close|0|-
send|16|-
send|-1|EPIPE" || return 1
	expect_eq "the write after the close" "$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["steps"][1]["note"])' f.json)" \
		"our request, sent after the peer was gone: it still \"succeeded\"; the peer's kernel answered with RST"
}
run_case diagnose_client_wrote_after_peer_closed t_diag_client_wrote_after_close

t_diag_shutdown() {
	traced "$W/rings" "$TB/scenarios" shut-write > /dev/null || return 1
	diag rings | head -n 1 > f.json || return 1
	expect_eq "kind" "$($Q values kind < f.json)" write_after_shutdown || return 1
	grep -q '"call":"shutdown","ret":0' f.json && grep -q '"call":"send","ret":-1,"errno":"EPIPE","where":"main (tests/progs/scenarios.c:' f.json \
		|| fail "$(cat f.json)"
}
run_case diagnose_write_after_shutdown t_diag_shutdown

t_diag_reset() {
	traced "$W/a" "$TB/scenarios" unread-close > /dev/null || return 1
	diag a | head -n 1 > f.json || return 1
	expect_eq "kind" "$($Q values kind < f.json)" reset_by_unread_data || return 1
	$Q values explanation < f.json | grep -q "24 byte(s) .* still unread in its receive buffer" || fail "$(cat f.json)" || return 1
	$Q values steps < f.json | grep -q "the peer closed with 24 byte(s) unread in its receive buffer" || fail "$(cat f.json)" || return 1
	grep -q '"call":"recv","ret":-1,"errno":"ECONNRESET"' f.json || return 1
	traced "$W/b" "$TB/scenarios" linger0 > /dev/null || return 1
	diag b | head -n 1 > g.json
	$Q values explanation < g.json | grep -q "SO_LINGER {1,0}" || fail "$(cat g.json)"
}
run_case diagnose_connection_reset t_diag_reset

t_diag_refused() {
	traced "$W/rings" "$TB/scenarios" nb-refused > /dev/null || return 1
	diag rings > f.json || return 1
	expect_eq "kind" "$($Q values kind < f.json | head -n 1)" connect_failed || return 1
	$Q values explanation < f.json | head -n 1 | grep -q "connect to 127.0.0.1:1 failed: ECONNREFUSED" || fail "$(cat f.json)"
}
run_case diagnose_connect_refused t_diag_refused

t_diag_retries() {
	traced "$W/rings" "$TB/scenarios" retry-refused > /dev/null || return 1
	diag rings > f.json || return 1
	expect_eq "one finding for the address" "$($Q count kind=connect_failed < f.json)" 1 || return 1
	$Q values explanation < f.json | grep -q "ECONNREFUSED .*; 3 attempts in all" || fail "$(cat f.json)" || return 1
	expect_eq "each attempt a step" "$($Q values steps < f.json | grep -o '"call":"connect"' | wc -l)" 3
}
run_case diagnose_connect_retries t_diag_retries

t_diag_blocked() {
	SOCKTRACE_DIR="$W/rings" LD_PRELOAD="$LIB" "$TB/scenarios" blocked > out.txt &
	local pid=$!
	wait_file out.txt || return 1
	sleep 1.2       # (a call blocked for less than a second when the process died is not told)
	kill -9 $pid; wait $pid 2>/dev/null
	diag rings > f.json || return 1
	expect_eq "kind" "$($Q values kind < f.json | head -n 1)" never_returned || return 1
	grep -q '"call":"recv","ret":null,"errno":null,"where":"main (tests/progs/scenarios.c:' f.json || fail "$(cat f.json)"
}
run_case diagnose_blocked_thread t_diag_blocked

t_diag_loops() {
	traced "$W/a" "$TB/scenarios" eagain 300 > /dev/null || return 1
	expect_eq "EAGAIN loop" "$(diag a | $Q count kind=eagain_busy_loop)" 1 || return 1
	traced "$W/a2" "$TB/scenarios" eagain 300 poll > /dev/null || return 1
	"$VIEW" diagnose a2 > a2.txt; expect_eq "EAGAIN after a poll each time: no finding" $? 0 || return 1
	traced "$W/b" "$TB/scenarios" eof-reads 20 > /dev/null || return 1
	expect_eq "reads after EOF" "$(diag b | $Q count kind=read_after_eof)" 1 || return 1
	traced "$W/b2" "$TB/scenarios" eof-reads 3 > /dev/null || return 1
	expect_eq "a read or two after EOF is no loop" "$(diag b2 | $Q count kind=read_after_eof)" 0 || return 1
	# sockets held at exit are no leak; a connection its peer closed, never closed while the
	# process went on to serve another, is
	expect_eq "no leak at exit" "$(diag a | $Q count kind=never_closed)" 0 || return 1
	traced "$W/l" "$TB/scenarios" close-wait-leak > /dev/null || return 1
	diag l > l.json
	expect_eq "the CLOSE_WAIT leak" "$($Q count kind=never_closed < l.json)" 1 || return 1
	$Q values explanation < l.json | grep -q "never closed it: it went on and made 2 more socket(s)" || fail "$(cat l.json)" || return 1
	traced "$W/c" "$TB/classic" udp-server "$W/none" 0 > /dev/null || return 1
	"$VIEW" diagnose c > out.txt; expect_eq "clean trace: exit 0" $? 0 || return 1
	grep -q "no problems found" out.txt
}
run_case diagnose_loops_eof_leaks_clean t_diag_loops

t_diag_real_pair() {
	command -v curl > /dev/null && command -v python3 > /dev/null || { echo "needs curl and python3"; return 77; }
	mkdir www && head -c 30000000 /dev/zero > www/big.bin
	local port; port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	(cd www && exec env SOCKTRACE_DIR="$W/rings" LD_PRELOAD="$LIB" python3 -m http.server --bind 127.0.0.1 "$port") > server.log 2>&1 &
	local spid=$!
	for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.05; done
	# a client that gives up: slow reader, 1 s budget, then it closes mid-transfer
	traced "$W/rings" curl -s --limit-rate 100k --max-time 1 -o /dev/null "http://127.0.0.1:$port/big.bin"
	sleep 0.5
	kill $spid; wait $spid 2>/dev/null
	"$VIEW" diagnose --json --pid "$spid" rings > f.json
	local k; k=$($Q values kind < f.json | head -n 1)
	[ "$k" = reset_by_unread_data ] || [ "$k" = client_gave_up ] || fail "python's side: got '$k': $(head -c 600 f.json)" || return 1
	# curl's own close is in the chain (both ends traced), located in curl itself, past libcurl
	head -n 1 f.json | grep -q '"call":"close","ret":0,"errno":null,"where":"curl[^"]*","note":"the peer closed' \
		|| fail "curl's close not in the chain: $(head -n 1 f.json)"
}
run_case diagnose_real_http_server_client_timeout t_diag_real_pair

# ---- the patterns people hit, each with both ends traced (tests/progs/patterns.c) ----

# pattern DIR MODE: trace the pattern, its findings as JSON in DIR.json
pattern() { traced "$W/$1" "$TB/patterns" "$2" > "$1.out" 2>&1; diag "$1" > "$1.json"; }


t_pat_idle() {
	pattern a idle-reuse || return 1
	expect_eq "kind" "$(head -n 1 a.json | $Q values kind)" idle_timeout || return 1
	expect_eq "the client's finding" "$(head -n 1 a.json | $Q values role)" client || return 1
	expect_eq "the chain, in time order" "$(steps_of a.json | cut -d'|' -f1-3)" "recv|7|-
close|0|-
send|6|-
recv|0|-
send|-1|EPIPE" || return 1
	expect_eq "what each step was" "$(steps_of a.json | cut -d'|' -f4 | cut -c1-20 | tr '\n' '/')" \
		"last exchange before/the peer closed its /our request/read returned 0: the/EPIPE (SIGPIPE ignor/" || return 1
	head -n 1 a.json | $Q values explanation | grep -Eq "had closed [0-9.]+ ms earlier: idle timeout \(the connection sat idle [0-9.]+ ms\)" \
		|| fail "$(head -n 1 a.json)" || return 1
	local line; line=$(grep -n 'msleep(700);  *\/\* idle' "$ROOT/tests/progs/patterns.c" | cut -d: -f1)
	head -n 1 a.json | grep -Eq "\"where\":\"idle_reuse( \(inlined in main\))? \(tests/progs/patterns.c:$((line - 1))\)\"" || fail "location (line $((line - 1))): $(head -n 1 a.json)"
}
run_case diagnose_pattern_idle_timeout t_pat_idle

t_pat_half_close() {
	pattern a half-close-linger || return 1
	expect_eq "kind" "$(head -n 1 a.json | $Q values kind)" rst_after_half_close || return 1
	expect_eq "the server's finding" "$(head -n 1 a.json | $Q values role)" server || return 1
	# (the client's shutdown and the server's read of its 100 bytes are concurrent: either
	# may come first; the end of stream is read after the shutdown)
	local chain; chain=$(steps_of a.json | cut -d'|' -f1-3 | tr '\n' ' ')
	case "$chain" in
	"shutdown|0|- recv|100|- recv|0|- close|0|- write|-1|EPIPE "|"recv|100|- shutdown|0|- recv|0|- close|0|- write|-1|EPIPE ") ;;
	*) fail "the chain, in the order it acted: $chain"; return 1 ;;
	esac
	head -n 1 a.json | $Q values explanation | grep -q "the RST shows up as EPIPE on the next write, not as ECONNRESET" || fail "$(head -n 1 a.json)"
}
run_case diagnose_pattern_rst_after_half_close t_pat_half_close

t_pat_proxy() {
	pattern a proxy || return 1
	expect_eq "kind" "$(head -n 1 a.json | $Q values kind)" upstream_closed_by_proxy || return 1
	head -n 1 a.json | $Q values explanation | grep -Eq "the proxy patterns\[[0-9]+\] \(127.0.0.1:[0-9]+\) closed this connection [0-9.]+ (us|ms) after its own client \(127.0.0.1:[0-9]+\) went away" \
		|| fail "$(head -n 1 a.json)" || return 1
	expect_eq "the chain" "$(steps_of a.json | cut -d'|' -f1-3)" "recv|18|-
close|0|-
send|24|-
send|-1|EPIPE"
}
run_case diagnose_pattern_proxy_upstream t_pat_proxy

t_pat_no_reply() {
	pattern a no-reply || return 1
	expect_eq "kind" "$(head -n 1 a.json | $Q values kind)" eof_no_reply || return 1
	expect_eq "the client's finding" "$(head -n 1 a.json | $Q values role)" client || return 1
	head -n 1 a.json | $Q values explanation | grep -Eq "closed the connection [0-9.]+ (us|ms) after our request without a reply" || fail "$(head -n 1 a.json)"
}
run_case diagnose_pattern_eof_no_reply t_pat_no_reply

t_pat_abortive() {
	traced "$W/a" "$TB/scenarios" linger0 > /dev/null || return 1
	diag a > a.json
	expect_eq "kind" "$(head -n 1 a.json | $Q values kind)" abortive_close || return 1
	$Q values steps < a.json | head -n 1 | grep -q "the peer closed with SO_LINGER {1,0}: abortive close, RST" || fail "$(head -n 1 a.json)"
}
run_case diagnose_pattern_abortive_close t_pat_abortive

# ---- the four problems of the issue, with real programs ----

# nginx as a proxy (workers as www-data when root) in front of a slow python upstream; curl
# gives up after 1 s: the upstream's failed reply is traced back to nginx closing it because
# its own client went away
t_real_proxy() {
	hneed nginx curl python3 ss || return $?
	local port up; port=$(hport); up=$(hport)
	cat > slow.py <<PY
import http.server, time
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        time.sleep(2)
        self.send_response(200); self.end_headers()
        for i in range(64):
            self.wfile.write(b"x" * 65536)
http.server.HTTPServer(("127.0.0.1", $up), H).serve_forever()
PY
	$(PRE) python3 slow.py > up.log 2>&1 &
	local upid=$!
	nginx_conf "$port" "server { listen 127.0.0.1:$port; location / { proxy_pass http://127.0.0.1:$up; } }"
	$(PRE) nginx -c "$W/ngx/nginx.conf" -p "$W/ngx" 2> /dev/null &
	local np=$!
	listening "$port" && listening "$up" || return 1
	$(PRE) curl -s --max-time 1 -o /dev/null "http://127.0.0.1:$port/"
	sleep 2.5
	stop_pids $np $upid
	diag rings > f.json
	local k; k=$($Q values kind < f.json | head -n 1)
	expect_eq "kind" "$k" upstream_closed_by_proxy || fail "$(head -c 1500 f.json)" || return 1
	expect_eq "the upstream's finding" "$(head -n 1 f.json | $Q values role)" server || return 1
	head -n 1 f.json | $Q values explanation | grep -Eq "the proxy nginx\[[0-9]+\] \(127.0.0.1:[0-9]+\) closed this connection .* after its own client \(127.0.0.1:[0-9]+\) went away, 1\.[0-9]+ s after sending its request" \
		|| fail "$(head -n 1 f.json)" || return 1
	python3 - f.json <<'PY' || return 1
import json, sys
f = json.loads(open(sys.argv[1]).readline())
ts = [s["ts_ns"] for s in f["steps"]]
assert ts == sorted(ts), "steps out of order"
calls = [(s["call"], s["errno"]) for s in f["steps"]]
assert calls[0][0] in ("recv", "recv_into", "read", "recvfrom"), calls
assert any(c == "close" for c, e in calls), calls
assert calls[-1][1] in ("EPIPE", "ECONNRESET"), calls
PY
	# curl gave up waiting (its --max-time); nginx's own side: nothing wrong (it did what a
	# proxy should), no false leak, no timeout of its own
	local cpid; cpid=$("$VIEW" dump --json rings | $Q values pid comm=curl | head -n 1)
	expect_eq "curl's side" "$($Q values kind pid="$cpid" < f.json)" no_reply_timeout || return 1
	expect_eq "findings: the upstream's and curl's" "$($Q values pid < f.json | sort -u | tr '\n' ' ')" \
		"$(printf '%s\n' "$upid" "$cpid" | sort -u | tr '\n' ' ')"
}
run_case diagnose_real_nginx_proxy_client_gave_up t_real_proxy

# nginx (sendfile) serving 30 MB to a curl that reads 100 kB/s and gives up after 1 s: curl
# closes with the reply unread, its kernel sends RST; nginx never sees a failing call — epoll
# reports the error and nginx reads it with getsockopt(SO_ERROR). One finding, nginx's.
t_real_nginx_download_given_up() {
	hneed nginx curl ss || return $?
	nginx_big "$W/rings" || return 1
	local port=$NPORT np=$NPID
	$(PRE) curl -s -o /dev/null --limit-rate 100k --max-time 1 "http://127.0.0.1:$port/big.bin"
	expect_eq "curl's status (timed out)" $? 28 || return 1
	sleep 0.3
	stop_pids $np
	diag rings > f.json
	expect_eq "findings" "$($Q values kind < f.json | tr '\n' ' ')" "reset_by_unread_data " || fail "$(head -c 1500 f.json)" || return 1
	expect_eq "whose" "$(head -n 1 f.json | $Q values role) $(head -n 1 f.json | python3 -c 'import json,sys; print(json.load(sys.stdin)["steps"][-1]["where"].split()[-1])')" "server [nginx]" || return 1
	expect_eq "the chain" "$(steps_of f.json | cut -d'|' -f1,2)" "recv|$(steps_of f.json | head -n 1 | cut -d'|' -f2)
close|0
getsockopt|0" || return 1
	head -n 1 f.json | $Q values explanation | grep -Eq "while [0-9]+ byte\(s\) of our reply were still unread .* we learnt of it from poll/epoll's error report and SO_ERROR" \
		|| fail "$(head -n 1 f.json)" || return 1
	expect_eq "nginx's socket ends" "$("$VIEW" sockets --json rings | $Q values end comm=nginx role=server)" reset
}
run_case diagnose_real_nginx_download_given_up t_real_nginx_download_given_up

# redis with "timeout 1": an idle python client and redis-cli each send after 2.5 s idle
t_real_redis_idle() {
	hneed redis-server redis-cli python3 ss || return $?
	local port; port=$(hport)
	$(PRE) redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --timeout 1 --logfile "$W/redis.log" &
	local sp=$!
	listening "$port" || return 1
	(echo PING; sleep 2.5; echo PING) | $(PRE) redis-cli -p "$port" > cli.txt 2>&1
	$(PRE) python3 - "$port" <<'PY' > py.txt 2>&1
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"PING\r\n"); s.recv(100)
time.sleep(2.5)
s.send(b"PING\r\n")
print("reply", s.recv(100))
try:
    s.send(b"PING\r\n")
except OSError as e:
    print(e)
PY
	stop_pids $sp
	diag rings > f.json
	expect_eq "two idle-timeout findings, no other" "$($Q values kind < f.json | sort | uniq -c | tr -s ' ')" " 2 idle_timeout" || fail "$(cat f.json)" || return 1
	expect_eq "both clients" "$($Q values role < f.json | sort -u)" client || return 1
	grep -q '"comm"' f.json; $Q values explanation < f.json | grep -Eq "had closed [0-9.]+ (ms|s) earlier: idle timeout" || fail "$(cat f.json)" || return 1
	# redis-cli's EOF, located in redis-cli; redis's own close named as the program was run
	grep -q '"call":"recv","ret":0,"errno":null,"where":"redisNetRead \[redis-cli\]"' f.json || fail "$(cat f.json)" || return 1
	grep -q '"where":"redis-server+0x' f.json || fail "redis-server not named as run: $(cat f.json)"
}
run_case diagnose_real_redis_idle_timeout t_real_redis_idle

# python http.server sends a large file; the client reads 16 bytes and closes
t_real_unread() {
	hneed python3 ss || return $?
	mkdir www && head -c 8000000 /dev/zero > www/big.bin
	local port; port=$(hport)
	(cd www && exec $(PRE) python3 -m http.server --bind 127.0.0.1 "$port") > server.log 2>&1 &
	local sp=$!
	listening "$port" || return 1
	$(PRE) python3 - "$port" <<'PY' || return 1
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /big.bin HTTP/1.0\r\n\r\n")
print(len(s.recv(16)))
s.close()
PY
	sleep 0.5
	stop_pids $sp
	"$VIEW" diagnose --json --pid $sp rings > f.json
	local k; k=$($Q values kind < f.json | head -n 1)
	expect_eq "kind" "$k" reset_by_unread_data || fail "$(head -c 1500 f.json)" || return 1
	head -n 1 f.json | $Q values explanation | grep -Eq "the client \(127.0.0.1:[0-9]+\) closed .* after its request .* while [0-9]+ byte\(s\) of our reply were still unread in its receive buffer" \
		|| fail "$(head -n 1 f.json)" || return 1
	head -n 1 f.json | $Q values steps | grep -Eq "the peer closed with [0-9]+ byte\(s\) unread in its receive buffer: the kernel sent RST" || fail "$(head -n 1 f.json)"
}
run_case diagnose_real_python_unread_reply t_real_unread

t_pat_timeout() {
	pattern a mute || return 1
	expect_eq "kind" "$(head -n 1 a.json | $Q values kind)" no_reply_timeout || return 1
	expect_eq "the client's finding" "$(head -n 1 a.json | $Q values role)" client || return 1
	expect_eq "the chain" "$(steps_of a.json | cut -d'|' -f1-3)" "send|7|-
recv|7|-
close|0|-" || return 1
	head -n 1 a.json | $Q values explanation | grep -Eq "waited 30[0-9.]+ ms without a reply, then gave up .* The server read the request and never answered it" \
		|| fail "$(head -n 1 a.json)"
}
run_case diagnose_pattern_no_reply_timeout t_pat_timeout

# the client left before the server read its request: still the client giving up (its own
# send, traced, came before its close), timed from that send
t_pat_late_read() {
	pattern a late-read || return 1
	expect_eq "findings" "$($Q values kind < a.json | tr '\n' ' ')" "client_gave_up " || fail "$(cat a.json)" || return 1
	head -n 1 a.json | $Q values explanation | grep -Eq "the client \(127.0.0.1:[0-9]+\) gave up: it closed the connection [0-9.]+ (us|ms) after its request, before our reply; our reply came 1[0-9][0-9](\.[0-9]+)? ms later" \
		|| fail "$(head -n 1 a.json)"
}
run_case diagnose_pattern_request_read_after_client_left t_pat_late_read

# a client that exits without closing, 99,990 bytes unread: the exit sends RST (the preload
# takes a sockstate of each socket with data waiting as the process exits); the server's
# next send fails with ECONNRESET, the export shows the client's RST
t_exit_unread() {
	traced "$W/a" "$TB/scenarios" exit-unread > out.txt || return 1
	diag a > a.json
	expect_eq "findings" "$($Q values kind < a.json | tr '\n' ' ')" "reset_by_unread_data " || fail "$(cat a.json)" || return 1
	expect_eq "the chain" "$(steps_of a.json | cut -d'|' -f1-4)" "exit|0|-|the peer exited without closing, the soc
send|-1|ECONNRESET|ECONNRESET: the peer's RST" || return 1
	"$VIEW" export --format pcapng -o a.pcapng a || return 1
	tshark_ok a.pcapng || return $?
	expect_eq "the client's RST" "$(tshark -r a.pcapng -Y 'tcp.flags.reset==1' -T fields -e frame.comment 2>/dev/null | cut -d'(' -f1)" "exit"
}
run_case diagnose_exit_with_unread_data t_exit_unread
