# The recorder under load: one trace for a tree, small spans, exact counts, kills, signals, fork.

# payload_ok DUMP.json THREADS: every kept send/recv payload is what the program wrote
payload_ok() {
	python3 - "$1" "$2" <<'PY'
import json, struct, sys
bad = n = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["call"] not in ("send", "recv") or not r["complete"]:
        continue
    d = bytes.fromhex(r["args"].get("data", ""))
    n += 1
    v, w = (struct.unpack("<QQ", d) if len(d) == 16 else (None, 1))
    if len(d) != 16 or v != w or (v >> 40) >= int(sys.argv[2]):
        bad += 1
        if bad < 5:
            print("bad payload", r["pid"], r["tid"], r["call"], d.hex())
print("checked", n)
sys.exit(1 if bad or not n else 0)
PY
}

# lost_calls DIR: calls the trace says were overwritten
lost_calls() { "$VIEW" info "$1" | sed -n 's/.* \([0-9]*\) calls and [0-9]* exits overwritten.*/\1/p'; }

t_threads_1000() {
	# 1,000 threads alive at once, a few calls each: a thread's first span is 1 KiB, so a
	# 4 MiB trace keeps them all (the 64 KiB-chunk ring wrapped after ~60 threads)
	SOCKTRACE_SIZE=4M traced "$W/rings" "$TB/torture" threads 1000 5 > out.txt || return 1
	local made; made=$(awk '/^calls/ {print $2}' out.txt)
	dump rings > d.json 2> err.txt || return 1
	expect_eq "nothing lost, dropped or damaged" "$(cat err.txt)" "" || return 1
	# (each close is preceded by a sockstate record, the kernel's queues: not a call)
	expect_eq "calls kept (and the two process events)" "$(grep -vc '"call":"sockstate"' d.json)" $((made + 2)) || return 1
	expect_eq "threads" "$($Q values tid call=socketpair < d.json | sort -u | wc -l)" 1000
}
run_case threads_1000_few_calls_exact t_threads_1000

t_wrap_accounting() {
	# 8 threads with payload wrap a 2 MiB trace many times: kept + reported lost = made
	SOCKTRACE_SIZE=2M SOCKTRACE_PAYLOAD=16 SOCKTRACE_STACK_DEPTH=4 traced "$W/rings" "$TB/torture" wrap 8 20000 > out.txt || return 1
	local made lost; made=$(awk '/^calls/ {print $2}' out.txt)
	dump rings > d.json 2> err.txt || return 1
	grep -q "ring wrapped" err.txt || fail "no wrap: $(cat err.txt)" || return 1
	grep -Eq "damaged|torn|not recorded" err.txt && fail "$(cat err.txt)" && return 1
	lost=$(lost_calls rings)
	expect_ge "lost" "$lost" 1 || return 1
	# (each of the 16 closes, 2 a thread, is preceded by a sockstate record of its own: the
	# kernel's queues)
	expect_eq "kept + lost = made" "$(( $(wc -l < d.json) + lost ))" $((made + 2 + 16)) || return 1
	payload_ok d.json 8 > chk.txt || fail "$(cat chk.txt)"
}
run_case wrap_8_threads_payload_exact t_wrap_accounting

t_sigkill_loop() {
	# 200 runs of 4 threads recording payloads, each killed at a random moment, all into one
	# trace: torn records are reported and left out; every record shown checks out
	local i pid
	for i in $(seq 200); do
		SOCKTRACE_SIZE=8M SOCKTRACE_PAYLOAD=16 SOCKTRACE_STACK_DEPTH=2 SOCKTRACE_DIR="$W/rings" LD_PRELOAD="$LIB" \
			"$TB/torture" payload 4 > out.txt &
		pid=$!
		sleep "0.0$((RANDOM % 4))$((RANDOM % 10))"
		kill -9 $pid
		wait $pid 2>/dev/null
	done
	dump rings > d.json 2> err.txt || return 1
	grep -q "damaged" err.txt && fail "$(cat err.txt)" && return 1
	expect_ge "processes in the trace" "$("$VIEW" processes rings | wc -l)" 150 || return 1
	payload_ok d.json 4 > chk.txt || fail "$(cat chk.txt)" || return 1
	cat chk.txt err.txt
}
run_case sigkill_loop_200_payload t_sigkill_loop

t_alarm_10khz() {
	# a 10 kHz SIGALRM handler sends beside a main loop of send+recv: every call counted
	SOCKTRACE_SIZE=64M traced "$W/rings" "$TB/torture" alarm 100000 > out.txt || return 1
	local main handler drains; read -r _ main _ handler _ drains < out.txt
	expect_ge "handler ran" "$handler" 100 || return 1
	dump rings > d.json 2> err.txt || return 1
	expect_eq "nothing lost" "$(cat err.txt)" "" || return 1
	expect_eq "main sends" "$($Q count call=send args.flags=0 < d.json)" "$main" || return 1
	expect_eq "handler sends" "$($Q count call=send args.flags=MSG_DONTWAIT < d.json)" "$handler" || return 1
	expect_eq "drains" "$($Q count call=recv args.flags=MSG_DONTWAIT < d.json)" "$drains" || return 1
	expect_ge "handler calls that landed inside the tracer" "$($Q count call=send nested=true < d.json)" 1
}
run_case signal_handler_10khz_exact t_alarm_10khz

t_fork_in_handler() {
	local kind
	for kind in fork _Fork; do
		traced "$W/r-$kind" "$TB/torture" fork-handler $kind > out.txt || return 1
		dump "r-$kind" > d.json 2> err.txt || return 1
		expect_eq "$kind: nothing damaged" "$(cat err.txt)" "" || return 1
		local parent; parent=$(dump "r-$kind" | head -n 1 | $Q values pid)
		expect_eq "$kind: parent's calls, all complete" \
			"$($Q count pid="$parent" call=send complete=true < d.json) $($Q count pid="$parent" complete=false < d.json)" "2000 0" || return 1
		expect_eq "$kind: children's sends, each under its own pid and tid" \
			"$($Q values pid tid call=send args.len=5 < d.json | paste - - | awk '$1 != $2 || $1 == '"$parent"'' | wc -l) $($Q count call=send args.len=5 < d.json)" "0 20" || return 1
		expect_eq "$kind: no record with tid 0" "$($Q count tid=0 < d.json)" 0 || return 1
	done
}
run_case fork_and__Fork_in_signal_handler t_fork_in_handler

t_setuid_children() {
	[ "$(id -u)" -eq 0 ] || { echo "needs root (setuid in the children)"; return 77; }
	local pf=$W/port
	# a fork-per-client server whose children become nobody before serving: the trace
	# directory is root's (0755, file 0600), the children write through the mapping they
	# inherited
	traced "$W/rings" "$TB/torture" setuid-server "$pf" 3 &
	local sp=$!
	wait_file "$pf" || return 1
	for i in 1 2 3; do "$TB/classic" tcp-client "$(cat "$pf")" "hello-$i" > /dev/null || return 1; done
	wait $sp || return 1
	expect_eq "trace owned by root" "$(stat -c '%U %a' rings/trace.ring)" "root 600" || return 1
	dump rings > d.json || return 1
	expect_eq "children's recvs" "$($Q count call=recv ret=7 < d.json)" 3 || return 1
	expect_eq "children's sends" "$($Q count call=send ret=7 < d.json)" 3 || return 1
	expect_eq "from three children" "$($Q values pid call=recv < d.json | sort -u | wc -l)" 3 || return 1
	"$VIEW" info rings > info.txt || return 1
	expect_eq "children marked as having changed credentials" "$(grep -c 'changed credentials' info.txt)" 3 || return 1
	# a child that drops privileges before its first socket call, in a tree that had no
	# trace yet: the trace is made before the drop
	traced "$W/r2" "$TB/torture" setuid-child > out.txt || return 1
	expect_eq "dropped child's send" "$(dump r2 | $Q count call=send ret=7)" 1
}
run_case setuid_children_traced t_setuid_children

t_payload_families() {
	# the payload cap holds for every family, iovec ones included
	SOCKTRACE_PAYLOAD=4 traced "$W/rings" "$TB/torture" families > out.txt || return 1
	expect_eq "program" "$(cat out.txt)" "ok 10" || return 1
	dump rings > d.json || return 1
	local c
	for c in send recv sendto recvfrom sendmsg recvmsg write read writev readv; do
		expect_eq "$c keeps 4 bytes" "$($Q values args.data call=$c ret=32 < d.json)" "41424344" || return 1
	done
}
run_case payload_cap_every_family t_payload_families

t_foreign_trace() {
	# a trace left by another version: the program runs untraced, told once why
	traced "$W/good" "$TB/fortify" > /dev/null || return 1
	mkdir old && python3 "$ROOT/tests/corrupt.py" v1 good/trace.ring old/trace.ring || return 1
	traced "$W/old" "$TB/fortify" > out.txt 2> err.txt || return 1
	expect_eq "program output" "$(cat out.txt)" "9 5" || return 1
	expect_eq "said once" "$(grep -c '^socktrace:' err.txt)" 1 || return 1
	grep -q "written by another version of socktrace" err.txt || fail "$(cat err.txt)"
}
run_case trace_of_another_version_refused t_foreign_trace
