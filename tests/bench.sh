#!/usr/bin/env bash
# make bench: what tracing costs, against the untraced run, strace and LTTng-UST, in one
# invocation. Rounds are interleaved; minimum and median are reported; set-up (starting the
# program, creating the trace, a thread's first unwind) stays outside the timed loops.
# Nothing here passes or fails.
set -u
cd "$(dirname "$0")/.." || exit 2
source tests/lib.sh
ROUNDS=${ROUNDS:-5}
N=${N:-200000}
OUT=$B/bench
mkdir -p "$OUT"
RES=$OUT/results.tsv
: > "$RES"
TMP=$(mktemp -d /tmp/socktrace-bench.XXXXXX)
chmod 755 "$TMP"
# the library and viewer measured are copies: a rebuild during the run changes nothing
cp "$LIB" "$TMP/libsocktrace.so" && LIB=$TMP/libsocktrace.so
cp "$SOCKTRACE" "$TMP/socktrace" && SOCKTRACE=$TMP/socktrace
STUB=$TB/libstub.so
LTTWRAP=$OUT/liblttngwrap.so
cleanup() {
	[ -n "${LTT_SESSION:-}" ] && lttng destroy "$LTT_SESSION" > /dev/null 2>&1
	rm -rf "$TMP"
}
trap cleanup EXIT

note() { printf '%s\n' "$*" >&2; }
rec() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$RES"; }   # rec GROUP CONFIG VALUE

# LTTng-UST, when it can run here: a session daemon without the kernel tracer, and a
# preloaded send/recv with one event at entry and one at exit (tests/bench/lttng_wrap.c)
LTT=0
if command -v lttng > /dev/null && dpkg -s liblttng-ust-dev > /dev/null 2>&1 &&
	cc -O2 -shared -fPIC -Itests/bench -o "$LTTWRAP" tests/bench/lttng_wrap.c -llttng-ust -ldl 2> /dev/null; then
	pgrep -x lttng-sessiond > /dev/null || lttng-sessiond --daemonize --no-kernel > /dev/null 2>&1
	LTT_SESSION=stbench$$
	if lttng create "$LTT_SESSION" --output="$TMP/lttng" > /dev/null 2>&1 &&
		lttng enable-event -u 'stbench:*' > /dev/null 2>&1 && lttng start > /dev/null 2>&1; then
		LTT=1
	else
		note "   (LTTng-UST: no session could be started; left out)"
	fi
else
	note "   (LTTng-UST: lttng-tools or liblttng-ust-dev missing; left out)"
fi

# bc CONFIG KIND THREADS ITERS: one benchcall run (20 frames deep), prints ns per call.
# KIND real: the calls enter the kernel; stub: a send/recv below ours that never does.
bc() {
	local cfg=$1 kind=$2 t=$3 n=$4 pre=""
	[ "$kind" = stub ] && pre=$STUB
	case $cfg in
	untraced) env ${pre:+LD_PRELOAD=$pre} "$TB/benchcall" "$n" 20 "$t" ;;
	nostack) SOCKTRACE_STACK_DEPTH=0 traced "$TMP/r" env LD_PRELOAD="$LIB${pre:+:$pre}" "$TB/benchcall" "$n" 20 "$t" ;;
	stack16) SOCKTRACE_STACK_DEPTH=16 traced "$TMP/r" env LD_PRELOAD="$LIB${pre:+:$pre}" "$TB/benchcall" "$n" 20 "$t" ;;
	lttng) LD_PRELOAD="$LTTWRAP${pre:+:$pre}" "$TB/benchcall" "$n" 20 "$t" ;;
	strace) strace -f -qq -e trace=%net -o /dev/null "$TB/benchcall" "$n" 20 "$t" ;;
	strace-k) strace -f -qq -k -e trace=%net -o /dev/null "$TB/benchcall" "$n" 20 "$t" ;;
	esac
	rm -rf "$TMP/r"
}

note "== per call: send+recv of 64 B on a socketpair, 20 frames deep ($ROUNDS interleaved rounds)"
cfgs=(untraced nostack stack16)
[ $LTT = 1 ] && cfgs+=(lttng)
for r in $(seq "$ROUNDS"); do
	for t in 1 4; do
		for cfg in "${cfgs[@]}"; do rec "percall-t$t" "$cfg" "$(bc "$cfg" real "$t" "$N")"; done
	done
	for cfg in "${cfgs[@]}"; do rec "tracer-alone" "$cfg" "$(bc "$cfg" stub 1 "$N")"; done
	if command -v strace > /dev/null; then
		rec percall-t1 strace "$(bc strace real 1 $((N / 20)))"
		rec percall-t1 strace-k "$(bc strace-k real 1 2000)"
	fi
	note "   round $r done"
done

if command -v valgrind > /dev/null; then
	note "== instructions per call (callgrind, the slope between two run lengths, stubbed calls)"
	for cfg in untraced nostack stack16; do
		for n in 10000 20000; do
			case $cfg in
			untraced) env_=(LD_PRELOAD="$STUB") ;;
			nostack) env_=(SOCKTRACE_STACK_DEPTH=0 SOCKTRACE_DIR="$TMP/r" LD_PRELOAD="$LIB:$STUB") ;;
			stack16) env_=(SOCKTRACE_STACK_DEPTH=16 SOCKTRACE_DIR="$TMP/r" LD_PRELOAD="$LIB:$STUB") ;;
			esac
			env "${env_[@]}" valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.$cfg.$n" \
				"$TB/benchcall" $n 20 > /dev/null 2>&1
			rm -rf "$TMP/r"
		done
		i1=$(awk '/^(summary|totals):/ {print $2; exit}' "$TMP/cg.$cfg.10000")
		i2=$(awk '/^(summary|totals):/ {print $2; exit}' "$TMP/cg.$cfg.20000")
		rec callgrind-per-call "$cfg" "$(python3 -c "print(($i2 - $i1) / 20000)")"
	done
fi

note "== ring space: calls kept per MiB"
for cfg in nostack stack16; do
	depth=16
	[ $cfg = nostack ] && depth=0
	SOCKTRACE_STACK_DEPTH=$depth traced "$TMP/sp" "$TB/benchcall" 100000 20 > /dev/null
	recs=$("$SOCKTRACE" dump --json "$TMP/sp" 2> /dev/null | wc -l)
	used=$(python3 -c "
import sys; sys.path.insert(0, 'tests'); import trace_file
t = trace_file.Trace('$TMP/sp/trace.ring'); print(t.h['head'] - t.ring_bytes)")
	rec calls-per-MiB "$cfg" "$(python3 -c "print(round($recs * 1048576 / $used))")"
	rm -rf "$TMP/sp"
done

note "== 1,000 threads alive at once, 5 round trips each (64 MiB trace): calls kept of made"
made=$(traced "$TMP/th" "$TB/torture" threads 1000 5 | awk '/^calls/ {print $2}')
kept=$("$SOCKTRACE" dump --json "$TMP/th" 2> /dev/null | $Q count)
rec threads-1000 made "$made"
rec threads-1000 kept "$((kept - 2))"
rm -rf "$TMP/th"

if command -v socat > /dev/null; then
	note "== forking server: socat fork relay, 1,000 connections (2 interleaved rounds)"
	for r in 1 2; do
		for cfg in untraced stack16 strace; do
			p1=$(hport); p2=$(hport)
			socat TCP-LISTEN:$p2,fork,reuseaddr EXEC:cat 2> /dev/null & bp=$!
			pre=()
			[ $cfg = stack16 ] && pre=(env SOCKTRACE_DIR="$TMP/so" LD_PRELOAD="$LIB")
			[ $cfg = strace ] && pre=(strace -f -qq -o /dev/null)
			"${pre[@]}" socat TCP-LISTEN:$p1,fork,reuseaddr TCP:127.0.0.1:$p2 2> /dev/null & rp=$!
			if listening $p1 > /dev/null && listening $p2 > /dev/null; then
				rec socat-fork-conns-per-s "$cfg" "$(timeout 300 "$TB/conns" $p1 1000)"
			else
				note "   socat did not come up ($cfg): round skipped"
			fi
			[ $cfg = stack16 ] && rec socat-fork-disk-bytes "$cfg" "$(du -sb "$TMP/so" | cut -f1)"
			pkill -P $rp; kill $rp $bp; wait $rp $bp 2> /dev/null
			rm -rf "$TMP/so"
		done
	done
fi

PGB=$(ls -d /usr/lib/postgresql/*/bin 2> /dev/null | tail -n 1)
if [ "$(id -u)" -eq 0 ] && [ -x "$PGB/postgres" ] && command -v pgbench > /dev/null && id postgres > /dev/null 2>&1; then
	note "== postgres under pgbench -C (a connection per transaction, 1,000 connections)"
	install -d -o postgres "$TMP/pg"
	runuser -u postgres -- "$PGB/initdb" -D "$TMP/pg/data" -A trust > /dev/null 2>&1
	for r in 1 2; do
		for cfg in untraced stack16; do
			port=$(hport)
			pre=()
			[ $cfg = stack16 ] && pre=(env SOCKTRACE_DIR="$TMP/pg/trace" LD_PRELOAD="$LIB")
			runuser -u postgres -- "${pre[@]}" "$PGB/postgres" -D "$TMP/pg/data" -p $port -k "$TMP/pg" \
				-c listen_addresses=127.0.0.1 > "$TMP/pg/log" 2>&1 & pgp=$!
			for _ in $(seq 100); do pg_isready -q -h 127.0.0.1 -p $port && break; sleep 0.1; done
			pg_isready -q -h 127.0.0.1 -p $port || { note "   postgres did not come up ($cfg): round skipped"; kill $pgp; wait $pgp 2> /dev/null; continue; }
			[ -e "$TMP/pg/init.done" ] || { pgbench -q -i -h 127.0.0.1 -p $port -U postgres postgres > /dev/null 2>&1; touch "$TMP/pg/init.done"; }
			tps=$(timeout 300 pgbench -C -S -c 4 -t 250 -h 127.0.0.1 -p $port -U postgres postgres 2> /dev/null |
				awk '/^tps/ {print $3; exit}')
			rec pgbench-C-tps "$cfg" "$tps"
			[ $cfg = stack16 ] && rec pgbench-C-disk-bytes "$cfg" "$(du -sb "$TMP/pg/trace" | cut -f1)"
			kill $pgp; wait $pgp 2> /dev/null
			rm -rf "$TMP/pg/trace"
		done
	done
fi

if command -v redis-server > /dev/null && command -v redis-benchmark > /dev/null; then
	note "== redis-benchmark SET/GET against redis-server (2 interleaved rounds)"
	for r in 1 2; do
		for cfg in untraced nostack stack16 strace; do
			port=$(hport)
			pre=()
			case $cfg in
			nostack) pre=(env SOCKTRACE_STACK_DEPTH=0 SOCKTRACE_DIR="$TMP/r" LD_PRELOAD="$LIB") ;;
			stack16) pre=(env SOCKTRACE_STACK_DEPTH=16 SOCKTRACE_DIR="$TMP/r" LD_PRELOAD="$LIB") ;;
			strace) command -v strace > /dev/null || continue; pre=(strace -f -qq -o /dev/null) ;;
			esac
			"${pre[@]}" redis-server --port $port --bind 127.0.0.1 --save '' --appendonly no > /dev/null &
			spid=$!
			for _ in $(seq 100); do redis-cli -p $port ping > /dev/null 2>&1 && break; sleep 0.05; done
			redis-cli -p $port ping > /dev/null 2>&1 || { note "   redis did not come up ($cfg): round skipped"; kill $spid; wait $spid 2> /dev/null; continue; }
			timeout 300 redis-benchmark -p $port -n 50000 -c 8 -t set,get --csv > "$TMP/rb.csv" 2> /dev/null
			redis-cli -p $port shutdown nosave > /dev/null 2>&1; wait $spid 2> /dev/null
			rm -rf "$TMP/r"
			rec redis-set "$cfg" "$(awk -F'"' '/^"SET"/ {print $4}' "$TMP/rb.csv")"
			rec redis-get "$cfg" "$(awk -F'"' '/^"GET"/ {print $4}' "$TMP/rb.csv")"
		done
	done
fi

if [ "$(id -u)" -eq 0 ] && command -v nginx > /dev/null && command -v ab > /dev/null && id www-data > /dev/null 2>&1; then
	note "== nginx (workers as www-data) under ab -c 8"
	mkdir -p "$TMP/ngx/www" && head -c 4096 /dev/urandom > "$TMP/ngx/www/f.bin"
	chmod -R a+rX "$TMP/ngx"
	for r in 1 2; do
		for cfg in untraced stack16; do
			port=$(hport)
			cat > "$TMP/ngx/nginx.conf" <<EOF
user www-data;
worker_processes 2;
daemon off;
error_log $TMP/ngx/error.log;
pid $TMP/ngx/nginx.pid;
events { worker_connections 256; }
http { access_log off; server { listen 127.0.0.1:$port; root $TMP/ngx/www; } }
EOF
			pre=()
			[ $cfg = stack16 ] && pre=(env SOCKTRACE_DIR="$TMP/ngx/trace" LD_PRELOAD="$LIB")
			"${pre[@]}" nginx -c "$TMP/ngx/nginx.conf" -p "$TMP/ngx" 2> /dev/null & np=$!
			listening $port > /dev/null || { note "   nginx did not come up ($cfg): round skipped"; kill $np; wait $np 2> /dev/null; continue; }
			rps=$(timeout 300 ab -q -n 20000 -c 8 "http://127.0.0.1:$port/f.bin" 2> /dev/null | awk '/^Requests per second/ {print $4}')
			rec nginx-ab-rps "$cfg" "$rps"
			[ $cfg = stack16 ] && rec nginx-worker-calls "$cfg" \
				"$("$SOCKTRACE" dump --json "$TMP/ngx/trace" 2> /dev/null | python3 -c '
import json, sys
print(sum(1 for l in sys.stdin for r in [json.loads(l)] if r["call"] in ("recv", "writev", "sendfile", "write")))')"
			kill $np; wait $np 2> /dev/null
			rm -rf "$TMP/ngx/trace"
		done
	done
fi

note "== viewer: a large generated trace (about 1 GiB)"
SOCKTRACE_SIZE=${BIG_RING:-1G} SOCKTRACE_STACK_DEPTH=16 traced "$TMP/big" "$TB/threads" 4 ${BIG_CALLS:-2000000} > /dev/null
nrecs=$("$SOCKTRACE" dump --json "$TMP/big" 2> /dev/null | wc -l)
rec viewer records "$nrecs"
rec viewer trace_bytes "$(du -b "$TMP"/big/trace.ring | cut -f1)"
for r in 1 2 3; do
	for cmd in "dump --json" "sockets"; do
		# shellcheck disable=SC2086
		/usr/bin/time -f '%e %M' -o "$TMP/time" "$SOCKTRACE" $cmd "$TMP/big" > /dev/null 2>&1
		read -r secs kb < "$TMP/time"
		g="viewer-${cmd%% *}"
		rec "$g" records_per_s "$(python3 -c "print(round($nrecs / max($secs, 0.01)))")"
		rec "$g" peak_rss_kb "$kb"
	done
done
rm -rf "$TMP/big"

note "== symbolization: unique return addresses of real programs (curl, python)"
if command -v curl > /dev/null; then
	traced "$TMP/sym" curl -s -o /dev/null "http://127.0.0.1:1/" || true
	traced "$TMP/sym" python3 -c 'import socket; a,b=socket.socketpair(); a.send(b"x"); b.recv(1)' || true
	uniq=$("$SOCKTRACE" dump --json "$TMP/sym" | python3 -c 'import json,sys; print(len({(r["pid"], f) for l in sys.stdin for r in [json.loads(l)] for f in r["frames"]}))')
	for r in 1 2 3; do
		s0=$(date +%s.%N)
		"$SOCKTRACE" timeline --stack "$TMP/sym" > /dev/null 2>&1
		s1=$(date +%s.%N)
		rec symbolize addresses_per_s "$(python3 -c "print(round($uniq / max($s1 - $s0, 0.001)))")"
	done
	rec symbolize unique_addresses "$uniq"
fi

python3 - "$RES" "$OUT/results.json" <<'PY'
import json, statistics, sys
from collections import defaultdict
rows = defaultdict(lambda: defaultdict(list))
for line in open(sys.argv[1]):
    g, c, v = line.rstrip("\n").split("\t")
    if v:
        rows[g][c].append(float(v))
out = {}
def stat(v): return {"min": min(v), "median": statistics.median(v), "n": len(v)}
lower_better = lambda g: g.startswith(("percall", "tracer-alone", "callgrind"))
print(f"{'benchmark':<24}{'config':<12}{'min':>12}{'median':>12}{'vs untraced':>13}{'vs strace':>11}{'added':>14}")
for g in rows:
    out[g] = {}
    base = rows[g].get("untraced")
    st = rows[g].get("strace")
    for c, v in rows[g].items():
        s = stat(v); out[g][c] = s
        ratio = vs = added = ""
        if base and c != "untraced":
            b = statistics.median(base)
            ratio = f"{s['median'] / b:.2f}x"
            if lower_better(g):
                added = f"+{s['median'] - b:.0f} " + ("insn" if g.startswith("callgrind") else "ns")
        if st and c not in ("strace", "untraced"):
            vs = f"{s['median'] / statistics.median(st):.3f}x"
        print(f"{g:<24}{c:<12}{s['min']:>12.1f}{s['median']:>12.1f}{ratio:>13}{vs:>11}{added:>14}")
json.dump(out, open(sys.argv[2], "w"), indent=1)
print("\n(percall/tracer-alone: ns per call, lower is better; callgrind: instructions per call;"
      "\n conns-per-s, tps, rps, redis: higher is better; machine-readable: " + sys.argv[2] + ")")
PY
