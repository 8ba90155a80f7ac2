#!/usr/bin/python3
"""Compares the dumped-PFN sets (2nd bitmaps) of two kdump-compressed files.

Written from the diskdump layout (header block, sub header, 1st bitmap, 2nd bitmap), not from
guestdump's code. Usage:
  bitmap_compare.py OURS THEIRS [--label TEXT] [--json FILE]
Exit 0 if the sets of PFNs in both 2nd bitmaps are identical (within the common RAM), 1 with a
one-line reason and the first differing PFNs otherwise, 2 on bad input.
Prints one line: "<label>: dumped ours=N theirs=M ram=R identical" (or "DIFFER ...").
"""

import argparse
import json
import struct
import sys

SIGNATURES = (b"KDUMP   ", b"DISKDUMP")


def read_bitmaps(path):
    with open(path, "rb") as f:
        head = f.read(4096)
        if head[:8] not in SIGNATURES:
            raise SystemExit(f"bitmap_compare: {path}: not a kdump-compressed file (flattened?)")
        # disk_dump_header (x86_64): block_size @428, sub_hdr_size @432, bitmap_blocks @436,
        # max_mapnr (32-bit) @440; kdump_sub_header max_mapnr_64 @96 from version 6.
        block_size, sub_hdr_size, bitmap_blocks, max_mapnr = struct.unpack_from("<iiII", head, 428)
        header_version, = struct.unpack_from("<i", head, 8)
        if block_size <= 0 or block_size & (block_size - 1) or bitmap_blocks % 2:
            raise SystemExit(f"bitmap_compare: {path}: implausible header")
        if header_version >= 6:
            f.seek(block_size + 96)
            max_mapnr, = struct.unpack("<Q", f.read(8))
        half = bitmap_blocks // 2 * block_size
        f.seek((1 + sub_hdr_size) * block_size)
        bm1 = f.read(half)
        bm2 = f.read(half)
        if len(bm2) != half:
            raise SystemExit(f"bitmap_compare: {path}: bitmaps run past the end of the file")
    return max_mapnr, bm1, bm2


def popcount(b):
    return int.from_bytes(b, "little").bit_count()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ours")
    ap.add_argument("theirs")
    ap.add_argument("--label", default="")
    ap.add_argument("--json")
    a = ap.parse_args()
    n1, ram1, bm1 = read_bitmaps(a.ours)
    n2, ram2, bm2 = read_bitmaps(a.theirs)
    nbytes = (min(n1, n2) + 7) // 8
    ram = popcount(bytes(x & y for x, y in zip(ram1[:nbytes], ram2[:nbytes])))
    ours = popcount(bm1[:nbytes])
    theirs = popcount(bm2[:nbytes])
    # Bits past the common length must be clear in both.
    extra = popcount(bm1[nbytes:]) + popcount(bm2[nbytes:])
    x = int.from_bytes(bm1[:nbytes], "little") ^ int.from_bytes(bm2[:nbytes], "little")
    diffs = []
    pfn = 0
    while x and len(diffs) < 10:
        low = (x & -x).bit_length() - 1
        diffs.append(low)
        x &= x - 1
    ndiff = popcount((int.from_bytes(bm1[:nbytes], "little") ^
                      int.from_bytes(bm2[:nbytes], "little")).to_bytes(nbytes, "little"))
    label = a.label or f"{a.ours} vs {a.theirs}"
    result = {"label": label, "ours": ours, "theirs": theirs, "ram": ram, "differ": ndiff,
              "extra": extra}
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f)
    if ndiff == 0 and extra == 0:
        print(f"{label}: dumped ours={ours} theirs={theirs} ram={ram} identical")
        return 0
    only_ours = [p for p in diffs if bm1[p >> 3] >> (p & 7) & 1]
    only_theirs = [p for p in diffs if not bm1[p >> 3] >> (p & 7) & 1]
    print(f"{label}: dumped ours={ours} theirs={theirs} ram={ram} DIFFER in {ndiff} PFNs "
          f"(+{extra} past the end); first only ours: {[hex(p) for p in only_ours]}, "
          f"only theirs: {[hex(p) for p in only_theirs]}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
