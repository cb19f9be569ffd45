#!/usr/bin/env bash
# make bench: what tracing costs, against the untraced run and strace, in one invocation.
# Rounds are interleaved; minimum and median are reported. Nothing here passes or fails.
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
trap 'rm -rf "$TMP"' EXIT

note() { printf '%s\n' "$*" >&2; }
rec() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$RES"; }   # rec GROUP CONFIG VALUE

pp() {  # pp CONFIG THREADS ITERS: one pingpong run, prints ns per call
	local cfg=$1 t=$2 n=$3
	case $cfg in
	untraced) "$TB/pingpong" "$n" "$t" ;;
	nostack) SOCKTRACE_SIZE=64M SOCKTRACE_STACK_DEPTH=0 traced "$TMP/r" "$TB/pingpong" "$n" "$t" ;;
	stack16) SOCKTRACE_SIZE=64M SOCKTRACE_STACK_DEPTH=16 traced "$TMP/r" "$TB/pingpong" "$n" "$t" ;;
	strace) strace -f -qq -e trace=%net -o /dev/null "$TB/pingpong" "$n" "$t" ;;
	strace-k) strace -f -qq -k -e trace=%net -o /dev/null "$TB/pingpong" "$n" "$t" ;;
	esac
	rm -rf "$TMP/r"
}

note "== per call: send+recv of 64 B on a socketpair ($ROUNDS interleaved rounds)"
for r in $(seq "$ROUNDS"); do
	for t in 1 2 4; do
		for cfg in untraced nostack stack16; do rec "percall-t$t" "$cfg" "$(pp $cfg $t "$N")"; done
	done
	if command -v strace > /dev/null; then
		rec percall-t1 strace "$(pp strace 1 $((N / 20)))"
		rec percall-t1 strace-k "$(pp strace-k 1 2000)"
	fi
	note "   round $r done"
done

if command -v valgrind > /dev/null; then
	note "== instructions per traced call (callgrind)"
	CN=20000
	for cfg in untraced nostack stack16; do
		env_=()
		[ $cfg = nostack ] && env_=(SOCKTRACE_STACK_DEPTH=0 SOCKTRACE_DIR="$TMP/r" LD_PRELOAD="$LIB")
		[ $cfg = stack16 ] && env_=(SOCKTRACE_STACK_DEPTH=16 SOCKTRACE_DIR="$TMP/r" LD_PRELOAD="$LIB")
		env "${env_[@]}" valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.$cfg" \
			"$TB/pingpong" $CN > /dev/null 2>&1
		rm -rf "$TMP/r"
		rec callgrind "$cfg" "$(awk '/^(summary|totals):/ {print $2; exit}' "$TMP/cg.$cfg")"
	done
	rec callgrind calls $((2 * CN))
fi

if command -v redis-server > /dev/null && command -v redis-benchmark > /dev/null; then
	note "== redis-benchmark SET/GET against redis-server (2 interleaved rounds)"
	for r in 1 2; do
		for cfg in untraced nostack stack16 strace; do
			port=$((20000 + RANDOM % 20000))
			pre=()
			case $cfg in
			nostack) pre=(env SOCKTRACE_SIZE=256M SOCKTRACE_STACK_DEPTH=0 SOCKTRACE_DIR="$TMP/r" LD_PRELOAD="$LIB") ;;
			stack16) pre=(env SOCKTRACE_SIZE=256M SOCKTRACE_STACK_DEPTH=16 SOCKTRACE_DIR="$TMP/r" LD_PRELOAD="$LIB") ;;
			strace) command -v strace > /dev/null || continue; pre=(strace -f -qq -o /dev/null) ;;
			esac
			"${pre[@]}" redis-server --port $port --bind 127.0.0.1 --save '' --appendonly no > /dev/null &
			spid=$!
			for _ in $(seq 100); do redis-cli -p $port ping > /dev/null 2>&1 && break; sleep 0.05; done
			redis-benchmark -p $port -n 50000 -c 8 -t set,get --csv > "$TMP/rb.csv" 2> /dev/null
			redis-cli -p $port shutdown nosave > /dev/null 2>&1; wait $spid 2> /dev/null
			rm -rf "$TMP/r"
			rec redis-set "$cfg" "$(awk -F'"' '/^"SET"/ {print $4}' "$TMP/rb.csv")"
			rec redis-get "$cfg" "$(awk -F'"' '/^"GET"/ {print $4}' "$TMP/rb.csv")"
		done
	done
fi

note "== viewer: a large generated trace (about 1 GiB of ring)"
SOCKTRACE_SIZE=${BIG_RING:-1G} SOCKTRACE_STACK_DEPTH=16 traced "$TMP/big" "$TB/threads" 4 ${BIG_CALLS:-900000} > /dev/null
nrecs=$("$SOCKTRACE" dump --json "$TMP/big" 2> /dev/null | wc -l)
rec viewer records "$nrecs"
rec viewer ring_bytes "$(du -b "$TMP"/big/*.ring | awk '{s+=$1} END {print s}')"
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

note "== symbolization: unique return addresses of a real program (curl)"
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
print(f"{'benchmark':<22}{'config':<12}{'min':>12}{'median':>12}{'vs untraced':>14}{'added':>12}")
for g in sorted(rows):
    out[g] = {}
    base = rows[g].get("untraced")
    for c, v in rows[g].items():
        s = stat(v); out[g][c] = s
        ratio = added = ""
        if base and c != "untraced" and not g.startswith("callgrind"):
            b = statistics.median(base)
            ratio = f"{s['median'] / b:.2f}x"
            if g.startswith("percall"):
                added = f"+{s['median'] - b:.0f} ns"
        if g == "callgrind" and base and c not in ("untraced", "calls"):
            calls = rows[g]["calls"][0]
            added = f"+{(s['median'] - base[0]) / calls:.0f} insn"
        print(f"{g:<22}{c:<12}{s['min']:>12.1f}{s['median']:>12.1f}{ratio:>14}{added:>12}")
json.dump(out, open(sys.argv[2], "w"), indent=1)
print(f"\n(per call in ns; redis in requests/s; callgrind in instructions for the whole run; machine-readable: {sys.argv[2]})")
PY
