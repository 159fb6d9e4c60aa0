#!/usr/bin/env python3
"""ready.py PORT LOG CMD...: start CMD (a `p2p serve --api 127.0.0.1:PORT ...`), poll
GET /health on 127.0.0.1:PORT every millisecond, print "<ms from exec to the first 200>
<pid>" and exit 0, leaving the daemon running (the caller stops it by pid). Exit 1 if the
daemon exits first or nothing answers within 30 s. Used by scripts/bench_scale.sh."""
import socket
import subprocess
import sys
import time


def healthy(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def main():
    port, log, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    with open(log, "ab") as out:
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdout=out, stderr=out, start_new_session=True)
    while time.monotonic() - t0 < 30:
        if healthy(port):
            print("%.1f %d" % ((time.monotonic() - t0) * 1000, p.pid))
            return 0
        if p.poll() is not None:
            print("daemon exited with %d before /health answered" % p.returncode,
                  file=sys.stderr)
            return 1
        time.sleep(0.001)
    p.kill()
    print("no /health within 30 s", file=sys.stderr)
    return 1


sys.exit(main())
