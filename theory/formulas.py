"""Named formulas: every encoded result reachable by a stable dotted id.

A :class:`Formula` couples a symbolic statement (for ``dltv formula show``) with
an exact evaluator (for ``dltv formula eval`` and for the checks).  Parameters are
declared with :class:`Param`, which parses command-line text and validates
Python values with one clear ``ValueError`` naming the parameter.

Area modules register their formulas at import with :func:`formula`;
:func:`all_formulas` imports every area so the registry is complete.
"""
from __future__ import annotations

import contextlib
import importlib
import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable, Sequence

import sympy as sp

from dltv import AREAS  # re-exported as dltv.theory.formulas.AREAS


# --------------------------------------------------------------------------- validation
def _number(name: str, value: Any) -> sp.Rational | sp.Float | sp.Expr:
    """Convert ``value`` to an exact sympy number; '1/2', '0.3' and 0.3 become rationals.

    A Python float is read as the shortest decimal that rounds to it (``repr``), the
    way the CLI reads the same text: 0.3 is 3/10 from Python and from ``dltv formula
    eval``, not the binary expansion 5404319552844595/18014398509481984.
    """
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if isinstance(value, str):
        text = value.strip()
        try:
            return sp.Rational(Fraction(text))
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"{name} must be a number like 2, 1/2 or 0.25, got {value!r}") from None
    if isinstance(value, (int, Fraction)):
        return sp.Rational(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value!r}")
        return sp.Rational(Fraction(repr(float(value))))
    if isinstance(value, sp.Basic):
        if value.is_number and value.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
            raise ValueError(f"{name} must be a finite real number, got {value!r}")
        if value.is_number and value.is_finite is not False and value.is_real is not False:
            return value
        if not value.is_number:
            return value  # symbolic parameter: the caller wants the general expression
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    try:  # numpy scalars and similar
        return _number(name, float(value))
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None


def check_real(name: str, value: Any, low=None, high=None, *, low_open=False, high_open=False):
    """Return ``value`` as an exact sympy number inside the stated range, else ``ValueError``."""
    x = _number(name, value)
    if not x.is_number:
        return x
    lo_ok = low is None or (x > low if low_open else x >= low)
    hi_ok = high is None or (x < high if high_open else x <= high)
    if not (lo_ok and hi_ok):
        lb = "(" if low_open or low is None else "["
        rb = ")" if high_open or high is None else "]"
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise ValueError(f"{name} must lie in {lb}{lo}, {hi}{rb}, got {value!r}")
    return x


def check_positive(name: str, value: Any):
    """A real number > 0."""
    return check_real(name, value, 0, low_open=True)


def check_nonnegative(name: str, value: Any):
    """A real number >= 0."""
    return check_real(name, value, 0)


def check_int(name: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    """An integer (also given as text or an integral sympy number) in [low, high]."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise ValueError(f"{name} must be an integer, got {value!r}") from None
    elif isinstance(value, float) or isinstance(value, sp.Basic):
        if not (value == int(value) if _finite(value) else False):
            raise ValueError(f"{name} must be an integer, got {value!r}")
        value = int(value)
    elif not isinstance(value, int):
        try:
            if value != int(value):
                raise ValueError
            value = int(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be an integer, got {value!r}") from None
    if (low is not None and value < low) or (high is not None and value > high):
        rng = f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]"
        raise ValueError(f"{name} must be an integer in {rng}, got {value}")
    return value


def _finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """One of ``choices`` (case-sensitive)."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


def split_list(name: str, value: Any) -> list:
    """A comma-separated string or a sequence, as a non-empty list of items."""
    items = [s for s in value.split(",")] if isinstance(value, str) else list(value)
    if not items or any(isinstance(s, str) and not s.strip() for s in items):
        raise ValueError(f"{name} must be a non-empty comma list, got {value!r}")
    return items


# --------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class Param:
    """One named formula parameter.

    kind: ``"int"``, ``"real"``, ``"ints"`` / ``"reals"`` (comma lists) or ``"choice"``.
    ``low``/``high`` bound each number; ``choices`` lists the names for ``"choice"``.
    """

    name: str
    kind: str
    doc: str
    low: Any = None
    high: Any = None
    low_open: bool = False
    choices: tuple[str, ...] | Callable[[], Sequence[str]] = ()
    default: Any = None

    def parse(self, value: Any):
        if self.kind == "int":
            return check_int(self.name, value, self.low, self.high)
        if self.kind == "real":
            return check_real(self.name, value, self.low, self.high, low_open=self.low_open)
        if self.kind == "ints":
            return [check_int(self.name, v, self.low, self.high) for v in split_list(self.name, value)]
        if self.kind == "reals":
            return [check_real(self.name, v, self.low, self.high, low_open=self.low_open)
                    for v in split_list(self.name, value)]
        if self.kind == "choice":
            choices = self.choices() if callable(self.choices) else self.choices
            return check_choice(self.name, value, tuple(choices))
        raise ValueError(f"unknown parameter kind {self.kind!r} for {self.name}")


@dataclass(frozen=True)
class Formula:
    """A named, evaluable result.

    ``evaluate(**params)`` returns a sympy number or a dict of them (exact where
    possible); ``symbolic()`` returns the general statement (a sympy expression,
    ``Eq`` or dict of them) shown by ``dltv formula show``.
    """

    id: str
    source: str
    statement: str
    params: tuple[Param, ...]
    evaluate_fn: Callable[..., Any] = field(repr=False)
    symbolic: Callable[[], Any] = field(repr=False)

    def expressions(self) -> dict[str, Any]:
        """The general statement as {name: sympy expression} ('' for a single one)."""
        expr = self.symbolic()
        return dict(expr) if isinstance(expr, dict) else {"": expr}

    def latex(self) -> str:
        """The statement in LaTeX (several expressions joined by line breaks)."""
        return r" \\ ".join((rf"\text{{{k}}}:\ " if k else "") + sp.latex(e)
                             for k, e in self.expressions().items())

    def mathml(self) -> str:
        """The statement as presentation MathML, one ``<math>`` element per expression."""
        return "\n".join(f'<math display="block">{sp.mathml(markup_safe(e), printer="presentation")}</math>'
                         for e in self.expressions().values())

    def _repr_latex_(self) -> str:  # Jupyter renders the formula
        return f"$\\displaystyle {self.latex()}$"

    def evaluate(self, **raw):
        known = {p.name: p for p in self.params}
        unknown = sorted(set(raw) - set(known))
        if unknown:
            raise ValueError(f"unknown parameter {unknown[0]!r} for {self.id}; "
                             f"expected {', '.join(known)}")
        values = {}
        for p in self.params:
            if p.name in raw:
                values[p.name] = p.parse(raw[p.name])
            elif p.default is not None:
                values[p.name] = p.parse(p.default)
            else:
                raise ValueError(f"missing parameter {p.name!r} for {self.id} ({p.doc})")
        for used in _RECORDERS:
            used.add(self.id)
        return self.evaluate_fn(**values)


_MARKUP_UNSAFE = str.maketrans({"<": "⟨", ">": "⟩", "&": "＆"})


def markup_safe(expr):
    """``expr`` with symbol names that would break markup (``<relu_a relu_b>``) spelt with ⟨ ⟩.

    sympy's MathML printer pastes symbol names into the markup unescaped.
    """
    if not isinstance(expr, sp.Basic):
        return expr
    swap = {s: sp.Symbol(s.name.translate(_MARKUP_UNSAFE), **s.assumptions0)
            for s in expr.atoms(sp.Symbol) if s.name != s.name.translate(_MARKUP_UNSAFE)}
    return expr.xreplace(swap) if swap else expr


_REGISTRY: dict[str, Formula] = {}
_RECORDERS: list[set[str]] = []


@contextlib.contextmanager
def recording_formulas():
    """Collect the ids of the registered formulas evaluated inside the block."""
    used: set[str] = set()
    _RECORDERS.append(used)
    try:
        yield used
    finally:
        _RECORDERS.remove(used)


def formula(id: str, *, source: str, statement: str, params: Sequence[Param],
            symbolic: Callable[[], Any]):
    """Decorator registering ``fn(**params)`` as formula ``id``; returns ``fn`` unchanged."""

    def register(fn):
        if id in _REGISTRY:
            raise RuntimeError(f"formula id {id!r} registered twice")
        _REGISTRY[id] = Formula(id, source, statement, tuple(params), fn, symbolic)
        return fn

    return register


def all_formulas() -> dict[str, Formula]:
    """Every registered formula, by id (imports all area modules that exist)."""
    for area in AREAS:
        try:
            importlib.import_module(f"dltv.theory.{area}")
        except ModuleNotFoundError as err:
            if err.name != f"dltv.theory.{area}":
                raise
    return dict(sorted(_REGISTRY.items()))


def get_formula(id: str) -> Formula:
    """The formula ``id``; ``ValueError`` naming the id when unknown."""
    formulas = all_formulas()
    if id not in formulas:
        raise ValueError(f"unknown formula id {id!r}; see `dltv formula list`")
    return formulas[id]


def to_float(value) -> float:
    """A sympy/mpmath/python number as float64 (evaluated at 30 digits first)."""
    if isinstance(value, sp.Basic):
        return float(sp.N(value, 30))
    return float(value)
