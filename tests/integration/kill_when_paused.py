#!/usr/bin/env python3
"""kill_when_paused.py MON_SOCKET PID: polls QEMU's query-status on a second QMP monitor and
sends SIGKILL to PID the moment the guest is paused. Exit 0 if it killed PID while the guest was
paused, 1 if PID ended (or 60 s passed) first."""
import json
import os
import signal
import socket
import sys
import time

mon, pid = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_UNIX)
s.connect(mon)
f = s.makefile("rw")
f.readline()  # greeting
f.write(json.dumps({"execute": "qmp_capabilities"}) + "\n")
f.flush()
f.readline()


def status():
    f.write(json.dumps({"execute": "query-status"}) + "\n")
    f.flush()
    while True:
        msg = json.loads(f.readline())
        if "return" in msg:
            return msg["return"]["status"]


deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        with open(f"/proc/{pid}/stat") as st:
            if st.read().rsplit(")", 1)[1].split()[0] == "Z":
                sys.exit(1)  # the capture ended (a zombie until its shell reaps it)
    except FileNotFoundError:
        sys.exit(1)
    # "paused": stopped by the selective path; "save-vm": QEMU's own dump-guest-memory.
    if status() in ("paused", "save-vm"):
        os.kill(pid, signal.SIGKILL)
        print(f"killed {pid} while the guest was paused")
        sys.exit(0)
    time.sleep(0.002)
sys.exit(1)
