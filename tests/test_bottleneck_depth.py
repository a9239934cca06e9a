"""Tests of the depth-continuation, NTK, Hessian and gradient-descent tools of dltv.numerics.bottleneck,
each against an independent computation."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from dltv.numerics import bottleneck as nb


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _ntk_trace_by_layers(net, x):
    """Tr Θ(x,x) = Σ_ℓ ‖∂f/∂α̃_ℓ(x)‖_F² (‖α_{ℓ−1}(x)‖² + 1), from masked weights (numpy, backwards)."""
    acts, masks, h = [x], [], x
    for l, w in enumerate(net.weights):
        h = w @ h + net.biases[l]
        if l < net.depth - 1:
            masks.append((h > 0).astype(float))
            h = h * masks[-1]
            acts.append(h)
    back = np.eye(net.weights[-1].shape[0])             # ∂f/∂α̃_L
    total = 0.0
    for l in range(net.depth - 1, -1, -1):
        total += (back ** 2).sum() * ((acts[l] ** 2).sum() + 1.0)
        if l:
            back = (back @ net.weights[l]) * masks[l - 1]
    return total


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 10_000))
def test_ntk_trace_matches_layer_formula(seed):
    g = _gen(seed)
    net = nb.random_relu_net([3, 6, 5, 4, 2], generator=g)
    X = torch.randn(7, 3, generator=g, dtype=torch.float64).numpy()
    expected = [_ntk_trace_by_layers(net, x) for x in X]
    np.testing.assert_allclose(nb.ntk_trace(net, X), expected, rtol=1e-12)
    K = nb.ntk_gram(net, X)
    np.testing.assert_allclose(np.diag(K).reshape(7, 2).sum(1), expected, rtol=1e-12)
    assert np.allclose(K, K.T) and np.linalg.eigvalsh(K).min() > -1e-9


def test_hessian_matches_finite_differences_of_the_gradient():
    g = _gen(3)
    net = nb.random_relu_net([2, 4, 3, 2], generator=g)
    X = torch.randn(9, 2, generator=g, dtype=torch.float64).numpy()
    Y = torch.randn(9, 2, generator=g, dtype=torch.float64).numpy()
    lam = 0.1
    theta = nb._flat(net)
    shapes = nb._shapes([2, 4, 3, 2], True)

    def grad(th):
        t = torch.tensor(th, requires_grad=True)
        ps = nb._unflatten(t, shapes)
        obj = ((nb._forward(ps[0::2], ps[1::2], torch.tensor(X)) - torch.tensor(Y)) ** 2).sum() / 9 \
            + lam * (t ** 2).sum()
        return torch.autograd.grad(obj, t)[0].numpy()

    eps = 1e-6
    H = np.array([(grad(theta + eps * e) - grad(theta - eps * e)) / (2 * eps) for e in np.eye(len(theta))])
    np.testing.assert_allclose(nb.loss_hessian_eigenvalues(net, X, Y, lam), np.linalg.eigvalsh((H + H.T) / 2),
                               atol=1e-6)


def test_deepen_keeps_the_function_on_the_data_and_costs_the_rank():
    g = _gen(5)
    X, Y = nb.low_rank_task(20, 3, 1, 3, generator=g)
    net = nb.train_relu(X, Y, [3, 6, 6, 3], 0.02, generator=g, maxiter=300)
    deep = nb.deepen(net, X, 3)
    assert deep.depth == 6
    out = lambda n: nb.relu_forward([torch.tensor(w) for w in n.weights],   # noqa: E731
                                    [torch.tensor(b) for b in n.biases], torch.tensor(X)).numpy()
    np.testing.assert_allclose(out(deep), out(net), atol=1e-10)
    ranks = [np.linalg.matrix_rank(w, tol=1e-8) for w in deep.weights[1:4]]
    assert deep.norm_sq() == pytest.approx(net.norm_sq() + sum(ranks), rel=1e-10)
    # a random new layer instead of the projection would change f: the test can fail
    bad = nb.Trained(deep.weights[:2] + [np.eye(6) * 0.5] + deep.weights[3:], deep.biases, 0, 0, 0, True)
    assert np.abs(out(bad) - out(net)).max() > 1e-3


def test_gradient_descent_batch_equals_separate_runs_and_decreases_the_loss():
    g = _gen(7)
    X, Y = nb.low_rank_task(12, 2, 1, 2, generator=g)
    inits = [nb.Trained(*nb.he_init([2, 5, 5, 2], generator=g), 0, 0, 0, True) for _ in range(2)]
    lrs = np.array([0.01, 0.03])
    both = nb.train_relu_gd(X, Y, inits, 0.01, lrs, 200)
    for i in range(2):
        alone = nb.train_relu_gd(X, Y, [inits[i]], 0.01, lrs[i:i + 1], 200)[0]
        for a, b in zip(alone.weights, both[i].weights):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    # an independent reference: plain autograd GD on the flat parameter vector
    theta = torch.tensor(nb._flat(inits[1]), requires_grad=True)
    shapes = nb._shapes([2, 5, 5, 2], True)
    for _ in range(200):
        ps = nb._unflatten(theta, shapes)
        obj = ((nb._forward(ps[0::2], ps[1::2], torch.tensor(X)) - torch.tensor(Y)) ** 2).sum() / 12 \
            + 0.01 * (theta ** 2).sum()
        (gr,) = torch.autograd.grad(obj, theta)
        theta = (theta - 0.03 * gr).detach().requires_grad_(True)
    np.testing.assert_allclose(nb._flat(both[1]), theta.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert both[1].history["loss"][-1] < both[1].history["loss"][0]


def test_train_by_depth_continues_and_records_convergence():
    g = _gen(11)
    X, Y = nb.low_rank_task(16, 2, 1, 2, generator=g)
    nets = nb.train_relu_by_depth(X, Y, 4, [3, 5], 0.02, generator=g, restarts=2, screen_iter=50, maxiter=200)
    assert sorted(nets) == [3, 5] and nets[5].depth == 5
    assert all(0 <= n.history["rel_change"] < 1 for n in nets.values())


@pytest.mark.parametrize("kwargs", [dict(extra=-1), dict(extra=1.5)])
def test_deepen_refuses_bad_input(kwargs):
    net = nb.random_relu_net([2, 3, 2], generator=_gen())
    with pytest.raises(ValueError, match="extra"):
        nb.deepen(net, np.ones((4, 2)), **kwargs)


def test_gd_refuses_bad_step_sizes():
    net = nb.random_relu_net([2, 3, 2], generator=_gen())
    with pytest.raises(ValueError, match="lrs"):
        nb.train_relu_gd(np.ones((4, 2)), np.ones((4, 2)), [net], 0.1, np.array([-1.0]), 10)


def test_gauss_newton_part_of_the_hessian_at_zero_residual():
    """At an exact fit the Hessian of the objective is (2/N) JᵀJ + 2λI: Jacobians and Hessian agree
    in the parameter order (targets set to the net's own outputs)."""
    g = _gen(13)
    net = nb.random_relu_net([3, 5, 4, 2], generator=g)
    X = torch.randn(6, 3, generator=g, dtype=torch.float64).numpy()
    Y = nb.relu_forward([torch.tensor(w) for w in net.weights], [torch.tensor(b) for b in net.biases],
                        torch.tensor(X)).numpy()
    J = nb.parameter_jacobians(net, X).reshape(12, -1).numpy()
    H = nb.loss_hessian(net, X, Y, 0.3)
    np.testing.assert_allclose(H, 2 / 6 * J.T @ J + 0.6 * np.eye(len(H)), atol=1e-10)


def test_gd_stable_ntk_bound_formula_and_cli():
    import subprocess
    import sympy as sp

    from dltv.theory import bottleneck as tb

    assert tb.gd_stable_ntk_bound(sp.Rational(1, 10), sp.Rational(1, 100), 24) == sp.Rational(24 * 999, 100)
    assert tb.gd_stable_ntk_bound(sp.Rational(1, 10), 0, 24, rho=2) == 264
    with pytest.raises(ValueError, match="eta"):
        tb.gd_stable_ntk_bound(0, 0, 24)
    out = subprocess.run(["dltv", "formula", "eval", "bottleneck.gd_stable_ntk_bound", "eta=1/10", "lam=1/100",
                          "N=24", "rho=0"], capture_output=True, text=True)
    assert out.returncode == 0 and "239.76" in out.stdout
    bad = subprocess.run(["dltv", "formula", "eval", "bottleneck.gd_stable_ntk_bound", "eta=-1", "lam=0",
                          "N=24", "rho=0"], capture_output=True, text=True)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_depth_fit_recovers_an_exact_expansion():
    from dltv.theory import bottleneck as tb

    Ls = np.array([4, 6, 8, 16, 32.0])
    y = 2 * Ls + 11.5 + 13.0 / Ls
    coef, *_ = np.linalg.lstsq(tb.depth_fit_design(Ls), y, rcond=None)
    np.testing.assert_allclose(coef, [2, 11.5, 13], rtol=1e-10)
    with pytest.raises(ValueError, match="depths"):
        tb.depth_fit_design([4, 4, 8])


def test_positive_task_has_nonnegative_inner_variable_and_rank_k():
    g = _gen(17)
    X, Y = nb.low_rank_task(200, 6, 2, 5, generator=g, positive=True)
    assert X.min() >= 0 and X.max() <= 1
    # the inner variable z = Pᵀx (block means) is ≥ 0, so it passes ReLU layers unchanged
    assert np.linalg.matrix_rank(Y - Y.mean(0), tol=1e-8) >= 2
