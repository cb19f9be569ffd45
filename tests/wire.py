#!/usr/bin/env python3
"""wire.py FILE [SOCKETS_JSON]: each TCP connection and UDP flow of a capture as events, one line per
connection: the client->server direction (the SYN's sender; for UDP the first datagram's) as
'>', the other '<'. TCP: consecutive data one way merged as D<n>; S (SYN), F (FIN), R (RST);
pure ACKs left out. UDP lines start with 'udp' and list each datagram as D<n>. With SOCKETS_JSON (`socktrace
sockets --json` of the trace), only connections with a port one of the trace's sockets had
(anything else on lo meanwhile is not the traced program's)."""
import subprocess, sys, collections
out = subprocess.run(["tshark", "-r", sys.argv[1], "-Y", "tcp or udp", "-T", "fields",
                      "-e", "tcp.stream", "-e", "udp.stream", "-e", "tcp.srcport", "-e", "tcp.dstport",
                      "-e", "udp.srcport", "-e", "tcp.flags.syn", "-e", "tcp.flags.ack",
                      "-e", "tcp.flags.fin", "-e", "tcp.flags.reset", "-e", "tcp.len", "-e", "udp.length",
                      "-e", "tcp.seq", "-e", "udp.dstport"],
                     capture_output=True, text=True).stdout
ports = None
if len(sys.argv) > 2:
    import json
    ports = set()
    for l in open(sys.argv[2]):
        sk = json.loads(l)
        for a in (sk.get("local"), sk.get("peer")):
            if a and sk.get("family") in ("AF_INET", "AF_INET6"):
                ports.add(a.rsplit(":", 1)[1])
conns = collections.OrderedDict()
for line in out.splitlines():
    tst, ust, sp, dp, usp, syn, ack, fin, rst, ln, ulen, seq, udp_ = line.split("\t")
    if ports is not None and not ({sp, dp, usp, udp_} & ports):
        continue
    if tst == "":
        if ust == "":
            continue        # (an ICMP error quoting a datagram)
        c = conns.setdefault("u" + ust, {"client": usp, "ev": ["udp"]})
        d = ">" if usp == c["client"] else "<"
        c["ev"].append(d + "D" + str(int(ulen) - 8))
        continue
    c = conns.setdefault(tst, {"client": None, "ev": [], "hi": {}})
    if syn in ("1", "True") and ack in ("0", "False"):
        c["client"] = sp
    d = ">" if c["client"] is None or sp == c["client"] else "<"
    ev = c["ev"]
    n = int(ln or 0)
    if n:       # new stream bytes only: beyond the highest sequence number seen that way
        end = int(seq) + n
        hi = c["hi"].get(d, 1)
        n = max(0, end - hi)
        c["hi"][d] = max(hi, end)
    if syn in ("1", "True"):
        if not ev or ev[-1] != d + "S":
            ev.append(d + "S")
    if n:
        if ev and ev[-1].startswith(d + "D"):
            ev[-1] = d + "D" + str(int(ev[-1][2:]) + n)
        else:
            ev.append(d + "D" + str(n))
    if fin in ("1", "True"):
        ev.append(d + "F")
    if rst in ("1", "True"):
        ev.append(d + "R")
for st, c in conns.items():
    print(" ".join(c["ev"]))
