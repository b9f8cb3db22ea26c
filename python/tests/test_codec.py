"""The codec against the specification: docs/qmcp.md's tables and worked
frames, and hostile bytes. No probe needed."""

import os
import re
import struct

import pytest

import qmcp
from qmcp import codec
from conftest import ROOT

DOC = open(os.path.join(ROOT, "docs", "qmcp.md"), encoding="utf-8").read()


def doc_frames():
    """{heading: bytes} of the worked examples."""
    out = {}
    for m in re.finditer(r"^#### (.+?)\n\n```hex\n(.*?)```", DOC, re.S | re.M):
        out[m.group(1)] = bytes.fromhex(m.group(2).replace("\n", " "))
    return out


FRAMES = doc_frames()


def table(header):
    """Rows of the doc's table whose header line starts with header."""
    i = DOC.index(header)
    rows = []
    for line in DOC[i:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


def test_the_tables_are_the_specs():
    msgs = {r[1]: int(r[0]) for r in table("| type | name | meaning |")}
    assert msgs == codec.MESSAGES
    tlvs = {r[1]: (int(r[0]), r[2]) for r in table("| type | name | kind | meaning |")}
    assert tlvs == codec.TLVS
    errs = {r[1]: int(r[0]) for r in table("| code | name | meaning |")}
    assert errs == codec.ERRORS


def test_every_message_type_has_a_worked_frame_that_decodes():
    assert len(FRAMES) == 26
    seen = set()
    for heading, b in FRAMES.items():
        f = codec.decode_frame(b)
        name = heading.split()[0]
        assert f.type_name == name, heading
        seen.add(f.type)
        f.decode()  # every field of its kind
    assert seen == set(codec.MESSAGES.values())


def test_a_capture_and_its_last_pcap_data_with_the_statistics_block():
    q = codec.decode_frame(FRAMES["CAPTURE request: measurement 7, 128 bytes a packet, 1000 packets, DNS only"])
    assert q.decode() == {"meas_id": 7, "snaplen": 128, "count": 1000, "filter": "udp port 53"}
    a = codec.decode_frame(FRAMES["CAPTURE answer"]).decode()
    assert a == {"meas_id": 7, "snaplen": 128, "rate_bps": 100000000}
    d = codec.decode_frame(FRAMES["PCAP_DATA push: the last, after 1,000 packets (3 dropped): the statistics block"])
    assert d.req_id == 14  # the CAPTURE request's
    v = d.decode()
    assert (v["meas_id"], v["capture_end"], v["cap_packets"], v["cap_dropped"]) == (7, 1, 1000, 3)
    blk = v["pcapng"]
    btype, blen = struct.unpack_from("<II", blk)
    assert btype == 5 and blen == len(blk) == struct.unpack_from("<I", blk, blen - 4)[0]
    opts, at = {}, 20
    while True:
        code, n = struct.unpack_from("<HH", blk, at)
        if code == 0:
            break
        opts[code] = blk[at + 4:at + 4 + n]
        at += 4 + (n + 3) // 4 * 4
    assert struct.unpack("<Q", opts[8])[0] == 1000  # isb_usrdeliv
    assert struct.unpack("<Q", opts[7])[0] == 3     # isb_osdrop
    assert struct.unpack("<Q", opts[4])[0] == 1003  # isb_ifrecv


def test_the_hello_request_field_by_field():
    f = codec.decode_frame(FRAMES["HELLO request"])
    assert (f.type, f.flags, f.req_id) == (1, 0, 1)
    assert f.decode() == {"client_name": "qmctl@ops1"}
    # and this side writes the same bytes
    assert codec.encode_frame("HELLO", 1, [("CLIENT_NAME", "qmctl@ops1")]) == FRAMES["HELLO request"]


def test_the_hello_answer_and_the_auth_computed_from_its_nonce():
    a = codec.decode_frame(FRAMES["HELLO answer"])
    assert a.is_response and not a.is_error
    d = a.decode()
    assert d == {"probe_id": "core-tap-1", "probe_name": "core-tap-1", "sw_version": "0.1.0",
                 "nonce": bytes(range(0xA0, 0xC0)), "auth_required": 1, "qmcp_port": 8177}
    mac = codec.hmac_sha256(b"example-secret-please-change", d["nonce"])
    assert codec.encode_frame("AUTH", 2, [("HMAC", mac)]) == FRAMES["AUTH request (secret \"example-secret-please-change\")"]


def test_requests_as_the_doc_writes_them():
    assert codec.encode_frame("START", 4, [("FILTER", "udp"), ("INTERVAL_MS", 1000), ("PERSIST", 1)]) == \
        FRAMES["START request: filter \"udp\", 1 s, persistent"]
    assert codec.encode_frame("STOP", 6, [("MEAS_ID", 7)]) == FRAMES["STOP request"]
    assert codec.encode_frame("SUBSCRIBE", 10, [("MEAS_ID", 7), ("ON", 1)]) == FRAMES["SUBSCRIBE request"]
    assert codec.encode_frame("RESULTS", 11, [("MEAS_ID", 7), ("LAST", 2)]) == \
        FRAMES["RESULTS request: the last 2 intervals"]
    assert codec.encode_frame("FLOWS", 12, [("MEAS_ID", 7), ("OFFSET", 0), ("COUNT", 20), ("SORT", 0)]) == \
        FRAMES["FLOWS request: first 20 by bytes"]
    assert codec.encode_frame("BYE", 13) == FRAMES["BYE request"]


def test_answers_decode_to_their_figures():
    assert codec.decode_frame(FRAMES["START answer: measurement 7"]).decode() == {"meas_id": 7}
    e = codec.decode_frame(FRAMES["START refused (an error answer)"])
    assert e.is_error
    err = e.error()
    assert (err.code, err.name, err.message) == (8, "BAD_PARAM", "interval 10 ms: from 50 ms to 3600000 ms is accepted")
    assert str(err) == "BAD_PARAM: interval 10 ms: from 50 ms to 3600000 ms is accepted"
    info = codec.decode_frame(FRAMES["INFO answer (abridged: the probe sends every field of the table)"]).decode()
    assert info == {"probe_id": "core-tap-1", "uptime_s": 3600, "clock_state": "synchronised", "meas_count": 1,
                    "ports": [{"port_name": "0000:3b:00.0", "link_up": 1, "link_speed": 10000}]}
    lst = codec.decode_frame(FRAMES["LIST answer (one measurement, abridged)"]).decode()
    assert lst == {"measurements": [{"meas_id": 7, "filter": "udp", "interval_ms": 1000, "state": 1}]}
    push = codec.decode_frame(FRAMES["RESULT push (JSON abridged)"])
    assert (push.is_response, push.req_id) == (False, 0)
    assert push.decode() == {"probe_id": "core-tap-1", "meas_id": 7, "seq": 42,
                             "interval_start_ns": 1795300000000000000, "result": {"seq": 42}}
    tp = codec.decode_frame(FRAMES["TP_RECORDS push: measurement 3, batch 41, one flow (10.1.0.1:5004 - "
                                   "10.9.0.1:20001, UDP), two records"]).decode()
    assert (tp["meas_id"], tp["seq"], tp["tp_dropped"]) == (3, 41, 0)
    assert tp["tp_watermark_ns"] - tp["tp_base_ns"] == 500_000_000
    assert len(tp["tp_flows"]) == 44 and tp["tp_flows"][4:8] == bytes([10, 1, 0, 1])
    recs = tp["tp_recs"]
    assert len(recs) == 36
    sig, dt, size, fid = struct.unpack(">QIHI", recs[:18])
    assert (sig, dt, size, fid) == (0x1122334455667788, 125_000, 214, 0)
    sig, dt, size, fid = struct.unpack(">QIHI", recs[18:])
    assert (sig, dt, size, fid) == (0x99AABBCCDDEEFF00, 20_250_000, 214, 0x80000000)


def test_unknown_fields_are_skipped_and_the_first_of_a_repeat_counts():
    b = codec.encode_body([(999, b"future"), ("MEAS_ID", 5), ("MEAS_ID", 6), ("DESTINATION", "a:1"),
                           ("DESTINATION", "b:2")])
    assert codec.decode_fields(codec.iter_tlvs(b)) == {"meas_id": 5, "destinations": ["a:1", "b:2"]}


@pytest.mark.parametrize("head, code, words", [
    (b"QM\x01\x01\x00\x00\x00\x00\x00\x00\x00\x01\xff\xff\xff\xff", "TOO_BIG", "4294967295"),
    (b"GET / HTTP/1.1\r\n\r\n", "MALFORMED", "bad magic 47 45"),
    (b"QM\x02\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00", "VERSION", "version 2"),
])
def test_a_header_that_cannot_be_resynchronised_is_refused_at_once(head, code, words):
    r = codec.FrameReader()
    r.feed(head)
    with pytest.raises(qmcp.ProtocolError) as e:
        r.next()
    assert e.value.name == code and words in e.value.message
    assert r.pending() == len(head)  # nothing was waited for or allocated beyond it


def test_a_field_running_past_its_body_is_malformed_and_the_stream_stays_in_step():
    bad = b"QM\x01\x03\x00\x00\x00\x00\x00\x00\x00\x09\x00\x00\x00\x08" + b"\x00\x01\x00\x00\x00\x10ab"
    good = codec.encode_frame("INFO", 10)
    r = codec.FrameReader()
    r.feed(bad + good)
    with pytest.raises(codec.BodyError) as e:
        r.next()
    assert e.value.header.req_id == 9
    assert "field 1 at byte 0 says 16 bytes, 2 are left" in e.value.message
    assert r.next().req_id == 10


def test_frames_cut_anywhere_come_out_whole():
    stream = b"".join(FRAMES.values())
    r = codec.FrameReader()
    got = []
    for i in range(len(stream)):
        r.feed(stream[i:i + 1])
        while (f := r.next()) is not None:
            got.append(f)
    assert [codec.encode_frame(f.type, f.req_id, f.fields, f.flags) for f in got] == list(FRAMES.values())


def test_values_out_of_their_kind_are_refused_before_sending():
    with pytest.raises(ValueError, match="INTERVAL_MS: 4294967296 does not fit a u32"):
        codec.encode_frame("START", 1, [("INTERVAL_MS", 1 << 32)])
    with pytest.raises(TypeError, match="FILTER: a string is accepted"):
        codec.encode_frame("START", 1, [("FILTER", 5)])
    with pytest.raises(ValueError, match="a NUL byte"):
        codec.encode_frame("START", 1, [("FILTER", "udp\0")])
    with pytest.raises(qmcp.ProtocolError, match="MEAS_ID is a u32 \\(4 bytes\\), got 2 bytes"):
        codec.decode_fields([(10, b"\x00\x07")])
    with pytest.raises(qmcp.ProtocolError, match="RESULT_JSON is not JSON"):
        codec.decode_fields([(28, b"{nope")])


def test_start_parameters_become_their_fields():
    from qmcp.client import start_fields
    assert start_fields({"filter": "udp", "metrics": "tcp,rtp", "rtp_ports": "16384-32767", "persist": True,
                         "destinations": ["a:1", "b:2"], "interval_ms": 200,
                         "ipfix": ["c:4739/tcp", "d:4739"]}) == [
        ("FILTER", "udp"), ("METRICS", 6), ("RTP_PORTS", 16384 << 16 | 32767), ("PERSIST", 1),
        ("DESTINATION", "a:1"), ("DESTINATION", "b:2"), ("INTERVAL_MS", 200),
        ("IPFIX", "c:4739/tcp"), ("IPFIX", "d:4739")]
    assert start_fields({"ipfix": "c:4739"}) == [("IPFIX", "c:4739")]
    with pytest.raises(TypeError, match="no parameter 'intervl'; accepted: filter, interval_ms"):
        start_fields({"intervl": 5})
    with pytest.raises(ValueError, match="'voice' is not a metric set; traffic, tcp, rtp, icmp, dns, quic, tls, mpegts are accepted"):
        start_fields({"metrics": "voice"})
    assert start_fields({"metrics": ["dns"], "dns_ports": [53, 5353]}) == [
        ("METRICS", 0x10), ("DNS_PORTS", "53,5353")]
    assert start_fields({"dns_ports": "53"}) == [("DNS_PORTS", "53")]
    with pytest.raises(ValueError, match="LO-HI"):
        start_fields({"rtp_ports": "16384"})
