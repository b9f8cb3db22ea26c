"""qmcp: a pure-Python client for QMCP, the qprobe Measurement Control Protocol.

Written from the protocol's specification (docs/qmcp.md), standard library
only. The controller side::

    import qmcp
    for p in qmcp.locate(["10.0.0.0/24"]):
        print(p["address"], p["probe_name"])
    with qmcp.Client("10.0.0.7", secret_file="/etc/qprobe/secret") as c:
        mid = c.start(filter="udp", interval_ms=1000, description="voice")
        for iv in c.watch(mid, count=10):
            print(iv["seq"], iv["result"]["bps"])
        c.stop(mid)

and the results-receiver side, to which probes push results::

    qmcp.Listener(port=8179, on_result=store).serve_forever()

Errors a probe answers with are raised as :class:`QmcpError` carrying its
code and message.
"""

from .codec import (CAP_LIVE, CAP_PLAIN, CAP_PUSH, CAP_TLS, CAP_TWO_POINT, METRIC_ALL, METRIC_DNS, METRIC_ICMP, METRIC_QUIC, METRIC_TLS, METRIC_MPEGTS, METRIC_RTP, METRIC_TCP,
                    METRIC_TRAFFIC, BodyError, ProtocolError, QmcpError)
from .client import Client, locate
from .listener import AsyncListener, Listener

__version__ = "0.1.0"

__all__ = ["Client", "locate", "Listener", "AsyncListener", "QmcpError", "ProtocolError", "BodyError",
           "METRIC_TRAFFIC", "METRIC_TCP", "METRIC_RTP", "METRIC_ICMP", "METRIC_DNS", "METRIC_QUIC", "METRIC_TLS", "METRIC_MPEGTS", "METRIC_ALL",
           "CAP_LIVE", "CAP_PUSH", "CAP_TWO_POINT", "CAP_TLS", "CAP_PLAIN"]
