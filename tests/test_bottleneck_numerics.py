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
