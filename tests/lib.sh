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
