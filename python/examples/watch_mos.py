#!/usr/bin/env python3
"""Watch a measurement and print, per interval, each RTP stream's MOS.

    watch_mos.py --probe 10.0.0.7 --secret-file /etc/qprobe/secret --filter udp --count 10
    watch_mos.py --probe 10.0.0.7 --secret-file /etc/qprobe/secret --id 3

Without --id it starts a measurement of its own (ended when it exits).
"""

import argparse
import sys
import time

import qmcp


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--probe", default="127.0.0.1", help="HOST[:PORT] (default 127.0.0.1:8177)")
    ap.add_argument("--secret-file", help="the probe's shared secret (mode 0600)")
    ap.add_argument("--id", type=int, help="watch this measurement instead of starting one")
    ap.add_argument("--filter", default="udp", help="filter of the measurement started (default udp)")
    ap.add_argument("--interval", type=int, default=1000, help="its interval, ms (default 1000)")
    ap.add_argument("--count", type=int, help="stop after this many intervals")
    a = ap.parse_args()
    host, port = a.probe, 8177
    if a.probe.startswith("["):  # [v6 address]:port
        host, _, rest = a.probe[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else 8177
    elif a.probe.count(":") == 1:
        host, port = a.probe.split(":")[0], int(a.probe.split(":")[1])
    try:
        with qmcp.Client(host, port, secret_file=a.secret_file) as c:
            mid = a.id if a.id is not None else c.start(filter=a.filter, interval_ms=a.interval,
                                                       description="watch_mos.py")
            print("measurement %d" % mid, flush=True)
            for iv in c.watch(mid, count=a.count):
                r = iv["result"]
                t = time.strftime("%H:%M:%S", time.gmtime(r["start_ns"] / 1e9))
                streams = r.get("rtp", {}).get("streams") or []
                if not streams:
                    print("%s  seq %d  no RTP stream" % (t, iv["seq"]), flush=True)
                for s in streams:
                    print("%s  seq %d  ssrc 0x%08x %s:%d > %s:%d  packets %d lost %d  jitter %.3f ms  MOS %s"
                          % (t, iv["seq"], s["ssrc"], s["src"], s["sport"], s["dst"], s["dport"], s["packets"],
                             s["lost"], (s.get("jitter_ms") or {}).get("mean") or 0.0,
                             "%.2f" % s["mos"] if s.get("mos") is not None else "-"), flush=True)
    except qmcp.QmcpError as e:
        print("watch_mos.py: %s" % e, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
