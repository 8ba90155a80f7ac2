#!/usr/bin/python3
"""Copies a QEMU >= 7.2 ELF dump so that makedumpfile 1.7.2 can read it.

makedumpfile 1.7.2 assumes the program headers start right after the ELF header; QEMU 7.2
puts one section header there first. The copy moves the program header table to offset 64
(it fits: the old section header and table occupied at least as much room) and drops the
section header. Page data stays at the same offsets. Not for PN_XNUM files.
"""
import struct
import subprocess
import sys


def main(src: str, dst: str) -> None:
    with open(src, "rb") as f:
        head = f.read(1 << 20)
    if head[:4] != b"\x7fELF" or head[4] != 2:
        sys.exit(f"normalize_elf: {src}: not an ELF64 file")
    phoff, shoff = struct.unpack_from("<QQ", head, 32)
    phentsize, phnum, shentsize, shnum = struct.unpack_from("<HHHH", head, 54)
    if phnum == 0xFFFF:
        sys.exit(f"normalize_elf: {src}: PN_XNUM files are not supported")
    table = head[phoff:phoff + phentsize * phnum]
    # A sparse copy: the source's zero pages are holes (make-guest-dump.sh), keep them so.
    subprocess.run(["cp", "--sparse=always", src, dst], check=True)
    if phoff == 64:
        return
    with open(dst, "r+b") as g:
        g.seek(32)
        g.write(struct.pack("<QQ", 64, 0))  # e_phoff, e_shoff
        g.seek(60)
        g.write(struct.pack("<HH", 0, 0))  # e_shnum, e_shstrndx
        g.seek(64)
        g.write(table)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
