"""The results-receiver side of QMCP (docs/qmcp.md, "Results push").

Probes connect to a listener, say HELLO (and AUTH when the listener has a
secret) and send RESULT requests. Each result is handed to the user's
callback and acknowledged only after the callback returns; a callback that
raises gets the probe an error answer, and the probe sends the result again
later. So a receiver that crashes, or is restarted, loses nothing the probe
still holds.

``Listener`` serves from one thread (``serve_forever``, or ``serve`` for one
round); ``AsyncListener`` is the same on asyncio, with plain or ``async``
callbacks.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import selectors
import socket
import threading
from typing import Any, Awaitable, Callable, Iterator, Optional, Union

from . import codec
from .codec import BodyError, ProtocolError

__all__ = ["Listener", "AsyncListener"]

log = logging.getLogger("qmcp.listener")

ResultCallback = Callable[[dict], Any]


class _Peer:
    """One probe's connection: the protocol state, without I/O."""

    def __init__(self, listener: "_Receiver", addr: str):
        self.l = listener
        self.addr = addr
        self.rx = codec.FrameReader()
        self.nonce = b""
        self.probe_id = ""
        self.hello = False
        self.authed = False
        self.dead = False

    def frames(self, data: bytes) -> Iterator[tuple[codec.Frame, dict]]:
        """Feed bytes; yield each RESULT in them with its result, to hand to
        the callback and answer() before the next frame is taken (answers
        go out in the order of the requests). Other frames are answered
        here; a stream out of step sets ``dead``."""
        self.rx.feed(data)
        while not self.dead:
            try:
                f = self.rx.next()
            except BodyError as e:
                self.l.stats["bad_frames"] += 1
                self.send(codec.error_frame(e.header.type, e.header.req_id, "MALFORMED",
                                            "the body is not a well-formed TLV sequence: " + e.message))
                continue
            except ProtocolError as e:
                self.l.stats["bad_frames"] += 1
                self.send(codec.error_frame(0, 0, e.name, e.message))
                self.dead = True
                break
            if f is None:
                break
            r = self.handle(f)
            if r is not None:
                yield f, r

    def send(self, b: bytes) -> None:  # replaced by the I/O side
        raise NotImplementedError

    def handle(self, f: codec.Frame) -> Optional[dict]:
        if f.is_response:
            return None
        t = f.type_name
        if t == "HELLO":
            name = f.first("CLIENT_NAME")
            if name is not None:
                self.probe_id = name.decode("utf-8", "replace")[:127]
            self.nonce = os.urandom(codec.NONCE_LEN)
            self.hello = True
            self.authed = self.l.secret is None
            self.send(codec.encode_frame(f.type, f.req_id, [
                ("PROBE_NAME", "qmcp receiver (python)"), ("NONCE", self.nonce),
                ("AUTH_REQUIRED", 0 if self.l.secret is None else 1)], codec.F_RESPONSE))
        elif t == "AUTH":
            if not self.hello:
                self.send(codec.error_frame(f.type, f.req_id, "AUTH_REQUIRED", "send HELLO first"))
                return None
            if self.l.secret is not None:
                mac = f.first("HMAC")
                want = codec.hmac_sha256(self.l.secret, self.nonce)
                if mac is None or not codec.hmac.compare_digest(mac, want):
                    self.l.stats["auth_failures"] += 1
                    self.send(codec.error_frame(f.type, f.req_id, "AUTH_FAILED", "wrong HMAC"))
                    self.dead = True
                    return None
            self.authed = True
            self.send(codec.encode_frame(f.type, f.req_id, [], codec.F_RESPONSE))
        elif t == "RESULT":
            if not self.authed:
                self.send(codec.error_frame(f.type, f.req_id, "AUTH_REQUIRED", "HELLO and AUTH before RESULT"))
                return None
            try:
                d = f.decode()
            except ProtocolError as e:
                d = {"error": e.message}
            if "error" in d or "meas_id" not in d or "seq" not in d or "result" not in d:
                self.l.stats["bad_frames"] += 1
                self.send(codec.error_frame(f.type, f.req_id, "BAD_PARAM",
                                            "RESULT needs MEAS_ID (u32), SEQ (u64) and RESULT_JSON (str, JSON)"
                                            + (": " + d["error"] if "error" in d else "")))
                return None
            d.setdefault("probe_id", self.probe_id)
            d.setdefault("flows", None)
            d["peer"] = self.addr
            return d
        elif t == "BYE":
            self.send(codec.encode_frame(f.type, f.req_id, [], codec.F_RESPONSE))
            self.dead = True
        else:
            self.send(codec.error_frame(f.type, f.req_id, "UNKNOWN_TYPE",
                                        "message type %d: a results receiver takes HELLO, AUTH, RESULT, BYE" % f.type))
        return None

    def answer(self, f: codec.Frame, r: dict, err: Optional[BaseException]) -> None:
        """Acknowledge a result the callback stored, or refuse it."""
        if err is not None:
            self.l.stats["refused"] += 1
            log.warning("result %s/%s/%s not stored: %s", r.get("probe_id"), r.get("meas_id"), r.get("seq"), err)
            self.send(codec.error_frame(f.type, f.req_id, "INTERNAL", "the receiver could not store this result; resend"))
            return
        self.l.stats["results"] += 1
        self.send(codec.encode_frame(f.type, f.req_id, [("MEAS_ID", r["meas_id"]), ("SEQ", r["seq"])], codec.F_RESPONSE))


class _Receiver:
    def __init__(self, secret: Union[None, str, bytes], secret_file: Optional[str]):
        if secret_file is not None:
            if secret is not None:
                raise TypeError("give secret or secret_file, not both")
            secret = codec.read_secret(secret_file)
        self.secret = codec.secret_bytes(secret)
        self.stats = {"results": 0, "refused": 0, "connections": 0, "auth_failures": 0, "bad_frames": 0}


def _addr(a: Any) -> str:
    host, port = a[0], a[1]
    if host.startswith("::ffff:"):
        host = host[7:]
    return ("[%s]:%d" if ":" in host else "%s:%d") % (host, port)


def _listen_socket(host: str, port: int) -> socket.socket:
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind((host, port))
    s.listen(64)
    s.setblocking(False)
    return s


class Listener(_Receiver):
    """A results receiver on ``host:port`` (default every address, 8179).

    ``on_result(result)`` is called with a dict for each pushed result:
    probe_id, peer, meas_id, seq, interval_start_ns, ``result`` (the
    interval), ``flows`` (the largest flows, or None), and gap_from and
    gap_count when the probe had to drop intervals before this one. The
    result is acknowledged when the callback returns; if it raises, the probe
    is told to send it again. ``port=0`` picks a free port (``.port``).
    ``stats`` counts results, refused, connections, auth_failures, bad_frames.
    """

    MAX_PEERS = 256

    def __init__(self, port: int = codec.LISTENER_PORT, on_result: Optional[ResultCallback] = None,
                 secret: Union[None, str, bytes] = None, *, host: str = "::", secret_file: Optional[str] = None):
        super().__init__(secret, secret_file)
        if on_result is None:
            raise TypeError("Listener needs on_result, a callable taking one result dict")
        self.on_result = on_result
        self._sock = _listen_socket(host, port)
        self.port = self._sock.getsockname()[1]
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._sock, selectors.EVENT_READ, None)
        self._stop = threading.Event()

    def __enter__(self) -> "Listener":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _accept(self) -> None:
        while True:
            try:
                c, a = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            if len(self._sel.get_map()) > self.MAX_PEERS:
                c.close()
                continue
            c.setblocking(False)
            p = _Peer(self, _addr(a))

            def send(b: bytes, c: socket.socket = c, p: _Peer = p) -> None:
                # answers are small: a probe whose socket is full is not reading
                try:
                    if c.send(b) != len(b):
                        p.dead = True
                except OSError:
                    p.dead = True

            p.send = send  # type: ignore[method-assign]
            self.stats["connections"] += 1
            self._sel.register(c, selectors.EVENT_READ, p)

    def _drop(self, c: socket.socket) -> None:
        self._sel.unregister(c)
        c.close()

    def serve(self, timeout: Optional[float] = 0.5) -> None:
        """Serve what is ready, waiting at most ``timeout`` seconds."""
        for key, _ in self._sel.select(timeout):
            if key.data is None:
                self._accept()
                continue
            c, p = key.fileobj, key.data
            try:
                data = c.recv(65536)
            except OSError:
                data = b""
            if not data:
                self._drop(c)
                continue
            for f, r in p.frames(data):
                err: Optional[BaseException] = None
                try:
                    self.on_result(r)
                except Exception as e:  # the user's store failed: the probe resends
                    err = e
                p.answer(f, r, err)
            if p.dead:
                self._drop(c)

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Serve until :meth:`shutdown` (from another thread or a callback)."""
        self._stop.clear()
        while not self._stop.is_set():
            self.serve(poll_interval)

    def shutdown(self) -> None:
        """Make serve_forever return (within its poll interval)."""
        self._stop.set()

    def drop_connections(self) -> None:
        """Close every probe's connection (they reconnect and resend)."""
        for key in list(self._sel.get_map().values()):
            if key.data is not None:
                self._drop(key.fileobj)  # type: ignore[arg-type]

    def close(self) -> None:
        """Close every connection and stop listening."""
        if self._sock is None:
            return
        self.drop_connections()
        self._sel.unregister(self._sock)
        self._sock.close()
        self._sel.close()
        self._sock = None  # type: ignore[assignment]


class AsyncListener(_Receiver):
    """The same receiver on asyncio: ``on_result`` may be a plain function
    or a coroutine function; the result is acknowledged once it returns.

    ``await listener.start()`` binds (``.port`` is then known);
    ``await listener.serve_forever()`` serves until cancelled or closed;
    ``listener.close()`` and ``await listener.wait_closed()`` end it.
    """

    def __init__(self, port: int = codec.LISTENER_PORT,
                 on_result: Optional[Callable[[dict], Union[Any, Awaitable[Any]]]] = None,
                 secret: Union[None, str, bytes] = None, *, host: str = "::", secret_file: Optional[str] = None):
        super().__init__(secret, secret_file)
        if on_result is None:
            raise TypeError("AsyncListener needs on_result, a callable taking one result dict")
        self.on_result = on_result
        self.host = host
        self.port = port
        self._server: Optional[asyncio.base_events.Server] = None

    async def start(self) -> None:
        sock = _listen_socket(self.host, self.port)
        self.port = sock.getsockname()[1]
        self._server = await asyncio.start_server(self._serve_peer, sock=sock)

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        assert self._server is not None
        await self._server.serve_forever()

    def close(self) -> None:
        if self._server is not None:
            self._server.close()

    async def wait_closed(self) -> None:
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve_peer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats["connections"] += 1
        p = _Peer(self, _addr(writer.get_extra_info("peername") or ("?", 0)))
        p.send = writer.write  # type: ignore[method-assign]
        try:
            while not p.dead:
                data = await reader.read(65536)
                if not data:
                    break
                for f, r in p.frames(data):
                    err: Optional[BaseException] = None
                    try:
                        v = self.on_result(r)
                        if inspect.isawaitable(v):
                            await v
                    except Exception as e:
                        err = e
                    p.answer(f, r, err)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
