"""Unit tests of theory/allocation.py against independent computations (exact ranks,
brute-force enumeration, explicit solutions)."""
import json
import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings, strategies as st

from dltv.theory import allocation as th
from dltv.theory.formulas import get_formula


@pytest.mark.parametrize("widths,m,E", [([4, 2, 4], 6, 12), ([4, 2, 4], 3, 10), ([5, 3, 2, 4], 6, 14),
                                        ([3, 1, 3], 5, 5), ([4, 4, 4], 2, 8), ([3, 2], 4, 6)])
def test_equations_literature_values(widths, m, E):
    assert th.equations(widths, m) == E


@settings(max_examples=12, deadline=None)
@given(st.lists(st.integers(1, 3), min_size=2, max_size=4), st.integers(1, 4))
def test_equations_equal_exact_rank_of_full_teacher(widths, m):
    full = th.entries(th.lffn_shapes(widths))
    assert th.lffn_exact_rank(widths, m, full, seed=1) == th.equations(widths, m)


def _all_subsets(widths, name, M):
    return itertools.combinations(th.entries(th.lffn_shapes(widths), [name]), M)


@pytest.mark.parametrize("widths,m,name,M", [([3, 4, 2], 5, "W2", 6), ([3, 4, 2], 2, "W2", 4),
                                             ([3, 4, 2], 5, "W1", 6), ([3, 2, 4, 2], 5, "W3", 6)])
def test_counting_rules_match_exact_rank(widths, m, name, M):
    E = th.equations(widths, m)
    for alloc in list(_all_subsets(widths, name, M))[:25]:
        rule = th.last_layer_verdict if name == f"W{len(widths) - 1}" else th.first_layer_verdict
        assert rule(widths, m, alloc).mp == int(th.lffn_exact_rank(widths, m, alloc) == E)


def test_single_layer_fraction_by_enumeration():
    widths, m, M = [3, 4, 2], 2, 5
    subsets = list(_all_subsets(widths, "W2", M))
    brute = Fraction(sum(th.last_layer_verdict(widths, m, a).mp for a in subsets), len(subsets))
    assert th.single_layer_fraction(widths, m, 2, M) == brute == Fraction(6, 7)
    assert th.exhaustive_full_rank_fraction(widths, m, M, ["W2"]) == brute


def test_bottleneck_kills_single_layers_and_symmetry_loss():
    assert th.has_bottleneck([4, 2, 4], 6)
    assert th.single_layer_fraction([4, 2, 4], 6, 2, 8) == 0
    whole = th.entries(th.lffn_shapes([4, 2, 4]), ["W1"])
    assert th.one_layer_verdict([4, 2, 4], 6, whole).mp == 0
    alloc = [("W2", 0, 0), ("W2", 1, 0), ("W1", 0, 0), ("W1", 0, 1)]
    assert th.symmetry_loss([2, 2, 2], alloc) == 1
    assert th.lffn_exact_rank([2, 2, 2], 2, alloc) == 3
    assert th.lffn_verdict([2, 2, 2], 2, alloc).mp == 0


def test_two_by_two_solution_reproduces_teacher():
    rng = np.random.default_rng(3)
    found = 0
    for _ in range(50):
        P, (U12, U21, W12, W21) = rng.normal(size=(2, 2)), rng.normal(size=4)
        sol = th.two_by_two_solution(P, U12, U21, W12, W21)
        assert (sol is not None) == bool(th.two_by_two_matchable(P, U12, U21, W12, W21))
        if sol is not None:
            a, u22, w11, w22 = sol
            U, W = np.array([[a, U12], [U21, u22]]), np.array([[w11, W12], [W21, w22]])
            np.testing.assert_allclose(U @ W, P, atol=1e-8)
            found += 1
    assert 0 < found < 50


@pytest.mark.parametrize("N,T", [(1, 3), (2, 3), (2, 6), (3, 5)])
def test_rnn_siso_dimension_is_exact_rank(N, T):
    assert th.rnn_siso_dimension(N, T) == th.rnn_markov_rank(N, 1, 1, T)


def test_rnn_readout_and_input_rules_match_exact_rank():
    N, T = 6, 3
    E = th.rnn_markov_rank(N, 1, 2, T)
    shapes = th.rnn_shapes(N, 1, 2)
    for alloc in itertools.islice(itertools.combinations(th.entries(shapes, ["D"]), 6), 0, 60, 7):
        v = th.rnn_readout_verdict(N, 1, 2, T, T, alloc).mp
        assert v == int(th.rnn_markov_rank(N, 1, 2, T, alloc) == E)
    E = th.rnn_markov_rank(N, 2, 1, T)
    shapes = th.rnn_shapes(N, 2, 1)
    for alloc in itertools.islice(itertools.combinations(th.entries(shapes, ["B"]), 6), 0, 60, 7):
        v = th.rnn_input_verdict(N, 2, 1, T, 2 * T, alloc).mp
        assert v == int(th.rnn_markov_rank(N, 2, 1, T, alloc) == E)


def test_scalar_rnn_mp_by_sign_argument():
    rng = np.random.default_rng(0)
    d, w, b, d0, b0 = rng.normal(size=(5, 200_000))
    c = d * w ** 2 * b / (d0 * b0)       # T = 3: need w^2 = c
    assert abs((c > 0).mean() - float(th.scalar_rnn_mp(3))) < 0.01
    assert th.scalar_rnn_mp(4) == 1


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 4), st.integers(1, 4), st.randoms(use_true_random=False))
def test_covering_matching_against_brute_force(k, m, rnd):
    act = np.array([[rnd.random() < 0.5 for _ in range(m)] for _ in range(k)])
    brute = any(all(act[p[mu], mu] for mu in range(m))
                for p in itertools.permutations(range(k), m)) if k >= m else False
    assert th.has_covering_matching(act) == brute


def test_one_per_neuron_criterion_finds_planted_solutions():
    rng = np.random.default_rng(0)
    Z0, C, u = rng.normal(size=(300, 4, 4)), rng.normal(size=(300, 4, 4)), rng.normal(size=(300, 4))
    theta = 2 * rng.normal(size=(300, 4))
    z = Z0 + theta[..., None] * C
    r = np.einsum("bk,bkm->bm", u, np.maximum(z, 0))
    G = np.swapaxes(u[..., :, None] * (z > 0) * C, -1, -2)
    planted = np.abs(np.linalg.det(G)) > 1e-9
    assert th.relu_one_per_neuron_matchable(Z0, C, u, r)[planted].all()
    assert not th.relu_one_per_neuron_matchable(Z0, C, u, r + 10 * rng.normal(size=r.shape)).all()


def _cone_lp(r, u):
    """Independent check: is r = sum_k u_k v_k with v_k >= 0 feasible (linear program)?"""
    from scipy.optimize import linprog
    k, m = len(u), len(r)
    A = np.zeros((m, k * m))
    for j in range(k):
        A[:, j * m:(j + 1) * m] = u[j] * np.eye(m)
    return linprog(np.zeros(k * m), A_eq=A, b_eq=r, bounds=(0, None), method="highs").status == 0


_generic = st.tuples(st.sampled_from([-1.0, 1.0]), st.floats(0.05, 3.0)).map(lambda t: t[0] * t[1])


@settings(max_examples=80, deadline=None)
@given(st.lists(_generic, min_size=1, max_size=4), st.lists(_generic, min_size=1, max_size=4))
def test_neurons_criterion_is_the_cone_lp(u, r):
    u, r, k = np.array(u), np.array(r), len(u)
    assert bool(th.relu_neurons_matchable(r, u)) == _cone_lp(r, u)
    v = th.relu_neurons_outputs(r, u)
    if th.relu_neurons_matchable(r, u):
        assert (v >= 0).all()
        np.testing.assert_allclose(u @ v, r, atol=1e-12)
    else:
        assert np.isnan(v).all()
    if k == 1:
        assert bool(th.relu_row_matchable(r / u[0])) == bool(th.relu_neurons_matchable(r, u))


def test_neurons_mp_against_gaussian_orthant_law():
    """r ~ N(0, Sigma) in R^2: P(r >= 0) = 1/4 + arcsin(rho) / (2 pi) (Sheppard)."""
    rng = np.random.default_rng(1)
    n, rho = 400_000, -0.4
    z = rng.normal(size=(n, 2))
    r = np.stack([z[:, 0], rho * z[:, 0] + math.sqrt(1 - rho ** 2) * z[:, 1]], -1)
    p = 0.25 + math.asin(rho) / (2 * math.pi)
    for k in (1, 2, 3):
        hits = th.relu_neurons_matchable(r, rng.normal(size=(n, k)))
        se = math.sqrt(hits.mean() * (1 - hits.mean()) / n)
        assert abs(hits.mean() - float(th.relu_neurons_mp(k, p))) < 5 * se
    assert th.relu_neurons_mp(3, sp.Rational(1, 2)) == sp.Rational(7, 8)   # m = 1: 1 - 2^-k


def test_one_per_neuron_verdicts_reproduce_the_network():
    """Brute force over the cells with the ReLU output recomputed for every candidate."""
    rng = np.random.default_rng(2)
    M = m = 3
    for _ in range(150):
        Z0, C = rng.normal(size=(M, m)), rng.normal(size=(M, m))
        u, r = rng.normal(size=M), rng.normal(size=m)
        bps = np.sort(-Z0 / C, axis=-1)
        found = False
        for cell in itertools.product(range(m + 1), repeat=M):
            mid = np.array([bps[k, 0] - 1 if c == 0 else bps[k, -1] + 1 if c == m
                            else bps[k, c - 1:c + 1].mean() for k, c in enumerate(cell)])
            act = Z0 + mid[:, None] * C > 0
            G = (u[:, None] * act * C).T
            if abs(np.linalg.det(G)) < 1e-12:
                continue
            theta = np.linalg.solve(G, r - u @ (act * Z0))
            found |= np.allclose(u @ np.maximum(Z0 + theta[:, None] * C, 0), r, atol=1e-10)
        assert bool(th.relu_one_per_neuron_matchable(Z0, C, u, r)) == found


def test_formulas_registered():
    assert get_formula("allocation.equations").evaluate(widths="4,2,4", m="6") == 12
    out = get_formula("allocation.single_layer_fraction").evaluate(widths="3,4,4,2", m=5, layer=3, M=6)
    assert out["fraction"] == sp.Rational(4, 7) and math.isclose(float(out["value"]), 4 / 7)
    assert get_formula("allocation.relu_spread_mp").evaluate(k=2, p="1/4") == sp.Rational(5, 8)


@pytest.mark.parametrize("call", [
    lambda: th.equations([3, 0, 2], 2), lambda: th.equations([3, 2], 0), lambda: th.equations([3], 1),
    lambda: th.single_layer_fraction([3, 4, 4, 2], 5, 2, 3),
    lambda: th.single_layer_fraction([3, 4, 2], 5, 3, 3),
    lambda: th.single_layer_fraction([3, 4, 2], 5, 2, 99),
    lambda: th.first_layer_verdict([3, 4, 2], 2, [("W1", 0, 0)]),
    lambda: th.last_layer_verdict([3, 4, 2], 2, [("W2", 5, 0)]),
    lambda: th.rnn_shapes(0, 1, 1),
    lambda: th.relu_neurons_mp(0, "1/2"), lambda: th.relu_neurons_mp(2, "3/2"),
    lambda: th.middle_layer_verdict([3, 4, 4, 2], 5, [("W2", 0, 0)]),
    lambda: th.middle_layer_verdict([3, 4, 4, 1], 5, [("W3", 0, 0)]),
    lambda: th.whole_layer_rank([3, 4, 2], 5, 3),
    lambda: th.rnn_markov_dimension(0, 1, 1, 3),
])
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_single_layer_fraction_cli_json_is_exact(capsys):
    from dltv.checks.cli import main

    assert main(["formula", "eval", "allocation.single_layer_fraction", "widths=3,4,2", "m=2",
                 "layer=2", "M=5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["exact"]["fraction"] == "6/7"
    assert out["exact"]["value"].startswith("0.857142857142857142857")


@pytest.mark.parametrize("widths, m", [([4, 4, 2, 4], 6), ([4, 2, 4, 4], 6), ([3, 4, 2], 5),
                                       ([5, 3, 2, 4], 2)])
def test_whole_layer_rank_is_exact_rank(widths, m):
    shapes = th.lffn_shapes(widths)
    for layer in range(1, len(widths)):
        alloc = th.entries(shapes, [f"W{layer}"])
        assert th.whole_layer_rank(widths, m, layer) == th.lffn_exact_rank(widths, m, alloc)


def test_middle_layer_rule_is_exact_rank():
    rng = np.random.default_rng(3)
    for widths, m, name in (([3, 4, 4, 1], 5, "W2"), ([3, 4, 4, 3], 1, "W2"), ([3, 2, 4, 1], 5, "W2"),
                            ([3, 4, 2, 3], 1, "W2"), ([4, 3, 1], 2, "W1"), ([4, 3, 3], 1, "W1")):
        shapes = th.lffn_shapes(widths)
        pool = th.entries(shapes, [name])
        e = th.equations(widths, m)
        for M in (1, 2, 3, 4):
            for _ in range(4):
                alloc = [pool[k] for k in rng.choice(len(pool), M, replace=False)]
                exact = int(th.lffn_exact_rank(widths, m, alloc) == e)
                assert th.middle_layer_verdict(widths, m, alloc).mp == exact


@pytest.mark.parametrize("dims", [(3, 2, 2, 3), (2, 2, 2, 3), (3, 2, 1, 4), (4, 2, 2, 5),
                                  (2, 1, 1, 6), (3, 1, 2, 5), (2, 3, 1, 2)])
def test_rnn_markov_dimension_closed_form_is_exact_rank(dims):
    assert th.rnn_markov_dimension(*dims) == th.rnn_markov_rank(*dims)
    if dims[1] == dims[2] == 1:
        assert th.rnn_markov_dimension(*dims) == th.rnn_siso_dimension(dims[0], dims[3])


def test_rnn_markov_dimension_refuses_without_closed_form():
    with pytest.raises(ValueError, match="no closed form"):
        th.rnn_markov_dimension(4, 3, 3, 3)


def test_one_per_neuron_solution_reproduces_the_target():
    rng = np.random.default_rng(4)
    Z0, C = rng.standard_normal((300, 3, 3)), rng.standard_normal((300, 3, 3))
    u, r = rng.standard_normal((300, 3)), rng.standard_normal((300, 3))
    found, theta = th.relu_one_per_neuron_solution(Z0, C, u, r)
    assert 0 < found.sum() < 300 and np.isnan(theta[~found]).all()
    out = np.einsum("nk,nkm->nm", u, np.maximum(Z0 + theta[..., None] * C, 0))
    np.testing.assert_allclose(out[found], r[found], atol=1e-9)


def test_covering_matching_vectorised_and_exempt_samples():
    rng = np.random.default_rng(5)
    act = rng.random((400, 4, 4)) < 0.4
    assert (th.covering_matching_exists(act) == [th.has_covering_matching(a) for a in act]).all()
    # a sample with no active learnable neuron is matchable only when its residual is exactly 0
    act = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 0]], bool)
    assert not th.relu_readout_matchable(act, np.array([0.3, -1.0, 0.2]))
    assert th.relu_readout_matchable(act, np.array([0.3, -1.0, 0.0]))
    Phi = np.where(act, rng.random((3, 3)) + 0.1, 0.0)
    u, *_ = np.linalg.lstsq(Phi.T, [0.3, -1.0, 0.0], rcond=None)
    np.testing.assert_allclose(Phi.T @ u, [0.3, -1.0, 0.0], atol=1e-12)


def test_rnn_shared_equations_matches_exact_rank_of_recurrent_weights():
    """Closed form E_K - d_in d_out against the exact rank over Q of W -> (D W^k B)."""
    for N, di, do, T in [(2, 1, 1, 3), (2, 1, 1, 6), (3, 2, 1, 4), (3, 1, 2, 4), (3, 2, 2, 3), (4, 2, 2, 4)]:
        W = th.entries(th.rnn_shapes(N, di, do), ["W"])
        assert th.rnn_shared_equations(N, di, do, T) == th.rnn_markov_rank(N, di, do, T, W)
    assert th.rnn_shared_equations(3, 1, 1, 8) == min(8, 6) - 1
    with pytest.raises(ValueError, match="N must be"):
        th.rnn_shared_equations(1, 2, 2, 3)


def test_rnn_shared_verdicts():
    col = [("W", 0, 0), ("W", 1, 0), ("W", 2, 0)]
    spread = [("W", 0, 0), ("W", 1, 1)]
    assert th.rnn_shared_verdict(4, 2, 1, 2, col).mp == 0
    assert th.rnn_shared_verdict(4, 2, 1, 2, spread).mp == 1
    assert th.rnn_shared_verdict(4, 1, 2, 2, [("W", 0, 0), ("W", 0, 3)]).mp == 0
    assert th.rnn_shared_verdict(4, 1, 2, 2, [("W", 0, 0), ("W", 3, 0)]).mp == 1
    # T = 2, d_in = d_out = 2: exact rank of span{d_a b_b^T} (F3 structure): a full 2 x 2 block spans
    assert th.rnn_shared_verdict(3, 2, 2, 2, [("W", i, j) for i in (0, 1) for j in (0, 1)]).mp == 1
    assert th.rnn_shared_verdict(3, 2, 2, 2, [("W", 0, j) for j in range(3)]).mp == 0
    assert th.rnn_shared_verdict(3, 1, 1, 3, spread).mp is None          # polynomial, full rank
    assert th.rnn_shared_verdict(3, 1, 1, 3, [("W", 0, 0)]).mp == 0        # rank 1 < E_S = 2
    assert th.rnn_shared_verdict(3, 1, 1, 1, [("W", 0, 0)]).mp == 1
    with pytest.raises(ValueError, match="recurrent matrix W"):
        th.rnn_shared_verdict(3, 1, 1, 3, [("D", 0, 0)])
    assert th.rnn_every_step_equations(3, 2, 4) == th.rnn_shared_equations(3, 1, 2, 4)


def test_full_rank_mp_heuristic():
    assert th.full_rank_mp_heuristic(0, sp.Rational(9, 10)) == sp.Rational(9, 10)
    assert th.full_rank_mp_heuristic(2, sp.Rational(9, 10)) == 1 - sp.Rational(1, 40)
    assert th.full_rank_mp_heuristic(3, 1) == 1
    with pytest.raises(ValueError, match="surplus"):
        th.full_rank_mp_heuristic(-1, 0.5)
    with pytest.raises(ValueError, match="p_square"):
        th.full_rank_mp_heuristic(0, 1.5)


def _relu_instance(rng, N=6, d=4, m=4):
    W, U = rng.standard_normal((N, d)), rng.standard_normal(N)
    X = rng.standard_normal((d, m))
    y = rng.standard_normal(3) @ np.maximum(rng.standard_normal((3, d)) @ X, 0)
    contrib = U[:, None] * np.maximum(W @ X, 0)
    return y, contrib, U


def test_relu_coverage_heuristic_is_exact_on_readout_and_whole_rows():
    """Readout only: the heuristic equals the Q1 covering-matching criterion; whole rows with a
    fixed readout: the sign cone of relu_neurons_matchable (both computed independently)."""
    rng = np.random.default_rng(3)
    draws = [_relu_instance(rng) for _ in range(300)]
    y = np.stack([d[0] for d in draws])
    contrib = np.stack([d[1] for d in draws])
    U = np.stack([d[2] for d in draws])
    readout = [("U", 0, k) for k in range(4)]
    r = y - contrib[:, 4:].sum(1)
    expected = th.relu_readout_matchable(contrib[:, :4] != 0, r)
    np.testing.assert_array_equal(th.relu_coverage_heuristic(y, contrib, U, readout), expected)
    rows = [("W", i, j) for i in range(2) for j in range(4)]
    r2 = y - contrib[:, 2:].sum(1)
    np.testing.assert_array_equal(th.relu_coverage_heuristic(y, contrib, U, rows),
                                  th.relu_neurons_matchable(r2, U[:, :2]))
    assert 0 < expected.mean() < 1


def test_relu_coverage_units_and_errors():
    assert th.relu_coverage_units([("W", 0, j) for j in range(5)], 3, 4) == [(0, "row")] * 4
    assert th.relu_coverage_units([("W", 1, 0), ("U", 0, 1)], 3, 4) == [(1, "partial"), (1, "readout")]
    assert th.relu_coverage_units([("W", 0, j) for j in range(4)] + [("U", 0, 0)], 3, 4) == [(0, "row")] * 4
    with pytest.raises(ValueError, match="allocation entry"):
        th.relu_coverage_units([("U", 0, 7)], 3, 4)
    with pytest.raises(ValueError, match="at least one"):
        th.relu_coverage_heuristic(np.ones(2), np.ones((3, 2)), np.ones(3), [])


def test_rnn_every_step_dimension_matches_exact_rank_of_outputs():
    """E_K on m = d_in sequences, against the exact rank over Q of the every-step outputs
    (block-Toeplitz map applied to the Markov-parameter Jacobian, rational inputs)."""
    import random
    for N, di, do, T in [(4, 1, 1, 5), (3, 2, 1, 4), (2, 2, 2, 3)]:
        rng = random.Random(1)
        X = [th._rand_matrix(rng, di, di) for _ in range(T)]          # x_t for the m = d_in sequences
        shapes = th.rnn_shapes(N, di, do)
        B, W, D = (th._rand_matrix(rng, *shapes[n]) for n in ("B", "W", "D"))
        cols = []
        for name, a, b in th.entries(shapes):
            E = sp.zeros(*shapes[name])
            E[a, b] = 1
            dB, dW, dD = (E if name == n else sp.zeros(*shapes[n]) for n in ("B", "W", "D"))
            r, dr, out = sp.zeros(N, di), sp.zeros(N, di), []
            for t in range(T):                                           # forward-mode derivative
                dr = dW * r + W * dr + dB * X[t]
                r = W * r + B * X[t]
                out.append(dD * r + D * dr)
            cols.append(sp.Matrix.vstack(*out))
        assert th.exact_rank(cols) == th.rnn_every_step_dimension(N, di, do, T, di)
    with pytest.raises(ValueError, match="m must be"):
        th.rnn_every_step_dimension(3, 2, 1, 4, 1)


def test_rnn_every_step_verdicts():
    W_all = th.entries(th.rnn_shapes(4, 1, 1), ["W"])
    assert th.rnn_every_step_verdict(4, 1, 1, 5, 1, W_all).rule == "E0"
    assert th.rnn_every_step_verdict(4, 1, 1, 5, 1, [("D", 0, j) for j in range(4)]).mp == 0
    tri = [("D", 0, 0), ("W", 0, 2), ("W", 0, 3)]
    assert th.rnn_every_step_verdict(4, 1, 1, 3, 1, tri).mp == 1
    assert th.rnn_every_step_verdict(4, 1, 1, 3, 1, [("D", 0, 0), ("W", 0, 0), ("W", 0, 3)]).mp is None
    assert th.rnn_every_step_verdict(3, 2, 1, 3, 2, [("D", 0, 0), ("W", 0, 1), ("W", 1, 2)]).rule == "E1"
    # T = 4: W^3 holds L F L, so the same shape of allocation is polynomial, not E2
    tri4 = [("D", 0, 0), ("W", 0, 2), ("W", 0, 3), ("W", 1, 2)]
    assert th.rnn_every_step_verdict(4, 1, 1, 4, 1, tri4).rule in ("G1", "G2")
