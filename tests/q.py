#!/usr/bin/env python3
"""Query `socktrace dump --json` output for the tests.

  q.py count  [key=value ...]          number of records matching every filter
  q.py values KEY [key=value ...]      KEY of each matching record, one per line
  q.py check-schema                    every record has the documented keys and types

Keys may reach into objects with dots (args.domain). A value of * matches any present key.
Records are read from standard input."""
import json
import sys


def get(rec, key):
    cur = rec
    for part in key.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return KeyError
        cur = cur[part]
    return cur


def fmt(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return json.dumps(v, separators=(",", ":"))
    return str(v)


def matches(rec, filters):
    for f in filters:
        key, _, want = f.partition("=")
        v = get(rec, key)
        if v is KeyError or (want != "*" and fmt(v) != want):
            return False
    return True


def main():
    recs = [json.loads(line) for line in sys.stdin if line.strip()]
    cmd = sys.argv[1]
    if cmd == "count":
        print(sum(1 for r in recs if matches(r, sys.argv[2:])))
    elif cmd == "values":
        for r in recs:
            if matches(r, sys.argv[3:]):
                print(fmt(get(r, sys.argv[2])))
    elif cmd == "check-schema":
        types = {"pid": int, "tid": int, "ts_ns": int, "call": str, "fd": int,
                 "args": dict, "frames": list, "complete": bool}
        for r in recs:
            for k, t in types.items():
                if not isinstance(r.get(k), t):
                    sys.exit(f"record lacks {k} of type {t.__name__}: {r}")
            if "ret" not in r or "errno" not in r:
                sys.exit(f"record lacks ret/errno: {r}")
            if r["complete"] and not isinstance(r["ret"], int):
                sys.exit(f"complete record without ret: {r}")
            if r["errno"] is not None and not r["errno"].startswith("E"):
                sys.exit(f"errno not symbolic: {r}")
            for f in r["frames"]:
                int(f, 16)
        print(len(recs))
    else:
        sys.exit("unknown command " + cmd)


try:
    main()
except BrokenPipeError:
    sys.exit(0)
