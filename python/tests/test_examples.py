"""`pip install ./python` into a fresh virtual environment, with no package
index, and the examples run from it against a real probe.

# Live: starts a DPDK probe (make test runs such files one at a time).
"""

import csv
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from conftest import ROOT, free_port, wait_for

PKG = os.path.join(ROOT, "python")
EXAMPLES = os.path.join(PKG, "examples")


@pytest.fixture(scope="module")
def venv():
    d = tempfile.mkdtemp(prefix="qp_venv.")
    subprocess.run([sys.executable, "-m", "venv", d], check=True)
    # no index at all: the build needs nothing from one
    r = subprocess.run([os.path.join(d, "bin", "pip"), "install", "--no-index", PKG], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Successfully installed qmcp-0.1.0" in r.stdout
    return os.path.join(d, "bin", "python")


def test_the_installed_package_is_the_trees(venv):
    out = subprocess.run([venv, "-c", "import qmcp, sys; print(qmcp.__version__, qmcp.__file__)"],
                         capture_output=True, text=True, cwd="/", check=True).stdout.split()
    assert out[0] == "0.1.0" and "site-packages/qmcp/__init__.py" in out[1]


def test_watch_mos(venv, probe):
    sender = threading.Thread(target=lambda: [probe.inject(paced=True) for _ in range(2)])
    p = subprocess.Popen([venv, os.path.join(EXAMPLES, "watch_mos.py"), "--probe", "127.0.0.1:%d" % probe.qmcp_port,
                          "--secret-file", probe.secret_file, "--filter", "udp or (vlan and udp)", "--interval", "500",
                          "--count", "6"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/")
    first = p.stdout.readline()
    assert first.startswith("measurement "), first + p.stderr.read()
    mid = int(first.split()[1])
    sender.start()
    out, err = p.communicate(timeout=60)
    sender.join()
    assert p.returncode == 0, err
    lines = out.splitlines()
    assert len(lines) >= 6
    rtp = [ln for ln in lines if "ssrc 0x5eed1e55 10.10.0.5:16384 > 10.20.0.7:16386" in ln]
    assert rtp, out
    mos = [float(ln.rsplit("MOS ", 1)[1]) for ln in rtp]
    assert all(1.0 <= m <= 4.5 for m in mos), out
    # its measurement ended with it
    with probe.client() as c:
        assert mid not in [m["meas_id"] for m in c.list()]


def test_listener_csv(venv, probe):
    port = free_port()
    out = os.path.join(tempfile.mkdtemp(prefix="qp_csv."), "results.csv")
    argv = [venv, os.path.join(EXAMPLES, "listener_csv.py"), "--port", str(port), "--host", "127.0.0.1",
            "--secret-file", probe.secret_file, "--out", out]

    def rows():
        if not os.path.exists(out):
            return []
        with open(out, newline="") as f:
            return list(csv.DictReader(f))

    lst = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/")
    assert lst.stdout.readline().startswith("listening on port %d" % port)
    with probe.client() as c:
        mid = c.start(interval_ms=100, persist=True, destinations="127.0.0.1:%d" % port, filter="icmp")
        wait_for("3 rows", lambda: len(rows()) >= 3)
        # the receiver is restarted: rows go on from where they were, none twice
        lst.send_signal(signal.SIGTERM)
        assert lst.wait(10) == 0
        time.sleep(0.5)
        lst = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/")
        n = len(rows())
        wait_for("rows after the restart", lambda: len(rows()) >= n + 5, timeout=40)
        c.stop(mid)
        probe_id = c.probe["probe_id"]
    lst.send_signal(signal.SIGTERM)
    assert lst.wait(10) == 0
    rs = rows()
    assert [int(r["seq"]) for r in rs] == list(range(len(rs)))
    assert {(r["probe_id"], r["meas_id"]) for r in rs} == {(probe_id, str(mid))}
    assert all(int(r["interval_start_ns"]) > 0 and r["packets_fwd"] != "" for r in rs)
