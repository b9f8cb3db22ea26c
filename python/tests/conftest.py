"""Fixtures of the Python client's tests: a real probe on a net_tap port.

The probe is the build's (QP_BUILD, default build; build/asan under the
sanitizers), started as the C integration tests start theirs: no
hugepages, two lcores, QMCP and HTTP on free loopback ports, a shared
secret, loopback on the allow-list. Frames reach it through the tap.
Tests that start one say "# Live:" in their header, and make test runs them
one at a time, beside the others.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))  # the package from the tree
sys.path.insert(0, HERE)

import qmcp  # noqa: E402
import pcapfile  # noqa: E402

SECRET = "python-client-test-secret"
DEMO = os.path.join(ROOT, "tests", "data", "demo.pcap")


def build_dir():
    b = os.environ.get("QP_BUILD", "build")
    return b if os.path.isabs(b) else os.path.join(ROOT, b)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Probe:
    """A running qprobe: qmcp_port, http_port, secret, secret_file, tap."""

    _n = 0

    def __init__(self, extra=(), lcores="0@0,1@1"):
        Probe._n += 1
        self.dir = tempfile.mkdtemp(prefix="qp_py.")
        self.secret = SECRET
        self.secret_file = os.path.join(self.dir, "secret")
        fd = os.open(self.secret_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, (SECRET + "\n").encode())
        os.close(fd)
        self.qmcp_port = free_port()
        self.http_port = free_port()
        self.tap = "qpy%d_%d" % (os.getpid() % 10000, Probe._n)
        self.err_path = os.path.join(self.dir, "probe.err")
        argv = [os.path.join(build_dir(), "qprobe"), "--lcores", lcores, "--no-huge", "-m", "512",
                "--no-shconf", "--no-pci", "--log-level=error", "--vdev", "net_tap0,iface=" + self.tap, "--",
                "--http-port", str(self.http_port), "--qmcp-addr", "127.0.0.1", "--qmcp-port", str(self.qmcp_port),
                "--secret-file", self.secret_file, "--allow", "127.0.0.1/32,::1/128", *extra]
        self.err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=self.err, cwd=ROOT)
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("qprobe exited %d: %s" % (self.proc.returncode, self.stderr()))
            try:
                socket.create_connection(("127.0.0.1", self.qmcp_port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.proc.kill()
                    raise RuntimeError("qprobe did not open its QMCP port in 60 s: " + self.stderr())
                time.sleep(0.02)

    def stderr(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def client(self, **kw):
        return qmcp.Client("127.0.0.1", self.qmcp_port, secret=self.secret, **kw)

    def http(self, path):
        """(status, body) of GET path on the probe's HTTP port."""
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.http_port, path), timeout=10) as r:
                return r.status, r.read(), dict(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, e.read(), dict(e.headers)

    def http_json(self, path):
        st, body, _ = self.http(path)
        assert st == 200, (path, st, body)
        return json.loads(body)

    def inject(self, path=DEMO, paced=False):
        return pcapfile.inject(self.tap, path, paced)

    def stop(self):
        """SIGTERM; the probe must exit 0 (sanitizer reports make it fail)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        self.err.close()
        assert rc == 0, "qprobe exited %d: %s" % (rc, self.stderr())


@pytest.fixture(scope="module")
def probe():
    p = Probe()
    yield p
    p.stop()


def offline(filter_expr=None, path=DEMO):
    """The offline report of a capture (the same per-packet path as live)."""
    out = os.path.join(tempfile.mkdtemp(prefix="qp_py."), "r.json")
    argv = [os.path.join(build_dir(), "qprobe"), "--pcap", path, "--report-file", out]
    if filter_expr:
        argv += ["--filter", filter_expr]
    subprocess.run(argv, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    with open(out) as f:
        return json.load(f)


def wait_for(what, fn, timeout=30.0, step=0.05):
    """fn() until it returns something true, at most timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(step)
