# Expected-output helpers: normalise what changes between runs, then diff against a file.
# UPDATE_GOLDEN=1 tests/run.sh golden   rewrites the expected files from this run.

normalize() {
	sed -E \
		-e 's/[a-z_-]+\[[0-9]+\]/NAME[PID]/g' \
		-e 's/ +[0-9]+:[0-9]+ +/ PID:TID /g' \
		-e 's/[+]?[0-9]+\.[0-9]{6}s?/T/g' \
		-e 's/<[0-9.]+ (us|ms)>/<D>/g' \
		-e 's/ [0-9.]+(us|ms|s) / DUR /g' \
		-e 's/(127\.0\.0\.1|0\.0\.0\.0):[0-9]+/\1:PORT/g' \
		-e 's/\+0x[0-9a-f]+/+OFF/g' \
		-e 's/sockstate\(fd=([0-9]+), [^)]*\)/sockstate(fd=\1, QUEUES)/' \
		-e 's/^( *)[0-9]+( +)[0-9]+ /\1ID\2PID /' \
		-e 's/^socket [0-9]+ /socket ID /' \
		-e 's/  +/ /g' \
		-e 's/ +$//'
}

# golden NAME: normalise stdin and compare with tests/golden/NAME.txt
golden() {
	local want=$ROOT/tests/golden/$1.txt
	normalize > "$W/$1.got"
	if [ -n "${UPDATE_GOLDEN:-}" ]; then
		cp "$W/$1.got" "$want"
		return 0
	fi
	diff -u "$want" "$W/$1.got" || fail "output differs from tests/golden/$1.txt (UPDATE_GOLDEN=1 to accept)"
}
