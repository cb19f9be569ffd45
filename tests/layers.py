#!/usr/bin/env python3
"""The preload's modules call only the layers below them (st_preload.h draws the picture).

Usage: layers.py OBJDIR — OBJDIR holds one object per preload/*.c, compiled without LTO
(tests/t_unit.sh makes them). An edge is a symbol one object leaves undefined and another
defines; each must go to a lower layer. Exits 1 and names every edge that goes up or
sideways, or a module missing from the list below (a new file must be given its place).
"""
import os
import subprocess
import sys

# bottom first; the wrappers of one row may not call each other
LAYERS = [
    ["config"],
    ["trace"],
    ["unwind"],
    ["ring"],
    ["record"],
    ["socktab"],
    ["fdtab"],
    ["proc"],
    ["inject"],
    ["init"],
    ["wrap_data", "wrap_mux", "wrap_proc", "wrap_sock"],
    ["wrap_sys"],   # syscall(SYS_socket, ...) goes through the wrappers above
]


def main():
    objdir = sys.argv[1]
    level = {m: i for i, row in enumerate(LAYERS) for m in row}
    defined, undefined = {}, {}
    for f in sorted(os.listdir(objdir)):
        if not f.endswith(".o"):
            continue
        mod = f[:-2]
        out = subprocess.run(["nm", os.path.join(objdir, f)], capture_output=True, text=True,
                             check=True).stdout
        undefined[mod] = set()
        for line in out.splitlines():
            p = line.split()
            if len(p) == 3 and p[1] in "TDBRVWC":
                defined[p[2]] = mod
            elif len(p) == 2 and p[0] == "U":
                undefined[mod].add(p[1])
    bad = 0
    for mod in sorted(undefined):
        if mod not in level:
            print(f"preload/{mod}.c has no layer in tests/layers.py")
            bad += 1
    edges = 0
    for mod, syms in sorted(undefined.items()):
        for s in sorted(syms):
            to = defined.get(s)
            if to is None or to == mod or mod not in level or to not in level:
                continue
            edges += 1
            if level[to] >= level[mod]:
                print(f"{mod}.c -> {to}.c ({s}) goes {'sideways' if level[to] == level[mod] else 'up'}")
                bad += 1
    print(f"{len(undefined)} modules, {edges} edges between them, {bad} wrong")
    if len(undefined) < 10 or edges < 50:
        print("too few modules or edges: the objects were not read")
        return 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
