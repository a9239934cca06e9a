"""Unit tests of theory/regions.py against independent computations."""
from fractions import Fraction

import pytest
import sympy as sp
from hypothesis import given, settings, strategies as st
from scipy import integrate

import dltv.theory.regions as tr
from dltv.theory.formulas import get_formula

peak = st.fractions(min_value=Fraction(1, 20), max_value=Fraction(19, 20), max_denominator=50)


@settings(deadline=None)   # the first example pays for sympy's caches
@given(peak, st.fractions(min_value=0, max_value=1, max_denominator=60))
def test_tent_relu_form_equals_piecewise(a, yv):
    a, yv = sp.Rational(a), sp.Rational(yv)
    assert tr.tent_map(a).subs(tr.y, yv) == tr.tent_relu_form(a).subs(tr.y, yv)


@settings(deadline=None)
@given(st.integers(1, 7), st.integers(0, 256))
def test_telgarsky_closed_form_is_iterated_tent(k, j):
    t = sp.Rational(j, 256)
    assert tr.telgarsky_sawtooth(k, t) == tr.composition_value([sp.Rational(1, 2)] * k, t)


def test_law_scales_yarotsky_case():
    assert tr.law_scales([sp.Rational(1, 2)] * 5, sp.Rational(1, 4), 4) == [sp.Rational(1, 4 ** (i + 1)) for i in range(4)]


@settings(max_examples=30)
@given(st.lists(peak, min_size=3, max_size=7), st.fractions(min_value=Fraction(1, 10), max_value=2, max_denominator=20))
def test_law_slope_at_zero_closed_form_equals_sum(peaks, s0):
    d = len(peaks) - 1
    s = tr.law_scales(peaks, s0, d)
    assert tr.slope_at_zero(peaks[:d], s) == tr.law_slope_at_zero(peaks, s0, d)


def test_degenerate_scales_cancel_kink_numerically():
    # the jump of F' at a_0, by finite differences of F on exact rationals
    a = [sp.Rational(3, 10), sp.Rational(3, 5), sp.Rational(2, 5)]
    s = tr.degenerate_scales(a, 1, [sp.Rational(1, 50)])
    F = lambda t: sum(si * tr.composition_value(a[:i + 1], t) for i, si in enumerate(s))
    h = sp.Rational(1, 10 ** 6)
    left = (F(a[0]) - F(a[0] - h)) / h
    right = (F(a[0] + h) - F(a[0])) / h
    assert left == right


def test_yarotsky_errors_by_quadrature():
    for d in (1, 2, 3):
        n = 2 ** d
        f = lambda t: (lambda k: (k / n) ** 2 + ((k + 1) ** 2 - k ** 2) / n ** 2 * (t * n - k))(min(int(t * n), n - 1))
        l2 = sum(integrate.quad(lambda t: (f(t) - t * t) ** 2, k / n, (k + 1) / n)[0] for k in range(n))
        sup = max(abs(f(j / 4000) - (j / 4000) ** 2) for j in range(4001))
        e = tr.yarotsky_errors(d)
        assert l2 == pytest.approx(float(e["l2sq"]), rel=1e-8)
        assert sup == pytest.approx(float(e["sup"]), rel=1e-3)


def test_one_layer_uniform_probability_by_integration():
    # P(-b/w in (0,1)) for w, b ~ U(-1,1)
    # given w, the b in (-1,1) with 0 < -b/w < 1 form an interval of length |w| (density 1/2 each)
    p, _ = integrate.quad(lambda w: 0.5 * 0.5 * abs(w), -1, 1, points=[0])
    assert p == pytest.approx(float(tr.one_layer_uniform_pieces(1)["mean"] - 1), rel=1e-10)
    assert tr.one_layer_uniform_pieces(8)["var"] == 8 * sp.Rational(3, 16)


def test_one_layer_gaussian_probability_by_integration():
    from scipy.stats import norm
    vw, vb = 2.0, 0.1
    # P(0 < -b/w < 1) = 2 * P(w > 0, -w < b < 0)
    p = 2 * integrate.quad(lambda w: norm.pdf(w, scale=vw ** .5) * (0.5 - norm.cdf(-w, scale=vb ** .5)), 0, 50)[0]
    assert p == pytest.approx(float(tr.one_layer_gaussian_pieces(1, 2, sp.Rational(1, 10))["mean"] - 1), rel=1e-8)


def test_formulas_registered_and_evaluate():
    assert get_formula("regions.triangle.count").evaluate(depth="5") == 32
    assert get_formula("regions.yarotsky.errors").evaluate(depth=2)["sup"] == sp.Rational(1, 64)
    assert get_formula("regions.max-regions-1d").evaluate(widths="1,4,4,1") == 25
    k = get_formula("regions.law.kink").evaluate(peaks="1/2,1/2,1/2", s0="1/4", depth=2, level=1, slope=2)
    assert k == -2 * sp.Rational(1, 16) / sp.Rational(1, 4)


@pytest.mark.parametrize("call", [
    lambda: tr.region_count(0),
    lambda: tr.tent_map(1),
    lambda: tr.law_scales([sp.Rational(1, 2)] * 2, 1, 3),
    lambda: tr.law_scales([sp.Rational(1, 2)] * 4, -1, 3),
    lambda: tr.one_layer_uniform_pieces(0),
    lambda: tr.degenerate_scales([sp.Rational(1, 2)] * 3, 1, [100]),
    lambda: get_formula("regions.telgarsky.sawtooth").evaluate(k=2, x="3/2"),
])
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_widths_convention_is_input_hidden_output():
    # d_0, ..., d_{L+1} as in covering.group_order: 1,8,8,1 has two hidden layers of 8 -> 81
    assert tr.max_regions_1d([1, 8, 8, 1]) == 81
    assert tr.hanin_rolnick_bound([1, 4, 1]) == 1 + 4 / sp.sqrt(sp.pi * sp.Rational(1, 10))
    for bad in ([4, 4], [2, 4, 1], [1]):
        with pytest.raises(ValueError, match="widths"):
            tr.max_regions_1d(bad)
    with pytest.raises(ValueError, match="widths"):
        get_formula("regions.init.hanin-rolnick-bound").evaluate(widths="8,8")


def test_hanin_rolnick_regions_and_bound():
    assert get_formula("regions.init.hanin-rolnick").evaluate(crossings="1/2") == sp.Rational(3, 2)
    # He: C_grad = sqrt 2, C_bias = 1/sqrt(2 pi v): bound 1 + N/sqrt(pi v), independent of depth
    v = sp.Rational(1, 10)
    assert sp.simplify(tr.hanin_rolnick_bound([1, 4, 4, 4, 1], "he", v) - (1 + 12 / sp.sqrt(sp.pi * v))) == 0
    # default init: E z'^2 = 1/3 at layer 1, /6 per layer; the one-layer bound 1 + n sqrt(1/3)/2 >= 1 + n/4
    assert tr.gradient_second_moment("default", 3) == sp.Rational(1, 108)
    assert tr.hanin_rolnick_bound([1, 4, 1], "default") > tr.one_layer_uniform_pieces(4)["mean"]
    with pytest.raises(ValueError):
        tr.gradient_second_moment("xavier", 1)
