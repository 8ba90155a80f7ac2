#!/usr/bin/python3
"""Independent validators for guestdump's kdump-compressed output.

Everything here uses other people's readers (libkdumpfile, drgn, crash) plus a small ELF core
parser written from the ELF specification; nothing is shared with the C++ code under test.
Run with /usr/bin/python3: the Debian modules `kdumpfile` and `drgn` are only installed there.

Subcommands (exit 0 = pass, 1 = fail with a one-line reason on stderr, 2 = usage error):
  pages DUMP --source SRC.elf [--expect-excluded-zero] [--min-dumped N]
      Every page dumped in DUMP (libkdumpfile's file.pagemap) must equal the same physical
      page of SRC.elf; memory.pagemap must be exactly the PT_LOAD page coverage of SRC.elf.
  drgn DUMP
      drgn opens DUMP as a Linux kernel core and reads utsname.release through the kernel VA
      SYMBOL(init_uts_ns) + OFFSET(uts_namespace.name); it must equal VMCOREINFO OSRELEASE.
  info DUMP
      libkdumpfile's view of DUMP as one JSON object.
  crash-osrelease DUMP EXPECTED
      `crash --osrelease DUMP` must print EXPECTED.
  xc-pages XC --source SRC.elf
      A Xen xc_core file (tests/fixtures/make-xc-core.py) read through libkdumpfile's
      `xc_core_elf` reader: every RAM page of SRC.elf must read back equal, at its PFN (HVM,
      .xen_pfn) or at the machine frame its .xen_p2m entry names (PV); the index (parsed here
      from the section headers) must list exactly SRC.elf's RAM pages plus ~0 entries, and a
      PFN outside RAM must not be readable.
  elf SRC
      This script's own view of an ELF core (header, PT_LOADs, notes) as JSON; used to check
      the synthetic cores of tests/support/elf_core_builder.
"""

import argparse
import bisect
import json
import mmap
import os
import re
import signal
import struct
import subprocess
import sys
import time

PT_LOAD = 1
PT_NOTE = 4
PN_XNUM = 0xFFFF
READ_CHUNK_PAGES = 256  # pages per libkdumpfile read; 1 MiB buffers avoid malloc mmap churn
MAX_REPORTED = 5


class CheckFailed(Exception):
    """A validation failure; the message is the one-line reason."""


# ------------------------------------------------------------------------------------------
# ELF core parser (from the ELF spec / elf(5), independent of the project's reader)
# ------------------------------------------------------------------------------------------

class ElfCore:
    """Program headers and notes of an ELF core file, memory-mapped read-only."""

    def __init__(self, path):
        self.path = path
        self._file = open(path, 'rb')
        self.size = os.fstat(self._file.fileno()).st_size
        if self.size < 52:
            raise CheckFailed(f'{path}: too small for an ELF header')
        self.mm = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        ident = self.mm[:16]
        if ident[:4] != b'\x7fELF':
            raise CheckFailed(f'{path}: no ELF magic')
        if ident[4] not in (1, 2) or ident[5] not in (1, 2):
            raise CheckFailed(f'{path}: bad EI_CLASS {ident[4]} or EI_DATA {ident[5]}')
        self.elf64 = ident[4] == 2
        self.endian = '<' if ident[5] == 1 else '>'
        self._parse_header()
        self._parse_phdrs()
        self.notes = self._parse_notes()

    def _unpack(self, fmt, offset):
        fmt = self.endian + fmt
        if offset < 0 or offset + struct.calcsize(fmt) > self.size:
            raise CheckFailed(f'{self.path}: structure at {offset:#x} runs past end of file')
        return struct.unpack_from(fmt, self.mm, offset)

    def _parse_header(self):
        if self.elf64:
            (self.e_type, self.e_machine, _, _, self.e_phoff, self.e_shoff, _, _,
             self.e_phentsize, e_phnum, self.e_shentsize, self.e_shnum,
             _) = self._unpack('HHIQQQIHHHHHH', 16)
            want_phent, sh_info_off = 56, 44
        else:
            (self.e_type, self.e_machine, _, _, self.e_phoff, self.e_shoff, _, _,
             self.e_phentsize, e_phnum, self.e_shentsize, self.e_shnum,
             _) = self._unpack('HHIIIIIHHHHHH', 16)
            want_phent, sh_info_off = 32, 28
        if self.e_type != 4:
            raise CheckFailed(f'{self.path}: e_type {self.e_type} is not ET_CORE')
        if self.e_phentsize != want_phent:
            raise CheckFailed(f'{self.path}: e_phentsize {self.e_phentsize} != {want_phent}')
        self.pn_xnum = e_phnum == PN_XNUM
        if self.pn_xnum:
            if self.e_shoff == 0:
                raise CheckFailed(f'{self.path}: PN_XNUM without a section header')
            (e_phnum,) = self._unpack('I', self.e_shoff + sh_info_off)
        self.e_phnum = e_phnum

    def _parse_phdrs(self):
        self.loads = []  # (paddr, vaddr, offset, filesz, memsz)
        self.note_segments = []  # (offset, filesz)
        fmt = 'IIQQQQQQ' if self.elf64 else 'IIIIIIII'
        for i in range(self.e_phnum):
            fields = self._unpack(fmt, self.e_phoff + i * self.e_phentsize)
            if self.elf64:
                p_type, _, off, vaddr, paddr, filesz, memsz, _ = fields
            else:
                p_type, off, vaddr, paddr, filesz, memsz, _, _ = fields
            if p_type in (PT_LOAD, PT_NOTE) and off + filesz > self.size:
                raise CheckFailed(f'{self.path}: phdr {i} data [{off:#x}+{filesz:#x}) past EOF')
            if p_type == PT_LOAD:
                if filesz > memsz:
                    raise CheckFailed(f'{self.path}: phdr {i} p_filesz > p_memsz')
                self.loads.append((paddr, vaddr, off, filesz, memsz))
            elif p_type == PT_NOTE:
                self.note_segments.append((off, filesz))

    def _parse_notes(self):
        notes = []  # (name, type, desc bytes)
        for off, size in self.note_segments:
            pos, end = off, off + size
            while pos + 12 <= end:
                namesz, descsz, ntype = self._unpack('III', pos)
                name_off = pos + 12
                desc_off = name_off + (namesz + 3) // 4 * 4
                pos = desc_off + (descsz + 3) // 4 * 4
                if pos > end:
                    raise CheckFailed(f'{self.path}: note at {name_off - 12:#x} overruns PT_NOTE')
                name = bytes(self.mm[name_off:name_off + namesz]).rstrip(b'\0').decode('latin-1')
                notes.append((name, ntype, bytes(self.mm[desc_off:desc_off + descsz])))
        return notes

    def vmcoreinfo(self):
        for name, _, desc in self.notes:
            if name == 'VMCOREINFO':
                return desc.decode('latin-1')
        return None

    def ram_pfn_bitmap(self, page_size):
        """Expected 1st bitmap as an int: bit n set <=> PFN n is page-covered by a PT_LOAD."""
        bits = 0
        for paddr, _, _, _, memsz in self.loads:
            first, end = paddr // page_size, (paddr + memsz) // page_size
            if end > first:
                bits |= ((1 << (end - first)) - 1) << first
        return bits

    def _index_loads(self):
        """Segments sorted by p_paddr plus a running maximum of their file-backed ends, so a
        lookup is a bisection even with 70000 PT_LOADs (and stays correct if they overlap)."""
        self._sorted = sorted(self.loads)
        self._starts = [l[0] for l in self._sorted]
        self._max_end, running = [], 0
        for paddr, _, _, filesz, _ in self._sorted:
            running = max(running, paddr + filesz)
            self._max_end.append(running)

    def read_phys(self, addr, length):
        """Bytes of physical [addr, addr+length); bytes past p_filesz or in holes read as 0.
        Where PT_LOADs overlap, the one with the higher p_paddr wins."""
        if not hasattr(self, '_sorted'):
            self._index_loads()
        i = bisect.bisect_right(self._starts, addr) - 1
        if i >= 0:  # fast path: the segment starting at or below addr has it all
            paddr, _, off, filesz, _ = self._sorted[i]
            if addr + length <= paddr + filesz and (i + 1 == len(self._starts)
                                                    or self._starts[i + 1] >= addr + length):
                start = off + addr - paddr
                return self.mm[start:start + length]
        out = bytearray(length)
        first = bisect.bisect_right(self._max_end, addr)  # earlier segments all end <= addr
        for paddr, _, off, filesz, _ in self._sorted[first:]:
            if paddr >= addr + length:
                break
            lo, hi = max(addr, paddr), min(addr + length, paddr + filesz)
            if lo < hi:
                out[lo - addr:hi - addr] = self.mm[off + lo - paddr:off + hi - paddr]
        return bytes(out)

    def summary(self):
        return {
            'class': 'ELF64' if self.elf64 else 'ELF32',
            'endian': 'little' if self.endian == '<' else 'big',
            'machine': self.e_machine,
            'phoff': self.e_phoff,
            'phnum': self.e_phnum,
            'pn_xnum': self.pn_xnum,
            'shoff': self.e_shoff,
            'shnum': self.e_shnum,
            'loads': len(self.loads),
            'first_loads': [dict(zip(('paddr', 'vaddr', 'offset', 'filesz', 'memsz'), l))
                            for l in self.loads[:4]],
            'load_bytes': sum(l[3] for l in self.loads),
            'notes': [{'name': n, 'type': t, 'descsz': len(d)} for n, t, d in self.notes[:8]],
            'note_count': len(self.notes),
            'vmcoreinfo_osrelease': parse_vmcoreinfo(self.vmcoreinfo() or '').get('OSRELEASE'),
        }


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------

def parse_vmcoreinfo(text):
    info = {}
    for line in text.splitlines():
        key, sep, value = line.partition('=')
        if sep:
            info[key] = value
    return info


_NONZERO = re.compile(rb'[^\x00]')
_NONFULL = re.compile(rb'[^\xff]')


def _low_bit(value):
    return (value & -value).bit_length() - 1


def bit_runs(bits, nbits):
    """Yield [start, end) runs of set bits of an LSB-first bitmap; skips 0x00/0xff bytes in C."""
    total = min(nbits, len(bits) * 8)
    i = 0
    while i < total:
        byte = i >> 3
        rest = bits[byte] >> (i & 7)
        if rest:
            i += _low_bit(rest)
        else:
            m = _NONZERO.search(bits, byte + 1)
            if not m:
                return
            i = m.start() * 8 + _low_bit(bits[m.start()])
        if i >= total:
            return
        start, byte = i, i >> 3
        rest = (~bits[byte] & 0xFF) >> (i & 7)
        if rest:
            i += _low_bit(rest)
        else:
            m = _NONFULL.search(bits, byte + 1)
            i = m.start() * 8 + _low_bit(~bits[m.start()] & 0xFF) if m else len(bits) * 8
        yield start, min(i, total)


def popcount(value):
    return value.bit_count()


def first_pfns(value, limit=MAX_REPORTED):
    """Lowest `limit` set bit positions of an int, as hex strings."""
    out = []
    while value and len(out) < limit:
        low = value & -value
        out.append(hex(low.bit_length() - 1))
        value ^= low
    return out


def import_kdumpfile():
    try:
        import kdumpfile
    except ImportError as exc:
        raise CheckFailed(f'cannot import kdumpfile ({exc}); run with /usr/bin/python3') from exc
    return kdumpfile


def open_kdump(path, use_mmap=False):
    kdumpfile = import_kdumpfile()
    if not os.path.isfile(path):
        raise CheckFailed(f'{path}: no such file')
    try:
        kdf = kdumpfile.kdumpfile(file=path)
    except Exception as exc:  # libkdumpfile raises its own exception hierarchy
        raise CheckFailed(f'libkdumpfile cannot open {path}: {type(exc).__name__}: {exc}') from exc
    # The default policy (KDUMP_MMAP_TRY) mmaps the file: ~2x faster, but a page descriptor
    # pointing past EOF then kills the interpreter with SIGBUS instead of raising an error.
    # KDUMP_MMAP_NEVER (0) = always read(2).
    if not use_mmap:
        kdf.attr['file.mmap_policy'] = 0
    return kdumpfile, kdf


def pagemap_bits(kdf, name, max_pfn):
    """Bitmap attribute as (bytes, int) covering PFNs [0, max_pfn), bits past max_pfn masked."""
    raw = bytes(kdf.attr[name].get_bits(0, max_pfn - 1))
    value = int.from_bytes(raw, 'little') & ((1 << max_pfn) - 1)
    return value.to_bytes(len(raw), 'little'), value


def choose_phys_read(kdumpfile, kdf, probe_addr, page_size):
    """Reader for physical addresses.  KDUMP_KPHYSADDR needs an address-translation system,
    which libkdumpfile only sets up once it knows the architecture: a dump without VMCOREINFO
    and without a sane utsname in the header raises AddressTranslationException.  On x86 without
    Xen kernel-physical == machine-physical, so fall back to KDUMP_MACHPHYSADDR then."""
    try:
        kdf.read(kdumpfile.KDUMP_KPHYSADDR, probe_addr, page_size)
        return 'KPHYSADDR', kdumpfile.KDUMP_KPHYSADDR
    except kdumpfile.exceptions.AddressTranslationException:
        return 'MACHPHYSADDR', kdumpfile.KDUMP_MACHPHYSADDR


def cmd_pages(args):
    """Runs the check through mmap in a forked child (fast); if libkdumpfile dies of SIGBUS
    there (page data past EOF), repeats it with read(2) to get a proper diagnosis."""
    if args.no_mmap:
        return check_pages(args, use_mmap=False)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            check_pages(args, use_mmap=True)
            code = 0
        except CheckFailed as exc:
            print(f'FAIL pages: {exc}', file=sys.stderr)
        except BaseException as exc:  # pylint: disable=broad-except
            print(f'FAIL pages: {type(exc).__name__}: {exc}', file=sys.stderr)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    sig = os.WTERMSIG(status)
    if sig != signal.SIGBUS:
        raise CheckFailed(f'checker process killed by signal {sig}')
    print('pages: SIGBUS in libkdumpfile reading through mmap (data past EOF?); '
          'repeating with read(2)', file=sys.stderr)
    check_pages(args, use_mmap=False)
    raise CheckFailed('libkdumpfile died of SIGBUS under mmap, read(2) found nothing wrong')


def check_pages(args, use_mmap):
    kdumpfile, kdf = open_kdump(args.dump, use_mmap)
    source = ElfCore(args.source)
    page_size = kdf.attr['arch.page_size']
    max_pfn = kdf.attr['max_pfn']
    if max_pfn <= 0:
        raise CheckFailed(f'max_pfn is {max_pfn}')
    problems = []
    started = time.monotonic()

    ram_bytes, ram = pagemap_bits(kdf, 'memory.pagemap', max_pfn)
    dumped_bytes, dumped = pagemap_bits(kdf, 'file.pagemap', max_pfn)
    expected_ram = source.ram_pfn_bitmap(page_size)
    if expected_ram.bit_length() > max_pfn:
        problems.append(f'source RAM reaches pfn {expected_ram.bit_length() - 1:#x} '
                        f'but max_pfn is {max_pfn:#x}')
        expected_ram &= (1 << max_pfn) - 1
    if ram != expected_ram:
        missing, extra = expected_ram & ~ram, ram & ~expected_ram
        problems.append(f'memory.pagemap != PT_LOAD coverage: {popcount(missing)} RAM PFNs '
                        f'missing {first_pfns(missing)}, {popcount(extra)} non-RAM PFNs set '
                        f'{first_pfns(extra)}')
    outside = dumped & ~ram
    if outside:
        problems.append(f'{popcount(outside)} dumped PFNs not in memory.pagemap '
                        f'{first_pfns(outside)}')
    n_dumped = popcount(dumped)
    if args.min_dumped is not None and n_dumped < args.min_dumped:
        problems.append(f'only {n_dumped} pages dumped, expected at least {args.min_dumped}')

    mismatched, unreadable = [], []
    addr_name = '-'
    if n_dumped:
        first = next(bit_runs(dumped_bytes, max_pfn))[0]
        try:
            addr_name, addr_type = choose_phys_read(kdumpfile, kdf, first * page_size, page_size)
        except kdumpfile.exceptions.KDumpBaseException:
            addr_name, addr_type = 'KPHYSADDR', kdumpfile.KDUMP_KPHYSADDR  # reported below
        seen = 0
        for start, end in bit_runs(dumped_bytes, max_pfn):
            for chunk in range(start, end, READ_CHUNK_PAGES):
                count = min(READ_CHUNK_PAGES, end - chunk)
                seen += count
                compare_chunk(kdumpfile, kdf, addr_type, source, page_size, chunk, count,
                              mismatched, unreadable)
        if seen != n_dumped:
            problems.append(f'bitmap runs cover {seen} pages but popcount is {n_dumped}')
    if unreadable:
        problems.append(f'{len(unreadable)} dumped pages unreadable, first pfn '
                        f'{unreadable[0][0]:#x}: {unreadable[0][1]}')
    if mismatched:
        problems.append(f'{len(mismatched)} dumped pages differ from the source, pfns '
                        f'{[hex(p) for p in mismatched[:MAX_REPORTED]]}')

    nonzero_excluded = []
    excluded = ram & ~dumped
    if args.expect_excluded_zero and excluded:
        excluded_bytes = excluded.to_bytes(len(ram_bytes), 'little')
        zero = bytes(READ_CHUNK_PAGES * page_size)
        for start, end in bit_runs(excluded_bytes, max_pfn):
            for chunk in range(start, end, READ_CHUNK_PAGES):
                count = min(READ_CHUNK_PAGES, end - chunk)
                data = source.read_phys(chunk * page_size, count * page_size)
                if data != zero[:count * page_size]:
                    for i in range(count):
                        page = data[i * page_size:(i + 1) * page_size]
                        if page.count(0) != page_size:
                            nonzero_excluded.append(chunk + i)
        if nonzero_excluded:
            problems.append(f'{len(nonzero_excluded)} excluded pages are not zero in the '
                            f'source, pfns {[hex(p) for p in nonzero_excluded[:MAX_REPORTED]]}')

    elapsed = time.monotonic() - started
    mib = n_dumped * page_size / 2**20
    print(f'pages: format={kdf.attr.get("file.format")} page_size={page_size} '
          f'max_pfn={max_pfn:#x} ram={popcount(ram)} dumped={n_dumped} '
          f'excluded={popcount(excluded)} mismatches={len(mismatched)} '
          f'unreadable={len(unreadable)}'
          + (f' excluded_nonzero={len(nonzero_excluded)}' if args.expect_excluded_zero else '')
          + f' read={addr_name} time={elapsed:.2f}s ({mib / max(elapsed, 1e-6):.0f} MiB/s)')
    if problems:
        more = f' (+{len(problems) - 1} more problems)' if len(problems) > 1 else ''
        raise CheckFailed(problems[0] + more)


def compare_chunk(kdumpfile, kdf, addr_type, source, page_size, pfn, count, mismatched,
                  unreadable):
    """Compare `count` dumped pages starting at `pfn`; one libkdumpfile read when possible."""
    length = count * page_size
    expected = source.read_phys(pfn * page_size, length)
    try:
        data = kdf.read(addr_type, pfn * page_size, length)
    except kdumpfile.exceptions.KDumpBaseException:
        data = None
    if data is not None and len(data) == length and data == expected:
        return
    for i in range(count):  # slow path: find the offending pages one by one
        addr = (pfn + i) * page_size
        want = expected[i * page_size:(i + 1) * page_size]
        try:
            page = kdf.read(addr_type, addr, page_size)
        except kdumpfile.exceptions.KDumpBaseException as exc:
            unreadable.append((pfn + i, f'{type(exc).__name__}: {exc}'))
            continue
        if page != want:
            mismatched.append(pfn + i)


def kdump_vmcoreinfo_text(kdf):
    raw = kdf.attr.get('linux.vmcoreinfo.raw')
    if raw is None:
        return None
    return bytes(raw).decode('latin-1') if not isinstance(raw, str) else raw


def drgn_vmcoreinfo_text(prog):
    """drgn 0.0.22 has no prog['VMCOREINFO'] object without debug info; try it anyway."""
    try:
        obj = prog['VMCOREINFO']
        return bytes(prog.read(obj.address_, obj.type_.size)).split(b'\0')[0].decode('latin-1')
    except Exception:  # LookupError (no such object) or a missing-type error
        return None


def cmd_drgn(args):
    try:
        import drgn
    except ImportError as exc:
        raise CheckFailed(f'cannot import drgn ({exc}); run with /usr/bin/python3') from exc
    if not os.path.isfile(args.dump):
        raise CheckFailed(f'{args.dump}: no such file')
    prog = drgn.Program()
    try:
        prog.set_core_dump(args.dump)
    except Exception as exc:
        raise CheckFailed(f'drgn cannot open {args.dump}: {type(exc).__name__}: {exc}') from exc
    if not prog.flags & drgn.ProgramFlags.IS_LINUX_KERNEL:
        raise CheckFailed(f'drgn does not see a Linux kernel core (flags {prog.flags!r})')
    text, origin = drgn_vmcoreinfo_text(prog), "drgn prog['VMCOREINFO']"
    if text is None:
        _, kdf = open_kdump(args.dump)
        text, origin = kdump_vmcoreinfo_text(kdf), 'libkdumpfile linux.vmcoreinfo.raw'
    if not text:
        raise CheckFailed('no VMCOREINFO text from drgn or libkdumpfile')
    info = parse_vmcoreinfo(text)
    for key in ('OSRELEASE', 'SYMBOL(init_uts_ns)'):
        if key not in info:
            raise CheckFailed(f'VMCOREINFO lacks {key}')
    base = int(info['SYMBOL(init_uts_ns)'], 16)
    offsets = ([int(info['OFFSET(uts_namespace.name)'])]
               if 'OFFSET(uts_namespace.name)' in info else [0, 4])  # makedumpfile's fallbacks
    for offset in offsets:
        addr = base + offset
        try:
            raw = prog.read(addr, 6 * 65)
        except Exception as exc:
            raise CheckFailed(f'drgn cannot read init_uts_ns.name at {addr:#x}: '
                              f'{type(exc).__name__}: {exc}') from exc
        fields = [raw[i * 65:(i + 1) * 65].split(b'\0')[0].decode('latin-1') for i in range(6)]
        if fields[0] == 'Linux' or len(offsets) == 1:
            break
    sysname, release, machine = fields[0], fields[2], fields[4]
    print(f'drgn: release={release} sysname={sysname} machine={machine} '
          f'va={addr:#x} platform={prog.platform.arch.name} vmcoreinfo_from={origin}')
    if sysname != 'Linux':
        raise CheckFailed(f'utsname.sysname at {addr:#x} is {sysname!r}, not Linux')
    if release != info['OSRELEASE']:
        raise CheckFailed(f'utsname.release {release!r} != VMCOREINFO OSRELEASE '
                          f'{info["OSRELEASE"]!r}')


def cmd_info(args):
    _, kdf = open_kdump(args.dump)
    attr = kdf.attr
    max_pfn = attr.get('max_pfn') or 0
    dumped = ram = None
    if max_pfn:
        dumped = popcount(pagemap_bits(kdf, 'file.pagemap', max_pfn)[1])
        ram = popcount(pagemap_bits(kdf, 'memory.pagemap', max_pfn)[1])
    vmcoreinfo = parse_vmcoreinfo(kdump_vmcoreinfo_text(kdf) or '')
    print(json.dumps({
        'file.format': attr.get('file.format'),
        'file.description': attr.get('file.description'),
        'arch.name': attr.get('arch.name'),
        'arch.page_size': attr.get('arch.page_size'),
        'max_pfn': max_pfn,
        'cpu.number': attr.get('cpu.number'),
        'linux.uts.sysname': attr.get('linux.uts.sysname'),
        'linux.uts.release': attr.get('linux.uts.release'),
        'linux.uts.machine': attr.get('linux.uts.machine'),
        'linux.phys_base': attr.get('linux.phys_base'),
        'vmcoreinfo.OSRELEASE': vmcoreinfo.get('OSRELEASE'),
        'vmcoreinfo.lines': len(vmcoreinfo),
        'ram_pages': ram,
        'dumped_pages': dumped,
    }, indent=1))


def cmd_crash_osrelease(args):
    if not os.path.isfile(args.dump):
        raise CheckFailed(f'{args.dump}: no such file')
    try:
        proc = subprocess.run(['crash', '--osrelease', args.dump], capture_output=True,
                              text=True, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CheckFailed(f'cannot run crash: {exc}') from exc
    lines = [l.strip() for l in proc.stdout.splitlines() if l.strip()]
    got = lines[-1] if lines else ''
    print(f'crash-osrelease: rc={proc.returncode} release={got}')
    if proc.returncode != 0:
        err = (proc.stderr.strip().splitlines() or [''])[-1]
        raise CheckFailed(f'crash --osrelease exited {proc.returncode}: {got or err}')
    if got != args.expected:
        raise CheckFailed(f'crash --osrelease printed {got!r}, expected {args.expected!r}')



def xc_core_index(path):
    """(kind, [(pfn, gmfn)]) from an xc_core file's section headers (ELF spec + Xen's
    dump-core format): kind 'pfn' (HVM, gmfn = pfn) or 'p2m' (PV); ~0 entries dropped."""
    with open(path, 'rb') as f:
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    if mm[:4] != b'\x7fELF' or mm[4] != 2:
        raise CheckFailed(f'{path}: not an ELF64 file')
    shoff, = struct.unpack_from('<Q', mm, 40)
    shentsize, shnum, shstrndx = struct.unpack_from('<HHH', mm, 58)
    secs = [struct.unpack_from('<IIQQQQIIQQ', mm, shoff + i * shentsize) for i in range(shnum)]
    stroff = secs[shstrndx][4]
    found = {}
    for sec in secs:
        name = bytes(mm[stroff + sec[0]:mm.find(b'\0', stroff + sec[0])]).decode('latin-1')
        found[name] = (sec[4], sec[5])
    entries = []
    if '.xen_pfn' in found:
        off, size = found['.xen_pfn']
        kind = 'pfn'
        for i in range(size // 8):
            pfn, = struct.unpack_from('<Q', mm, off + 8 * i)
            if pfn != 0xFFFFFFFFFFFFFFFF:
                entries.append((pfn, pfn))
    elif '.xen_p2m' in found:
        off, size = found['.xen_p2m']
        kind = 'p2m'
        for i in range(size // 16):
            pfn, gmfn = struct.unpack_from('<QQ', mm, off + 16 * i)
            if pfn != 0xFFFFFFFFFFFFFFFF:
                entries.append((pfn, gmfn))
    else:
        raise CheckFailed(f'{path}: no .xen_pfn or .xen_p2m section')
    return kind, entries


def cmd_xc_pages(args):
    kdumpfile, kdf = open_kdump(args.dump)
    source = ElfCore(args.source)
    fmt = kdf.attr.get('file.format')
    if fmt != 'xc_core_elf':
        raise CheckFailed(f'libkdumpfile reads {args.dump} as {fmt!r}, not xc_core_elf')
    page_size = kdf.attr['arch.page_size']
    kind, entries = xc_core_index(args.dump)
    expected = source.ram_pfn_bitmap(page_size)
    listed = 0
    for pfn, _ in entries:
        listed |= 1 << pfn
    if listed != expected:
        missing, extra = expected & ~listed, listed & ~expected
        raise CheckFailed(f'index != source RAM: {popcount(missing)} missing '
                          f'{first_pfns(missing)}, {popcount(extra)} extra {first_pfns(extra)}')
    started = time.monotonic()
    if kind == 'pfn':
        addr_name, addr_type = choose_phys_read(kdumpfile, kdf, entries[0][0] * page_size,
                                                page_size)
    else:
        addr_name, addr_type = 'MACHPHYSADDR', kdumpfile.KDUMP_MACHPHYSADDR
    mismatched, unreadable = [], []
    for pfn, frame in entries:
        want = source.read_phys(pfn * page_size, page_size)
        try:
            got = kdf.read(addr_type, frame * page_size, page_size)
        except kdumpfile.exceptions.KDumpBaseException as exc:
            unreadable.append((pfn, f'{type(exc).__name__}: {exc}'))
            continue
        if got != want:
            mismatched.append(pfn)
    # A frame nobody lists must be missing, not silently zero.
    frames = {frame for _, frame in entries}
    hole = next(f for f in range(1, max(frames) + 2) if f not in frames)
    hole_readable = True
    try:
        kdf.read(addr_type, hole * page_size, page_size)
    except kdumpfile.exceptions.KDumpBaseException:
        hole_readable = False
    print(f'xc-pages: format={fmt} index={kind} pages={len(entries)} read={addr_name} '
          f'mismatches={len(mismatched)} unreadable={len(unreadable)} hole={hole:#x} '
          f'hole_readable={hole_readable} time={time.monotonic() - started:.2f}s')
    if unreadable:
        raise CheckFailed(f'{len(unreadable)} pages unreadable, first pfn '
                          f'{unreadable[0][0]:#x}: {unreadable[0][1]}')
    if mismatched:
        raise CheckFailed(f'{len(mismatched)} pages differ from the source, pfns '
                          f'{[hex(p) for p in mismatched[:MAX_REPORTED]]}')
    if hole_readable:
        raise CheckFailed(f'frame {hole:#x} is listed nowhere but libkdumpfile reads it')


def cmd_elf(args):
    print(json.dumps(ElfCore(args.source).summary(), indent=1))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)
    p = sub.add_parser('pages', help='compare every dumped page with the ELF source')
    p.add_argument('dump')
    p.add_argument('--source', required=True, help='ELF core the dump was made from')
    p.add_argument('--expect-excluded-zero', action='store_true',
                   help='RAM pages missing from the dump must be all-zero in the source')
    p.add_argument('--min-dumped', type=int, help='fail if fewer pages are dumped')
    p.add_argument('--no-mmap', action='store_true',
                   help='read the dump with read(2) only, in this process (about 2x slower)')
    p.set_defaults(func=cmd_pages)
    p = sub.add_parser('drgn', help='open with drgn and read utsname through a kernel VA')
    p.add_argument('dump')
    p.set_defaults(func=cmd_drgn)
    p = sub.add_parser('info', help="libkdumpfile's view as JSON")
    p.add_argument('dump')
    p.set_defaults(func=cmd_info)
    p = sub.add_parser('crash-osrelease', help='crash --osrelease DUMP must print EXPECTED')
    p.add_argument('dump')
    p.add_argument('expected')
    p.set_defaults(func=cmd_crash_osrelease)
    p = sub.add_parser('xc-pages', help='xc_core pages through libkdumpfile vs the ELF source')
    p.add_argument('dump')
    p.add_argument('--source', required=True, help='ELF core the xc_core file was made from')
    p.set_defaults(func=cmd_xc_pages)

    p = sub.add_parser('elf', help="this script's own parse of an ELF core as JSON")
    p.add_argument('source')
    p.set_defaults(func=cmd_elf)
    args = parser.parse_args(argv)
    try:
        return args.func(args) or 0
    except CheckFailed as exc:
        print(f'FAIL {args.command}: {exc}', file=sys.stderr)
        return 1
    except Exception as exc:  # a reader blew up: still a one-line failure, not a traceback
        print(f'FAIL {args.command}: {type(exc).__name__}: {exc}', file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
