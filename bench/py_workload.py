# SPDX-License-Identifier: MIT
"""Memory-heavy pure-Python workload for the tidemalloc benchmarks.

Run as:  /usr/bin/python3.11 -I py_workload.py [smoke|quick|full]

Builds and rebuilds an in-memory "database" of objects: records with names,
tag lists and text payloads; dict indexes; word counts; a JSON round trip;
deletion of half the records and regrowth with larger payloads; sorting.
Python's own small-object allocator (pymalloc) serves objects of 512 bytes
or less, so the payloads are mostly larger than that, and the big dicts and
lists (their tables grow with realloc) go to malloc as well.

It checks itself (JSON round trip, index consistency, counts) and exits
with status 1 on a mismatch.  Its output is deterministic: the runner also
compares it with the output under glibc.
"""

import json
import random
import sys
import zlib

SCALES = {"smoke": 0.02, "quick": 0.12, "full": 0.85}

WORDS = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
    "india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa",
    "quebec", "romeo", "sierra", "tango", "uniform", "victor", "whiskey",
    "xray", "yankee", "zulu", "memory", "break", "heap", "mapping", "page",
]


class Record:
    __slots__ = ("rid", "name", "tags", "payload", "score")

    def __init__(self, rid, name, tags, payload, score):
        self.rid = rid
        self.name = name
        self.tags = tags
        self.payload = payload
        self.score = score


def fail(msg):
    print("py_workload: check failed: " + msg, file=sys.stderr)
    sys.exit(1)


CORPUS = ""


def make_payload(rng, lo, hi):
    # a fresh string: a slice of the corpus, so the allocator does the work,
    # not the random number generator
    n = rng.randint(lo, hi)
    start = rng.randrange(len(CORPUS) - n)
    return CORPUS[start : start + n].strip()


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "full"
    if mode not in SCALES:
        print("usage: py_workload.py [smoke|quick|full]", file=sys.stderr)
        sys.exit(64)
    n = max(200, int(120000 * SCALES[mode]))
    rng = random.Random(20240601)
    crc = 0
    global CORPUS
    CORPUS = " ".join(rng.choices(WORDS, k=100000))

    # 1. build the records
    records = []
    for i in range(n):
        name = "user-%07d-%s" % (i, WORDS[i % len(WORDS)] * (1 + i % 3))
        tags = [WORDS[rng.randrange(len(WORDS))] for _ in range(rng.randrange(9))]
        payload = make_payload(rng, 64, 2500)
        records.append(Record(i, name, tags, payload, rng.random()))

    # 2. indexes: by name, by tag (lists grow by append)
    by_name = {}
    by_tag = {}
    for r in records:
        by_name[r.name] = r
        for t in r.tags:
            by_tag.setdefault(t, []).append(r.rid)
    if len(by_name) != n:
        fail("name index has %d entries, expected %d" % (len(by_name), n))
    if sum(len(v) for v in by_tag.values()) != sum(len(r.tags) for r in records):
        fail("tag index lost entries")

    # 3. word counts over all payloads
    counts = {}
    for r in records[::4]:
        for w in r.payload.split():
            counts[w] = counts.get(w, 0) + 1
    total_words = sum(counts.values())
    if total_words != sum(len(r.payload.split(" ")) for r in records[::4]):
        fail("word count mismatch")
    crc = zlib.crc32(repr(sorted(counts.items())).encode(), crc)

    # 4. JSON round trip of a quarter of the records
    docs = [
        {"id": r.rid, "name": r.name, "tags": r.tags, "text": r.payload, "score": r.score}
        for r in records[::4]
    ]
    text = json.dumps(docs)
    back = json.loads(text)
    if back != docs:
        fail("JSON round trip changed the data")
    crc = zlib.crc32(text.encode(), crc)
    del text, back, docs

    # 5. delete half at random, regrow with larger payloads built piecewise
    order = list(range(n))
    rng.shuffle(order)
    for rid in order[: n // 2]:
        r = records[rid]
        del by_name[r.name]
        records[rid] = None
    survivors = [r for r in records if r is not None]
    for i in range(n // 2):
        rid = n + i
        payload = ""
        for _ in range(rng.randint(2, 12)):
            payload += make_payload(rng, 40, 400) + "\n"
        r = Record(rid, "new-%07d" % rid, ["fresh"], payload, rng.random())
        survivors.append(r)
        by_name[r.name] = r
    if len(by_name) != len(survivors):
        fail("name index out of step after deletes: %d vs %d" % (len(by_name), len(survivors)))
    for r in survivors[:: max(1, len(survivors) // 1000)]:
        if by_name[r.name] is not r:
            fail("name index points at the wrong record")

    # 6. sort and summarise
    survivors.sort(key=lambda r: (len(r.payload), r.name))
    for r in survivors[::97]:
        crc = zlib.crc32(r.name.encode(), crc)
        crc = zlib.crc32(r.payload[:64].encode(), crc)
    longest = survivors[-1]
    lines = sum(r.payload.count("\n") for r in survivors)
    print(
        "py_workload ok: %d records, %d words, %d survivors, %d lines, longest %s (%d), crc %08x"
        % (n, total_words, len(survivors), lines, longest.name, len(longest.payload), crc)
    )


if __name__ == "__main__":
    main()
