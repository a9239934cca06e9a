"""One-pass compiled kernel of the collapsed sampler's hot layer step (numba).

For two inputs and a positively homogeneous sigma the torch layer step (the 2 x 2 Cholesky, the
transform of the noise, sigma in place, a batched Gram product) makes five passes over the layer's
noise; :func:`homogeneous_metric_2x2` makes one, reading each pair of normals once while they are
still in cache.  ``dltv bench`` (the collapsed sampler row) measures what that buys against the
time of drawing the same normals.  Imported lazily by :mod:`dltv.numerics.correlations`, so that
only the samplers pay numba's import and (cached) compilation.
"""
from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, fastmath={"reassoc"})
def _metric_2x2(eps, g, out, a, b, C_W, C_b, rtol):  # pragma: no cover - compiled
    N, _, n = eps.shape
    scale = C_W / n
    for c in range(N):
        g00, g10, g11 = g[c, 0, 0], g[c, 1, 0], g[c, 1, 1]
        tol = max(g00, g11) * rtol
        s00 = math.sqrt(g00) if g00 > tol else 0.0
        s10 = g10 / s00 if g00 > tol else 0.0
        v = g11 - s10 * s10
        s11 = math.sqrt(v) if v > tol else 0.0
        p00 = p01 = p11 = 0.0
        for i in range(n):
            z0 = s00 * eps[c, 0, i]
            z1 = s11 * eps[c, 1, i] + s10 * eps[c, 0, i]
            f0 = a * max(z0, 0.0) + b * min(z0, 0.0)
            f1 = a * max(z1, 0.0) + b * min(z1, 0.0)
            p00 += f0 * f0
            p01 += f0 * f1
            p11 += f1 * f1
        out[c, 0, 0] = p00 * scale + C_b
        out[c, 0, 1] = out[c, 1, 0] = p01 * scale + C_b
        out[c, 1, 1] = p11 * scale + C_b


def homogeneous_metric_2x2(eps: np.ndarray, g: np.ndarray, slopes: tuple[float, float], C_W: float,
                           C_b: float, out: np.ndarray, rtol: float = 1e-12) -> np.ndarray:
    """Next layer's metric of two inputs from the standard normals of one layer, in one pass.

    For each network c: S = cholesky_2x2(g[c]) (the same rules: a column whose residual variance is
    <= rtol x max diagonal is 0), z_i = S (eps[c, 0, i], eps[c, 1, i]), and

        out[c] = C_b + (C_W / n) sum_i sigma(z_i) sigma(z_i)^T,   sigma(z) = a z_+ - b z_-,

    with (a, b) = ``slopes`` (:data:`dltv.numerics.correlations.HOMOGENEOUS_SLOPES`).  The same law
    as the torch step (``_rows_with_covariance_`` then ``_next_metric``); the sums over neurons are
    accumulated in a different order, so results agree to rounding, not bit for bit.

    eps (N, 2, n), g and out (N, 2, 2): C-contiguous float64 arrays; returns ``out``.
    """
    a, b = slopes
    # sigma(z) = a z_+ - b z_- = a max(z, 0) + b min(z, 0)
    _metric_2x2(eps, g, out, float(a), float(b), float(C_W), float(C_b), float(rtol))
    return out
