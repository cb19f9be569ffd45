# The pcapng export against the wire: the same runs captured by tcpdump on lo, compared
# connection by connection as events (SYN, data bytes each way, FIN, RST; pure ACKs aside).
# Needs root (tcpdump) and tshark. Scenarios are those of the exports issue: a normal exchange,
# a half-close, SO_LINGER {1,0}, close with unread data, a client giving up on a slow server,
# UDP and IPv6.

# wire_case NAME PROG ARGS...: trace and capture PROG, then compare
wire_case() {
	[ "$(id -u)" -eq 0 ] || { echo "needs root (tcpdump captures on lo)"; return 77; }
	command -v tcpdump > /dev/null && command -v tshark > /dev/null || { echo "needs tcpdump and tshark (tests/deps.sh --test)"; return 77; }
	local name=$1; shift
	tcpdump -i lo -s 200 -B 32768 -U --immediate-mode -w "$W/$name.pcap" tcp or udp 2> "$W/$name.tcpdump" &
	local tp=$!
	for _ in $(seq 100); do grep -q "listening on" "$W/$name.tcpdump" && break; sleep 0.05; done
	if ! grep -q "listening on" "$W/$name.tcpdump"; then  # (a container without CAP_NET_RAW)
		kill $tp 2> /dev/null; wait $tp 2> /dev/null
		echo "tcpdump cannot capture on lo here: $(head -n 1 "$W/$name.tcpdump")"; return 77
	fi
	SOCKTRACE_DIR="$W/$name" LD_PRELOAD="$LIB" "$@" > /dev/null 2>&1
	sleep 0.3
	stop_pids $tp
	"$VIEW" export --format pcapng -o "$W/$name.pcapng" "$W/$name" || return 1
	"$VIEW" sockets --json "$W/$name" > "$name.sockets" || return 1
	python3 "$ROOT/tests/wire.py" "$W/$name.pcap" "$name.sockets" > "$name.wire"
	python3 "$ROOT/tests/wire.py" "$W/$name.pcapng" > "$name.export"
	[ -s "$name.wire" ] || fail "tcpdump captured nothing" || return 1
	grep -q "^0 packets dropped by kernel" "$W/$name.tcpdump" || fail "tcpdump dropped packets: $(grep dropped "$W/$name.tcpdump")" || return 1
	diff -u "$name.wire" "$name.export" || fail "the export differs from the wire (- tcpdump, + socktrace)"
}

t_wire_brokenpipe() { wire_case bp "$TB/brokenpipe" --ignore-sigpipe; }
run_case wire_reply_after_client_closed t_wire_brokenpipe

t_wire_half_close() { wire_case hc "$TB/patterns" half-close-linger; }
run_case wire_half_close_then_abortive_close t_wire_half_close

t_wire_proxy() { wire_case px "$TB/patterns" proxy; }
run_case wire_proxy_late_upstream_reply t_wire_proxy

t_wire_idle() { wire_case idle "$TB/patterns" idle-reuse; }
run_case wire_idle_connection_reused t_wire_idle

t_wire_unread() { wire_case ur "$TB/scenarios" unread-close; }
run_case wire_close_with_unread_data t_wire_unread

# wire_http NAME BYTES CURL-ARGS...: a traced python http.server serving a file of BYTES
# (from SOURCE, /dev/urandom or /dev/zero), fetched by traced curl
wire_http() {
	hneed curl python3 ss || return $?
	local name=$1 size=$2 src=$3; shift 3
	mkdir www && head -c "$size" "$src" > www/f.bin
	local port; port=$(hport)
	(cd www && exec env SOCKTRACE_DIR="$W/$name" LD_PRELOAD="$LIB" python3 -m http.server --bind 127.0.0.1 "$port") > srv.log 2>&1 &
	local sp=$!
	listening "$port" || return 1
	wire_case "$name" curl -s -o /dev/null "$@" "http://127.0.0.1:$port/f.bin"
	local rc=$?
	stop_pids $sp
	return $rc
}

t_wire_http() { wire_http h 300000 /dev/urandom; }
run_case wire_http_download t_wire_http

t_wire_linger0() { wire_case l0 "$TB/scenarios" linger0; }
run_case wire_linger0_abortive_close t_wire_linger0

t_wire_v6() {
	"$TB/scenarios" v6 > /dev/null; [ $? -eq 77 ] && { echo "no IPv6 loopback here"; return 77; }
	wire_case v6 "$TB/scenarios" v6
}
run_case wire_ipv6 t_wire_v6

t_wire_udp() {
	SOCKTRACE_DIR="$W/u" LD_PRELOAD="$LIB" "$TB/classic" udp-server "$W/port" 3 > /dev/null &
	local sp=$!
	for _ in $(seq 100); do [ -s "$W/port" ] && break; sleep 0.05; done
	wire_case u "$TB/classic" udp-client "$(cat "$W/port")" one two three
	local rc=$?
	[ $rc -eq 0 ] || kill $sp 2> /dev/null
	wait $sp
	return $rc
}
run_case wire_udp_echo t_wire_udp

# python http.server sends 20 MB to a curl that reads 200 kB/s and gives up after 1 s: the
# server's last sends sit in its kernel's queue when curl's RST purges it, so the wire carries
# less than the sends moved; the export counts what the client's kernel received instead.
t_wire_slow() { wire_http s 20000000 /dev/zero --limit-rate 200k --max-time 1; }
run_case wire_client_gives_up_on_slow_server t_wire_slow

# nginx with sendfile on: its bytes leave through sendfile(2), not send; three requests on one
# curl connection (keep-alive), then a curl that gives up on a slow download of the same file
t_wire_nginx_sendfile() {
	hneed nginx curl ss || return $?
	nginx_big "$W/n" || return 1
	local port=$NPORT np=$NPID
	local u="http://127.0.0.1:$port"
	wire_case n sh -c "curl -s -o /dev/null -o /dev/null -o /dev/null $u/f.bin $u/big.bin $u/f.bin &&
		curl -s -o /dev/null --limit-rate 100k --max-time 1 $u/big.bin; true"
	local rc=$?
	[ $rc -eq 0 ] && { expect_ge "sendfile calls" "$("$VIEW" dump --json "$W/n" | $Q count call=sendfile)" 2 || rc=1; }
	stop_pids $np
	return $rc
}
run_case wire_nginx_sendfile_keepalive_and_reset t_wire_nginx_sendfile

# a non-blocking connect to a closed port (SYN, then the port's RST) and three non-blocking
# connects completed by one poll: the SYNs leave at the connects
t_wire_connects() {
	wire_case rf "$TB/scenarios" nb-refused || return $?
	expect_eq "refused" "$(cat rf.export)" ">S <R" || return 1
	wire_case mc "$TB/patterns" multi-connect || return $?
	expect_eq "SYNs at the connects" "$(tshark -r "$W/mc.pcapng" -Y 'tcp.flags.syn==1 && tcp.flags.ack==0' -T fields -e frame.comment 2>/dev/null | cut -d'(' -f1 | sort | uniq -c | tr -s ' ')" " 3 connect"
}
run_case wire_refused_and_one_poll_three_connects t_wire_connects

# one end traced: python sends 2 bytes and closes, untraced; the traced client reads the 2
# bytes, not the end of stream, and closes 200 ms later. The server's side is inferred: its
# data from our read, its FIN from our kernel's count (bytes_received = data + 1)
t_wire_one_end() {
	hneed python3 ss || return $?
	hi_start || return 1
	local port=$HI_PORT sp=$HI_PID
	wire_case one python3 -c "$(hi_client "$port")" || { local rc=$?; kill $sp 2> /dev/null; return $rc; }
	wait $sp
	expect_eq "export" "$(cat one.export)" ">S <S <D2 <F >F" || return 1
	expect_eq "inferred server packets" "$(tshark -r "$W/one.pcapng" -Y "tcp.srcport==$port" -T fields -e frame.comment 2>/dev/null | grep -c 'inferred: the other end is not traced')" 3
}
run_case wire_one_end_traced t_wire_one_end
