# Hostile and careless input: record in scripts, crafted traces, planted symlinks, noise, the CLI.

t_record_signals() {
	# stopping a traced command by the pid of record, as scripts do: the signal reaches it
	local sig want
	for sig in TERM INT HUP USR1; do
		# (a script's background job starts with SIGINT ignored: give it the default back)
		env --default-signal=INT "$SOCKTRACE" record -o "$W/r-$sig" -- sleep 37.5 2> err.txt &
		local rp=$!
		for _ in $(seq 100); do pgrep -f "sleep 37.5" > /dev/null && break; sleep 0.05; done
		kill -$sig $rp
		wait $rp; local rc=$?
		want=$((128 + $(kill -l $sig)))
		expect_eq "record's status after SIG$sig" $rc $want || return 1
		pgrep -f "sleep 37.5" > /dev/null && fail "sleep outlived record (SIG$sig)" && return 1
	done
	return 0
}
run_case record_forwards_signals t_record_signals

t_record_dirs() {
	# a relative -o is the directory record was started in, whatever the command's cwd
	mkdir sub
	"$SOCKTRACE" record -o reldir -- sh -c "cd sub && exec $TB/fortify" > out.txt 2> err.txt || return 1
	[ -f reldir/trace.ring ] || fail "no trace in ./reldir: $(ls -R)" || return 1
	grep -q "trace in $W/reldir " err.txt || fail "$(cat err.txt)" || return 1
	# an unusable directory is refused before CMD starts
	"$SOCKTRACE" record -o /proc/nope -- "$TB/fortify" > out.txt 2> err.txt; expect_eq "unusable -o" $? 2 || return 1
	expect_eq "CMD not run" "$(cat out.txt)" "" || return 1
	grep -q "cannot create /proc/nope" err.txt || fail "$(cat err.txt)" || return 1
	# "trace in" only when there is a trace
	"$SOCKTRACE" record -o "$W/rt" -- true 2> err.txt; expect_eq "true" $? 0 || return 1
	grep -q "trace in" err.txt && fail "$(cat err.txt)" && return 1
	grep -q "no trace written in $W/rt: true made no socket call" err.txt || fail "$(cat err.txt)" || return 1
	"$SOCKTRACE" record -o "$W/rn" -- /no/such/cmd 2> err.txt; expect_eq "missing command" $? 127 || return 1
	grep -q "trace in\|no trace written" err.txt && fail "$(cat err.txt)" && return 1
	# ranges checked up front
	local bad
	for bad in "--size 1K" "--size 65G" "--payload 99999" "--stack-depth 65" "--size -5M"; do
		# shellcheck disable=SC2086
		"$SOCKTRACE" record $bad -- true 2> err.txt; expect_eq "$bad" $? 2 || return 1
		grep -q "is not a" err.txt || fail "$bad: $(cat err.txt)" || return 1
	done
	# a second record in the same directory keeps the first trace aside
	"$SOCKTRACE" record -o "$W/twice" -- "$TB/fortify" > /dev/null 2>&1 || return 1
	"$SOCKTRACE" record -o "$W/twice" -- "$TB/fortify" > /dev/null 2> err.txt || return 1
	[ -f twice/trace.ring.old ] && grep -q "previous trace kept as" err.txt || fail "$(cat err.txt)"
}
run_case record_directories_and_ranges t_record_dirs

# every reading command on FILE: within 10 s, no sanitizer report, the documented exit status
all_commands() {  # all_commands FILE WANT [WANT_FOR_INFO]
	local cmd rc
	for cmd in "dump" "dump --json" "sockets" "timeline --stack" "diagnose" "processes" "info" "export --format jsonl"; do
		[ "$cmd" = info ] && [ -n "${3:-}" ] && { "$VIEW" info "$1" > /dev/null 2>&1; rc=$?; expect_eq "info $1" $rc "$3" || return 1; continue; }
		# shellcheck disable=SC2086
		ASAN_OPTIONS=exitcode=86 UBSAN_OPTIONS=halt_on_error=1:exitcode=86 timeout 10 "$VIEW" $cmd "$1" > cmd.out 2> cmd.err
		rc=$?
		[ $rc = 124 ] && fail "$cmd $1 hung" && return 1
		[ $rc = 86 ] && fail "$cmd $1: $(head -n 5 cmd.err)" && return 1
		[ "$cmd" = diagnose ] && [ "$2" = 0 ] && [ $rc = 1 ] && continue   # (it found something)
		[ "$rc" = "$2" ] || fail "$cmd $1: exit $rc, want $2 ($(head -n 2 cmd.err))" || return 1
	done
}

t_crafted_traces() {
	traced "$W/good" "$TB/fortify" > /dev/null || return 1
	local g=good/trace.ring
	mkdir bad
	# header offsets that would wrap around 2^64; table sizes that do not fit the file
	python3 - "$g" bad/wrap.ring bad/sizes.ring bad/allbad.ring <<'PY'
import struct, sys
sys.path.insert(0, sys.argv[0] and "tests")
src, wrap, sizes, allbad = sys.argv[1:5]
d = bytearray(open(src, "rb").read())
w = bytearray(d)
for off in (40, 48, 56, 64, 72, 80, 88):      # proc_off .. ring_off
    struct.pack_into("<Q", w, off, (1 << 64) - 4096)
open(wrap, "wb").write(w)
z = bytearray(d)
struct.pack_into("<I", z, 112, 0xffffffff)     # nblocks
struct.pack_into("<I", z, 96, 0xffffffff)      # nproc
open(sizes, "wb").write(z)
PY
	PYTHONPATH="$ROOT/tests" python3 - "$g" bad/allbad.ring <<'PY'
import struct, sys, trace_file
t = trace_file.Trace(sys.argv[1])
for at, w, kind, call in list(t.records()):
    struct.pack_into("<Q", t.data, at, w ^ (0x5a5a << 32))   # no word where it belongs
t.save(sys.argv[2])
PY
	mkfifo bad/fifo.ring
	truncate -s 1T bad/sparse.ring
	local f
	for f in bad/wrap.ring bad/sizes.ring bad/fifo.ring bad/sparse.ring; do
		all_commands "$f" 2 || return 1
	done
	all_commands bad/allbad.ring 2 0 || return 1      # (its header and processes are readable)
	"$VIEW" dump bad/allbad.ring 2> err.txt
	grep -q "no record could be read: written by an incompatible build of socktrace, or damaged" err.txt || fail "$(cat err.txt)" || return 1
	# a directory with a FIFO beside a good trace: the good one is shown, exit 1
	cp "$g" bad/good.ring
	all_commands bad 1 || return 1
	# a module whose path names a FIFO: symbolization skips it instead of hanging
	PYTHONPATH="$ROOT/tests" python3 - "$g" fifomod.ring "$W/modfifo" <<'PY'
import struct, sys, trace_file
t = trace_file.Trace(sys.argv[1])
off = t.h["modf_off"]
for i in range(t.h["nmodf"]):
    e = off + i * 320
    state, = struct.unpack_from("<I", t.data, e)
    if state == 2:
        p = sys.argv[3].encode() + b"\0"
        t.data[e + 56: e + 56 + 256] = p.ljust(256, b"\0")
t.save(sys.argv[2])
PY
	mkfifo modfifo
	all_commands fifomod.ring 0
}
run_case crafted_traces_never_crash_or_hang t_crafted_traces

t_escapes() {
	# a process named with terminal commands: no escape byte reaches any text output
	traced "$W/rings" "$TB/torture" evil-name > /dev/null || return 1
	local cmd
	for cmd in "dump" "processes" "sockets" "timeline" "info" "diagnose"; do
		# shellcheck disable=SC2086
		"$VIEW" $cmd rings > out.txt 2>&1
		if LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' out.txt; then
			fail "$cmd printed a control character: $(grep -a 'ok' out.txt | head -n 2 | od -c | head -n 3)"
			return 1
		fi
		grep -q "ok?\[2J?\]0;x?" out.txt || [ "$cmd" = timeline ] || [ "$cmd" = diagnose ] ||
			fail "$cmd: name not shown neutralised: $(head -n 3 out.txt)" || return 1
	done
}
run_case control_characters_neutralised t_escapes

t_symlink_planted() {
	[ "$(id -u)" -eq 0 ] || { echo "needs root (a symlink owned by another user)"; return 77; }
	# another user's symlink named socktrace.data in a world-writable directory
	mkdir -m 777 shared target && chown 65534 target
	ln -s "$W/target" shared/socktrace.data && chown -h 65534 shared/socktrace.data
	(cd shared && LD_PRELOAD="$LIB" "$TB/fortify") > out.txt 2> err.txt || return 1
	expect_eq "program" "$(cat out.txt)" "9 5" || return 1
	grep -q "socktrace.data is a symlink owned by uid 65534 in the world-writable .*: not following it" err.txt ||
		fail "$(cat err.txt)" || return 1
	expect_eq "nothing written through it" "$(ls target)" "" || return 1
	"$SOCKTRACE" record -o "$W/shared/socktrace.data" -- true 2> err.txt; expect_eq "record refuses" $? 2
}
run_case planted_symlink_not_followed t_symlink_planted

t_noise() {
	# a bad and a misspelled variable, in a script of 4 processes: each said once
	SOCKTRACE_SIZE=lots SOCKTRACE_PAYLOD=4 SOCKTRACE_DIR="$W/rings" LD_PRELOAD="$LIB" \
		bash -c "$TB/fortify; $TB/fortify; bash -c '$TB/fortify'" > /dev/null 2> err.txt || return 1
	expect_eq "lines" "$(grep -c '^socktrace:' err.txt)" 2 || fail "$(cat err.txt)" || return 1
	grep -q "unknown variable SOCKTRACE_PAYLOD" err.txt || return 1
	SOCKTRACE_DIR= LD_PRELOAD="$LIB" "$TB/fortify" > /dev/null 2> err.txt || return 1
	grep -q "SOCKTRACE_DIR is empty; using ./socktrace.data" err.txt || fail "$(cat err.txt)" || return 1
	# 300 children, a 1 MiB trace with 256 process slots: "not traced" said once, with pid
	SOCKTRACE_SIZE=1M traced "$W/r2" "$TB/torture" children 300 > /dev/null 2> err.txt || return 1
	expect_eq "said once" "$(grep -c 'process table is full' err.txt)" 1 || fail "$(cat err.txt)" || return 1
	grep -Eq "pid [0-9]+ \(torture, uid [0-9]+\) not traced" err.txt || fail "$(cat err.txt)"
}
run_case notices_once_per_trace t_noise

t_eacces_not_enoent() {
	[ "$(id -u)" -eq 0 ] && command -v setpriv > /dev/null || { echo "needs root and setpriv"; return 77; }
	local d; d=$(mktemp -d /tmp/socktrace-eacces.XXXXXX); chmod 755 "$d"; mkdir -m 700 "$d/locked"
	setpriv --reuid=65534 --regid=65534 --clear-groups env SOCKTRACE_DIR="$d/locked/a/b" LD_PRELOAD="$LIB" \
		"$TB/fortify" > out.txt 2> err.txt
	local rc=$?
	rm -rf "$d"
	expect_eq "program" "$rc $(cat out.txt)" "0 9 5" || return 1
	grep -q "cannot create $d/locked/a: Permission denied" err.txt || fail "$(cat err.txt)"
}
run_case nested_directory_permission_denied t_eacces_not_enoent

t_cli_errors() {
	traced "$W/rings" "$TB/fortify" > /dev/null || return 1
	"$VIEW" sockets --fd abc rings 2> err.txt; expect_eq "--fd abc" $? 2 || return 1
	grep -q "socktrace sockets: --fd: bad value 'abc'" err.txt || fail "$(cat err.txt)" || return 1
	"$VIEW" timeline --addr not-an-address rings 2> err.txt; expect_eq "--addr" $? 2 || return 1
	grep -q "\-\-addr: bad value 'not-an-address' (an address" err.txt || fail "$(cat err.txt)" || return 1
	local a
	for a in 127.0.0.1 127.0.0.1:80 "[::1]:443" ::1 /run/x.sock @abstract; do
		"$VIEW" sockets --addr "$a" rings > /dev/null || fail "--addr $a refused" || return 1
	done
	# binary pcapng is not written to a terminal; dump pages like the other listings
	script -qec "$VIEW export --format pcapng rings" /dev/null > tty.txt 2>&1; expect_eq "pcapng to a tty" $? 2 || return 1
	grep -q "not writing binary pcapng to a terminal" tty.txt || fail "$(cat tty.txt)" || return 1
	SOCKTRACE_PAGER="sed s/^/PAGED:/" script -qec "$VIEW dump rings" /dev/null > tty.txt 2>&1 || return 1
	grep -q "^PAGED: *0\.0" tty.txt || fail "dump not paged: $(head -n 3 tty.txt)"
}
run_case cli_errors_and_terminals t_cli_errors

# record into a directory whose trace a running program still writes: it joins that trace
# (one trace for both ends) instead of moving it aside under the writer
t_record_joins_live() {
	"$SOCKTRACE" record -o "$W/d" -- "$TB/scenarios" blocked > srv.txt 2>&1 &
	local rp=$!
	wait_file srv.txt || return 1
	"$SOCKTRACE" record -o "$W/d" -- "$TB/patterns" one-write > cli.txt 2> err.txt || return 1
	grep -q "joining the trace still being written" err.txt || fail "$(cat err.txt)" || return 1
	[ ! -e "$W/d/trace.ring.old" ] || fail "the live trace was moved aside" || return 1
	stop_pids $rp
	expect_eq "both programs in one trace" "$("$VIEW" processes d | awk '{print $2}' | sort | tr '\n' ' ')" "patterns scenarios "
}
run_case record_joins_a_live_trace t_record_joins_live
