"""The agreement rule and the suite-wide false-alarm budget."""
import math

import pytest
from hypothesis import given, strategies as st
from scipy.stats import norm

from dltv.checks import stats


def test_z_critical_is_two_sided_normal_quantile():
    assert stats.z_critical(0.05) == pytest.approx(1.959963984540054, rel=1e-12)
    assert 2 * norm.sf(stats.z_critical(1e-6)) == pytest.approx(1e-6, rel=1e-9)


@pytest.mark.parametrize("alpha", [0, 1, -0.1, 2])
def test_z_critical_rejects_bad_alpha(alpha):
    with pytest.raises(ValueError, match="alpha"):
        stats.z_critical(alpha)


def test_budget_is_split_over_claims_and_points():
    assert stats.point_alpha(10, 4) == pytest.approx(stats.SUITE_ALPHA / 40)


@given(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6), st.floats(1e-6, 1e3))
def test_rule_is_symmetric_and_scaled(est, pred, se):
    ok, z = stats.agrees(est, pred, se, 3.0)
    ok2, z2 = stats.agrees(pred, est, se, 3.0)
    assert ok == ok2 and z == pytest.approx(-z2)
    assert ok == (abs(est - pred) <= 3.0 * se)


def test_one_sided_rules_and_slack():
    assert stats.agrees(1.0, 2.0, 0.1, 1.0, "le")[0]
    assert not stats.agrees(2.5, 2.0, 0.1, 1.0, "le")[0]
    assert stats.agrees(2.5, 2.0, 0.1, 1.0, "ge")[0]
    assert not stats.agrees(1.0, 2.0, 0.1, 1.0, "ge")[0]
    assert stats.agrees(1.25, 1.0, 0.1, 1.0, slack=0.2)[0]
    with pytest.raises(ValueError, match="rule"):
        stats.agrees(1.0, 1.0, 1.0, 1.0, "approx")


def test_exact_tolerance_zero_and_nan():
    assert stats.agrees(3.0, 3.0, 0.0, 1.0) == (True, 0.0)
    ok, z = stats.agrees(3.0, 4.0, 0.0, 1.0)
    assert not ok and z == -math.inf
    assert not stats.agrees(math.nan, 1.0, 1.0, 1.0)[0]
