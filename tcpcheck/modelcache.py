"""A compiled model kept between runs, in the user's cache directory (tcpcheck.csink's).

Parsing, checking and compiling the default model with every parameter open takes longer
than the replay of a small capture that follows it, and gives the same transition system
every time. So `replay` keeps that system, pickled, under a name that hashes everything it
depends on: the model's text and path, the caller's settings (the parameters it compiles
with, the channels' depth), tcpcheck's own source (every module and grammar of the package:
a changed emitter makes new entries) and the Python version (the successor functions, the
plain one and replay's with the parameters deferred, are kept as code objects, whose format
is Python's). An entry that cannot be read, or does not carry
its own key, is ignored and made again; a new entry is written under a temporary name and
renamed into place, so another process reads it whole or not at all. With TCPCHECK_NO_CACHE
(`--no-cache`) nothing is read or written.
"""
from __future__ import annotations

import functools
import hashlib
import json
import marshal
import os
import pickle
import sys
import tempfile
from dataclasses import fields
from pathlib import Path
from typing import Callable

from .csink import cache_dir
from .parse import read_source
from .successors import KEPT_DEFERRED, compiled_source, deferred_param_source, function_of
from .transitions import TransitionSystem

FORMAT = 1              # an entry's layout: bumped when it changes
KEEP_ENTRIES = 64       # the newest entries kept; older ones are deleted when one is written


@functools.cache
def source_digest() -> str:
    """A hash of tcpcheck's own code, every module and grammar of the package."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(package.iterdir()):
        if path.suffix in (".py", ".lark") and path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def entry_key(path: str | Path, text: str, settings: dict) -> str | None:
    """The hash an entry is found by; None when `settings` are not plain JSON values (then
    the system is not cached)."""
    material = {"format": FORMAT, "tcpcheck": source_digest(), "python": sys.version,
                "path": str(path), "text": text, "settings": settings}
    try:
        encoded = json.dumps(material, sort_keys=True)
    except (TypeError, ValueError):
        return None
    return hashlib.sha256(encoded.encode()).hexdigest()


def entries_dir() -> Path:
    return cache_dir() / "models"


def cached_system(path: str | Path, settings: dict,
                  build: Callable[[str], TransitionSystem]) -> TransitionSystem:
    """The transition system `build(text)` makes of the model file at `path`, from the cache
    when it holds one for this text and these `settings` (everything else `build` depends on,
    as JSON values). A file that cannot be read raises TcpcheckError, as parsing it would; a
    model with errors raises them from `build` and leaves no entry."""
    text = read_source(path)
    key = None if os.environ.get("TCPCHECK_NO_CACHE") else entry_key(path, text, settings)
    if key is None:
        return build(text)
    entry = entries_dir() / f"{key[:40]}.pickle"
    ts = _read(entry, key)
    if ts is None:
        ts = build(text)
        _write(entry, key, ts)
    return ts


def _read(entry: Path, key: str) -> TransitionSystem | None:
    try:
        with open(entry, "rb") as f:
            stored, state, code, deferred_source, deferred_code = pickle.load(f)
        if stored != key:
            return None
        ts = TransitionSystem(**state)
        ts.successors = function_of(ts, marshal.loads(code))
        ts.__dict__[KEPT_DEFERRED] = (deferred_source, marshal.loads(deferred_code))
        return ts
    except Exception:   # noqa: BLE001 -- missing, truncated, corrupt or foreign: made again
        return None


def _write(entry: Path, key: str, ts: TransitionSystem) -> None:
    state = {f.name: getattr(ts, f.name) for f in fields(ts) if f.name != "successors"}
    tmp = None
    try:
        deferred = deferred_param_source(ts)     # replay's successors (tcpcheck.combos)
        payload = pickle.dumps((key, state, _code(ts, ts.successor_source), deferred,
                                _code(ts, deferred)), protocol=pickle.HIGHEST_PROTOCOL)
        entry.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".entry-", dir=entry.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        os.replace(tmp, entry)
        tmp = None
        _prune(entry.parent)
    except (OSError, pickle.PicklingError, TypeError, AttributeError, ValueError):
        pass                # no cache is no error: the next run compiles the model again
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def _code(ts: TransitionSystem, source: str) -> bytes:
    return marshal.dumps(compiled_source(ts, source))


def _prune(directory: Path) -> None:
    """Delete all but the KEEP_ENTRIES newest entries (each source change makes new ones)."""
    entries = []
    for p in directory.glob("*.pickle"):
        try:
            entries.append((p.stat().st_mtime_ns, p.name, p))
        except OSError:
            continue            # deleted by another process meanwhile
    for _mtime, _name, p in sorted(entries, reverse=True)[KEEP_ENTRIES:]:
        p.unlink(missing_ok=True)
