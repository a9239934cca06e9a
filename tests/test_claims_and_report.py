"""The claim runner and the report writer, on small hand-made claims."""
import json

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


def test_claim_ids_must_start_with_an_area():
    with pytest.raises(ValueError, match="area"):
        C.claim("kernels.x", source="s", statement="s", seed=1, stochastic=False)


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
                              C.Point("other", 1.0, 1.0, tol=0.0)])

    r = C.run_claim(C.Claim("regions.test.exact-fail", "regions", "test", "4 = 5", seed=1,
                            stochastic=False, measure=measure))
    assert r.verdict == "fail"
    write_report([r], tmp_path)
    entry = json.loads((tmp_path / "results.json").read_text())["claims"][0]
    assert entry["z"] == "inf" and entry["estimate"] == 5.0
