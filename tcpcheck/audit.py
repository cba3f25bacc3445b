"""A whole capture audited: every TCP connection in it, its kind of close and its verdict.

`tcpcheck replay CAPTURE --all` reads a pcap or pcapng file as a stream (tcpcheck.capture,
one frame at a time) and follows every TCP connection, split as `--conn` splits them (the
4-tuple; a fresh SYN after a FIN or an RST starts a new connection). A connection is decided
once it is over: closed (an RST, or both FINs acknowledged) and quiet for GRACE_S seconds of
capture time (a retransmitted FIN or a last ACK may follow), or at the end of the file.
Then its packets are translated (`connection_capture`), replayed against the model (two-
sided, or one-sided with `side`) and dropped: memory follows the connections open at once,
not the file's size. A connection the file ends before its close is over is replayed as a
prefix (the capture stopped, not the connection).

Each connection becomes a `Row`: endpoints, the kind of close the capture shows (the words
of tcpcheck.kinds: three-way, four-way, simultaneous, rst, with which side sent the RST; and
two a capture can end in: half-closed, one FIN only; open, no FIN or RST), the verdict, and
the reason of a rejection in one line. The `Summary` counts them by kind and verdict and
names what the capture's end leaves behind: the longest TIME_WAIT held, the connections left
in CLOSE_WAIT or FIN_WAIT_2.

The untimed part of a two-sided verdict depends only on the connection's abstract segment
sequence (side, flags, ack, stale of each segment), the parameters and the channels' depth:
identical sequences are searched once (`distinct_sequences`; the others are cache hits), and
only the timing check of the matching run (z3, against the connection's own timestamps) is
done per connection. When that run does not fit the times, the connection is replayed whole,
as a single replay would (other runs may fit), so a row always says what `tcpcheck replay
--conn N` says.

A sequence is searched first in the combinations of parameters at most one away from the
model's declared defaults (`NEAR_DEFAULTS`), then, only if none of them accepts it, in all of
them. An acceptance in some combinations is the verdict of all (a run is a run); a rejection
is always the whole search's, so its reason is the one a single replay gives. The ordinary
connections of a capture are runs of the ordinary settings, and the unusual settings (losses,
a shared socket, more calls) are what multiplies a long connection's states: a bulk transfer
searched in every one of 2,048 combinations took seconds, in the few dozen near the defaults a
fraction of one.
"""
from __future__ import annotations

import heapq
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from .capture import (ACK, FIN, RST, SYN, Capture, Packet, Skipped, capture_kind,
                      connection_capture, endpoint_text, endpoints, no_cycle_collection,
                      open_capture, read_capture, starts_anew, stream_packets)
from .diagnostics import Diagnostic, TcpcheckError
from .explore import NO_DEADLINE, Deadline, LimitReached, StopReason
from .kinds import CloseKind
from .oneside import replay_side
from .replay import (Replay, _pinned, channel_depth, forget_large_splits, load_open,
                     network_delay, replay, shared_splits)
from .run import Run
from .segment import segment_text
from .tcp import Flags
from .verdicts import Verdict

# Seconds of capture time a closed connection waits before it is decided: a last ACK that was
# lost makes its peer retransmit the FIN after an RTO (200 ms at least on Linux, doubling).
GRACE_S = 3.0
# How long Linux holds TIME_WAIT (TCP_TIMEWAIT_LEN, 60 s): the summary names who holds it at
# the end of the capture.
TIME_WAIT_S = 60.0
# Packets read between two polls of the deadline (a signal, --max-memory) and of the closed
# connections that may be decided.
POLL_EVERY = 1024

# Timing solvers kept (one per segment sequence and channel delay; a WAN capture's delays vary
# with each connection's round trip): past this many they are dropped and built again.
MAX_TIMED_RUNS = 4096
# How many parameters with a declared default a combination of the first search may set
# otherwise (module docstring).
NEAR_DEFAULTS = 1

# The kinds a capture can end a connection in beyond those of a complete close.
HALF_CLOSED = "half-closed"      # one side sent its FIN, the other not (yet)
OPEN = "open"                    # neither sent a FIN or an RST within the capture
KIND_ORDER = (CloseKind.THREE_WAY, CloseKind.FOUR_WAY, CloseKind.SIMULTANEOUS, CloseKind.RST,
              HALF_CLOSED, OPEN, CloseKind.INCOMPLETE)
VERDICT_ORDER = (Verdict.ACCEPTED, Verdict.REJECTED, Verdict.INCONCLUSIVE, Verdict.MODEL_ERROR,
                 Verdict.UNREADABLE)


def _after(a: int, b: int) -> bool:
    """Sequence number a is at or after b (RFC 9293 3.4: modulo 2**32)."""
    return (a - b) % (1 << 32) < (1 << 31)


class _Open:
    """A connection being read: its packets, and what its close has shown so far."""

    __slots__ = ("number", "packets", "ended", "fin_end", "fin_acked", "acked_at", "rst",
                 "first_fin", "last_time")

    def __init__(self, number: int):
        self.number = number
        self.packets: list[Packet] = []
        self.ended = False                          # a FIN or an RST was seen (starts_anew)
        self.fin_end: dict[tuple, int] = {}         # per sender: the sequence number after its FIN
        self.fin_acked: dict[tuple, float] = {}     # per FIN sender: when the peer acknowledged it
        self.acked_at: dict[tuple, float] = {}      # per side: when it acknowledged the peer's FIN
        self.rst = False
        self.first_fin: tuple | None = None
        self.last_time = 0.0

    def add(self, p: Packet) -> None:
        self.packets.append(p)
        self.last_time = p.time
        if p.flags & RST:
            self.rst = self.ended = True
        if p.flags & FIN:
            self.ended = True
            self.fin_end.setdefault(p.src, (p.seq + p.length + 1) % (1 << 32))
            if self.first_fin is None:
                self.first_fin = p.src
        peer_fin = self.fin_end.get(p.dst)
        if p.flags & ACK and peer_fin is not None and _after(p.ack, peer_fin):
            self.fin_acked.setdefault(p.dst, p.time)
            self.acked_at.setdefault(p.src, p.time)

    @property
    def closed(self) -> bool:
        """Over for good: an RST, or both FINs acknowledged."""
        return self.rst or len(self.fin_acked) == 2


@dataclass(frozen=True, slots=True)
class Row:
    """One connection of the capture, decided."""
    number: int                  # 1-based, in the order connections start (as --conn N)
    client: str                  # ADDR:PORT of the side that sent the SYN (else the first)
    server: str
    first_frame: int
    packets: int
    segments: int                # the segments the model sees (tcpcheck.capture)
    kind: str                    # CloseKind's word, or HALF_CLOSED / OPEN
    rst_by: str | None           # "client" or "server": who sent the first RST
    verdict: Verdict
    reason: str                  # why not accepted, in one line ("" when accepted)
    model_kind: str | None       # the kind of the matching run of the model
    prefix: bool                 # replayed as a prefix (the file ended before its close did)
    cached: bool                 # its untimed verdict came from an identical sequence's
    compact: str                 # the segments, "C:FA S:A ..." (tcpcheck.capture)
    drawn: str | None = None     # its ladder, when drawn (--draw)

    @property
    def kind_text(self) -> str:
        return f"{self.kind} ({self.rst_by})" if self.rst_by else self.kind

    def as_json(self) -> dict:
        return {"type": "connection", "number": self.number, "client": self.client,
                "server": self.server, "first_frame": self.first_frame,
                "packets": self.packets, "segments": self.segments, "kind": self.kind,
                "rst_by": self.rst_by, "verdict": str(self.verdict), "reason": self.reason,
                "model_kind": self.model_kind, "prefix": self.prefix, "cached": self.cached,
                "compact": self.compact, "drawn": self.drawn}


@dataclass(frozen=True, slots=True)
class Leftover:
    """An endpoint the capture's end leaves in a state (TIME_WAIT, CLOSE_WAIT, FIN_WAIT_2)."""
    connection: int
    side: str
    endpoint: str
    since_s: float               # seconds it had been in that state at the end of the capture

    def as_json(self) -> dict:
        return {"connection": self.connection, "side": self.side, "endpoint": self.endpoint,
                "since_s": self.since_s}

    def text(self) -> str:
        return f"#{self.connection} {self.side} {self.endpoint} ({self.since_s:.3f} s)"


@dataclass
class Audit:
    """What the audit of one capture found: a row per connection decided, and the rest."""
    source: str
    format: str
    model: str
    rows: list[Row] = field(default_factory=list)
    frames: int = 0
    not_tcp: int = 0             # frames that are no TCP segment tcpcheck reads
    late_packets: int = 0        # packets of a connection already decided (after its grace)
    peak_open: int = 0           # the most connections held at once (what memory follows)
    distinct_sequences: int = 0  # two-sided verdicts searched (the others: cache hits)
    cache_hits: int = 0
    time_wait: list[Leftover] = field(default_factory=list)
    close_wait: list[Leftover] = field(default_factory=list)
    fin_wait_2: list[Leftover] = field(default_factory=list)
    stopped: StopReason | None = None         # a signal or --max-memory ended it early
    undecided: int = 0                        # connections left when it stopped
    error: TcpcheckError | None = None        # the file is damaged after the frames read

    @property
    def verdicts(self) -> list[Verdict]:
        out = [r.verdict for r in self.rows]
        return out + [Verdict.UNREADABLE] if self.error is not None else out

    def counts(self) -> dict[str, dict[str, int]]:
        """Connections by kind, then by verdict (only those that occur), in a fixed order."""
        table: dict[str, dict[str, int]] = {}
        for kind in KIND_ORDER:
            rows = [r for r in self.rows if r.kind == kind]
            if rows:
                table[str(kind)] = {str(v): n for v in VERDICT_ORDER
                                    if (n := sum(1 for r in rows if r.verdict == v))}
        return table

    def summary_json(self) -> dict:
        longest = max(self.time_wait, key=lambda t: (t.since_s, -t.connection), default=None)
        return {"type": "summary", "source": self.source, "format": self.format,
                "model": self.model, "connections": len(self.rows), "frames": self.frames,
                "not_tcp": self.not_tcp, "late_packets": self.late_packets,
                "peak_open": self.peak_open,
                "by_kind": self.counts(),
                "by_verdict": {str(v): n for v in VERDICT_ORDER
                               if (n := sum(1 for r in self.rows if r.verdict == v))},
                "distinct_sequences": self.distinct_sequences, "cache_hits": self.cache_hits,
                "time_wait_at_end": len(self.time_wait),
                "longest_time_wait": None if longest is None else longest.as_json(),
                "close_wait_at_end": [t.as_json() for t in self.close_wait],
                "fin_wait_2_at_end": [t.as_json() for t in self.fin_wait_2],
                "stopped": None if self.stopped is None else str(self.stopped),
                "undecided": self.undecided,
                "error": None if self.error is None else
                self.error.diagnostics[0].as_json()}


# What a caller does with a connection the model rejects (draw it): returns what it wrote.
OnRejected = Callable[[int, Replay], "str | None"]


@dataclass(frozen=True, slots=True)
class Decision:
    """What a row says of a connection's replay: the verdict, why not, the matching run's
    kind. `replay` is the connection's own Replay when one was built (a rejection, a timed
    search); an acceptance decided from an identical sequence builds none."""
    verdict: Verdict
    reason: str
    model_kind: str | None
    cached: bool
    replay: Replay | None = None

    @classmethod
    def of(cls, r: Replay, cached: bool) -> Decision:
        return cls(r.verdict, reason(r), None if r.kind is None else str(r.kind), cached, r)


class Auditor:
    """Decides connections one at a time against one model: the compiled model per channel
    depth, the untimed verdict per abstract segment sequence, the kind of close it shows, and
    the timed verdict per sequence and relative times are kept across them."""

    def __init__(self, model_path: Path, params: list[str], side: str | None = None,
                 prefix: bool = False, deadline: Deadline = NO_DEADLINE,
                 on_rejected: OnRejected | None = None,
                 delay: tuple[float, float] | None = None, max_nodes: int | None = None):
        self.model_path, self.params = model_path, list(params)
        self.side, self.prefix, self.deadline = side, prefix, deadline
        # --delay (None: each connection's own path) and --max-states, as `replay` takes them
        self.delay, self.max_nodes = delay, max_nodes
        self.on_rejected = on_rejected
        self._systems = {0: load_open(model_path, self.params)}   # a bad model fails here
        self._untimed: dict[tuple, Replay] = {}
        self._kinds: dict[tuple, tuple[str, str | None]] = {}     # sequence -> close_kind
        self._runs: dict[tuple, object] = {}    # (sequence, delay) -> timing.PinnedRun
        self._variants: dict[tuple, list] = {}  # sequence -> the matching run's variants
        # (sequence, delay, times) -> the whole timed replay of a connection whose matching
        # run did not fit its times (the copies of one connection need it once)
        self._searched: dict[tuple, Replay] = {}
        self.hits = 0

    @property
    def model_name(self) -> str:
        return self._systems[0].model.name

    @property
    def distinct(self) -> int:
        return len(self._untimed)

    def _system(self, depth: int, cap: Capture):
        """The model compiled for the channel depth `depth` that `cap` needs."""
        ts = self._systems.get(depth)
        if ts is None:
            ts = self._systems[depth] = load_open(self.model_path, self.params, [cap])
        return ts

    @staticmethod
    def sequence(cap: Capture) -> tuple:
        """The connection's abstract segment sequence: all its untimed verdict and its kind
        of close depend on (side, flags, ack, stale of each segment): its side and model
        segment (flags and fields) each."""
        return tuple((s.side, s.segment) for s in cap.segments)

    def close_kind(self, cap: Capture, sequence: tuple) -> tuple[str, str | None]:
        """close_kind(cap), once per sequence (it reads side, flags and ack alone)."""
        kind = self._kinds.get(sequence)
        if kind is None:
            if len(self._kinds) >= MAX_TIMED_RUNS:
                self._kinds.clear()
            kind = self._kinds[sequence] = close_kind(cap)
        return kind

    def verdict(self, cap: Capture, prefix: bool) -> tuple[Replay, bool]:
        """The connection's replay, as `tcpcheck replay` gives it, and whether its untimed
        part came from the cache. Raises LimitReached when the deadline passes."""
        d = self.decide(cap, prefix, self.sequence(cap), want_replay=True)
        return d.replay, d.cached

    def decide(self, cap: Capture, prefix: bool, sequence: tuple,
               want_replay: bool = False) -> Decision:
        """The row's verdict for connection `cap` whose abstract sequence is `sequence`: the
        untimed search once per sequence, then the connection's own times (with
        `want_replay`, the connection's Replay is built even for a cached acceptance)."""
        depth = channel_depth([cap])
        ts = self._system(depth, cap)
        key = (depth, prefix, self.side, sequence)
        base = self._untimed.get(key)
        cached = base is not None
        if cached:
            self.hits += 1
        else:
            base = self._untimed[key] = self._replay(ts, cap, prefix, False)
        tsd, delay, given = network_delay(ts, cap, self.delay, True)
        if not base.accepted or base.run is None:
            # the times cannot make it any better: the untimed verdict is the row's
            return Decision.of(self._own(base, cap, tsd, delay, given), cached)
        if self.side is None:
            fits = self._fits(tsd, key, delay, base, cap)
            if fits and not want_replay:
                return Decision(Verdict.ACCEPTED, "", None if base.kind is None
                                else str(base.kind), cached)
            if fits:
                own = self._own(base, cap, tsd, delay, given)
                # feasible, without the times of its steps: a row does not show them
                # (--conn N does)
                from .timing import RunTiming   # deferred: timing loads z3
                return Decision.of(replace(own, timing=RunTiming(True, None, None),
                                           timed_by_capture=bool(_pinned(cap, self._variants[
                                               key]))), cached)
        # the shortest run does not fit these times (or one side is judged: its timing pins
        # the peer's segments too): the whole timed search, once per sequence and times
        times = (key, delay, tuple(s.time_ms for s in cap.segments))
        searched = self._searched.get(times)
        if searched is None:
            if len(self._searched) >= MAX_TIMED_RUNS:
                self._searched.clear()
            searched = self._searched[times] = self._replay(ts, cap, prefix, True)
        return Decision.of(self._own(searched, cap, searched.system, searched.channel_delay,
                                     searched.delay_given), cached)

    def _replay(self, ts, cap: Capture, prefix: bool, check_timing: bool) -> Replay:
        """A single replay of the connection, two-sided or of the side judged: first in the
        combinations near the defaults, then, unless they accept it, in all (module
        docstring)."""
        for other in self._systems.values():
            if other is not ts:
                forget_large_splits(other)

        def search(within: int | None) -> Replay:
            if self.side is not None:
                return replay_side(ts, cap, self.side, prefix=prefix,
                                   check_timing=check_timing, delay=self.delay,
                                   deadline=self.deadline, max_nodes=self.max_nodes,
                                   within=within)
            # a row shows no choices (what else may have sent a segment), so the untimed
            # search works none out; the timed one does, for the ladder --draw gives a
            # rejection
            return replay(ts, cap, prefix=prefix, check_timing=check_timing, delay=self.delay,
                          deadline=self.deadline, max_nodes=self.max_nodes,
                          choices=check_timing, within=within)

        combos = shared_splits(ts).combos
        near = combos.near_defaults(NEAR_DEFAULTS)
        if near != combos.every:
            first = search(near)
            if first.verdict is Verdict.ACCEPTED:
                return first
        return search(None)

    @staticmethod
    def _own(r: Replay, cap: Capture, tsd, delay, given: bool) -> Replay:
        """Replay `r` of an identical sequence, as this connection's: its segments (frames,
        times), its channel delay."""
        failed = cap.segments[r.failed_at.number - 1] if r.failed_at is not None else None
        return replace(r, capture=cap, system=tsd, failed_at=failed, channel_delay=delay,
                       delay_given=given)

    def _fits(self, tsd, key: tuple, delay, base: Replay, cap: Capture) -> bool:
        """Whether the matching run of the sequence fits the connection's times: its
        constraints built once per sequence and delay, the connection's times pinned on
        them (timing.PinnedRun, reduced to bounds when asked often)."""
        from .timing import PinnedRun   # deferred: timing loads z3

        variants = self._variants.get(key)
        if variants is None:
            variants = self._variants[key] = Run.of(base.view, base.run).variants
        run = self._runs.get((key, delay))
        if run is None:
            if len(self._runs) >= MAX_TIMED_RUNS:   # a solver each: forget them all at once
                self._runs.clear()
            run = self._runs[(key, delay)] = PinnedRun(tsd, variants)
        return run.fits(_pinned(cap, variants))


def reason(r: Replay) -> str:
    """Why the connection is not accepted, in one line ("" when it is)."""
    n = len(r.capture.segments)
    if r.error is not None:
        return (f"the model fails (error[{r.error.code}]) after segment #{r.matched}"
                if r.matched else f"the model fails (error[{r.error.code}]) before the "
                "first segment")
    if r.search_limit:
        # which limit: the search's bound of pairs, or the command's --time-limit,
        # --max-memory or a signal
        limit = r.stop_reason.value if r.stop_reason is not None else "search limit"
        return f"stopped ({limit}): {r.matched} of {n} segments matched"
    if r.failed_at is not None:
        seg = r.failed_at
        return (f"no run sends {seg.side} {segment_text(seg.as_model())} as segment "
                f"#{seg.number} [frame {seg.frame}: {seg.tcp}]")
    if r.calls_differ:
        return "no run makes the application's calls with their results"
    if not r.accepted:
        return ("every run that sends this segment must send more" if n == 1 else
                f"every run that sends these {n} segments must send more")
    if r.untimely:
        # not z3's clashing constraints: which of them it names varies from one solver run to
        # the next, and a row must read the same every time (--conn N prints them)
        return ("these segments, but no run tried fits the captured times" if r.timing_limit
                else "these segments, but not at the captured times (the timers' ranges clash "
                "with them)")
    return ""


def close_kind(cap: Capture) -> tuple[str, str | None]:
    """The kind of close the connection's segments show (tcpcheck.kinds' words, or
    HALF_CLOSED / OPEN for one cut off by the end of the capture) and who sent the RST."""
    rst = next((s for s in cap.segments if s.flags & Flags.RST), None)
    if rst is not None:
        return str(CloseKind.RST), rst.side
    fins = {s.side for s in cap.segments if s.flags & Flags.FIN}
    if len(fins) == 2:
        return str(capture_kind(cap) or CloseKind.INCOMPLETE), None
    return (HALF_CLOSED if fins else OPEN), None


def _row(auditor: Auditor, conn: _Open, cap: Capture) -> Row:
    sequence = auditor.sequence(cap)
    kind, rst_by = auditor.close_kind(cap, sequence)
    prefix = auditor.prefix or not conn.closed
    client, server = map(endpoint_text, endpoints(conn.packets))
    model_kind, drawn, cached = None, None, False
    try:
        d = auditor.decide(cap, prefix, sequence)
        verdict, why, model_kind, cached = d.verdict, d.reason, d.model_kind, d.cached
        if verdict == Verdict.REJECTED and auditor.on_rejected is not None:
            drawn = auditor.on_rejected(conn.number, d.replay)
    except TcpcheckError as err:    # this connection only (a one-sided replay it cannot do)
        d = err.diagnostics[0]
        verdict, why = Verdict.UNREADABLE, f"error[{d.code}]: {d.message}"
    return Row(conn.number, client, server, conn.packets[0].frame, len(conn.packets),
               len(cap.segments), kind, rst_by, verdict, why, model_kind, prefix, cached,
               cap.compact, drawn)


def _leftovers(conn: _Open, kind: str, at_end: bool) -> list[tuple[str, Leftover]]:
    """The states this connection's close leaves its endpoints in, with since_s holding the
    absolute time each entered it (`_settle` makes it relative to the capture's end):
    TIME_WAIT for the side that closed first (both, in a simultaneous close) from when it
    acknowledged the peer's FIN; FIN_WAIT_2 and CLOSE_WAIT for a connection the file ends
    with one FIN acknowledged."""
    if conn.rst:
        return []
    client, server = endpoints(conn.packets)
    side = {client: "client", server: "server"}

    def left(state: str, addr, since: float) -> tuple[str, Leftover]:
        return state, Leftover(conn.number, side[addr], endpoint_text(addr), since)

    if conn.closed:
        holders = [client, server] if kind == CloseKind.SIMULTANEOUS else [conn.first_fin]
        return [left("TIME_WAIT", a, max(conn.acked_at[a], conn.fin_acked[a]))
                for a in holders if a in conn.acked_at and a in conn.fin_acked]
    if at_end and len(conn.fin_end) == 1 and conn.first_fin in conn.fin_acked:
        since = conn.fin_acked[conn.first_fin]
        peer = server if conn.first_fin == client else client
        return [left("FIN_WAIT_2", conn.first_fin, since), left("CLOSE_WAIT", peer, since)]
    return []


def _settle(audit: Audit, left: list[tuple[str, Leftover]], end_time: float) -> None:
    """The endpoints the end of the capture finds in TIME_WAIT (entered less than
    TIME_WAIT_S before it), CLOSE_WAIT and FIN_WAIT_2, longest held first."""
    buckets = {"TIME_WAIT": audit.time_wait, "CLOSE_WAIT": audit.close_wait,
               "FIN_WAIT_2": audit.fin_wait_2}
    for state, t in left:
        held = end_time - t.since_s
        if state != "TIME_WAIT" or held < TIME_WAIT_S:
            buckets[state].append(replace(t, since_s=round(held, 6)))
    for bucket in buckets.values():
        bucket.sort(key=lambda t: (-t.since_s, t.connection, t.side))


def run_audit(path: str | Path, auditor: Auditor,
              progress: Callable[[int, int, int, int], None] | None = None) -> Audit:
    """Audit every TCP connection of the capture at `path` (see the module docstring).
    Raises TcpcheckError when the file is no capture or holds no TCP segment; a file damaged
    part way gives the connections read before the damage and `Audit.error`. A signal or
    --max-memory (the auditor's deadline) ends it with the rows decided (`Audit.stopped`).
    `progress(frames, decided, open, position)` is called now and then (position: the
    bytes of the file read so far)."""
    path = Path(path)
    with open_capture(path) as stream, no_cycle_collection(freeze=True):
        packets = stream_packets(path, stream)
        if packets is None:     # a JSON trace: one connection, read whole
            return _audit_trace(path, auditor)
        audit = Audit(str(path), packets.format, auditor.model_name)
        current: dict[frozenset, _Open] = {}
        decided_keys: dict[frozenset, tuple[int, float]] = {}   # key -> (number, when)
        number = 0
        now = 0.0

        left: list[tuple[str, Leftover]] = []

        def decide(key: frozenset, conn: _Open, at_end: bool = False) -> None:
            cap = connection_capture(conn.packets, str(path), packets.format)
            row = _row(auditor, conn, cap)
            audit.rows.append(row)
            left.extend(_leftovers(conn, row.kind, at_end))
            decided_keys[key] = (conn.number, conn.last_time)
            del current[key]

        # closed connections by when they may be decided: (due, number, key); an entry whose
        # connection had a packet since is stale (a later one was pushed)
        closing: list[tuple[float, int, frozenset]] = []

        def sweep() -> None:
            while closing and closing[0][0] < now:
                _due, n, key = heapq.heappop(closing)
                conn = current.get(key)
                if conn is not None and conn.number == n and now - conn.last_time > GRACE_S:
                    decide(key, conn)
            # forget decided 4-tuples from the oldest on (decided in order of their last
            # packets, nearly): a packet later than TIME_WAIT_S is a new connection's
            while decided_keys:
                key = next(iter(decided_keys))
                if now - decided_keys[key][1] <= TIME_WAIT_S:
                    break
                del decided_keys[key]

        try:
            for item in packets.frames:
                audit.frames += 1
                if isinstance(item, Skipped):
                    audit.not_tcp += 1
                    continue
                now = max(now, item.time)
                if closing and closing[0][0] < now:
                    sweep()
                key = frozenset((item.src, item.dst))
                conn = current.get(key)
                if conn is None and key in decided_keys and not (
                        item.flags & SYN and not item.flags & ACK):
                    audit.late_packets += 1      # its connection was decided: set aside
                    continue
                if conn is not None and starts_anew(item, conn.ended):
                    decide(key, conn)
                    conn = None
                if conn is None:
                    number += 1
                    conn = current[key] = _Open(number)
                    audit.peak_open = max(audit.peak_open, len(current))
                conn.add(item)
                if conn.closed:
                    heapq.heappush(closing, (conn.last_time + GRACE_S, conn.number, key))
                if not audit.frames % POLL_EVERY:
                    auditor.deadline.check()
                    if progress is not None:
                        progress(audit.frames, len(audit.rows), len(current), stream.tell())
        except TcpcheckError as err:
            audit.error = err
        except LimitReached as stop:
            audit.stopped = stop.reason
    if not number and audit.error is None:
        raise TcpcheckError([Diagnostic("TCP602", f"{path}: the capture holds no TCP segment",
                                        None, (f"its {audit.frames} frames are none of them "
                                               "TCP" if audit.frames else
                                               "the file holds no packet",))])
    end_time = now
    try:
        if audit.stopped is None:
            with no_cycle_collection(freeze=True):
                for key, conn in sorted(current.items(), key=lambda kv: kv[1].number):
                    decide(key, conn, at_end=True)
    except LimitReached as stop:
        audit.stopped = stop.reason
    audit.undecided = len(current)
    audit.rows.sort(key=lambda r: r.number)
    audit.distinct_sequences, audit.cache_hits = auditor.distinct, auditor.hits
    _settle(audit, left, end_time)
    return audit


def _audit_trace(path: Path, auditor: Auditor) -> Audit:
    """A JSON trace holds one connection: its row, without a stream."""
    cap = read_capture(path)
    audit = Audit(str(path), cap.format, auditor.model_name, frames=len(cap.segments))
    try:
        r, cached = auditor.verdict(cap, auditor.prefix)
    except LimitReached as stop:
        audit.stopped = stop.reason
        return audit
    kind, rst_by = close_kind(cap)
    audit.rows.append(Row(1, "client", "server", 1, len(cap.segments), len(cap.segments), kind,
                          rst_by, r.verdict, reason(r),
                          None if r.kind is None else str(r.kind), auditor.prefix, cached,
                          cap.compact))
    audit.distinct_sequences, audit.cache_hits = auditor.distinct, auditor.hits
    return audit


# ------------------------------------------------------------------ text

def _table(rows: list[tuple]) -> list[str]:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(f"{str(c):<{w}}" for c, w in zip(r, widths)).rstrip() for r in rows]


MAX_LEFTOVERS_SHOWN = 10


def summary_lines(audit: Audit) -> list[str]:
    """The summary a network engineer reads first: counts by kind and verdict, and what the
    end of the capture leaves behind."""
    n = len(audit.rows)
    out = [f"{audit.source}: {n} TCP connection{'s' if n != 1 else ''} in {audit.frames} "
           f"frames ({audit.format}); model {audit.model}"]
    counts = audit.counts()
    verdicts = [v for v in VERDICT_ORDER if any(str(v) in c for c in counts.values())]
    table = [("kind", *map(str, verdicts), "total")]
    for kind, by in counts.items():
        table.append((kind, *(by.get(str(v), 0) for v in verdicts), sum(by.values())))
    table.append(("total", *(sum(c.get(str(v), 0) for c in counts.values()) for v in verdicts),
                  n))
    out.extend("  " + line for line in _table(table))
    if audit.distinct_sequences:
        out.append(f"distinct segment sequences searched: {audit.distinct_sequences} "
                   f"({audit.cache_hits} connection{'s' if audit.cache_hits != 1 else ''} "
                   "decided from an identical one)")
    longest = max(audit.time_wait, key=lambda t: (t.since_s, -t.connection), default=None)
    if longest is not None:
        out.append(f"TIME_WAIT at the end: {len(audit.time_wait)}; held longest by "
                   f"{longest.text()}")
    for name, bucket in (("CLOSE_WAIT", audit.close_wait), ("FIN_WAIT_2", audit.fin_wait_2)):
        if bucket:
            shown = ", ".join(t.text() for t in bucket[:MAX_LEFTOVERS_SHOWN])
            more = len(bucket) - MAX_LEFTOVERS_SHOWN
            out.append(f"left in {name} at the end: {len(bucket)}: {shown}"
                       + (f" and {more} more" if more > 0 else ""))
    if audit.not_tcp:
        out.append(f"note: {audit.not_tcp} frames are not TCP segments tcpcheck reads")
    if audit.late_packets:
        out.append(f"note: {audit.late_packets} packets came more than {GRACE_S:g} s after "
                   "their connection closed; set aside")
    return out


def row_lines(audit: Audit) -> list[str]:
    """One row per connection: number, endpoints, kind, verdict, the reason of a rejection."""
    table = [("#", "client", "server", "kind", "verdict", "reason")]
    for r in audit.rows:
        verdict = str(r.verdict) + (" (prefix)" if r.prefix else "")
        table.append((r.number, r.client, r.server, r.kind_text, verdict, r.reason))
    return _table(table)


def json_lines(audit: Audit) -> list[str]:
    """JSON lines: one object per connection, then the summary (keys in a fixed order)."""
    return [json.dumps(obj) for obj in
            [r.as_json() for r in audit.rows] + [audit.summary_json()]]
