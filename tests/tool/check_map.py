# SPDX-License-Identifier: MIT
"""Checks `tide map` output against /proc/PID/maps.

usage: check_map.py text MAPS_FILE TEXT_FILE
       check_map.py svg  MAPS_FILE SVG_FILE

The boxes of the picture must cover exactly the mapped address space: their
union, as intervals, equals the union of the lines of /proc/PID/maps, and no
two boxes overlap.  Prints nothing and exits 0 when that holds; otherwise
prints one line saying what is wrong and exits 1.
"""
import re
import sys
import xml.etree.ElementTree as ET


def union(intervals):
    out = []
    for s, e in sorted(intervals):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [tuple(x) for x in out]


def maps_intervals(path):
    res = []
    with open(path) as f:
        for line in f:
            a, b = line.split()[0].split("-")
            res.append((int(a, 16), int(b, 16)))
    return res


def text_boxes(path):
    """Boxes are the spans between consecutive border lines with no fold between."""
    boxes, prev, lines = [], None, open(path).read().splitlines()
    for line in lines:
        m = re.match(r"^\+-+\+ 0x([0-9a-f]+)$", line)
        if m:
            addr = int(m.group(1), 16)
            if prev is not None:
                boxes.append((addr, prev))
            prev = addr
        elif line.startswith("~"):
            prev = None
    return boxes


def svg_boxes(path):
    tree = ET.parse(path)  # raises on malformed XML
    boxes = []
    for g in tree.iter("{http://www.w3.org/2000/svg}g"):
        if g.get("class") == "region":
            boxes.append((int(g.get("data-start"), 16), int(g.get("data-end"), 16)))
    return boxes


def main():
    kind, maps_path, pic = sys.argv[1:4]
    boxes = text_boxes(pic) if kind == "text" else svg_boxes(pic)
    if not boxes:
        print("no boxes found in the picture")
        return 1
    for s, e in boxes:
        if s >= e:
            print(f"empty or inverted box {s:#x}-{e:#x}")
            return 1
    sb = sorted(boxes)
    for (s1, e1), (s2, e2) in zip(sb, sb[1:]):
        if s2 < e1:
            print(f"boxes overlap: {s1:#x}-{e1:#x} and {s2:#x}-{e2:#x}")
            return 1
    want, got = union(maps_intervals(maps_path)), union(boxes)
    if want != got:
        missing = [f"{s:#x}-{e:#x}" for s, e in want if (s, e) not in got][:3]
        extra = [f"{s:#x}-{e:#x}" for s, e in got if (s, e) not in want][:3]
        print(f"boxes do not match the maps: maps-only {missing}, boxes-only {extra}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
