"""Unit tests of numerics/allocation.py against independent computations."""
import math

import numpy as np
import pytest
import torch

from dltv.numerics import allocation as num


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_scatter_gather_roundtrip_and_batch():
    shapes = num.lffn_shapes([3, 4, 2])
    mats = num.sample_weights(shapes, _gen(), (5,))
    alloc = [("W1", 0, 1), ("W2", 1, 3), ("W1", 2, 0)]
    theta = torch.randn(5, 3, dtype=torch.float64)
    new = num.scatter(mats, alloc, theta)
    assert torch.equal(num.gather(new, alloc), theta)
    mask = torch.ones(4, 3, dtype=torch.bool)
    mask[0, 1] = mask[2, 0] = False
    assert torch.equal(new["W1"][:, mask], mats["W1"][:, mask])


def test_jacobian_matches_finite_differences():
    shapes = num.rnn_shapes(3, 2, 2)
    mats = num.sample_weights(shapes, _gen(1))
    X = num.sample_inputs((3, 2, 4), _gen(2))
    alloc = num.entries(shapes)
    J = num.jacobian(num.rnn_forward, mats, X, alloc)
    theta = num.gather(mats, alloc)
    h = 1e-6
    for k in range(0, len(alloc), 5):
        e = torch.zeros_like(theta)
        e[k] = h
        f = lambda t: num.rnn_forward(num.scatter(mats, alloc, t), X).reshape(-1)
        fd = (f(theta + e) - f(theta - e)) / (2 * h)
        torch.testing.assert_close(J[:, k], fd, atol=1e-7, rtol=1e-6)


def test_rnn_forward_is_markov_map():
    N, di, do, T, m = 3, 2, 2, 4, 5
    mats = num.sample_weights(num.rnn_shapes(N, di, do), _gen(3))
    X = num.sample_inputs((T, di, m), _gen(4))
    W, B, D = mats["W"], mats["B"], mats["D"]
    y = sum(D @ torch.linalg.matrix_power(W, T - 1 - t) @ B @ X[t] for t in range(T))
    torch.testing.assert_close(num.rnn_forward(mats, X), y)


def test_numeric_rank_separates_rank_deficiency():
    a, b = torch.randn(6, 2, dtype=torch.float64), torch.randn(2, 5, dtype=torch.float64)
    assert int(num.numeric_rank(a @ b)) == 2
    J = torch.randn(6, 5, dtype=torch.float64)
    ranks = num.subset_ranks(torch.cat([J, J[:, :1]], 1), [[0, 1, 5], [0, 1, 2]])
    assert list(ranks) == [2, 3]


def test_solve_affine_recovers_planted_readout():
    shapes = num.lffn_shapes([3, 3, 2])   # hidden width = q: the readout solution is unique
    teacher = num.sample_weights(shapes, _gen(5))
    student = dict(teacher, W2=teacher["W2"] + 1.0)
    X = num.sample_inputs((3, 5), _gen(6))
    alloc = num.entries(shapes, ["W2"])
    theta, res = num.solve_affine(num.lffn_forward, student, X, alloc, num.lffn_forward(teacher, X))
    assert res < 1e-12
    torch.testing.assert_close(theta, num.gather(teacher, alloc))


def test_solve_lm_finds_planted_two_layer_solution():
    shapes = num.lffn_shapes([2, 2, 2])
    teacher = num.sample_weights(shapes, _gen(7), (6,))
    alloc = [("W2", 0, 0), ("W2", 1, 1), ("W1", 0, 0), ("W1", 1, 1)]
    student = num.scatter(teacher, alloc, torch.randn(6, 4, dtype=torch.float64))
    X = num.sample_inputs((6, 2, 3), _gen(8))
    res = num.solve_lm(num.lffn_forward, student, X, alloc, num.lffn_forward(teacher, X), starts=8,
                       generator=_gen(9), iters=100)
    assert (res < 1e-8).all()


def test_rows_for_preactivations_hit_the_target():
    shapes = num.relu_shapes(6, 5)
    fixed = num.sample_weights(shapes, _gen(10), (3,))
    X = num.sample_inputs((3, 6, 4), _gen(11))
    alloc = [("W", 1, j) for j in range(4)] + [("W", 3, j) for j in (0, 2, 3, 4, 5)]
    Z = torch.randn(3, 2, 4, dtype=torch.float64)
    student = num.scatter(fixed, alloc, num.relu_rows_for_preactivations(fixed, X, alloc, Z))
    torch.testing.assert_close((student["W"] @ X)[:, [1, 3]], Z)
    torch.testing.assert_close(student["W"][:, [0, 2, 4]], fixed["W"][:, [0, 2, 4]])
    with pytest.raises(ValueError):
        num.relu_rows_for_preactivations(fixed, X, alloc[:3], Z[:, :1])
    with pytest.raises(ValueError):
        num.relu_rows_for_preactivations(fixed, X, [("U", 0, 0)], Z[:, :1])


def test_softplus_forward_tends_to_relu():
    mats = num.sample_weights(num.relu_shapes(3, 4), _gen(12))
    X = num.sample_inputs((3, 5), _gen(13))
    gap = (num.relu_softplus_forward(1e4)(mats, X) - num.relu_forward(mats, X)).abs().max()
    assert gap < 1e-3


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_solve_relu_lm_planted_and_lower_bound(one_thread):
    shapes = num.relu_shapes(4, 3)
    alloc = [("W", i, j) for i in range(2) for j in range(4)]
    teacher = num.sample_weights(shapes, _gen(14), (8,))
    student = num.scatter(teacher, alloc, torch.randn(8, 8, dtype=torch.float64))
    X = num.sample_inputs((8, 4, 3), _gen(15))
    res = num.solve_relu_lm(student, X, alloc, num.relu_forward(teacher, X), starts=6,
                            generator=_gen(16))
    assert (res < 1e-8).all()
    # both learnable readout weights positive, target pushes sample 0 below the fixed part:
    # the best residual is |r_0| / ||y*|| with r = y* - fixed neuron's output
    student["U"][:, 0, :2] = student["U"][:, 0, :2].abs()
    fixed_out = student["U"][:, :, 2:] @ torch.relu(student["W"][:, 2:] @ X)
    target = fixed_out + torch.tensor([-0.5, 0.3, 0.2], dtype=torch.float64)
    res = num.solve_relu_lm(student, X, alloc, target, starts=6, generator=_gen(17))
    floor = 0.5 / torch.linalg.norm(target, dim=(-2, -1))
    assert (res >= floor * (1 - 1e-9)).all() and (res < floor * (1 + 1e-6)).float().mean() > 0.5


def test_frequency_has_no_plug_in_se():
    assert num.frequency([1, 0, 1, 1]) == (0.75, 4)
    assert num.frequency(np.ones(7, bool)) == (1.0, 7)
    with pytest.raises(ValueError):
        num.frequency([])
    with pytest.raises(ValueError):
        num.frequency([0.5, 1])


@pytest.mark.parametrize("N, T, E", [(8, 40, 16), (12, 40, 24)])
def test_generic_rank_long_siso_rnn(N, T, E):
    """One random point at rtol 1e-8 gave 6 and 21 here: the powers W^k make the
    Jacobian's columns of very different size."""
    shapes = num.rnn_shapes(N, 1, 1)
    X = num.sample_inputs((T, 1, T + 1), _gen(20))
    rank, gap = num.generic_rank_and_gap(num.rnn_forward, shapes, X, num.entries(shapes), _gen(21))
    assert rank == E == min(T, 2 * N) and gap > 1e6


def test_rank_refuses_an_undecidable_spectrum():
    U, _ = torch.linalg.qr(torch.randn(8, 8, dtype=torch.float64, generator=_gen(22)))
    V, _ = torch.linalg.qr(torch.randn(6, 6, dtype=torch.float64, generator=_gen(23)))
    s = torch.logspace(0, -15, 6, dtype=torch.float64)      # decays through the noise level
    J = U[:, :6] @ torch.diag(s) @ V.T
    with pytest.raises(ValueError, match="undecidable"):
        num.numeric_rank(J)
    clear = U[:, :6] @ torch.diag(torch.tensor([1, .5, .1, 1e-3, 0, 0], dtype=torch.float64)) @ V.T
    rank, gap = num.rank_and_gap(clear)
    assert int(rank) == 4 and gap > 1e10
    assert int(num.numeric_rank(torch.randn(5, 3, dtype=torch.float64))) == 3


def test_allocation_samplers():
    shapes = num.lffn_shapes([3, 4, 4, 2])
    rng = np.random.default_rng(0)
    a = num.random_allocation(shapes, 7, rng)
    assert len(set(a)) == 7 and set(a) <= set(num.entries(shapes))
    s = num.spread_allocation(shapes, 6)
    assert {n for n, _, _ in s} == {"W1", "W2", "W3"}
    assert len({(n, i) for n, i, _ in s}) == 6          # distinct rows
    c = num.concentrated_allocation(shapes, 4, "W2")
    assert {(n, i) for n, i, _ in c} == {("W2", 0)}


@pytest.mark.parametrize("call", [lambda: num.lffn_shapes([3, 0, 2]), lambda: num.rnn_shapes(2, -1, 1),
                                  lambda: num.random_allocation(num.lffn_shapes([2, 2]), 5,
                                                                np.random.default_rng(0)),
                                  lambda: num.entries(num.lffn_shapes([2, 2]), ["W9"])])
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_train_masked_reaches_planted_match_and_respects_the_least_squares_floor():
    """Independent reference: least squares (solve_affine) per instance."""
    widths, m = [2, 8, 2], 6
    shapes = num.lffn_shapes(widths)
    gen = _gen(7)
    good = [("W2", i, j) for i in range(2) for j in range(5)]
    bad = [("W2", 0, j) for j in range(8)] + [("W2", 1, 0)]
    allocs = [good, bad, good, bad]
    T, S = num.sample_weights(shapes, gen, (4,)), num.sample_weights(shapes, gen, (4,))
    X = num.sample_inputs((4, widths[0], m), gen)
    Y = num.lffn_forward(T, X)
    res = num.train_masked(num.lffn_forward, S, X, num.allocation_masks(shapes, allocs), Y)
    floors = [num.solve_affine(num.lffn_forward, {n: v[b] for n, v in S.items()}, X[b], allocs[b], Y[b])[1]
              for b in range(4)]
    for b in range(4):
        if allocs[b] is good:
            assert floors[b] < 1e-12 and res[b] < 1e-8
        else:
            assert floors[b] > 1e-4 and res[b] >= floors[b] * (1 - 1e-9)
            assert res[b] < floors[b] * 1.01          # training converges to the floor
    # the batch is a set of independent runs: instance 1 alone gives the same residual
    alone = num.train_masked(num.lffn_forward, {n: v[1:2] for n, v in S.items()}, X[1:2],
                             num.allocation_masks(shapes, [bad]), Y[1:2])
    torch.testing.assert_close(alone[0], res[1], rtol=1e-9, atol=0)
    with pytest.raises(ValueError, match="momentum"):
        num.train_masked(num.lffn_forward, S, X, num.allocation_masks(shapes, allocs), Y, momentum=1.0)


def test_rnn_forward_every_stacks_the_partial_markov_sums():
    N, di, do, T, m = 3, 2, 2, 4, 5
    mats = num.sample_weights(num.rnn_shapes(N, di, do), _gen(11))
    X = num.sample_inputs((T, di, m), _gen(12))
    W, B, D = mats["W"], mats["B"], mats["D"]
    out = num.rnn_forward_every(mats, X)
    assert out.shape == (T * do, m)
    for t in range(1, T + 1):
        y = sum(D @ torch.linalg.matrix_power(W, t - 1 - s) @ B @ X[s] for s in range(t))
        torch.testing.assert_close(out[(t - 1) * do:t * do], y)
    torch.testing.assert_close(out[-do:], num.rnn_forward(mats, X))
