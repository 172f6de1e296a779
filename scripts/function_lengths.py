#!/usr/bin/env python3
"""Lists the functions of cellsim's own C++ code longer than a bound.

A function is a definition whose opening line starts at column 0 (or two
spaces in for in-class members) and ends with `{`, up to the matching `}` at
the same indentation. Tests, fuzzers and generated code are not counted. A
function may be longer when the line before it says why:
`// long-function: REASON`.

  scripts/function_lengths.py [--max N] [--check] [ROOT]

--check exits 1 when a function over the bound has no stated reason.
"""
import argparse
import os
import re
import sys

SKIP_DIRS = {"tests", "fuzz", "build", ".git", "third_party", "out"}
START = re.compile(r"^( {0,2})[A-Za-z_][\w:<>,\s\*&~\[\]]*\([^;]*$")


def functions(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        m = START.match(line)
        if not m or line.lstrip().startswith(("return", "if", "for", "while", "switch", "#", "//")):
            i += 1
            continue
        indent = m.group(1)
        # The header may span lines until `{` (a definition) or `;` (a declaration).
        j = i
        while j < len(lines) and not lines[j].rstrip().endswith("{") and ";" not in lines[j]:
            j += 1
        if j >= len(lines) or not lines[j].rstrip().endswith("{") or j - i > 8:
            i += 1
            continue
        end = j + 1
        closing = indent + "}"
        while end < len(lines) and not (lines[end].startswith(closing) and
                                        (len(lines[end]) == len(closing) or
                                         lines[end][len(closing)] in " ;/")):
            end += 1
        if end >= len(lines):
            i += 1
            continue
        reason = i > 0 and "long-function:" in lines[i - 1]
        name = line.strip().split("(")[0].split()[-1] if "(" in line else line.strip()
        yield name, i + 1, end - i + 1, reason
        i = end + 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--max", type=int, default=70)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("root", nargs="?", default=".")
    a = ap.parse_args()
    over = []
    for dirpath, dirnames, filenames in os.walk(a.root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("build"))
        for fn in sorted(filenames):
            if not fn.endswith((".cc", ".h")) or fn.endswith(".pb.h") or fn.endswith(".pb.cc"):
                continue
            path = os.path.join(dirpath, fn)
            for name, line, n, reason in functions(path):
                if n > a.max:
                    over.append((n, os.path.relpath(path, a.root), line, name, reason))
    over.sort(reverse=True)
    for n, path, line, name, reason in over:
        print(f"{n:5d} {path}:{line} {name}{'  (reason stated)' if reason else ''}")
    unexplained = [o for o in over if not o[4]]
    print(f"{len(over)} functions over {a.max} lines, {len(unexplained)} without a stated reason")
    return 1 if a.check and unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
