"""qmcp.Client against a real probe: every request, errors, access, discovery,
QMCP over TLS; and against hostile "probes" that send garbage.

# Live: starts a DPDK probe (make test runs such files one at a time).
"""

import os
import socket
import ssl
import subprocess
import threading
import time

import pytest

import qmcp
from conftest import Probe, offline, wait_for


def test_hello_and_info(probe):
    with probe.client(name="pytest") as c:
        assert c.probe["auth_required"] == 1
        assert c.probe["qmcp_port"] == probe.qmcp_port
        assert len(c.probe["nonce"]) == 32
        i = c.info()
        assert i["probe_id"] == c.probe["probe_id"]
        assert i["ports"] == [{"port_name": "net_tap0", "driver": "net_tap", "link_up": 1, "link_speed": 10000}]
        assert (i["workers"], i["meas_max"], i["caps"]) == (
            1, 64, qmcp.CAP_LIVE | qmcp.CAP_PUSH | qmcp.CAP_TWO_POINT | qmcp.CAP_PLAIN)
        assert i["info"]["probe_id"] == i["probe_id"]


def test_start_takes_every_parameter(probe):
    with probe.client() as c:
        mid = c.start(filter="udp or icmp", interval_ms=250, metrics="tcp,rtp", idle_timeout_s=30,
                      active_timeout_s=600, max_flows=2048, rtp_ports=(16384, 16386), rtp_clock_hz=16000,
                      description="every parameter", persist=True, destinations=["127.0.0.1:1", "[::1]:2"],
                      flow_key="5tuple")
        s = c.status(mid)
        assert (s["meas_id"], s["description"], s["filter"], s["interval_ms"], s["state"], s["persist"]) == \
            (mid, "every parameter", "udp or icmp", 250, 1, 1)
        m = s["meas"]
        assert (m["idle_timeout_s"], m["active_timeout_s"], m["max_flows"], m["flow_key"]) == (30, 600, 2048, "5tuple")
        assert m["metrics"] == ["traffic", "tcp", "rtp"]
        assert (m["rtp_ports"], m["rtp_clock_hz"]) == ([16384, 16386], 16000)
        assert m["destinations"] == ["127.0.0.1:1", "[::1]:2"]
        assert [x["meas_id"] for x in c.list()].count(mid) == 1
        assert c.stop(mid) == mid
        assert mid not in [x["meas_id"] for x in c.list()]


def test_a_measurement_gives_the_offline_figures(probe):
    want = offline("udp port 53")
    with probe.client() as c:
        mid = c.start(filter="udp port 53", interval_ms=200, max_flows=1024)
        probe.inject()

        def measured():
            return sum(r["result"]["packets"]["fwd"] + r["result"]["packets"]["rev"]
                       for r in c.results(mid, last=600)) == want["capture"]["measured"]
        wait_for("the DNS frames in the intervals", measured)
        assert want["capture"]["measured"] == 40
        # RESULTS: consecutive sequence numbers, oldest first
        rs = c.results(mid, last=600)
        assert [r["seq"] for r in rs] == list(range(rs[0]["seq"], rs[0]["seq"] + len(rs)))
        assert all(r["meas_id"] == mid and r["result"]["seq"] == r["seq"] for r in rs)
        # FLOWS: the offline report's flows, figure for figure
        got = c.flows(mid, top=100)
        key = lambda f: (f["src"], f["sport"], f["dst"], f["dport"])
        assert sorted((key(f), f["packets"], f["bytes"]) for f in got) == \
            sorted((key(f), f["packets"], f["bytes"]) for f in want["flows"])
        page = c.flows_page(mid, count=1, offset=0, sort="packets")
        assert (page["total"], page["offset"], page["count"]) == (len(want["flows"]), 0, 1)
        # WATCH: the next two intervals as they close
        seen = [iv["seq"] for iv in c.watch(mid, count=2)]
        assert seen[1] == seen[0] + 1 and seen[0] > rs[-1]["seq"] - 1
        c.stop(mid)


def test_errors_carry_the_probes_code_and_message_and_the_session_goes_on(probe):
    with probe.client() as c:
        with pytest.raises(qmcp.QmcpError) as e:
            c.stop(999)
        assert (e.value.code, e.value.name) == (9, "NO_SUCH_MEAS")
        assert str(e.value) == "NO_SUCH_MEAS: no measurement 999 on this probe (LIST shows them)"
        with pytest.raises(qmcp.QmcpError) as e:
            c.start(interval_ms=10)
        assert str(e.value) == "BAD_PARAM: interval 10 ms: from 50 ms to 3600000 ms is accepted"
        with pytest.raises(qmcp.QmcpError) as e:
            c.start(filter="udp and and")
        assert e.value.name == "BAD_PARAM" and "udp and and" in e.value.message
        with pytest.raises(qmcp.QmcpError) as e:
            c.results(999)
        assert e.value.name == "NO_SUCH_MEAS"
        assert c.info()["meas_count"] >= 0  # still served


def test_a_measurement_without_persist_ends_with_its_session(probe):
    c = probe.client()
    mid = c.start(filter="tcp", persist=False)
    c.close()
    with probe.client() as d:
        wait_for("the measurement to end", lambda: mid not in [x["meas_id"] for x in d.list()], timeout=10)


def test_the_shared_secret(probe):
    with pytest.raises(qmcp.QmcpError) as e:
        qmcp.Client("127.0.0.1", probe.qmcp_port, secret="not the secret at all")
    assert str(e.value) == "AUTH_FAILED: wrong HMAC: HMAC-SHA256 of the HELLO nonce keyed with the shared secret is expected"
    with pytest.raises(qmcp.QmcpError) as e:
        qmcp.Client("127.0.0.1", probe.qmcp_port)
    assert e.value.name == "AUTH_REQUIRED"
    with qmcp.Client("127.0.0.1", probe.qmcp_port, secret_file=probe.secret_file) as c:
        assert c.info()["probe_id"]


def test_locate(probe):
    found = qmcp.locate(["127.0.0.1"], port=probe.qmcp_port, secret=probe.secret, timeout=1.0)
    assert len(found) == 1
    p = found[0]
    with probe.client() as c:
        assert (p["address"], p["probe_id"], p["qmcp_port"], p["auth_required"], p["verified"]) == \
            ("127.0.0.1", c.probe["probe_id"], probe.qmcp_port, 1, True)
    # a request without the probe's secret gets no answer
    assert qmcp.locate(["127.0.0.1"], port=probe.qmcp_port, secret="another secret, 16+", timeout=0.5) == []
    with pytest.raises(ValueError, match="IPv4 ranges of /16 or longer"):
        qmcp.locate(["10.0.0.0/8"])


def test_two_point_start(probe):
    with probe.client() as c:
        mid = c.start_two_point("127.0.0.1:1", interval_ms=1000, tp_threshold=1 << 63, tp_sig_payload=8,
                                tp_loss_timer_ms=2000)
        tp = c.status(mid)["meas"]["two_point"]
        assert (tp["role"], tp["peer"], tp["loss_timer_ms"], tp["selection"]["payload_bytes"]) == \
            ("primary", "127.0.0.1:1", 2000, 8)
        st = wait_for("the peer to be refused",
                      lambda: c.status(mid)["meas"]["two_point"]["peer_state"] != "connecting" and
                      c.status(mid)["meas"]["two_point"], timeout=10)
        assert (st["peer_state"], st["peer_error"]) == ("lost", "cannot connect to 127.0.0.1 port 1: Connection refused"), st
        c.stop(mid)


class FakeProbe:
    """A TCP server that answers a controller's first frame with given bytes."""

    def __init__(self, reply):
        self.s = socket.socket()
        self.s.bind(("127.0.0.1", 0))
        self.s.listen(1)
        self.port = self.s.getsockname()[1]
        self.reply = reply
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        c, _ = self.s.accept()
        c.recv(4096)
        if self.reply is not None:
            c.sendall(self.reply)
            time.sleep(2)  # hold the connection: the client must not wait for the body
        c.close()
        self.s.close()


@pytest.mark.parametrize("reply, name, words", [
    (b"QM\x01\x01\x00\x01\x00\x00\x00\x00\x00\x01\xff\xff\xff\xff", "TOO_BIG", "4294967295 bytes announced"),
    (b"SSH-2.0-OpenSSH_9.2\r\n", "MALFORMED", "bad magic 53 53"),
    (b"QM\x07\x01\x00\x01\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00", "VERSION", "version 7"),
])
def test_a_probe_sending_garbage_is_a_clear_error_at_once(reply, name, words):
    f = FakeProbe(reply)
    t0 = time.monotonic()
    with pytest.raises(qmcp.ProtocolError) as e:
        qmcp.Client("127.0.0.1", f.port, timeout=5)
    assert time.monotonic() - t0 < 1.5
    assert e.value.name == name and words in e.value.message


def test_a_probe_that_hangs_up_or_says_nothing():
    with pytest.raises(ConnectionError, match="closed the session"):
        qmcp.Client("127.0.0.1", FakeProbe(None).port)
    with pytest.raises(TimeoutError, match="no answer from 127.0.0.1"):
        qmcp.Client("127.0.0.1", FakeProbe(b"QM").port, timeout=0.5)


def test_tls_verified_and_the_secret_inside(tmp_path):
    cert, key = str(tmp_path / "probe.crt"), str(tmp_path / "probe.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    p = Probe(extra=("--tls-cert", cert, "--tls-key", key, "--tls-only"))
    try:
        with p.client(tls=True, ca=cert) as c:
            info = c.info()
            assert info["info"]["transports"] == ["qmcp+tls"]
            assert info["caps"] & qmcp.CAP_TLS and not info["caps"] & qmcp.CAP_PLAIN
        # a certificate checked against the system's authorities: self-signed, refused
        with pytest.raises(ssl.SSLCertVerificationError):
            p.client(tls=True)
        # plain QMCP to a TLS-only probe: its refusal
        with pytest.raises(qmcp.QmcpError) as e:
            p.client()
        assert e.value.name == "DENIED"
        assert "takes QMCP over TLS only" in e.value.message
        # the secret is still asked for inside TLS
        with pytest.raises(qmcp.QmcpError) as e:
            qmcp.Client("127.0.0.1", p.qmcp_port, secret="not-the-secret-0123456789", tls=True, ca=cert)
        assert e.value.name == "AUTH_FAILED"
    finally:
        p.stop()
