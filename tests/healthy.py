#!/usr/bin/env python3
"""Check the socket lifetimes of a healthy run (`socktrace sockets --json` on stdin).

  healthy.py [--server COMM] [--client COMM] [--min N]

Every lifetime has a known birth (no 'wrapped'/'unseen' origin unless it was inherited) and a
known end ('unknown' and 'open' are wrong after a healthy run). With --server and --client:
the client's TCP connections (connect) and the server's accepted ones are the same set, each
matched by its addresses, one lifetime each, and there are at least N of them."""
import json
import sys

args = sys.argv[1:]
opt = {}
while args:
    k = args.pop(0)
    opt[k] = args.pop(0)
socks = [json.loads(l) for l in sys.stdin if l.strip()]


def plain(a):
    """an IPv4-mapped IPv6 address as the IPv4 one (a dual-stack listener sees those)"""
    if a and a.startswith("[::ffff:") and "]:" in a:
        h, _, p = a[8:].partition("]:")
        if h.count(".") == 3:
            return f"{h}:{p}"
    return a
bad = []
for s in socks:
    if s["origin"] in ("wrapped",) or s["end"] in ("unknown", "open"):
        bad.append(f"socket {s['id']} {s['comm']}[{s['pid']}] {s['local']} -> {s['peer']}: origin {s['origin']}, end {s['end']}")
if "--server" in opt and "--client" in opt:
    srv = [s for s in socks if s["comm"] == opt["--server"] and s["origin"] == "accept"
           and s["type"] == "SOCK_STREAM" and s["family"] in ("AF_INET", "AF_INET6")]
    cli = [s for s in socks if s["comm"] == opt["--client"] and s.get("role") == "client"
           and s["type"] == "SOCK_STREAM" and s["family"] in ("AF_INET", "AF_INET6") and s["peer"]]
    sk = {}
    for s in srv:
        sk.setdefault((plain(s["peer"]), plain(s["local"])), []).append(s)
    ck = {}
    for s in cli:
        ck.setdefault((plain(s["local"]), plain(s["peer"])), []).append(s)
    for k, v in sk.items():
        if len(v) > 1:
            bad.append(f"connection {k} is {len(v)} lifetimes on the server")
        if k not in ck:
            bad.append(f"server accepted {k} which no traced client connected")
    backlog = 0
    for k, v in ck.items():
        if len(v) > 1:
            bad.append(f"connection {k} is {len(v)} lifetimes on the client")
        if k not in sk:
            # a connection the client gave up before the server took it from its listen
            # backlog (ab opens a few more than it needs): nothing was ever answered on it
            if all(s["bytes_in"] == 0 for s in v):
                backlog += 1
            else:
                bad.append(f"client connected {k} and got an answer, but the server never accepted it")
    n = min(len(sk), len(ck))
    if n < int(opt.get("--min", "1")):
        bad.append(f"only {n} connections (want {opt.get('--min', '1')})")
    print(f"{len(sk)} connections accepted by {opt['--server']}, {len(ck)} made by {opt['--client']}"
          + (f" ({backlog} never accepted, unanswered: left in the listen backlog)" if backlog else ""))
for b in bad[:20]:
    print(b)
if len(bad) > 20:
    print(f"... {len(bad) - 20} more")
sys.exit(1 if bad else 0)
