#!/usr/bin/env bash
# Install (as root) or name (otherwise) the Debian packages socktrace needs.
# usage: tests/deps.sh [--build] [--test] [--bench]   (no option: --build)
set -u
want=()
[ $# -eq 0 ] && set -- --build
for a in "$@"; do
	case $a in
	--build) want+=(gcc g++ make libc6-dev libunwind-dev uthash-dev libdw-dev) ;;
	--test) want+=(python3 curl redis-server redis-tools socat binutils clang libclang-rt-14-dev tshark man-db
	               iproute2 tcpdump nginx apache2-utils haproxy memcached postgresql git openssl nodejs
	               openssh-server openssh-client) ;;
	--bench) want+=(strace valgrind redis-server redis-tools time python3 curl socat nginx apache2-utils
	                 postgresql postgresql-contrib lttng-tools liblttng-ust-dev) ;;
	*) echo "usage: $0 [--build] [--test] [--bench]" >&2; exit 2 ;;
	esac
done
missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "socktrace needs these Debian packages; install them with:" >&2
	echo "  sudo apt-get install -y ${missing[*]}" >&2
	exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q > /dev/null || { echo "apt-get update failed" >&2; exit 1; }
apt-get install -y -q --no-install-recommends "${missing[@]}" > /tmp/socktrace-apt.log 2>&1 || {
	tail -n 20 /tmp/socktrace-apt.log >&2; exit 1; }
