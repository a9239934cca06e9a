"""dltv.theory.correlations against independent computations (literature table, direct sums, numerics)."""
from fractions import Fraction
from math import comb, exp

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings, strategies as st

import dltv.theory.correlations as C
from dltv.theory import gaussian as G
from dltv.theory.formulas import get_formula

# ReLU correlation map at C_W=2, C_b=0 from rho^(1) = 0.5 (literature-style table in the notes, 2(a))
RELU_RHO_FROM_HALF = [0.5, 0.608998, 0.683906, 0.738128, 0.778895, 0.810454, 0.835462, 0.855661, 0.872239, 0.886033]


def test_relu_correlation_table():
    rho = C.correlation_recursion("relu", 2, 0, 1.3, 0.5, 10)
    assert np.allclose(rho, RELU_RHO_FROM_HALF, atol=1e-6)
    val = get_formula("correlations.kernel").evaluate(activation="relu", C_W=2, C_b=0, layer=10, K="1,1/2,1")
    assert abs(float(val["K_ab"]) - RELU_RHO_FROM_HALF[-1]) < 1e-6


def test_kernel_formula_layer1_and_single_input():
    f = get_formula("correlations.kernel")
    assert f.evaluate(activation="tanh", C_W=1, C_b=0, layer=1, K="3/2") == sp.Rational(3, 2)
    assert f.evaluate(activation="relu", C_W=2, C_b="1/2", layer=3, K="1") == sp.Rational(2)
    tanh5 = float(f.evaluate(activation="tanh", C_W=1, C_b=0, layer=5, K="1"))
    assert abs(tanh5 - C.kernel_recursion("tanh", 1, 0, [[1.0]], 5)[-1, 0, 0]) < 1e-13


def test_criticality_and_susceptibilities():
    chi = C.susceptibilities("relu", 2, sp.Symbol("K", positive=True))
    assert chi == {"chi_par": 1, "chi_perp": 1}
    for name in ("leaky_relu", "abs", "linear"):
        c = C.criticality(name)
        chi = C.susceptibilities(name, c["C_W"], sp.Rational(7, 3))
        assert chi["chi_par"] == 1 and chi["chi_perp"] == 1
    assert C.criticality("tanh")["C_W"] == 1 and C.criticality("erf")["C_W"] == sp.pi / 4
    par, perp = C.susceptibilities_float("tanh", 1, 1e-4)
    assert abs(par - 1) < 1e-3 and abs(perp - 1) < 1e-3


@settings(max_examples=15, deadline=None)
@given(st.floats(0.2, 3), st.floats(0.2, 3), st.floats(-0.95, 0.95), st.sampled_from(["relu", "erf", "tanh", "gelu"]),
       st.floats(0.5, 2.5), st.floats(0, 1))
def test_kernels_symmetric_psd(ka, kb, r, name, cw, cb):
    K1 = [[ka, r * np.sqrt(ka * kb)], [r * np.sqrt(ka * kb), kb]]
    for Kl in C.kernel_recursion(name, cw, cb, K1, 4):
        assert np.allclose(Kl, Kl.T) and np.linalg.eigvalsh(Kl).min() > -1e-10


def test_bad_inputs():
    f = get_formula("correlations.kernel")
    good = dict(activation="relu", C_W=2, C_b=0, layer=2, K="1")
    for key, bad, word in (("C_W", 0, "C_W"), ("C_b", -1, "C_b"), ("layer", 0, "layer"),
                           ("K", "1,2,1", "semi-definite"), ("activation", "swish2", "activation"), ("K", "-1", "K")):
        with pytest.raises(ValueError, match=word):
            f.evaluate(**{**good, key: bad})
    with pytest.raises(ValueError, match="widths"):
        C.relu_moment_ratio([0], 2)
    with pytest.raises(ValueError, match="homogeneous"):
        C.homogeneous_moment_ratio("tanh", [4], 2)


# ------------------------------------------------------------------ exact finite-width laws
def _direct_Y_moment(n, k, ap2, am2, cw):
    """E[Y^k] by a direct sum over M ~ Bin(n,1/2) and the chi-square moments, in Fractions."""
    def chi(m, i):
        out = Fraction(1)
        for j in range(i):
            out *= m + 2 * j
        return out
    total = Fraction(0)
    for M in range(n + 1):
        inner = sum(comb(k, i) * ap2**i * am2 ** (k - i) * chi(M, i) * chi(n - M, k - i) for i in range(k + 1))
        total += Fraction(comb(n, M), 2**n) * inner
    return (Fraction(cw) / n) ** k * total


@pytest.mark.parametrize("k", [2, 3, 4])
def test_relu_moment_ratio_vs_direct_sum(k):
    widths = [3, 5, 8]
    ratio = Fraction(int(sp.factorial2(2 * k - 1)))
    for n in widths:
        ratio *= _direct_Y_moment(n, k, 1, 0, 2) / _direct_Y_moment(n, 1, 1, 0, 2) ** k
    got = C.relu_moment_ratio(widths, k)
    assert got == sp.Rational(ratio.numerator, ratio.denominator)
    if k == 2:
        assert got == 3 * sp.prod([1 + sp.Rational(5, n) for n in widths])


def test_leaky_relu_ratio_vs_direct_sum():
    ap2, am2 = Fraction(1), Fraction(1, 100)
    cw = Fraction(200, 101)
    r = 3 * _direct_Y_moment(6, 2, ap2, am2, cw) / _direct_Y_moment(6, 1, ap2, am2, cw) ** 2
    assert C.homogeneous_moment_ratio("leaky_relu", [6], 2) == sp.Rational(r.numerator, r.denominator)
    assert C.c_sigma("leaky_relu") == sp.Rational(49805, 10201)


def test_relu_small_n_enumeration():
    # n = 1: Y = 2 g^2 1{g>0}: E[Y^2] = 4*3/2 = 6, E[Y] = 1 -> ratio per layer 6 = 1 + 5/1
    assert C.layer_factor_moment("relu", 2, 1) == 6
    assert C.relu_moment_ratio([1, 1], 2) == 3 * 36


def test_deep_linear_is_homogeneous_with_c2():
    for k in (2, 3, 4):
        assert C.deep_linear_moment_ratio([4, 7, 9], k) == C.homogeneous_moment_ratio("linear", [4, 7, 9], k)
    assert C.c_sigma("linear") == 2 and C.c_sigma("relu") == 5


def test_interneuron_and_cumulants():
    assert C.interneuron_covariance("relu", [16, 32]) == (1 + sp.Rational(5, 16)) * (1 + sp.Rational(5, 32)) - 1
    assert C.kappa4("relu", [16]) == 3 * sp.Rational(5, 16)
    n, L = 10**6, 3
    assert abs(float(C.kappa6("relu", [n] * L)) * n**2 / (1125 * L**2 - 465 * L) - 1) < 1e-3


def test_double_scaling():
    assert C.double_scaling_exponent("relu", 2) == 5 and C.double_scaling_exponent("relu", 3) == 15
    beta = 0.1
    n = 2000
    exact = float(C.relu_moment_ratio([n] * int(beta * n), 2))
    assert abs(exact / (3 * exp(5 * beta)) - 1) < 2e-3
    assert C.double_scaling_limit("linear", 3) == 15 * sp.exp(6 * C.beta)  # PDLT (3.55): e^{m(m-1) r}


def test_bias_moments_vs_notes_recursion():
    cw, cb, K1, widths = sp.Integer(2), sp.Rational(3, 10), sp.Integer(1), [16, 8, 5]
    m1, m2 = K1, K1**2
    for n in widths:  # notes 2(c2), ReLU: A_2 = A_4 = 1/2
        m1, m2 = cb + cw / 2 * m1, cb**2 + 2 * cb * cw / 2 * m1 + cw**2 / 4 * (1 + sp.Rational(5, n)) * m2
    assert C.relu_bias_moments(cw, cb, K1, widths) == (m1, m2)


# ------------------------------------------------------------------ 1/n hierarchy
def test_relu_vertex_and_unequal_widths():
    r = C.vertex_recursion("relu", 2, 0, [[1.0]], [10, 20, 40])
    V, K = r["V"][:, 0, 0], r["K"][:, 0, 0]
    assert np.allclose(K, 1)
    # V^(l)/n_{l-1} = 5 K^2 sum_{j<l} 1/n_j  (notes 2(b))
    assert np.allclose(r["Sigma"][1:, 0, 0], 5 * np.cumsum([1 / 10, 1 / 20, 1 / 40]))
    assert np.allclose(r["dK"], 0)


def test_relu_jacobian_vs_finite_differences():
    K = np.array([[1.1, 0.4], [0.4, 0.8]])
    J, H = C._jacobian_hessian(C.get_activation("relu"), K)
    h = 1e-6
    for q, (c, d) in enumerate(C._pairs(2)):
        E = np.zeros((2, 2))
        E[c, d] = E[d, c] = h
        fd = (G.kernel_matrix("relu", K + E) - G.kernel_matrix("relu", K - E)) / (2 * h)
        assert np.allclose([fd[a, b] for a, b in C._pairs(2)], J[:, q], atol=1e-7)


def test_tanh_vertex_matches_single_input_and_price_vs_fd():
    r = C.vertex_recursion("tanh", 1, 0, [[0.9]], [64] * 5)
    s = C.single_input_recursion("tanh", 1, 0, 0.9, 6)
    assert np.allclose(r["V"][:, 0, 0], s["V"]) and np.allclose(64 * r["dK"][:, 0, 0], s["n_dK"])
    K = np.array([[0.9, 0.3], [0.3, 1.2]])
    J, H = C._jacobian_hessian(C.get_activation("tanh"), K)
    h = 1e-5
    E = np.zeros((2, 2))
    E[0, 1] = E[1, 0] = h
    fd2 = (G.kernel_matrix("tanh", K + E) - 2 * G.kernel_matrix("tanh", K) + G.kernel_matrix("tanh", K - E)) / h**2
    assert abs(fd2[0, 1] - H[1, 1, 1]) < 1e-4


def test_homogeneous_derivative_law_equals_forward():
    d = C.derivative_vertices("relu", 2, 0, 1.0, 6)
    assert np.allclose(d["V_DD_over_D2"], d["V_KK_over_K2"]) and np.allclose(d["D_over_D1"], 1)


def test_tanh_asymptotics_vs_numeric_recursion():
    a = C.tanh_asymptotics()
    l = sp.Symbol("l", real=True)
    assert sp.simplify(a["V_over_K2"] - 2 * l / 3) == 0 and sp.simplify(a["n_dK_over_K"] + l / 3) == 0
    assert sp.simplify(a["derivative_excess_kurtosis_times_n"] - 8 * l) == 0
    L = 1500
    s = C.single_input_recursion("tanh", 1, 0, 1.0, L)
    K, V, nd = np.array(s["K"]), np.array(s["V"]), np.array(s["n_dK"])
    D, VDD = np.array(s["D"]), np.array(s["V_DD"])
    # slopes over a late window remove the O(log l) offsets
    i, j = 700, L - 1
    assert abs((1 / K[j] - 1 / K[i]) / (j - i) - 2) < 0.01
    assert abs(((V / K**2)[j] - (V / K**2)[i]) / (j - i) - 2 / 3) < 0.02
    assert abs(((nd / K)[j] - (nd / K)[i]) / (j - i) + 1 / 3) < 0.02
    assert abs(((VDD / D**2)[j] - (VDD / D**2)[i]) / (j - i) - 8 / 3) < 0.05


def test_required_finite_width_formulas():
    assert get_formula("correlations.relu.moment_ratio").evaluate(n=16, L=2, k=2) == 3 * (1 + sp.Rational(5, 16)) ** 2
    out = get_formula("correlations.nlo").evaluate(activation="relu", C_W=2, C_b=0, n=32, layer=4, K="1,1/2,1")
    assert {"K_ab", "n_dK_ab", "V_aa_aa", "V_aa_bb", "V_ab_ab", "V_aa_ab"} <= set(out)  # the original entries stay
    assert set(out) == set(C.NLO_ENTRIES)
    assert abs(float(out["V_aa_aa"]) - 15) < 1e-9 and abs(float(out["K_ab"]) - RELU_RHO_FROM_HALF[3]) < 1e-6
    si = get_formula("correlations.single_input").evaluate(activation="relu", C_W=2, C_b=0, K=1, layer=4)
    assert float(si["V_over_K2"]) == pytest.approx(15) and float(si["D_over_D1"]) == pytest.approx(1)


# ------------------------------------------------------------------ 30-digit two-input formulas
def _plain(name):
    """The activation as a user expression: no closed form, so the generic (Mehler series) route."""
    from dltv.theory.activations import custom
    return custom(C.get_activation(name).expr, name=f"{name} (plain)")


def _close(a, b, digits=30):
    return all(abs(sp.N(a[k] - b[k], 50)) <= 10 ** -digits * max(1, abs(sp.N(b[k], 50))) for k in b)


K_HALF = (1, sp.Rational(1, 2), sp.Rational(6, 5))


@pytest.mark.parametrize("name", ["erf", "gelu", "sin"])
def test_kernel_and_ntk_closed_forms_vs_mehler_30_digits(name):
    # closed forms (arcsin, neural-tangents GELU, exponentials) against the Mehler series of the same sigma
    closed = C.kernel_layer(name, sp.Rational(3, 2), sp.Rational(1, 10), K_HALF, 4)
    series = C.kernel_layer(_plain(name), sp.Rational(3, 2), sp.Rational(1, 10), K_HALF, 4)
    assert _close(series, closed)
    closed = C.ntk_layer(name, sp.Rational(3, 2), sp.Rational(1, 10), K_HALF, 4)
    series = C.ntk_layer(_plain(name), sp.Rational(3, 2), sp.Rational(1, 10), K_HALF, 4)
    assert _close(series, closed)


def test_nlo_closed_derivatives_vs_price_mehler_30_digits():
    # erf: derivatives of the arcsin form (sympy) against Price's theorem with Mehler series
    closed = C.nlo_layer("erf", sp.Rational(3, 2), sp.Rational(1, 10), K_HALF, 16, 3)
    series = C.nlo_layer(_plain("erf"), sp.Rational(3, 2), sp.Rational(1, 10), K_HALF, 16, 3)
    assert _close(series, closed)
    assert all(isinstance(v, sp.Float) and v._prec >= 99 for v in closed.values())  # >= 30 digits


def test_nlo_relu_exact_and_tanh_vs_float64():
    # ReLU, C_W = 2: V_aa,aa = 5 (l-1) K^2 exactly (notes 2(b)); layer 10 gives 45
    out = get_formula("correlations.nlo").evaluate(activation="relu", C_W=2, C_b=0, n=32, layer=10, K="1,1/2,1")
    assert abs(out["V_aa_aa"] - 45) < 1e-28
    assert abs(float(out["K_ab"]) - RELU_RHO_FROM_HALF[9]) < 1e-6
    mp = C.nlo_layer("tanh", 1, sp.Rational(1, 10), K_HALF, 32, 4)
    r = C.vertex_recursion("tanh", 1, 0.1, [[1, 0.5], [0.5, 1.2]], [32] * 3)
    V = r["V"][-1]
    ref = {"K_ab": r["K"][-1][0, 1], "n_dK_ab": 32 * r["dK"][-1][0, 1], "V_aa_aa": V[0, 0], "V_aa_bb": V[0, 2],
           "V_ab_ab": V[1, 1], "V_aa_ab": V[0, 1]}
    assert all(float(mp[k]) == pytest.approx(v, rel=1e-12) for k, v in ref.items())


def test_ntk_and_nlo_print_30_digits(capsys):
    import json
    from dltv.checks.cli import main
    for args in (["correlations.ntk", "activation=tanh", "C_W=1", "C_b=0", "layer=3", "K=1,1/2,1"],
                 ["correlations.nlo", "activation=relu", "C_W=2", "C_b=0", "n=8", "layer=3", "K=1,1/2,1"]):
        assert main(["formula", "eval", *args, "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        # exact zeros (ReLU, C_b = 0: n dK_aa = n dK_bb = 0, E G_aa = K_aa at any width) print as 0
        assert all(len(v.replace("-", "").replace(".", "")) >= 30 for v in out["exact"].values() if v != "0")


def test_single_input_moments_vs_tanh_sinh():
    # the 35-digit node sums of the single-input recursion against mpmath's tanh-sinh quadrature
    import mpmath
    act = C.get_activation("tanh")
    f = [act.mpmath(j) for j in range(5)]
    with mpmath.workdps(45):  # the caller's precision (single_input_recursion works at 40 digits)
        k = mpmath.mpf("0.7")
        got = C._single_moments(act, k, mp=True)
        e = lambda fn: G.mp_expect_1d(fn, k, 35)[0]  # noqa: E731
        ref = {"g": e(lambda z: f[0](z) ** 2), "s2d2": e(lambda z: f[0](z) ** 2 * f[1](z) ** 2),
               "g2": e(lambda z: 6 * f[2](z) ** 2 + 8 * f[1](z) * f[3](z) + 2 * f[0](z) * f[4](z)) / 4,
               "dd2": e(lambda z: f[2](z) ** 2 + f[1](z) * f[3](z))}
        for key, v in ref.items():
            assert abs(got[key] - v) < mpmath.mpf(10) ** -32 * max(1, abs(v)), key
