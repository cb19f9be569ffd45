#!/usr/bin/env bash
# make demo: trace a client/server pair whose server dies of a broken pipe, then show the log.
set -u
cd "$(dirname "$0")/.." || exit 2
D=build/demo.data
rm -rf "$D"
bold() { if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then printf '\033[1m%s\033[0m\n' "$*"; else printf '%s\n' "$*"; fi; }

bold "== 1. record: a server that is too slow for its client (brokenpipe.c)"
echo "\$ build/socktrace record -o $D -- build/tests/brokenpipe"
build/socktrace record -o "$D" -- build/tests/brokenpipe
echo "(exit status $? -- 141 is 128+SIGPIPE: the server was killed by a broken pipe)"
echo
bold "== 2. dump: every socket call of both processes, in time order"
echo "\$ build/socktrace dump $D"
build/socktrace dump "$D"
echo
bold "== 3. the fatal call, as JSON (an entered call that never returned is the one that killed it)"
echo "\$ build/socktrace dump --json $D | grep '\"complete\":false'"
build/socktrace dump --json "$D" | grep '"complete":false'
