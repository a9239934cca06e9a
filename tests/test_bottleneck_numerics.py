"""Unit tests of dltv.numerics.bottleneck against independent computations (autograd, closed forms)."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from dltv.numerics import bottleneck as nb


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000), st.booleans())
def test_masked_weight_jacobian_matches_autograd(seed, biases):
    g = _gen(seed)
    net = nb.random_relu_net([3, 7, 5, 2], generator=g, biases=biases)
    x = torch.randn(3, generator=g, dtype=torch.float64)
    ws = [torch.tensor(w) for w in net.weights]
    bs = [torch.tensor(b) for b in net.biases]
    auto = torch.autograd.functional.jacobian(lambda v: nb.relu_forward(ws, bs, v[None])[0], x).numpy()
    mine = nb.representation_jacobians(net.weights, net.biases, x.numpy())
    np.testing.assert_allclose(mine[-1], auto, atol=1e-12)
    assert [J.shape for J in mine] == [(7, 3), (5, 3), (2, 3)]


def test_depth_one_training_is_ridge():
    rng = np.random.default_rng(0)
    Y = rng.standard_normal((4, 4))
    net = nb.train_deep_linear(Y, 1, 0.3, generator=_gen())
    np.testing.assert_allclose(net.weights[0], Y / 1.3, atol=1e-7)
    assert net.converged


def test_depth_two_training_soft_thresholds():
    Y = np.diag([2.0, 0.5, 0.05])
    net = nb.train_deep_linear(Y, 2, 0.1, generator=_gen(1))
    s = nb.singular_values(nb.end_to_end(net.weights))
    np.testing.assert_allclose(s, [1.9, 0.4, 0.0], atol=1e-6)
    assert nb.balancedness_error(net.weights) < 1e-6


def test_diagonal_relu_net_computes_diagonal_map_on_positive_inputs():
    a = np.array([0.5, 2.0, 3.0])
    net = nb.diagonal_relu_net(a, 4)
    x = np.array([[1.0, 0.2, 3.0]])
    out = nb.relu_forward([torch.tensor(w) for w in net.weights], [], torch.tensor(x))
    np.testing.assert_allclose(out.numpy(), x * a, rtol=1e-12)
    assert abs(net.norm_sq() - 4 * (a ** 0.5).sum()) < 1e-12


def test_ranks():
    assert nb.numerical_rank(np.array([1.0, 1e-2, 1e-5]), 1e-3) == 2
    assert nb.numerical_rank(np.zeros(3), 1e-3) == 0
    rng = np.random.default_rng(2)
    Z = rng.standard_normal((500, 2)) @ rng.standard_normal((2, 6))
    assert 1.0 < nb.effective_rank(Z) <= 2.0 + 1e-9


def test_low_rank_task_is_standardised():
    X, Y = nb.low_rank_task(400, 6, 2, 5, generator=_gen(3))
    np.testing.assert_allclose(Y.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(Y.std(0, ddof=1), 1, atol=1e-12)


def test_train_relu_decreases_loss():
    g = _gen(4)
    X, Y = nb.low_rank_task(32, 3, 1, 2, generator=g)
    net = nb.train_relu(X, Y, [3, 6, 6, 2], 1e-3, generator=g, maxiter=200)
    assert nb.mse(net, X, Y) < 0.5 * (Y ** 2).sum(1).mean()


@pytest.mark.parametrize("call", [
    lambda: nb.train_deep_linear(np.ones((2, 3)), 2, 0.1, generator=_gen()),
    lambda: nb.train_deep_linear(np.eye(2), 0, 0.1, generator=_gen()),
    lambda: nb.train_deep_linear(np.eye(2), 2, -1, generator=_gen()),
    lambda: nb.low_rank_task(10, 3, 4, 5, generator=_gen()),
    lambda: nb.he_init([3, 0, 2], generator=_gen()),
    lambda: nb.diagonal_relu_net(np.array([1.0, -1.0]), 2),
    lambda: nb.train_relu(np.ones((4, 3)), np.ones((4, 2)), [2, 4, 2], 0.1, generator=_gen()),
])
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()


NAN = float("nan")


@pytest.mark.parametrize("call,name", [
    (lambda: nb.train_deep_linear(np.array([[1.0, NAN], [0, 1]]), 2, 0.1, generator=_gen()), "Y"),
    (lambda: nb.train_deep_linear(np.eye(2), 2, NAN, generator=_gen()), "lam"),
    (lambda: nb.train_deep_linear(np.eye(2), 2, 0.1, generator=_gen(), init_scale=[1.0, NAN]), "init_scale"),
    (lambda: nb.train_deep_linear(np.eye(2), 2, 0.1, init=[np.eye(2), np.full((2, 2), NAN)]), "init"),
    (lambda: nb.min_norm_factorisation(np.array([[1.0, NAN], [0, 1]]), 2, generator=_gen()), "A"),
    (lambda: nb.measured_threshold(3, NAN, y_hi=1.0), "lam"),
    (lambda: nb.measured_threshold(3, 0.05, y_hi=float("inf")), "y_hi"),
    (lambda: nb.end_to_end([np.eye(2), np.full((2, 2), NAN)]), "weights"),
    (lambda: nb.balancedness_error([np.eye(2), np.full((2, 2), NAN)]), "weights"),
    (lambda: nb.relu_forward([torch.eye(2)], [], torch.tensor([[NAN, 1.0]])), "X"),
    (lambda: nb.he_init([2, 3], generator=_gen(), scale=NAN), "scale"),
    (lambda: nb.train_relu(np.full((4, 2), NAN), np.ones((4, 2)), [2, 4, 2], 0.1, generator=_gen()), "X"),
    (lambda: nb.representation_jacobians([np.eye(2)], [], np.array([1.0, NAN])), "x"),
    (lambda: nb.representation_jacobians([np.full((2, 2), NAN)], [], np.ones(2)), "weights"),
    (lambda: nb.singular_values(np.array([[NAN, 0.0]])), "A"),
    (lambda: nb.numerical_rank(np.array([1.0, NAN]), 1e-3), "sv"),
    (lambda: nb.numerical_rank(np.array([1.0, 0.5]), NAN), "rtol"),
    (lambda: nb.effective_rank(np.array([[NAN, 0.0], [1.0, 2.0]])), "M"),
    (lambda: nb.diagonal_relu_net(np.array([1.0, NAN]), 2), "a"),
    (lambda: nb.random_relu_net([2, 3], generator=_gen(), scale=float("inf")), "scale"),
    (lambda: nb.mse(nb.diagonal_relu_net(np.ones(2), 2), np.full((3, 2), NAN), np.ones((3, 2))), "X"),
    (lambda: nb.hidden_representations(nb.diagonal_relu_net(np.ones(2), 2), np.full((3, 2), NAN)), "X"),
])
def test_non_finite_input_is_refused_naming_the_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_min_norm_factorisation_reaches_the_linear_cost():
    # independent value: the balanced factorisation's cost L Σ s^{2/L}; the optimiser starts unbalanced
    rng = np.random.default_rng(5)
    A = rng.standard_normal((3, 3))
    s = np.linalg.svd(A, compute_uv=False)
    for L in (1, 2, 4):
        net = nb.min_norm_factorisation(A, L, generator=_gen(5))
        np.testing.assert_allclose(nb.end_to_end(net.weights), A, atol=1e-10)
        assert abs(net.loss - L * (s ** (2 / L)).sum()) < 1e-8
    with pytest.raises(ValueError, match="invertible"):
        nb.min_norm_factorisation(np.ones((2, 2)), 2, generator=_gen())


def test_unbalanced_start_is_recorded_and_removed_by_weight_decay():
    Y = np.diag([2.0, 0.7, 0.0])
    net = nb.train_deep_linear(Y, 3, 0.05, generator=_gen(2), init_scale=[0.8, 1.0, 1.25])
    assert abs(net.history["init_imbalance"] - (1.25 ** 2 - 1.0)) < 1e-12
    assert nb.balancedness_error(net.weights) < 1e-6
    with pytest.raises(ValueError, match="init_scale"):
        nb.train_deep_linear(Y, 3, 0.05, generator=_gen(), init_scale=[1.0, 1.0])


def test_measured_threshold_matches_a_grid_minimisation():
    # independent value: where the global minimum over a fine grid of φ(s) = (s−y)² + λ L s^{2/L} leaves 0
    L, lam = 4, 0.05
    got = nb.measured_threshold(L, lam, y_hi=0.8)
    s = np.linspace(1e-6, 1.0, 400_001)
    def phi_gap(y):
        return ((s - y) ** 2 + lam * L * s ** (2 / L)).min() - y ** 2
    assert phi_gap(got["y_c"] * 0.999) > 0 > phi_gap(got["y_c"] * 1.001)
    assert abs(got["jump"] - s[np.argmin((s - got["y_c"]) ** 2 + lam * L * s ** (2 / L))]) < 1e-4
    with pytest.raises(ValueError, match="y_hi"):
        nb.measured_threshold(L, lam, y_hi=0.1)
