#!/usr/bin/env python3
"""A results receiver that appends every pushed interval to a CSV file.

    listener_csv.py --port 8179 --secret-file /etc/qprobe/secret --out results.csv
    qmctl start --filter udp --dest THIS_HOST:8179

Each row is written and flushed to disk before the probe gets its
acknowledgement, so a crash loses nothing: the probe sends again what was not
acknowledged, and rows already in the file are not written twice.
"""

import argparse
import csv
import os
import signal
import sys

import qmcp

COLUMNS = ["probe_id", "meas_id", "seq", "interval_start_ns", "packets_fwd", "packets_rev", "bps_fwd", "bps_rev",
           "tcp_rtt_p50_ms", "tcp_retransmissions", "rtp_lost", "rtp_expected", "rtp_jitter_mean_ms", "mos_min"]


def row(r):
    iv = r["result"]
    g = lambda *path: _get(iv, path)
    streams = g("rtp", "streams") or []
    mos = [s["mos"] for s in streams if s.get("mos") is not None]
    retr = g("tcp", "retransmissions") or {}
    return [r["probe_id"], r["meas_id"], r["seq"], r["interval_start_ns"], g("packets", "fwd"), g("packets", "rev"),
            g("bps", "fwd"), g("bps", "rev"), g("tcp", "rtt_ms", "p50"), sum(retr.values()) if retr else "",
            (g("rtp", "fwd", "lost") or 0) + (g("rtp", "rev", "lost") or 0),
            (g("rtp", "fwd", "expected") or 0) + (g("rtp", "rev", "expected") or 0),
            g("rtp", "fwd", "jitter_ms", "mean"), min(mos) if mos else ""]


def _get(o, path):
    for k in path:
        if not isinstance(o, dict):
            return None
        o = o.get(k)
    return o


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=8179, help="TCP port to listen on (default 8179)")
    ap.add_argument("--host", default="::", help="address to listen on (default every address)")
    ap.add_argument("--secret-file", help="ask probes for this shared secret (mode 0600)")
    ap.add_argument("--out", required=True, help="the CSV file (appended to)")
    a = ap.parse_args()
    seen = set()
    new = not os.path.exists(a.out) or os.path.getsize(a.out) == 0
    if not new:
        with open(a.out, newline="") as f:
            for r in csv.DictReader(f):
                seen.add((r["probe_id"], r["meas_id"], r["seq"]))
    out = open(a.out, "a", newline="")
    w = csv.writer(out)
    if new:
        w.writerow(COLUMNS)
        out.flush()

    def on_result(r):
        key = (r["probe_id"], str(r["meas_id"]), str(r["seq"]))
        if key in seen:
            return  # sent again after a lost acknowledgement: already stored
        w.writerow(row(r))
        out.flush()
        os.fsync(out.fileno())
        seen.add(key)

    try:
        lst = qmcp.Listener(a.port, on_result=on_result, host=a.host, secret_file=a.secret_file)
    except (OSError, ValueError) as e:
        print("listener_csv.py: %s" % e, file=sys.stderr)
        return 1
    print("listening on port %d, writing %s" % (lst.port, a.out), flush=True)
    # SIGTERM (systemd, kill) or Ctrl-C: stop between two results, never inside one
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: lst.shutdown())
    lst.serve_forever(poll_interval=0.2)
    lst.close()
    out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
