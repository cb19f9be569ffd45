#!/usr/bin/env python3
"""Seed inputs for fuzz_reader from real ring files: the first two claimed chunks of each.
usage: seed.py OUTDIR RING..."""
import os
import struct
import sys

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
CHUNK = 256 * 256
for n, path in enumerate(sys.argv[2:]):
    data = open(path, "rb").read()
    nchunks, = struct.unpack_from("<I", data, 24)
    off, = struct.unpack_from("<Q", data, 64)
    chunks = [data[off + c * CHUNK: off + (c + 1) * CHUNK] for c in range(nchunks)
              if struct.unpack_from("<Q", data, off + c * CHUNK)[0]]
    body = b"".join(chunks[:2])
    for mode in (0, 1):
        open(os.path.join(out, f"seed-{n}-{mode}"), "wb").write(bytes([mode]) + body)
