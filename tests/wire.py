#!/usr/bin/env python3
"""wire.py FILE: each TCP connection of a capture as events, one line per connection:
client->server direction as '>', the other '<'; consecutive data one way merged as D<n>;
S (SYN), F (FIN), R (RST); pure ACKs left out."""
import subprocess, sys, collections
out = subprocess.run(["tshark", "-r", sys.argv[1], "-Y", "tcp", "-T", "fields", "-e", "tcp.stream",
                      "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "tcp.flags.syn", "-e", "tcp.flags.ack",
                      "-e", "tcp.flags.fin", "-e", "tcp.flags.reset", "-e", "tcp.len"],
                     capture_output=True, text=True).stdout
conns = collections.OrderedDict()
for line in out.splitlines():
    st, sp, dp, syn, ack, fin, rst, ln = line.split("\t")
    c = conns.setdefault(st, {"client": None, "ev": []})
    if syn in ("1", "True") and ack in ("0", "False"):
        c["client"] = sp
    d = ">" if c["client"] is None or sp == c["client"] else "<"
    ev = c["ev"]
    n = int(ln or 0)
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
