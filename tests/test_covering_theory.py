"""Unit tests of dltv.theory.covering against independent computations."""
import itertools
import math
from fractions import Fraction

import pytest
import sympy as sp
from hypothesis import given, strategies as st

from dltv.theory import covering as tc
from dltv.theory.formulas import get_formula


def _orbits_by_enumeration(q, N):
    seen = set()
    for v in itertools.product(range(q), repeat=3 * N + 1):
        neurons = tuple(sorted(zip(v[:N], v[N:2 * N], v[2 * N:3 * N])))
        seen.add((neurons, v[-1]))
    return len(seen)


@pytest.mark.parametrize("q,N", [(1, 3), (2, 1), (2, 2), (2, 3), (3, 2)])
def test_orbit_count_matches_enumeration(q, N):
    assert int(tc.orbit_count(q, N)) == _orbits_by_enumeration(q, N) == tc.orbit_count_multisets(q, N)


@given(st.integers(1, 6), st.integers(1, 5))
def test_burnside_equals_multisets(q, N):
    assert int(tc.orbit_count(q, N)) == tc.orbit_count_multisets(q, N)


@given(st.integers(1, 7), st.integers(1, 5))
def test_sorted_cells_bruteforce(m, d):
    count = sum(1 for t in itertools.product(range(m), repeat=d)
                if all(a >= b for a, b in zip(t, t[1:])))
    assert tc.sorted_cell_count(m, d) == count == tc.sorted_tuples_bruteforce(m, d)


def test_lipschitz_constant_values():
    assert tc.lipschitz_constant([1, 4, 1], 1) == 20          # 2 * 1 * (2 * 5)
    assert tc.lipschitz_constant([1, 4, 1], "1/2") == 20      # Bbar = max(B, 1)
    assert tc.lipschitz_constant([2, 6, 4, 1], 2) == 3 * 4 * 3 * 7 * 5
    assert tc.param_count([3, 5, 2]) == 5 * 4 + 2 * 6


@pytest.mark.parametrize("widths,eps", [([1, 3, 1], "1/2"), ([2, 3, 4, 1], "1/7"), ([1, 5, 5, 1], 3)])
def test_permutation_bound_identity(widths, eps):
    m = tc.grid_size(widths, 1, eps)
    S = tc.param_count(widths)
    hid = widths[1:-1]
    expected = Fraction(m ** S, math.prod(math.factorial(d) for d in hid))
    for d in hid:
        for j in range(d):
            expected *= Fraction(m + j, m)
    assert int(tc.permutation_bound(widths, 1, eps)) == expected
    assert tc.permutation_bound(widths, 1, eps) <= tc.classical_bound(widths, 1, eps)


def test_grid_size_exact():
    # B Lambda / eps = 1 * 20 / (1/3) = 60 exactly; a hair smaller eps rounds up
    assert tc.grid_size([1, 4, 1], 1, "1/3") == 60
    assert tc.grid_size([1, 4, 1], 1, "0.3333") == 61


def test_log_bounds_reference_values():
    lb = tc.log_bounds([1, 64, 1], 1, 10)
    m, S = 26, 193
    assert int(lb["m"]) == m and int(lb["S"]) == S and lb["Lambda"] == 260
    exact_perm = (S - 64) * math.log(m) + math.log(math.comb(m + 63, 64))
    assert float(lb["log_N_permutation"]) == pytest.approx(exact_perm, rel=1e-12)
    assert float(lb["log_N_classical"]) == pytest.approx(S * math.log(m), rel=1e-14)
    assert float(lb["log_N_classical"]) - math.lgamma(65) == pytest.approx(423.64, abs=0.01)
    assert float(lb["log_saving_limit"]) == pytest.approx(math.lgamma(65), rel=1e-14)


def test_saving_tends_to_log_factorials():
    lb = tc.log_bounds([1, 10, 10, 1], 1, sp.Rational(1, 10 ** 12))
    assert float(lb["log_saving"]) == pytest.approx(2 * math.lgamma(11), abs=1e-9)


def test_ratio_limit_and_shallow_limit():
    assert tc.bound_ratio_limit([1, 3, 4, 1]) == sp.Rational(1, 144)
    assert tc.relative_saving_shallow_limit(1, 1) == sp.Rational(1, 3)
    assert tc.relative_saving_shallow_limit(2, 3) == sp.Rational(1, 6)


def test_relative_saving_shrinks_with_depth():
    rel = [float(tc.log_bounds([1] + [16] * L + [1], 1, "1/100")["relative_saving"]) for L in (1, 2, 4, 8)]
    assert rel == sorted(rel, reverse=True)


def test_clean_form_not_a_bound_at_large_eps():
    assert tc.clean_bound([1, 3, 1], 1, 16) < 1   # m = 1
    assert tc.clean_eps_max([1, 4, 1], 1) == sp.Rational(20, 12)
    assert tc.clean_eps_max([1, 1, 1], 1) == sp.oo


@pytest.mark.parametrize("N,order", [(2, 8), (3, 48), (4, 384), (5, 3840), (8, 10321920), (10, 3715891200)])
def test_tanh_group_order_literature(N, order):  # Chen, Lu & Hecht-Nielsen (1993): 2^N N!
    assert tc.group_order([1, N, 1], "tanh") == order


def test_group_orders():
    assert tc.group_order([2, 3, 4, 1], "relu") == 6 * 24
    assert tc.group_order([2, 3, 4, 1], "generic") == 144
    assert tc.cnn_group_order([6, 5]) == 720 * 120
    assert tc.residual_group_order(6, [5, 4]) == 720 * 120 * 24
    assert tc.attention_group_order(4) == 24
    assert tc.attention_group_order(4, 3, 2) == 24 * (6 * 2) ** 4
    assert tc.effective_volume_fraction([1, 4, 1], "tanh") == sp.Rational(1, 384)


def test_generalisation_term_smaller_with_factor():
    out = get_formula("covering.generalisation").evaluate(widths="1,16,1", B=1, eps="1/100", n=1000, eta="0.05")
    assert out["permutation"] < out["classical"]


def test_registered_formulas():
    lb = get_formula("covering.log_bound").evaluate(widths="2,5,3,1", B="1", eps="0.01")
    assert set(lb) >= {"log_N_classical", "log_N_permutation", "log_saving", "Lambda"}
    assert get_formula("covering.group_order").evaluate(widths="2,3,4,1", activation="tanh") == 8 * 6 * 16 * 24
    assert get_formula("covering.orbit_count").evaluate(q="3", N="3") == 10962
    for fid in ("covering.log_bound", "covering.group_order", "covering.orbit_count"):
        assert get_formula(fid).symbolic() is not None


@pytest.mark.parametrize("call", [
    lambda: tc.param_count([1, 0, 1]),
    lambda: tc.param_count([2, 3]),
    lambda: tc.lipschitz_constant([1, 2, 1], 0),
    lambda: tc.grid_size([1, 2, 1], 1, -1),
    lambda: tc.group_order([1, 2, 1], "sigmoid"),
    lambda: tc.orbit_count(0, 2),
    lambda: tc.orbit_count(2, 1.5),
    lambda: get_formula("covering.log_bound").evaluate(widths="1,x,1", B=1, eps=1),
    lambda: get_formula("covering.log_bound").evaluate(widths="1,2,1", B=1, eps="nan"),
])
def test_bad_input(call):
    with pytest.raises(ValueError):
        call()


# --------------------------------------------------------------------------- uniform deviation bound
def test_generalisation_keeps_its_eps_term():
    f = get_formula("covering.generalisation")
    small = f.evaluate(widths="1,8,1", B=1, eps="1/100", n=20000, eta="0.05")
    large = f.evaluate(widths="1,8,1", B=1, eps=1000, n=20000, eta="0.05")
    # without the 2 Lip eps term the large-eps value fell to the single-function value 0.0096
    assert float(large["classical"]) > 2 * 1000
    assert float(small["single_function"]) == pytest.approx(math.sqrt(math.log(40) / 40000), rel=1e-12)
    assert float(small["permutation"]) < float(small["classical"])
    for kind in ("classical", "permutation"):
        opt = float(small[f"{kind}_optimal"])
        assert float(small["single_function"]) < opt <= float(small[kind])
        assert float(large[f"{kind}_optimal"]) == pytest.approx(opt, rel=1e-25)


@pytest.mark.parametrize("perm", [True, False])
def test_optimal_deviation_is_the_integer_minimum(perm):
    ws, B, n, eta = [2, 5, 3, 1], 1, 5000, sp.Rational(1, 20)
    opt = tc.optimal_deviation_bound(ws, B, n, eta, 1, sp.Rational(1, 2), perm)
    m = int(opt["m"])
    lam = tc.lipschitz_constant(ws, B)

    def at(k):  # the bound at the smallest radius of grid size k, through the exact bounds
        eps = B * lam / k
        assert tc.grid_size(ws, B, eps) == k
        log_n = tc.log_bounds(ws, B, eps)["log_N_permutation" if perm else "log_N_classical"]
        return float(tc.generalisation_term(log_n, n, eta, 1, sp.Rational(1, 2), eps=eps))

    assert float(opt["bound"]) == pytest.approx(at(m), rel=1e-12)
    assert at(m) <= at(m - 1) and at(m) <= at(m + 1) and at(m) < at(m // 2) and at(m) < at(2 * m)
    assert opt["eps"] == B * lam / m


def test_sample_size_needed_is_the_smallest():
    ws, B, eta, tau = [1, 8, 1], 2, sp.Rational(1, 20), sp.Rational(1, 2)
    n_perm = tc.sample_size_needed(ws, B, tau, eta, 1, sp.Rational(1, 2), True)
    n_class = tc.sample_size_needed(ws, B, tau, eta, 1, sp.Rational(1, 2), False)
    assert n_perm < n_class
    bound = lambda n: tc.optimal_deviation_bound(ws, B, n, eta, 1, sp.Rational(1, 2), True)["bound"]  # noqa: E731
    assert bound(n_perm) <= tau < bound(n_perm - 1)


def test_generalisation_term_needs_its_radius():
    with pytest.raises(TypeError):
        tc.generalisation_term(10, 100, "0.05")
    assert tc.generalisation_term(0, 8, "0.05", 1, 1, eps=2) == 4 + sp.sqrt(sp.log(40) / 16)


def test_single_function_deviation():
    assert float(tc.single_function_deviation(200, "0.05")) == pytest.approx(math.sqrt(math.log(40) / 400))


# --------------------------------------------------------------------------- width convention
def test_widths_convention_named_in_every_formula():
    from dltv.theory.formulas import all_formulas

    found = 0
    for fid, f in all_formulas().items():
        if fid.startswith("covering."):
            for p in f.params:
                if p.name == "widths":
                    found += 1
                    assert "d_0" in p.doc and "input" in p.doc and "output" in p.doc and "hidden" in p.doc
    assert found >= 4


@pytest.mark.parametrize("widths", ["8,8", "8", [3, 2]])
def test_widths_must_be_a_full_architecture(widths):
    with pytest.raises(ValueError, match="widths"):
        get_formula("covering.group_order").evaluate(widths=widths, activation="relu")


def test_group_order_reads_all_layer_widths():
    assert get_formula("covering.group_order").evaluate(widths="1,8,8,1") == math.factorial(8) ** 2
    assert get_formula("covering.group_order").evaluate(widths="1,8,1") == math.factorial(8)


# --------------------------------------------------------------------------- ReLU normal forms
def test_relu_function_count_reference_values():
    # distinct functions on 64 points of [-2, 2] (see the claim covering.orbits.quantised)
    assert tc.relu_shallow_function_count((-1.3, 0.4, 1.1), 2) == 900
    assert tc.relu_shallow_function_count((-0.7, 1.2), 2) == int(tc.orbit_count(2, 2))


def test_relu_function_count_collapses():
    # N = 1, levels +-1 on [-2, 2]: kinks at +-1 are interior and the four (w, b) give four
    # different ramps, so all 2^3 neurons x 2 output biases are distinct functions
    assert tc.relu_shallow_function_count((-1, 1), 1) == 16
    # a neuron dead on the whole interval contributes nothing: w=1, b=-3 is dead on [-2, 2]
    assert tc.relu_shallow_function_count((1, -3), 1, (-2, 2)) < 2 ** 4
    with pytest.raises(ValueError, match="levels"):
        tc.relu_shallow_function_count((1, 1), 2)
    with pytest.raises(ValueError, match="interval"):
        tc.relu_shallow_function_count((1, 2), 2, (1, 0))


# --------------------------------------------------------------------------- sign flips, scaling, CNN
def _cells_meeting_sorted_nonnegative(m, d):
    """Cells (m per side of [-1,1]^d) containing a point with b_1 >= ... >= b_d >= 0, by exact
    geometry: each cell's interval [lo, hi) in Fractions, the cone point built greedily."""
    count = 0
    for idx in itertools.product(range(m), repeat=d):
        x, ok = Fraction(0), True
        for k in reversed(idx):
            lo, hi = Fraction(-1) + Fraction(2 * k, m), Fraction(-1) + Fraction(2 * (k + 1), m)
            x = max(x, lo)
            ok &= x < hi or (k == m - 1 and x <= hi)
        count += ok
    return count


@pytest.mark.parametrize("m,d", [(1, 2), (2, 2), (3, 2), (4, 3), (5, 3), (6, 2), (7, 3)])
def test_sorted_nonnegative_cells_against_geometry(m, d):
    assert tc.sorted_nonnegative_cell_count(m, d) == _cells_meeting_sorted_nonnegative(m, d)


@pytest.mark.parametrize("m,k", [(1, 3), (2, 2), (3, 2), (4, 3), (6, 2)])
def test_boundary_cells_against_enumeration(m, k):
    brute = sum(any(i in (0, m - 1) for i in idx) for idx in itertools.product(range(m), repeat=k))
    assert tc.boundary_cell_count(m, k) == brute


def test_sign_flip_bound_ratio_tends_to_hyperoctahedral_order():
    ws, eps = [1, 3, 2, 1], sp.Rational(1, 10 ** 6)
    ratio = tc.sign_flip_bound(ws, 1, eps) / tc.classical_bound(ws, 1, eps)
    assert float(ratio * tc.group_order(ws, "tanh")) == pytest.approx(1, rel=1e-5)
    assert tc.sign_flip_bound(ws, 1, eps) < tc.permutation_bound(ws, 1, eps)


def test_symmetry_log_bounds_are_the_logs_of_the_exact_bounds():
    ws, eps = [2, 3, 2, 1], sp.Rational(1, 7)
    lb = get_formula("covering.symmetry_bounds").evaluate(widths=ws, B=1, eps=eps)
    for key, exact in (("log_N_sign_flip", tc.sign_flip_bound), ("log_N_scaling", tc.relu_scaling_bound),
                       ("log_N_permutation", tc.permutation_bound), ("log_N_classical", tc.classical_bound)):
        assert float(lb[key]) == pytest.approx(float(sp.log(exact(ws, 1, eps)).evalf(30)), rel=1e-14)
    assert lb["effective_dimension_scaling"] == tc.param_count(ws) - 5


def test_relu_scaling_effective_dimension():
    ws = [2, 3, 2, 1]
    lb1, lb2 = (tc.symmetry_log_bounds(ws, 1, eps) for eps in (sp.Rational(1, 10 ** 8), sp.Rational(1, 10 ** 10)))
    slope = float((lb2["log_N_scaling"] - lb1["log_N_scaling"]) / (sp.log(lb2["m"]) - sp.log(lb1["m"])))
    assert slope == pytest.approx(tc.param_count(ws) - 5, rel=1e-6)


def test_cnn_constants_by_hand():
    # channels 2 -> 4 -> 4, 3x3 kernels, 2x2 pooled positions, 2 outputs
    assert tc.cnn_param_count([2, 4, 4], 3, 4, 2) == 4 * 19 + 4 * 37 + 2 * 17
    assert tc.cnn_lipschitz_constant([2, 4, 4], 3, 4, 2, 1) == 3 * 19 * 37 * 17
    assert tc.cnn_lipschitz_constant([2, 3], 3, 4, 2, 2) == 2 * 2 * 19 * 13
    lb = get_formula("covering.cnn_log_bound").evaluate(channels="2,4,4", kernel=3, pooled=4, n_out=2, B=1, eps=1)
    m, S = int(lb["m"]), int(lb["S"])
    exact = m ** (S - 8) * math.comb(m + 3, 4) ** 2
    assert float(lb["log_N_permutation"]) == pytest.approx(math.log(exact), rel=1e-14)
    assert lb["group_order"] == 24 * 24


def test_new_group_order_formulas():
    assert get_formula("covering.cnn_group_order").evaluate(channels="3,2") == 12
    assert get_formula("covering.residual_group_order").evaluate(stream_dim=3, block_hidden="2,2") == 24
    assert get_formula("covering.attention_group_order").evaluate(heads=2, d_k=2, d_v=2) == 32
    assert get_formula("covering.attention_group_order").evaluate(heads=3) == 6


def test_sample_sizes_ordered_and_the_candidate_is_confirmed(monkeypatch):
    args = ([2, 4, 4, 1], 1, sp.Rational(1, 2), sp.Rational(1, 20), 1, sp.Rational(1, 2))
    n = get_formula("covering.sample_size").evaluate(widths=args[0], B=1, target=args[2], eta=args[3],
                                                     lip_loss=args[5])
    assert n["sign_flip"] < n["permutation"] < n["classical"]
    monkeypatch.setattr(tc, "_sample_size_candidate", lambda *a: None)  # the plain bisection
    assert tc.sample_size_needed(*args, True, True) == n["sign_flip"]
    assert tc.sample_size_needed(*args, True) == n["permutation"]
    monkeypatch.setattr(tc, "_sample_size_candidate", lambda *a: 7)  # a wrong candidate is refused
    assert tc.sample_size_needed(*args, False) == n["classical"]


def test_sign_flip_deviation_runs_over_even_grids():
    opt = tc.optimal_deviation_bound([1, 6, 1], 1, 3000, sp.Rational(1, 20), sign_flips=True)
    assert int(opt["m"]) % 2 == 0
    assert opt["bound"] < tc.optimal_deviation_bound([1, 6, 1], 1, 3000, sp.Rational(1, 20))["bound"]


@pytest.mark.parametrize("call", [
    lambda: tc.sorted_nonnegative_cell_count(0, 2),
    lambda: tc.boundary_cell_count(3, 0),
    lambda: tc.cnn_param_count([3], 3, 4, 2),
    lambda: tc.cnn_lipschitz_constant([3, 2], 0, 4, 2, 1),
    lambda: get_formula("covering.attention_group_order").evaluate(heads=0),
    lambda: get_formula("covering.sample_size").evaluate(widths="1,2,1", B=1, target=0, eta="0.05"),
])
def test_bad_input_new_formulas(call):
    with pytest.raises(ValueError):
        call()
