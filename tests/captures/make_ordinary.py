"""Capture ordinary programs over loopback: captures nobody wrote for the model.

Each scenario below is a pair of everyday programs (python's http.server, an HTTP client, a
bulk sender, a server that corks its reply) run against each other on 127.0.0.1 while
tcpdump records their one connection (headers only, `-s 128`). The model must accept what
they make the kernel do, or the verdict must name why not (tests/test_ordinary_programs.py
replays the committed captures; it makes them again here when it can).

Run as root with tcpdump installed:

    python tests/captures/make_ordinary.py [SCENARIO ...] [--out DIR]

Without --out the captures are written to tests/captures/user/<scenario>.pcap.
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

USER = Path(__file__).with_name("user")
HOST = "127.0.0.1"
BULK_BYTES = 3 * 1024 * 1024
BODY = b"x" * 4000        # the file http.server serves: one reply of a few segments


@dataclass(frozen=True)
class Scenario:
    name: str
    about: str
    run: Callable[[int], None]          # the client (and a server thread), to the end
    protocol: str | None = None         # a `python3 -m http.server` speaking it first


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _read_to_eof(s: socket.socket) -> int:
    got = 0
    while chunk := s.recv(65536):
        got += len(chunk)
    return got


def _http_server(port: int, root: Path, protocol: str) -> subprocess.Popen:
    """`python3 -m http.server` serving `root`, once it answers (before the capture starts:
    the probe is a connection of its own)."""
    (root / "file").write_bytes(BODY)
    proc = subprocess.Popen([sys.executable, "-m", "http.server", "-b", HOST, "-d", str(root),
                             "-p", protocol, str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("http.server did not start")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=5)


def http_shutdown_then_close(port: int) -> None:
    """http.server (HTTP/1.0); the client sends its GET, shutdown(SHUT_WR), reads the reply to
    EOF, closes."""
    with socket.create_connection((HOST, port)) as c:
        c.sendall(b"GET /file HTTP/1.0\r\nHost: localhost\r\n\r\n")
        c.shutdown(socket.SHUT_WR)
        _read_to_eof(c)


def http_keepalive_two_requests(port: int) -> None:
    """http.server speaking HTTP/1.1 (keep-alive); the client sends two GETs on one connection,
    reads each reply by its Content-Length, then closes; the server reads EOF and closes."""
    import http.client
    conn = http.client.HTTPConnection(HOST, port)
    for _ in range(2):
        conn.request("GET", "/file")
        conn.getresponse().read()
    conn.close()


def _serve_once(port: int, handle: Callable[[socket.socket], None]) -> threading.Thread:
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((HOST, port))
    ls.listen(1)

    def run():
        s, _ = ls.accept()
        ls.close()
        handle(s)
    t = threading.Thread(target=run)
    t.start()
    return t


def bulk_server_closes_first(port: int) -> None:
    """A server that sends 3 MiB (sendall) and closes; the client reads to EOF and closes."""
    def handle(s):
        s.sendall(b"y" * BULK_BYTES)
        s.close()
    t = _serve_once(port, handle)
    with socket.create_connection((HOST, port)) as c:
        _read_to_eof(c)
    t.join()


def cork_then_uncork_close(port: int) -> None:
    """The server reads a request, sets TCP_CORK, writes a header and a body, unsets TCP_CORK
    (the corked data leaves), then closes; the client reads to EOF and closes."""
    def handle(s):
        s.recv(1000)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
        s.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 4000\r\n\r\n")
        s.sendall(BODY)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)
        s.close()
    t = _serve_once(port, handle)
    with socket.create_connection((HOST, port)) as c:
        c.sendall(b"GET /file HTTP/1.0\r\n\r\n")
        _read_to_eof(c)
    t.join()


def client_closes_with_unread_data(port: int) -> None:
    """The client sends a request and closes without reading the reply that came: RST. The
    server, blocked in recv() for the next request, gets ECONNRESET and closes."""
    def handle(s):
        s.recv(1000)
        s.sendall(BODY)
        try:
            s.recv(1000)
        except ConnectionResetError:
            pass
        s.close()
    t = _serve_once(port, handle)
    with socket.create_connection((HOST, port)) as c:
        c.sendall(b"GET /file HTTP/1.0\r\n\r\n")
        time.sleep(0.05)       # the reply arrives and stays unread
    t.join()


def upload_then_shutdown(port: int) -> None:
    """The client uploads 200 kB (sendall), shutdown(SHUT_WR)s, reads the reply to EOF and
    closes; the server reads to EOF, replies and closes. The FIN rides on the upload's last
    segment, which was still queued when shutdown() came."""
    def handle(s):
        _read_to_eof(s)
        s.sendall(b"HTTP/1.0 200 OK\r\n\r\n" + BODY)
        s.close()
    t = _serve_once(port, handle)
    with socket.create_connection((HOST, port)) as c:
        c.sendall(b"u" * 200_000)
        c.shutdown(socket.SHUT_WR)
        _read_to_eof(c)
    t.join()


SCENARIOS = [Scenario(f.__name__, f.__doc__.split("\n")[0], f, protocol)
             for f, protocol in ((http_shutdown_then_close, "HTTP/1.0"),
                                 (http_keepalive_two_requests, "HTTP/1.1"),
                                 (bulk_server_closes_first, None),
                                 (cork_then_uncork_close, None),
                                 (client_closes_with_unread_data, None),
                                 (upload_then_shutdown, None))]


def can_capture() -> str | None:
    """Why captures cannot be made here (None: they can)."""
    if os.geteuid() != 0:
        return "capturing on lo needs root"
    if subprocess.run(["which", "tcpdump"], capture_output=True).returncode != 0:
        return "tcpdump is not installed"
    return None


def capture(scenario: Scenario, out: Path) -> Path:
    """Run `scenario` under tcpdump; the capture of its connection, written to `out`."""
    port = _free_port()
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".part")
    root = tempfile.TemporaryDirectory()
    server = _http_server(port, Path(root.name), scenario.protocol) if scenario.protocol else None
    time.sleep(0.2)
    dump = subprocess.Popen(["tcpdump", "-i", "lo", "-s", "128", "-U", "-w", str(partial),
                             f"tcp port {port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # tcpdump says "listening on lo" once it captures
        assert dump.stderr is not None
        dump.stderr.readline()
        time.sleep(0.5)
        scenario.run(port)
        time.sleep(0.5)
    finally:
        dump.send_signal(signal.SIGINT)
        dump.wait(timeout=10)
        if server is not None:
            _stop(server)
        root.cleanup()
    os.replace(partial, out)     # whole or not at all
    return out


def main(argv: list[str]) -> int:
    by_name = {s.name: s for s in SCENARIOS}
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("scenarios", nargs="*", choices=[[], *by_name], metavar="SCENARIO",
                    help=", ".join(by_name))
    ap.add_argument("--out", type=Path, default=USER)
    args = ap.parse_args(argv)
    why = can_capture()
    if why:
        print(f"cannot capture: {why}", file=sys.stderr)
        return 2
    for name in args.scenarios or list(by_name):
        print(capture(by_name[name], args.out / f"{name}.pcap"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
