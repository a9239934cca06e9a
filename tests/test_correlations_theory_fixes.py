"""Wrong results fixed in the correlations theory: each test fails on the old behaviour."""
import json
import math

import mpmath
import numpy as np
import pytest
import sympy as sp
from scipy import integrate
from scipy.stats import multivariate_normal

import dltv.theory.correlations as C
from dltv.checks.cli import main
from dltv.theory import gaussian as G
from dltv.theory.formulas import get_formula


# ------------------------------------------------------------------ criticality of the homogeneous class
@pytest.mark.parametrize("name", ["relu", "leaky_relu", "abs", "linear"])
def test_criticality_formula_prints_as_text_and_json(name, capsys):
    assert main(["formula", "eval", "correlations.criticality", f"activation={name}", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)["value"]
    assert out["K_star"] == "any" and out["class"] == "homogeneous" and out["C_b"] == 0
    assert out["C_W"] == pytest.approx(float(1 / C.get_activation(name).A2))
    assert main(["formula", "eval", "correlations.criticality", f"activation={name}"]) == 0
    assert "K_star = any" in capsys.readouterr().out


# ------------------------------------------------------------------ K*=0 asymptotics for erf
def test_erf_asymptotics_vs_recursion():
    a = C.k0_asymptotics("erf")
    l = sp.Symbol("l", real=True)
    assert a["a_1"] == -2 and a["a_2"] == sp.Rational(14, 3) and a["p_perp"] == 1
    assert sp.simplify(a["inv_K"] - (2 * l - sp.log(l) / 3)) == 0
    L = 1200
    s = C.single_input_recursion("erf", sp.pi / 4, 0, 1.0, L)
    K, V, nd = np.array(s["K"]), np.array(s["V"]), np.array(s["n_dK"])
    D, VDD = np.array(s["D"]), np.array(s["V_DD"])
    i, j = 600, L - 1
    slope = lambda y: (y[j] - y[i]) / (j - i)  # noqa: E731
    for key, y in (("V_over_K2", V / K**2), ("n_dK_over_K", nd / K), ("V_DD_over_D2", VDD / D**2)):
        assert slope(y) == pytest.approx(float(sp.diff(a[key], l)), rel=0.02)
    layer = np.arange(1, L + 1)
    off = 1 / K - 2 * layer  # the log correction: -(1/3) log l
    assert (off[j] - off[i]) / np.log(layer[j] / layer[i]) == pytest.approx(-1 / 3, rel=0.02)


# ------------------------------------------------------------------ ReLU expectations over 3-4 inputs
K4 = np.array([[1.0, 0.5, 0.3, -0.2], [0.5, 1.2, 0.4, 0.1], [0.3, 0.4, 0.9, 0.35], [-0.2, 0.1, 0.35, 1.1]])


def test_four_dim_orthant_vs_scipy():
    p, err = G._orthant([[mpmath.mpf(x) for x in row] for row in K4])
    ref = multivariate_normal(cov=K4, abseps=1e-10, releps=1e-10, maxpts=10**7).cdf(np.zeros(4))
    assert err < 1e-20 and abs(float(p) - ref) < 1e-7


def test_three_dim_reduction_vs_two_input_closed_forms():
    # a third input collinear with the first: the 3-input expectation is a 2-input closed form
    K = np.array([[1.3, -0.4, 2.6], [-0.4, 0.7, -0.8], [2.6, -0.8, 5.2]])
    for name in ("relu", "leaky_relu", "abs"):
        three = G.expect_product(name, K, [(0, 0, 1), (1, 0, 2), (2, 0, 1)])
        two = 2 * G.expect_product(name, K[:2, :2], [(0, 0, 2), (1, 0, 2)])
        assert three == pytest.approx(two, rel=1e-13)
    # Stein route on 2 inputs against the arc-cosine closed forms, exact kernel, 30 digits
    Kq = [[sp.Rational(13, 10), sp.Rational(-2, 5)], [sp.Rational(-2, 5), sp.Rational(7, 10)]]
    for a, b in (((1, 0), (1, 0)), ((3, 0), (1, 0)), ((0, 1), (0, 1)), ((1, 1), (2, 0))):
        v, _ = G.mp_homogeneous_expect("abs", Kq, [a, b])
        ref = G.mp_value(G.homogeneous_moment("abs", a, b, (Kq[0][0], Kq[0][1], Kq[1][1])))
        assert abs(v - ref) < mpmath.mpf(10) ** -28


def test_relu_four_input_product_vs_monte_carlo():
    value, err = G.expect_product("relu", K4, [(0, 0, 1), (1, 0, 1), (2, 0, 1), (3, 0, 1)], error=True)
    three = G.expect_product("relu", K4, [(0, 0, 2), (1, 0, 1), (2, 0, 1)])
    rng = np.random.default_rng(12)
    chol = np.linalg.cholesky(K4)
    s1, s2, t1, t2, n = 0.0, 0.0, 0.0, 0.0, 0
    for _ in range(8):
        r = np.maximum(rng.standard_normal((1_000_000, 4)) @ chol.T, 0)
        f, g = r.prod(axis=1), r[:, 0] ** 2 * r[:, 1] * r[:, 2]
        s1, s2, t1, t2, n = s1 + f.sum(), s2 + (f * f).sum(), t1 + g.sum(), t2 + (g * g).sum(), n + f.size
    for total, sq, pred in ((s1, s2, value), (t1, t2, three)):
        mean = total / n
        se = math.sqrt((sq / n - mean**2) / n)
        assert abs(mean - pred) < 4 * se
    assert err < 1e-14
    # the tensor Gauss-Hermite value (24 nodes per input) is 1% off: many SEs from the data
    old = G.gh_expect(lambda a, b, c, d: np.prod(np.maximum([a, b, c, d], 0), axis=0), K4)
    assert abs(old - value) > 5e-4


def test_kinked_second_derivative_refused():
    with pytest.raises(ValueError, match="factors"):
        G.expect_product("relu", [[1.0]], [(0, 2, 1)])


# ------------------------------------------------------------------ degenerate (rank-deficient) kernels
def test_relu_collinear_scalar_inputs():
    K1 = C.first_layer_kernel(np.array([[0.3], [0.9]]), 2, 0)
    Ks = C.kernel_recursion("relu", 2, 0, K1, 3)
    assert np.all(np.isfinite(Ks))
    for Kl in Ks:
        assert Kl[0, 1] == pytest.approx(np.sqrt(Kl[0, 0] * Kl[1, 1]), rel=1e-15)
    assert C.ntk_recursion("relu", 2, 0, K1, 3)["Kdot"][1, 0, 1] == pytest.approx(1.0, rel=1e-15)


def test_relu_collinear_vector_inputs_exact():
    K1 = C.first_layer_kernel(np.array([[1.0, 2.0], [2.0, 4.0]]), 2, 0)
    Ks = C.kernel_recursion("relu", 2, 0, K1, 3)
    assert np.allclose(Ks[:, 0, 1], 10.0, rtol=1e-14, atol=0)


def test_tanh_identical_inputs():
    K1 = C.first_layer_kernel(np.array([[1.0, 2.0], [1.0, 2.0]]), 1, 0)
    Ks = C.kernel_recursion("tanh", 1, 0, K1, 4)
    assert np.allclose(Ks[:, 0, 1], Ks[:, 0, 0], rtol=1e-14, atol=0)
    single = C.kernel_recursion("tanh", 1, 0, K1[:1, :1], 4)[:, 0, 0]
    assert np.allclose(Ks[:, 1, 1], single, rtol=1e-14, atol=0)


# ------------------------------------------------------------------ the generic quadrature and its error
@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
@pytest.mark.parametrize("K", [0.5, 2.5, 10.0])
def test_tanh_quadrature_error_stated_and_met(K):
    ref = G.mp_expect_1d(lambda z: mpmath.tanh(z) ** 2, K)[0]
    value, err = G.normal_expect(lambda z: np.tanh(z) ** 2, [[K]], error=True)
    assert abs(value - float(ref)) <= max(err, 1e-16) and err < 1e-13
    K2 = np.array([[K, 0.3 * K], [0.3 * K, K]])
    value2, err2 = G.expect_product("tanh", K2, [(0, 0, 1), (1, 0, 1)], error=True)
    l = np.linalg.cholesky(K2)
    inner = lambda x: integrate.quad(lambda y: np.tanh(l[1, 0] * x + l[1, 1] * y) * np.exp(-y * y / 2),  # noqa: E731
                                     -12, 12, epsabs=1e-14, epsrel=1e-13, limit=200)[0]
    ref2 = integrate.quad(lambda x: np.tanh(l[0, 0] * x) * inner(x) * np.exp(-x * x / 2), -12, 12,
                          epsabs=1e-14, epsrel=1e-13, limit=200)[0] / (2 * np.pi)
    assert abs(value2 - ref2) <= err2 + 1e-13 and err2 < 1e-12
    # tensor Gauss-Hermite (96^2 nodes) misses by far more than this error at K >= 2.5
    if K >= 2.5:
        assert abs(G.gh_expect(lambda u, v: np.tanh(u) * np.tanh(v), K2) - ref2) > 1e-10


def test_kinked_custom_activation_refused_by_quadrature():
    act = C.get_activation("relu")
    with pytest.raises(ValueError, match="not smooth"):
        G.normal_expect(lambda u, v: act.numpy(0)(u) * act.numpy(0)(v), [[1.0, 0.3], [0.3, 1.0]])


# ------------------------------------------------------------------ deep ReLU moment ratio: never inf
def test_moment_ratio_overflow_refused(capsys):
    assert main(["formula", "eval", "correlations.relu.moment_ratio", "n=16", "L=100000", "k=2"]) != 0
    captured = capsys.readouterr()
    assert "inf" not in captured.out and "L:" in captured.err and "exp(27194.47" in captured.err
    assert main(["formula", "eval", "correlations.relu.moment_ratio", "n=16", "L=2000", "k=2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["value"] == pytest.approx(3 * (21 / 16) ** 2000, rel=1e-12)
    assert sp.Rational(out["exact"]) == 3 * sp.Rational(21, 16) ** 2000
    log = C.log_moment_ratio("relu", [16] * 100000, 2)
    with mpmath.workdps(40):
        assert abs(log - (mpmath.log(3) + 100000 * mpmath.log(mpmath.mpf(21) / 16))) < mpmath.mpf(10) ** -25


# ------------------------------------------------------------------ NTK recursion
def _arccos_relu_ntk(x, depth):
    """ReLU NTK (C_W = 2, C_b = 0) from the arc-cosine kernels, written out per layer (Arora et al. 2019, eq. (9))."""
    k = 2 * np.outer(x @ x.T, 1).reshape(2, 2) / x.shape[1]
    theta_ntk = k.copy()
    for _ in range(depth - 1):
        norm = np.sqrt(np.outer(np.diag(k), np.diag(k)))
        ang = np.arccos(np.clip(k / norm, -1, 1))
        kdot = (np.pi - ang) / np.pi                       # 2 <s'_a s'_b> at the current layer's kernel
        k = norm / np.pi * (np.sin(ang) + (np.pi - ang) * np.cos(ang))  # 2 <s_a s_b>
        theta_ntk = k + kdot * theta_ntk
    return theta_ntk


def test_ntk_recursion_relu_closed_form_and_linear():
    x = np.array([[1.0, 0.2, -0.5], [0.3, -1.0, 0.4]])
    K1 = C.first_layer_kernel(x, 2, 0)
    for depth in (1, 2, 3, 5):
        theta = C.ntk_recursion("relu", 2, 0, K1, depth)["Theta"][-1]
        assert np.allclose(theta, _arccos_relu_ntk(x, depth), rtol=1e-13, atol=0)
    f = get_formula("correlations.ntk")
    trip = (K1[0, 0], K1[0, 1], K1[1, 1])
    out = f.evaluate(activation="relu", C_W=2, C_b=0, layer=3, K=",".join(repr(float(v)) for v in trip))
    assert float(out["Theta_ab"]) == pytest.approx(_arccos_relu_ntk(x, 3)[0, 1], rel=1e-13)
    # deep linear net, C_b = 0: Theta^(L) = L C_W^(L-1) K^(1) (each layer contributes C_W^(L-1) K^(1))
    lin = C.ntk_recursion("linear", 1.5, 0, K1, 4)["Theta"][-1]
    assert np.allclose(lin, 4 * 1.5**3 * K1, rtol=1e-14)


def test_erf_quadrature_recursion_vs_exact_closed_forms():
    # kernel_recursion integrates erf numerically (normal_expect); kernel_layer iterates Williams' closed form
    for cw, cb, K1 in ((1.5, 0.1, (1.0, 0.3, 2.0)), (1.0, 0.0, (5.0, -4.0, 4.0))):
        Kq = C.kernel_recursion("erf", cw, cb, [[K1[0], K1[1]], [K1[1], K1[2]]], 6)[-1]
        ex = C.kernel_layer("erf", sp.nsimplify(cw), sp.nsimplify(cb), tuple(sp.nsimplify(v) for v in K1), 6)
        assert np.allclose([Kq[0, 0], Kq[0, 1], Kq[1, 1]], [float(ex[k]) for k in ("K_aa", "K_ab", "K_bb")],
                           rtol=1e-14, atol=0)
