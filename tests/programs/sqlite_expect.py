#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The numbers tests/programs/sqlite.sql must print, computed independently."""
from collections import Counter

rows = []
for x in range(1, 100001):
    a = (x * 7919) % 1000
    b = "%d-" % x + "00" * (x % 300)
    if x % 7 == 0:
        b = b + b
    if a % 3 == 0:
        continue
    rows.append((x, a, b))
per_a = Counter(a for _, a, _ in rows)
first = max(rows, key=lambda r: r[2])  # ORDER BY b DESC (b is unique: it starts with id)
print("rows|%d" % len(rows))
print("sum_a|%d" % sum(a for _, a, _ in rows))
print("sum_len|%d" % sum(len(b) for _, _, b in rows))
print("distinct_a|%d" % len(per_a))
print("sum_id|%d" % sum(x for x, _, _ in rows))
print("a_100_199|%d" % sum(1 for _, a, _ in rows if 100 <= a <= 199))
print("group_max|%d" % max(per_a.values()))
print("sorted_first|%d" % first[0])
print("integrity|ok")
