"""Write wan_request_response_close.pcap: a real connection over a path with a 90 ms round trip.

How it was made (as root, Linux 6.18; run again with `python tests/captures/make_wan.py`):
two network namespaces, a client (10.11.0.1) and a server (10.11.0.2), each with a TUN
device; this process holds both devices' descriptors and forwards every IP packet from one
to the other 45 ms after reading it, in both directions. Both endpoints are the kernel's own
TCP over a path whose round trip is 90 ms, as on a WAN; the capture is tcpdump on the
client's device, so the server's segments are timestamped when they reach the client. (The
kernel here has no netem qdisc, hence the forwarder.)

The programs are conform's request_response_close: the client writes a request and reads
the response, then close()s; the server reads, answers, reads EOF and closes.
"""
from __future__ import annotations

import fcntl
import heapq
import os
import select
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

DELAY_S = 0.045
CLIENT_NS, SERVER_NS = "tcwan_c", "tcwan_s"
CLIENT_IP, SERVER_IP, PORT = "10.11.0.1", "10.11.0.2", 8011
OUT = Path(__file__).with_name("wan_request_response_close.pcap")

TUNSETIFF, IFF_TUN, IFF_NO_PI = 0x400454CA, 0x0001, 0x1000

CLIENT = f"""
import socket, time
c = socket.create_connection(("{SERVER_IP}", {PORT}))
time.sleep(0.3)
c.send(b"request")
c.recv(100)
c.close()
"""
SERVER = f"""
import socket
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("{SERVER_IP}", {PORT}))
ls.listen(1)
s, _ = ls.accept()
s.recv(100)
s.send(b"response")
while s.recv(100):
    pass
s.close()
"""


def sh(*args: str) -> None:
    subprocess.run(args, check=True)


def tun(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def forward(a: int, b: int, stop: threading.Event) -> None:
    """Every packet read from one device is written to the other DELAY_S later."""
    due: list[tuple[float, int, int, bytes]] = []
    n = 0
    while not stop.is_set():
        wait = max(0.0, min(0.01, due[0][0] - time.monotonic())) if due else 0.01
        ready, _, _ = select.select([a, b], [], [], wait)
        for fd in ready:
            n += 1
            heapq.heappush(due, (time.monotonic() + DELAY_S, n, b if fd == a else a,
                                 os.read(fd, 65535)))
        while due and due[0][0] <= time.monotonic():
            _t, _n, dst, packet = heapq.heappop(due)
            os.write(dst, packet)


def main() -> int:
    for ns in (CLIENT_NS, SERVER_NS):
        subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
        sh("ip", "netns", "add", ns)
    fds = []
    try:
        for ns, dev, me, peer in ((CLIENT_NS, "wanc0", CLIENT_IP, SERVER_IP),
                                  (SERVER_NS, "wans0", SERVER_IP, CLIENT_IP)):
            fds.append(tun(dev))
            sh("ip", "link", "set", dev, "netns", ns)
            sh("ip", "netns", "exec", ns, "ip", "addr", "add", me, "peer", peer, "dev", dev)
            sh("ip", "netns", "exec", ns, "ip", "link", "set", dev, "up")
            sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        stop = threading.Event()
        relay = threading.Thread(target=forward, args=(fds[0], fds[1], stop), daemon=True)
        relay.start()
        dump = subprocess.Popen(["ip", "netns", "exec", CLIENT_NS, "tcpdump", "-i", "wanc0",
                                 "-U", "-w", str(OUT), f"tcp port {PORT}"],
                                stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        server = subprocess.Popen(["ip", "netns", "exec", SERVER_NS, sys.executable, "-c", SERVER])
        time.sleep(0.3)
        sh("ip", "netns", "exec", CLIENT_NS, sys.executable, "-c", CLIENT)
        server.wait(timeout=10)
        time.sleep(1.0)         # the last ACKs
        dump.terminate()
        dump.wait()
        stop.set()
        relay.join()
    finally:
        for fd in fds:
            os.close(fd)
        for ns in (CLIENT_NS, SERVER_NS):
            subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
