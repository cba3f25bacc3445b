"""The compiled core: a C sink of the emitted steps (tcpcheck.emit), built through cffi.

The successor function's source (tcpcheck.successors, itself only the emitted steps wrapped)
is parsed with Python's `ast` and translated node by node into C: the steps' semantics are
not written a second time, only their integer arithmetic is spelled in C. States are
unsigned __int128 (models up to 128 bits wide; wider ones stay on the Python core), kept in
an open-addressing hash table of ids; parents, variants and edges live in flat arrays.
Breadth-first order and successor order are the Python core's, so ids agree
(tests/test_csink.py compares the two state by state).

A model error (TCP500/TCP501) stops the C search at the failing state; the Python
successor function then re-runs that one state to produce the located error.
The built module is cached under $XDG_CACHE_HOME/tcpcheck (or ~/.cache/tcpcheck) by a hash
of the generated C source; a build goes to a temporary directory renamed into place, so
concurrent builds never leave a half-written module.
"""
from __future__ import annotations

import ast
from array import array
import hashlib
import importlib.util
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .successors import successor_function
from .transitions import TransitionSystem

STATE_BITS = 128


class CoreUnavailable(Exception):
    """The compiled core cannot run this model here (no compiler, no cffi, too wide)."""


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tcpcheck"


def _literal(v: int) -> str:
    if -(1 << 62) < v < (1 << 62):
        return f"((I){v}LL)"
    u = v & ((1 << 128) - 1)
    return f"((I)(((U){u >> 64}ULL << 64) | (U){u & ((1 << 64) - 1)}ULL))"


class _Translate:
    """Python AST of the successor function -> C statements (the subset the emitter writes)."""

    def __init__(self, consts: dict):
        self.consts = consts
        self.tables: dict[str, tuple] = {}
        self.locals: set[str] = set()
        self.lines: list[str] = []

    def expr(self, n) -> str:
        match n:
            case ast.Constant(value=bool() as b): return "1" if b else "0"
            case ast.Constant(value=int() as v): return _literal(v)
            case ast.Name(id="s"): return "((I)s)"
            case ast.Name(id="True"): return "1"
            case ast.Name(id="False"): return "0"
            case ast.Name(id=name):
                if name in self.consts:
                    raise CoreUnavailable(f"constant {name} read as a value")
                self.locals.add(name)
                return name
            case ast.NamedExpr(target=ast.Name(id=name), value=v):
                self.locals.add(name)
                return f"({name} = {self.expr(v)})"
            case ast.BoolOp(op=ast.And(), values=vs):
                return "(" + " && ".join(f"({self.expr(x)})" for x in vs) + ")"
            case ast.BoolOp(op=ast.Or(), values=vs):
                return "(" + " || ".join(f"({self.expr(x)})" for x in vs) + ")"
            case ast.UnaryOp(op=ast.Not(), operand=x): return f"(!({self.expr(x)}))"
            case ast.UnaryOp(op=ast.USub(), operand=x): return f"(-({self.expr(x)}))"
            case ast.IfExp(test=c, body=a, orelse=b):
                return f"(({self.expr(c)}) ? ({self.expr(a)}) : ({self.expr(b)}))"
            case ast.BinOp(left=a, op=op, right=b):
                x, y = self.expr(a), self.expr(b)
                match op:
                    case ast.Add(): return f"({x} + {y})"
                    case ast.Sub(): return f"({x} - {y})"
                    case ast.Mult(): return f"({x} * {y})"
                    case ast.FloorDiv(): return f"tc_div({x}, {y})"
                    case ast.Mod(): return f"tc_mod({x}, {y})"
                    case ast.BitOr(): return f"({x} | {y})"
                    case ast.BitAnd(): return f"({x} & {y})"
                    # shifts on the unsigned type: a negative delta wraps modulo 2^128
                    case ast.LShift(): return f"((I)((U)({x}) << ({y})))"
                    case ast.RShift(): return f"({x} >> ({y}))"
            case ast.Compare(left=a, ops=ops, comparators=cs):
                parts, left = [], self.expr(a)
                for op, cn in zip(ops, cs):
                    if isinstance(op, ast.In):
                        vals = [x.value for x in cn.elts]
                        parts.append("(" + " || ".join(f"({left}) == {_literal(v)}" for v in vals) + ")")
                        continue
                    right = self.expr(cn)
                    sym = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=",
                           ast.Gt: ">", ast.GtE: ">="}[type(op)]
                    parts.append(f"(({left}) {sym} ({right}))")
                    left = right
                return "(" + " && ".join(parts) + ")"
            case ast.Call(func=ast.Name(id="min" | "max" as f), args=args):
                out = self.expr(args[0])
                for x in args[1:]:
                    out = f"tc_{f}({out}, {self.expr(x)})"
                return out
            case ast.Call(func=ast.Attribute(attr="bit_length", value=v)):
                return f"tc_bitlen({self.expr(v)})"
            case ast.Call(func=ast.Name(id="Zero")):
                return "(err = 1, (I)0)"
            case ast.Subscript(value=ast.Name(id=k), slice=i) if k in self.consts:
                table = self.consts[k]
                if not (isinstance(table, tuple) and all(isinstance(x, int) for x in table)):
                    raise CoreUnavailable(f"constant {k} is not a table of integers")
                self.tables[k] = table
                return f"{k}[(int)({self.expr(i)})]"
        raise CoreUnavailable(f"no C for {ast.dump(n)[:80]}")

    def stmts(self, body, d: int) -> None:
        for s in body:
            self.stmt(s, d)

    def emit(self, d: int, text: str) -> None:
        self.lines.append("    " * d + text)

    def stmt(self, s, d: int) -> None:
        e = self.emit
        match s:
            case ast.Assign(targets=[ast.Name(id="out")]): return
            case ast.Return(): return
            case ast.Assign(targets=[ast.Name(id=name)], value=v):
                self.locals.add(name)
                e(d, f"{name} = {self.expr(v)};")
                e(d, "if (err) goto model_error;")
            case ast.AugAssign(target=ast.Name(id=name), op=op, value=v):
                sym = {ast.BitOr: "|=", ast.BitAnd: "&=", ast.Add: "+="}[type(op)]
                e(d, f"{name} {sym} {self.expr(v)};")
                e(d, "if (err) goto model_error;")
            case ast.If(test=c, body=b, orelse=o):
                e(d, "{")
                e(d + 1, f"int ok = {self.expr(c)};")
                e(d + 1, "if (err) goto model_error;")
                e(d + 1, "if (ok) {")
                self.stmts(b, d + 2)
                e(d + 1, "} else {")
                self.stmts(o, d + 2)
                e(d + 1, "}")
                e(d, "}")
            case ast.For(body=b):  # `for _ in ONCE:` a full channel breaks out: the step waits
                e(d, "do {")
                self.stmts(b, d + 1)
                e(d, "} while (0);")
            case ast.Break(): e(d, "break;")
            case ast.Pass(): return
            case ast.Raise(): e(d, "goto model_error;")
            case ast.Expr(value=ast.Call(func=ast.Attribute(value=ast.Name(id="out"),
                                                           attr="append"), args=[tup])):
                vid, t = tup.elts
                e(d, f"RECORD((int)({self.expr(vid)}), (U)({self.expr(t)}));")
            case _:
                raise CoreUnavailable(f"no C for {ast.dump(s)[:80]}")


_RUNTIME = r"""
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
typedef unsigned __int128 U;
typedef __int128 I;
static inline I tc_div(I a, I b) { I q = a / b; if ((a % b != 0) && ((a < 0) != (b < 0))) q--; return q; }
static inline I tc_mod(I a, I b) { I r = a % b; if (r != 0 && ((r < 0) != (b < 0))) r += b; return r; }
static inline I tc_min(I a, I b) { return a < b ? a : b; }
static inline I tc_max(I a, I b) { return a > b ? a : b; }
static inline I tc_bitlen(I v) { U u = (U)v; int n = 0; while (u) { n++; u >>= 1; } return n; }
typedef struct {
    U *states; int32_t *parent; int32_t *pvar; int64_t n, cap;
    int32_t *table; int64_t tcap;
    int32_t *esrc, *edst, *evar; int64_t ne, ecap;
    int32_t *dead; int64_t nd, dcap;
    int record_edges; int64_t max_states, dropped, nedges, error_state;
} ctx_t;
static inline uint64_t hash_(U s) {
    uint64_t x = (uint64_t)s ^ ((uint64_t)(s >> 64) * 0x9E3779B97F4A7C15ULL);
    x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33; x *= 0xc4ceb93fe53e2bddULL; x ^= x >> 33;
    return x;
}
static int grow_table(ctx_t *c) {
    int64_t ncap = c->tcap ? c->tcap * 2 : 1 << 16;
    int32_t *t = malloc(sizeof(int32_t) * ncap);
    if (!t) return -1;
    memset(t, 0xff, sizeof(int32_t) * ncap);
    for (int64_t i = 0; i < c->n; i++) {
        uint64_t h = hash_(c->states[i]) & (ncap - 1);
        while (t[h] >= 0) h = (h + 1) & (ncap - 1);
        t[h] = (int32_t)i;
    }
    free(c->table); c->table = t; c->tcap = ncap; return 0;
}
#define GROW(p, n, cap, T) do { if ((n) >= (cap)) { int64_t nc = (cap) ? (cap) * 2 : 4096; \
    void *q = realloc((p), sizeof(T) * nc); if (!q) return -2; (p) = q; (cap) = nc; } } while (0)
/* id of s, adding it (parent, variant) if new; -1 when dropped by the state limit */
static int64_t add_state(ctx_t *c, U s, int32_t par, int32_t var, int *fresh) {
    if ((c->n + 1) * 2 > c->tcap && grow_table(c)) return -2;
    uint64_t h = hash_(s) & (c->tcap - 1);
    while (c->table[h] >= 0) {
        if (c->states[c->table[h]] == s) { *fresh = 0; return c->table[h]; }
        h = (h + 1) & (c->tcap - 1);
    }
    *fresh = 1;
    if (c->n >= c->max_states) { c->dropped++; return -1; }
    if (c->n >= c->cap) {
        int64_t nc = c->cap ? c->cap * 2 : 4096;
        U *a = realloc(c->states, sizeof(U) * nc);
        int32_t *b = realloc(c->parent, sizeof(int32_t) * nc);
        int32_t *d = realloc(c->pvar, sizeof(int32_t) * nc);
        if (!a || !b || !d) return -2;
        c->states = a; c->parent = b; c->pvar = d; c->cap = nc;
    }
    c->states[c->n] = s; c->parent[c->n] = par; c->pvar[c->n] = var;
    c->table[h] = (int32_t)c->n;
    return c->n++;
}
static int add_edge(ctx_t *c, int32_t a, int32_t b, int32_t v) {
    if (c->ne >= c->ecap) {
        int64_t nc = c->ecap ? c->ecap * 2 : 4096;
        int32_t *x = realloc(c->esrc, 4 * nc), *y = realloc(c->edst, 4 * nc), *z = realloc(c->evar, 4 * nc);
        if (!x || !y || !z) return -2;
        c->esrc = x; c->edst = y; c->evar = z; c->ecap = nc;
    }
    c->esrc[c->ne] = a; c->edst[c->ne] = b; c->evar[c->ne] = v; c->ne++;
    return 0;
}
int64_t seed(ctx_t *c, uint64_t lo, uint64_t hi) {
    int fresh; return add_state(c, ((U)hi << 64) | lo, -1, -1, &fresh);
}
void get_state(ctx_t *c, int64_t i, uint64_t *lo, uint64_t *hi) {
    *lo = (uint64_t)c->states[i]; *hi = (uint64_t)(c->states[i] >> 64);
}
const void *states_of(ctx_t *c) { return c->states; }
/* the search is over: drop the hash table and give back the arrays' unused tails, so that
   copying them out does not hold twice the memory (the peak the bench measures) */
void finish(ctx_t *c) {
    free(c->table); c->table = NULL; c->tcap = 0;
    if (c->n && c->n < c->cap) {
        U *a = realloc(c->states, sizeof(U) * c->n); if (a) c->states = a;
        int32_t *b = realloc(c->parent, 4 * c->n); if (b) c->parent = b;
        int32_t *d = realloc(c->pvar, 4 * c->n); if (d) c->pvar = d;
        c->cap = c->n;
    }
}
void release(ctx_t *c) {
    free(c->states); free(c->parent); free(c->pvar); free(c->table);
    free(c->esrc); free(c->edst); free(c->evar); free(c->dead);
}
#define RECORD(vid, tt) do { U t_ = (tt); int fresh_; k++; \
    int64_t j_ = add_state(c, t_, (int32_t)head, (vid), &fresh_); \
    if (j_ == -2) return -2; \
    if (j_ >= 0 && c->record_edges && add_edge(c, (int32_t)head, (int32_t)j_, (vid))) return -2; \
    } while (0)
"""

_CDEF = """
typedef struct {
    int32_t *parent; int32_t *pvar; int64_t n;
    int32_t *esrc, *edst, *evar; int64_t ne;
    int32_t *dead; int64_t nd;
    int record_edges; int64_t max_states, dropped, nedges, error_state;
    ...;
} ctx_t;
int64_t seed(ctx_t *c, uint64_t lo, uint64_t hi);
void get_state(ctx_t *c, int64_t i, uint64_t *lo, uint64_t *hi);
void release(ctx_t *c);
const void *states_of(ctx_t *c);
void finish(ctx_t *c);
int64_t expand(ctx_t *c, int64_t head, int64_t until);
"""


def c_source(ts: TransitionSystem) -> str:
    """The C source of the search for this transition system (raises CoreUnavailable)."""
    width = sum(slot.width for slot in ts.slots)
    if width > STATE_BITS:
        raise CoreUnavailable(f"states are {width} bits wide, the compiled core holds {STATE_BITS}")
    _fn, source = successor_function(ts)
    fn = ast.parse(source).body[0]
    tr = _Translate(ts.consts)
    tr.stmts(fn.body, 2)
    body = tr.lines
    out = [_RUNTIME]
    for name, table in sorted(tr.tables.items()):
        out.append(f"static const I {name}[{len(table)}] = {{{', '.join(_literal(v) for v in table)}}};")
    out.append("/* expand states head..until-1; returns the next head, -1 on a model error at\n"
               "   c->nd's error slot (head), -2 when memory runs out */")
    out.append("int64_t expand(ctx_t *c, int64_t head, int64_t until) {")
    if tr.locals:
        out.append("    I " + ", ".join(sorted(tr.locals)) + ";")
    out.append("    for (; head < until && head < c->n; head++) {")
    out.append("        U s = c->states[head]; int err = 0; int64_t k = 0;")
    out += body
    out.append("        if (!k) { GROW(c->dead, c->nd, c->dcap, int32_t); c->dead[c->nd++] = (int32_t)head; }")
    out.append("        c->nedges += k;")
    out.append("        continue;")
    out.append("    model_error:")
    out.append("        c->error_state = head; return -1;")
    out.append("    }")
    out.append("    return head;")
    out.append("}")
    return "\n".join(out) + "\n"


def build(ts: TransitionSystem, use_cache: bool = True):
    """The compiled module (cffi `lib`, `ffi`) for this transition system (made once per
    system: explore_each runs it once per parameter combination)."""
    made = ts.__dict__.setdefault("_compiled_core", {})
    if os.environ.get("TCPCHECK_NO_CACHE"):  # `--no-cache`: the command line's wish
        use_cache = False
    if "module" not in made:
        made["module"] = _build(ts, use_cache)
    return made["module"]


def _build(ts: TransitionSystem, use_cache: bool):
    try:
        import cffi  # noqa: F401 -- optional: without it the Python core runs
    except ImportError as err:
        raise CoreUnavailable("cffi is not installed") from err
    if shutil.which(os.environ.get("CC", "cc")) is None:
        raise CoreUnavailable("no C compiler found")
    source = c_source(ts)
    digest = hashlib.sha256((_CDEF + source).encode()).hexdigest()[:20]
    name = f"_tcpcheck_core_{digest}"
    target = cache_dir() / name
    if use_cache and target.is_dir():
        mod = _load(target, name)
        if mod is not None:
            return mod
    import cffi
    ffi = cffi.FFI()
    ffi.cdef(_CDEF)
    ffi.set_source(name, source, extra_compile_args=["-O2", "-w"])
    tmp_parent = cache_dir() if use_cache else Path(tempfile.gettempdir())
    tmp_parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=tmp_parent))
    try:
        _compile(ffi, tmp)
    except Exception as err:  # cffi reports compiler failures as several types
        shutil.rmtree(tmp, ignore_errors=True)
        raise CoreUnavailable(f"the C compiler failed: {err}") from err
    for junk in tmp.glob(f"{name}.[co]"):
        junk.unlink()
    if use_cache:
        try:
            os.rename(tmp, target)  # atomic: another process's finished build may win
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
        return _load(target, name)
    try:
        return _load(tmp, name)
    finally:  # --no-cache keeps nothing: the loaded module no longer needs its file
        shutil.rmtree(tmp, ignore_errors=True)


def _compile(ffi, directory: Path) -> None:
    """The one place the C compiler runs (cffi calls the compiler named by $CC, else cc)."""
    ffi.compile(tmpdir=str(directory), verbose=False)


def _load(directory: Path, name: str):
    found = sorted(directory.glob(f"{name}*.so"))
    if not found:
        return None
    spec = importlib.util.spec_from_file_location(name, found[0])
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class PackedStates:
    """id -> packed state, read from two machine words a state (16 bytes, where a list of
    Python ints takes about 40): the explorer's `states` for the compiled core."""

    __slots__ = ("words",)

    def __init__(self, words: array):
        self.words = words

    def __len__(self) -> int:
        return len(self.words) // 2

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self.words[2 * i] | (self.words[2 * i + 1] << 64)

    def __iter__(self):
        w = self.words
        return (lo | (hi << 64) for lo, hi in zip(w[0::2], w[1::2]))

    def __eq__(self, other) -> bool:
        return list(self) == list(other)


@dataclass(frozen=True, slots=True)
class CResult:
    states: PackedStates
    parent: array
    parent_variant: array
    edge_src: array
    edge_dst: array
    edge_variant: array
    deadlocks: list[int]
    expanded: int
    edge_count: int
    stop_reason: str | None
    error_state: int | None


def search(ts: TransitionSystem, *, record_edges: bool = True, max_states: int | None = None,
           use_cache: bool = True, chunk: int = 1 << 16, tick=None,
           initial: tuple[int, ...] | None = None) -> CResult:
    """Breadth-first search in C; `tick()` between chunks returns a stop reason or None."""
    mod = build(ts, use_cache)
    ffi, lib = mod.ffi, mod.lib
    c = ffi.new("ctx_t *")
    c.record_edges = int(record_edges)
    c.max_states = (1 << 31) - 1  # every initial state is kept, as the Python core does
    try:
        for s in ts.initial if initial is None else initial:
            lib.seed(c, s & ((1 << 64) - 1), s >> 64)
        if max_states is not None:
            c.max_states = max_states
        head, stop, error_state = 0, None, None
        while head < c.n:
            nxt = lib.expand(c, head, head + chunk)
            if nxt == -2:
                raise MemoryError("the compiled core ran out of memory")
            if nxt == -1:
                error_state, stop = c.error_state, "model-error"
                head = error_state
                break
            head = nxt
            if tick is not None and (stop := tick(head, c.n, c.nedges - c.dropped)):
                break
        if stop is None and c.dropped > 0:  # the Python core says so only once it ends
            stop = "max-states"
        n = c.n
        lib.finish(c)
        words = array("Q")  # two words a state, low first (x86-64 and arm64 are little-endian)
        if n:
            words.frombytes(ffi.buffer(lib.states_of(c), 16 * n))
        states = PackedStates(words)
        def ints(ptr, count: int) -> array:
            out = array("i")
            if count:  # an array never grown is NULL
                out.frombytes(ffi.buffer(ptr, 4 * count)[:])
            return out
        return CResult(states, ints(c.parent, n), ints(c.pvar, n),
                       ints(c.esrc, c.ne), ints(c.edst, c.ne),
                       ints(c.evar, c.ne), list(ints(c.dead, c.nd)),
                       head, c.nedges - c.dropped, stop, error_state)
    finally:
        lib.release(c)


_said: set[str] = set()


def resolve(core: str) -> str:
    """'c' or 'python' for `--core c|python|auto`: auto is C when cffi and a compiler are here;
    the fallback is said once, plainly, on stderr."""
    if core != "auto":
        return core
    reason = None
    try:
        import cffi  # noqa: F401 -- only to know whether the compiled core can be built
    except ImportError:
        reason = "cffi is not installed"
    if reason is None and shutil.which(os.environ.get("CC", "cc")) is None:
        reason = "no C compiler (cc) was found"
    if reason is None:
        return "c"
    if reason not in _said:
        _said.add(reason)
        print(f"tcpcheck: {reason}; exploring with the Python core (slower)", file=sys.stderr)
    return "python"


def memory_estimate(n: int, edges: int) -> int:
    """Bytes the C search holds for n states and this many recorded edges (for --max-memory):
    16 a state, 8 its parent and variant, 8 its slot in a table at most half full, 12 an edge;
    arrays and the table double when full."""
    return 2 * (32 * n + 12 * edges)


def resolve_failed(reason: str) -> None:
    """`auto` found a compiler but this model cannot be built: said once, then Python runs."""
    if reason not in _said:
        _said.add(reason)
        print(f"tcpcheck: the compiled core is not used ({reason}); exploring with the "
              "Python core", file=sys.stderr)
