"""Unit tests of dltv.numerics.covering (independent reference computations, no theory import)."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from dltv.numerics import covering as nc

D = torch.float64


def _gen(seed):
    return torch.Generator().manual_seed(seed)


widths_st = st.lists(st.integers(1, 5), min_size=3, max_size=5)


@settings(max_examples=25, deadline=None)
@given(widths_st, st.sampled_from(["relu", "tanh"]), st.integers(0, 10 ** 6))
def test_group_action_preserves_function(widths, act, seed):
    g = _gen(seed)
    p = nc.random_mlp(widths, 1.5, g)
    perms, signs = nc.random_group_element(widths, act, g)
    x = 2 * torch.rand(50, widths[0], generator=g, dtype=D) - 1
    y, y2 = nc.mlp_forward(p, x, act), nc.mlp_forward(nc.transform_mlp(p, perms, signs), x, act)
    assert torch.allclose(y, y2, rtol=0, atol=1e-12 * (1 + y.abs().max()))


@settings(max_examples=25, deadline=None)
@given(widths_st, st.sampled_from(["relu", "tanh"]), st.integers(0, 10 ** 6))
def test_canonical_form_is_invariant_and_canonical(widths, act, seed):
    g = _gen(seed)
    p = nc.random_mlp(widths, 1.0, g)
    perms, signs = nc.random_group_element(widths, act, g)
    c = nc.canonical_mlp(p, act)
    assert torch.equal(nc.flatten(c), nc.flatten(nc.canonical_mlp(nc.transform_mlp(p, perms, signs), act)))
    assert bool(nc.is_canonical(c, act))


def test_module_roundtrip_and_flatten():
    g = _gen(1)
    p = nc.random_mlp([3, 4, 2], 1.0, g)
    x = torch.rand(5, 3, generator=g, dtype=D)
    m = nc.mlp_module(p, "tanh")
    with torch.no_grad():
        assert torch.equal(m(x), nc.mlp_forward(nc.module_params(m), x, "tanh"))
    v = nc.flatten(p)
    assert v.shape == (3 * 4 + 4 + 4 * 2 + 2,)
    assert all(torch.equal(a, b) for (A, B), (C, E) in zip(p, nc.unflatten(v, [3, 4, 2]))
               for a, b in ((A, C), (B, E)))


def test_shallow_layout_matches_mlp():
    g = _gen(2)
    theta = torch.rand(7, generator=g, dtype=D)  # N = 2
    w, b, a, c = theta[:2], theta[2:4], theta[4:6], theta[6:]
    p = [(w.reshape(2, 1), b), (a.reshape(1, 2), c)]
    x = torch.linspace(-1, 1, 9, dtype=D)
    assert torch.allclose(nc.shallow_forward(theta, x, "tanh"), nc.mlp_forward(p, x[:, None], "tanh")[:, 0])
    assert nc.shallow_orbits(theta).shape == (2, 7)


def test_orbit_size_generic_and_degenerate():
    g = _gen(3)
    p = nc.random_mlp([1, 3, 1], 1.0, g)
    assert nc.orbit_size(p, "relu") == 6
    assert nc.orbit_size(p, "tanh") == 48
    (W0, b0), (W1, b1) = p
    W0[2], b0[2], W1[:, 2] = W0[0], b0[0], W1[:, 0]
    assert nc.orbit_size(p, "relu") == 3


@pytest.mark.parametrize("q,N", [(2, 2), (3, 2), (2, 3)])
def test_quantised_orbits_against_formula(q, N):
    levels = [0.1 * (k + 1) for k in range(q)]
    assert nc.quantised_orbits_bruteforce(levels, N) == math.comb(q ** 3 + N - 1, N) * q


def test_distinct_functions_le_orbits():
    x = torch.linspace(-2, 2, 32, dtype=D)
    orbits = math.comb(8 + 1, 2) * 2
    assert nc.quantised_distinct_functions((-0.7, 1.2), 2, "tanh", x) == orbits
    assert nc.quantised_distinct_functions((-0.7, 1.2), 2, "relu", x) <= orbits


@pytest.mark.parametrize("m,d", [(3, 2), (5, 3), (4, 4)])
def test_sorted_cells(m, d):
    assert nc.sorted_cells_bruteforce(m, d) == math.comb(m + d - 1, d)
    assert nc.sorted_cells_sampled(m, d, 20000, _gen(4)) == math.comb(m + d - 1, d)


def test_greedy_net_on_a_line():
    pts = torch.arange(11, dtype=D).unsqueeze(1) / 10  # 0, 0.1, ..., 1
    assert nc.greedy_net_size(pts, 0.25) == 4            # centres 0, 0.3, 0.6, 0.9
    assert nc.greedy_net_size(pts, 2.0) == 1
    assert nc.greedy_net_size(pts, 0.25, pts.unsqueeze(1)) == 4  # trivial group: same as l_inf


def test_quotient_metric_identifies_permuted_points():
    g = _gen(5)
    theta = torch.rand(1, 10, generator=g, dtype=D)
    perm_all = nc.shallow_orbits(theta)[0]          # the 6 permuted copies of one vector
    assert nc.greedy_net_size(perm_all, 1e-9) == len(torch.unique(perm_all, dim=0))
    assert nc.greedy_net_size(perm_all, 1e-9, nc.shallow_orbits(perm_all)) == 1


def test_lipschitz_quotient_below_hand_constant():
    # [1, 2, 1], B = 1: Lambda = 2 * 1 * (2 * 3) = 12
    q = nc.lipschitz_quotients([1, 2, 1], "tanh", 1.0, 1e-4, 50, 200, _gen(6))
    assert q.shape == (50,) and float(q.max()) <= 12 and float(q.min()) > 0


def test_training_commutes_with_permutation():
    g = _gen(7)
    ws = [1, 4, 1]
    p = nc.random_mlp(ws, 1.0, g)
    perms, signs = nc.random_group_element(ws, "tanh", g)
    x = torch.linspace(-1, 1, 16, dtype=D)[:, None]
    start = torch.stack([nc.flatten(p), nc.flatten(nc.transform_mlp(p, perms, signs))])
    traj = nc.train_trajectory(start, ws, "tanh", x, torch.sin(x), 50, 0.05, "adam")
    moved = nc.flatten(nc.transform_mlp(nc.unflatten(traj[:, 0], ws), perms, signs))
    assert float((moved - traj[:, 1]).abs().max()) < 1e-12


def test_teacher_student_shapes():
    out = nc.teacher_student_success(2, 5, np.random.default_rng(0), steps=10)
    assert out.shape == (5,) and out.dtype == bool


def test_attention_mispacking_changes_output():
    g = _gen(8)
    mha = nc.make_attention(8, 2, g)
    x = torch.randn(2, 5, 8, generator=g, dtype=D)
    y = nc.attention_forward(mha, x)
    hp = torch.tensor([1, 0])
    assert nc.relative_change(y, nc.attention_forward(nc.permute_attention(mha, hp), x)) < 1e-12
    assert nc.relative_change(y, nc.attention_forward(nc.permute_attention(mha, hp, packing="head"), x)) > 1e-3


@pytest.mark.parametrize("call", [
    lambda: nc.random_mlp([1, 0, 1], 1.0, _gen(0)),
    lambda: nc.random_mlp([1, 2], 1.0, _gen(0)),
    lambda: nc.random_mlp([1, 2, 1], -1.0, _gen(0)),
    lambda: nc.mlp_forward(nc.random_mlp([1, 2, 1], 1.0, _gen(0)), torch.zeros(1, 1, dtype=D), "sigmoid"),
    lambda: nc.greedy_net_size(torch.zeros(3, 2, dtype=D), 0.0),
    lambda: nc.sorted_cells_bruteforce(0, 2),
    lambda: nc.teacher_student_success(0, 5, np.random.default_rng(0)),
    lambda: nc.train_trajectory(torch.zeros(4, dtype=D), [1, 1, 1], "tanh", torch.zeros(2, 1, dtype=D),
                                torch.zeros(2, 1, dtype=D), 1, 0.1, "sgd"),
])
def test_bad_input(call):
    with pytest.raises(ValueError):
        call()


def test_orbit_size_refuses_large_groups():
    p = nc.random_mlp([1, 6, 1], 1.0, _gen(9))
    with pytest.raises(ValueError, match="params"):
        nc.orbit_size(p, "relu", max_elements=100)
    with pytest.raises(ValueError, match="max_elements"):
        nc.orbit_size(nc.random_mlp([1, 10, 1], 1.0, _gen(9)), "tanh")  # 2^10 10! elements


def test_canonical_form_batched_matches_single():
    g = _gen(10)
    ws = [2, 4, 3, 1]
    batch = nc.random_mlp(ws, 1.0, g, batch=(5,))
    for act in ("relu", "tanh"):
        canon = nc.flatten(nc.canonical_mlp(batch, act))
        for i in range(5):
            single = [(W[i], b[i]) for W, b in batch]
            assert torch.equal(canon[i], nc.flatten(nc.canonical_mlp(single, act)))
        assert bool(nc.is_canonical(nc.canonical_mlp(batch, act), act).all())


def test_snap_to_grid_moves_at_most_half_a_cell():
    g = _gen(11)
    theta = 2 * torch.rand(1000, 7, generator=g, dtype=D) - 1
    snapped = nc.snap_to_grid(theta, 1.0, 5)
    centres = torch.tensor([-0.8, -0.4, 0.0, 0.4, 0.8], dtype=D)
    assert float((snapped - theta).abs().max()) <= 0.2 + 1e-15
    assert bool(torch.isclose(snapped.unsqueeze(-1), centres, atol=1e-15).any(-1).all())
    # monotone: sorted vectors stay sorted
    s = torch.sort(theta, dim=1, descending=True).values
    assert bool((nc.snap_to_grid(s, 1.0, 5).diff(dim=1) <= 0).all())
    with pytest.raises(ValueError, match="theta"):
        nc.snap_to_grid(theta * 2, 1.0, 5)
    with pytest.raises(ValueError, match="m"):
        nc.snap_to_grid(theta, 1.0, 0)


def test_input_grid_has_corners():
    x = nc.input_grid(2, 100)
    assert x.shape == (100, 2)
    assert {tuple(r) for r in x.tolist()} >= {(-1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)}


def test_random_label_deviation_range_and_exact_risk():
    dev = nc.random_label_deviation(8, 200.0, 200, _gen(12))
    assert 0 < dev <= 0.5
    # the ramp losses of the two labels sum to 1 at every prediction, hence R(f) = 1/2
    f = torch.linspace(-3, 3, 101, dtype=D)
    assert torch.allclose(nc.ramp_loss(f, torch.ones_like(f)) + nc.ramp_loss(f, -torch.ones_like(f)),
                          torch.ones_like(f))


def test_attention_q_and_k_must_move_together():
    g = _gen(13)
    mha = nc.make_attention(8, 2, g)
    x = torch.randn(2, 5, 8, generator=g, dtype=D)
    y = nc.attention_forward(mha, x)
    hp = torch.tensor([1, 0])
    pq = [torch.tensor([1, 0, 3, 2]), torch.tensor([2, 3, 0, 1])]
    pv = [torch.tensor([3, 2, 1, 0]), torch.tensor([0, 1, 3, 2])]
    pk = [torch.roll(p, 1) for p in pq]
    assert nc.relative_change(y, nc.attention_forward(nc.permute_attention(mha, hp, (pq, pv)), x)) < 1e-12
    assert nc.relative_change(y, nc.attention_forward(nc.permute_attention(mha, hp, (pq, pk, pv)), x)) > 1e-3


def test_distinct_functions_tanh_equal_orbits_relu_fewer():
    x = torch.linspace(-2, 2, 64, dtype=D)
    levels = (-1.3, 0.4, 1.1)
    orbits = math.comb(27 + 1, 2) * 3
    assert nc.quantised_distinct_functions(levels, 2, "tanh", x) == orbits == 1134
    assert nc.quantised_distinct_functions(levels, 2, "relu", x) == 900


# --------------------------------------------------------------------------- canonical forms beyond MLPs
def _same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cnn_canonical_form_invariant_and_same_function(seed):
    g = _gen(seed)
    cnn = nc.randomise_batchnorm(nc.SmallCNN((3, 6, 5)), g)
    c = nc.canonical_cnn_state(cnn.state_dict())
    moved = nc.permute_cnn(cnn, torch.randperm(6, generator=g), torch.randperm(5, generator=g))
    assert _same(c, nc.canonical_cnn_state(moved.state_dict()))
    assert bool((c["conv1.bias"][:-1] > c["conv1.bias"][1:]).all())
    x = torch.randn(3, 3, 8, 8, generator=g, dtype=D)
    with torch.no_grad():
        assert nc.relative_change(cnn(x), nc.load_state(cnn, c)(x)) < 1e-13


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_residual_canonical_form_invariant_and_same_function(seed):
    g = _gen(seed)
    res = nc.randomise_layernorm(nc.ResidualMLP(3, 6, (5, 4), 2, "relu"), g)
    c = nc.canonical_residual_state(res.state_dict())
    moved = nc.permute_residual(res, [torch.randperm(5, generator=g), torch.randperm(4, generator=g)],
                                torch.randperm(6, generator=g))
    assert _same(c, nc.canonical_residual_state(moved.state_dict()))
    x = torch.randn(20, 3, generator=g, dtype=D)
    with torch.no_grad():
        assert nc.relative_change(res(x), nc.load_state(res, c)(x)) < 1e-13
    # the blocks-only form does not absorb a stream permutation
    stream_only = nc.permute_residual(res, None, torch.roll(torch.arange(6), 1))
    assert not _same(nc.canonical_residual_state(res.state_dict(), stream=False),
                     nc.canonical_residual_state(stream_only.state_dict(), stream=False))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_attention_canonical_form_invariant_and_same_function(seed):
    g = _gen(seed)
    mha = nc.make_attention(12, 4, g)
    c = nc.canonical_attention_state(mha.state_dict(), 4)
    hp = torch.randperm(4, generator=g)
    within = ([torch.randperm(3, generator=g) for _ in range(4)], [torch.randperm(3, generator=g) for _ in range(4)])
    assert _same(c, nc.canonical_attention_state(nc.permute_attention(mha, hp, within).state_dict(), 4))
    x = torch.randn(2, 5, 12, generator=g, dtype=D)
    y = nc.attention_forward(mha, x)
    assert nc.relative_change(y, nc.attention_forward(nc.load_state(mha, c), x)) < 1e-13
    heads_only = nc.canonical_attention_state(mha.state_dict(), 4, within=False)
    assert nc.relative_change(y, nc.attention_forward(nc.load_state(mha, heads_only), x)) < 1e-13


def test_batched_canonical_states_match_single_networks():
    g = _gen(3)
    for model, canonical in ((nc.SmallCNN((3, 3, 2)), nc.canonical_cnn_state),
                             (nc.ResidualMLP(3, 3, (2, 2), 2), nc.canonical_residual_state),
                             (nc.make_attention(4, 2, g), lambda s: nc.canonical_attention_state(s, 2))):
        states = nc.random_states(model, 6, g)
        batched = canonical(states)
        for i in range(6):
            single = canonical({k: (v[i] if v.is_floating_point() else v) for k, v in states.items()})
            assert all(torch.equal(batched[k][i], single[k]) for k in single if single[k].is_floating_point())
        fixed = nc.fixed_fraction(states, batched)
        assert fixed.shape == (6,)
        assert bool(nc.fixed_fraction(batched, canonical(batched)).all())


def test_attention_heads_must_divide_the_embedding():
    with pytest.raises(ValueError, match="heads"):
        nc.canonical_attention_state(nc.make_attention(6, 3, _gen(0)).state_dict(), 4)


def test_canonical_forms_refuse_states_without_their_keys():
    no_bias = torch.nn.MultiheadAttention(4, 2, bias=False, dtype=D).state_dict()
    with pytest.raises(ValueError, match="in_proj_bias"):
        nc.canonical_attention_state(no_bias, 2)
    with pytest.raises(ValueError, match="conv1.bias"):
        nc.canonical_cnn_state({"conv2.bias": torch.zeros(2)})
    with pytest.raises(ValueError, match="embed.bias"):
        nc.canonical_residual_state({})


# --------------------------------------------------------------------------- ReLU scaling normal form
def test_relu_scaling_to_the_boundary_keeps_f_and_the_box():
    g = _gen(4)
    ws, B = [3, 6, 5, 2], 1.5
    p = nc.random_mlp(ws, B, g, batch=(7,))
    q = nc.relu_scale_to_boundary(p, B)
    x = 2 * torch.rand(300, 3, generator=g, dtype=D) - 1
    assert nc.relative_change(nc.mlp_forward(p, x.expand(7, -1, -1), "relu"),
                              nc.mlp_forward(q, x.expand(7, -1, -1), "relu")) < 1e-13
    assert max(float(t.abs().max()) for pair in q for t in pair) <= B * (1 + 1e-15)
    for W, b in q[:-1]:
        norm = torch.maximum(W.abs().amax(-1), b.abs())
        assert torch.allclose(norm, torch.full_like(norm, B), rtol=1e-15, atol=0)


def test_tanh_canonical_cells_and_boundary_cells_small_values():
    # m = 4: bias indices {2, 3} -> C(2 + 2 - 1, 2) = 3 cells for d = 2; m = 3: indices {1, 2}
    assert nc.sorted_nonnegative_cells_bruteforce(4, 2) == 3
    assert nc.sorted_nonnegative_cells_bruteforce(3, 3) == 4
    assert nc.sorted_nonnegative_cells_sampled(4, 2, 2000, _gen(5)) == 3
    assert nc.boundary_cells_sampled(4, 2, 2000, 1.0, _gen(6)) == 16 - 4


def test_cnn_corner_quotient_below_and_near_the_hand_constant():
    lam = 3 * 19 * 37 * 17  # (L+1) prod (9 c_l + 1) (4 c_L + 1) for channels 2, 4, 4
    q = nc.cnn_corner_quotient((2, 4, 4), 3, 2, 2, "relu", 1.0, 1e-6, 16)
    assert 0.7 * lam < q < lam
    p = nc.random_cnn((2, 3), 3, 2, 2, 1.0, _gen(7))
    assert nc.cnn_forward(p, torch.zeros(5, 2, 6, 6, dtype=D), "tanh", 2).shape == (5, 2)


def test_boundary_cells_bruteforce_small_values():
    assert [nc.boundary_cells_bruteforce(m, 2) for m in (1, 2, 3, 4)] == [1, 4, 8, 12]
    with pytest.raises(ValueError):
        nc.boundary_cells_bruteforce(0, 2)
