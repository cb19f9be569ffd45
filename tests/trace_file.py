#!/usr/bin/env python3
"""The trace-file format (include/socktrace_format.h, version 2) for test scripts that need
to look inside or damage a trace: header fields, current spans, records and their words."""
import struct

BLOCK = 1024
VOID = (1 << 64) - 1
KIND_WRITING, KIND_ENTERED, KIND_COMPLETE, KIND_EXIT = 0, 1, 2, 3

HDR = [("version", 8, "I"), ("hdr_size", 12, "I"), ("layout", 16, "Q"), ("file_size", 24, "Q"),
       ("size_arg", 32, "Q"), ("proc_off", 40, "Q"), ("pidx_off", 48, "Q"), ("sock_off", 56, "Q"),
       ("modf_off", 64, "Q"), ("modi_off", 72, "Q"), ("btab_off", 80, "Q"), ("ring_off", 88, "Q"),
       ("nproc", 96, "I"), ("nsock", 100, "I"), ("nmodf", 104, "I"), ("nmodi", 108, "I"),
       ("nblocks", 112, "I"), ("flags", 116, "I"), ("tsc_hz", 128, "Q"), ("head", 192, "Q"),
       ("proc_next", 256, "Q"), ("lost_calls", 384, "Q"), ("lost_exits", 392, "Q"),
       ("dropped", 400, "Q"), ("skipped", 408, "Q")]


class Span:
    def __init__(self, pos, off, size, proc, tid, nrec, nexit):
        self.pos, self.off, self.size, self.proc, self.tid = pos, off, size, proc, tid
        self.nrec, self.nexit = nrec, nexit


class Trace:
    def __init__(self, path):
        self.data = bytearray(open(path, "rb").read())
        self.h = {name: struct.unpack_from("<" + f, self.data, off)[0] for name, off, f in HDR}
        self.ring_off = self.h["ring_off"]
        self.ring_bytes = self.h["nblocks"] * BLOCK

    def btab(self, b):
        return struct.unpack_from("<Q", self.data, self.h["btab_off"] + 8 * b)[0]

    def spans(self):
        """Current spans, in stream order."""
        out, b = [], 0
        while b < self.h["nblocks"]:
            p = self.btab(b)
            if p in (0, VOID) or p % BLOCK or (p % self.ring_bytes) // BLOCK != b:
                b += 1
                continue
            pos, size, proc, tid, _ret, nrec, nexit = struct.unpack_from(
                "<QIIIIII", self.data, self.ring_off + b * BLOCK)
            if pos != p or size < BLOCK or size % BLOCK:
                b += 1
                continue
            out.append(Span(pos, b * BLOCK, size, proc, tid, nrec, nexit))
            b += size // BLOCK
        return sorted(out, key=lambda s: s.pos)

    def records(self):
        """(file offset, word, kind, call) of every record of every current span."""
        for sp in self.spans():
            off = 64
            for _ in range(sp.nrec):
                at = self.ring_off + sp.off + off
                w, = struct.unpack_from("<Q", self.data, at)
                length = (w >> 16) & 0xffff
                if (w >> 32) != ((sp.pos + off) >> 3) & 0xffffffff or length < 64:
                    break
                yield at, w, w & 0xff, self.data[at + 32]
                off += length

    def save(self, path):
        open(path, "wb").write(self.data)
