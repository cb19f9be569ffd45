# Exports, read back with the tools their users use: a JSON parser for chrome and jsonl,
# tshark for pcapng. And tail against programs that are still running.

t_export_chrome() {
	traced "$W/rings" "$TB/brokenpipe" --ignore-sigpipe > /dev/null 2>&1
	"$VIEW" export --format chrome -o trace.json rings || return 1
	local n; n=$(dump rings | $Q count complete=true)
	python3 - "$n" <<'PY' || return 1
import json, sys
d = json.load(open("trace.json"))
ev = d["traceEvents"]
want = int(sys.argv[1])
x = [e for e in ev if e["ph"] == "X" and e["cat"] == "call"]
assert len(x) == want, f"{len(x)} complete slices, want {want}"
assert all(e["dur"] >= 0 and e["ts"] >= 0 and "pid" in e and "tid" in e for e in x)
names = {e["args"]["name"] for e in ev if e["ph"] == "M" and e["name"] == "process_name"}
assert len(names) == 2 and all(n.startswith("brokenpipe ") for n in names), names
b = {e["id"] for e in ev if e["ph"] == "b"}
e_ = {e["id"] for e in ev if e["ph"] == "e"}
assert b == e_ and len(b) == 3, (b, e_)
inst = [e for e in ev if e["ph"] == "i"]
assert [i["name"] for i in inst] == ["EPIPE"], inst
send = [e for e in x if e["name"] == "send" and e["args"].get("errno") == "EPIPE"][0]
assert send["args"]["fd"] == 4 and send["args"]["result"] == -1
assert any("send_reply (tests/progs/brokenpipe.c:17)" in f for f in send["args"]["stack"]), send
PY
}
run_case export_chrome_trace_events t_export_chrome

# A call that waited shows a "blocked" slice inside its own; one still blocked when the trace
# ends is ended there with one (and its own slice closed).
t_export_chrome_blocked() {
	traced "$W/rings" "$TB/patterns" idle-reuse > /dev/null 2>&1
	SOCKTRACE_DIR="$W/b" LD_PRELOAD="$LIB" "$TB/scenarios" blocked > /dev/null 2>&1 &
	local bp=$!
	sleep 0.5
	"$VIEW" export --format chrome -o idle.json rings || return 1
	"$VIEW" export --format chrome -o blocked.json b || return 1
	stop_pids $bp
	python3 - <<'PY' || return 1
import json
ev = json.load(open("idle.json"))["traceEvents"]
calls = [e for e in ev if e["ph"] == "X" and e["cat"] == "call"]
blk = [e for e in ev if e["ph"] == "X" and e["cat"] == "blocked"]
long_ = [c for c in calls if c["dur"] >= 1000]
assert any(c["dur"] >= 250000 for c in long_), "no call waited 250 ms in idle-reuse"
for c in long_:     # each waiting call holds exactly one blocked slice, inside it
    inside = [b for b in blk if b["pid"] == c["pid"] and b["tid"] == c["tid"] and
              c["ts"] <= b["ts"] and b["ts"] + b["dur"] <= c["ts"] + c["dur"]]
    assert len(inside) == 1 and inside[0]["args"]["in"] == c["name"], (c, inside)
    assert abs(inside[0]["dur"] - c["dur"]) < 0.01
assert len(blk) == len(long_), (len(blk), len(long_))
ev = json.load(open("blocked.json"))["traceEvents"]
b = [e for e in ev if e["ph"] == "B"]
recv = [e for e in b if e["name"] == "recv"]
assert len(recv) == 1, b
r = recv[0]
e_ = [e for e in ev if e["ph"] == "E" and e["tid"] == r["tid"] and e["pid"] == r["pid"]]
assert len(e_) == 1 and e_[0]["ts"] >= r["ts"], e_
blk = [e for e in ev if e["ph"] == "X" and e["cat"] == "blocked" and e["tid"] == r["tid"]]
assert len(blk) == 1 and "never returned" in blk[0]["args"]["until"], blk
PY
}
run_case export_chrome_blocked_time t_export_chrome_blocked

t_export_jsonl() {
	traced "$W/rings" "$TB/brokenpipe" --ignore-sigpipe > /dev/null 2>&1
	"$VIEW" export --format jsonl rings > out.jsonl || return 1
	expect_eq "one line per record" "$(wc -l < out.jsonl)" "$(dump rings | wc -l)" || return 1
	$Q check-schema < out.jsonl > /dev/null || return 1
	local id; id=$("$VIEW" sockets --json --fd 4 rings | $Q values id)
	# its calls, plus the kernel's state recorded after the EPIPE and before the close
	expect_eq "records of the server's socket" "$($Q count socket="$id" < out.jsonl)" \
		"$(( $("$VIEW" sockets --json --fd 4 rings | $Q values calls) + 2 ))" || return 1
	expect_eq "sockstate records" "$($Q count socket="$id" call=sockstate < out.jsonl)" 2 || return 1
	$Q values stack call=send errno=EPIPE < out.jsonl | grep -q "send_reply (tests/progs/brokenpipe.c:17) \[brokenpipe\]" || return 1
	"$VIEW" export --format jsonl --fd 4 rings > fd4.jsonl || return 1
	expect_eq "filtered to one socket" "$($Q values socket < fd4.jsonl | sort -u)" "$id"
}
run_case export_jsonl t_export_jsonl

t_export_pcapng_tcp() {
	local pf=$W/port
	"$TB/classic" tcp-server "$pf" > /dev/null &
	wait_file "$pf" || return 1
	SOCKTRACE_PAYLOAD=64 traced "$W/rings" "$TB/classic" tcp-client "$(cat "$pf")" hello world > /dev/null || return 1
	wait
	"$VIEW" export --format pcapng -o tcp.pcapng rings || return 1
	tshark_ok tcp.pcapng || return $?
	# handshake 3, data 4, our FIN, and the server's FIN: the client never read the end of
	# stream, its kernel counted it (bytes_received one more than the data)
	# (when it had arrived by then: it races with our close; tests/t_wire.sh has a fixed case)
	local sfin; sfin=$(tshark -r tcp.pcapng -Y "tcp.flags.fin==1 && tcp.srcport==$(cat "$pf")" -T fields -e frame.comment 2>/dev/null | grep -c 'inferred: the other end is not traced; its FIN, counted')
	expect_eq "packets" "$(tshark -r tcp.pcapng 2>/dev/null | wc -l)" $((8 + sfin)) || return 1
	expect_eq "the SYN-ACK, inferred" "$(tshark -r tcp.pcapng -Y 'tcp.flags.syn==1 && tcp.flags.ack==1' -T fields -e frame.comment 2>/dev/null | grep -c 'inferred')" 1 || return 1
	expect_eq "handshake" "$(tshark -r tcp.pcapng -Y 'tcp.flags.syn==1' 2>/dev/null | wc -l)" 2 || return 1
	expect_eq "payloads" "$(tshark -r tcp.pcapng -Y 'tcp.len>0' -T fields -e tcp.payload 2>/dev/null | tr '\n' ' ')" \
		"68656c6c6f 48454c4c4f 776f726c64 574f524c44 " || return 1
	expect_eq "our FIN" "$(tshark -r tcp.pcapng -Y 'tcp.flags.fin==1' -T fields -e frame.comment 2>/dev/null | head -n 1 | cut -d' ' -f1)" "shutdown(fd=3)" || return 1
	tshark -r tcp.pcapng -Y 'tcp.len==5' -T fields -e frame.comment 2>/dev/null | head -n 1 \
		| grep -Eq "^send\(fd=3\) = 5 pid [0-9]+ tid [0-9]+ at client \(tests/progs/classic.c:[0-9]+\) \[classic\]$" \
		|| fail "comment: $(tshark -r tcp.pcapng -T fields -e frame.comment 2>/dev/null | head -n 4)"
}
run_case export_pcapng_tcp t_export_pcapng_tcp

# The same 4-tuple twice in one trace (the client binds the port it had; an abortive close
# leaves no TIME_WAIT): two connections in the export, each with its handshake and its bytes,
# not one that runs on.
t_export_pcapng_tuple_reused() {
	hneed tshark || return $?
	traced "$W/rings" python3 -c '
import socket, struct
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen()
cport = 0
for i in range(2):
    c = socket.socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    c.bind(("127.0.0.1", cport)); cport = c.getsockname()[1]
    c.connect(srv.getsockname())
    a, _ = srv.accept()
    c.sendall(b"request%d" % i); a.recv(100)
    a.sendall(b"reply%d" % i); c.recv(100)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close(); a.close()
print(cport)' > port.txt || return 1
	"$VIEW" export --format pcapng -o reuse.pcapng rings || return 1
	tshark_ok reuse.pcapng || return $?
	local p; p=$(cat port.txt)
	expect_eq "client SYNs from port $p" "$(tshark -r reuse.pcapng -Y "tcp.flags.syn==1 && tcp.flags.ack==0 && tcp.srcport==$p" 2>/dev/null | wc -l)" 2 || return 1
	expect_eq "RSTs (one per abortive close)" "$(tshark -r reuse.pcapng -Y "tcp.flags.reset==1 && tcp.srcport==$p" 2>/dev/null | wc -l)" 2 || return 1
	# each connection's stream starts again: the second request is at relative sequence 1
	expect_eq "streams" "$(tshark -r reuse.pcapng -Y 'tcp.len>0' -T fields -e tcp.stream -e tcp.seq -e tcp.len 2>/dev/null | tr '\t\n' ', ')" \
		"0,1,8 0,1,6 1,1,8 1,1,6 " || return 1
}
run_case export_pcapng_tuple_reused t_export_pcapng_tuple_reused

t_export_pcapng_both_ends() {
	traced "$W/rings" "$TB/brokenpipe" --ignore-sigpipe > /dev/null 2>&1
	"$VIEW" export --format pcapng -o bp.pcapng rings || return 1
	tshark_ok bp.pcapng || return $?
	# one handshake, not two, though both ends were traced; the client's FIN; the RST
	expect_eq "SYNs" "$(tshark -r bp.pcapng -Y 'tcp.flags.syn==1 && tcp.flags.ack==0' 2>/dev/null | wc -l)" 1 || return 1
	expect_eq "FIN from the client's close" "$(tshark -r bp.pcapng -Y 'tcp.flags.fin==1' -T fields -e frame.comment 2>/dev/null | cut -d' ' -f1)" "close(fd=3)" || return 1
	expect_eq "RST" "$(tshark -r bp.pcapng -Y 'tcp.flags.reset==1' 2>/dev/null | wc -l)" 1 || return 1
	expect_eq "zero-filled payload without SOCKTRACE_PAYLOAD" "$(tshark -r bp.pcapng -Y 'tcp.len==30' -T fields -e tcp.payload 2>/dev/null | tr -d '0')" "" || return 1
	# each packet names its process in Wireshark's form (a Darwin process event block per
	# process, its index in the packet), the same process as the comment's "pid N"
	tshark -r bp.pcapng -X read_format:"MIME Files Format" -T fields -E occurrence=a -E aggregator=' ' \
		-e pcapng.darwin.process_id -e pcapng.darwin.process_name \
		-e pcapng.options.option.data.packet.darwin.dpeb_id > dpeb.txt 2>/dev/null
	tshark -r bp.pcapng -T fields -e frame.comment 2>/dev/null | sed 's/.* pid \([0-9]*\) .*/\1/' > pids.txt
	python3 - <<'PY' || return 1
pids, names, ids = open("dpeb.txt").read().rstrip("\n").split("\t")
pids, names, ids = pids.split(), names.split(), [int(i) for i in ids.split()]
want = open("pids.txt").read().split()
assert len(pids) == 2 and set(names) == {"brokenpipe"}, (pids, names)
assert len(ids) == len(want) > 5, (ids, want)
assert [pids[i] for i in ids] == want, (pids, ids, want)
PY
}
run_case export_pcapng_both_ends_traced t_export_pcapng_both_ends

t_export_pcapng_udp_v6() {
	udp_run "$W/u" > /dev/null || return 1
	"$VIEW" export --format pcapng -o udp.pcapng u || return 1
	tshark_ok udp.pcapng || return $?
	expect_eq "datagrams, each once" "$(tshark -r udp.pcapng -Y udp 2>/dev/null | wc -l)" 8 || return 1
	traced "$W/six" "$TB/scenarios" v6 > out.txt; local rc=$?
	[ $rc -eq 77 ] && { echo "no IPv6 loopback"; return 77; }
	"$VIEW" export --format pcapng -o v6.pcapng six || return 1
	tshark_ok v6.pcapng || return $?
	expect_eq "IPv6 TCP packets" "$(tshark -r v6.pcapng -Y 'ipv6 && tcp' 2>/dev/null | wc -l)" "$(tshark -r v6.pcapng 2>/dev/null | wc -l)" || return 1
	expect_ge "IPv6 packets" "$(tshark -r v6.pcapng 2>/dev/null | wc -l)" 6
}
run_case export_pcapng_udp_and_ipv6 t_export_pcapng_udp_v6

t_export_errors() {
	"$VIEW" export rings 2> err.txt; expect_eq "no format" $? 2 || return 1
	"$VIEW" export --format xml rings 2> err.txt; expect_eq "unknown format" $? 2 || return 1
	expect_eq "said once" "$(cat err.txt)" "socktrace export: --format: bad value 'xml' (the formats are chrome, jsonl and pcapng)" || return 1
	traced "$W/rings" "$TB/fortify" > /dev/null || return 1
	"$VIEW" export --format jsonl -o /nonexistent/dir/x rings 2> err.txt; expect_eq "unwritable output" $? 1 || return 1
	grep -q "/nonexistent/dir/x: No such file or directory" err.txt || return 1
	# a full disk is told as one (/dev/full: every write fails with ENOSPC)
	"$VIEW" export --format pcapng -o /dev/full rings 2> err.txt; expect_eq "full disk" $? 1 || return 1
	grep -q "writing /dev/full failed: No space left on device" err.txt || fail "$(cat err.txt)" || return 1
	# nothing readable: the error alone, no table header before it
	echo garbage > bad.ring
	"$VIEW" sockets bad.ring > out.txt 2> err.txt; expect_eq "unreadable" $? 2 || return 1
	expect_eq "nothing on stdout" "$(wc -c < out.txt)" 0 || return 1
	grep -q "bad.ring: too short for a trace file" err.txt || fail "$(cat err.txt)" || return 1
	# every message names the program and the command; an address filter takes no host name
	"$VIEW" dump --bogus rings 2> err.txt; expect_eq "unknown option" $? 2 || return 1
	grep -q "^socktrace dump: unrecognized option '--bogus'" err.txt || fail "$(cat err.txt)" || return 1
	"$VIEW" sockets --addr localhost rings 2> err.txt; expect_eq "a host name" $? 2 || return 1
	grep -q "names like localhost are not resolved" err.txt || fail "$(cat err.txt)"
}
run_case export_errors t_export_errors

t_tail() {
	# started before the trace directory exists
	"$VIEW" tail --for 4 rings > tail.txt 2> tail.err &
	local tp=$!
	sleep 0.5
	# a process that starts after tail, and stays blocked in recv
	SOCKTRACE_DIR="$W/rings" LD_PRELOAD="$LIB" "$TB/scenarios" blocked > out.txt &
	local bp=$!
	wait_file out.txt || return 1
	traced "$W/rings" "$TB/fortify" > /dev/null || return 1
	sleep 2
	kill -9 $bp; wait $bp 2>/dev/null
	wait $tp || fail "tail exit status $?" || return 1
	grep -q "scenarios\[$bp:$bp\] accept(fd=3" tail.txt || fail "$(cat tail.txt tail.err)" || return 1
	grep -q "scenarios\[$bp:$bp\] recv(fd=5, len=8, flags=0) = ? <unfinished: still blocked>" tail.txt || return 1
	# its death, told once, with the call it was blocked in (fortify's normal exit is not)
	expect_eq "deaths told" "$(grep -c '+++ ended with no exit recorded' tail.txt)" 1 || return 1
	grep -q "scenarios\[$bp\] +++ ended with no exit recorded (killed by a signal, or _exit); it was blocked in recv(fd=5) +++" tail.txt \
		|| fail "$(cat tail.txt)" || return 1
	grep -q "fortify\[[0-9]*:[0-9]*\] recv(fd=4, len=64, flags=0, fortify=true) = 9" tail.txt || return 1
	# what was there before tail started is not repeated
	"$VIEW" tail --for 1 rings > again.txt || return 1
	expect_eq "nothing new" "$(wc -l < again.txt)" 0 || return 1
	"$VIEW" tail --for 1 --from-start rings > all.txt || return 1
	expect_ge "--from-start" "$(wc -l < all.txt)" 10
}
run_case tail_running_processes t_tail

# connections whose birth the ring overwrote are exported all the same (their addresses come
# from the socket table, recorded with the kernel's queues at close)
t_export_wrapped() {
	hneed redis-server redis-benchmark redis-cli tshark ss || return $?
	local port; port=$(hport)
	SOCKTRACE_SIZE=1M SOCKTRACE_DIR="$W/rings" LD_PRELOAD="$LIB" redis-server --port "$port" --bind 127.0.0.1 \
		--save '' --appendonly no --logfile "$W/redis.log" &
	local sp=$!
	listening "$port" || return 1
	SOCKTRACE_SIZE=1M SOCKTRACE_DIR="$W/rings" LD_PRELOAD="$LIB" redis-benchmark -p "$port" -n 20000 -c 20 -t set -q > /dev/null 2>&1
	stop_pids $sp
	"$VIEW" export --format pcapng -o w.pcapng rings 2> err.txt || return 1
	grep -q "ring wrapped" err.txt || fail "the ring did not wrap" || return 1
	expect_eq "the 20 connections" "$(tshark -r w.pcapng -q -z conv,tcp 2>/dev/null | grep -c '<->')" 20
}
run_case export_pcapng_connections_after_wrap t_export_wrapped

# one poll completes three non-blocking connects: three connections, three handshakes
t_export_multi_connect() {
	command -v tshark > /dev/null || { echo "needs tshark"; return 77; }
	traced "$W/rings" "$TB/patterns" multi-connect > out.txt || return 1
	expect_eq "program" "$(cat out.txt)" "poll: 3 ready" || return 1
	expect_eq "three connected sockets" "$("$VIEW" sockets --json rings | $Q count role=client)" 3 || return 1
	"$VIEW" timeline rings | grep -c -- "-- connected to" | grep -qx 3 || fail "$("$VIEW" timeline rings)" || return 1
	"$VIEW" export --format pcapng -o m.pcapng rings || return 1
	expect_eq "three SYNs" "$(tshark -r m.pcapng -Y 'tcp.flags.syn==1 && tcp.flags.ack==0' 2>/dev/null | wc -l)" 3
}
run_case export_pcapng_one_poll_three_connects t_export_multi_connect
