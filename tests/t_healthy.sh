# Healthy runs of real servers and clients, both ends traced: diagnose finds nothing (exit 0),
# every connection is one lifetime with a known birth and end, and the connections the
# clients made are exactly the ones the servers accepted. Servers are started on free local
# ports and stopped by their pid; nobody probes a port (a probe would be a connection too):
# readiness is read from the kernel's listening sockets.

# healthy DIR [SERVER_COMM CLIENT_COMM MIN]: the checks every case ends with
healthy() {
	"$VIEW" diagnose "$1" > diag.txt 2> diag.err
	local rc=$?
	[ $rc -eq 0 ] || { cat diag.txt diag.err | head -n 40; fail "diagnose exited $rc on a healthy run"; return 1; }
	"$VIEW" sockets --json "$1" > socks.json || return 1
	if [ $# -gt 1 ]; then
		python3 "$ROOT/tests/healthy.py" --server "$2" --client "$3" --min "$4" < socks.json
	else
		python3 "$ROOT/tests/healthy.py" < socks.json
	fi
}


t_h_python_ab() {
	hneed python3 ab ss || return $?
	mkdir www && head -c 20000 /dev/urandom > www/f.bin
	local port; port=$(hport)
	(cd www && exec $(PRE) python3 -m http.server --bind 127.0.0.1 "$port") > server.log 2>&1 &
	local spid=$!
	listening "$port" || return 1
	$(PRE) ab -q -c 8 -n 300 "http://127.0.0.1:$port/f.bin" > ab.txt 2>&1 || { cat ab.txt; return 1; }
	grep -q "Failed requests: *0" ab.txt || { cat ab.txt; return 1; }
	stop_pids $spid
	healthy rings python3 ab 300
}
run_case healthy_python_http_server_ab t_h_python_ab

t_h_nginx_static() {
	hneed nginx ab ss || return $?
	local port; port=$(hport)
	nginx_conf "$port" "server { listen 127.0.0.1:$port; root $W/ngx/www; }"
	$(PRE) nginx -c "$W/ngx/nginx.conf" -p "$W/ngx" 2> /dev/null &
	local np=$!
	listening "$port" || return 1
	$(PRE) ab -q -c 8 -n 300 "http://127.0.0.1:$port/f.bin" > ab.txt 2>&1 || { cat ab.txt; return 1; }
	stop_pids $np
	healthy rings nginx ab 300 || return 1
	if [ "$(id -u)" -eq 0 ]; then   # the workers dropped to www-data and were traced all the same
		expect_ge "workers' accepts" "$("$VIEW" dump --json rings | $Q count comm=nginx call=accept4 complete=true)" 300
	fi
}
run_case healthy_nginx_static_ab t_h_nginx_static

# A proxy NAME in front of a traced python http.server serving TEXT, 20 curls through it: no
# finding, and every upstream connection the proxy made was accepted by python. START_FN
# PORT UPSTREAM starts the proxy (traced, in the background).
proxy_case() {  # proxy_case NAME TEXT START_FN
	mkdir up && echo "$2" > up/index.html
	local port up; port=$(hport); up=$(hport)
	(cd up && exec $(PRE) python3 -m http.server --bind 127.0.0.1 "$up") > up.log 2>&1 &
	local upid=$!
	"$3" "$port" "$up"
	local pp=$!
	listening "$port" && listening "$up" || { stop_pids $pp $upid; return 1; }
	curl_n "$port" 20 "$2" || { stop_pids $pp $upid; return 1; }
	stop_pids $pp $upid
	healthy rings "$1" curl 20 || return 1
	python3 "$ROOT/tests/healthy.py" --server python3 --client "$1" --min 20 < socks.json
}

start_nginx_proxy() {
	nginx_conf "$1" "server { listen 127.0.0.1:$1; location / { proxy_pass http://127.0.0.1:$2; } }"
	$(PRE) nginx -c "$W/ngx/nginx.conf" -p "$W/ngx" 2> /dev/null &
}

t_h_nginx_proxy() {
	hneed nginx curl python3 ss || return $?
	proxy_case nginx "from the upstream" start_nginx_proxy
}
run_case healthy_nginx_proxy t_h_nginx_proxy

t_h_redis() {
	hneed redis-server redis-benchmark redis-cli ss || return $?
	local port; port=$(hport)
	$(PRE) redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --logfile "$W/redis.log" &
	local spid=$!
	listening "$port" || return 1
	$(PRE) redis-benchmark -p "$port" -n 2000 -c 4 -t set,get -q > bench.txt 2>&1 || { cat bench.txt; return 1; }
	stop_pids $spid
	healthy rings redis-server redis-benchmark 4
}
run_case healthy_redis_benchmark t_h_redis

t_h_asyncio() {
	hneed python3 || return $?
	local port; port=$(hport)
	cat > a.py <<EOF
import asyncio
async def handle(r, w):
    d = await r.readline(); w.write(d.upper()); await w.drain(); w.close(); await w.wait_closed()
async def client(i):
    r, w = await asyncio.open_connection('127.0.0.1', $port); w.write(b'hello%d\n' % i); await w.drain()
    d = await r.read(); w.close(); await w.wait_closed(); return d
async def main():
    s = await asyncio.start_server(handle, '127.0.0.1', $port)
    res = await asyncio.gather(*[client(i) for i in range(20)])
    assert all(x.startswith(b'HELLO') for x in res), res
    s.close(); await s.wait_closed()
asyncio.run(main())
EOF
	$(PRE) python3 a.py || return 1
	healthy rings python3 python3 20
}
run_case healthy_asyncio t_h_asyncio

t_h_node() {
	hneed node || return $?
	local port; port=$(hport)
	cat > s.js <<EOF
const http = require('http');
const srv = http.createServer((q, r) => r.end('hello ' + q.url));
srv.listen($port, '127.0.0.1', () => {
  let n = 0;
  for (let i = 0; i < 20; i++)
    http.get({ port: $port, host: '127.0.0.1', path: '/' + i, agent: false }, res => {
      res.resume(); res.on('end', () => { if (++n == 20) srv.close(); });
    });
});
EOF
	$(PRE) node s.js || return 1
	healthy rings node node 20
}
run_case healthy_node_http t_h_node

t_h_postgres() {
	[ "$(id -u)" -eq 0 ] || { echo "needs root (postgres runs as the postgres user)"; return 77; }
	local pgb; pgb=$(ls -d /usr/lib/postgresql/*/bin 2> /dev/null | tail -n 1)
	[ -x "$pgb/postgres" ] && id postgres > /dev/null 2>&1 || { echo "postgresql not installed (tests/deps.sh --test)"; return 77; }
	hneed pgbench ss || return $?
	# the test directory is private to root: postgres gets one of its own, the trace in it
	local pg; pg=$(mktemp -d /tmp/socktrace-pg.XXXXXX) && chmod 755 "$pg" || return 1
	install -d -o postgres "$pg/data" "$pg/sock" && install -d -m 1777 "$pg/rings" || return 1
	runuser -u postgres -- "$pgb/initdb" -D "$pg/data" -A trust > initdb.txt 2>&1 || { tail initdb.txt; return 1; }
	local port; port=$(hport)
	(cd / && exec runuser -u postgres -- env SOCKTRACE_DIR="$pg/rings" LD_PRELOAD="$LIB" "$pgb/postgres" \
		-D "$pg/data" -p "$port" -k "$pg/sock" -c listen_addresses=127.0.0.1) > pg.log 2>&1 &
	local pgp=$!
	listening "$port" || { tail pg.log; return 1; }
	pgbench -q -i -h 127.0.0.1 -p "$port" -U postgres postgres > init.txt 2>&1 || { cat init.txt; return 1; }
	env SOCKTRACE_DIR="$pg/rings" LD_PRELOAD="$LIB" pgbench -C -S -c 2 -t 50 -h 127.0.0.1 -p "$port" -U postgres postgres \
		> bench.txt 2>&1 || { cat bench.txt; return 1; }
	stop_pids $pgp
	mv "$pg/rings" "$W/rings" && rm -rf "$pg"
	# pgbench -i's connections were not traced on the client side: the server's are checked
	# against pgbench's own, the rest must only be healthy
	healthy rings || return 1
	local n; n=$(python3 "$ROOT/tests/healthy.py" --server postgres --client pgbench --min 100 < socks.json | tail -n +2)
	python3 "$ROOT/tests/healthy.py" --server postgres --client pgbench --min 100 < socks.json | head -n 1
	[ -z "$(echo "$n" | grep -v "which no traced client connected")" ] || { echo "$n"; return 1; }
}
run_case healthy_postgres_pgbench t_h_postgres

start_haproxy() {
	cat > h.cfg <<EOF
defaults
  mode http
  timeout connect 2s
  timeout client 5s
  timeout server 5s
frontend f
  bind 127.0.0.1:$1
  default_backend b
backend b
  server u 127.0.0.1:$2
EOF
	$(PRE) haproxy -f h.cfg -db > hap.log 2>&1 &
}

t_h_haproxy() {
	hneed haproxy python3 curl ss || return $?
	proxy_case haproxy "behind haproxy" start_haproxy
}
run_case healthy_haproxy t_h_haproxy

t_h_socat_fork() {
	hneed socat ss || return $?
	local port; port=$(hport)
	$(PRE) socat TCP-LISTEN:"$port",bind=127.0.0.1,reuseaddr,fork EXEC:cat &
	local sp=$!
	listening "$port" || return 1
	for i in $(seq 10); do
		expect_eq "echo" "$(echo "hello $i" | $(PRE) socat - TCP:127.0.0.1:"$port")" "hello $i" || return 1
	done
	stop_pids $sp
	healthy rings socat socat 10
}
run_case healthy_socat_fork_relay t_h_socat_fork

t_h_git_daemon() {
	hneed git ss || return $?
	mkdir repo && (cd repo && git init -q && echo hi > a && git add a &&
		git -c user.email=t@t -c user.name=t commit -qm x) || return 1
	local port; port=$(hport)
	$(PRE) git daemon --reuseaddr --base-path="$W" --export-all --listen=127.0.0.1 --port="$port" "$W" &
	local gp=$!
	listening "$port" || return 1
	$(PRE) git clone -q "git://127.0.0.1:$port/repo" clone || return 1
	[ -e clone/a ] || return 1
	stop_pids $gp
	healthy rings git-daemon git 1 || return 1
	# the accepted connection went to upload-pack through fork, dup2 onto 0 and 1 and exec:
	# one lifetime, not three, closed by the program it was handed to
	expect_eq "lifetimes of git-daemon's connections" "$($Q count origin=accept < socks.json)" 1 || return 1
	expect_eq "no inherited duplicates" "$($Q count origin=inherited < socks.json)" 0 || return 1
	expect_eq "handed off" "$($Q values handed_off origin=accept < socks.json)" true
}
run_case healthy_git_daemon_clone t_h_git_daemon

t_h_openssl() {
	hneed openssl ss || return $?
	openssl req -x509 -newkey rsa:2048 -nodes -keyout k.pem -out c.pem -subj /CN=localhost -days 1 > /dev/null 2>&1 || return 1
	local port; port=$(hport)
	$(PRE) openssl s_server -accept "$port" -cert c.pem -key k.pem -naccept 1 -www -quiet > srv.out 2>&1 < /dev/null &
	local sp=$!
	listening "$port" || return 1
	printf 'GET / HTTP/1.0\r\n\r\n' | $(PRE) openssl s_client -connect 127.0.0.1:"$port" -quiet > cli.out 2>&1
	wait $sp
	grep -q "^HTTP/1.0 200 ok" cli.out || { cat srv.out cli.out; fail "no page over TLS"; return 1; }
	healthy rings openssl openssl 1
}
run_case healthy_openssl_tls t_h_openssl

t_h_memcached() {
	hneed memcached python3 ss || return $?
	local port; port=$(hport)
	local u=(); [ "$(id -u)" -eq 0 ] && u=(-u nobody)
	$(PRE) memcached -l 127.0.0.1 -p "$port" -U 0 "${u[@]}" &
	local mp=$!
	listening "$port" || return 1
	$(PRE) python3 - "$port" <<'EOF' || return 1
import socket, sys
port = int(sys.argv[1])
for i in range(10):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"set k%d 0 0 5\r\nhello\r\nget k%d\r\n" % (i, i))
    d = b""
    while not d.endswith(b"END\r\n"):
        d += s.recv(4096)
    assert b"hello" in d, d
    s.close()
EOF
	stop_pids $mp
	healthy rings memcached python3 10
}
run_case healthy_memcached t_h_memcached
