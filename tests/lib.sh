# Helpers for the shell tests: paths, running traced/untraced, assertions that say why.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
B=$ROOT/build
LIB=$B/libsocktrace.so
TB=$B/tests
SOCKTRACE=$B/socktrace
VIEW=$B/asan/socktrace          # every read of a trace goes through the ASan/UBSan viewer
Q="python3 $ROOT/tests/q.py"
export ASAN_OPTIONS=abort_on_error=0:detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

# traced DIR CMD...: run CMD with the preload writing rings into DIR
traced() {
	local dir=$1; shift
	SOCKTRACE_DIR=$dir LD_PRELOAD=$LIB "$@"
}

# dump DIR|FILE...: JSON lines of a trace, via the sanitized viewer
dump() { "$VIEW" dump --json "$@"; }

fail() { echo "FAIL: $*"; return 1; }

expect_eq() {  # expect_eq WHAT GOT WANT
	[ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
}

expect_ge() {  # expect_ge WHAT GOT MIN
	[ "$2" -ge "$3" ] 2>/dev/null || fail "$1: got '$2', want at least $3"
}

expect_same_output() {  # expect_same_output FILE_UNTRACED FILE_TRACED
	diff -u "$1" "$2" || fail "traced output differs from untraced"
}

# wait_file FILE: until a server has written its port file (5 s at most)
wait_file() {
	for _ in $(seq 100); do [ -s "$1" ] && return 0; sleep 0.05; done
	fail "timed out waiting for $1"
}

# count of records matching filters in a trace: nrec DIR filters...
nrec() { local d=$1; shift; dump "$d" | $Q count "$@"; }

# trace_size_is FILE BYTES: the trace file uses the size asked for (all of it but the last
# partial block: at most 64 KiB less)
trace_size_is() {
	local got; got=$(stat -c %s "$1")
	[ "$got" -le "$2" ] && [ "$got" -gt $(($2 - 65536)) ] || fail "trace size $got, asked for $2"
}

# ---- real servers (t_healthy.sh, t_diagnose.sh) ----

hneed() { for p in "$@"; do command -v "$p" > /dev/null || { echo "$p not installed (tests/deps.sh --test)"; return 77; }; done; }

stop_pids() {  # stop_pids PID...: SIGTERM each (a server the test started) and reap it
	local p
	for p in "$@"; do kill "$p" 2> /dev/null; wait "$p" 2> /dev/null; done
	return 0
}

curl_n() {  # curl_n PORT N TEXT: N traced curls of http://127.0.0.1:PORT/; the last reply holds TEXT
	local i
	for i in $(seq "$2"); do $(PRE) curl -s "http://127.0.0.1:$1/" > got.txt || return 1; done
	grep -q "$3" got.txt || fail "reply: $(head -c 200 got.txt)"
}

hport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

listening() {  # listening PORT: until a socket listens there (10 s at most)
	for _ in $(seq 200); do
		[ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ] && return 0
		sleep 0.05
	done
	fail "nothing listening on port $1"
}

PRE() { echo env SOCKTRACE_DIR="$W/rings" LD_PRELOAD="$LIB"; }

nginx_big() {  # nginx_big TRACEDIR: traced nginx, sendfile on, serving f.bin and a 30 MB big.bin;
	# on a free port: sets NPORT and NPID, returns once it listens
	NPORT=$(hport)
	nginx_conf "$NPORT" "sendfile on; server { listen 127.0.0.1:$NPORT; root $W/ngx/www; }"
	head -c 30000000 /dev/zero > "$W/ngx/www/big.bin" && chmod a+r "$W/ngx/www/big.bin"
	SOCKTRACE_DIR="$1" LD_PRELOAD="$LIB" nginx -c "$W/ngx/nginx.conf" -p "$W/ngx" 2> /dev/null &
	NPID=$!
	listening "$NPORT"
}

nginx_conf() {  # nginx_conf PORT BODY: a config in $W/ngx, workers as www-data when root
	mkdir -p "$W/ngx/www" "$W/ngx/tmp" && head -c 4096 /dev/urandom > "$W/ngx/www/f.bin"
	chmod -R a+rX "$W/ngx"
	local user=""
	[ "$(id -u)" -eq 0 ] && id www-data > /dev/null 2>&1 && user="user www-data;"
	cat > "$W/ngx/nginx.conf" <<EOF
$user
worker_processes 2;
daemon off;
error_log $W/ngx/error.log;
pid $W/ngx/nginx.pid;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $W/ngx/tmp; proxy_temp_path $W/ngx/tmp; fastcgi_temp_path $W/ngx/tmp;
  uwsgi_temp_path $W/ngx/tmp; scgi_temp_path $W/ngx/tmp;
  $2
}
EOF
}

tshark_ok() {  # tshark_ok FILE: reads cleanly, checksums right, no capture anomalies
	command -v tshark > /dev/null || { echo "tshark not installed"; return 77; }
	tshark -r "$1" -o tcp.check_checksum:TRUE -o udp.check_checksum:TRUE -o ip.check_checksum:TRUE \
		-q -z expert > expert.txt 2> tshark.err || { cat tshark.err; return 1; }
	if grep -Ei "malformed|bad checksum|checksum.*incorrect|previous segment|unseen segment|retransmission|out-of-order|Errors \(" expert.txt; then
		fail "tshark found problems in $1"
	fi
}

# hi_server PORT: (run it in the background) python sends "hi" to its one client and closes
hi_server() {
	python3 - "$1" <<'PY'
import socket, sys
l = socket.create_server(("127.0.0.1", int(sys.argv[1])))
c, _ = l.accept(); c.sendall(b"hi"); c.close()
PY
}

hi_start() {  # hi_start: hi_server on a free port, in the background (srv.log); sets HI_PORT,
	# HI_PID, returns once it listens
	HI_PORT=$(hport)
	hi_server "$HI_PORT" > srv.log 2>&1 &
	HI_PID=$!
	listening "$HI_PORT"
}

# hi_client PORT: python code for its client, which reads the 2 bytes, never the end of
# stream, and closes 200 ms later (the server's FIN is then known only to its kernel)
hi_client() {
	printf '%s\n' "import socket, time" "s = socket.create_connection(('127.0.0.1', $1)); time.sleep(0.1)" \
		"s.recv(2); time.sleep(0.2); s.close()"
}
