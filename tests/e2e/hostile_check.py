#!/usr/bin/python3
"""Checks for the hostile-guest case of tests/e2e/daemon.sh (stdlib only).

  hostile_check.py stamp LOG OUT
      Follows LOG (the daemon's stderr) until killed and appends one line per complete LOG line
      to OUT: "<unix time of arrival> <line, invalid bytes as \\xNN>". The daemon's lines carry
      no time of their own.

  hostile_check.py text NAME FILE [--max-bytes N] [--forged REGEX]... [--line REGEX]
      FILE is safe to print on a terminal: valid UTF-8, no C0 control character but newline
      and tab, no DEL, no C1 control character (U+0080-U+009F: a terminal may act on U+009B
      as on ESC [), at most N bytes, no line that begins with a match of a --forged REGEX,
      and every line begins with a match of the --line REGEX.

  hostile_check.py json NAME FILE
      FILE is one JSON value, strictly: UTF-8 (RFC 8259) and nothing after the value.

  hostile_check.py delay EVENTS STAMPS DOMAIN MAX_DISPATCH MAX_TOTAL
      EVENTS is `virsh event --timestamp --loop` output, STAMPS is stamp's output. Prints the
      seconds from DOMAIN's first "Crashed" lifecycle event (as libvirt delivered it to a
      client of its own) to the daemon's "dumping 'DOMAIN'" and "dump of 'DOMAIN' complete"
      lines; fails when the first exceeds MAX_DISPATCH or the second MAX_TOTAL.

Every failure prints one line naming the file and what is wrong and exits 1.
"""

import argparse
import datetime
import json
import re
import sys
import time


def die(msg):
    print("hostile_check: " + msg, file=sys.stderr)
    sys.exit(1)


def cmd_stamp(log, out):
    pending = b""
    pos = 0
    with open(out, "ab", buffering=0) as o:
        while True:
            try:
                with open(log, "rb") as f:
                    f.seek(pos)
                    chunk = f.read()
            except FileNotFoundError:
                chunk = b""
            if chunk:
                pos += len(chunk)
                now = time.time()
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    text = line.decode("utf-8", "backslashreplace")
                    o.write(("%.3f %s\n" % (now, text)).encode())
            time.sleep(0.1)


def show(s, i):
    return repr(s[max(0, i - 40) : i + 40])


def cmd_text(name, path, max_bytes, forged, line_rx):
    data = open(path, "rb").read()
    if max_bytes is not None and len(data) > max_bytes:
        die("%s: %s is %d bytes, more than the bound of %d" % (name, path, len(data), max_bytes))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        die("%s: %s is not valid UTF-8 at byte %d: %r" % (name, path, e.start, data[max(0, e.start - 40) : e.start + 40]))
    bad = [i for i, c in enumerate(text) if (ord(c) < 0x20 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F]
    if bad:
        kinds = sorted({"U+%04X" % ord(text[i]) for i in bad})
        die("%s: %s holds %d raw control characters (%s), the first at character %d: %s"
            % (name, path, len(bad), " ".join(kinds), bad[0], show(text, bad[0])))
    for rx in forged:
        r = re.compile(rx)
        for n, line in enumerate(text.split("\n"), 1):
            if r.match(line):
                die("%s: %s line %d begins with guest text that forges a line (%s): %r" % (name, path, n, rx, line[:120]))
    if line_rx:
        r = re.compile(line_rx)
        for n, line in enumerate(text.split("\n"), 1):
            if line and not r.match(line):
                die("%s: %s line %d does not begin as every line must (%s): %r" % (name, path, n, line_rx, line[:120]))
    print("%s: %s: %d bytes, valid UTF-8, no control characters, no forged line" % (name, path, len(data)))


def cmd_json(name, path):
    data = open(path, "rb").read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        die("%s: %s is not valid UTF-8 at byte %d, so not JSON: %r" % (name, path, e.start, data[max(0, e.start - 40) : e.start + 40]))
    try:
        json.loads(text)
    except ValueError as e:
        die("%s: %s is not valid JSON: %s" % (name, path, e))
    print("%s: %s: valid JSON" % (name, path))


def crash_time(events, domain):
    # "2026-12-03 10:01:02.345+0000: event 'lifecycle' for domain 'gd-honest': Crashed Panicked"
    rx = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\+0000: event 'lifecycle' for domain '([^']*)': Crashed")
    for line in open(events, encoding="utf-8", errors="replace"):
        m = rx.match(line)
        if m and m.group(2) == domain:
            t = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f")
            return t.replace(tzinfo=datetime.timezone.utc).timestamp()
    die("%s: no 'Crashed' lifecycle event of '%s'" % (events, domain))


def stamp_of(stamps, needle):
    for line in open(stamps, encoding="utf-8", errors="replace"):
        t, _, text = line.rstrip("\n").partition(" ")
        if needle in text:
            return float(t)
    die("%s: no daemon line containing %r" % (stamps, needle))


def cmd_delay(events, stamps, domain, max_dispatch, max_total):
    crashed = crash_time(events, domain)
    started = stamp_of(stamps, "dumping '%s'" % domain)
    done = stamp_of(stamps, "dump of '%s' complete" % domain)
    dispatch, total = started - crashed, done - crashed
    print("'%s': crashed -> dump started %.1f s, -> dump complete %.1f s" % (domain, dispatch, total))
    if dispatch > max_dispatch:
        die("'%s': its dump started %.1f s after its crash, more than %g s" % (domain, dispatch, max_dispatch))
    if total > max_total:
        die("'%s': its dump completed %.1f s after its crash, more than %g s" % (domain, total, max_total))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    def command(name, *positional):
        p = sub.add_parser(name)
        for arg in positional:
            p.add_argument(arg)
        return p

    command("stamp", "log", "out")
    p = command("text", "name", "file")
    p.add_argument("--max-bytes", type=int)
    p.add_argument("--forged", action="append", default=[])
    p.add_argument("--line")
    command("json", "name", "file")
    p = command("delay", "events", "stamps", "domain")
    p.add_argument("max_dispatch", type=float)
    p.add_argument("max_total", type=float)
    a = ap.parse_args()
    if a.cmd == "stamp":
        cmd_stamp(a.log, a.out)
    elif a.cmd == "text":
        cmd_text(a.name, a.file, a.max_bytes, a.forged, a.line)
    elif a.cmd == "json":
        cmd_json(a.name, a.file)
    else:
        cmd_delay(a.events, a.stamps, a.domain, a.max_dispatch, a.max_total)


main()
