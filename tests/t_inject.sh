# Fault injection (SOCKTRACE_INJECT, record --inject) against real programs: each rule does to
# the program what the kernel would, is recorded with the call, and is told by diagnose.

t_inj_curl_reset() {
	hneed curl python3 ss || return $?
	mkdir www && head -c 100000 /dev/urandom > www/f.bin
	local port; port=$(hport)
	(cd www && exec python3 -m http.server --bind 127.0.0.1 "$port") > server.log 2>&1 &
	local sp=$!
	listening "$port" || return 1
	"$SOCKTRACE" record -o "$W/rings" --inject "recv:error=ECONNRESET:when=1:peer=127.0.0.1:$port" -- \
		curl -s -o got.bin "http://127.0.0.1:$port/f.bin"
	local rc=$?
	expect_eq "curl saw a reset (exit 56)" $rc 56 || return 1
	# the same rule with another port picks nothing: curl is untouched
	"$SOCKTRACE" record -o "$W/r2" --inject "recv:error=ECONNRESET:peer=127.0.0.1:1" -- \
		curl -s -o got2.bin "http://127.0.0.1:$port/f.bin" || return 1
	cmp got2.bin www/f.bin || return 1
	stop_pids $sp
	dump rings > d.json || return 1
	expect_eq "the injected recv, recorded" "$($Q values errno injected=error=ECONNRESET call=recv < d.json)" ECONNRESET || return 1
	expect_eq "only the first recv" "$($Q count injected='*' < d.json)" 1 || return 1
	"$VIEW" timeline rings | grep -q "recv(fd=[0-9]*, len=[0-9]*, flags=0) = -1 ECONNRESET (Connection reset by peer) <.*> \[injected: error=ECONNRESET\]" \
		|| fail "timeline: $("$VIEW" timeline rings | grep recv | head -n 3)"
}
run_case inject_curl_reset_exit_56 t_inj_curl_reset

inj_http() {  # inj_http RULES: python http.server serving "hello", traced with SOCKTRACE_INJECT=RULES;
	# sets HPORT and HPID, returns once it listens (its output in server.log)
	mkdir -p www && echo hello > www/index.html
	HPORT=$(hport)
	(cd www && exec env SOCKTRACE_DIR="$W/rings" SOCKTRACE_INJECT="$1" LD_PRELOAD="$LIB" \
		python3 -m http.server --bind 127.0.0.1 "$HPORT") > server.log 2>&1 &
	HPID=$!
	listening "$HPORT"
}

t_inj_server_epipe() {
	hneed curl python3 ss || return $?
	inj_http '%send:error=EPIPE:when=1' || return 1
	local port=$HPORT sp=$HPID
	curl -s "http://127.0.0.1:$port/" > first.txt
	expect_eq "the first client got nothing" "$(cat first.txt)" "" || return 1
	expect_eq "the server keeps serving the next client" "$(curl -s "http://127.0.0.1:$port/")" hello || return 1
	stop_pids $sp
	grep -q "BrokenPipeError" server.log || fail "no BrokenPipeError in the server's log: $(cat server.log)" || return 1
	diag() { "$VIEW" diagnose --json "$1"; }
	diag rings > f.json
	expect_eq "diagnose says it was injected" "$($Q values injected < f.json | head -n 1)" "error=EPIPE on send" || fail "$(cat f.json)" || return 1
	$Q values explanation < f.json | head -n 1 | grep -q "^injected by SOCKTRACE_INJECT (error=EPIPE on send): the send was not made and failed with EPIPE as the rule says; nothing happened on the connection$" || fail "$(cat f.json)"
}
run_case inject_python_server_epipe_keeps_serving t_inj_server_epipe

t_inj_redis_reset() {
	hneed redis-server redis-cli ss || return $?
	local port; port=$(hport)
	env SOCKTRACE_DIR="$W/rings" SOCKTRACE_INJECT='write:reset:when=2' LD_PRELOAD="$LIB" \
		redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --logfile "$W/redis.log" &
	local sp=$!
	listening "$port" || return 1
	printf 'PING\nPING\nPING\n' | redis-cli -p "$port" > cli.txt 2>&1
	# (redis-cli starts with COMMAND DOCS, answered with writev: the second write is the second PING's reply)
	grep -q "Connection reset by peer" cli.txt || fail "redis-cli did not report the reset: $(cat cli.txt)" || return 1
	expect_eq "redis keeps serving" "$(redis-cli -p "$port" ping)" PONG || return 1
	stop_pids $sp
	dump rings > d.json || return 1
	expect_eq "one reset injected, on the second reply" "$($Q count injected=reset < d.json)" 1
}
run_case inject_redis_reset_second_reply t_inj_redis_reset

t_inj_delay() {
	hneed curl python3 ss || return $?
	inj_http '%send:delay=2s:when=1' || return 1
	local port=$HPORT sp=$HPID
	curl -s --max-time 1 "http://127.0.0.1:$port/" > /dev/null
	expect_eq "curl timed out (exit 28)" $? 28 || return 1
	sleep 1.5
	stop_pids $sp
	expect_ge "the delayed send took 2 s" "$(dump rings | $Q values dur_ns injected=delay=2s | head -n 1)" 2000000000
}
run_case inject_delay_makes_curl_time_out t_inj_delay

t_inj_short() {
	hneed curl python3 ss || return $?
	mkdir www && head -c 20000 /dev/urandom > www/f.bin
	local port; port=$(hport)
	(cd www && exec env SOCKTRACE_DIR="$W/rings" SOCKTRACE_INJECT='%send:short=7' LD_PRELOAD="$LIB" \
		python3 -m http.server --bind 127.0.0.1 "$port") > server.log 2>&1 &
	local sp=$!
	listening "$port" || return 1
	curl -s -o got.bin "http://127.0.0.1:$port/f.bin" || return 1
	stop_pids $sp
	cmp got.bin www/f.bin || fail "bytes differ" || return 1
	dump rings > d.json || return 1
	expect_eq "every write cut to 7 bytes at most" "$($Q values ret injected=short=7 < d.json | sort -n | tail -n 1)" 7 || return 1
	expect_ge "python's sendall looped" "$($Q count injected=short=7 < d.json)" 2800
}
run_case inject_short_writes_same_bytes t_inj_short

t_inj_sigpipe_death() {
	"$SOCKTRACE" record -o "$W/rings" --inject 'write:error=EPIPE' -- "$TB/patterns" one-write > out.txt 2> err.txt
	expect_eq "killed by SIGPIPE (141)" $? 141 || return 1
	"$VIEW" diagnose --json rings > f.json
	expect_eq "an injected sigpipe_death" "$($Q values kind injected='*' < f.json)" sigpipe_death || fail "$(cat f.json)" || return 1
	# MSG_NOSIGNAL, an ignored SIGPIPE: no signal, as the kernel would do it
	"$SOCKTRACE" record -o "$W/r2" --inject 'write:error=EPIPE' -- "$TB/brokenpipe" --ignore-sigpipe > /dev/null 2>&1
	expect_eq "SIGPIPE ignored: an error, no death" $? 1
}
run_case inject_epipe_raises_sigpipe t_inj_sigpipe_death

t_inj_bad_rules() {
	"$SOCKTRACE" record -o "$W/rings" --inject 'send:error=EFOO' -- true 2> err.txt
	expect_eq "record refuses a bad rule" $? 2 || return 1
	grep -q "rule 'send:error=EFOO': error= wants an errno name" err.txt || fail "$(cat err.txt)" || return 1
	[ ! -e "$W/rings/trace.ring" ] || fail "the command ran" || return 1
	for bad in 'frob:error=EPIPE' 'send' 'send:explode' 'send:delay=2parsecs' 'send:short=0' 'recv:eof:when=0' \
	           'recv:eof:peer=nohost:80' 'accept:error=EPIPE:local=127.0.0.1'; do
		"$SOCKTRACE" record -o "$W/rings" --inject "$bad" -- true 2> e.txt
		[ $? -eq 2 ] && grep -q "rule '" e.txt || fail "accepted: $bad ($(cat e.txt))" || return 1
	done
	# in the library: said once, no rule of it applied (the good one next to it neither)
	SOCKTRACE_DIR="$W/r2" SOCKTRACE_INJECT='write:error=EPIPE;send:error=EFOO' LD_PRELOAD="$LIB" "$TB/patterns" one-write > out.txt 2> err2.txt
	expect_eq "the program ran untouched" "$(cat out.txt)" "write 5" || return 1
	expect_eq "said once" "$(grep -c "SOCKTRACE_INJECT: rule 'send:error=EFOO'" err2.txt)" 1
}
run_case inject_bad_rules_refused t_inj_bad_rules

t_inj_counts() {
	hneed python3 || return $?
	cat > w.py <<'PY'
import socket
a, b = socket.socketpair()
out = []
for i in range(1, 11):
    try:
        a.send(b"x")
        out.append("ok")
    except OSError as e:
        out.append(str(e.errno))
print(" ".join(out))
PY
	# when=2+3: the 2nd, 5th and 8th matching call
	expect_eq "when=2+3" "$(SOCKTRACE_DIR="$W/a" SOCKTRACE_INJECT='send:error=EAGAIN:when=2+3' LD_PRELOAD="$LIB" python3 w.py)" \
		"ok 11 ok ok 11 ok ok 11 ok ok" || return 1
	# when=4+: from the 4th on; after-bytes=3: the first send once 3 bytes went out that way
	expect_eq "when=4+" "$(SOCKTRACE_DIR="$W/b" SOCKTRACE_INJECT='send:error=ENOBUFS:when=4+' LD_PRELOAD="$LIB" python3 w.py)" \
		"ok ok ok 105 105 105 105 105 105 105" || return 1
	expect_eq "after-bytes=3" "$(SOCKTRACE_DIR="$W/c" SOCKTRACE_INJECT='send:error=EPIPE:after-bytes=3' LD_PRELOAD="$LIB" python3 w.py 2>&1 | tail -n 1)" \
		"ok ok ok 32 ok ok ok ok ok ok" || return 1
	# two rules: the first that picks a call acts on it
	expect_eq "rules in order" "$(SOCKTRACE_DIR="$W/d" SOCKTRACE_INJECT='send:error=EAGAIN:when=1;send:error=ENOBUFS:when=1+2' LD_PRELOAD="$LIB" python3 w.py)" \
		"11 ok 105 ok 105 ok 105 ok 105 ok"
}
run_case inject_when_after_bytes_and_order t_inj_counts
