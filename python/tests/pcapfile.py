"""Frames of a classic pcap file, and a sender that puts them on an interface."""

import socket
import struct
import time


def frames(path):
    """(timestamp in ns, frame bytes) of each record of a classic pcap file."""
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        end = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        end = ">"
    else:
        raise ValueError("%s: not a classic pcap file" % path)
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    off = 24
    out = []
    while off + 16 <= len(data):
        sec, frac, caplen, _wire = struct.unpack_from(end + "IIII", data, off)
        off += 16
        out.append((sec * 1_000_000_000 + (frac if nano else frac * 1000), data[off:off + caplen]))
        off += caplen
    return out


def inject(ifaces, path, paced=False):
    """Send a capture's frames out of an interface (AF_PACKET), or of each
    of a list of them in turn, frame by frame (two points seeing the same
    traffic), at the capture's own pace when paced. Returns the number of
    frames sent out of each."""
    if isinstance(ifaces, str):
        ifaces = [ifaces]
    socks = []
    try:
        for i in ifaces:
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
            socks.append(s)
            s.bind((i, 0))
        fr = frames(path)
        t0 = time.monotonic()
        first = fr[0][0] if fr else 0
        for ts, b in fr:
            if paced:
                wait = (ts - first) / 1e9 - (time.monotonic() - t0)
                if wait > 0:
                    time.sleep(wait)
            for s in socks:
                s.send(b)
        return len(fr)
    finally:
        for s in socks:
            s.close()
