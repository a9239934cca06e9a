"""The 1/n² six-point cumulant and the K*=0 large-depth expansions (theory.correlations), against
independent methods: the exact ReLU product law, 30-digit quadrature, closed forms and Monte Carlo samples."""
import json

import mpmath
import numpy as np
import pytest
import sympy as sp

import dltv.theory.correlations as C
from dltv.checks.cli import main
from dltv.numerics.correlations import third_cumulant
from dltv.theory import gaussian as G
from dltv.theory.activations import custom
from dltv.theory.formulas import get_formula


# ------------------------------------------------------------------ six-point cumulant recursion
def _relu_exact_kappa6_n2(L):
    """lim n² κ₆/K³ after L ReLU layers from the exact product law E z^{2k}/E[z²]^k = (2k−1)!! ∏ E[Y^k]."""
    n = C.n_sym
    r2 = C.layer_factor_moment("relu", 2) / C.layer_factor_moment("relu", 1) ** 2
    r3 = C.layer_factor_moment("relu", 3) / C.layer_factor_moment("relu", 1) ** 3
    return sp.limit(n**2 * (15 * r3**L - 45 * r2**L + 30), n, sp.oo)


@pytest.mark.parametrize("L", [1, 2, 5])
def test_relu_six_point_matches_exact_product_law(L):
    r = C.six_point_recursion("relu", 2, 0, 1.0, L + 1, mp=True)
    exact = _relu_exact_kappa6_n2(L)
    assert exact == 1125 * L**2 - 465 * L  # the expansion quoted in the notes
    assert abs(r["kappa6_n2_over_K3"][-1] - exact) < 1e-25 * exact


def test_relu_with_biases_matches_exact_moment_recursion():
    # n² κ₃(G) from the exact E G, E G², E G³ (bias_moments) at n and 2n, Richardson-extrapolated in 1/n
    cb, K1, L = sp.Rational(3, 10), sp.Rational(13, 10), 3

    def n2_k3(n):
        m1, m2, m3 = C.bias_moments("relu", 2, cb, K1, [n] * L, 3)
        return n**2 * (m3 - 3 * m2 * m1 + 2 * m1**3)

    n = 10**5
    extrapolated = 2 * n2_k3(2 * n) - n2_k3(n)
    r = C.six_point_recursion("relu", 2, cb, K1, L + 1, mp=True)
    assert float(r["c3"][-1]) == pytest.approx(float(extrapolated), rel=1e-8)


def test_float64_and_30_digit_recursions_agree_and_share_the_vertex():
    mp = C.six_point_recursion("tanh", 1, sp.Rational(1, 10), 1.0, 5, mp=True)
    f64 = C.six_point_recursion("tanh", 1, 0.1, 1.0, 5)
    assert all(float(a) == pytest.approx(b, rel=1e-12) for a, b in zip(mp["c3"][1:], f64["c3"][1:]))
    si = C.single_input_recursion("tanh", 1, 0.1, 1.0, 5)
    assert np.allclose(f64["V"], si["V"], rtol=1e-12)
    # layer 2: only the conditional third cumulant of the first layer, C_W³ κ₃(σ(z)²) at K^(1)
    act = C.get_activation("tanh")
    k3 = [G.mp_node_expect(act, ((0, p),), 1)[0] for p in (2, 4, 6)]
    assert float(mp["c3"][1]) == pytest.approx(float(k3[2] - 3 * k3[1] * k3[0] + 2 * k3[0] ** 3), rel=1e-25)


def test_tanh_six_point_grows_like_sixteen_fifteenths_l_squared():
    asym = C.k0_kappa6_asymptotics("tanh")
    l = sp.Symbol("l", real=True)
    assert sp.simplify(asym["n2_kappa3_over_K3"] - sp.Rational(16, 15) * l**2) == 0
    assert sp.simplify(asym["V_over_K2"] - 2 * l / 3) == 0
    r = C.six_point_recursion("tanh", 1, 0, 1.0, 400)
    y = np.array(r["c3"]) / np.array(r["K"]) ** 3
    i, d = 299, 90  # the second difference removes the l log l and l terms up to O(1/l)
    assert (y[i + d] - 2 * y[i] + y[i - d]) / (2 * d * d) == pytest.approx(16 / 15, rel=0.01)


def test_six_point_constant_is_universal_in_the_k0_class():
    asym = C.k0_kappa6_asymptotics("sin")  # A = 1 instead of tanh's 2
    assert asym["kappa6_n2_over_K3"] == 16 * sp.Symbol("l", real=True) ** 2


# ------------------------------------------------------------------ the third-cumulant estimator
def test_third_cumulant_unbiased_with_honest_se():
    rng = np.random.default_rng(7)
    k = 10  # chi²_k: κ₃ = 8k
    est = [third_cumulant(rng.chisquare(k, 3000)) for _ in range(300)]
    means, ses = np.array([e.mean for e in est]), np.array([e.se for e in est])
    assert abs(means.mean() - 8 * k) < 4 * means.std() / np.sqrt(means.size)
    assert np.sqrt(np.mean(ses**2)) == pytest.approx(means.std(), rel=0.15)
    big = third_cumulant(rng.chisquare(k, 200_000))
    assert abs(big.mean - 8 * k) < 5 * big.se
    with pytest.raises(ValueError, match="G"):
        third_cumulant([1.0, 2.0])


# ------------------------------------------------------------------ K*=0: 1/K to higher orders
def test_inverse_kernel_expansion_coefficients():
    e = C.k0_inverse_kernel_expansion("tanh", 2)
    L, C0 = e["L"], e["C_0"]
    assert (e["A"], e["c"]) == (2, sp.Rational(-5, 6))
    # P_1 = (B²/A³) log l + ..., B = a_1² − a_2 = −5/3 (hand derivation)
    assert sp.expand(e["P"][0] - (sp.Rational(25, 72) * L - sp.Rational(5, 12) * C0 - sp.Rational(53, 72))) == 0
    assert C.k0_inverse_kernel_expansion("erf", 1)["c"] == sp.Rational(-1, 3)
    assert C.k0_inverse_kernel_expansion("sin", 1)["c"] == sp.Rational(1, 3)
    with pytest.raises(ValueError, match="activation"):
        C.k0_inverse_kernel_expansion("relu")


def _expansion(e, l, C0, terms):
    L = mpmath.log(l)
    out = e["A"] * l + e["c"] * L + C0
    for k, P in enumerate(e["P"][:terms], start=1):
        out += sp.lambdify((e["L"], e["C_0"]), P, "mpmath")(L, C0) / mpmath.mpf(l) ** k
    return out


@pytest.mark.parametrize("name, K1, layers", [("erf", 1, (150, 500)), ("sin", 1, (150, 500)),
                                              ("tanh", sp.Rational(1, 200), (500,))])
def test_expansion_converges_to_the_exact_recursion(name, K1, layers):
    # tanh starts at K = 1/200, so C_0 ~ 200 and the expansion (in C_0/l) needs deeper layers
    e = C.k0_inverse_kernel_expansion(name, 3)
    K = C.k0_kernel_trajectory(name, K1, 1500)
    with mpmath.workdps(40):
        C0 = mpmath.findroot(lambda c0: _expansion(e, 1500, c0, 3) - 1 / K[-1], 1 / K[-1] - e["A"] * 1500)
        for l in layers:
            first_omitted = abs(_expansion(e, l, C0, 3) - _expansion(e, l, C0, 2))
            assert abs(1 / K[l - 1] - _expansion(e, l, C0, 2)) <= 2 * first_omitted
            assert abs(1 / K[l - 1] - (e["A"] * l + C0)) > 10 * first_omitted  # the log term matters


def test_trajectory_series_against_quadrature_and_closed_forms():
    # tanh: the Taylor series against 35-digit quadrature at the largest K it is used for
    act = C.get_activation("tanh")
    with mpmath.workdps(45):
        for k in ("0.005", "0.0007"):
            series = C.k0_kernel_trajectory("tanh", k, 2)[1]
            quad = G.mp_node_expect(act, ((0, 2),), mpmath.mpf(k), 35)[0]
            assert abs(series - quad) < 1e-33 * quad
    # above the series' range the quadrature path, against the registered kernel recursion
    deep, ref = C.k0_kernel_trajectory("tanh", 1, 4)[-1], C.kernel_layer("tanh", 1, 0, 1, 4)
    assert abs(deep - ref) < 1e-29 * ref
    # erf written as a user expression (no closed form: series and quadrature) against the arcsin form
    plain = custom(C.get_activation("erf").expr, name="erf (plain)")
    a = C.k0_kernel_trajectory(plain, sp.Rational(1, 300), 40)
    b = C.k0_kernel_trajectory("erf", sp.Rational(1, 300), 40)
    assert all(abs(x - y) < 1e-32 * y for x, y in zip(a, b))


# ------------------------------------------------------------------ formulas and bad input
def test_formula_cli_and_bad_input(capsys):
    assert main(["formula", "eval", "correlations.kappa6", "activation=relu", "C_W=2", "C_b=0", "K=1", "layer=3",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)["value"]
    assert out["kappa6_n2_over_K3"] == pytest.approx(1125 * 4 - 465 * 2)
    assert main(["formula", "eval", "correlations.k0_asymptotics", "activation=erf", "layer=10", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)["value"]
    assert out["inv_K_log"] == pytest.approx(-1 / 3) and out["kappa6_n2_over_K3"] == pytest.approx(1600)
    assert out["K"] == pytest.approx(1 / (20 - np.log(10) / 3))
    assert main(["formula", "eval", "correlations.k0_inverse_kernel", "activation=sin", "layer=100", "C_0=1/2",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)["exact"]
    e = C.k0_inverse_kernel_expansion("sin", 3)
    with mpmath.workdps(40):
        ref = _expansion(e, 100, mpmath.mpf(1) / 2, 2)
        assert abs(mpmath.mpf(out["inv_K"]) - ref) < 1e-27 * ref
        omitted = abs(_expansion(e, 100, mpmath.mpf(1) / 2, 3) - ref)
        assert abs(mpmath.mpf(out["first_omitted"]) - omitted) < 1e-20 * omitted
    assert main(["formula", "eval", "correlations.k0_asymptotics", "activation=relu"]) == 2
    assert "K*=0" in capsys.readouterr().err
    assert main(["formula", "eval", "correlations.kappa6", "activation=tanh", "C_W=1", "C_b=0", "K=0",
                 "layer=3"]) == 2
    with pytest.raises(ValueError, match="layers"):
        C.six_point_recursion("tanh", 1, 0, 1.0, 0)
    with pytest.raises(ValueError, match="C_W"):
        C.six_point_recursion("tanh", -1, 0, 1.0, 3)
    with pytest.raises(ValueError, match="activation"):
        C.six_point_recursion("step", 1, 0, 1.0, 3)
    with pytest.raises(ValueError, match="K"):
        C.k0_kernel_trajectory("tanh", -1, 3)
    assert get_formula("correlations.kappa6").evaluate(activation="relu", C_W=2, C_b=0, K=1, layer=1)["kappa6_n2"] == 0
