"""packetdrill scripts (`.pkt`) as one-sided replay input.

A packetdrill script describes one endpoint (the *local* one, the endpoint under test) line
by line: the application's system calls with the results they must return, the segments the
peer sends to it (`<`, the environment) and those it must send (`>`), each at a time. This
module reads the subset that teardown scripts use:

    0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
    +0    < S 0:0(0) win 65535 <mss 1460>
    +0.1  > F. 1:1(0) ack 1
    *     read(4, ..., 100) = -1 ECONNRESET (Connection reset by peer)

- times: `+SECONDS` after the previous line, `SECONDS` since the start, `*` any time;
- system calls NAME(ARGS) = RESULT [ERRNO [(TEXT)]] for socket, setsockopt, getsockopt,
  fcntl, bind, listen, accept, connect, write, send, read, recv, shutdown, close;
- packets: direction, flags (S F R P . U E W), `START:END(LEN)`, `ack N`, `win N`,
  options `<...>` (noted, not interpreted).

The grammar is read with lark; anything outside it, or inside it but meaningless for a
teardown (an unknown call, a flag that is not TCP's), is a located error (TCP620, TCP621),
never a traceback. The packets become `capture.Packet`s with the script's own sequence
numbers (each direction counts from 0, its SYN) and go through the capture reader's one
translation into the model's segments (`capture.segments_from_packets`), so a script and a
pcap of the same exchange give the same segments. The calls become what one-sided replay
checks (tcpcheck.oneside): the write(), close() and shutdown() calls in their place among the
segments and at their times, and the results of reads and writes after an error (EOF,
ECONNRESET, EPIPE).

Times: packetdrill makes each system call at the script's time and checks each outbound
packet against its time within a tolerance (its --tolerance_usecs, 4 ms by default). One-sided
replay pins the packets to the script's times, as it pins a capture's, and each call to its
line's time within that tolerance (`TOLERANCE_MS`): a call and the segment it sends are one
step of the model, so the two must agree within it, as packetdrill demands.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from pathlib import Path

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput

from .capture import (
    ACK,
    CWR,
    ECE,
    FIN,
    PSH,
    RST,
    SYN,
    URG,
    Capture,
    Packet,
    segments_from_packets,
)
from .diagnostics import Diagnostic, Span, TcpcheckError
from .replay import calls_after_error

GRAMMAR = r"""
start: _NL* (line _NL+)*
line: time (syscall | packet)
time: PLUS NUMBER   -> relative
    | NUMBER        -> absolute
    | STAR          -> anytime
syscall: NAME "(" [arg ("," arg)*] ")" "=" NUMBER [ERRNO] [NOTE]
?arg: atom ("|" atom)*  -> union
?atom: NUMBER | NAME | ELLIPSIS | STRING
     | "[" [arg ("," arg)*] "]"            -> array
     | "{" [field ("," field)*] "}"        -> struct
field: NAME "=" arg
packet: DIR FLAGS [seq] [ack] [win] [options]
seq: NUMBER ":" NUMBER "(" NUMBER ")"
ack: "ack" NUMBER
win: "win" NUMBER
options: "<" [OPTION ("," OPTION)*] ">"

PLUS: "+"
STAR: "*"
DIR: /[<>]/
FLAGS: /[SFRPUEW.]+/
NUMBER: /-?(\d+(\.\d*)?|\.\d+)/
NAME: /[A-Za-z_][A-Za-z_0-9]*/
ELLIPSIS: "..."
STRING: /"[^"\n]*"/
ERRNO: /E[A-Z0-9]+/
NOTE: /\([^)\n]*\)/
OPTION: /[^,<>\n]+/
_NL: /(\r?\n)+/
COMMENT: /\/\/[^\n]*/ | /\/\*(.|\n)*?\*\//
%ignore COMMENT
%ignore /[ \t]+/
"""



@functools.cache
def _parser() -> Lark:
    """The script grammar's parser, built when a script is first read (building it takes
    longer than a small replay: a replay of a capture never needs it)."""
    return Lark(GRAMMAR, parser="lalr", lexer="contextual", propagate_positions=True,
                maybe_placeholders=True)

# the calls a teardown script may make; the others are setup the model does not see
CALLS = ("socket", "setsockopt", "getsockopt", "fcntl", "bind", "listen", "accept", "connect",
         "write", "send", "read", "recv", "shutdown", "close")
_FLAG_LETTERS = {"S": SYN, "F": FIN, "R": RST, "P": PSH, ".": ACK, "U": URG, "E": ECE,
                 "W": CWR}
# packetdrill's default --tolerance_usecs (config.c: 4000 us): how far a call may be from its
# script time in one-sided replay
TOLERANCE_MS = 4.0
# the script's two endpoints, as addresses for the capture reader
LOCAL = ("192.0.2.1", 8080)
REMOTE = ("192.0.2.2", 40000)


@dataclass(frozen=True, slots=True)
class AppCall:
    """A write(), close() or shutdown() the script makes, where it stands among the segments."""
    label: str          # as the model's events are labelled: "close()", "shutdown(SHUT_WR)"
    after: int          # how many of the model's segments come before it
    line: int
    time_ms: float | None = None   # the script's time for it, on the capture's clock (ms since
                                   # its first segment); None at `*` or with no segment


@dataclass(frozen=True, slots=True)
class Script:
    """A packetdrill script read for one-sided replay."""
    capture: Capture                 # the segments, inbound from the peer, outbound from `side`
    side: str                        # "client" or "server": the local endpoint, under test
    calls: tuple[str, ...] | None    # results after the first failing call, as observations
    app_calls: tuple[AppCall, ...]   # write(), close() and shutdown() in order
    settings: tuple[tuple[str, str], ...]   # socket options seen: ("SO_LINGER", "0"), ...


def _error(code: str, message: str, span: Span, *notes: str) -> TcpcheckError:
    return TcpcheckError([Diagnostic(code, message, span, tuple(notes))])


def _span(path: str, meta_or_token) -> Span:
    line = getattr(meta_or_token, "line", 1) or 1
    column = getattr(meta_or_token, "column", 1) or 1
    end_line = getattr(meta_or_token, "end_line", line) or line
    end_column = getattr(meta_or_token, "end_column", column + 1) or column + 1
    return Span(path, line, column, end_line, end_column)


def read_script(path: str | Path) -> Script:
    """Read a packetdrill script; TcpcheckError (TCP600, TCP620, TCP621) on bad input."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except IsADirectoryError:
        raise TcpcheckError([Diagnostic("TCP600", f"{path} is a directory, not a script",
                                        None)]) from None
    except (OSError, UnicodeDecodeError) as err:
        raise TcpcheckError([Diagnostic("TCP600", f"cannot read {path}: "
                                        f"{getattr(err, 'strerror', None) or err}", None)]) from None
    return parse_script(text, str(path))


def parse_script(text: str, source: str) -> Script:
    try:
        tree = _parse(text, source)
        return _Reader(source).read(tree)
    except RecursionError:
        raise _error("TCP620", "the script's arguments are nested too deeply",
                     Span(source, 1, 1, 1, 2)) from None


def _parse(text: str, source: str) -> Tree:
    if not text.endswith("\n"):
        text += "\n"
    try:
        return _parser().parse(text)
    except UnexpectedCharacters as err:
        span = Span(source, err.line, err.column, err.line, err.column + 1)
        raise _error("TCP620", f"unexpected character {text[err.pos_in_stream]!r} in this "
                     "packetdrill script", span, _expected(err)) from None
    except UnexpectedEOF:
        lines = text.rstrip("\n").split("\n")
        span = Span(source, len(lines), len(lines[-1]) + 1, len(lines), len(lines[-1]) + 2)
        raise _error("TCP620", "the script ends in the middle of a line", span) from None
    except UnexpectedInput as err:
        token = getattr(err, "token", None)
        shown = str(token) if token is not None and str(token).strip() else "end of line"
        span = Span(source, err.line, err.column, err.line,
                    err.column + max(1, len(str(token or " "))))
        raise _error("TCP620", f"unexpected {shown!r} in this packetdrill script", span,
                     _expected(err)) from None


_TERMINAL_WORDS = {"NUMBER": "a number", "NAME": "a name", "DIR": "'<' or '>'",
                   "FLAGS": "TCP flags (S F R P .)", "PLUS": "'+'", "STAR": "'*'",
                   "ERRNO": "an errno", "_NL": "end of line", "ELLIPSIS": "'...'"}


def _expected(err: UnexpectedInput) -> str:
    names = sorted(getattr(err, "expected", None) or getattr(err, "allowed", None) or ())
    words = sorted({_TERMINAL_WORDS.get(n, n.strip('"').lower()) for n in names
                    if not n.startswith("__")})
    return ("expected " + ", ".join(words)) if words else \
        "this reader knows the subset of packetdrill that teardown scripts use"


def _words(args: list) -> list[str]:
    """Every name and number among a call's arguments, in order (inside unions, arrays and
    structs too)."""
    out: list[str] = []
    for a in args:
        if isinstance(a, Token):
            out.append(str(a))
        elif isinstance(a, Tree):
            out.extend(_words(a.children))
    return out


class _Reader:
    """The parse tree to packets and calls, with the script's clock."""

    def __init__(self, source: str):
        self.source = source
        self.clock = 0.0           # the last known time, seconds
        self.packets: list[Packet] = []
        self.recorded: list[str] = []           # "read=ECONNRESET", ... in order
        self.recorded_at: list[int] = []        # the line of each
        self.app_calls: list[tuple[str, int, float]] = []   # (label, line, seconds or nan)
        self.settings: list[tuple[str, str]] = []
        self.syn_from: str | None = None
        self.role: str | None = None            # from connect() / listen() / accept()
        self.next_seq = {"in": 0, "out": 0}
        self.anytime: set[int] = set()          # lines of packets at `*`

    def read(self, tree: Tree) -> Script:
        for line in tree.children:
            if isinstance(line, Tree) and line.data == "line":
                self.line(line)
        side = self.local_side()
        client, server = (LOCAL, REMOTE) if side == "client" else (REMOTE, LOCAL)
        handshake = self.syn_from is not None
        cap = segments_from_packets(self.packets, client, server, handshake)
        # a packet at `*` was read at the last known time; it has none of its own
        cap.segments = [dataclasses.replace(g, time_ms=None) if g.frame in self.anytime else g
                        for g in cap.segments]
        cap.source, cap.format = self.source, "packetdrill"
        cap.connection = f"{side} (under test) <-> {'server' if side == 'client' else 'client'}"
        # the capture's clock starts at its first segment (capture.segments_from_packets)
        first = cap.segments[0].frame if cap.segments else None
        t0 = next((p.time for p in self.packets if p.frame == first), None)
        app = tuple(AppCall(label, sum(1 for s in cap.segments if s.frame < line), line,
                            None if t0 is None or math.isnan(when)
                            else round((when - t0) * 1000, 3))
                    for label, line, when in self.app_calls)
        calls = calls_after_error(self.recorded)
        first_bad = next((k for k, r in enumerate(self.recorded)
                          if r.endswith(("=ECONNRESET", "=EPIPE"))), None)
        if first_bad is not None and calls is None:
            later = next(r for r in self.recorded[first_bad:]
                         if r.split("=", 1)[1] not in ("ECONNRESET", "EPIPE", "0"))
            line = self.recorded_at[self.recorded.index(later, first_bad)]
            raise _error("TCP621", f"the model has no call result {later.replace('=', ' = ')} "
                         "after a connection error", Span(self.source, line, 1, line, 2),
                         "after ECONNRESET or EPIPE the model knows read() = 0, read() = -1 "
                         "ECONNRESET, write() = -1 EPIPE and write() = -1 ECONNRESET")
        return Script(cap, side, calls, app, tuple(self.settings))

    def local_side(self) -> str:
        if self.syn_from is not None:
            return "client" if self.syn_from == "out" else "server"
        if self.role is not None:
            return self.role
        raise _error("TCP621", "cannot tell which endpoint the script tests: it has no SYN "
                     "and no connect(), listen() or accept()", Span(self.source, 1, 1, 1, 2))

    # ------------------------------------------------------------ lines

    def line(self, node: Tree) -> None:
        time_node, event = node.children
        when = self.time(time_node)
        if event.data == "syscall":
            self.syscall(event, when)
        else:
            if math.isnan(when):
                self.anytime.add(node.meta.line)
                when = self.clock
            self.packet(event, when, node.meta.line)

    def time(self, node: Tree) -> float:
        """The line's time in seconds (nan for `*`: any time; the clock stays where it was)."""
        if node.data == "anytime":
            return math.nan
        number = node.children[-1]
        value = self.number(number, float)
        if value < 0:
            raise _error("TCP621", "a time cannot be negative", _span(self.source, number))
        if node.data == "relative":
            value += self.clock
        elif value + 1e-9 < self.clock:
            raise _error("TCP621", f"absolute time {number} is before the previous line's "
                         f"{self.clock:g} s", _span(self.source, number))
        self.clock = value
        return value

    def number(self, token: Token, kind=int):
        try:
            value = float(token) if kind is float else int(str(token), 10)
        except ValueError:
            raise _error("TCP621", f"expected a whole number, not {token}",
                         _span(self.source, token)) from None
        if kind is int and not -1 <= value < 1 << 32:
            raise _error("TCP621", f"{token} is outside TCP's 32-bit sequence space",
                         _span(self.source, token))
        return value

    # ------------------------------------------------------------ system calls

    def syscall(self, node: Tree, when: float = math.nan) -> None:
        name, *rest = node.children
        errno = rest[-2]            # rest[-1], the errno's text in parentheses, is a comment
        result_token = rest[-3]
        args = [a for a in rest[:-3] if a is not None]
        call = str(name)
        if call not in CALLS:
            raise _error("TCP621", f"system call {call}() is not one a teardown script uses",
                         _span(self.source, name), "known: " + ", ".join(CALLS))
        result = self.number(result_token)
        failed = errno is not None
        if result == -1 and not failed:
            raise _error("TCP621", f"{call}() = -1 needs its errno (ECONNRESET, EPIPE, ...)",
                         _span(self.source, result_token))
        line = node.meta.line
        if call == "connect":
            self.role = "client"
        elif call in ("listen", "accept") and self.role is None:
            self.role = "server"
        elif call in ("read", "recv"):
            self.record("read", result, errno, line)
        elif call in ("write", "send"):
            self.record("write", result, errno, line)
            self.app_calls.append(("write()", line, when))
        elif call == "shutdown":
            how = [w for w in _words(args) if w.startswith("SHUT_")]
            if not how:
                raise _error("TCP621", "shutdown() needs SHUT_RD, SHUT_WR or SHUT_RDWR",
                             _span(self.source, name))
            if not failed:
                self.app_calls.append((f"shutdown({how[0]})", line, when))
        elif call == "close" and not failed:
            self.app_calls.append(("close()", line, when))
        elif call == "setsockopt":
            self.setsockopt(args)

    def record(self, what: str, result: int, errno, line: int) -> None:
        if errno is not None:
            text = f"{what}={errno}"
        elif what == "read" and result == 0:
            text = "read=0"
        else:
            text = f"{what}=ok"
        self.recorded.append(text)
        self.recorded_at.append(line)

    def setsockopt(self, args: list) -> None:
        """Note the options a teardown depends on: SO_LINGER (and its timeout), TCP_QUICKACK."""
        names = _words(args)
        if "SO_LINGER" in names:
            struct = next((t for a in args if isinstance(a, Tree)
                           for t in a.iter_subtrees_topdown() if t.data == "struct"), None)
            fields = {}
            for f in (struct.children if struct is not None else []):
                if isinstance(f, Tree) and f.data == "field":
                    key, value = f.children
                    fields[str(key)] = " ".join(_words([value]))
            if fields.get("l_onoff", fields.get("onoff")) not in (None, "0"):
                self.settings.append(("SO_LINGER", fields.get("l_linger",
                                                              fields.get("linger", "?"))))
        elif "TCP_QUICKACK" in names:
            self.settings.append(("TCP_QUICKACK", "1"))

    # ------------------------------------------------------------ packets

    def packet(self, node: Tree, when: float, line: int) -> None:
        direction, flags_token, seq, ack, win, options = node.children
        way = "in" if str(direction) == "<" else "out"
        flags = 0
        for letter in str(flags_token):
            flags |= _FLAG_LETTERS[letter]
        if flags & SYN and not flags & ACK and self.syn_from is None:
            self.syn_from = way
        if seq is not None:
            start, end, length = (self.number(t) for t in seq.children)
            if min(start, end, length) < 0:
                raise _error("TCP621", "sequence numbers and lengths are not negative",
                             _span(self.source, seq.meta))
            if end - start != length:
                raise _error("TCP621", f"{start}:{end}({length}): the length is not "
                             "END - START", _span(self.source, seq.meta))
        else:
            start, length = self.next_seq[way], 0
        ack_number = self.number(ack.children[0]) if ack is not None else 0
        if ack is not None and not flags & ACK:
            raise _error("TCP621", "an ack number on a packet without the ACK flag '.'",
                         _span(self.source, ack.meta))
        if ack is None and flags & ACK:
            raise _error("TCP621", "a packet with the ACK flag '.' needs its `ack N`",
                         _span(self.source, flags_token))
        window = self.number(win.children[0]) if win is not None else 65535
        opts = tuple(str(o).strip() for o in (options.children if options is not None else [])
                     if o is not None)
        self.next_seq[way] = max(self.next_seq[way],
                                 start + length + (1 if flags & (SYN | FIN) else 0))
        src, dst = (REMOTE, LOCAL) if way == "in" else (LOCAL, REMOTE)
        self.packets.append(Packet(line, when, src, dst, start, ack_number, flags, length,
                                   window, opts))
