# The pcapng export against the wire: the same runs captured by tcpdump on lo, compared
# connection by connection as events (SYN, data bytes each way, FIN, RST; pure ACKs aside).
# Needs root (tcpdump) and tshark.

# wire_case NAME PROG ARGS...: trace and capture PROG, then compare
wire_case() {
	[ "$(id -u)" -eq 0 ] || { echo "needs root (tcpdump captures on lo)"; return 77; }
	command -v tcpdump > /dev/null && command -v tshark > /dev/null || { echo "needs tcpdump and tshark (tests/deps.sh --test)"; return 77; }
	local name=$1; shift
	tcpdump -i lo -U --immediate-mode -w "$W/$name.pcap" tcp 2> "$W/$name.tcpdump" &
	local tp=$!
	for _ in $(seq 100); do grep -q "listening on" "$W/$name.tcpdump" && break; sleep 0.05; done
	SOCKTRACE_DIR="$W/$name" LD_PRELOAD="$LIB" "$@" > /dev/null 2>&1
	sleep 0.3
	kill $tp; wait $tp 2> /dev/null
	"$VIEW" export --format pcapng -o "$W/$name.pcapng" "$W/$name" || return 1
	python3 "$ROOT/tests/wire.py" "$W/$name.pcap" > "$name.wire"
	python3 "$ROOT/tests/wire.py" "$W/$name.pcapng" > "$name.export"
	[ -s "$name.wire" ] || fail "tcpdump captured nothing" || return 1
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

t_wire_http() {
	hneed curl python3 ss || return $?
	mkdir www && head -c 300000 /dev/urandom > www/f.bin
	local port; port=$(hport)
	(cd www && exec env SOCKTRACE_DIR="$W/h" LD_PRELOAD="$LIB" python3 -m http.server --bind 127.0.0.1 "$port") > srv.log 2>&1 &
	local sp=$!
	listening "$port" || return 1
	wire_case h curl -s -o /dev/null "http://127.0.0.1:$port/f.bin"
	local rc=$?
	kill $sp; wait $sp 2> /dev/null
	return $rc
}
run_case wire_http_download t_wire_http
