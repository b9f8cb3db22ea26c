"""qmcp.Listener and qmcp.AsyncListener receiving a real probe's pushed
results: none lost across dropped connections and a receiver restart, a
result the callback could not store sent again, hostile peers refused while
the probe is still served.

# Live: starts a DPDK probe (make test runs such files one at a time).
"""

import asyncio
import time
import socket
import struct
import threading

import pytest

import qmcp
from qmcp import codec
from conftest import offline, wait_for


class Store:
    """What a receiver keeps: results by (probe, measurement, seq)."""

    def __init__(self, fail_seqs=()):
        self.got = {}
        self.deliveries = 0
        self.fail = set(fail_seqs)
        self.lock = threading.Lock()

    def __call__(self, r):
        with self.lock:
            self.deliveries += 1
            if r["seq"] in self.fail:
                self.fail.discard(r["seq"])
                raise OSError("disk full (the test's)")
            self.got[(r["probe_id"], r["meas_id"], r["seq"])] = r

    def seqs(self, mid):
        with self.lock:
            return sorted(k[2] for k in self.got if k[1] == mid)


def serve(listener):
    t = threading.Thread(target=listener.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    return t


def stop(listener, t):
    listener.shutdown()
    t.join()
    listener.close()


def test_no_result_is_lost_across_dropped_connections_and_a_receiver_restart(probe):
    store = Store()
    lst = qmcp.Listener(0, on_result=store, secret=probe.secret, host="127.0.0.1")
    port = lst.port
    th = serve(lst)
    with probe.client() as c:
        mid = c.start(interval_ms=100, persist=True, destinations="127.0.0.1:%d" % port, filter="icmp")
        wait_for("5 results", lambda: len(store.seqs(mid)) >= 5)
        # the receiver drops the probe: it reconnects and sends again what was not acknowledged
        lst.drop_connections()
        n = len(store.seqs(mid))
        wait_for("results after the reconnect", lambda: len(store.seqs(mid)) >= n + 5)
        # the receiver goes away for a second and comes back on the same port
        stop(lst, th)
        before = store.seqs(mid)
        time.sleep(1.2)
        lst = qmcp.Listener(port, on_result=store, secret=probe.secret, host="127.0.0.1")
        th = serve(lst)
        wait_for("results after the restart", lambda: len(store.seqs(mid)) >= len(before) + 20)
        c.stop(mid)
    stop(lst, th)
    seqs = store.seqs(mid)
    assert seqs == list(range(len(seqs))), "every interval from 0, none missing"
    r = store.got[(c.probe["probe_id"], mid, 3)]
    assert r["result"]["seq"] == 3 and r["result"]["measurement"] == mid
    assert r["interval_start_ns"] == r["result"]["start_ns"]
    assert isinstance(r["flows"], list)
    assert "gap_from" not in r and r["peer"].startswith("127.0.0.1:")
    assert lst.stats["auth_failures"] == 0


def test_a_result_the_callback_could_not_store_comes_again(probe):
    store = Store(fail_seqs=[2])
    lst = qmcp.Listener(0, on_result=store, host="127.0.0.1")  # no secret asked
    th = serve(lst)
    with probe.client() as c:
        mid = c.start(interval_ms=100, persist=True, destinations="127.0.0.1:%d" % lst.port, filter="icmp")
        wait_for("seq 2 stored after its refusal", lambda: len(store.seqs(mid)) >= 6, timeout=30)
        c.stop(mid)
    stop(lst, th)
    seqs = store.seqs(mid)
    assert seqs == list(range(len(seqs)))
    assert lst.stats["refused"] == 1
    assert store.deliveries > len(seqs)  # the refused one and what followed it came again


def test_the_asyncio_listener(probe):
    got = []
    done = threading.Event()
    box = {}

    async def on_result(r):
        await asyncio.sleep(0)
        got.append(r)
        if len(got) >= 3:
            done.set()

    async def main():
        lst = qmcp.AsyncListener(0, on_result=on_result, secret=probe.secret, host="127.0.0.1")
        await lst.start()
        box["port"] = lst.port
        box["lst"] = lst
        box["ready"].set()
        while not done.is_set():
            await asyncio.sleep(0.02)
        lst.close()
        await lst.wait_closed()

    box["ready"] = threading.Event()
    t = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    t.start()
    assert box["ready"].wait(10)
    with probe.client() as c:
        mid = c.start(interval_ms=100, persist=True, destinations="127.0.0.1:%d" % box["port"])
        assert done.wait(30)
        c.stop(mid)
    t.join(10)
    assert [r["seq"] for r in got[:3]] == [0, 1, 2]
    assert all(r["meas_id"] == mid and r["result"]["measurement"] == mid for r in got)
    assert box["lst"].stats["results"] >= 3


def write_udp_flows(path, n):
    """A capture of n UDP flows, flow i of i frames of 100 + 4 i bytes: no
    two flows of the same size (10.1.0.i:4000+i to 10.2.0.1:9000)."""
    recs = []
    t = 1_700_000_000
    for i in range(1, n + 1):
        size = 100 + 4 * i
        for k in range(i):
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, size - 14, 0, 0, 64, 17, 0,
                             bytes([10, 1, 0, i]), bytes([10, 2, 0, 1]))
            udp = struct.pack("!HHHH", 4000 + i, 9000, size - 34, 0)
            eth = b"\x02\x00\x00\x00\x00\x01" + b"\x02\x00\x00\x00\x00\x02" + b"\x08\x00"
            frame = eth + ip + udp + bytes(size - 42)
            recs.append(struct.pack("<IIII", t, 1000 * (i * 100 + k), size, size) + frame)
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1) + b"".join(recs))
    return len(recs)


def test_pushed_results_carry_the_largest_flows_the_worker_chose(probe, tmp_path):
    """The largest flows a pushed result carries are chosen by the worker's
    walk of its table (no walk at the interval's close): once the traffic
    has stopped and a walk has passed, they are the capture's largest, as
    the offline report has them, largest first."""
    path = str(tmp_path / "flows.pcap")
    frames = write_udp_flows(path, 30)
    filt = "udp and dst port 9000"
    want = sorted(offline(filt, path)["flows"], key=lambda f: -(f["bytes"]["fwd"] + f["bytes"]["rev"]))

    def rows(flows):
        return [(f["src"], f["sport"], f["dst"], f["dport"], f["packets"]["fwd"], f["bytes"]["fwd"])
                for f in flows or []]

    store = Store()
    lst = qmcp.Listener(0, on_result=store, secret=probe.secret, host="127.0.0.1")
    th = serve(lst)
    with probe.client() as c:
        mid = c.start(interval_ms=100, persist=True, destinations="127.0.0.1:%d" % lst.port, filter=filt)
        assert probe.inject(path) == frames
        wait_for("the frames measured", lambda: c.status(mid)["meas"]["capture"]["measured"] == frames)

        def latest():
            with store.lock:
                ks = [k for k in store.got if k[1] == mid]
                return store.got[max(ks, key=lambda k: k[2])] if ks else {}
        # while it runs (the results at STOP walk the tables themselves): the
        # workers' walk, a pass a second, has found them within a few
        wait_for("a result with the ten largest", lambda: rows(latest().get("flows")) == rows(want[:10]),
                 timeout=10)
        c.stop(mid)
    stop(lst, th)
    assert rows(want[:1]) == [("10.1.0.30", 4030, "10.2.0.1", 9000, 30, 30 * 220)]


def talk(port, data, want_close=True):
    """Send bytes to the listener; the frames it answers, and whether it closed."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(data)
    rx = codec.FrameReader()
    frames, closed = [], False
    s.settimeout(2 if want_close else 0.5)
    try:
        while True:
            b = s.recv(65536)
            if not b:
                closed = True
                break
            rx.feed(b)
            while (f := rx.next()) is not None:
                frames.append(f)
    except socket.timeout:
        pass
    s.close()
    return frames, closed


def test_hostile_peers_are_refused_and_the_probe_is_still_served(probe):
    store = Store()
    lst = qmcp.Listener(0, on_result=store, secret=probe.secret, host="127.0.0.1")
    th = serve(lst)
    port = lst.port
    with probe.client() as c:
        mid = c.start(interval_ms=100, persist=True, destinations="127.0.0.1:%d" % port, filter="icmp")
        # a 4 GiB body announced: TOO_BIG, closed, nothing allocated for it
        f, closed = talk(port, b"QM\x01\x20\x00\x00\x00\x00\x00\x00\x00\x05\xff\xff\xff\xff")
        assert closed and [x.error().name for x in f] == ["TOO_BIG"]
        assert "4294967295 bytes announced" in f[0].error().message
        # not QMCP at all
        f, closed = talk(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert closed and f[0].error().name == "MALFORMED"
        # a RESULT without HELLO and AUTH, then a wrong HMAC
        f, closed = talk(port, codec.encode_frame("RESULT", 7, [("MEAS_ID", 1), ("SEQ", 1), ("RESULT_JSON", "{}")]),
                         want_close=False)
        assert not closed and [(x.req_id, x.error().name) for x in f] == [(7, "AUTH_REQUIRED")]
        f, closed = talk(port, codec.encode_frame("HELLO", 1) + codec.encode_frame("AUTH", 2, [("HMAC", b"\0" * 32)]))
        assert closed and f[1].error().name == "AUTH_FAILED"
        # authenticated, but a RESULT without its fields, and a body whose field runs past its end
        hello = codec.encode_frame("HELLO", 1)
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(hello)
        rx = codec.FrameReader()
        while (a := rx.next()) is None:
            rx.feed(s.recv(4096))
        nonce = a.decode()["nonce"]
        s.sendall(codec.encode_frame("AUTH", 2, [("HMAC", codec.hmac_sha256(probe.secret.encode(), nonce))]) +
                  codec.encode_frame("RESULT", 3, [("SEQ", 1)]) +
                  b"QM\x01\x20\x00\x00\x00\x00\x00\x00\x00\x04\x00\x00\x00\x07" + struct.pack(">HI", 28, 99) + b"x" +
                  codec.encode_frame("BYE", 5))
        got = []
        while len(got) < 4:
            while (a := rx.next()) is not None:
                got.append(a)
            if len(got) < 4:
                rx.feed(s.recv(4096))
        s.close()
        assert [(x.req_id, x.is_error) for x in got] == [(2, False), (3, True), (4, True), (5, False)]
        assert got[1].error().message == "RESULT needs MEAS_ID (u32), SEQ (u64) and RESULT_JSON (str, JSON)"
        assert got[2].error().name == "MALFORMED"
        # the probe's results went on arriving
        n = len(store.seqs(mid))
        wait_for("more results from the probe", lambda: len(store.seqs(mid)) >= n + 3)
        c.stop(mid)
    stop(lst, th)
    assert lst.stats["auth_failures"] == 1 and lst.stats["bad_frames"] == 4
    assert store.seqs(mid) == list(range(len(store.seqs(mid))))
