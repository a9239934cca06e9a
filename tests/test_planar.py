"""The exact planar partition against independent counts: line arrangements, pattern enumeration, grids."""
from fractions import Fraction
from itertools import combinations

import numpy as np
import pytest
import torch

from dltv.numerics.models import from_pairs
from dltv.numerics.planar import planar_partition, segment_layers, slice_spec
from dltv.numerics.regions import count_regions

BOX = (Fraction(-1), Fraction(1), Fraction(-1), Fraction(1))


def _net(widths, seed, bias=0.5, activation="relu"):
    g = torch.Generator().manual_seed(seed)
    pairs = [(torch.randn(o, i, generator=g, dtype=torch.float64) * (2 / i) ** 0.5,
              torch.randn(o, generator=g, dtype=torch.float64) * bias) for i, o in zip(widths[:-1], widths[1:])]
    return from_pairs(pairs, activation, negative_slope=0.25)


def _line_through(p, q):
    """(a, b, c) of the line through p and q: a x + b y + c = 0 (floats, exact as Fractions later)."""
    return q[1] - p[1], p[0] - q[0], p[1] * q[0] - p[0] * q[1]


def _crossings_inside(lines, box) -> int:
    """Pairwise intersections strictly inside the box, in exact rationals (Cramer's rule)."""
    x0, x1, y0, y1 = box
    inside = 0
    for (a1, b1, c1), (a2, b2, c2) in combinations([tuple(Fraction(v) for v in l) for l in lines], 2):
        det = a1 * b2 - a2 * b1
        if det == 0:
            continue
        x, y = (b1 * c2 - b2 * c1) / det, (c1 * a2 - c2 * a1) / det
        inside += x0 < x < x1 and y0 < y < y1
    return inside


@pytest.mark.parametrize("k, seed", [(1, 0), (6, 1), (15, 2), (30, 3)])
def test_one_hidden_layer_is_a_line_arrangement(k, seed):
    """k lines, each through two random points of opposite box edges: 1 + k + crossings inside."""
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(k):
        if rng.random() < 0.5:
            p, q = (-1.0, rng.uniform(-0.9, 0.9)), (1.0, rng.uniform(-0.9, 0.9))
        else:
            p, q = (rng.uniform(-0.9, 0.9), -1.0), (rng.uniform(-0.9, 0.9), 1.0)
        lines.append(_line_through(p, q))
    W = torch.tensor([[a, b] for a, b, _ in lines], dtype=torch.float64)
    b = torch.tensor([c for _, _, c in lines], dtype=torch.float64)
    out = torch.ones(1, k, dtype=torch.float64)
    exact_lines = [(a, bb, c) for (a, bb), c in zip(W.tolist(), b.tolist())]   # the float64 lines as stored
    part = planar_partition(from_pairs([(W, b), (out, torch.zeros(1, dtype=torch.float64))]), BOX)
    assert part.count == 1 + k + _crossings_inside(exact_lines, BOX)
    assert sum(part.exact_area(r) for r in range(part.count)) == 4


def _clip(poly, a, b, c, sign):
    """Exact Sutherland-Hodgman clip of a Fraction polygon to sign*(a x + b y + c) >= 0."""
    out = []
    for i, p in enumerate(poly):
        q = poly[(i + 1) % len(poly)]
        sp_, sq = sign * (a * p[0] + b * p[1] + c), sign * (a * q[0] + b * q[1] + c)
        if sp_ >= 0:
            out.append(p)
        if sp_ * sq < 0:
            t = sp_ / (sp_ - sq)
            out.append((p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])))
    return out


def _area(poly):
    return abs(sum(p[0] * q[1] - q[0] * p[1] for p, q in zip(poly, poly[1:] + poly[:1]))) / 2 if poly else 0


def _brute_force_patterns(chain, box) -> dict:
    """Every activation pattern with a region of positive area, by depth-first enumeration over
    neurons: the pattern fixes each pre-activation as an affine function of x (Fractions), and
    its region is the box clipped by the sign of each.  Independent of the layered partition."""
    layers = [([[Fraction(w) for w in row] for row in l.weight.tolist()], [Fraction(v) for v in l.bias.tolist()])
              for l in chain.layers[:-1]]
    x0, x1, y0, y1 = box
    found = {}

    def visit(poly, maps, layer, j, pattern, post):
        # maps: affine maps (a, b, c) of layer `layer`'s pre-activations; post: the previous post-activations
        if layer == len(layers):
            found[bytes(pattern)] = _area(poly)
            return
        if j == len(maps):
            W, bias = layers[layer + 1] if layer + 1 < len(layers) else (None, None)
            new_post = [m if on else (0, 0, 0) for m, on in zip(maps, pattern[-len(maps):])]
            if W is None:
                visit(poly, [], layer + 1, 0, pattern, new_post)
                return
            nxt = [tuple(sum(w * m[k] for w, m in zip(row, new_post)) + (bj if k == 2 else 0) for k in range(3))
                   for row, bj in zip(W, bias)]
            visit(poly, nxt, layer + 1, 0, pattern, new_post)
            return
        a, b, c = maps[j]
        for on, sign in ((1, 1), (0, -1)):
            piece = _clip(poly, a, b, c, sign)
            if _area(piece) > 0:
                visit(piece, maps, layer, j + 1, pattern + [on], post)

    W1, b1 = layers[0]
    first = [(row[0], row[1], bj) for row, bj in zip(W1, b1)]
    visit([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], first, 0, 0, [], None)
    return found


@pytest.mark.parametrize("seed", [0, 1])
def test_depth_three_against_pattern_enumeration_and_grid(seed):
    chain = _net([2, 4, 4, 4, 1], seed)
    part = planar_partition(chain, BOX)
    brute = _brute_force_patterns(chain, BOX)
    assert sorted(part.patterns) == sorted(brute)                    # the same regions, exactly
    areas = {p: part.exact_area(r) for r, p in enumerate(part.patterns)}
    assert areas == brute and sum(areas.values()) == 4
    # dense-grid lower bound: distinct float patterns on a 600 x 600 grid
    t = torch.linspace(-1 + 1 / 600, 1 - 1 / 600, 600, dtype=torch.float64)
    x = torch.cartesian_prod(t, t)
    pats, h = [], x
    for l in chain.layers[:-1]:
        z = h @ l.weight.T + l.bias
        pats.append(z > 0)
        h = torch.relu(z)
    grid = {bytes(row) for row in torch.cat(pats, 1).to(torch.uint8).numpy()}
    assert grid <= set(part.patterns) and len(grid) <= part.count
    assert len(grid) >= 0.8 * part.count        # the grid misses only slivers


def test_leaky_relu_and_identity_layers_against_enumeration_size():
    chain = _net([2, 5, 5, 1], 4, activation="leaky_relu")
    part = planar_partition(chain, BOX)
    relu = planar_partition(from_pairs(chain.pairs(), "relu"), BOX)
    lin = planar_partition(from_pairs(chain.pairs(), "identity"), BOX)
    assert lin.count == 1 and relu.count >= 6
    # leaky: the second layer's lines bend differently but the first layer's arrangement is shared
    assert part.layer_counts[0] == relu.layer_counts[0]
    assert sum(part.exact_area(r) for r in range(part.count)) == 4


def test_segment_of_a_slice_meets_the_regions_the_1d_counter_finds():
    """A 5-d net sliced through three points; the slice's edge u in [0, 1] at v = 0 is the segment
    p0 -> p1, whose 1-d count (regions.count_regions, exact) equals the number of 2-d regions whose
    closure meets that edge in a segment (exact, from the polygons)."""
    chain = _net([5, 6, 6, 1], 5)
    g = np.random.default_rng(5)
    p0, p1, p2 = (g.normal(size=5) for _ in range(3))
    part = planar_partition(slice_spec(chain, p0, p1, p2), (0, 1, 0, 1))
    on_edge = 0
    for V in part.polygons:
        pts = [Fraction(X, H) for X, Y, H in V if Y == 0]
        on_edge += len(pts) >= 2 and max(pts) > min(pts)
    assert on_edge == count_regions(segment_layers(chain, p0, p1), 0, 1).activation_regions


def test_bad_input():
    with pytest.raises(ValueError, match="2-d input"):
        planar_partition(_net([3, 4, 1], 0), BOX)
    with pytest.raises(ValueError, match="not piecewise linear"):
        planar_partition(_net([2, 4, 1], 0, activation="tanh"), BOX)
    with pytest.raises(ValueError, match="box"):
        planar_partition(_net([2, 4, 1], 0), (1, 0, 0, 1))


def _arrangement_faces(lines, box) -> int:
    """Faces of distinct lines in the open box: 1 + k + sum over interior points p of
    (lines through p) - 1 (each line adds one face plus one per earlier crossing point it meets)."""
    x0, x1, y0, y1 = box
    lines = [tuple(Fraction(v) for v in l) for l in lines]
    corners = [(x, y) for x in (x0, x1) for y in (y0, y1)]
    lines = [l for l in lines if len({(l[0] * x + l[1] * y + l[2] > 0) - (l[0] * x + l[1] * y + l[2] < 0)
                                      for x, y in corners} - {0}) == 2]      # only lines crossing the open box
    points = {}
    for (a1, b1, c1), (a2, b2, c2) in combinations(lines, 2):
        det = a1 * b2 - a2 * b1
        if det:
            p = ((b1 * c2 - b2 * c1) / det, (c1 * a2 - c2 * a1) / det)
            if x0 < p[0] < x1 and y0 < p[1] < y1:
                points.setdefault(p, set()).update({(a1, b1, c1), (a2, b2, c2)})
    return 1 + len(lines) + sum(len(s) - 1 for s in points.values())


def test_degenerate_arrangement_concurrent_lines_and_corners():
    """Lines through one point, through box corners and through earlier crossings (exact dyadics):
    every zero-sign vertex path of the clipping is taken."""
    lines = [(1, 0, 0), (0, 1, 0), (1, -1, 0), (1, 1, 0), (1, 0, -0.5), (0, 1, -0.5), (1, 1, -0.5),
             (1, -1, -0.5), (2, 1, -0.5), (1, 2, 0.5), (1, 0, 0.75), (4, 1, -1.5)]
    W = torch.tensor([l[:2] for l in lines], dtype=torch.float64)
    b = torch.tensor([l[2] for l in lines], dtype=torch.float64)
    net = from_pairs([(W, b), (torch.ones(1, len(lines), dtype=torch.float64), torch.zeros(1, dtype=torch.float64))])
    part = planar_partition(net, BOX)
    assert part.count == _arrangement_faces(lines, BOX)
    assert sum(part.exact_area(r) for r in range(part.count)) == 4
    # the same lines split in a second layer (identity first layer): the clipping of existing vertices
    eye = torch.eye(2, dtype=torch.float64)
    deep = from_pairs([(eye, torch.zeros(2, dtype=torch.float64)), (W, b),
                       (torch.ones(1, len(lines), dtype=torch.float64), torch.zeros(1, dtype=torch.float64))],
                      "relu")
    shifted = planar_partition(deep, (Fraction(1, 64), 1, Fraction(1, 64), 1))   # ReLU(x) = x on this box
    assert shifted.count == _arrangement_faces(lines, (Fraction(1, 64), 1, Fraction(1, 64), 1))


@pytest.mark.parametrize("widths, activation", [([2, 6, 6, 6, 2], "relu"), ([2, 7, 7, 1], "leaky_relu"),
                                                ([2, 5, 1], "relu"), ([2, 3], "relu")])
def test_output_maps_agree_with_the_network_at_region_centroids(widths, activation):
    """Each region's exact affine output, evaluated at the region's centroid, against torch's forward."""
    chain = _net(widths, 8, activation=activation)
    part = planar_partition(chain, BOX)
    cx = np.array([part.vertices(r).mean(0) for r in range(part.count)])
    exact = np.array([[(a[k] * float(Fraction(x)) + b[k] * float(Fraction(y))) / part.out_scale + c[k] / part.out_scale
                       for k in range(len(a))] for (a, b, c), (x, y) in zip(part.maps, cx)], dtype=float)
    with torch.no_grad():
        f = chain(torch.tensor(cx)).numpy()
    assert np.abs(exact - f).max() <= 1e-12 * max(1.0, np.abs(f).max())
    assert part.distinct_maps() == part.count if part.count > 1 else part.distinct_maps() == 1


def test_object_array_products_without_flint(monkeypatch):
    """The numpy object-array product (used when python-flint is absent) gives the same partition."""
    import dltv.numerics.planar as planar

    chain = _net([2, 8, 8, 8, 2], 11)
    with_flint = planar_partition(chain, BOX)
    monkeypatch.setattr(planar, "_flint", None)
    without = planar_partition(chain, BOX)
    assert without.polygons == with_flint.polygons and without.maps == with_flint.maps
    assert without.out_scale == with_flint.out_scale


@pytest.mark.parametrize("widths, output, seed", [([2, 6, 6, 1], 0, 13), ([2, 6, 6, 2], (0, 1), 14)])
def test_decision_boundary_segments_lie_on_the_level_set(widths, output, seed):
    """Every drawn segment's endpoints and midpoint satisfy f = 0 (or f_0 = f_1) by the forward pass;
    a shifted level (control) does not."""
    chain = _net(widths, seed)
    part = planar_partition(chain, BOX)
    segs = part.level_segments(output)
    assert len(segs) > 0
    pts = torch.tensor(np.concatenate([segs[:, 0], segs[:, 1], segs.mean(1)]))
    with torch.no_grad():
        f = chain(pts)
        grid = chain(torch.cartesian_prod(*[torch.linspace(-1, 1, 41, dtype=torch.float64)] * 2))
    level = f[:, 0] if output == 0 else f[:, 0] - f[:, 1]
    scale = float(grid.abs().max())
    assert float(level.abs().max()) <= 1e-12 * scale
    assert float((level - 0.01 * scale).abs().min()) > 1e-3 * scale
