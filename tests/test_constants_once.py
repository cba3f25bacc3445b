"""Constants worked out once per value of the parameters they read (tcpcheck.params): the
quick pass and ConstValues must give exactly what eval_const gives in every combination, and
a constant without a value in some combination must still be found."""
from __future__ import annotations

from dataclasses import replace

import pytest

from tcpcheck import model as c
from tcpcheck.diagnostics import TcpcheckError
from tcpcheck.params import (ConstValues, _constants, _constants_all_defined, check_constants,
                             eval_const, param_combinations, parse_param_overrides)
from tcpcheck.replay import open_params
from tcpcheck.parse import parse_file
from tcpcheck.typecheck import check

from conftest import ROOT

MODEL = ROOT / "models" / "teardown.tcpm"


def _model_and_combos():
    model = check(parse_file(MODEL))       # every parameter open, as replay compiles it
    open_ = parse_param_overrides(model, open_params(MODEL, [], model))
    return model, param_combinations(model, open_)


def test_const_values_equal_eval_const_in_every_combination():
    model, combos = _model_and_combos()
    assert len(combos) == 2048
    const = ConstValues()
    compared = 0
    for r, _what, _span, settings, scope in _constants(model):
        if r is None:
            continue
        for env in combos:
            assert const(r, env, settings, scope) == eval_const(r, env, settings)
            compared += 1
    assert compared > 2048 * 10


def test_a_division_by_zero_in_one_combination_is_found_by_the_quick_pass():
    model, combos = _model_and_combos()
    assert _constants_all_defined(model, combos)
    p = model.params[0].name
    last = max(env[p] for env in combos)
    # 1 / (p - last): defined for every value of p but its last one
    bad = c.ROp("/", (c.RConst(1), c.ROp("-", (c.RParam(p), c.RConst(last)))))
    name, dom = model.fields[0]
    broken = replace(model, fields=((name, replace(dom, hi=bad)),) + tuple(model.fields[1:]))
    assert not _constants_all_defined(broken, combos)
    with pytest.raises(TcpcheckError) as err:       # the exact walk names the combination
        check_constants(broken, combos)
    (diag,) = err.value.diagnostics
    assert diag.code == "TCP304" and f"{p}={last}" in " ".join(diag.notes), diag
