#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write a deterministic tree of files for the git test.
usage: gitfiles.py DIR ROUND   (ROUND 0 creates 3000 files; ROUND n>0
rewrites 300 of them, a different 300 each round).  Prints the number of
files it wrote."""
import os
import random
import sys

root, rnd = sys.argv[1], int(sys.argv[2])
words = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november "
         "oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu").split()


def content(i, r):
    g = random.Random(i * 1000 + r)
    n = g.choice((3, 10, 40, 200, 800))
    lines = ["file %d round %d" % (i, r)]
    for k in range(n):
        lines.append(" ".join(g.choice(words) for _ in range(g.randint(1, 12))) + " %d" % (k * i % 977))
    return "\n".join(lines) + "\n"


def path(i):
    return os.path.join(root, "dir%02d" % (i % 30), "sub%d" % (i % 7), "file%04d.txt" % i)


count = 0
for i in range(3000):
    if rnd > 0 and (i * 7 + rnd) % 10 != 0:
        continue
    p = path(i)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "w") as f:
        f.write(content(i, rnd))
    count += 1
print(count)
