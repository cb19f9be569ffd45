#!/usr/bin/env python3
"""Seed inputs for fuzz_reader from real traces: the first two spans of each (their records
moved to the fuzzer's span positions by the repair mode), then its first process entry.
usage: seed.py OUTDIR TRACE..."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import trace_file  # noqa: E402

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
SPAN = 4096
for n, path in enumerate(sys.argv[2:]):
    t = trace_file.Trace(path)
    bodies = []
    for sp in t.spans()[:2]:
        raw = t.data[t.ring_off + sp.off: t.ring_off + sp.off + min(sp.size, SPAN)]
        bodies.append(raw.ljust(SPAN, b"\0"))
    while len(bodies) < 2:
        bodies.append(bytes(SPAN))
    procs = t.data[t.h["proc_off"]: t.h["proc_off"] + 2 * 256]
    for mode in (0, 1):
        open(os.path.join(out, f"seed-{n}-{mode}"), "wb").write(bytes([mode]) + b"".join(bodies) + procs)
