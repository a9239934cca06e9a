"""Calibration statistics: they must see inflated and understated SEs, not only failures."""
import numpy as np
import pytest

from dltv.checks import calibrate as cal


def _runs(z_scale, n_runs=40, n_points=10, seed=0):
    rng = np.random.default_rng(seed)
    return [{"claim": "c", "seed": s, "verdict": "pass", "error": None, "points_fail": False,
             "controls_kept": 0, "z": list(z_scale * rng.standard_normal(n_points)),
             "margins": [5.0, 3.0], "seconds": 0.1} for s in range(n_runs)]


def test_right_ses_calibrate_clean():
    row = cal.summarise("c", _runs(1.0), share=1e-5)
    assert row["z_rms"] == pytest.approx(1.0, abs=0.1) and row["ks_p"] > 1e-3
    assert row["fail_rate"] == 0 and row["control_pass_rate"] == 0 and row["min_control_margin"] == 3.0


@pytest.mark.parametrize("scale", [0.5, 2.0])
def test_inflated_or_understated_ses_are_visible(scale):
    """Doubled SEs halve z: no failures, but the RMS and the KS test show it."""
    row = cal.summarise("c", _runs(scale), share=1e-5)
    assert row["z_rms"] == pytest.approx(scale, rel=0.15) and row["ks_p"] < 1e-6


def test_kept_controls_and_errors_count_against_power():
    runs = _runs(1.0, n_runs=4)
    runs[0]["controls_kept"] = 2
    runs[1]["error"] = "boom"
    row = cal.summarise("c", runs, share=1e-5)
    assert row["control_pass_rate"] == 0.5 and row["errors"] == 1 and row["fail_rate"] == 0.25


@pytest.mark.parametrize("kw", [{"runs": 0}, {"runs": 1.5}, {"runs": 2, "jobs": 0}])
def test_bad_runs_and_jobs_are_refused(kw):
    with pytest.raises(ValueError, match="runs|jobs"):
        cal.calibrate([], **kw)
