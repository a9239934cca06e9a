"""Unit and property tests of dltv.theory.bottleneck against independent computations."""
import math

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings, strategies as st

from dltv.theory import bottleneck as tb
from dltv.theory.formulas import get_formula


def test_linear_cost_small_depths_are_frobenius_and_twice_nuclear():
    s = [sp.Integer(3), sp.Rational(1, 2), sp.Integer(0)]
    assert sp.simplify(tb.linear_cost(s, 1) - (9 + sp.Rational(1, 4))) == 0
    assert sp.simplify(tb.linear_cost(s, 2) - 2 * (3 + sp.Rational(1, 2))) == 0


def test_expansion_of_reference_matrix():
    # diag(3, 2, 1/2): rank 3, 2 log|A|_+ = 2 log 3 = log 9
    e = tb.expansion([3, 2, sp.Rational(1, 2)])
    assert e["R0"] == 3
    assert sp.simplify(e["R1"] - sp.log(9)) == 0
    assert sp.simplify(e["R2"] - 2 * (sp.log(3) ** 2 + 2 * sp.log(2) ** 2)) == 0


@settings(max_examples=8, deadline=None)
@given(st.integers(0, 7))
def test_series_term_matches_exponential_coefficients(n):
    s = tb.S_SYM
    assert sp.simplify(tb.expansion_term_symbolic(n) - (2 * sp.log(s)) ** n / sp.factorial(n)) == 0


@settings(max_examples=10, deadline=None)
@given(st.lists(st.floats(0.05, 20), min_size=1, max_size=4), st.integers(0, 2))
def test_remainder_bound_holds_numerically(svals, m):
    s = [sp.Rational(str(round(v, 4))) for v in svals]
    with mpmath.workdps(50):
        for L in (3, 40):
            exact = tb.linear_cost_mp(s, L)
            trunc = mpmath.mpf(sp.N(tb.truncated_cost(s, L, m), 50))
            nxt = mpmath.mpf(sp.N(tb.expansion_coefficient(s, m + 1), 50))
            assert abs(mpmath.mpf(L) ** m * (exact - trunc) - nxt) <= tb.remainder_bound(s, L, m) * (1 + 1e-12) + 1e-30


def test_threshold_is_a_tie_with_a_stationary_point():
    L, lam = sp.Integer(5), sp.Rational(1, 7)
    t = tb.threshold(5, lam)
    y, s = t["y_c"], t["jump"]
    phi = tb.scalar_objective(tb.S_SYM, y, L, lam)
    assert abs(float(sp.N(phi.subs(tb.S_SYM, s) - y ** 2, 30))) < 1e-25
    assert abs(float(sp.N(sp.diff(phi, tb.S_SYM).subs(tb.S_SYM, s), 30))) < 1e-25
    assert sp.simplify(s - y * sp.Rational(3, 4)) == 0        # jump = y_c (L−2)/(L−1)


def test_threshold_matches_closed_form_of_the_notes():
    for L in (3, 4, 7):
        lam = sp.Rational(1, 20)
        yc = (lam * (L - 1) ** (2 - sp.Rational(2, L)) / (L - 2) ** (1 - sp.Rational(2, L))) ** sp.Rational(L, 2 * L - 2)
        assert abs(float(sp.N(tb.threshold(L, lam)["y_c"] - yc, 30))) < 1e-25
    assert tb.threshold(2, sp.Rational(1, 3)) == {"y_c": sp.Rational(1, 3), "jump": 0}


@settings(max_examples=30, deadline=None)
@given(st.floats(0.0, 3.0), st.integers(1, 6), st.floats(0.01, 0.5))
def test_global_minimiser_agrees_with_brute_force(y, L, lam):
    y, lam = round(y, 4), round(lam, 4)
    grid = np.linspace(0, max(y, 1e-3) * 1.2 + 0.01, 200001)
    phi = (grid - y) ** 2 + lam * L * grid ** (2.0 / L)
    s_star = float(tb.global_minimiser(sp.Rational(str(y)), L, sp.Rational(str(lam))))
    phi_star = (s_star - y) ** 2 + lam * L * s_star ** (2.0 / L)
    assert phi_star <= phi.min() + 1e-9


def test_local_minimum_below_threshold():
    lam, L = sp.Rational(1, 20), 4
    yc = tb.threshold(L, lam)["y_c"]
    mins = tb.local_minima(yc * sp.Rational(97, 100), L, lam)
    assert len(mins) == 2 and mins[0] == 0 and mins[1] > 0
    assert tb.global_minimiser(yc * sp.Rational(97, 100), L, lam) == 0
    assert tb.global_minimiser(yc * sp.Rational(103, 100), L, lam) > float(sp.N(tb.threshold(L, lam)["jump"])) * 0.9


def test_balanced_factorisation_and_reparametrisations():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((4, 3)) @ rng.standard_normal((3, 5))
    s = np.linalg.svd(A, compute_uv=False)[:3]
    for L in (1, 2, 5):
        ws = tb.balanced_factorisation(A, L, widths=[4] * (L - 1))
        P = ws[0]
        for w in ws[1:]:
            P = w @ P
        np.testing.assert_allclose(P, A, atol=1e-12)
        cost = L * (s ** (2 / L)).sum()
        assert abs(sum((w ** 2).sum() for w in ws) - cost) < 1e-12 * cost
        for _ in range(50):   # any other factorisation costs at least as much
            Gs = [rng.standard_normal((4, 4)) + 2 * np.eye(4) for _ in range(L - 1)]
            vs = [w.copy() for w in ws]
            for l, G in enumerate(Gs):
                vs[l] = G @ vs[l]
                vs[l + 1] = vs[l + 1] @ np.linalg.inv(G)
            assert sum((v ** 2).sum() for v in vs) >= cost - 1e-9


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(1e-3, 50), min_size=1, max_size=6), st.integers(1, 30))
def test_schatten_bound_dominates_log_pdet_bound(sv, L):
    assert tb.schatten_bound(sv, L) >= tb.log_pdet_bound(sv, L, rtol=0) - 1e-9


def test_subadditivity_examples():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((5, 2)) @ rng.standard_normal((2, 5))
    B = rng.standard_normal((5, 2)) @ rng.standard_normal((2, 5))
    e, ok = tb.addition_excess(A, B)
    assert ok and e <= 1e-12
    # orthogonal column and row spaces: equality
    e, ok = tb.addition_excess(np.diag([2.0, 3, 0, 0]), np.diag([0, 0, 0.5, 7]))
    assert ok and abs(e) < 1e-12
    assert tb.finite_depth_addition_excess(np.eye(2), np.eye(2), 1) > 0     # Frobenius is not subadditive


def test_formula_ids_answer():
    assert sp.simplify(get_formula("bottleneck.linear_cost").evaluate(s="4,1", L="2") - 10) == 0
    e = get_formula("bottleneck.expansion").evaluate(s="1/2,2")
    assert set(e) == {"R0", "R1", "R2", "R3"} and e["R0"] == 2 and sp.simplify(e["R1"]) == 0
    t = get_formula("bottleneck.threshold").evaluate(L="3", lam="1/4")
    assert math.isclose(float(t["jump"]), 0.25 ** 0.75) and math.isclose(float(t["y_c"]), 2 * 0.25 ** 0.75)


@pytest.mark.parametrize("fid,kw", [
    ("bottleneck.linear_cost", {"s": "1,-2", "L": "2"}),
    ("bottleneck.linear_cost", {"s": "1,2", "L": "0"}),
    ("bottleneck.linear_cost", {"s": "1,2", "L": "1.5"}),
    ("bottleneck.expansion", {"s": ""}),
    ("bottleneck.threshold", {"L": "3", "lam": "0"}),
    ("bottleneck.threshold", {"L": "3"}),
])
def test_bad_input_raises_value_error(fid, kw):
    with pytest.raises(ValueError):
        get_formula(fid).evaluate(**kw)


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize("call,name", [
    (lambda: tb.schatten_bound([1, NAN], 2), "jac_singular_values"),
    (lambda: tb.schatten_bound([1, INF], 2), "jac_singular_values"),
    (lambda: tb.schatten_bound([1, -2], 2), "jac_singular_values"),
    (lambda: tb.log_pdet_bound([1, NAN], 3), "jac_singular_values"),
    (lambda: tb.log_pdet_bound([1, 2], 3, rtol=NAN), "rtol"),
    (lambda: tb.layer_bottleneck_gap([np.array([1.0, NAN])], 1), "layer_singular_values"),
    (lambda: tb.log_pdet(np.array([[NAN, 1.0], [0.0, 1.0]])), "A"),
    (lambda: tb.composition_excess(np.eye(2), np.array([[1.0, INF], [0.0, 1.0]])), "B"),
    (lambda: tb.addition_excess(np.array([[NAN, 0.0], [0.0, 1.0]]), np.eye(2)), "A"),
    (lambda: tb.addition_excess(np.eye(2), np.eye(3)), "same shape"),
    (lambda: tb.finite_depth_addition_excess(np.eye(2), np.full((2, 2), NAN), 2), "B"),
    (lambda: tb.balanced_factorisation(np.array([[1.0, NAN]]), 2), "A"),
    (lambda: tb.linear_cost([1, NAN], 2), "s"),
    (lambda: tb.linear_cost([1, sp.nan], 2), "s"),
    (lambda: tb.linear_cost_mp([1, 2], INF), "L"),
    (lambda: tb.remainder_bound([1, INF], 3, 0), "s"),
    (lambda: tb.expansion([sp.oo, 1]), "s"),
    (lambda: tb.threshold(3, NAN), "lam"),
    (lambda: tb.threshold(3, sp.nan), "lam"),
    (lambda: tb.nonzero_branch_onset(3, INF), "lam"),
    (lambda: tb.local_minima(NAN, 3, 0.1), "y"),
    (lambda: tb.global_minimiser(1, 3, INF), "lam"),
    (lambda: tb.scalar_objective(0.5, NAN, 3, 0.1), "y"),
])
def test_non_finite_input_is_refused_naming_the_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_schatten_bound_counts_every_finite_value():
    # L Σ s^{2/L}: zeros do not count, nothing else is dropped
    assert math.isclose(tb.schatten_bound([1.0, 4.0, 0.0], 2), 2 * (1 + 4))


def test_scalar_objective_is_symbolic_in_the_depth():
    phi = tb.scalar_objective(tb.S_SYM, tb.Y_SYM, tb.L_SYM, tb.LAM_SYM)
    assert sp.simplify(phi.subs(tb.L_SYM, 3) - tb.scalar_objective(tb.S_SYM, tb.Y_SYM, 3, tb.LAM_SYM)) == 0


def test_nonzero_branch_onset_is_where_local_minima_appear():
    lam = sp.Rational(1, 20)
    for L in (3, 4, 6):
        y_min = tb.nonzero_branch_onset(L, lam)["y_min"]
        assert y_min < tb.threshold(L, lam)["y_c"]
        assert len(tb.local_minima(y_min * sp.Rational(1001, 1000), L, lam)) == 2
        assert len(tb.local_minima(y_min * sp.Rational(999, 1000), L, lam)) == 1
    with pytest.raises(ValueError, match="L"):
        tb.nonzero_branch_onset(2, lam)
