#!/usr/bin/env python3
"""wire.py FILE: each TCP connection and UDP flow of a capture as events, one line per
connection: the client->server direction (the SYN's sender; for UDP the first datagram's) as
'>', the other '<'. TCP: consecutive data one way merged as D<n>; S (SYN), F (FIN), R (RST);
pure ACKs left out. UDP lines start with 'udp' and list each datagram as D<n>."""
import subprocess, sys, collections
out = subprocess.run(["tshark", "-r", sys.argv[1], "-Y", "tcp or udp", "-T", "fields",
                      "-e", "tcp.stream", "-e", "udp.stream", "-e", "tcp.srcport", "-e", "tcp.dstport",
                      "-e", "udp.srcport", "-e", "tcp.flags.syn", "-e", "tcp.flags.ack",
                      "-e", "tcp.flags.fin", "-e", "tcp.flags.reset", "-e", "tcp.len", "-e", "udp.length",
                      "-e", "tcp.seq"],
                     capture_output=True, text=True).stdout
conns = collections.OrderedDict()
for line in out.splitlines():
    tst, ust, sp, dp, usp, syn, ack, fin, rst, ln, ulen, seq = line.split("\t")
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
