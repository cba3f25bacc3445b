"""Which method proves the shipped invariants: k-induction with the Houdini-checked facts,
k-induction without them, z3's Spacer (CPU seconds each, in the configuration the spec names).

    python bench/bench_kinduction.py [SPEC ...] [--depth K]

Default: specs/teardown.spec and specs/data_phase.spec (their invariants), depth 3."""
from __future__ import annotations

import resource
import sys
from pathlib import Path

from tcpcheck import DEFAULT_MODEL, load
from tcpcheck import spec as S
from tcpcheck.kinduction import Strengthening, check_inductive, strengthen
from tcpcheck.verify import group_by_model, merge_params, spec_files

ROOT = Path(__file__).resolve().parent.parent


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    args = sys.argv[1:]
    depth = 3
    if "--depth" in args:
        at = args.index("--depth")
        depth = int(args[at + 1])
        del args[at:at + 2]
    specs = [Path(a) for a in args] or [ROOT / "specs" / "teardown.spec",
                                        ROOT / "specs" / "data_phase.spec"]
    for spec in specs:
        files, model_arg = spec_files([spec], spec.parent)
        for (model_path, params), group in group_by_model(files, model_arg,
                                                          DEFAULT_MODEL).items():
            read = frozenset().union(*(S.variables_read(sf) for _p, sf in group))
            ts = load(model_path, merge_params(params, []), keep=read)
            props = [p for _p, sf in group for p in S.resolve(sf, ts) if p.kind == "invariant"]
            if not props:
                continue
            t = cpu()
            strong = strengthen(ts)
            print(f"{spec.name}: strengthening {cpu() - t:.1f} s: {strong.text}", flush=True)
            none = Strengthening((), 0, 0)
            for label, st, spacer in (("k-induction with facts", strong, False),
                                      ("k-induction without facts", none, False),
                                      ("Spacer (no facts)", none, True)):
                for p in props:
                    t = cpu()
                    (r,) = check_inductive(ts, [p], depth if not spacer else 0,
                                           strengthening=st, spacer=spacer)
                    print(f"  {p.name}: {label}: {r.verdict} ({cpu() - t:.1f} s CPU): "
                          f"{r.message}", flush=True)


if __name__ == "__main__":
    main()
