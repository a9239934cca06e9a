"""The claim runner and the report writer, on small hand-made claims."""
import json
import math

import numpy as np
import pytest

from dltv.checks import claims as C
from dltv.checks.report import write_report


def _normal_mean_claim(prediction, control, *, crash=False):
    """E[N(0,1)] measured from 10^4 draws; the prediction is given by the test."""

    def measure(ctx):
        if crash:
            raise RuntimeError("measurement broke")
        x = ctx.rng.standard_normal(10_000)
        return C.Measurement([C.Point("N=1e4", prediction, x.mean(), se=x.std(ddof=1) / 100,
                                      control=control, n=10_000)], n=10_000)

    return C.Claim("correlations.test.normal-mean", "correlations", "test", "E N(0,1) = 0",
                   seed=7, stochastic=True, measure=measure)


def test_true_claim_passes_and_rejects_its_control():
    r = C.run_claim(_normal_mean_claim(0.0, 0.2))
    assert r.verdict == "pass" and r.control["rejected"]
    C.assert_result(r)


def test_wrong_prediction_fails_and_report_is_still_written(tmp_path):
    r = C.run_claim(_normal_mean_claim(0.2, 0.0))
    assert r.verdict == "fail"
    with pytest.raises(AssertionError):
        C.assert_result(r)
    write_report([r], tmp_path)
    data = json.loads((tmp_path / "results.json").read_text())
    (entry,) = data["claims"]
    assert entry["verdict"] == "fail" and entry["id"] == "correlations.test.normal-mean"
    for key in ("id", "area", "source", "statement", "verdict", "prediction", "estimate", "se", "z",
                "control", "n", "seed", "seconds"):
        assert key in entry
    assert set(entry["control"]) >= {"prediction", "z", "rejected"}
    assert "fail" in (tmp_path / "index.md").read_text()
    assert "<html" in (tmp_path / "index.html").read_text()


def test_unrejected_control_fails_the_claim():
    r = C.run_claim(_normal_mean_claim(0.0, 0.001))
    assert all(p["pass"] for p in r.points) and not r.control["rejected"]
    assert r.verdict == "fail"


def test_crashing_measurement_is_a_failing_result():
    r = C.run_claim(_normal_mean_claim(0.0, 0.2, crash=True))
    assert r.verdict == "fail" and "measurement broke" in r.error


def test_seed_is_fixed_per_claim_and_shifted_by_run_seed():
    c = _normal_mean_claim(0.0, 0.2)
    a, b = C.run_claim(c), C.run_claim(c)
    assert a.points[0]["estimate"] == b.points[0]["estimate"]
    assert C.run_claim(c, run_seed=3).points[0]["estimate"] != a.points[0]["estimate"]


def test_point_needs_exactly_one_of_se_and_tol():
    with pytest.raises(ValueError, match="exactly one"):
        C.Point("x", 1.0, 1.0)
    with pytest.raises(ValueError, match="exactly one"):
        C.Point("x", 1.0, 1.0, se=0.1, tol=0.1)


def test_failed_write_keeps_the_previous_report(tmp_path, monkeypatch):
    good = C.run_claim(_normal_mean_claim(0.0, 0.2))
    write_report([good], tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}

    import dltv.checks.report as report

    def broken(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(report, "build_html", broken)
    with pytest.raises(OSError):
        write_report([C.run_claim(_normal_mean_claim(0.2, 0.0))], tmp_path)
    assert (tmp_path / "index.html").read_bytes() == before["index.html"]
    assert not list(tmp_path.glob(".*.tmp"))


def test_figures_are_embedded_and_written(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def measure(ctx):
        fig, ax = plt.subplots()
        ax.plot(np.arange(3))
        return C.Measurement([C.Point("exact", 1.0, 1.0, tol=0.0, control=2.0)], figures={"line": fig})

    c = C.Claim("regions.test.figure", "regions", "test", "1 = 1", seed=1, stochastic=False, measure=measure)
    r = C.run_claim(c)
    assert r.verdict == "pass"
    write_report([r], tmp_path)
    pngs = list((tmp_path / "figures").glob("*.png"))
    assert len(pngs) == 1 and pngs[0].read_bytes()[:4] == b"\x89PNG"
    assert "data:image/png;base64," in (tmp_path / "index.html").read_text()


@pytest.mark.parametrize("bad", ["kernels", "Kernels.x", ".x", "kernels..x", "kernels x.y", 3])
def test_claim_ids_must_look_like_area_topic_name(bad):
    with pytest.raises(ValueError, match="area"):
        C.claim(bad, source="s", statement="s", seed=1, stochastic=False)


def test_claims_of_ones_own_area_are_accepted():
    register = C.claim("mylab.kernels.x", source="s", statement="s", seed=1, stochastic=False)
    assert callable(register)  # not registered until applied to a measure function


def test_exact_points_with_infinite_control_z():
    """tol=0 controls give z = ±inf; several of them must still be compared and reported."""

    def measure(ctx):
        return C.Measurement([C.Point(f"count {i}", 4.0, 4.0, tol=0.0, control=5.0 + i) for i in range(3)])

    r = C.run_claim(C.Claim("regions.test.exact", "regions", "test", "4 = 4", seed=1,
                            stochastic=False, measure=measure))
    assert r.verdict == "pass" and r.control["rejected"] and r.control["z"] == "-inf"


def test_failing_exact_point_is_reported(tmp_path):
    """An exact point that fails has z = ±inf; the report must still be written and name it."""

    def measure(ctx):
        return C.Measurement([C.Point("count", 4.0, 5.0, tol=0.0, control=5.0),
                              C.Point("other", 1.0, 1.0, tol=0.0, control=2.0)])

    r = C.run_claim(C.Claim("regions.test.exact-fail", "regions", "test", "4 = 5", seed=1,
                            stochastic=False, measure=measure))
    assert r.verdict == "fail"
    write_report([r], tmp_path)
    entry = json.loads((tmp_path / "results.json").read_text())["claims"][0]
    assert entry["z"] == "inf" and entry["estimate"] == 5.0


def _claim_of(points, stochastic=True):
    return C.Claim("correlations.test.points", "correlations", "test", "points", seed=1,
                   stochastic=stochastic, measure=lambda ctx: C.Measurement(list(points)))


def test_every_point_needs_a_control():
    with pytest.raises(ValueError, match="negative control"):
        C.Point("x", 1.0, 1.0, se=0.1)


@pytest.mark.parametrize("field", ["prediction", "estimate", "se", "control", "slack"])
@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_non_finite_numbers_are_refused(field, bad):
    kwargs = dict(prediction=1.0, estimate=1.0, se=0.1, control=2.0, slack=0.0) | {field: bad}
    with pytest.raises(ValueError, match=f"{field} must be finite"):
        C.Point("x", **kwargs)


def test_infinite_se_cannot_pass_through_another_points_control():
    """A point with estimate 1e9 and se=inf must not pass because another point rejects its control."""
    def measure(ctx):
        return C.Measurement([C.Point("good", 0.0, 0.0, se=1.0, control=100.0),
                              C.Point("huge", 1.0, 1e9, se=math.inf, control=2.0)])

    r = C.run_claim(C.Claim("correlations.test.inf", "correlations", "test", "x", seed=1,
                            stochastic=True, measure=measure))
    assert r.verdict == "fail" and "finite" in r.error


def test_claim_fails_when_any_points_control_is_kept():
    pts = [C.Point("sharp", 0.0, 0.0, se=1.0, control=100.0),
           C.Point("blunt", 0.0, 0.0, se=1.0, control=0.5)]
    r = C.run_claim(_claim_of(pts))
    assert all(p["pass"] for p in r.points)
    assert r.verdict == "fail" and not r.control["rejected"]
    assert r.control["label"] == "blunt" and r.control["n_rejected"] == 1
    with pytest.raises(AssertionError, match="not rejected at 1 points"):
        C.assert_result(r)


def test_resolution_is_stated_per_point_and_worst_per_claim():
    pts = [C.Point("rel", 2.0, 2.0, se=0.01, control=3.0, target=0.1),
           C.Point("zero", 0.0, 0.0, se=0.01, control=3.0)]
    r = C.run_claim(_claim_of(pts))
    z = r.points[0]["threshold"]
    assert r.points[0]["resolution"] == pytest.approx(z * 0.01 / 2.0)
    assert r.points[0]["resolution_kind"] == "relative" and r.points[0]["target_met"]
    assert r.points[1]["resolution"] == pytest.approx(z * 0.01)
    assert r.points[1]["resolution_kind"] == "absolute"
    entry = r.to_json()
    assert entry["resolution"] == pytest.approx(z * 0.01 / 2.0) and entry["resolution_kind"] == "relative"
    assert entry["targets_met"] is True and entry["n_points"] == 2


def test_deterministic_resolution_uses_tol_and_slack():
    r = C.run_claim(_claim_of([C.Point("bound", 10.0, 9.0, tol=0.5, slack=0.5, rule="le", control=5.0)],
                              stochastic=False))
    assert r.verdict == "pass"
    assert r.points[0]["resolution"] == pytest.approx(0.1)
    assert r.points[0]["score"] == pytest.approx(-1.0)  # the bound holds with one allowance to spare
    assert r.points[0]["control"]["margin"] == pytest.approx(4.0)


def test_perturbing_a_prediction_by_more_than_its_resolution_fails():
    def claim_with(prediction):
        def measure(ctx):
            x = 1.0 + ctx.rng.standard_normal(40_000)
            return C.Measurement([C.Point("mean", prediction, x.mean(), se=x.std(ddof=1) / 200,
                                          control=0.0)])
        return C.Claim("correlations.test.perturb", "correlations", "test", "E = 1", seed=3,
                       stochastic=True, measure=measure)

    base = C.run_claim(claim_with(1.0))
    res = base.points[0]["resolution"]
    assert base.verdict == "pass"
    assert C.run_claim(claim_with(1.0 * (1 + 2.5 * res))).verdict == "fail"


class _TagBalance:
    """Open/close tag check of an HTML page with the standard-library parser."""

    VOID = {"meta", "img", "br", "hr", "link", "input", "col", "area", "base", "source", "wbr",
            "mspace", "none", "mprescripts"}

    def __init__(self, text):
        from html.parser import HTMLParser

        self.stack, self.errors = [], []
        outer = self

        class P(HTMLParser):
            def handle_starttag(self, tag, attrs):
                if tag not in outer.VOID:
                    outer.stack.append(tag)

            def handle_startendtag(self, tag, attrs):
                pass

            def handle_endtag(self, tag):
                if not outer.stack or outer.stack[-1] != tag:
                    outer.errors.append((tag, list(outer.stack[-3:])))
                else:
                    outer.stack.pop()

        P(convert_charrefs=True).feed(text)


def test_html_report_is_well_formed_with_markup_in_symbol_names(tmp_path):
    import sympy as sp

    def measure(ctx):
        return C.Measurement([C.Point("a<b & c", 1.0, 1.0, tol=0.0, control=2.0)], notes="x < y")

    c = C.Claim("regions.test.markup", "regions", "test", "<b>not bold</b>", seed=1, stochastic=False,
                measure=measure, formula=lambda: sp.Eq(sp.Symbol("<relu_a relu_b>"), sp.Symbol("K_ab")))
    write_report([C.run_claim(c)], tmp_path)
    page = (tmp_path / "index.html").read_text()
    check = _TagBalance(page)
    assert not check.errors and check.stack == [], (check.errors, check.stack)
    assert "&lt;b&gt;not bold" in page and "<relu_a" not in page


def test_report_files_are_world_readable(tmp_path):
    write_report([C.run_claim(_normal_mean_claim(0.0, 0.2))], tmp_path)
    for name in ("index.html", "index.md", "results.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644


def test_formula_coverage_counts_formulas_evaluated_inside_claims():
    from dltv.checks.report import formula_coverage
    from dltv.theory.formulas import all_formulas, get_formula

    def measure(ctx):
        value = float(get_formula("bottleneck.linear_cost").evaluate(s="4", L=2))  # 2·4^(2/2) = 8
        return C.Measurement([C.Point("R(4;2)", 8.0, value, tol=1e-12, control=4.0)])

    r = C.run_claim(C.Claim("bottleneck.test.cost", "bottleneck", "test", "R = 8", seed=1,
                            stochastic=False, measure=measure))
    assert r.verdict == "pass" and r.formulas == {"bottleneck.linear_cost"}
    cov = formula_coverage([r])
    assert cov["checked"] == ["bottleneck.linear_cost"]
    assert set(cov["unchecked"]) == set(all_formulas()) - {"bottleneck.linear_cost"}
    assert r.to_json()["formulas"] == ["bottleneck.linear_cost"]
