"""The exact partition of a planar box into the linear regions of a piecewise-linear network.

For a network with 2-d input and ReLU / LeakyReLU / identity hidden layers, every activation
pattern holds on a convex polygon (the pattern fixes each pre-activation as an affine function
of x, and the pattern's set is cut out by their signs).  The partition is built layer by layer,
in the spirit of SplineCam (Humayun et al., CVPR 2023) but exactly: each region of layer l
carries its polygon and the affine pre-activations of layer l+1 on it; every neuron whose zero
line crosses the polygon splits it (Sutherland-Hodgman for one line); the pieces get the
pattern's new affine map.

Exactness (derived): float64 weights are dyadic rationals, so layer l is W_l = Wi_l / D_l with
integer Wi_l; the pre-activations of a region are N(x) / S_l with integer numerators N and one
positive integer scale S_l per layer.  Points are homogeneous integer triples (X, Y, H), H > 0,
and every vertex is the cross product of two integer lines (a neuron's zero line or a box edge),
so its size never grows beyond twice a line's; every sign test is an integer dot product.
Nothing is rounded: the count is exact for the float64 network as stored.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Sequence

import numpy as np

from dltv.numerics.models import AffineChain, as_chain
from dltv.numerics.regions_exact import as_fraction as _fraction

Point = tuple[int, int, int]
Line = tuple[int, int, int]


# --------------------------------------------------------------------------- exact integers
def integer_matrix(M) -> tuple[np.ndarray, int]:
    """(Mi, D) with M = Mi / D exactly: Mi an object array of Python ints, D > 0 the common denominator."""
    arr = np.asarray(M.detach().cpu().numpy() if hasattr(M, "detach") else M, dtype=object)
    fr = np.vectorize(_fraction, otypes=[object])(arr) if arr.size else arr
    D = math.lcm(*(f.denominator for f in fr.ravel())) if fr.size else 1
    return np.vectorize(lambda f: f.numerator * (D // f.denominator), otypes=[object])(fr) if fr.size else fr, D


@dataclass(frozen=True)
class ExactLayer:
    """z = (Wi h + bi) / D; hidden activations multiply by ``on / den`` where z > 0, ``off / den`` where z <= 0."""

    Wi: np.ndarray
    bi: np.ndarray
    D: int
    on: int = 1
    off: int = 0
    den: int = 1


def exact_layers(net: Any) -> list[ExactLayer]:
    """The integer form of a piecewise-linear network (AffineChain, module, or [(W, b)] with ReLU).

    ``net`` may also be a list of ``(W, b, activation, negative_slope)`` whose entries are Fractions
    (a slice of an n-d network composed exactly with its first layer).
    """
    if isinstance(net, list) and net and len(net[0]) == 4:
        spec = net
    else:
        chain = as_chain(net)
        spec = [(l.weight, l.bias, l.activation, l.negative_slope) for l in chain.layers]
    out = []
    for i, (W, b, act, slope) in enumerate(spec):
        Wb, D = integer_matrix(np.column_stack([np.asarray(_np(W), dtype=object),
                                                np.asarray(_np(b), dtype=object)]))
        if i == len(spec) - 1 or act == "identity":
            on = off = den = 1
        elif act == "relu":
            on, off, den = 1, 0, 1
        elif act == "leaky_relu":
            s = _fraction(slope)
            on, off, den = s.denominator, s.numerator, s.denominator
        else:
            raise ValueError(f"activation {act!r} of layer {i + 1} is not piecewise linear: linear regions need "
                             "ReLU, LeakyReLU or identity hidden layers")
        out.append(ExactLayer(Wb[:, :-1], Wb[:, -1], D, on, off, den))
    if out[0].Wi.shape[1] != 2:
        raise ValueError(f"the planar partition needs a 2-d input, the network takes {out[0].Wi.shape[1]}")
    return out


def _np(t):
    return t.detach().cpu().numpy() if hasattr(t, "detach") else t


def _reduced(v: Sequence[int]) -> tuple[int, ...]:
    g = math.gcd(*v)
    return tuple(x // g for x in v) if g > 1 else tuple(v)


def _meet(l1: Line, l2: Line) -> Point:
    """The intersection of two non-parallel lines a x + b y + c = 0 as (X, Y, H), H > 0, reduced."""
    a1, b1, c1 = l1
    a2, b2, c2 = l2
    p = (b1 * c2 - c1 * b2, c1 * a2 - a1 * c2, a1 * b2 - b1 * a2)
    return _reduced(p if p[2] > 0 else (-p[0], -p[1], -p[2]))


def _side(V: list[Point], E: list[Line], line: Line, s: list[int], sign: int) -> tuple[list, list]:
    """The part of convex polygon (V, E) where sign * line >= 0 (E[i] runs from V[i] to V[i+1])."""
    outV, outE = [], []
    m = len(V)
    for i in range(m):
        si, sj = sign * s[i], sign * s[(i + 1) % m]
        if si > 0:
            outV.append(V[i])
            if sj < 0:
                outE.append(E[i])
                outV.append(_meet(line, E[i]))
                outE.append(line)
            else:
                outE.append(E[i])
        elif si == 0:
            outV.append(V[i])
            outE.append(line if sj < 0 else E[i])
        elif sj > 0:
            outV.append(_meet(line, E[i]))
            outE.append(E[i])
    return outV, outE


def box_polygon(box: Sequence) -> tuple[list[Point], list[Line]]:
    """Counter-clockwise (V, E) of [x0, x1] x [y0, y1], exact."""
    x0, x1, y0, y1 = (_fraction(v) for v in box)
    if not (x0 < x1 and y0 < y1):
        raise ValueError(f"box must satisfy x0 < x1 and y0 < y1, got {[str(v) for v in (x0, x1, y0, y1)]}")
    hline = lambda y: (0, y.denominator, -y.numerator)  # noqa: E731
    vline = lambda x: (x.denominator, 0, -x.numerator)  # noqa: E731
    E = [hline(y0), vline(x1), hline(y1), vline(x0)]
    V = [_meet(E[3], E[0]), _meet(E[0], E[1]), _meet(E[1], E[2]), _meet(E[2], E[3])]
    return V, E


# --------------------------------------------------------------------------- the partition
@dataclass
class PlanarPartition:
    """The linear regions of a network inside a box: one convex polygon per activation pattern.

    ``polygons[r]``: counter-clockwise vertices (X, Y, H) (the point (X/H, Y/H)), exact;
    ``patterns[r]``: the pattern as a bytes string (one 0/1 per hidden neuron, layer by layer);
    ``maps[r] = (a, b, c)``: output k on region r is (a[k] x + b[k] y + c[k]) / out_scale, exactly.
    ``layer_counts``: the number of regions after each hidden layer.
    """

    box: tuple[Fraction, Fraction, Fraction, Fraction]
    polygons: list[list[Point]]
    patterns: list[bytes]
    maps: list[tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]
    out_scale: int
    layer_counts: list[int] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.polygons)

    def vertices(self, r: int) -> np.ndarray:
        """Region r's vertices as float64 (k, 2) (each correctly rounded)."""
        return np.array([(X / H, Y / H) for X, Y, H in self.polygons[r]])

    def exact_area(self, r: int) -> Fraction:
        """Shoelace area of region r, exact."""
        P = [(Fraction(X, H), Fraction(Y, H)) for X, Y, H in self.polygons[r]]
        m = len(P)
        return abs(sum((P[i][0] * P[(i + 1) % m][1] - P[(i + 1) % m][0] * P[i][1] for i in range(m)), Fraction(0))) / 2

    def areas(self) -> np.ndarray:
        """Float areas of all regions (shoelace on the rounded vertices)."""
        out = np.empty(self.count)
        for r in range(self.count):
            v = self.vertices(r)
            out[r] = 0.5 * abs(np.dot(v[:, 0], np.roll(v[:, 1], -1)) - np.dot(np.roll(v[:, 0], -1), v[:, 1]))
        return out

    def distinct_maps(self) -> int:
        """Number of distinct affine output maps over the regions (<= count)."""
        return len(set(self.maps))

    def level_segments(self, output: int | tuple[int, int] = 0) -> np.ndarray:
        """Float segments (k, 2, 2) of the zero set of output ``output`` (or of f_i - f_j for a pair
        (i, j)), exact per region before rounding; an output constant on a region draws nothing there."""
        i, j = output if isinstance(output, tuple) else (output, None)
        segs = []
        for V, (a, b, c) in zip(self.polygons, self.maps):
            line = (a[i], b[i], c[i]) if j is None else (a[i] - a[j], b[i] - b[j], c[i] - c[j])
            if line[0] == 0 and line[1] == 0:
                continue
            s = [line[0] * X + line[1] * Y + line[2] * H for X, Y, H in V]
            pts = []
            m = len(V)
            for k in range(m):
                sk, sl = s[k], s[(k + 1) % m]
                if sk == 0:
                    pts.append(V[k])
                elif sk * sl < 0:      # the point s_l V_k - s_k V_l (homogeneous) lies on the line
                    pts.append(tuple(sl * u - sk * w for u, w in zip(V[k], V[(k + 1) % m])))
            if len(pts) >= 2:
                segs.append([(p[0] / p[2], p[1] / p[2]) for p in pts[:2]])
        return np.array(segs, dtype=float).reshape(-1, 2, 2)


def _rows_times(rows: list[int], n_rows: int, WiT: np.ndarray) -> list[int]:
    """The flat row-major product of the (n_rows x k) integer matrix ``rows`` (flat) and WiT (k x n), exactly.

    python-flint multiplies the whole layer at once in C when it is installed (measured ~4x
    faster than numpy object arrays at 10^3 regions of width 64); numpy object arrays otherwise.
    """
    k, n = WiT.shape
    if _flint is not None:
        prod = _flint.fmpz_mat(n_rows, k, rows) * _flint.fmpz_mat(k, n, [int(v) for v in WiT.ravel()])
        return [int(v) for v in prod.entries()]
    return list(np.asarray(rows, dtype=object).reshape(n_rows, k).dot(WiT).ravel())


try:
    import flint as _flint
except ImportError:       # optional accelerator
    _flint = None


def planar_partition(net: Any, box: Sequence = (-1, 1, -1, 1), progress=None) -> PlanarPartition:
    """The exact partition of ``box`` = (x0, x1, y0, y1) into the activation regions of ``net``.

    ``net``: an AffineChain, an nn.Module read by :func:`dltv.numerics.models.read_module`, or
    [(W, b), ...] (ReLU hidden layers), with 2-d input and piecewise-linear hidden activations.
    ``progress(layer, layers, regions)`` is called after each hidden layer when given.

    Each region carries the coefficient rows (x-row, y-row, constant-row) of its hidden values:
    h = (a x + b y + c) / S.  All regions of a layer are pushed through W^T in one exact integer
    product, then each region is split by the zero lines that cross it.
    """
    layers = exact_layers(net)
    V0, E0 = box_polygon(box)
    box_f = tuple(_fraction(v) for v in box)
    regions = [(V0, E0, b"")]
    rows = [1, 0, 0, 1, 0, 0]          # region-major (a, b, c) rows of the identity input map, width 2
    S, counts, maps = 1, [], None
    last = layers[-1]
    for depth, layer in enumerate(layers[:-1], 1):
        n = layer.Wi.shape[0]
        Z = _rows_times(rows, 3 * len(regions), layer.Wi.T)
        bias = [int(v) * S for v in layer.bi]
        S_next = S * layer.D * layer.den
        final = depth == len(layers) - 1
        if final:
            W_out, b_out = [[int(v) for v in row] for row in last.Wi], [int(v) * S_next for v in last.bi]
        new_regions, rows, maps = [], [], []
        for r, (V, E, pat) in enumerate(regions):
            a, b = Z[3 * r * n:(3 * r + 1) * n], Z[(3 * r + 1) * n:(3 * r + 2) * n]
            c = [v + w for v, w in zip(Z[(3 * r + 2) * n:(3 * r + 3) * n], bias)]
            pieces, cutting = _split_region(V, E, a, b, c, layer)
            if final:
                maps += _output_maps(a, b, c, pieces, cutting, layer, W_out, b_out)
            for PV, PE, on in pieces:
                if not final:
                    f = [layer.on if o else layer.off for o in on]
                    rows += [v * g for v, g in zip(a, f)] + [v * g for v, g in zip(b, f)] + \
                        [v * g for v, g in zip(c, f)]
                new_regions.append((PV, PE, pat + bytes(on)))
        regions, S = new_regions, S_next
        counts.append(len(regions))
        if progress is not None:
            progress(depth, len(layers) - 1, len(regions))
    if maps is None:                    # no hidden layer: one affine map on the whole box
        n = last.Wi.shape[0]
        Z = _rows_times(rows, 3, last.Wi.T)
        maps = [(tuple(Z[:n]), tuple(Z[n:2 * n]), tuple(v + int(w) for v, w in zip(Z[2 * n:], last.bi)))]
    return PlanarPartition(box_f, [r[0] for r in regions], [r[2] for r in regions], maps, S * last.D, counts)


def _output_maps(a, b, c, pieces, cutting, layer: ExactLayer, W: list, bias: list) -> list:
    """Output numerators of each piece of one region of the last hidden layer.

    The pieces share the region's pre-activations (a, b, c) and differ only in the cutting
    neurons' factors, so the shared part W f_base (a, b, c) + bias is computed once and each piece
    adds (on - off) W[:, j] (a_j, b_j, c_j) for its active cutting neurons (derived: linearity).
    ``W``, ``bias``: the output layer's integer weights and its bias numerators at this scale.
    """
    cut = set(cutting)
    _, _, on0 = pieces[0]
    f = [layer.off if j in cut else (layer.on if on0[j] else layer.off) for j in range(len(a))]
    fa, fb, fc = ([v * g for v, g in zip(col, f)] for col in (a, b, c))
    base = [(sum(w * v for w, v in zip(row, fa)), sum(w * v for w, v in zip(row, fb)),
             sum(w * v for w, v in zip(row, fc)) + bk) for row, bk in zip(W, bias)]
    step = layer.on - layer.off
    out = []
    for _, _, on in pieces:
        A, B, C = [list(t) for t in zip(*base)]
        for j in cutting:
            if on[j]:
                for k, row in enumerate(W):
                    g = step * row[j]
                    A[k] += g * a[j]
                    B[k] += g * b[j]
                    C[k] += g * c[j]
        out.append((tuple(A), tuple(B), tuple(C)))
    return out


def _split_region(V, E, a, b, c, layer: ExactLayer) -> list:
    """Split one region (V, E) by every zero line a_j x + b_j y + c_j = 0 that crosses it.

    Returns ([(V', E', on), ...], cutting): each piece and which neurons are active (> 0) on its
    interior, and the neurons whose lines cut the region.
    """
    n = len(a)
    signs = [[aj * X + bj * Y + cj * H for X, Y, H in V] for aj, bj, cj in zip(a, b, c)]
    active = [max(s) > 0 for s in signs]
    cutting = [] if layer.on == layer.off else [j for j in range(n) if active[j] and min(signs[j]) < 0]
    pieces = [(V, E, {})]
    for j in cutting:
        line = _reduced((a[j], b[j], c[j]))
        nxt = []
        for PV, PE, sides in pieces:
            p, q, r = line
            s = [p * X + q * Y + r * H for X, Y, H in PV]
            hi, lo = max(s), min(s)
            if hi > 0 and lo < 0:
                for sign in (1, -1):
                    QV, QE = _side(PV, PE, line, s, sign)
                    nxt.append((QV, QE, {**sides, j: sign > 0}))
            else:
                nxt.append((PV, PE, {**sides, j: hi > 0}))
        pieces = nxt
    out = []
    for PV, PE, sides in pieces:
        on = active.copy()
        for j, v in sides.items():
            on[j] = v
        out.append((PV, PE, on))
    return out, cutting


# --------------------------------------------------------------------------- n-d inputs
def _exact_vector(p, name: str) -> list[Fraction]:
    vals = [_fraction(v) for v in np.asarray(_np(p), dtype=object).ravel()]
    if not vals:
        raise ValueError(f"{name} must be a non-empty point")
    return vals


def slice_spec(net: Any, p0, p1, p2) -> list:
    """The network restricted to the plane x = p0 + u (p1 - p0) + v (p2 - p0), as exact layers.

    The first layer becomes W [p1 - p0, p2 - p0] (an n_1 x 2 matrix) and W p0 + b, in Fractions
    (derived: composition with an affine map, computed exactly).  Feed the result to
    :func:`planar_partition` with a box in (u, v), e.g. (0, 1, 0, 1).
    """
    chain: AffineChain = as_chain(net)
    first = chain.layers[0]
    d0 = first.weight.shape[1]
    P = [_exact_vector(p, name) for p, name in ((p0, "p0"), (p1, "p1"), (p2, "p2"))]
    if any(len(p) != d0 for p in P):
        raise ValueError(f"slice points must have the network's input dimension {d0}, got {[len(p) for p in P]}")
    W = [[_fraction(w) for w in row] for row in first.weight.tolist()]
    b = [_fraction(v) for v in first.bias.tolist()]
    du = [a - o for a, o in zip(P[1], P[0])]
    dv = [a - o for a, o in zip(P[2], P[0])]
    dot = lambda row, v: sum((w * x for w, x in zip(row, v)), Fraction(0))  # noqa: E731
    W2 = [[dot(row, du), dot(row, dv)] for row in W]
    b2 = [dot(row, P[0]) + bj for row, bj in zip(W, b)]
    spec = [(W2, b2, first.activation, first.negative_slope)]
    return spec + [(l.weight.tolist(), l.bias.tolist(), l.activation, l.negative_slope) for l in chain.layers[1:]]


def segment_layers(net: Any, p, q) -> list:
    """[(W, b), ...] of the ReLU network restricted to x = p + t (q - p), t in [0, 1], exact
    (first layer in Fractions), for the 1-d counter ``count_regions``."""
    chain: AffineChain = as_chain(net)
    if any(a != "relu" for a in chain.hidden_activations):
        raise ValueError("the segment count needs ReLU hidden layers (the 1-d counter's network)")
    first = chain.layers[0]
    P, Q = _exact_vector(p, "p"), _exact_vector(q, "q")
    d0 = first.weight.shape[1]
    if len(P) != d0 or len(Q) != d0:
        raise ValueError(f"segment ends must have the network's input dimension {d0}, got {len(P)} and {len(Q)}")
    W = [[_fraction(w) for w in row] for row in first.weight.tolist()]
    d = [b - a for a, b in zip(P, Q)]
    W1 = [[sum((w * x for w, x in zip(row, d)), Fraction(0))] for row in W]
    b1 = [sum((w * x for w, x in zip(row, P)), Fraction(0)) + _fraction(bj) for row, bj in zip(W, first.bias.tolist())]
    return [(W1, b1)] + [(l.weight, l.bias) for l in chain.layers[1:]]
