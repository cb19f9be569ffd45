# Real programs from Debian packages under the preload: same results, and the expected calls.

need() { for p in "$@"; do command -v "$p" > /dev/null || { echo "$p not installed (tests/deps.sh --test)"; return 77; }; done; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_port() {  # wait_port PORT: until something listens there (10 s at most)
	for _ in $(seq 200); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.05
	done
	fail "nothing listening on port $1"
}

t_curl_http_server() {
	need curl python3 || return $?
	mkdir www && head -c 100000 /dev/urandom | base64 > www/data.txt
	local port; port=$(free_port)
	(cd www && exec env SOCKTRACE_DIR="$W/rings" LD_PRELOAD="$LIB" python3 -m http.server --bind 127.0.0.1 "$port") > server.log 2>&1 &
	local spid=$!
	wait_port "$port" || return 1
	curl -s "http://127.0.0.1:$port/data.txt" > untraced.txt || return 1
	traced "$W/rings" curl -s "http://127.0.0.1:$port/data.txt" > traced.txt || return 1
	kill $spid; wait $spid 2>/dev/null
	cmp www/data.txt untraced.txt && cmp www/data.txt traced.txt || fail "content differs" || return 1
	dump rings > d.json || return 1
	local cpid; cpid=$($Q values pid comm=curl call=connect < d.json | head -n 1)
	expect_eq "curl connected" "$($Q values args.addr pid="$cpid" call=connect < d.json)" "127.0.0.1:$port" || return 1
	local got; got=$($Q values ret pid="$cpid" call=recv < d.json | awk '$1>0{s+=$1} END{print s+0}')
	expect_ge "curl received the file" "$got" "$(stat -c %s www/data.txt)" || return 1
	expect_ge "server accepted (the probe and two gets)" "$($Q count call=accept4 complete=true < d.json)" 2 || return 1
	# the viewer's story of the same trace: curl's connection, its bytes, how it ended
	"$VIEW" sockets --json --pid "$cpid" rings > s.json || return 1
	expect_ge "curl's socket received the file" "$($Q values bytes_in peer="127.0.0.1:$port" < s.json)" "$(stat -c %s www/data.txt)" || return 1
	"$VIEW" timeline --stack --pid "$cpid" rings > tl.txt || return 1
	grep -q "\[libcurl.so" tl.txt || fail "curl's calls not symbolized to libcurl"
}
run_case real_curl_vs_python_http_server t_curl_http_server

t_redis() {
	need redis-server redis-cli redis-benchmark || return $?
	local port; port=$(free_port)
	SOCKTRACE_DIR="$W/rings" LD_PRELOAD="$LIB" redis-server --port "$port" --bind 127.0.0.1 --save '' \
		--appendonly no --daemonize no --logfile "$W/redis.log" &
	local spid=$!
	wait_port "$port" || return 1
	expect_eq "set" "$(redis-cli -p "$port" set greeting hello)" OK || return 1
	expect_eq "get" "$(redis-cli -p "$port" get greeting)" hello || return 1
	redis-benchmark -p "$port" -n 2000 -c 4 -t set,get -q > bench.txt || return 1
	grep -q "GET" bench.txt || fail "benchmark output: $(cat bench.txt)" || return 1
	redis-cli -p "$port" shutdown nosave > /dev/null 2>&1; wait $spid
	dump rings > d.json || return 1
	local acc=$(( $($Q count comm=redis-server call=accept complete=true < d.json) + $($Q count comm=redis-server call=accept4 complete=true < d.json) ))
	expect_ge "accepted clients" "$acc" 6 || return 1
	expect_ge "per-client reads" "$($Q count comm=redis-server call=read < d.json)" 4000 || return 1
	expect_ge "per-client writes" "$($Q count comm=redis-server call=write < d.json)" 4000 || return 1
	expect_ge "epoll waits on sockets" "$($Q count comm=redis-server call=epoll_wait < d.json)" 10 || return 1
	"$VIEW" sockets --json rings > s.json || return 1
	expect_ge "client connections, each ended by the client" "$($Q count origin=accept end=peer_closed < s.json)" 6
}
run_case real_redis_benchmark_vs_redis_server t_redis

t_socat() {
	need socat || return $?
	local pf=$W/backend.port front; front=$(free_port)
	"$TB/classic" fork-server "$pf" 2 &
	wait_file "$pf" || return 1
	SOCKTRACE_DIR="$W/rings" LD_PRELOAD="$LIB" socat "TCP-LISTEN:$front,bind=127.0.0.1,reuseaddr" "TCP:127.0.0.1:$(cat "$pf")" &
	local spid=$!
	wait_port "$front" 2>/dev/null
	# wait_port's probe was the one connection socat serves; start it again for the client
	wait $spid 2>/dev/null
	SOCKTRACE_DIR="$W/rings" LD_PRELOAD="$LIB" socat "TCP-LISTEN:$front,bind=127.0.0.1,reuseaddr" "TCP:127.0.0.1:$(cat "$pf")" &
	spid=$!
	sleep 0.3
	"$TB/classic" tcp-client "$front" "through socat" "and back" > out.txt || return 1
	wait $spid; wait
	expect_eq "relayed" "$(tr '\n' ' ' < out.txt)" "reply: THROUGH SOCAT reply: AND BACK " || return 1
	dump rings > d.json || return 1
	expect_ge "socat accepted" "$($Q count comm=socat call=accept complete=true < d.json)" 2 || return 1
	expect_ge "socat connected to the backend" "$($Q count comm=socat call=connect args.addr="127.0.0.1:$(cat "$pf")" < d.json)" 2 || return 1
	expect_ge "socat waited in select/poll" "$(( $($Q count comm=socat call=select < d.json) + $($Q count comm=socat call=poll < d.json) ))" 2 || return 1
	"$VIEW" sockets --json --addr "127.0.0.1:$(cat "$pf")" rings > s.json || return 1
	expect_ge "socat's backend connections" "$($Q count comm=socat < s.json)" 2
}
run_case real_socat_relay t_socat

t_node_http() {
	need node || return $?
	# libuv closes its sockets with syscall(SYS_close, fd): every socket must end closed
	local port; port=$(free_port)
	cat > app.js <<EOJ
const http = require('http');
const srv = http.createServer((req, res) => res.end('hi ' + req.url));
srv.listen($port, '127.0.0.1', () => {
  let left = 5;
  for (let i = 0; i < 5; i++)
    http.get({ host: '127.0.0.1', port: $port, path: '/' + i, agent: false }, r => {
      let body = '';
      r.on('data', d => body += d);
      r.on('end', () => { console.log(body); if (--left === 0) srv.close(); });
    });
});
EOJ
	node app.js | sort > untraced.txt || return 1
	traced "$W/rings" node app.js | sort > traced.txt || return 1
	expect_same_output untraced.txt traced.txt || return 1
	dump rings > d.json || return 1
	expect_ge "closes through syscall()" "$($Q count call=close < d.json)" 11 || return 1
	"$VIEW" sockets --json rings > s.json || return 1
	local tcp; tcp=$(grep -c '"family":"AF_INET"' s.json)
	expect_eq "TCP sockets: listener, 5 clients, 5 accepted" "$tcp" 11 || return 1
	expect_eq "every TCP socket closed" "$(grep '"family":"AF_INET"' s.json | grep -Ec '"end":"(closed|peer_closed)"')" 11
}
run_case real_node_http_server_and_client t_node_http

t_http_server_ab() {
	need python3 ab || return $?
	# python's http.server under ab -c 8: a close in one thread and an accept in another
	# reuse fd numbers within microseconds; every connection must be one lifetime
	mkdir www && echo hello > www/index.html
	local port; port=$(free_port)
	(cd www && exec env SOCKTRACE_DIR="$W/rings" LD_PRELOAD="$LIB" python3 -m http.server --bind 127.0.0.1 "$port") > server.log 2>&1 &
	local spid=$!
	wait_port "$port" || return 1
	ab -q -n 500 -c 8 "http://127.0.0.1:$port/index.html" > ab.txt 2>&1 || fail "$(cat ab.txt)" || return 1
	kill $spid; wait $spid 2>/dev/null
	grep -q "Complete requests: *500" ab.txt || fail "$(cat ab.txt)" || return 1
	dump rings > d.json || return 1
	expect_eq "unseen sockets" "$($Q count call=unseen < d.json)" 0 || return 1
	"$VIEW" sockets --json rings > s.json || return 1
	local acc; acc=$($Q count origin=accept < s.json)
	expect_ge "accepted sockets (500 requests, the port probe)" "$acc" 500 || return 1
	expect_eq "one lifetime per accepted connection" "$acc" "$($Q count call=accept4 complete=true < d.json)" || return 1
	expect_eq "wrapped or unseen lifetimes" "$(grep -Ec '"origin":"(wrapped|unseen)"' s.json)" 0
}
run_case real_python_http_server_under_ab t_http_server_ab
