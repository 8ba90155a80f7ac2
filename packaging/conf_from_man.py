#!/usr/bin/env python3
"""Writes the sample /etc/guestdump/guestdumpd.conf from guestdumpd.conf(5)'s source: every key
commented out at its default, with its description, so the man page is the one source of both.

Usage: conf_from_man.py guestdumpd.conf.5.scd OUTPUT
"""
import re
import sys
import textwrap

src, out = sys.argv[1:]
lines = open(src, encoding="utf-8").read().splitlines()
conf = [
    "# guestdumpd configuration: see guestdumpd.conf(5).",
    "# Every key is shown commented out at its default; uncomment a line to change it.",
    "# 'systemctl reload guestdumpd' applies a change ('connect' needs a restart); a bad",
    "# file is refused and the running configuration kept (guestdumpd --check-config tests it).",
]
section = None
for i, line in enumerate(lines):
    if line.startswith("# ") and line[2:] not in ("NAME", "SYNOPSIS", "DESCRIPTION"):
        section = line[2:]
        if section in ("EXAMPLE", "SEE ALSO"):
            break
        conf += ["", "## " + section.capitalize()]
        continue
    m = re.match(r"^\*([a-z][a-z0-9-]*)\* (?:= _(.*)_|\((.*)\))$", line)
    if not m or section is None:
        continue
    key, default, none = m.groups()
    text = lines[i + 1].strip() if i + 1 < len(lines) else ""
    text = re.sub(r"[*_]", "", text)
    conf.append("")
    conf += ["# " + t for t in textwrap.wrap(text, 94)]
    conf.append(f"#{key} = {default}" if default is not None else f"#{key} =")
with open(out, "w", encoding="utf-8") as f:
    f.write("\n".join(conf) + "\n")
