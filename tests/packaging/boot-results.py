#!/usr/bin/env python3
"""Host-side checks of the boot test's report (boot-checks.sh's output): every check passed,
the metrics file is valid Prometheus text format with the daemon's series, the journal's JSON
entries carry the daemon's fields, and systemd-analyze security scored the unit <= 2.9."""
import json
import re
import sys
from pathlib import Path

REQUIRED = [
    "guestdumpd-active", "guestdumpd-notify", "status-text", "watchdog", "metrics-file",
    "reload-applied", "reload-logged", "reload-same-process", "bad-config-refused",
    "bad-config-still-active", "bad-config-same-process", "guest-initramfs", "guest-apply-grub",
    "guest-apply-sysctl", "guest-apply-unit", "guest-apply-no-etc-unit", "guest-loaded",
    "kernel-hook-postinst", "kernel-hook-modules", "kernel-hook-hold-unuploaded",
    "kernel-hook-postrm", "kernel-hook-keeps-running",
]
errors = []


def block(lines, name):
    try:
        a, b = lines.index("BEGIN-" + name), lines.index("END-" + name)
    except ValueError:
        errors.append(f"no {name} block in the report")
        return []
    return lines[a + 1:b]


NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = rf'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(rf"^({NAME})(?:\{{((?:{LABEL})(?:,{LABEL})*,?)?\}})? (\S+)(?: (-?\d+))?$")


def parse_metrics(text):
    """The node-exporter textfile format: # HELP / # TYPE lines, then samples."""
    types, samples = {}, {}
    for n, line in enumerate(text, 1):
        if not line or (line.startswith("#") and not re.match(r"# (HELP|TYPE) ", line)):
            continue
        if line.startswith("# TYPE "):
            parts = line.split()
            if len(parts) != 4 or parts[3] not in ("counter", "gauge", "summary", "histogram",
                                                   "untyped"):
                errors.append(f"metrics line {n}: bad TYPE line: {line!r}")
            elif parts[2] in types:
                errors.append(f"metrics line {n}: second TYPE for {parts[2]}")
            else:
                types[parts[2]] = parts[3]
            continue
        if line.startswith("# HELP "):
            continue
        m = SAMPLE.match(line)
        if not m:
            errors.append(f"metrics line {n}: not a sample: {line!r}")
            continue
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        try:
            v = float(value)
        except ValueError:
            errors.append(f"metrics line {n}: value {value!r} is not a number")
            continue
        base = re.sub(r"_(sum|count|bucket|total)$", "", name)
        if name not in types and base not in types:
            errors.append(f"metrics line {n}: {name} has no TYPE line")
        samples[name + ("{" + labels + "}" if labels else "")] = v
    return types, samples


def main():
    lines = open(sys.argv[1], encoding="utf-8", errors="replace").read().splitlines()
    results = {}
    for line in lines:
        m = re.match(r"^(OK|FAIL) ([a-z0-9-]+)(?::\s*(.*))?$", line)
        if m:
            results[m.group(2)] = (m.group(1), m.group(3) or "")
    for name in REQUIRED:
        if name not in results:
            errors.append(f"check {name} did not run")
        elif results[name][0] != "OK":
            errors.append(f"check {name} failed: {results[name][1]}")

    types, samples = parse_metrics(block(lines, "METRICS"))
    for series, want in (("guestdumpd_connections", 1.0), ("guestdumpd_connections_up", 1.0),
                         ("guestdumpd_dumps_running", 0.0), ("guestdumpd_stuck", 0.0)):
        if samples.get(series) != want:
            errors.append(f"metrics: {series} is {samples.get(series)}, expected {want}")
    for series in ("guestdumpd_guests_watched", "guestdumpd_store_free_bytes",
                   "guestdumpd_last_dump_timestamp_seconds", "guestdumpd_bytes_written_total"):
        if series not in samples:
            errors.append(f"metrics: no {series}")
    print(f"metrics: {len(samples)} samples of {len(types)} metric families parsed")

    entries = []
    for n, line in enumerate(block(lines, "JOURNAL"), 1):
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError as e:
            errors.append(f"journal line {n}: not JSON ({e}): {line[:80]!r}")
    ours = [e for e in entries if e.get("SYSLOG_IDENTIFIER") == "guestdumpd"]
    fielded = [e for e in ours if any(k.startswith("GUESTDUMP_") for k in e)]
    if not fielded:
        errors.append(f"journal: none of {len(ours)} guestdumpd entries has a GUESTDUMP_* field")
    reload = [e for e in fielded if "configuration reloaded" in str(e.get("MESSAGE", ""))]
    if not reload or reload[0].get("GUESTDUMP_COMPONENT") != "daemon":
        errors.append("journal: no 'configuration reloaded' entry with GUESTDUMP_COMPONENT=daemon")
    refused = [e for e in ours if "reload refused" in str(e.get("MESSAGE", ""))]
    if not refused or refused[0].get("PRIORITY") != "3":
        errors.append("journal: no 'reload refused' entry at priority 3 (error)")
    # The reload's two outcomes carry their MESSAGE_ID (the IDs are read from the header that
    # defines them, host/include/guestdump/host/daemon_events.h).
    header = (Path(__file__).resolve().parents[2] / "host" / "include" / "guestdump" / "host" /
              "daemon_events.h").read_text()
    ids = dict(re.findall(r'(k[A-Za-z]+) = "([0-9a-f]{32})"', header))
    for what, entry, key in (("configuration reloaded", reload, "kConfigReloaded"),
                             ("reload refused", refused, "kConfigRefused")):
        if entry and entry[0].get("MESSAGE_ID") != ids.get(key):
            errors.append(f"journal: the '{what}' entry has MESSAGE_ID "
                          f"{entry[0].get('MESSAGE_ID')!r}, expected {key} {ids.get(key)!r}")
    with_id = [e for e in ours if "MESSAGE_ID" in e]
    for e in with_id:
        if not re.fullmatch(r"[0-9a-f]{32}", e["MESSAGE_ID"]):
            errors.append(f"journal: MESSAGE_ID {e['MESSAGE_ID']!r} is not 128 bits in hex")
    print(f"journal: {len(entries)} entries, {len(ours)} from guestdumpd, {len(fielded)} with "
          f"GUESTDUMP_* fields, {len(with_id)} with a MESSAGE_ID")

    sec = [l for l in lines if l.startswith("SECURITY ")]
    m = re.search(r"Overall exposure level for guestdumpd\.service: ([0-9.]+)", sec[0]) if sec else None
    if not m:
        errors.append(f"no systemd-analyze security score: {sec}")
    elif float(m.group(1)) > 2.9:
        errors.append(f"systemd-analyze security: {m.group(1)} > 2.9")
    else:
        print(f"systemd-analyze security guestdumpd: {m.group(1)}")
    for l in lines:
        if l.startswith(("MEMORY ", "STATUS ", "UPTIME ")):
            print(l)
    for e in errors:
        print("boot-test: FAIL:", e, file=sys.stderr)
    if errors:
        sys.exit(1)
    print(f"boot-test: {len(results)} checks passed in the guest, report checked on the host")


main()
