#!/usr/bin/env bash
# make demo: trace a client/server pair whose server dies of a broken pipe, then show the log.
set -u
cd "$(dirname "$0")/.." || exit 2
D=build/demo.data
ST=build/socktrace
rm -rf "$D"
bold() { if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then printf '\033[1m%s\033[0m\n' "$*"; else printf '%s\n' "$*"; fi; }
run() { echo "\$ $*"; "$@"; }

bold "== 1. record: a server that is too slow for its client (tests/progs/brokenpipe.c)"
run $ST record -o "$D" -- build/tests/brokenpipe
echo "(exit status $? -- 141 is 128+SIGPIPE: the server was killed by a broken pipe)"
echo
bold "== 2. sockets: one line per socket lifetime"
SOCKTRACE_PAGER=cat run $ST sockets "$D"
echo
bold "== 3. timeline: each socket's calls in order, with state changes"
SOCKTRACE_PAGER=cat run $ST timeline "$D"
bold "== 4. the server's connection with symbolized stacks: where each call came from"
SOCKTRACE_PAGER=cat run $ST timeline --stack --fd 4 "$D"
bold "== 5. the raw log: the fatal send is the call entered and never returned"
SOCKTRACE_PAGER=cat run $ST dump "$D"
echo
bold "== 6. diagnose: what went wrong, why, and what to do"
SOCKTRACE_PAGER=cat run $ST diagnose "$D"
exit 0
