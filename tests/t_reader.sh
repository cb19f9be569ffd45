# The viewer trusts nothing it reads, and the record command behaves like the program it runs.

make_good_ring() {
	traced "$W/good" "$TB/fortify" > /dev/null || return 1
	good=$W/good/trace.ring
}

t_damaged_files() {
	make_good_ring || return 1
	local total; total=$(dump "$good" | wc -l)
	mkdir bad
	head -c 100 /dev/urandom > bad/short.ring
	: > bad/empty.ring
	head -c 20000 /dev/urandom > bad/foreign.ring
	for m in version v1 layout zero-magic; do python3 "$ROOT/tests/corrupt.py" $m "$good" bad/$m.ring || return 1; done
	"$VIEW" dump bad "$good" > out.txt 2> err.txt; local rc=$?
	expect_eq "exit status" $rc 1 || return 1
	expect_eq "good file still shown" "$(wc -l < out.txt)" "$total" || return 1
	expect_eq "one line per bad file" "$(wc -l < err.txt)" 7 || fail "$(cat err.txt)" || return 1
	grep -q "empty.ring: empty file" err.txt || return 1
	grep -q "short.ring: too short" err.txt || return 1
	grep -q "foreign.ring: not a socktrace trace file (bad magic)" err.txt || return 1
	grep -q "version.ring: ring format version 99 is not supported (this socktrace reads 2)" err.txt || return 1
	grep -q "v1.ring: ring format version 1 is not supported (this socktrace reads 2)" err.txt || return 1
	grep -q "layout.ring: written by an incompatible build of socktrace" err.txt || return 1
	grep -q "zero-magic.ring: no trace-file magic" err.txt || return 1
}
run_case reader_rejects_bad_files t_damaged_files

# A file cut short (a full disk, a partial copy) is read as far as it goes: what is there is
# shown, what is missing is said, exit 1. Bytes after the trace's end are left out, exit 0.
t_cut_short() {
	make_good_ring || return 1
	local total; total=$(dump "$good" | wc -l)
	python3 "$ROOT/tests/corrupt.py" truncate "$good" half.ring || return 1
	"$VIEW" dump --json half.ring > half.json 2> err.txt; expect_eq "exit status" $? 1 || return 1
	expect_eq "records before the cut" "$(wc -l < half.json)" "$total" || return 1
	grep -Eq "half.ring: cut short: the last [0-9]+ of its [0-9]+ bytes are missing; what they held is lost" err.txt \
		|| fail "$(cat err.txt)" || return 1
	# cut where the ring starts: no record left, the process table still read
	local ring_off; ring_off=$(PYTHONPATH="$ROOT/tests" python3 -c 'import sys, trace_file; print(trace_file.Trace(sys.argv[1]).ring_off)' "$good")
	head -c "$ring_off" "$good" > norings.ring
	"$VIEW" processes norings.ring > procs.txt 2> err.txt; expect_eq "exit status" $? 1 || return 1
	grep -q "fortify" procs.txt || fail "$(cat procs.txt err.txt)" || return 1
	"$VIEW" info norings.ring | grep -Eq "^  cut short  the last [0-9]+ bytes are missing" || fail "$("$VIEW" info norings.ring)" || return 1
	expect_eq "records" "$(dump norings.ring 2> /dev/null | wc -l)" 0 || return 1
	# extended: the trace, then junk
	{ cat "$good"; head -c 5000 /dev/urandom; } > long.ring
	"$VIEW" dump --json long.ring > long.json 2> err.txt; expect_eq "exit status" $? 0 || return 1
	expect_eq "every record" "$(wc -l < long.json)" "$total" || return 1
	grep -q "long.ring: 5000 byte(s) after the trace's end left out" err.txt || fail "$(cat err.txt)"
}
run_case reader_reads_a_file_cut_short t_cut_short

t_damaged_records() {
	make_good_ring || return 1
	local total; total=$(dump "$good" | wc -l)
	# a record word that does not belong where it is (stale, or damaged): the walk of its span
	# stops there (we damage a span's last record, so exactly one is lost)
	python3 "$ROOT/tests/corrupt.py" record-word "$good" cr.ring || return 1
	python3 "$ROOT/tests/corrupt.py" torn "$good" torn.ring || return 1
	"$VIEW" dump --json cr.ring > cr.json 2> cr.err || return 1
	expect_eq "damaged record left out" "$(wc -l < cr.json)" $((total - 1)) || return 1
	grep -q "1 damaged record(s)" cr.err || fail "$(cat cr.err)" || return 1
	"$VIEW" dump --json torn.ring > torn.json 2> torn.err || return 1
	expect_eq "torn record left out" "$(wc -l < torn.json)" $((total - 1)) || return 1
	grep -q "1 torn record(s)" torn.err || fail "$(cat torn.err)"
}
run_case reader_checks_each_record t_damaged_records

t_json_schema() {
	make_good_ring || return 1
	expect_ge "records" "$(dump "$good" | $Q check-schema)" 5
}
run_case dump_json_schema t_json_schema

t_dump_text() {
	make_good_ring || return 1
	"$VIEW" dump "$good" > out.txt || return 1
	grep -Eq "fortify\[[0-9]+:[0-9]+\] recv\(fd=4, len=64, flags=0, fortify=true\) = 9 <" out.txt || fail "$(cat out.txt)"
}
run_case dump_text t_dump_text

t_record_cmd() {
	"$SOCKTRACE" record -o "$W/r1" -- sh -c 'exit 3'; expect_eq "exit status" $? 3 || return 1
	"$SOCKTRACE" record -o "$W/r2" -- "$TB/brokenpipe"; expect_eq "killed by SIGPIPE" $? 141 || return 1
	ls r2/*.ring > /dev/null || fail "no rings in -o dir" || return 1
	"$SOCKTRACE" record --stack-depth 0 --payload 4 --size 8M -o "$W/r3" -- "$TB/fortify" > /dev/null || return 1
	expect_eq "options reach the preload" "$(dump r3 | $Q values args.data call=send | head -n 1)" "666f7274" || return 1
	expect_eq "no stacks" "$(dump r3 | $Q count 'frames=[]')" "$(dump r3 | wc -l)" || return 1
	trace_size_is r3/trace.ring 8388608 || return 1
	"$SOCKTRACE" record --bogus -- true 2> err.txt; expect_eq "unknown option" $? 2 || return 1
	grep -q "usage: socktrace record" err.txt || return 1
	"$SOCKTRACE" record --size huge -- true 2> err.txt; expect_eq "bad size" $? 2 || return 1
	"$SOCKTRACE" frobnicate 2> err.txt; expect_eq "unknown command" $? 2 || return 1
	"$SOCKTRACE" record -o "$W/r4" -- /nonexistent/prog 2> err.txt; expect_eq "missing command" $? 127
}
run_case record_command t_record_cmd

t_install() {
	make -s -C "$ROOT" install DESTDIR="$W/dest" PREFIX=/opt/st > /dev/null || return 1
	[ -x dest/opt/st/bin/socktrace ] && [ -f dest/opt/st/lib/socktrace/libsocktrace.so ] || fail "files" || return 1
	dest/opt/st/bin/socktrace record -o "$W/ri" -- "$TB/fortify" > /dev/null || return 1
	expect_eq "installed record finds its library" "$(nrec ri call=recv)" 1 || return 1
	[ -f dest/opt/st/share/man/man1/socktrace.1 ] && [ -f dest/opt/st/share/man/man7/libsocktrace.7 ] || fail "man pages" || return 1
	# the man pages render without warnings, and name every subcommand
	for p in dest/opt/st/share/man/man1/socktrace.1 dest/opt/st/share/man/man7/libsocktrace.7; do
		LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$p" > page.txt 2> warn.txt || fail "man $p" || return 1
		[ ! -s warn.txt ] || fail "$(cat warn.txt)" || return 1
	done
	local c
	for c in $("$SOCKTRACE" --help | awk '/^  [a-z]/ {print $1}'); do
		grep -q "^\.B socktrace $c\$" "$ROOT/doc/socktrace.1" || fail "socktrace.1 lacks $c" || return 1
		"$SOCKTRACE" "$c" --help | grep -q "^example" || fail "$c --help has no example" || return 1
	done
}
run_case install_prefix_destdir t_install

t_fuzz_short() {
	[ -x "$B/fuzz_reader" ] || { echo "no fuzz target (needs clang and libclang-rt-14-dev)"; return 77; }
	traced "$W/rings" "$TB/allcalls" > /dev/null 2>&1 || return 1
	traced "$W/rings2" "$TB/brokenpipe" > /dev/null 2>&1
	python3 "$ROOT/tests/fuzz/seed.py" corpus rings/*.ring rings2/*.ring || return 1
	"$B/fuzz_reader" -dict="$ROOT/tests/fuzz/trace.dict" -max_total_time=15 -max_len=20000 -rss_limit_mb=4096 corpus > fuzz.log 2>&1 \
		|| { tail -n 30 fuzz.log; return 1; }
	grep -q "Done" fuzz.log
}
run_case fuzz_reader_short t_fuzz_short
