#!/usr/bin/env python3
"""Every option a command's --help prints is in its man page, and every option the man page
defines is in --help (the same for guestdumpd's configuration keys and guestdumpd.conf(5)).

Usage: man_help_test.py MAN_SOURCE_DIR GUESTDUMP GUESTDUMPD GUESTDUMP_GUEST
"""
import re
import subprocess
import sys

OPTION = re.compile(r"(?<![\w-])(--?[a-z][a-z0-9-]*)")


def run_help(argv):
    p = subprocess.run(argv + ["--help"], capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} --help exited {p.returncode}: {p.stderr}")
    return p.stdout + p.stderr


def help_options(text):
    """Options of a Boost.Program_options listing: '-d [ --dump-level ] arg', '--json', '-c arg'."""
    opts = set()
    for line in text.splitlines():
        m = re.match(r"^  (-[a-zA-Z0-9]) \[ (--[a-z0-9-]+) \]", line)
        if m:
            opts.update(m.groups())
            continue
        m = re.match(r"^  (--?[a-z0-9][a-z0-9-]*)\b", line)
        if m:
            opts.add(m.group(1))
    return opts


def subcommands(text):
    """Command names of a top-level usage: the words at two spaces' indent under 'commands:'."""
    names, on = [], False
    for line in text.splitlines():
        if line.strip() == "commands:":
            on = True
            continue
        if on:
            m = re.match(r"^  ([a-z][a-z-]*)\b", line)
            if m:
                names.append(m.group(1))
            elif line and not line.startswith("   "):
                on = False
    return names


def man_sections(path):
    """Option definitions per '## command' section (all of them under None for a page without
    subsections): a definition is a line at column 0 that starts with '*-'."""
    sections, current = {None: set()}, None
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("## "):
                current = line[3:].strip()
                sections[current] = set()
            elif line.startswith("# "):
                current = None
            elif line.startswith("*-"):
                sections[current].update(OPTION.findall(line.replace("*", " ")))
    return sections


def conf_keys(path):
    keys = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^\*([a-z][a-z0-9-]*)\* (=|\()", line)
            if m:
                keys.add("--" + m.group(1))
    return keys


failures = []


def compare(what, from_help, from_man):
    from_help = from_help - {"-h", "--help"}
    from_man = from_man - {"-h", "--help"}
    for o in sorted(from_help - from_man):
        failures.append(f"{what}: {o} is in --help but not in the man page")
    for o in sorted(from_man - from_help):
        failures.append(f"{what}: {o} is in the man page but not in --help")
    if not from_help:
        failures.append(f"{what}: --help lists no option (did its format change?)")


def check_multi(binary, page):
    top = run_help([binary])
    cmds = subcommands(top)
    if not cmds:
        failures.append(f"{binary}: no commands found in --help")
    sections = man_sections(page)
    documented = {k for k in sections if k is not None}
    for c in cmds:
        if c not in documented:
            failures.append(f"{page}: no section for command '{c}'")
            continue
        text = run_help([binary, c])
        # A command without options of its own prints only -h: nothing to compare.
        opts = help_options(text)
        if opts - {"-h", "--help"} or sections[c]:
            compare(f"{page} '{c}'", opts, sections[c])
    for c in sorted(documented - set(cmds)):
        failures.append(f"{page}: section '{c}' names no command of {binary}")


def main():
    if len(sys.argv) != 5:
        raise SystemExit(__doc__)
    man, gd, gdd, guest = sys.argv[1:]
    check_multi(gd, f"{man}/guestdump.1.scd")
    check_multi(guest, f"{man}/guestdump-guest.8.scd")
    daemon_help = help_options(run_help([gdd]))
    daemon_man = man_sections(f"{man}/guestdumpd.8.scd")[None] | conf_keys(
        f"{man}/guestdumpd.conf.5.scd")
    compare("guestdumpd.8 + guestdumpd.conf.5", daemon_help, daemon_man)
    for f in failures:
        print(f)
    print(f"{0 if failures else 1} passed, {1 if failures else 0} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
