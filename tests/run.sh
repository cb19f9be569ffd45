#!/usr/bin/env bash
# socktrace test suite: runs every tests/t_*.sh case and prints "N passed, N failed".
set -u
cd "$(dirname "$0")/.." || exit 2
source tests/lib.sh

[ -x "$LIB" ] && [ -x "$SOCKTRACE" ] && [ -x "$VIEW" ] || { echo "build first: make all test-progs build/asan/socktrace (make test does both)"; exit 2; }

pass=0 failn=0 skip=0 failed=()
TMPROOT=$(mktemp -d /tmp/socktrace-test.XXXXXX)
chmod 755 "$TMPROOT"   # (servers that drop privileges, nginx as www-data, read files under it)
only=${1:-}

run_case() {  # run_case NAME FUNCTION
	local name=$1 fn=$2
	[ -n "$only" ] && [[ "$name" != *"$only"* ]] && return
	local dir=$TMPROOT/$name
	mkdir -p "$dir"
	local start=$SECONDS rc
	( cd "$dir" && set -o pipefail && W=$dir "$fn" ) > "$dir/log" 2>&1
	rc=$?
	if [ $rc -eq 0 ]; then
		pass=$((pass + 1)); echo "ok   $name ($((SECONDS - start))s)"
		rm -rf "$dir"   # (traces are 64 MiB each: only failures keep theirs)
	elif [ $rc -eq 77 ]; then
		skip=$((skip + 1)); echo "skip $name: $(tail -n 1 "$dir/log")"
	else
		failn=$((failn + 1)); failed+=("$name"); echo "FAIL $name"
		sed 's/^/    | /' "$dir/log" | tail -n 40
	fi
}

for f in tests/t_*.sh; do
	source "$f"
done

echo
[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
[ $failn -eq 0 ] && rm -rf "$TMPROOT" || echo "logs kept in $TMPROOT"
echo "$pass passed, $failn failed, $skip skipped"
[ $failn -eq 0 ]
