import numpy as np
import pytest
import sympy as sp

from dltv.theory.activations import activation_names, custom, get_activation, t


def test_required_names():
    for name in ("relu", "leaky_relu", "abs", "linear", "erf", "tanh", "gelu", "silu", "sin"):
        assert name in activation_names()


def test_unknown_activation_names_parameter():
    with pytest.raises(ValueError, match="activation"):
        get_activation("softplusx")


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "abs", "linear", "erf", "tanh", "gelu", "silu", "sin"])
def test_numpy_and_mpmath_agree_with_sympy(name):
    act = get_activation(name)
    xs = np.array([-2.3, -0.4, 0.7, 1.9])
    ref = [float(act.expr.subs(t, sp.Float(x))) for x in xs]
    assert np.allclose(act.numpy(0)(xs), ref, rtol=1e-14, atol=1e-15)
    assert np.allclose([float(act.mpmath(0)(x)) for x in xs], ref, rtol=1e-14, atol=1e-15)
    h = 1e-6
    fd = (act.numpy(0)(xs + h) - act.numpy(0)(xs - h)) / (2 * h)
    assert np.allclose(act.numpy(1)(xs), fd, atol=1e-7)


def test_homogeneous_properties():
    relu = get_activation("relu")
    assert relu.homogeneous == (1, 0) and relu.A2 == sp.Rational(1, 2) and relu.A4 == sp.Rational(1, 2)
    leaky = get_activation("leaky_relu")
    assert leaky.A2 == sp.Rational(101, 200)
    assert get_activation("linear").odd and get_activation("tanh").odd and not relu.odd
    assert get_activation("tanh").taylor(3) == [0, 1, 0, -2]


def test_custom():
    act = custom("x**3/3 + sin(x)")
    assert act.odd and act.smooth
    assert abs(act.numpy(0)(np.array([1.0]))[0] - (1 / 3 + np.sin(1))) < 1e-14
    assert not custom("Abs(y)").smooth
    with pytest.raises(ValueError, match="one variable"):
        custom("x*y")
    with pytest.raises(ValueError):
        custom("x**(")
