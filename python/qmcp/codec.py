"""QMCP frames and TLV fields, as docs/qmcp.md defines them.

A frame is a 16-byte header (magic "QM", version 1, message type, flags,
request id, body length) and a body of TLV fields (type u16, length u32,
value), every integer big-endian. This module builds and reads them and
nothing else: no sockets. Readers never trust a length they were sent: a
header announcing more than 1 MiB, a bad magic, another version or a field
running past its body raise :class:`ProtocolError` before anything is
allocated for it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Optional, Union

MAGIC = b"QM"
VERSION = 1
HDR_LEN = 16
TLV_HDR_LEN = 6
MAX_BODY = 1 << 20
PORT = 8177
LISTENER_PORT = 8179
NONCE_LEN = 32

F_RESPONSE = 0x0001
F_ERROR = 0x0002

# Message types (docs/qmcp.md, "Tables").
MESSAGES: dict[str, int] = {
    "HELLO": 1,
    "AUTH": 2,
    "INFO": 3,
    "START": 4,
    "STOP": 5,
    "LIST": 6,
    "STATUS": 7,
    "SUBSCRIBE": 8,
    "RESULTS": 9,
    "FLOWS": 10,
    "BYE": 11,
    "CAPTURE": 12,
    "LOCATE": 16,
    "RESULT": 32,
    "TP_RECORDS": 33,
    "PCAP_DATA": 34,
}

# TLV types: name -> (number, kind). Kinds: u8 u16 u32 u64 str bytes nest.
TLVS: dict[str, tuple[int, str]] = {
    "PROBE_ID": (1, "str"),
    "PROBE_NAME": (2, "str"),
    "SW_VERSION": (3, "str"),
    "NONCE": (4, "bytes"),
    "HMAC": (5, "bytes"),
    "AUTH_REQUIRED": (6, "u8"),
    "CLIENT_NAME": (7, "str"),
    "ERROR_CODE": (8, "u16"),
    "ERROR_MSG": (9, "str"),
    "MEAS_ID": (10, "u32"),
    "FILTER": (11, "str"),
    "INTERVAL_MS": (12, "u32"),
    "METRICS": (13, "u32"),
    "IDLE_TIMEOUT_S": (14, "u32"),
    "ACTIVE_TIMEOUT_S": (15, "u32"),
    "MAX_FLOWS": (16, "u32"),
    "RTP_PORTS": (17, "u32"),
    "RTP_CLOCK_HZ": (18, "u32"),
    "DESCRIPTION": (19, "str"),
    "PERSIST": (20, "u8"),
    "DESTINATION": (21, "str"),
    "MEAS": (22, "nest"),
    "STATE": (23, "u8"),
    "OWNER": (24, "str"),
    "START_NS": (25, "u64"),
    "INTERVALS": (26, "u64"),
    "SEQ": (27, "u64"),
    "RESULT_JSON": (28, "str"),
    "OFFSET": (29, "u32"),
    "COUNT": (30, "u32"),
    "TOTAL": (31, "u32"),
    "SORT": (32, "u8"),
    "FLOWS_JSON": (33, "str"),
    "PORT": (34, "nest"),
    "PORT_NAME": (35, "str"),
    "LINK_UP": (36, "u8"),
    "LINK_SPEED": (37, "u32"),
    "DRIVER": (38, "str"),
    "CLOCK_STATE": (39, "str"),
    "CLOCK_ERROR_US": (40, "u32"),
    "CAPS": (41, "u32"),
    "QMCP_PORT": (42, "u16"),
    "ON": (43, "u8"),
    "LAST": (44, "u32"),
    "GAP_FROM": (45, "u64"),
    "GAP_COUNT": (46, "u64"),
    "UPTIME_S": (47, "u64"),
    "MEAS_COUNT": (48, "u32"),
    "MEAS_MAX": (49, "u32"),
    "WORKERS": (50, "u32"),
    "RESULT": (51, "nest"),
    "INTERVAL_START_NS": (52, "u64"),
    "MEAS_JSON": (53, "str"),
    "INFO_JSON": (54, "str"),
    "TP_ROLE": (55, "u8"),
    "TP_PEER": (56, "str"),
    "TP_THRESHOLD": (57, "u64"),
    "TP_SIG_PAYLOAD": (58, "u8"),
    "TP_NAT": (59, "u8"),
    "TP_LOSS_TIMER_MS": (60, "u32"),
    "TP_PEER_FILTER": (61, "str"),
    "TP_BASE_NS": (62, "u64"),
    "TP_WATERMARK_NS": (63, "u64"),
    "TP_FLOWS": (64, "bytes"),
    "TP_RECS": (65, "bytes"),
    "TP_DROPPED": (66, "u64"),
    "FLOW_KEY": (67, "str"),
    "IPFIX": (68, "str"),
    "DNS_PORTS": (69, "str"),
    "TLS_SNI": (70, "u8"),
    "SNAPLEN": (71, "u32"),
    "DURATION_MS": (72, "u32"),
    "RATE_BPS": (73, "u64"),
    "PCAPNG": (74, "bytes"),
    "CAPTURE_END": (75, "u8"),
    "CAP_PACKETS": (76, "u64"),
    "CAP_DROPPED": (77, "u64"),
    "PACKET_RATE": (78, "u32"),
}

# Error codes carried in ERROR_CODE.
ERRORS: dict[str, int] = {
    "MALFORMED": 1,
    "UNKNOWN_TYPE": 2,
    "VERSION": 3,
    "TOO_BIG": 4,
    "AUTH_REQUIRED": 5,
    "AUTH_FAILED": 6,
    "DENIED": 7,
    "BAD_PARAM": 8,
    "NO_SUCH_MEAS": 9,
    "LIMIT": 10,
    "INTERNAL": 11,
}

# Metric set bits (METRICS) and capability bits (CAPS).
METRIC_TRAFFIC = 0x01
METRIC_TCP = 0x02
METRIC_RTP = 0x04
METRIC_ICMP = 0x08
METRIC_DNS = 0x10
METRIC_QUIC = 0x20
METRIC_TLS = 0x40
METRIC_MPEGTS = 0x80
METRIC_ALL = 0xFF
METRIC_NAMES = {"traffic": METRIC_TRAFFIC, "tcp": METRIC_TCP, "rtp": METRIC_RTP, "icmp": METRIC_ICMP,
                "dns": METRIC_DNS, "quic": METRIC_QUIC, "tls": METRIC_TLS,
                "mpegts": METRIC_MPEGTS}
CAP_LIVE = 0x01
CAP_PUSH = 0x02
CAP_TWO_POINT = 0x04
CAP_TLS = 0x08    # the port takes QMCP over TLS
CAP_PLAIN = 0x10  # the port takes plain QMCP

MSG_NAMES = {v: k for k, v in MESSAGES.items()}
TLV_BY_NUM = {num: (name, kind) for name, (num, kind) in TLVS.items()}
ERROR_NAMES = {v: k for k, v in ERRORS.items()}

# Fields that may appear more than once: decoded as lists under these keys.
REPEATABLE = {"PORT": "ports", "MEAS": "measurements", "RESULT": "results", "DESTINATION": "destinations", "IPFIX": "ipfix"}

_INT_SIZES = {"u8": 1, "u16": 2, "u32": 4, "u64": 8}


class QmcpError(Exception):
    """An error answer of a peer, or a failure of the protocol itself.

    ``code`` is the QMCP error code (``ERRORS``), ``name`` its name and
    ``message`` the peer's one line naming what was wrong and what is
    accepted. ``str(e)`` is ``"NAME: message"``, as qmctl shows it.
    """

    def __init__(self, code: int, message: str):
        self.code = code
        self.name = ERROR_NAMES.get(code, "ERROR_%d" % code)
        self.message = message
        super().__init__("%s: %s" % (self.name, message))


class ProtocolError(QmcpError):
    """The bytes a peer sent are not QMCP (bad magic, version, length, TLVs).

    Raised by this side's readers; code is MALFORMED, VERSION or TOO_BIG.
    A frame that cannot be resynchronised ends the connection.
    """


class BodyError(ProtocolError):
    """A frame whose header was sound but whose body is not a TLV sequence.

    The stream is still in step: a peer answers MALFORMED and goes on.
    ``header`` is the frame's header.
    """

    def __init__(self, header: "Header", err: ProtocolError):
        super().__init__(err.code, err.message)
        self.header = header


class _Flags:
    flags: int

    @property
    def is_response(self) -> bool:
        """An answer (RESPONSE), not a request or a push."""
        return bool(self.flags & F_RESPONSE)

    @property
    def is_error(self) -> bool:
        """An error answer (ERROR): see :meth:`Frame.error`."""
        return bool(self.flags & F_ERROR)


@dataclass
class Header(_Flags):
    """A frame's 16-byte header."""

    type: int
    flags: int
    req_id: int
    length: int


@dataclass
class Frame(_Flags):
    """One whole frame: its header and its body's TLV fields, in order."""

    type: int
    flags: int
    req_id: int
    fields: list[tuple[int, bytes]] = field(default_factory=list)

    @property
    def type_name(self) -> str:
        return MSG_NAMES.get(self.type, str(self.type))

    def first(self, name: str) -> Optional[bytes]:
        """The value of the first field of this name, or None."""
        num = TLVS[name][0]
        for t, v in self.fields:
            if t == num:
                return v
        return None

    def error(self) -> QmcpError:
        """The error an error answer carries."""
        code = self.first("ERROR_CODE")
        msg = self.first("ERROR_MSG")
        c = int.from_bytes(code, "big") if code is not None and len(code) == 2 else ERRORS["INTERNAL"]
        return QmcpError(c, msg.decode("utf-8", "replace") if msg is not None else "(no message)")

    def decode(self) -> dict[str, Any]:
        """The body as a plain dict (:func:`decode_fields`)."""
        return decode_fields(self.fields)


def _int_value(name: str, kind: str, v: Any) -> bytes:
    n = _INT_SIZES[kind]
    if isinstance(v, bool):
        v = int(v)
    if not isinstance(v, int):
        raise TypeError("%s: an integer is accepted, not %r" % (name, v))
    if v < 0 or v >= 1 << (8 * n):
        raise ValueError("%s: %d does not fit a %s (0 to %d)" % (name, v, kind, (1 << (8 * n)) - 1))
    return v.to_bytes(n, "big")


def encode_value(name: str, value: Any) -> bytes:
    """The value bytes of field ``name`` (its kind says how)."""
    if name not in TLVS:
        raise KeyError("no QMCP field %r" % name)
    kind = TLVS[name][1]
    if kind in _INT_SIZES:
        return _int_value(name, kind, value)
    if kind == "str":
        if not isinstance(value, str):
            raise TypeError("%s: a string is accepted, not %r" % (name, value))
        b = value.encode("utf-8")
        if b"\0" in b:
            raise ValueError("%s: a NUL byte is not accepted in a string" % name)
        return b
    if kind == "nest":
        if isinstance(value, (bytes, bytearray)):
            return bytes(value)
        return encode_body(value)
    if not isinstance(value, (bytes, bytearray)):
        raise TypeError("%s: bytes are accepted, not %r" % (name, value))
    return bytes(value)


FieldList = Iterable[tuple[Union[str, int], Any]]


def encode_body(fields: FieldList) -> bytes:
    """A TLV sequence from (name, value) pairs (a number and raw bytes also do)."""
    out = bytearray()
    for name, value in fields:
        if isinstance(name, int):
            num, v = name, bytes(value)
        else:
            num, v = TLVS[name][0], encode_value(name, value)
        out += struct.pack(">HI", num, len(v)) + v
    return bytes(out)


def encode_frame(msg_type: Union[str, int], req_id: int, fields: FieldList = (), flags: int = 0) -> bytes:
    """A whole frame: header and TLV body."""
    t = MESSAGES[msg_type] if isinstance(msg_type, str) else msg_type
    body = encode_body(fields)
    if len(body) > MAX_BODY:
        raise ValueError("body of %d bytes: at most %d (1 MiB) is accepted" % (len(body), MAX_BODY))
    return MAGIC + struct.pack(">BBHHII", VERSION, t, flags, 0, req_id, len(body)) + body


def error_frame(msg_type: int, req_id: int, code: str, message: str) -> bytes:
    """An error answer to a request of this type and id."""
    return encode_frame(msg_type, req_id, [("ERROR_CODE", ERRORS[code]), ("ERROR_MSG", message)],
                        F_RESPONSE | F_ERROR)


def decode_header(b: bytes) -> Header:
    """Read a 16-byte header; ProtocolError for bad magic, version or length."""
    if len(b) < HDR_LEN:
        raise ProtocolError(ERRORS["MALFORMED"], "a header is 16 bytes, got %d" % len(b))
    if b[0:2] != MAGIC:
        raise ProtocolError(ERRORS["MALFORMED"], "bad magic %s: QMCP frames start with 51 4d (\"QM\")" % b[0:2].hex(" "))
    ver, t, flags, _res, req, length = struct.unpack(">BBHHII", b[2:HDR_LEN])
    if ver != VERSION:
        raise ProtocolError(ERRORS["VERSION"], "version %d: this peer speaks version %d" % (ver, VERSION))
    if length > MAX_BODY:
        raise ProtocolError(ERRORS["TOO_BIG"], "body of %d bytes announced: at most %d (1 MiB) is accepted" % (length, MAX_BODY))
    return Header(t, flags, req, length)


def iter_tlvs(body: bytes) -> Iterator[tuple[int, bytes]]:
    """The (type, value) fields of a body; ProtocolError when one runs past its end."""
    off, n = 0, len(body)
    while off < n:
        if n - off < TLV_HDR_LEN:
            raise ProtocolError(ERRORS["MALFORMED"], "a field header at byte %d is cut (%d bytes left, 6 needed)" % (off, n - off))
        t, ln = struct.unpack_from(">HI", body, off)
        off += TLV_HDR_LEN
        if ln > n - off:
            raise ProtocolError(ERRORS["MALFORMED"], "field %d at byte %d says %d bytes, %d are left" % (t, off - TLV_HDR_LEN, ln, n - off))
        yield t, bytes(body[off:off + ln])
        off += ln


def decode_frame(b: bytes) -> Frame:
    """One whole frame from exactly its bytes."""
    h = decode_header(b)
    if len(b) != HDR_LEN + h.length:
        raise ProtocolError(ERRORS["MALFORMED"], "frame of %d bytes, its header says %d" % (len(b), HDR_LEN + h.length))
    return Frame(h.type, h.flags, h.req_id, list(iter_tlvs(b[HDR_LEN:])))


def decode_value(num: int, v: bytes) -> Any:
    """A field's value by its kind; unknown types stay bytes."""
    name, kind = TLV_BY_NUM.get(num, (None, "bytes"))
    if kind in _INT_SIZES:
        if len(v) != _INT_SIZES[kind]:
            raise ProtocolError(ERRORS["MALFORMED"], "%s is a %s (%d bytes), got %d bytes" % (name, kind, _INT_SIZES[kind], len(v)))
        return int.from_bytes(v, "big")
    if kind == "str":
        try:
            s = v.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ProtocolError(ERRORS["MALFORMED"], "%s is not UTF-8: %s" % (name, e)) from None
        if name and name.endswith("_JSON"):
            try:
                return json.loads(s)
            except ValueError as e:
                raise ProtocolError(ERRORS["MALFORMED"], "%s is not JSON: %s" % (name, e)) from None
        return s
    if kind == "nest":
        return decode_fields(list(iter_tlvs(v)))
    return v


def decode_fields(fields: Iterable[tuple[int, bytes]]) -> dict[str, Any]:
    """Fields as a plain dict: lower-case names; ``X_JSON`` strings parsed
    under ``x``; repeatable fields (PORT, MEAS, RESULT, DESTINATION) as lists
    under ``ports``, ``measurements``, ``results``, ``destinations``; the
    first of any other repeated field counts; unknown types are skipped."""
    out: dict[str, Any] = {}
    for num, v in fields:
        if num not in TLV_BY_NUM:
            continue
        name = TLV_BY_NUM[num][0]
        val = decode_value(num, v)
        if name in REPEATABLE:
            out.setdefault(REPEATABLE[name], []).append(val)
            continue
        key = name[:-5].lower() if name.endswith("_JSON") else name.lower()
        out.setdefault(key, val)
    return out


class FrameReader:
    """Frames out of a byte stream cut anywhere: feed bytes, take frames.

    A header that cannot be resynchronised (bad magic, version, over 1 MiB)
    raises ProtocolError at once, before its body is waited for.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._hdr: Optional[Header] = None

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next(self) -> Optional[Frame]:
        """The next whole frame, or None until more bytes come."""
        if self._hdr is None:
            if len(self._buf) < HDR_LEN:
                return None
            self._hdr = decode_header(bytes(self._buf[:HDR_LEN]))
        h = self._hdr
        if len(self._buf) < HDR_LEN + h.length:
            return None
        body = bytes(self._buf[HDR_LEN:HDR_LEN + h.length])
        del self._buf[:HDR_LEN + h.length]
        self._hdr = None
        try:
            return Frame(h.type, h.flags, h.req_id, list(iter_tlvs(body)))
        except ProtocolError as e:
            raise BodyError(h, e) from None

    def pending(self) -> int:
        """Bytes held that are not a whole frame yet."""
        return len(self._buf)


def hmac_sha256(secret: bytes, message: bytes) -> bytes:
    """HMAC-SHA256 with the shared secret as key."""
    return hmac.new(secret, message, hashlib.sha256).digest()


def read_secret(path: str) -> bytes:
    """A shared secret file as the probe reads it: one trailing newline ignored.

    ValueError when the file is not 16 to 1024 bytes or others may read it.
    """
    import os
    import stat

    st = os.stat(path)
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ValueError("secret file %s: others may read it (mode %o); chmod 600 it" % (path, st.st_mode & 0o777))
    with open(path, "rb") as f:
        s = f.read(1026)
    if s.endswith(b"\n"):
        s = s[:-1]
    if not 16 <= len(s) <= 1024:
        raise ValueError("secret file %s: %d bytes; 16 to 1024 are accepted" % (path, len(s)))
    return s


def secret_bytes(secret: Union[None, str, bytes]) -> Optional[bytes]:
    """A secret given as text or bytes, as bytes (None stays None)."""
    if secret is None:
        return None
    if isinstance(secret, str):
        return secret.encode("utf-8")
    return bytes(secret)
