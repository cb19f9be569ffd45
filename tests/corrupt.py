#!/usr/bin/env python3
"""Make damaged copies of a trace file for the reader tests.

  corrupt.py MODE IN OUT
  modes: truncate, version, v1, layout, zero-magic, record-word, torn"""
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import trace_file  # noqa: E402

mode, src, dst = sys.argv[1:4]
t = trace_file.Trace(src)
data = t.data


def last_complete():
    """The last complete record of a span holding at least two: damage there hides one record."""
    recs = list(t.records())
    for sp in t.spans():
        inside = [r for r in recs if t.ring_off + sp.off <= r[0] < t.ring_off + sp.off + sp.size]
        if len(inside) >= 2 and inside[-1][2] == trace_file.KIND_COMPLETE:
            return inside[-1]
    sys.exit("no span with two records")


if mode == "truncate":
    data = data[: len(data) // 2]
elif mode == "version":
    struct.pack_into("<I", data, 8, 99)
elif mode == "v1":
    struct.pack_into("<I", data, 8, 1)
elif mode == "layout":
    struct.pack_into("<Q", data, 16, 0x1234)
elif mode == "zero-magic":
    data[0:8] = bytes(8)
elif mode == "record-word":
    off, w, _, _ = last_complete()
    struct.pack_into("<Q", data, off, w ^ (1 << 40))   # its check no longer matches its place
elif mode == "torn":
    off, w, _, _ = last_complete()
    struct.pack_into("<Q", data, off, w & ~0xff)      # the writer died while writing it
else:
    sys.exit("unknown mode")
open(dst, "wb").write(data)
