"""The controller side of QMCP: discovery and sessions (docs/qmcp.md).

``Client`` opens a session (HELLO, then AUTH when the probe asks for it)
and makes requests; each returns plain dicts and lists, or raises
:class:`QmcpError` with the probe's code and message. ``watch`` turns the
RESULT frames the probe pushes on the session into an iterator.
``locate`` finds probes over UDP.

A Client belongs to one thread.
"""

from __future__ import annotations

import collections
import ipaddress
import os
import select
import socket
import ssl
import time
from typing import Any, Iterator, Optional, Sequence, Union

from . import codec
from .codec import ProtocolError, QmcpError

__all__ = ["Client", "locate", "START_PARAMS"]

# START's parameters: keyword -> QMCP field (docs/qmcp.md, "Requests and answers").
START_PARAMS = {
    "filter": "FILTER",
    "interval_ms": "INTERVAL_MS",
    "metrics": "METRICS",
    "idle_timeout_s": "IDLE_TIMEOUT_S",
    "active_timeout_s": "ACTIVE_TIMEOUT_S",
    "max_flows": "MAX_FLOWS",
    "rtp_ports": "RTP_PORTS",
    "rtp_clock_hz": "RTP_CLOCK_HZ",
    "description": "DESCRIPTION",
    "persist": "PERSIST",
    "destinations": "DESTINATION",
    "ipfix": "IPFIX",
    "dns_ports": "DNS_PORTS",
    "tls_sni": "TLS_SNI",
    "packet_rate": "PACKET_RATE",
    "flow_key": "FLOW_KEY",
    "tp_peer": "TP_PEER",
    "tp_role": "TP_ROLE",
    "tp_threshold": "TP_THRESHOLD",
    "tp_sig_payload": "TP_SIG_PAYLOAD",
    "tp_nat": "TP_NAT",
    "tp_loss_timer_ms": "TP_LOSS_TIMER_MS",
    "tp_peer_filter": "TP_PEER_FILTER",
}

SORTS = {"bytes": 0, "packets": 1}


def _metrics_value(v: Union[int, str, Sequence[str]]) -> int:
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    names = v.split(",") if isinstance(v, str) else list(v)
    bits = 0
    for n in names:
        n = n.strip()
        if n not in codec.METRIC_NAMES:
            raise ValueError("metrics: %r is not a metric set; %s are accepted" % (n, ", ".join(codec.METRIC_NAMES)))
        bits |= codec.METRIC_NAMES[n]
    return bits


def _rtp_ports_value(v: Union[int, str, Sequence[int]]) -> int:
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if isinstance(v, str):
        parts = v.split("-")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise ValueError("rtp_ports %r: LO-HI (such as 16384-32767) is accepted" % v)
        lo, hi = int(parts[0]), int(parts[1])
    else:
        lo, hi = v
    if not (0 < lo <= hi <= 65535):
        raise ValueError("rtp_ports %r: 1 <= LO <= HI <= 65535 is accepted" % (v,))
    return lo << 16 | hi


def start_fields(params: dict[str, Any]) -> list[tuple[str, Any]]:
    """The START fields of keyword parameters (TypeError for an unknown one)."""
    fields: list[tuple[str, Any]] = []
    for k, v in params.items():
        if v is None:
            continue
        if k not in START_PARAMS:
            raise TypeError("start(): no parameter %r; accepted: %s" % (k, ", ".join(START_PARAMS)))
        name = START_PARAMS[k]
        if k == "metrics":
            v = _metrics_value(v)
        elif k == "rtp_ports":
            v = _rtp_ports_value(v)
        elif k == "dns_ports" and not isinstance(v, str):
            v = ",".join(str(int(x)) for x in v)
        elif k in ("persist", "tp_nat", "tls_sni"):
            v = 1 if v else 0
        if k in ("destinations", "ipfix"):
            for d in [v] if isinstance(v, str) else v:
                fields.append((name, d))
            continue
        fields.append((name, v))
    return fields


class Client:
    """A QMCP session with one probe.

    ``Client(host, port=8177, secret=None)`` connects, says HELLO and, when the
    probe requires it, proves the shared secret (``secret``: the text or bytes
    of the secret; ``secret_file``: a file read as the probe reads its own).
    ``tls=True`` speaks QMCP over TLS: the probe's certificate is verified for
    ``host`` against ``ca`` (a PEM file; None: the system's authorities) before
    anything is sent, as ``qmctl --tls --ca`` does.
    Use it as a context manager, or call :meth:`close`. ``probe`` holds the
    HELLO answer (probe_id, probe_name, sw_version, qmcp_port, auth_required).

    Raises :class:`QmcpError` when the probe refuses (DENIED, AUTH_FAILED,
    LIMIT...), OSError when it cannot be reached, TimeoutError when it does
    not answer within ``timeout`` seconds.
    """

    def __init__(self, host: str, port: int = codec.PORT, secret: Union[None, str, bytes] = None,
                 *, secret_file: Optional[str] = None, name: str = "python-qmcp", timeout: float = 5.0,
                 tls: bool = False, ca: Optional[str] = None):
        if secret_file is not None:
            if secret is not None:
                raise TypeError("give secret or secret_file, not both")
            secret = codec.read_secret(secret_file)
        self.host = host
        self.port = port
        self.timeout = timeout
        self._secret = codec.secret_bytes(secret)
        self._rx = codec.FrameReader()
        self._pushes: collections.deque[codec.Frame] = collections.deque()
        self._next_id = 0
        self._sock: Optional[socket.socket] = socket.create_connection((host, port), timeout=timeout)
        try:
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if tls:
                ctx = ssl.create_default_context(cafile=ca)
                ctx.minimum_version = ssl.TLSVersion.TLSv1_2
                self._sock = ctx.wrap_socket(self._sock, server_hostname=host)
            self.probe = self._call("HELLO", [("CLIENT_NAME", name)])
            if self.probe.get("auth_required"):
                if self._secret is None:
                    raise QmcpError(codec.ERRORS["AUTH_REQUIRED"],
                                    "the probe requires its shared secret: give secret= or secret_file=")
                nonce = self.probe.get("nonce", b"")
                self._call("AUTH", [("HMAC", codec.hmac_sha256(self._secret, nonce))])
        except BaseException:
            self._close_socket()
            raise

    # -- the connection -------------------------------------------------

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Say BYE (when the session is still there) and close."""
        if self._sock is None:
            return
        try:
            self._call("BYE", [], timeout=1.0)
        except (OSError, QmcpError):
            pass
        self._close_socket()

    def _close_socket(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _id(self) -> int:
        self._next_id = self._next_id % 0xFFFFFFFF + 1
        return self._next_id

    def _read_frame(self, deadline: float) -> codec.Frame:
        """The next frame the probe sends, within the deadline."""
        while True:
            try:
                f = self._rx.next()
            except ProtocolError:
                self._close_socket()
                raise
            if f is not None:
                return f
            if self._sock is None:
                raise ConnectionError("the session is closed")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from %s:%d within %.1f s" % (self.host, self.port, self.timeout))
            # what TLS has decrypted already is not the socket's to signal
            pending = isinstance(self._sock, ssl.SSLSocket) and self._sock.pending()
            r, _, _ = select.select([self._sock], [], [], 0 if pending else left)
            if not r and not pending:
                continue
            data = self._sock.recv(65536)
            if not data:
                self._close_socket()
                raise ConnectionError("the probe %s:%d closed the session" % (self.host, self.port))
            self._rx.feed(data)

    def request(self, msg: str, fields: codec.FieldList = (), timeout: Optional[float] = None) -> codec.Frame:
        """Send one request and return its answer frame (pushes that arrive
        meanwhile are kept for :meth:`watch`); QmcpError for an error answer."""
        if self._sock is None:
            raise ConnectionError("the session is closed")
        rid = self._id()
        self._sock.sendall(codec.encode_frame(msg, rid, fields))
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            f = self._read_frame(deadline)
            if not f.is_response:
                if f.type == codec.MESSAGES["RESULT"]:
                    self._pushes.append(f)
                continue
            if f.req_id != rid and not (f.req_id == 0 and f.is_error):
                continue  # an answer to a request this side did not make
            if f.is_error:
                e = f.error()
                if f.req_id == 0 or e.name in ("AUTH_FAILED", "DENIED"):
                    self._close_socket()  # the probe closes after these
                raise e
            return f

    def _call(self, msg: str, fields: codec.FieldList = (), timeout: Optional[float] = None) -> dict[str, Any]:
        return self.request(msg, fields, timeout).decode()

    # -- requests ---------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """The probe: probe_id, probe_name, sw_version, uptime_s, clock_state,
        clock_error_us, meas_count, meas_max, ports (port_name, driver,
        link_up, link_speed), workers, caps, and ``info`` (INFO_JSON)."""
        return self._call("INFO")

    def start(self, **params: Any) -> int:
        """Start a measurement; returns its id.

        Parameters (all optional; docs/qmcp.md gives defaults and limits):
        filter, interval_ms, metrics (bits, or names such as "tcp,rtp"),
        idle_timeout_s, active_timeout_s, max_flows, rtp_ports ("LO-HI" or
        (lo, hi)), rtp_clock_hz, description, persist (bool), destinations
        (a "host:port" or a list), flow_key, ipfix (IPFIX collectors:
        a "host:port[/udp|/tcp]" or a list), dns_ports ("53,5353" or a list
        of ports), tls_sni (bool: report TLS server names); two-point: tp_peer, tp_role,
        tp_threshold, tp_sig_payload, tp_nat, tp_loss_timer_ms, tp_peer_filter.
        """
        return int(self._call("START", start_fields(params))["meas_id"])

    def start_two_point(self, peer: str, **params: Any) -> int:
        """Start a two-point measurement with this probe as the primary and
        ``peer`` ("host:port") as the secondary; other parameters as start()."""
        return self.start(tp_peer=peer, **params)

    def stop(self, meas_id: int) -> int:
        """Stop a measurement; returns its id."""
        return int(self._call("STOP", [("MEAS_ID", meas_id)])["meas_id"])

    def list(self) -> list[dict[str, Any]]:
        """Every measurement on the probe: meas_id, description, filter,
        interval_ms, state, owner, persist, start_ns, intervals, ``meas``."""
        return self._call("LIST").get("measurements", [])

    def status(self, meas_id: int) -> dict[str, Any]:
        """One measurement, as in list(); ``meas`` has its counters."""
        ms = self._call("STATUS", [("MEAS_ID", meas_id)]).get("measurements", [])
        if not ms:
            raise QmcpError(codec.ERRORS["MALFORMED"], "STATUS answer without MEAS")
        return ms[0]

    def subscribe(self, meas_id: int, on: bool = True) -> None:
        """Have each closed interval pushed on this session (or stop it)."""
        self._call("SUBSCRIBE", [("MEAS_ID", meas_id), ("ON", 1 if on else 0)])

    def results(self, meas_id: int, last: int = 10) -> list[dict[str, Any]]:
        """The latest ``last`` results the probe kept (1..600), oldest first:
        meas_id, seq, interval_start_ns, ``result`` (the interval)."""
        return self._call("RESULTS", [("MEAS_ID", meas_id), ("LAST", last)]).get("results", [])

    def flows(self, meas_id: int, top: int = 10, offset: int = 0, sort: str = "bytes") -> list[dict[str, Any]]:
        """The ``top`` largest active flows (1..1000) from ``offset``, by
        ``sort`` ("bytes" or "packets"): flow records as the JSON report's."""
        return self.flows_page(meas_id, top, offset, sort)["flows"]

    def flows_page(self, meas_id: int, count: int = 100, offset: int = 0, sort: str = "bytes") -> dict[str, Any]:
        """A page of flows with ``total`` (flows there are), offset, count."""
        if sort not in SORTS:
            raise ValueError("sort %r: bytes or packets is accepted" % sort)
        d = self._call("FLOWS", [("MEAS_ID", meas_id), ("OFFSET", offset), ("COUNT", count), ("SORT", SORTS[sort])])
        d.setdefault("flows", [])
        return d

    def watch(self, meas_id: int, count: Optional[int] = None, timeout: Optional[float] = None) -> Iterator[dict[str, Any]]:
        """Each interval of the measurement as it closes: dicts with meas_id,
        seq, interval_start_ns, probe_id and ``result``. Ends after ``count``
        intervals (None: never), or with TimeoutError when none comes within
        ``timeout`` seconds (default: two of the measurement's intervals and
        the client's timeout)."""
        if timeout is None:
            timeout = 2 * self.status(meas_id)["interval_ms"] / 1000 + self.timeout
        self.subscribe(meas_id, True)
        wait = timeout
        n = 0
        try:
            while count is None or n < count:
                f = self._next_push(meas_id, time.monotonic() + wait)
                n += 1
                yield f.decode()
        finally:
            if self._sock is not None:
                try:
                    self.subscribe(meas_id, False)
                except (OSError, QmcpError):
                    pass

    def _next_push(self, meas_id: int, deadline: float) -> codec.Frame:
        while True:
            while self._pushes:
                f = self._pushes.popleft()
                mid = f.first("MEAS_ID")
                if mid is not None and int.from_bytes(mid, "big") == meas_id:
                    return f
            try:
                f = self._read_frame(deadline)
            except TimeoutError:
                raise TimeoutError("no interval of measurement %d within the wait" % meas_id) from None
            if not f.is_response and f.type == codec.MESSAGES["RESULT"]:
                self._pushes.append(f)


def _targets(targets: Union[None, str, Sequence[str]]) -> list[str]:
    if targets is None:
        return ["255.255.255.255", "::1"]
    if isinstance(targets, str):
        targets = [targets]
    out: list[str] = []
    for t in targets:
        if "/" in t:
            try:
                net = ipaddress.ip_network(t, strict=False)
            except ValueError:
                raise ValueError("target %r: an address, a host name or an IPv4 CIDR (/16 or longer) is accepted" % t) from None
            if net.version != 4 or net.prefixlen < 16:
                raise ValueError("target %r: IPv4 ranges of /16 or longer are accepted" % t)
            out.extend(str(a) for a in (net.hosts() if net.prefixlen < 31 else net))
        else:
            out.append(t)
    return out


def locate(targets: Union[None, str, Sequence[str]] = None, timeout: float = 1.0, port: int = codec.PORT,
           secret: Union[None, str, bytes] = None) -> list[dict[str, Any]]:
    """Find probes over UDP: one LOCATE to each target (addresses, host names
    or IPv4 CIDRs; None: the broadcast address and ::1), answers gathered for
    ``timeout`` seconds. Each answer is a dict: address, probe_id, probe_name,
    sw_version, qmcp_port, auth_required, and ``verified`` (True when the
    probe proved it holds ``secret``; None without a secret)."""
    key = codec.secret_bytes(secret)
    nonce = os.urandom(codec.NONCE_LEN)
    fields: list[tuple[str, Any]] = [("NONCE", nonce)]
    if key is not None:
        fields.append(("HMAC", codec.hmac_sha256(key, b"LOCATE" + nonce)))
    frame = codec.encode_frame("LOCATE", 1, fields)
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        sent = 0
        for t in _targets(targets):
            try:
                infos = socket.getaddrinfo(t, port, type=socket.SOCK_DGRAM)
            except socket.gaierror:
                continue
            fam, _, _, _, addr = infos[0]
            if fam == socket.AF_INET:
                addr = ("::ffff:" + addr[0], addr[1])
            try:
                s.sendto(frame, addr)
                sent += 1
            except OSError:
                continue
        if not sent:
            raise OSError("no LOCATE could be sent (check the targets)")
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            r, _, _ = select.select([s], [], [], left)
            if not r:
                break
            data, addr = s.recvfrom(2048)
            try:
                f = codec.decode_frame(data)
                if f.type != codec.MESSAGES["LOCATE"] or not f.is_response or f.is_error:
                    continue
                d = f.decode()
            except QmcpError:
                continue  # not a probe's answer
            a = addr[0]
            d["address"] = a[7:] if a.startswith("::ffff:") else a
            mac = d.pop("hmac", None)
            d["verified"] = None if key is None else (
                mac is not None and codec.hmac.compare_digest(mac, codec.hmac_sha256(key, b"LOCATED" + nonce)))
            found.append(d)
        return found
    finally:
        s.close()
