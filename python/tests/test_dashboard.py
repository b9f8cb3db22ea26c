"""The dashboard page at GET /, loaded in headless Chromium (Debian's) from a
real probe: it lists the measurements and draws the chosen one's charts and
top flows from the probe's JSON, two-point delay and loss included, with no
script error. The page states what it drew (data-* attributes, see
app/qprobe/www/dashboard.html); the test reads the DOM back after the
scripts ran, and keeps a screenshot at $QP_BUILD/dashboard.png.

# Live: starts two DPDK probes (make test runs such files one at a time).
"""

import html.parser
import os
import shutil
import subprocess
import tempfile

import pytest

import pcapfile
from conftest import DEMO, Probe, build_dir, wait_for

CHROMIUM = shutil.which("chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--virtual-time-budget=8000"]


class Dom(html.parser.HTMLParser):
    """The attributes of <body> and of every element with an id; table rows."""

    def __init__(self, text):
        super().__init__()
        self.body, self.ids, self.rows, self._tbody = {}, {}, 0, False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.body = a
        if "id" in a:
            self.ids[a["id"]] = a
        if tag == "tbody":
            self._tbody = True
        if tag == "tr" and self._tbody:
            self.rows += 1

    def handle_endtag(self, tag):
        if tag == "tbody":
            self._tbody = False


def browse(probe, query="", screenshot=None):
    """The page's DOM after its scripts ran, and what Chromium logged."""
    profile = tempfile.mkdtemp(prefix="qp_chromium.")
    url = "http://127.0.0.1:%d/%s" % (probe.http_port, query)
    r = subprocess.run([CHROMIUM, *FLAGS, "--user-data-dir=" + profile, "--enable-logging=stderr", "--v=0",
                        "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    if screenshot:
        s = subprocess.run([CHROMIUM, *FLAGS, "--user-data-dir=" + profile, "--window-size=1400,1250",
                            "--screenshot=" + screenshot, url], capture_output=True, text=True, timeout=120)
        assert s.returncode == 0, s.stderr[-2000:]
    shutil.rmtree(profile, ignore_errors=True)
    console = [ln for ln in r.stderr.splitlines() if ":CONSOLE" in ln]
    return Dom(r.stdout), console


@pytest.fixture(scope="module")
def chromium():
    if CHROMIUM is None:
        pytest.fail("chromium is not installed: scripts/install-deps.sh --test installs it")
    return CHROMIUM


def test_the_page_is_served_whole_and_self_contained(probe):
    st, body, hdr = probe.http("/")
    assert st == 200 and hdr["Content-Type"] == "text/html; charset=utf-8"
    page = open(os.path.join(os.path.dirname(__file__), "..", "..", "app", "qprobe", "www", "dashboard.html"),
                "rb").read()
    assert body == page
    assert hdr["Content-Security-Policy"].startswith("default-src 'none'; connect-src 'self';")
    assert probe.http("/index.html")[1] == page
    # nothing is loaded from elsewhere
    assert b"http://" not in page.replace(b"http://www.w3.org/2000/svg", b"") and b"https://" not in page
    st, body, _ = probe.http("/nope")
    assert st == 404 and b"served: /, /api/v1/stats" in body


def test_with_no_measurement_the_page_says_so(chromium, probe):
    dom, console = browse(probe)
    assert console == []
    assert (dom.body["data-state"], dom.body["data-errors"]) == ("idle", "0")
    assert "hidden" not in dom.ids["no-meas"]


def test_the_charts_and_flows_of_a_measurement(chromium, probe):
    b = Probe(lcores="0@1,1@0")  # the secondary point, its worker on the other CPU
    try:
        with probe.client() as c:
            plain = c.start(interval_ms=500, persist=True, description="all traffic")
            tp = c.start_two_point("127.0.0.1:%d" % b.qmcp_port, interval_ms=500, persist=True,
                                   description="two-point", filter="udp or (vlan and udp)")
            wait_for("the secondary", lambda: c.status(tp)["meas"]["two_point"]["peer_state"] == "connected",
                     timeout=20)
            for _ in range(2):
                pcapfile.inject([b.tap, probe.tap], DEMO, paced=True)
            # two-point intervals are final once the loss timer has passed them
            wait_for("final two-point intervals", lambda: any(
                (r["result"].get("two_point") or {}).get("intervals") for r in c.results(tp, last=600)), timeout=30)
            ivs = probe.http_json("/api/v1/intervals?measurement=%d&last=60" % plain)["intervals"]
            assert len(ivs) >= 6  # two runs of the 2 s capture, 500 ms intervals

            shot = os.path.join(build_dir(), "dashboard.png")
            dom, console = browse(probe, "?measurement=%d" % plain, screenshot=shot)
            assert console == []
            bd = dom.body
            assert (bd["data-state"], bd["data-errors"], bd["data-measurement"]) == ("ready", "0", str(plain))
            n = int(bd["data-intervals"])
            assert n >= len(ivs)
            pts = lambda cid: int(dom.ids["chart-" + cid]["data-points"])
            # bit/s, packet/s and retransmissions have a figure in every interval, each direction
            assert pts("bps") == pts("pps") == pts("retrans") == 2 * n
            # the others where the traffic gave one: the demo's TCP, RTP and its loss
            for cid in ("rtt", "rtp-loss", "jitter", "mos"):
                assert pts(cid) > 0, cid
            assert "hidden" in dom.ids["chart-tp-delay"]  # not two-point
            # the demo's 8 flows, and what the kernel sends on a new tap (IPv6 router
            # solicitations, multicast listener reports), the 10 largest of them
            flows = probe.http_json("/api/v1/flows?measurement=%d&top=10" % plain)
            assert dom.rows == int(bd["data-flows"])
            assert 8 <= dom.rows <= min(10, flows["active_flows"])
            with open(shot, "rb") as f:
                png = f.read()
            assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20000

            dom, console = browse(probe, "?measurement=%d" % tp)
            assert console == []
            assert (dom.body["data-state"], dom.body["data-errors"]) == ("ready", "0")
            for cid in ("tp-delay", "tp-loss"):
                assert "hidden" not in dom.ids["chart-" + cid] and pts(cid) > 0, cid
            c.stop(tp)
            c.stop(plain)
    finally:
        b.stop()
