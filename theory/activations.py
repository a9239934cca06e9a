"""Activation functions as named objects: a sympy expression in ``t`` plus its properties.

Every Gaussian expectation in :mod:`dltv.theory.gaussian` and every recursion in
:mod:`dltv.theory.correlations` dispatches on these properties (never on the name):

* ``homogeneous = (a_plus, a_minus)``: sigma(t) = a_plus*t for t>0, a_minus*t for t<0
  (ReLU, leaky ReLU, abs, linear) -> arc-cosine closed forms;
* ``family``: ``"homogeneous"``, ``"erf"``, ``"sin"``, ``"gelu"`` (closed two-input forms exist) or
  ``"generic"`` (quadrature; the Mehler series at 30 digits);
* ``odd``, ``smooth`` (C-infinity on R; needed for Price-theorem derivatives by quadrature).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import mpmath
import numpy as np
import scipy.special
import sympy as sp

t = sp.Symbol("t", real=True)

_NUMPY_MODULES = [{"erf": scipy.special.erf, "Heaviside": lambda x, h=0.5: np.heaviside(x, h)},
                  "numpy"]


@dataclass(frozen=True, eq=False)
class Activation:
    """A named activation sigma(t) (``expr`` is a sympy expression in :data:`t`)."""

    name: str
    expr: sp.Expr
    family: str = "generic"
    homogeneous: tuple | None = None  # (a_plus, a_minus) as sympy Rationals
    odd: bool = False
    smooth: bool = True
    doc: str = ""
    _cache: dict = field(default_factory=dict, repr=False)

    # ---------------------------------------------------------------- symbolic
    def derivative(self, order: int = 1) -> sp.Expr:
        """d^order sigma / dt^order (for homogeneous sigma: away from t=0)."""
        if self.homogeneous is not None:
            ap, am = self.homogeneous
            if order == 0:
                return self.expr
            if order == 1:
                return sp.Piecewise((ap, t > 0), (am, True))
            return sp.Integer(0)
        return sp.diff(self.expr, t, order)

    @property
    def A2(self):
        """A_2 = (a_+^2 + a_-^2)/2 = <sigma^2>_K / K (homogeneous class)."""
        ap, am = self._require_homogeneous()
        return (ap**2 + am**2) / 2

    @property
    def A4(self):
        """A_4 = (a_+^4 + a_-^4)/2 = <sigma^4>_K / (3K^2) (homogeneous class)."""
        ap, am = self._require_homogeneous()
        return (ap**4 + am**4) / 2

    def taylor(self, order: int = 3) -> list:
        """[sigma(0), sigma_1, ..., sigma_order]: Taylor coefficients sigma^(j)(0) (smooth sigma)."""
        if not self.smooth:
            raise ValueError(f"activation {self.name!r} is not smooth at 0")
        return [sp.simplify(sp.diff(self.expr, t, j).subs(t, 0)) for j in range(order + 1)]

    def _require_homogeneous(self):
        if self.homogeneous is None:
            raise ValueError(f"activation must be positively homogeneous "
                             f"(relu, leaky_relu, abs, linear); got {self.name!r}")
        return self.homogeneous

    # ---------------------------------------------------------------- numeric
    def numpy(self, order: int = 0):
        """Vectorised float64 evaluator of sigma^(order) (``order`` <= 4)."""
        key = ("np", order)
        if key not in self._cache:
            if self.homogeneous is not None:
                ap, am = (float(a) for a in self.homogeneous)
                if order == 0:
                    fn = lambda x: np.where(x > 0, ap * x, am * x)  # noqa: E731
                elif order == 1:
                    fn = lambda x: np.where(x > 0, ap, am) + 0.0 * x  # noqa: E731
                else:
                    fn = lambda x: 0.0 * np.asarray(x, dtype=float)  # noqa: E731
            else:
                expr = self.derivative(order)
                raw = sp.lambdify(t, expr, modules=_NUMPY_MODULES)
                fn = (lambda x, _r=raw: np.asarray(_r(x), dtype=float) + 0.0 * x)
            self._cache[key] = fn
        return self._cache[key]

    def mpmath(self, order: int = 0):
        """mpmath evaluator of sigma^(order) (works at the current mpmath precision)."""
        key = ("mp", order)
        if key not in self._cache:
            if self.homogeneous is not None:
                (pp, pq), (mp_, mq) = ((sp.Rational(a).p, sp.Rational(a).q) for a in self.homogeneous)
                if order == 0:
                    fn = lambda x: pp * x / pq if x > 0 else mp_ * x / mq  # noqa: E731
                elif order == 1:
                    fn = lambda x: mpmath.mpf(pp) / pq if x > 0 else mpmath.mpf(mp_) / mq  # noqa: E731
                else:
                    fn = lambda x: mpmath.mpf(0)  # noqa: E731
            else:
                fn = sp.lambdify(t, self.derivative(order), modules="mpmath")
            self._cache[key] = fn
        return self._cache[key]

    def mpmath_derivatives(self, max_order: int = 4):
        """mpmath evaluator t -> (sigma(t), sigma'(t), ..., sigma^(max_order)(t)) in one call.

        Smooth activations share subexpressions between orders (sympy ``cse``): tanh's derivatives
        are polynomials in one tanh(t), silu's in one exp(-t).
        """
        key = ("mp_all", max_order)
        if key not in self._cache:
            if self.homogeneous is not None:
                fns = [self.mpmath(d) for d in range(max_order + 1)]
                fn = lambda x: tuple(f(x) for f in fns)  # noqa: E731
            else:
                exprs = [self.derivative(d) for d in range(max_order + 1)]
                fn = sp.lambdify(t, exprs, modules="mpmath", cse=True)
            self._cache[key] = fn
        return self._cache[key]

    def __repr__(self):
        return f"Activation({self.name!r}, {self.expr})"


def _homogeneous(name, ap, am, doc):
    ap, am = sp.Rational(ap), sp.Rational(am)
    expr = sp.Piecewise((ap * t, t > 0), (am * t, True))
    return Activation(name, expr, "homogeneous", (ap, am), odd=(ap == am),
                      smooth=(ap == am), doc=doc)


_REGISTRY = {
    "relu": _homogeneous("relu", 1, 0, "max(t, 0)"),
    "leaky_relu": _homogeneous("leaky_relu", 1, sp.Rational(1, 10), "t for t>0, t/10 for t<0"),
    "abs": _homogeneous("abs", 1, -1, "|t|"),
    "linear": _homogeneous("linear", 1, 1, "t"),
    "erf": Activation("erf", sp.erf(t), "erf", odd=True, doc="erf(t)"),
    "tanh": Activation("tanh", sp.tanh(t), odd=True, doc="tanh(t)"),
    "gelu": Activation("gelu", t * (1 + sp.erf(t / sp.sqrt(2))) / 2, "gelu", doc="t*Phi(t) (exact GELU)"),
    "silu": Activation("silu", t / (1 + sp.exp(-t)), doc="t*sigmoid(t)"),
    "sin": Activation("sin", sp.sin(t), "sin", odd=True, doc="sin(t)"),
}


def activation_names() -> tuple[str, ...]:
    """Names accepted by :func:`get_activation`."""
    return tuple(_REGISTRY)


def get_activation(name) -> Activation:
    """The activation called ``name`` (an :class:`Activation` is returned unchanged)."""
    if isinstance(name, Activation):
        return name
    if name not in _REGISTRY:
        raise ValueError(f"activation must be one of {', '.join(_REGISTRY)}; got {name!r}")
    return _REGISTRY[name]


_KINKS = (sp.Abs, sp.Max, sp.Min, sp.Heaviside, sp.Piecewise, sp.sign)


def custom(expr, name: str | None = None) -> Activation:
    """An activation from a user's sympy expression (or text) in one variable.

    Kinked expressions (Abs, Max, Piecewise, ...) are marked non-smooth: their
    1/n recursions need Price derivatives and are refused; kernels use quadrature.
    """
    if isinstance(expr, str):
        try:
            expr = sp.sympify(expr)
        except (sp.SympifyError, SyntaxError, TypeError):
            raise ValueError(f"activation expression could not be parsed: {expr!r}") from None
    if not isinstance(expr, sp.Basic):
        raise ValueError(f"activation must be a sympy expression in one variable, got {expr!r}")
    free = sorted(expr.free_symbols, key=str)
    if len(free) > 1:
        raise ValueError(f"activation expression must have one variable, got {free}")
    if free:
        expr = expr.subs(free[0], t)
    smooth = not any(expr.has(k) for k in _KINKS)
    odd = sp.simplify(expr + expr.subs(t, -t)) == 0
    return Activation(name or f"custom:{sp.sstr(expr)}", expr, "generic", odd=bool(odd),
                      smooth=smooth, doc="user expression")
