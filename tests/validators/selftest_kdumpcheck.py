#!/usr/bin/python3
"""Negative tests for kdumpcheck.py: corrupt copies of a (small!) known-good kdump file and its
ELF source and check that `kdumpcheck.py pages` notices every corruption.

usage: selftest_kdumpcheck.py DUMP SOURCE.elf   (DUMP = plain, non-flattened x86_64 kdump)

The source is copied once per source mutation, so keep it small (e.g. a 64 MiB QEMU guest).
"""

import os
import shutil
import struct
import subprocess
import sys
import tempfile

CHECK = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'kdumpcheck.py')
ZLIB, LZO, SNAPPY, ZSTD = 1, 2, 4, 0x20


def run_pages(dump, source, *extra):
    proc = subprocess.run([sys.executable, CHECK, 'pages', dump, '--source', source, *extra],
                          capture_output=True, text=True, check=False)
    return proc.returncode, (proc.stdout + proc.stderr).strip()


class Kdump:
    """Just enough of the x86_64 diskdump layout to find bitmaps and page descriptors."""

    def __init__(self, path):
        with open(path, 'rb') as f:
            head = f.read(464)
            assert head[:8] == b'KDUMP   ', 'not a plain kdump file'
            self.block_size, sub_hdr_size, bitmap_blocks = struct.unpack_from('<iiI', head, 428)
            self.bitmap1 = (1 + sub_hdr_size) * self.block_size
            self.bitmap_len = bitmap_blocks // 2 * self.block_size
            self.bitmap2 = self.bitmap1 + self.bitmap_len
            f.seek(self.bitmap1)
            first = f.read(self.bitmap_len)
            second = f.read(self.bitmap_len)
            self.descs_at = (1 + sub_hdr_size + bitmap_blocks) * self.block_size
            ndumpable = int.from_bytes(second, 'little').bit_count()
            f.seek(self.descs_at)
            raw = f.read(24 * ndumpable)
        self.holes = [i for i in range(len(first) * 8) if not first[i >> 3] >> (i & 7) & 1]
        self.pfns = [i for i in range(len(second) * 8) if second[i >> 3] >> (i & 7) & 1]
        self.descs = [struct.unpack_from('<qIIQ', raw, 24 * i) for i in range(ndumpable)]

    def find(self, predicate):
        for pfn, desc in zip(self.pfns, self.descs):
            if predicate(desc):
                return pfn, desc
        return None, None


def flip(path, offset):
    with open(path, 'r+b') as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x5A]))


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    dump, source = sys.argv[1:]
    rc, out = run_pages(dump, source)
    print(f'baseline: rc={rc} {out}')
    if rc != 0:
        return 1
    kd = Kdump(dump)
    page_size = kd.block_size
    failures = 0
    with tempfile.TemporaryDirectory(prefix='kdumpcheck-selftest-') as tmp:
        def expect_fail(name, mutate_dump=None, mutate_source=None, extra=()):
            nonlocal failures
            d, s = dump, source
            if mutate_dump:
                d = os.path.join(tmp, 'dump')
                shutil.copyfile(dump, d)
                mutate_dump(d)
            if mutate_source:
                s = os.path.join(tmp, 'source.elf')
                shutil.copyfile(source, s)
                mutate_source(s)
            rc, out = run_pages(d, s, *extra)
            verdict = 'ok (failed as expected)' if rc == 1 else 'NOT DETECTED'
            failures += rc != 1
            print(f'{name}: {verdict}\n    {out.splitlines()[-1] if out else ""}')

        codecs = ZLIB | LZO | SNAPPY | ZSTD
        pfn, desc = kd.find(lambda d: d[2] & codecs and d[1] > 16)
        if desc:
            expect_fail(f'flip byte in compressed page pfn {pfn:#x} (flags {desc[2]:#x})',
                        lambda p: flip(p, desc[0] + desc[1] // 2))
        pfn, desc = kd.find(lambda d: d[2] == 0)
        if desc:
            expect_fail(f'flip byte in raw page pfn {pfn:#x} at {desc[0]:#x}',
                        lambda p: flip(p, desc[0] + 100))
        # a page with non-zero content in the source, flipped in the source ELF
        sys.path.insert(0, os.path.dirname(CHECK))
        from kdumpcheck import ElfCore
        elf = ElfCore(source)
        target = next((pfn for pfn in kd.pfns
                       if any(elf.read_phys(pfn * page_size, page_size))), None)
        if target is not None:
            expect_fail(f'flip byte in source at pfn {target:#x}',
                        mutate_source=lambda p: flip(p, source_offset(elf, target * page_size)))
        first_ram = kd.pfns[0]
        expect_fail(f'clear 1st-bitmap bit of pfn {first_ram:#x}',
                    lambda p: flip_bit(p, kd.bitmap1, first_ram))
        if kd.holes:
            hole = kd.holes[len(kd.holes) // 2]
            expect_fail(f'set 1st-bitmap bit of non-RAM pfn {hole:#x}',
                        lambda p: flip_bit(p, kd.bitmap1, hole))
        expect_fail('--min-dumped above the dumped count', extra=('--min-dumped',
                                                                  str(len(kd.pfns) + 1)))
        expect_fail('truncate the dump by one page',
                    lambda p: os.truncate(p, os.path.getsize(p) - page_size))
        pair = next((i for i in range(len(kd.descs) - 1)
                     if kd.descs[i][0] != kd.descs[i + 1][0]), None)
        if pair is not None:
            expect_fail(f'swap page descriptors of pfns {kd.pfns[pair]:#x}/{kd.pfns[pair + 1]:#x}',
                        lambda p: swap_descs(p, kd.descs_at + 24 * pair))
    print('selftest:', 'PASS' if failures == 0 else f'{failures} corruptions NOT detected')
    return 0 if failures == 0 else 1


def source_offset(elf, addr):
    for paddr, _, off, filesz, _ in elf.loads:
        if paddr <= addr < paddr + filesz:
            return off + addr - paddr + 7
    raise ValueError(f'{addr:#x} not backed by file data')


def flip_bit(path, bitmap_offset, pfn):
    with open(path, 'r+b') as f:
        f.seek(bitmap_offset + pfn // 8)
        byte = f.read(1)[0] ^ (1 << (pfn % 8))
        f.seek(bitmap_offset + pfn // 8)
        f.write(bytes([byte]))


def swap_descs(path, at):
    with open(path, 'r+b') as f:
        f.seek(at)
        pair = f.read(48)
        f.seek(at)
        f.write(pair[24:] + pair[:24])


if __name__ == '__main__':
    sys.exit(main())
