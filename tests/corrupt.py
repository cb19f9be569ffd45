#!/usr/bin/env python3
"""Make damaged copies of a ring file for the reader tests.

  corrupt.py MODE IN OUT
  modes: truncate, version, zero-magic, record-byte, torn"""
import struct
import sys

mode, src, dst = sys.argv[1:4]
data = bytearray(open(src, "rb").read())
SLOT, CHUNK = 256, 256


def records():
    """(offset, seq) of every slot whose seq says 'complete', in file order."""
    nchunks, = struct.unpack_from("<I", data, 24)
    chunks_off, = struct.unpack_from("<Q", data, 64)
    for c in range(nchunks):
        base = chunks_off + c * SLOT * CHUNK
        tp1, = struct.unpack_from("<Q", data, base)
        if not tp1:
            continue
        for i in range(1, CHUNK):
            off = base + i * SLOT
            seq, = struct.unpack_from("<Q", data, off)
            if seq and seq & 7 == 4 and seq >> 3 == (tp1 - 1) * CHUNK + i:
                yield off, seq


if mode == "truncate":
    data = data[: len(data) // 2]
elif mode == "version":
    struct.pack_into("<I", data, 8, 99)
elif mode == "zero-magic":
    data[0:8] = bytes(8)
elif mode == "record-byte":
    off, _ = list(records())[2]
    data[off + 40] ^= 0x5A          # inside a[0]: the checksum must catch it
elif mode == "torn":
    off, seq = list(records())[3]
    struct.pack_into("<Q", data, off, (seq & ~7) | 1)   # writer died while writing
else:
    sys.exit("unknown mode")
open(dst, "wb").write(data)
