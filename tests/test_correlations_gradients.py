"""The joint forward-derivative 1/n hierarchy (correlations.gradient) and its zero-mean increments."""
import math

import numpy as np
import pytest
import sympy as sp
import torch

import dltv.theory.correlations as C
from dltv.numerics.correlations import (sample_collapsed, tangent_increment_covariance, tangent_martingale_increments,
                                        tangent_quadratic_controls)
from dltv.theory.formulas import get_formula


def test_orthogonal_direction_is_the_single_input_recursion():
    # P = 0: the (zz, ∂∂) block is single_input_recursion's (explicit moments there, Stein + trapezoid here)
    r = C.gradient_recursion("tanh", 1, sp.Rational(1, 10), (1, 0, 1), 5, mp=True)
    s = C.single_input_recursion("tanh", 1, sp.Rational(1, 10), 1, 5, mp=True)
    for l in range(5):
        sig = r["Sigma"][l]
        for got, want in ((r["K"][l], s["K"][l]), (r["D"][l], s["D"][l]), (r["dK"][l], s["n_dK"][l]),
                          (sig[0, 0], s["V"][l]), (sig[0, 2], s["V_KD"][l]), (sig[2, 2], s["V_DD"][l])):
            assert abs(got - want) <= 1e-28 * max(1, abs(want))
        assert r["P"][l] == 0 and r["dP"][l] == 0 and sig[0, 1] == 0 and sig[1, 2] == 0


def test_float64_agrees_with_30_digits_and_u_to_minus_u():
    f = C.gradient_recursion("erf", 1.5, 0.05, (1.0, 0.7, 1.3), 5)
    m = C.gradient_recursion("erf", 1.5, 0.05, (1, sp.Rational(7, 10), sp.Rational(13, 10)), 5, mp=True)
    neg = C.gradient_recursion("erf", 1.5, 0.05, (1.0, -0.7, 1.3), 5)
    for l in range(5):
        assert float(m["dD"][l]) == pytest.approx(f["dD"][l], rel=1e-12, abs=1e-15)
        assert np.allclose(np.array(m["Sigma"][l].tolist(), dtype=float), f["Sigma"][l], rtol=1e-12, atol=1e-15)
        # u -> -u flips ∂z: D, dD, Sigma_DD unchanged, P and its covariances change sign
        assert neg["dD"][l] == pytest.approx(f["dD"][l], rel=1e-13, abs=1e-16)
        sign = np.array([[1, -1, 1], [-1, 1, -1], [1, -1, 1]])
        assert np.allclose(neg["Sigma"][l], sign * f["Sigma"][l], rtol=1e-13, atol=1e-16)


def _brute_force_layer(act, K, P, D, nodes=150):
    """F and the four-point covariance C by a 2-d tensor Gauss-Hermite rule over (z, ∂z) (no Stein's lemma)."""
    t, w = np.polynomial.hermite_e.hermegauss(nodes)
    w = w / math.sqrt(2 * math.pi)
    L = np.linalg.cholesky(np.array([[K, P], [P, D]]))
    x1, x2 = np.meshgrid(t, t, indexing="ij")
    z, y = L[0, 0] * x1, L[1, 0] * x1 + L[1, 1] * x2
    W = np.outer(w, w)
    a = C.get_activation(act)
    phi = [a.numpy(0)(z), a.numpy(1)(z) * y]
    pairs = [(0, 0), (0, 1), (1, 1)]
    F = [np.sum(W * phi[i] * phi[j]) for i, j in pairs]
    Cm = [[np.sum(W * phi[i] * phi[j] * phi[k] * phi[m]) - F[p] * F[q] for q, (k, m) in enumerate(pairs)]
          for p, (i, j) in enumerate(pairs)]
    return np.array(F), np.array(Cm)


def test_maps_and_four_point_function_vs_2d_quadrature():
    act, (K, P, D) = C.get_activation("tanh"), (0.8, 0.5, 1.1)
    F, J, H, Cm = C._tangent_layer(C._tangent_averages(act, K, False), K, P, D)
    F2, C2 = _brute_force_layer("tanh", K, P, D)
    assert np.allclose(F, F2, rtol=1e-12, atol=1e-14)
    assert np.allclose(np.array(Cm, dtype=float), C2, rtol=1e-10, atol=1e-11)


def test_jacobian_and_hessian_are_the_derivatives_of_the_maps():
    # central differences of F (and of J) in (K, P, D) against the Price / Stein closed forms
    act, x = C.get_activation("tanh"), np.array([0.8, 0.5, 1.1])

    def layer(v):
        return C._tangent_layer(C._tangent_averages(act, v[0], False), *v)
    _, J, H, _ = layer(x)
    h = 1e-5
    for q in range(3):
        e = np.zeros(3)
        e[q] = h
        (Fp, Jp, _, _), (Fm, Jm, _, _) = layer(x + e), layer(x - e)
        assert np.allclose((np.array(Fp) - np.array(Fm)) / (2 * h), np.array(J, dtype=float)[:, q], atol=1e-8)
        assert np.allclose((np.array(Jp, dtype=float) - np.array(Jm, dtype=float)) / (2 * h),
                           np.array(H, dtype=float)[:, :, q], atol=1e-7)


def test_linear_network_derivative_law():
    # sigma(z) = z: ∂z = W..W u whatever the bias, so E D = D exactly (dD = 0) and Var D/D^2 = prod(1+2/n) - 1
    r = C.gradient_recursion("linear", 1, 0.3, (1.2, 0.6, 0.9), 5, widths=[8, 16, 32, 8])
    assert all(abs(d) < 1e-14 for d in r["dD"])
    assert r["Sigma"][-1][2, 2] / r["D"][-1] ** 2 == pytest.approx(2 * sum(1 / n for n in (8, 16, 32, 8)), rel=1e-12)


def test_formula_and_errors(capsys):
    out = get_formula("correlations.gradient").evaluate(activation="tanh", C_W=1, C_b=0, metric="1,0.9,1", layer=3)
    r = C.gradient_recursion("tanh", 1, 0, (1.0, 0.9, 1.0), 3)
    assert float(out["n_dD_over_D"]) == pytest.approx(r["dD"][-1] / r["D"][-1], rel=1e-12)
    assert float(out["V_DD_over_D2"]) == pytest.approx(r["Sigma"][-1][2, 2] / r["D"][-1] ** 2, rel=1e-12)
    w = get_formula("correlations.gradient").evaluate(activation="tanh", C_W=1, C_b=0, metric="1,0.9,1", layer=3,
                                                       widths="16,64")
    rw = C.gradient_recursion("tanh", 1, 0, (1.0, 0.9, 1.0), 3, widths=[16, 64])
    assert float(w["Var_D_over_D2"]) == pytest.approx(rw["Sigma"][-1][2, 2] / rw["D"][-1] ** 2, rel=1e-12)
    from dltv.checks.cli import main
    assert main(["formula", "eval", "correlations.gradient", "activation=tanh", "C_W=1", "C_b=0", "metric=1,0.9,1",
                 "layer=3", "--json"]) == 0
    assert "n_dD_over_D" in capsys.readouterr().out
    for bad, match in (({"metric": "1,2,1"}, "metric"), ({"activation": "relu"}, "smooth"),
                       ({"widths": "16"}, "widths")):
        args = dict(activation="tanh", C_W=1, C_b=0, metric="1,0.5,1", layer=3) | bad
        with pytest.raises(ValueError, match=match):
            get_formula("correlations.gradient").evaluate(**args)
    assert main(["formula", "eval", "correlations.gradient", "activation=tanh", "C_W=1", "C_b=0", "metric=1,2,1",
                 "layer=3"]) == 2
    with pytest.raises(ValueError, match="u"):
        C.tangent_metric([[1.0, 0.0]], [1.0, 0.0, 0.0], 1, 0)


def test_tangent_increments_have_mean_zero_and_reject_a_wrong_map():
    x, u = np.array([[1.0, 0.5]]), np.array([0.8, 0.6])
    s = sample_collapsed((2, 16, 16, 16, 1), "tanh", 1.2, 0.1, x, 20_000, direction=u,
                         generator=torch.Generator().manual_seed(5))
    m = s.metric.numpy()
    inc = tangent_martingale_increments(m, "tanh", 1.2, 0.1)
    z = inc.mean(0) / (inc.std(0, ddof=1) / math.sqrt(len(inc)))
    assert np.abs(z).max() < 4.5
    # the u ⟂ x map (no 2 P^2 a'(K) term) leaves a mean in the ∂∂ increments
    K, P = m[:, :-1, 0, 0], m[:, :-1, 0, 1]
    t, w = np.polynomial.hermite_e.hermegauss(100)
    w = w / math.sqrt(2 * math.pi)
    zz = np.sqrt(K)[..., None] * t
    d2 = (1 - np.tanh(zz) ** 2) ** 2
    a1 = (d2 * (t * t - 1) / (2 * K[..., None])) @ w
    wrong = inc[..., 2] + 1.2 * 2 * P * P * a1
    zw = wrong.mean(0) / (wrong.std(0, ddof=1) / math.sqrt(len(wrong)))
    assert np.abs(zw).max() > 6
    with pytest.raises(ValueError, match="activation"):
        tangent_martingale_increments(m, "relu", 2.0, 0.0)
    with pytest.raises(ValueError, match="metric"):
        tangent_martingale_increments(m[:, :1], "tanh", 1.0, 0.0)


def test_quadratic_controls_have_mean_zero_and_need_the_exact_covariance():
    x, u = np.array([[1.0, 0.5]]), np.array([0.8, 0.6])
    widths = (2, 12, 16, 12, 1)
    s = sample_collapsed(widths, "tanh", 1.2, 0.1, x, 40_000, direction=u,
                         generator=torch.Generator().manual_seed(6))
    m = s.metric.numpy()
    inc = tangent_martingale_increments(m, "tanh", 1.2, 0.1)
    cov = tangent_increment_covariance(m, widths, "tanh", 1.2)
    assert cov.shape == inc.shape + (3,)
    q = tangent_quadratic_controls(inc, cov)
    z = q.mean(0) / (q.std(0, ddof=1) / math.sqrt(len(q)))
    assert np.abs(z).max() < 4.5
    # the covariance of a width one step off (n_l + 2) leaves a mean in the diagonal controls
    off = tangent_increment_covariance(m, (2, 14, 18, 14, 1), "tanh", 1.2)
    qw = tangent_quadratic_controls(inc, off)
    zw = qw.mean(0) / (qw.std(0, ddof=1) / math.sqrt(len(qw)))
    assert np.abs(zw).max() > 6
    with pytest.raises(ValueError, match="widths"):
        tangent_increment_covariance(m, (2, 12), "tanh", 1.2)
    with pytest.raises(ValueError, match="increments"):
        tangent_quadratic_controls(inc, cov[:, :1])
