"""The validity maps of the two-input kernels, the input-derivative moments, the regions count
and the bottleneck rank fraction: tiny grids run serially, every cell carries every field,
and a plausible wrong prediction is rejected by the same data where the right one holds."""
import dataclasses
import functools
import math

import pytest

from dltv.checks import sweep as sw
from dltv.checks import sweep_bottleneck as sb
from dltv.checks import sweep_correlations as sc

TINY = {  # quantity: (widths, depths, networks per cell)
    "correlations.relu.two-input-kernel": ("16,32", "1,4", 4000),
    "correlations.tanh.two-input-kernel": ("16,32", "1,8", 10000),
    "correlations.erf.two-input-kernel": ("16,32", "1,8", 10000),
    "correlations.relu.derivative-second-moment": ("32,64", "1,4", 16000),  # 1 + 5L/n is ~8 SE off at (32, 4)
    "correlations.tanh.derivative-second-moment": ("16,32", "1,2", 4000),
    "regions.he.mean-count": ("4,8", "1,2", 200),
    "regions.default.mean-count": ("4,8", "1,2", 200),
}
CELL_FIELDS = {"n", "L", "L_over_n", "estimate", "se", "budget", "seed", "resolution"}
PREDICTION_FIELDS = ("prediction", "prediction_se", "z", "rel_error", "resolution", "holds")


@functools.lru_cache(maxsize=None)
def _sweep(qid: str, cache_root: str) -> sw.SweepResult:
    widths, depths, budget = TINY[qid]
    return sw.run_sweep(qid, widths, depths, budget=budget, workers=0, cache=sw.Cache(cache_root))


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory):
    return str(tmp_path_factory.mktemp("maps-cache"))


def _cells(result: sw.SweepResult, quantity: sw.Quantity | None = None) -> dict:
    data = sw.build_map(dataclasses.replace(result, quantity=quantity) if quantity else result)
    return {(c["n"], c["L"]): c for c in data["cells"]}, data["z_crit"]


def _with_prediction(q: sw.Quantity, name: str, value) -> sw.Quantity:
    """``q`` with one more theory prediction, ``value(n, L)``."""
    return dataclasses.replace(q, predict=lambda n, L: q.predict(n, L) | {name: value(n, L)},
                               predictions=q.predictions + (name,))


@pytest.mark.parametrize("qid", sorted(TINY))
def test_tiny_grid_cells_carry_every_field(qid, cache_root):
    result = _sweep(qid, cache_root)
    data = sw.build_map(result)
    assert len(data["cells"]) == 4 and result.computed == 4
    for cell in data["cells"]:
        assert CELL_FIELDS <= set(cell)
        assert cell["se"] > 0 and math.isfinite(cell["estimate"])
        for name in data["predictions"]:
            assert all(f"{name}.{f}" in cell for f in PREDICTION_FIELDS), (name, cell)
            assert math.isfinite(cell[f"{name}.z"])
    assert set(data["boundary_L_over_n"]) == set(data["predictions"])
    assert data["reads"] and data["statement"]


@pytest.mark.parametrize("activation", ["relu", "tanh", "erf"])
def test_two_input_kernel_doubled_correction_is_rejected_where_the_nlo_kernel_holds(activation, cache_root):
    qid = f"correlations.{activation}.two-input-kernel"
    result = _sweep(qid, cache_root)
    q = result.quantity
    wrong = _with_prediction(q, "doubled δK", lambda n, L: 2 * q.predict(n, L)["1/n-corrected"]
                             - q.predict(n, L)["infinite-width"])
    cells, z_crit = _cells(result, wrong)
    deep = [c for (n, L), c in cells.items() if L > 1]
    assert all(c["1/n-corrected.holds"] for c in cells.values())
    assert all(not c["doubled δK.holds"] for c in deep)
    # one hidden layer: E Ĝ_ab = K_ab exactly, so every prediction agrees there and holds
    assert all(c["infinite-width.holds"] for (n, L), c in cells.items() if L == 1)
    if activation == "relu":  # the infinite-width kernel is rejected at L = 4 already
        assert not any(c["infinite-width.holds"] for c in deep)


def test_relu_derivative_exact_law_holds_and_a_wrong_constant_is_rejected(cache_root):
    result = _sweep("correlations.relu.derivative-second-moment", cache_root)
    wrong = _with_prediction(result.quantity, "(1 + 6/n)^L", lambda n, L: (1 + 6 / n) ** L)
    cells, _ = _cells(result, wrong)
    assert all(c["exact.holds"] and not c["(1 + 6/n)^L.holds"] and not c["infinite-width.holds"]
               for c in cells.values())
    assert not cells[(32, 4)]["1/n.holds"]  # 1 + 5L/n misses the (L/n)² terms


def test_tanh_derivative_leading_order_holds_at_one_layer_and_a_doubled_vertex_is_rejected(cache_root):
    result = _sweep("correlations.tanh.derivative-second-moment", cache_root)
    q = result.quantity
    wrong = _with_prediction(q, "doubled vertex", lambda n, L: 2 * q.predict(n, L)["1/n"] - 1)
    cells, _ = _cells(result, wrong)
    assert all(c["1/n.holds"] and not c["doubled vertex.holds"] for (n, L), c in cells.items() if L == 1)
    assert not any(c["infinite-width.holds"] for c in cells.values())


@pytest.mark.parametrize("init", ["he", "default"])
def test_regions_hanin_rolnick_holds_and_the_bound_as_an_equality_is_rejected(init, cache_root):
    import sympy as sp

    from dltv.theory.regions import hanin_rolnick_bound

    result = _sweep(f"regions.{init}.mean-count", cache_root)
    bound = lambda n, L: float(hanin_rolnick_bound([1] + [n] * L + [1], init, sp.Rational(1, 10)))  # noqa: E731
    cells, _ = _cells(result, _with_prediction(result.quantity, "bound", bound))
    assert all(c["Hanin-Rolnick.holds"] and c["Hanin-Rolnick.prediction_se"] > 0 for c in cells.values())
    assert not any(c["maximum ∏(n_l+1).holds"] for c in cells.values())
    # the bound read as an equality (PyTorch's default init: nearly tight at one hidden layer)
    assert not any(c["bound.holds"] for (n, L), c in cells.items() if init == "he" or L == 2)
    assert not any(c["first layer only.holds"] for (n, L), c in cells.items() if L == 2)
    # both standard errors enter z: the prediction's own SE is not dropped
    c = cells[(8, 2)]
    assert c["Hanin-Rolnick.z"] == pytest.approx(
        (c["estimate"] - c["Hanin-Rolnick.prediction"]) / math.hypot(c["se"], c["Hanin-Rolnick.prediction_se"]))


def test_a_measured_prediction_uses_both_standard_errors_and_can_fail():
    q = sw.Quantity("test.measured", "s", None, lambda n, L: {"theory": 1.0}, ("measured", "theory"), (), (1,), (1,), 2)
    cell = {"n": 1, "L": 1, "estimate": 1.0, "se": 0.3, "budget": 2, "seed": 0,
            "predicted": {"measured": {"value": 2.0, "se": 0.4}}}
    row = sw.build_map(sw.SweepResult(q, (1,), (1,), [cell], 0, 0.0))["cells"][0]
    assert row["measured.z"] == pytest.approx(-2.0) and row["measured.holds"]
    assert row["measured.prediction_se"] == 0.4 and row["theory.prediction_se"] == 0.0
    cell["predicted"]["measured"]["se"] = 0.0  # without the prediction's SE the same cell would reject it
    row = sw.build_map(sw.SweepResult(q, (1,), (1,), [cell], 0, 0.0))["cells"][0]
    assert row["measured.z"] == pytest.approx(-1 / 0.3)
    with pytest.raises(ValueError, match="no value for prediction"):
        sw.build_map(sw.SweepResult(q, (1,), (1,), [dict(cell, predicted={})], 0, 0.0))


def test_bottleneck_tiny_grid_runs_serially(tmp_path):
    quick = dict(gtol=1e-6, restarts=1, screen_iter=5, maxiter=20)
    base = sw.get_quantity("bottleneck.relu.rank-fraction")
    q = dataclasses.replace(base, id="test.bottleneck", measure=functools.partial(sb._measure, training=quick))
    result = sw.run_sweep(q, "6", "2,4", budget=2, workers=0, cache=sw.Cache(tmp_path))
    cells, _ = _cells(result)
    for (n, L), c in cells.items():
        assert 0 <= c["estimate"] <= 1 and all(f"{p}.z" in c for p in base.predictions)
        half = math.ceil(L / 2)
        m = result.cells[[k for k in cells].index((n, L))]["off_rank_at_half_depth"]
        assert c["bounded count (Jacot).prediction"] == pytest.approx(1 - m / L)
        assert c["depth-independent fraction.prediction"] == pytest.approx(1 - m / half)
        assert c["bounded count (Jacot).prediction_se"] * L == pytest.approx(
            c["depth-independent fraction.prediction_se"] * half)


def test_the_report_shows_four_new_maps_by_default():
    shown = {q.id for q in sw.quantities().values() if q.in_report}
    new = shown - {"correlations.relu.fourth-moment", "correlations.tanh.kernel", "correlations.erf.kernel",
                   "correlations.tanh.vertex"}
    assert len(new) >= 4
    assert sum(i.startswith("correlations.") for i in new) >= 2 and any(i.startswith("regions.") for i in new)
    assert all(sw.get_quantity(i).reads for i in new)


def test_two_input_recursion_at_unit_width_scales_to_every_width():
    from dltv.theory.correlations import vertex_recursion

    K, n_dK = sc._two_input_recursion("tanh", 1.0, 0.5, 16)
    direct = vertex_recursion("tanh", 1.0, 0.0, [[1.0, 0.5], [0.5, 1.0]], [24] * 6)
    assert direct["K"][6][0, 1] == pytest.approx(K[6], rel=1e-12)
    assert 24 * direct["dK"][6][0, 1] == pytest.approx(n_dK[6], rel=1e-9)


def test_agreeing_nets_do_not_give_a_zero_standard_error():
    assert sb._mean_se([0.5, 0.5, 0.5], 1 / 4) == (0.5, pytest.approx(1 / 12))
    mean, se = sb._mean_se([0.0, 0.5, 1.0], 1 / 4)
    assert mean == 0.5 and se == pytest.approx(0.5 / math.sqrt(3))
