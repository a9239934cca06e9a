"""dltv, the deep-learning theory verifier.

Published results about neural networks as exact symbolic statements
(:mod:`dltv.theory`), the same quantities measured on real networks
(:mod:`dltv.numerics`), and the comparison of the two with honest statistics
(:mod:`dltv.checks`).

>>> import dltv
>>> dltv.get_formula("correlations.kernel").evaluate(activation="relu", layer=2, K=1)  # doctest: +SKIP
"""
from __future__ import annotations

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("dltv")
except _metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = ["__version__", "AREAS", "get_formula", "all_formulas", "load_claims", "run_claim"]

#: the areas, in report order; each has theory/, numerics/ and checks/ modules of this name
AREAS = ("correlations", "covering", "allocation", "regions", "bottleneck")


def __getattr__(name):
    # Entry points load lazily: ``import dltv`` stays cheap (no sympy, no torch).
    if name in ("get_formula", "all_formulas"):
        from dltv.theory import formulas

        return getattr(formulas, name)
    if name in ("load_claims", "run_claim"):
        from dltv.checks import claims

        return getattr(claims, name)
    raise AttributeError(f"module 'dltv' has no attribute {name!r}")
