#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the seed corpus of fuzz/harness.c into fuzz/corpus/, and
harness-corrupt's own seeds (which also write over memory) into
fuzz/corpus-corrupt/.

Each seed is a small program in the harness's input language (see the
comment at the top of fuzz/harness.c).  Run from anywhere:
    python3 fuzz/mkcorpus.py
The output is deterministic; the files are committed.
"""
import os
import random

OPS = ["malloc", "calloc", "realloc", "free", "aligned", "posix", "memalign",
       "usable", "trim", "remote_free", "remote_alloc", "swap", "free_sized",
       "option", "check_all", "realloc_same", "free_null", "burst"]
OP = {name: i for i, name in enumerate(OPS)}


def size(n):
    """Encode an exact size as (selector, 16-bit value) bytes."""
    if n <= 48:
        sel, v = 0, n
    elif n <= 1024:
        sel, v = 1, n
    elif n <= 16384:
        sel, v = 2, n
    elif n % 2 == 0 and n <= 131070:
        sel, v = 3, n // 2
    elif n % 16 == 0 and n < (1 << 20):
        sel, v = 5, n // 16
    elif n % 64 == 0 and n < (4 << 20):
        sel, v = 7, n // 64  # v % 64 is added: keep v a multiple of 64
        if v % 64 or v >= 65536:
            raise ValueError(n)
    else:
        raise ValueError("size %d has no exact encoding" % n)
    return bytes([sel, v & 0xFF, v >> 8])


def near_threshold(delta):   # 128 KiB - 256 + delta (0..511)
    return bytes([4, delta & 0xFF, delta >> 8])


def near_segment(delta):     # 4032 KiB - 512 + delta (0..1023)
    return bytes([6, delta & 0xFF, delta >> 8])


def align(a):
    k = a.bit_length() - 1
    if 4 <= k <= 12:
        return bytes([k - 4])
    if 13 <= k <= 22:
        return bytes([0xF0 + (k - 13)])
    raise ValueError(a)


def op(name, slot=0, *args):
    out = bytes([OP[name], slot])
    for a in args:
        out += a if isinstance(a, bytes) else bytes([a])
    return out


def seeds():
    s = {}
    # 1. small blocks of many classes, freed in order
    b = b""
    for i, n in enumerate([0, 1, 8, 16, 17, 24, 32, 48, 100, 128, 129, 256, 500, 1000, 1024]):
        b += op("malloc", i, size(n))
    for i in range(15):
        b += op("free", i)
    s["small-classes"] = b

    # 2. one block grown by realloc through every range, then shrunk
    b = op("malloc", 1, size(24))
    for n in [100, 1000, 5000, 60000, 131070, 262144, 1 << 20, 2 << 20, (4 << 20) - 4096,
              1 << 20, 200000, 70000, 4000, 40, 1]:
        b += op("realloc", 1, size(n) if n != 200000 else size(200000))
    b += op("realloc", 1, size(0))
    s["realloc-ladder"] = b

    # 3. realloc back and forth across the mmap threshold
    b = op("malloc", 2, near_threshold(200))
    for d in [300, 100, 511, 0, 256, 255, 257]:
        b += op("realloc", 2, near_threshold(d))
    b += op("realloc", 2, size(3 << 20 & ~63)) + op("realloc", 2, near_threshold(10))
    b += op("free", 2)
    s["realloc-threshold"] = b

    # 4. calloc of every range (zeroes checked)
    b = b""
    for i, n in enumerate([0, 16, 1000, 4096, 65536, 131070, 262144, 1 << 20, 3 << 20]):
        b += op("calloc", i, size(n), 3 + i)
    b += op("free", 4) + op("free", 6) + op("calloc", 4, size(65536), 0) + op("calloc", 6, size(1 << 20), 7)
    s["calloc"] = b

    # 5. aligned allocations, small and huge alignments
    b = b""
    slot = 0
    for a in [16, 32, 64, 256, 4096, 8192, 65536, 1 << 20, 4 << 20]:
        for kind, n in [("aligned", min(a * 2, 2 << 20)), ("posix", 100), ("memalign", 70000)]:
            b += op(kind, slot % 64, align(a), size(n))
            slot += 1
    b += op("check_all")
    for i in range(0, slot, 2):
        b += op("free", i)
    s["aligned"] = b

    # 6. malloc_usable_size: write all of it, then realloc in place
    b = b""
    for i, n in enumerate([1, 17, 100, 1000, 3000, 20000, 131070, 300000]):
        b += op("malloc", i, size(n)) + op("usable", i) + op("realloc_same", i)
    s["usable"] = b

    # 7. cross-thread frees and blocks allocated by the other thread
    b = b""
    for i in range(32):
        b += op("malloc", i, size(16 * (i + 1)))
    for i in range(0, 32, 2):
        b += op("remote_free", i)
    for i in range(0, 32, 2):
        b += op("remote_alloc", i, size(48 + i * 100))
    b += op("check_all")
    for i in range(32):
        b += op("free", i)
    b += op("remote_alloc", 40, size(1 << 20)) + op("realloc", 40, size(100)) + op("free", 40)
    s["cross-thread"] = b

    # 8. bursts that fill and empty pages, some freed remotely
    b = b""
    for count, n, order in [(64, 16, 0), (63, 1024, 1), (40, 8000, 2), (20, 65536, 4), (64, 48, 6)]:
        b += op("burst", count - 1, size(n), order)
    s["bursts"] = b

    # 9. free everything, trim, start again with purge at once
    b = op("option", 0)
    for i in range(48):
        b += op("malloc", i, size(2000 + 500 * i))
    for i in range(48):
        b += op("free", i)
    b += op("trim", 1) + op("trim", 0)
    for i in range(8):
        b += op("malloc", i, size(100000)) + op("malloc", i + 8, size(16))
    b += op("trim", 1) + op("check_all")
    s["trim"] = b

    # 10. sizes around the largest heap block (63 slices)
    b = b""
    for i, d in enumerate([0, 511, 512, 513, 1023]):
        b += op("malloc", i, near_segment(d))
    b += op("realloc", 0, near_segment(600)) + op("realloc", 1, size(100))
    b += op("posix", 10, align(1 << 16), near_segment(400))
    s["segment-limit"] = b

    # 11. options changed in the middle
    b = op("option", 3)
    for i in range(10):
        b += op("malloc", i, size(70000 + i * 16))
    b += op("option", 4) + op("realloc", 0, size(500000)) + op("option", 5) + op("option", 1)
    for i in range(10):
        b += op("free", i)
    b += op("trim", 0)
    s["options"] = b

    # 12. swaps, sized frees, checks
    b = b""
    for i in range(10):
        b += op("aligned", i, align(64), size(64 * (i + 1)))
    b += op("swap", 0, 9) + op("swap", 3, 4) + op("check_all")
    for i in range(10):
        b += op("free_sized", i)
    b += op("free_null") + op("free_sized", 5)
    s["sized-free"] = b

    # 13. big blocks freed, then calloc'ed again: a mapping kept for reuse
    # must be zeroed.  Freeing a 4 MiB block raises the mmap threshold;
    # blocks a little smaller, too big for a segment (over 63 slices), are
    # then kept in the cache of mappings when freed.
    big = bytes([7, 0xFF, 0xFF])   # 65535 * 64 % 4 MiB + 63 = 4 MiB - 1
    mid = near_segment(1000)       # 4032 KiB + 488: just over 63 slices
    b = op("malloc", 0, big) + op("free", 0)
    b += op("malloc", 1, mid) + op("free", 1) + op("calloc", 2, mid, 0) + op("usable", 2)
    b += op("malloc", 3, mid) + op("free", 2) + op("free", 3) + op("calloc", 4, mid, 0)
    b += op("realloc", 4, size(100)) + op("calloc", 5, mid, 0)
    s["calloc-reused-mapping"] = b

    # 14. a long random mix
    rnd = random.Random(20240601)
    b = b""
    for _ in range(300):
        name = rnd.choice(OPS)
        b += bytes([OP[name], rnd.randrange(16)]) + bytes(rnd.randrange(256) for _ in range(5))
    s["random-mix"] = b
    return s


# harness-corrupt's operations follow the others (harness.c, FUZZ_CORRUPT).
CORRUPT_OP = {"smash_freed": len(OPS), "smash_near": len(OPS) + 1, "forge": len(OPS) + 2}


def smash_freed(which, off, value):
    """A word (off < 0x80: at off rounded down to 8) or, in secure mode, a
    byte (off | 0x80) of the which-th last freed block."""
    return bytes([CORRUPT_OP["smash_freed"], which, off]) + value.to_bytes(8, "little")


def smash_near(slot, where, value):
    """where bit 0: past the usable bytes, else below; bit 1 (secure): one
    byte; bits 2..4: which word; bits 5..7: which byte."""
    return bytes([CORRUPT_OP["smash_near"], slot, where]) + value.to_bytes(8, "little")


def forge(a, b, slot):
    return bytes([CORRUPT_OP["forge"], a, b, slot])


def corrupt_seeds():
    s = {}
    rnd = random.Random(20261202)
    # a word, then a byte, into freed blocks that are then reused
    for kind, off in (("word", 0), ("key", 8), ("byte", 0x80), ("byte-key", 0x88)):
        b = b""
        for i in range(8):
            b += op("malloc", i, size(100))
        for i in range(4):
            b += op("free", i)
        for w in range(4):
            b += smash_freed(w, off, rnd.getrandbits(64))
        b += op("trim", 1)  # the quarantine flushed: the blocks are on lists
        for w in range(4):
            b += smash_freed(w, off, rnd.getrandbits(64))
        for i in range(8, 40):
            b += op("malloc", i, size(100))
        s["freed-" + kind] = b
    # past and below live blocks of a class: the neighbour, the canary
    b = b""
    for i in range(6):
        b += op("malloc", i, size(24 + 16 * i))
    for i in range(6):
        b += smash_near(i, 1 if i % 2 else 0, rnd.getrandbits(64))
        b += smash_near(i, 3, rnd.getrandbits(64))
    for i in range(6):
        b += op("free", i)
    s["near-small"] = b
    # a big block's header below it and the bytes past its end
    b = op("malloc", 0, size(1000000)) + op("malloc", 1, size(262144))
    for where in (0, 1, 4 * 7, 4 * 7 + 1, 2, 3):
        b += smash_near(0, where, rnd.getrandbits(64)) + smash_near(1, where, rnd.getrandbits(64))
    b += op("realloc", 0, size(64 * 64 * 500)) + op("free", 0) + op("free", 1)
    s["near-big"] = b
    # a forged link to a live block (secure mode)
    b = b""
    for i in range(12):
        b += op("malloc", i, size(100))
    for i in range(8):
        b += op("free", i)
    b += op("trim", 1)
    for a in range(4):
        b += forge(a, a + 1, 10)
    for i in range(12, 60):
        b += op("malloc", i, size(100))
    s["forge-live"] = b
    # remote frees, then their blocks written
    b = b""
    for i in range(8):
        b += op("malloc", i, size(48))
    for i in range(8):
        b += op("remote_free", i)
    b += op("check_all")
    for w in range(8):
        b += smash_freed(w, 0, rnd.getrandbits(64))
    for i in range(8, 30):
        b += op("malloc", i, size(48))
    s["remote-freed"] = b
    return s


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    for sub, made in (("corpus", seeds()), ("corpus-corrupt", corrupt_seeds())):
        out = os.path.join(here, sub)
        os.makedirs(out, exist_ok=True)
        for name, data in made.items():
            with open(os.path.join(out, name), "wb") as f:
                f.write(data)
            print("%-20s %5d bytes" % (sub + "/" + name, len(data)))


if __name__ == "__main__":
    main()
