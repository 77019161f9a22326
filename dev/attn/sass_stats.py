#!/usr/bin/env python3
"""Reads `cuobjdump -sass` on stdin; prints per kernel the counts of the instructions that tell
whether the matrix path is the intended one and whether registers spilled."""
import re
import sys

OPS = ["HMMA", "HGMMA", "LDSM", "LDGSTS", "LDL", "STL", "BAR", "MUFU.EX2", "REDG", "SHFL"]
name, counts = None, {}
rows = []
for line in sys.stdin:
    m = re.search(r"Function : (\S+)", line)
    if m:
        if name:
            rows.append((name, counts))
        name, counts = m.group(1), {op: 0 for op in OPS}
        continue
    if name:
        m = re.search(r"/\*[0-9a-f]{4,}\*/\s+(?:@!?U?P\w+\s+)?([A-Z][A-Z0-9_.]*)", line)
        if m:
            op = m.group(1)
            for k in OPS:
                if op == k or op.startswith(k + "."):
                    counts[k] += 1
if name:
    rows.append((name, counts))
print("kernel " + " ".join(OPS))
for n, c in rows:
    print(n, " ".join(f"{k}={c[k]}" for k in OPS))
