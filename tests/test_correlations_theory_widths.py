"""Every entry of the two-input 1/n hierarchy (correlations.nlo) and per-layer widths, against independent routes."""
import numpy as np
import pytest
import sympy as sp

import dltv.theory.correlations as C
from dltv.theory.formulas import get_formula

K_TANH = (1, sp.Rational(1, 2), sp.Rational(6, 5))  # K_aa, K_ab, K_bb
PROFILE = [16, 64, 32]


def _float(d):
    return {k: float(v) for k, v in d.items()}


def test_nlo_swapping_the_inputs_swaps_the_entries():
    ab = _float(C.nlo_layer("tanh", 1, sp.Rational(1, 10), K_TANH, 32, 4))
    ba = _float(C.nlo_layer("tanh", 1, sp.Rational(1, 10), K_TANH[::-1], 32, 4))
    swap = {"K_aa": "K_bb", "n_dK_aa": "n_dK_bb", "V_aa_aa": "V_bb_bb", "V_aa_ab": "V_ab_bb"}
    swap |= {v: k for k, v in swap.items()} | {k: k for k in ("K_ab", "n_dK_ab", "V_ab_ab", "V_aa_bb")}
    assert set(swap) == set(C.NLO_ENTRIES)
    for key, other in swap.items():
        assert ab[key] == pytest.approx(ba[other], rel=1e-25, abs=1e-30)
    assert abs(ab["n_dK_aa"] - ab["n_dK_bb"]) > 1e-5 and abs(ab["V_aa_ab"] - ab["V_ab_bb"]) > 1e-5  # not symmetric


def test_nlo_diagonal_entries_are_the_single_input_hierarchy():
    # K_aa, n dK_aa, V_aa,aa of the two-input recursion = the single-input recursion at K_aa (a different code path)
    out = C.nlo_layer("tanh", 1, sp.Rational(1, 10), K_TANH, 32, 5)
    for diag, k in (("aa", K_TANH[0]), ("bb", K_TANH[2])):
        s = C.single_input_recursion("tanh", 1, sp.Rational(1, 10), k, 5, mp=True)
        assert float(out[f"K_{diag}"]) == pytest.approx(float(s["K"][-1]), rel=1e-28)
        assert float(out[f"n_dK_{diag}"]) == pytest.approx(float(s["n_dK"][-1]), rel=1e-25)
        assert float(out[f"V_{diag}_{diag}"]) == pytest.approx(float(s["V"][-1]), rel=1e-25)


@pytest.mark.parametrize("widths", [None, PROFILE])
def test_nlo_every_entry_vs_float64_vertex_recursion(widths):
    # float64 quadrature route (vertex_recursion) against the 30-digit closed forms / Mehler series (nlo_layer)
    ws = [32] * 3 if widths is None else widths
    mp = _float(C.nlo_layer("tanh", 1, sp.Rational(1, 10), K_TANH, 32, 4, widths=widths))
    r = C.vertex_recursion("tanh", 1, 0.1, [[1, 0.5], [0.5, 1.2]], ws)
    V, dK = 32 * r["Sigma"][-1], 32 * r["dK"][-1]
    pairs = {"aa": 0, "ab": 1, "bb": 2}
    idx = {"aa": (0, 0), "ab": (0, 1), "bb": (1, 1)}
    ref = {f"K_{p}": r["K"][-1][idx[p]] for p in pairs} | {f"n_dK_{p}": dK[idx[p]] for p in pairs}
    ref |= {f"V_{p}_{q}": V[pairs[p], pairs[q]] for p in pairs for q in pairs if pairs[q] >= pairs[p]}
    assert set(ref) == set(mp)
    for key, value in ref.items():
        assert mp[key] == pytest.approx(value, rel=1e-11, abs=1e-13), key


def test_widths_equal_list_is_the_equal_width_formula():
    eq = _float(C.nlo_layer("relu", 2, 0, (1, sp.Rational(1, 2), 1), 32, 4))
    assert _float(C.nlo_layer("relu", 2, 0, (1, sp.Rational(1, 2), 1), 32, 4, widths=[32] * 3)) == pytest.approx(eq)
    s = C.single_input_recursion("tanh", 1, 0, 1.0, 5)
    w = C.single_input_recursion("tanh", 1, 0, 1.0, 5, widths=[40] * 4)
    for key in ("K", "V", "n_dK", "D", "V_KD", "V_DD"):
        assert w[key] == pytest.approx(s[key], rel=1e-13, abs=1e-15)
    assert w["Sigma_DD"][-1] == pytest.approx(s["V_DD"][-1] / 40) and w["dK"][-1] == pytest.approx(s["n_dK"][-1] / 40)


def test_relu_unequal_widths_first_order_of_the_exact_product():
    # ReLU (C_W = 2): Var G/K^2 = prod(1 + 5/n_l) - 1 exactly, first order 5 sum 1/n_l; V_aa,aa = n * that
    out = C.nlo_layer("relu", 2, 0, (1, sp.Rational(1, 2), 1), 10, 4, widths=PROFILE)
    assert float(out["V_aa_aa"]) == pytest.approx(10 * 5 * sum(1 / w for w in PROFILE), rel=1e-25)


def test_order_of_the_widths_matters_for_smooth_sigma():
    a = C.single_input_recursion("tanh", 1, 0, 1.0, 4, widths=PROFILE)
    b = C.single_input_recursion("tanh", 1, 0, 1.0, 4, widths=PROFILE[::-1])
    assert abs(a["Sigma_KK"][-1] / b["Sigma_KK"][-1] - 1) > 0.1 and abs(a["dK"][-1] / b["dK"][-1] - 1) > 0.05
    # each layer's 1/n_l enters at its own layer: the first layer's width alone sets Sigma at layer 2
    s = C.single_input_recursion("tanh", 1, 0, 1.0, 2)
    assert a["Sigma_KK"][1] == pytest.approx(s["V"][1] / PROFILE[0], rel=1e-14)


def test_width_errors_and_formula_parameters():
    with pytest.raises(ValueError, match="widths"):
        C.single_input_recursion("tanh", 1, 0, 1.0, 4, widths=[16, 32])
    with pytest.raises(ValueError, match="widths"):
        C.nlo_layer("tanh", 1, 0, K_TANH, 32, 4, widths=[16, 0, 32])
    with pytest.raises(ValueError, match="widths"):
        get_formula("correlations.single_input").evaluate(activation="tanh", C_W=1, C_b=0, K=1, layer=3,
                                                         widths="16,32,64")
    out = get_formula("correlations.single_input").evaluate(activation="tanh", C_W=1, C_b=0, K=1, layer=4,
                                                           widths="16,64,32")
    assert {"Var_G_over_K2", "dK_over_K", "Var_D_over_D2"} <= set(out)
    s = C.single_input_recursion("tanh", 1, 0, 1.0, 4, widths=PROFILE)
    assert float(out["Var_G_over_K2"]) == pytest.approx(s["Sigma_KK"][-1] / s["K"][-1] ** 2, rel=1e-12)


def test_cli_evaluates_widths(capsys):
    from dltv.checks.cli import main
    assert main(["formula", "eval", "correlations.nlo", "activation=relu", "C_W=2", "C_b=0", "n=16", "layer=4",
                 "K=1,1/2,1", "widths=16,64,32"]) == 0
    assert "V_ab_bb" in capsys.readouterr().out
    assert main(["formula", "eval", "correlations.nlo", "activation=relu", "C_W=2", "C_b=0", "n=16", "layer=4",
                 "K=1,1/2,1", "widths=16,64"]) == 2


def test_derivative_vertices_take_widths():
    eq = C.derivative_vertices("tanh", 1, 0, 1.0, 4)
    w = C.derivative_vertices("tanh", 1, 0, 1.0, 4, widths=[24] * 3)
    for key in eq:
        assert np.allclose(w[key], eq[key], rtol=1e-13, atol=1e-15)
    p = C.derivative_vertices("tanh", 1, 0, 1.0, 4, widths=PROFILE)
    r = C.single_input_recursion("tanh", 1, 0, 1.0, 4, widths=PROFILE)
    assert p["V_DD_over_D2"][-1] == pytest.approx(PROFILE[-1] * r["Sigma_DD"][-1] / r["D"][-1] ** 2, rel=1e-13)
