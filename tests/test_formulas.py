"""The formula registry: parameter parsing and the record of which formulas a run evaluated."""
import sympy as sp
import pytest

from dltv.theory import formulas as F


@pytest.mark.parametrize("value, exact", [(0.3, sp.Rational(3, 10)), ("0.3", sp.Rational(3, 10)),
                                          (2.5e-7, sp.Rational(25, 10 ** 8)), (1, sp.Integer(1))])
def test_python_floats_read_like_the_cli(value, exact):
    assert F.check_real("x", value) == exact


def test_numpy_scalars_read_like_floats():
    np = pytest.importorskip("numpy")
    assert F.check_real("x", np.float64(0.3)) == sp.Rational(3, 10)


def test_recording_collects_evaluated_formula_ids():
    f = F.get_formula("correlations.kernel")
    with F.recording_formulas() as used:
        f.evaluate(activation="relu", C_W=2, C_b=0, layer=2, K="1")
    assert used == {"correlations.kernel"}
    with F.recording_formulas() as other:
        pass
    assert other == set()


@pytest.mark.parametrize("bad", [sp.nan, sp.oo, -sp.oo, sp.zoo, float("nan"), float("inf")])
def test_non_finite_values_are_refused_with_the_parameter_name(bad):
    with pytest.raises(ValueError, match="x must be"):
        F.check_real("x", bad)
