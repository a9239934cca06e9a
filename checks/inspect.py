"""Point dltv at your own network: regions, symmetries, spectra and the kernel at initialisation.

One function per part, each taking a model (an ``nn.Module``, a ``torch.export`` program, an
:class:`~dltv.numerics.models.AffineChain` or a list of ``(W, b)``) and returning a dataclass
whose ``to_dict()`` is plain JSON data:

- :func:`inspect_regions` -- exact linear regions: on an interval (1-d input), in a box (2-d
  input, the exact planar partition), or on a 2-d slice / a segment through given points (n-d);
- :func:`inspect_symmetries` -- the finite symmetry group of hidden neurons, the canonical form,
  and how closely it computes the same function;
- :func:`inspect_spectra` -- singular values of every weight matrix and of the layer-to-layer and
  input-to-layer Jacobians, effective ranks and the bottleneck rank;
- :func:`inspect_kernel` -- the infinite-width NNGP kernel of the architecture and its 1/n
  correction against the empirical kernel of many random initialisations (with standard errors).

Figures (:func:`regions_figure`, :func:`spectra_figure`) are matplotlib figures.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any, Sequence

import numpy as np
import torch

from dltv.checks.cli_regions import parse_fractions
from dltv.numerics.models import AffineChain, as_chain
from dltv.numerics.threads import one_thread

DTYPE = torch.float64


def _points(name: str, text, d0: int, k: int) -> list[list[Fraction]]:
    """``k`` points of dimension d0 from ``"p;q;..."`` (each a comma list) or a sequence of vectors."""
    items = [t for t in text.split(";")] if isinstance(text, str) else list(text)
    if len(items) != k:
        raise ValueError(f"{name} must give {k} points separated by ';', got {len(items)}")
    pts = [parse_fractions(name, p.tolist() if hasattr(p, "tolist") else p) for p in items]
    if any(len(p) != d0 for p in pts):
        raise ValueError(f"{name} points must have the model's input dimension {d0}, got {[len(p) for p in pts]}")
    return pts


# --------------------------------------------------------------------------- regions
@dataclass
class RegionsResult:
    """Exact linear regions of a model on an interval, a box, a slice or a segment.

    ``activation_regions``: regions of constant activation pattern; ``affine_pieces`` (1-d only):
    maximal intervals of one affine output; ``distinct_maps`` (2-d): distinct affine outputs over
    the regions; ``breakpoints`` (1-d): interior pattern changes, exact, as strings.
    """

    kind: str
    input_dim: int
    domain: list[str]
    activation_regions: int
    affine_pieces: int | None = None
    distinct_maps: int | None = None
    breakpoints: list[str] | None = None
    layer_counts: list[int] | None = None
    seconds: float = 0.0
    partition: Any = field(default=None, repr=False)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("partition")
        return {k: v for k, v in d.items() if v is not None}


def inspect_regions(model: Any, *, interval=None, box=None, slice_points=None, segment=None,
                    max_breakpoints: int = 1000) -> RegionsResult:
    """Exact linear regions of a piecewise-linear model, by its input dimension d_0.

    d_0 = 1: on ``interval`` (default [-1, 1]) with the exact 1-d counter (ReLU hidden layers).
    d_0 = 2: in ``box`` = (x0, x1, y0, y1) (default [-1, 1]^2), the exact planar partition.
    d_0 > 2: on the 2-d slice p0 + u (p1 - p0) + v (p2 - p0), (u, v) in ``box`` (default [0, 1]^2)
    through ``slice_points`` = (p0, p1, p2), or along ``segment`` = (p, q) with the 1-d counter.
    """
    from dltv.numerics.planar import planar_partition, segment_layers, slice_spec
    from dltv.numerics.regions import count_regions

    chain = as_chain(model)
    d0 = chain.widths[0]
    if not chain.piecewise_linear:
        raise ValueError(f"regions need piecewise-linear hidden activations (ReLU, LeakyReLU); the model has "
                         f"{', '.join(sorted(set(chain.hidden_activations)))}")
    t0 = time.perf_counter()
    if d0 == 1 or segment is not None:
        if box is not None or slice_points is not None:
            raise ValueError(f"box and slice apply to 2-d and n-d inputs; the model's input is {d0}-d" if d0 == 1
                             else "give either a segment or a slice, not both")
        if chain.activation not in ("relu", "identity"):
            raise ValueError("1-d counts need ReLU hidden layers (the exact 1-d counter's network)")
        if d0 == 1:
            lo, hi = parse_fractions("interval", interval if interval is not None else (-1, 1), 2)
            layers, kind, domain = chain.pairs(), "interval", [str(lo), str(hi)]
        else:
            if interval is not None:
                raise ValueError("interval applies to 1-d inputs; a segment runs over t in [0, 1]")
            p, q = _points("segment", segment, d0, 2)
            lo, hi = Fraction(0), Fraction(1)
            layers, kind, domain = segment_layers(chain, p, q), "segment", [",".join(map(str, v)) for v in (p, q)]
        rc = count_regions(layers, lo, hi)
        bps = rc.region_breakpoints
        return RegionsResult(kind, d0, domain, rc.activation_regions, affine_pieces=rc.affine_pieces,
                             breakpoints=[str(b) for b in bps[:max_breakpoints]],
                             seconds=time.perf_counter() - t0)
    if interval is not None:
        raise ValueError(f"interval applies to 1-d inputs; the model's input is {d0}-d (use box)")
    if d0 == 2:
        if slice_points is not None:
            raise ValueError("slice applies to inputs of dimension > 2; a 2-d model is partitioned in its box")
        box_f = parse_fractions("box", box if box is not None else (-1, 1, -1, 1), 4)
        net, kind, domain = chain, "box", [str(v) for v in box_f]
    else:
        if slice_points is None:
            raise ValueError(f"the model's input is {d0}-d: give a slice through three points (p0;p1;p2) or a "
                             "segment (p;q)")
        pts = _points("slice", slice_points, d0, 3)
        box_f = parse_fractions("box", box if box is not None else (0, 1, 0, 1), 4)
        net, kind = slice_spec(chain, *pts), "slice"
        domain = [str(v) for v in box_f] + [";".join(",".join(map(str, p)) for p in pts)]
    part = planar_partition(net, box_f)
    return RegionsResult(kind, d0, domain, part.count, distinct_maps=part.distinct_maps(),
                         layer_counts=part.layer_counts, seconds=time.perf_counter() - t0, partition=part)


def regions_figure(result: RegionsResult, *, boundary: bool = True, seed: int = 0):
    """The planar partition coloured by region (random pastel colours, shared edges drawn thin)
    with the decision boundary f = 0 (one output) or f_0 = f_1 (two outputs) drawn thick."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection, PolyCollection

    part = result.partition
    if part is None:
        raise ValueError("a regions figure needs a 2-d partition (a box or a slice), not a 1-d count")
    polys = [part.vertices(r) for r in range(part.count)]
    rng = np.random.default_rng(seed)
    colours = plt.cm.tab20(rng.permutation(part.count) % 20)
    colours[:, :3] = 0.55 * colours[:, :3] + 0.45          # pastel, so the boundary stands out
    fig, ax = plt.subplots(figsize=(7, 7), dpi=160)
    ax.add_collection(PolyCollection(polys, facecolors=colours, edgecolors=(0.25, 0.25, 0.25, 0.6),
                                     linewidths=0.15))
    n_out = len(part.maps[0][0]) if part.maps else 0
    label = None
    if boundary and n_out in (1, 2):
        segs = part.level_segments(0 if n_out == 1 else (0, 1))
        label = "decision boundary f = 0" if n_out == 1 else "decision boundary f_0 = f_1"
        ax.add_collection(LineCollection(segs, colors="black", linewidths=1.6, label=label))
    x0, x1, y0, y1 = (float(v) for v in part.box)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.set_xlabel("u" if result.kind == "slice" else "x_1")
    ax.set_ylabel("v" if result.kind == "slice" else "x_2")
    ax.set_title(f"{part.count} linear regions (exact)" + (" on a slice" if result.kind == "slice" else ""))
    if label:
        ax.legend(loc="upper right", fontsize=8, framealpha=0.9)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- symmetries
@dataclass
class SymmetryResult:
    """The finite symmetry group of the hidden neurons, and the canonical form.

    ``group_order``: prod_l d_l! (permutations), times 2^{d_l} for odd activations (tanh sign flips);
    ``continuous``: the continuous symmetries named (ReLU / LeakyReLU positive rescalings);
    ``canonical_max_error``: max |f(x) - f_canonical(x)| over ``n_inputs`` inputs;
    ``already_canonical``: whether the model was in canonical form.
    """

    activation: str
    widths: list[int]
    group_order: int
    group: str
    continuous: str
    canonical_max_error: float
    already_canonical: bool
    n_inputs: int
    canonical: Any = field(default=None, repr=False)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("canonical")
        d["group_order"] = str(self.group_order)   # may exceed JSON's exact integers
        return d


def canonical_chain(chain: AffineChain, normalise_scaling: bool = True) -> AffineChain:
    """The canonical form of an MLP under its finite symmetry group (and, for ReLU / LeakyReLU with
    ``normalise_scaling``, under the positive rescalings too).

    Rescalings first (derived: relu(c z) = c relu(z) for c > 0, so neuron i's incoming row and
    bias divided by c_i = ||(w_i, b_i)||_2 and its outgoing column times c_i leave f unchanged;
    layer by layer from the input), then the covering area's form: tanh sign flips making each
    hidden bias >= 0, then each hidden layer's neurons sorted by decreasing bias
    (:func:`dltv.numerics.covering.canonical_mlp`).  Rescaling rounds (f agrees to ~1e-15);
    permutations and sign flips are exact.
    """
    from dltv.numerics.covering import canonical_mlp
    from dltv.numerics.models import from_pairs

    act = chain.activation
    if act in ("mixed", "identity"):
        raise ValueError(f"symmetries need one nonlinear hidden activation; the model has "
                         f"{', '.join(chain.hidden_activations) or 'no hidden layer'}")
    pairs = [(W.clone(), b.clone()) for W, b in chain.pairs()]
    if normalise_scaling and act in ("relu", "leaky_relu"):
        for l in range(len(pairs) - 1):
            (W, b), (W2, b2) = pairs[l], pairs[l + 1]
            c = torch.sqrt((W ** 2).sum(1) + b ** 2)
            c = torch.where(c > 0, c, torch.ones_like(c))
            pairs[l], pairs[l + 1] = (W / c[:, None], b / c), (W2 * c[None, :], b2)
    canon = canonical_mlp(pairs, "tanh" if act == "tanh" else "relu", fix_signs=act == "tanh")
    slope = chain.layers[0].negative_slope
    return from_pairs(canon, act, negative_slope=slope, source="canonical form")


def inspect_symmetries(model: Any, *, x=None, n_inputs: int = 2048, seed: int = 0) -> SymmetryResult:
    """Group order, canonical form, and the canonical network's agreement with the model.

    ``x``: inputs (n, d_0) to compare on (default ``n_inputs`` standard normal points).
    The group order is the covering area's (:func:`dltv.theory.covering.group_order`).
    """
    from dltv.numerics.covering import ResidualMLP, SmallCNN, is_canonical
    from dltv.theory.covering import group_order

    if isinstance(model, (SmallCNN, ResidualMLP)):
        return _covering_symmetries(model, x=x, n_inputs=n_inputs, seed=seed)
    chain = as_chain(model)
    canon = canonical_chain(chain)
    act = chain.activation
    widths = chain.widths
    order = int(group_order(widths, act if act in ("relu", "leaky_relu", "tanh") else "generic"))
    hidden = widths[1:-1]
    perms = " x ".join(f"S_{d}" for d in hidden)
    group = f"({' x '.join(f'Z_2^{d} ⋊ S_{d}' for d in hidden)}) neuron permutations and sign flips" \
        if act == "tanh" else f"{perms} neuron permutations"
    continuous = {"relu": "positive rescaling of each hidden neuron (incoming x c, outgoing / c): dimension "
                          f"{sum(hidden)}",
                  "leaky_relu": f"positive rescaling of each hidden neuron: dimension {sum(hidden)}"}.get(act, "none")
    if x is None:
        x = torch.randn(n_inputs, widths[0], generator=torch.Generator().manual_seed(seed), dtype=DTYPE)
    x = torch.as_tensor(x, dtype=DTYPE).reshape(-1, widths[0])
    with torch.no_grad(), one_thread():
        err = float((chain(x) - canon(x)).abs().max())
    pairs = [(W, b) for W, b in chain.pairs()]
    already = bool(is_canonical(pairs, "tanh" if act == "tanh" else "relu"))
    return SymmetryResult(act, widths, order, group, continuous, err, already, len(x), canon)


def _covering_symmetries(model, *, x=None, n_inputs: int = 256, seed: int = 0) -> SymmetryResult:
    """The covering area's CNN (channel permutations, with BatchNorm) and residual MLP (block
    hidden units and one shared residual-stream permutation): group order from
    :mod:`dltv.theory.covering`; canonical form from :mod:`dltv.numerics.covering`
    (:func:`~dltv.numerics.covering.canonical_cnn_state`,
    :func:`~dltv.numerics.covering.canonical_residual_state`: each permutable index set sorted by
    decreasing bias, exact re-indexing)."""
    from dltv.numerics.covering import SmallCNN, canonical_cnn_state, canonical_residual_state, load_state
    from dltv.theory.covering import cnn_group_order, residual_group_order

    state = {k: v.detach() for k, v in model.state_dict().items()}
    if isinstance(model, SmallCNN):
        c1, c2 = model.conv1.out_channels, model.conv2.out_channels
        canonical = canonical_cnn_state(state)
        widths, order = [model.conv1.in_channels, c1, c2], int(cnn_group_order([c1, c2]))
        group = f"S_{c1} x S_{c2} conv channel permutations"
        shape = (model.conv1.in_channels, 6, 6)
    else:
        canonical = canonical_residual_state(state)
        hidden = [U.out_features for U in model.U]
        widths = [model.embed.in_features, model.embed.out_features, *hidden]
        order = int(residual_group_order(model.embed.out_features, hidden))
        group = f"S_{model.embed.out_features} (residual stream) x " + " x ".join(f"S_{h}" for h in hidden)
        shape = (model.embed.in_features,)
    canon = load_state(model, canonical)
    if x is None:
        x = torch.randn(n_inputs, *shape, generator=torch.Generator().manual_seed(seed), dtype=DTYPE)
    with torch.no_grad(), one_thread():
        err = float((model.eval()(x) - canon(x)).abs().max())
    already = all(torch.equal(state[k], canonical[k]) for k in state)
    return SymmetryResult(type(model).__name__, widths, order, group, "not counted", err, already, len(x), canon)


# --------------------------------------------------------------------------- spectra
@dataclass
class SpectraResult:
    """Singular values of the weights and Jacobians, layer by layer (layer l = the l-th Linear).

    ``weight_singular_values[l]``: of W_l; ``jacobian_singular_values[l]``: median over inputs of
    the sorted singular values of the layer-to-layer Jacobian d h_l / d h_{l-1} = diag(σ'(z_l)) W_l;
    ``representation_singular_values[l]``: the same for the input-to-layer Jacobian d h_l / d x;
    ``*_ranks``: numerical ranks (singular values > rtol * the largest; median over inputs for
    Jacobians); ``bottleneck_rank``: the smallest representation rank over the hidden layers.
    """

    widths: list[int]
    rtol: float
    n_inputs: int
    weight_singular_values: list[list[float]]
    weight_ranks: list[int]
    weight_effective_ranks: list[float]
    jacobian_singular_values: list[list[float]]
    jacobian_ranks: list[float]
    representation_singular_values: list[list[float]]
    representation_ranks: list[float]
    bottleneck_rank: float
    bottleneck_layer: int

    def to_dict(self) -> dict:
        return asdict(self)


def _activation_derivative(layer, z: torch.Tensor) -> torch.Tensor:
    if layer.activation == "relu":
        return (z > 0).to(DTYPE)
    if layer.activation == "leaky_relu":
        return torch.where(z > 0, 1.0, layer.negative_slope).to(DTYPE)
    if layer.activation == "tanh":
        return 1 - torch.tanh(z) ** 2
    if layer.activation == "gelu":
        return 0.5 * (1 + torch.erf(z / math.sqrt(2))) + z * torch.exp(-z ** 2 / 2) / math.sqrt(2 * math.pi)
    return torch.ones_like(z)


def _ranks(sv: torch.Tensor, rtol: float) -> torch.Tensor:
    """Numerical ranks of a batch of descending singular-value rows."""
    top = sv[..., :1]
    return ((sv > rtol * top) & (top > 0)).sum(-1)


def inspect_spectra(model: Any, *, x=None, n_inputs: int = 256, rtol: float = 1e-3, seed: int = 0) -> SpectraResult:
    """Spectra of the weights and of the Jacobians on inputs ``x`` (default ``n_inputs`` standard normal)."""
    from dltv.numerics.bottleneck import effective_rank

    if not (isinstance(rtol, (int, float)) and 0 < rtol < 1):
        raise ValueError(f"rtol must be a number in (0, 1), got {rtol!r}")
    chain = as_chain(model)
    d0 = chain.widths[0]
    if x is None:
        x = torch.randn(n_inputs, d0, generator=torch.Generator().manual_seed(seed), dtype=DTYPE)
    x = torch.as_tensor(x, dtype=DTYPE).reshape(-1, d0)
    w_sv, w_rank, w_eff, j_sv, j_rank, r_sv, r_rank = [], [], [], [], [], [], []
    h, J = x, torch.eye(d0, dtype=DTYPE).expand(len(x), d0, d0)
    with torch.no_grad(), one_thread():
        for layer in chain.layers:
            W = layer.weight
            sv = torch.linalg.svdvals(W)
            w_sv.append(sv.tolist())
            w_rank.append(int(_ranks(sv, rtol)))
            w_eff.append(effective_rank(W.numpy().T))
            z = h @ W.T + layer.bias
            D = _activation_derivative(layer, z)
            Jl = D[:, :, None] * W                       # (n, d_l, d_{l-1})
            J = Jl @ J
            for store, ranks, M in ((j_sv, j_rank, Jl), (r_sv, r_rank, J)):
                s = torch.linalg.svdvals(M)
                store.append(s.median(0).values.tolist())
                ranks.append(float(_ranks(s, rtol).double().median()))
            h = layer.act(z)
    hidden = r_rank[:-1] or r_rank
    k = int(np.argmin(hidden))
    return SpectraResult(chain.widths, rtol, len(x), w_sv, w_rank, w_eff, j_sv, j_rank, r_sv, r_rank,
                         hidden[k], k + 1)


def spectra_figure(result: SpectraResult):
    """Singular values of each weight matrix and input-to-layer Jacobian against depth (log scale)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=140, sharey=False)
    for ax, data, title in ((axes[0], result.weight_singular_values, "weights W_l"),
                            (axes[1], result.representation_singular_values, "Jacobian d h_l / d x (median)")):
        for l, sv in enumerate(data, 1):
            sv = np.asarray(sv)
            sv = sv[sv > 0]
            ax.scatter(np.full(len(sv), l), sv, s=10, color="C0", alpha=0.7)
        ax.set_yscale("log")
        ax.set_xlabel("layer l")
        ax.set_title(f"singular values of {title}")
        ax.set_xticks(range(1, len(data) + 1))
    fig.suptitle(f"bottleneck rank {result.bottleneck_rank:g} at layer {result.bottleneck_layer} "
                 f"(rtol {result.rtol:g})", fontsize=10)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- kernel at initialisation
@dataclass
class KernelResult:
    """The output kernel of the model's architecture at initialisation, theory against sampling.

    Weights W ~ N(0, C_W/n_in), biases N(0, C_b); ``entries`` per input pair (a <= b): the
    empirical mean of the output metric G^(L+1)_ab = C_b + (C_W/n_L) sum_j sigma_j,a sigma_j,b over
    ``n_networks`` real networks with its standard error, the infinite-width NNGP kernel K_ab and
    the 1/n-corrected K_ab + dK_ab at the model's widths, and both z-scores.  ``ntk_entries``: the
    same for the neural tangent kernel (NTK parameterisation), the mean autograd NTK of
    ``ntk_networks`` real networks against the infinite-width recursion (no 1/n correction of the
    NTK is encoded, so ``ntk_agrees`` says whether this width is already at infinite width within
    the run's resolution).  ``z_crit`` is two-sided at ``alpha`` shared (Bonferroni) over all
    entries.  ``resolution``: the smallest multiple of the 1/n correction |dK| the run can tell
    from zero (z_crit SE / |dK|, worst entry).
    """

    widths: list[int]
    activation: str
    C_W: float
    C_b: float
    inputs: list[list[float]]
    n_networks: int
    alpha: float
    z_crit: float
    entries: list[dict]
    corrected_agrees: bool
    infinite_width_rejected: bool
    resolution: float
    ntk_networks: int = 0
    ntk_entries: list[dict] = field(default_factory=list)
    ntk_agrees: bool | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def inspect_kernel(model: Any, *, x=None, n_inputs: int = 2, n_networks: int = 20000, C_W: float | None = None,
                   C_b: float = 0.0, alpha: float = 1e-4, seed: int = 0, ntk_networks: int = 2000) -> KernelResult:
    """NNGP kernel of the model's architecture: infinite width and 1/n-corrected (theory, Hanin
    2204.01058 / PDLT §4, :func:`dltv.theory.correlations.vertex_recursion`) against the mean
    output metric of ``n_networks`` Gaussian initialisations (:func:`dltv.numerics.networks.sample_networks`);
    and its NTK: the infinite-width recursion (:func:`dltv.theory.correlations.ntk_recursion`)
    against the mean autograd NTK of ``ntk_networks`` initialisations
    (:func:`dltv.numerics.networks.sample_ntk`; 0 skips it).

    Only the architecture (widths, hidden activation) of ``model`` is used.  ``x``: inputs (k, d_0),
    default ``n_inputs`` random points of norm sqrt(d_0); ``C_W`` defaults to 2 for ReLU, else 1.
    """
    from dltv.checks.stats import z_critical
    from dltv.numerics.estimators import mean_se
    from dltv.numerics.networks import sample_networks, sample_ntk
    from dltv.theory.correlations import first_layer_kernel, ntk_recursion, vertex_recursion

    chain = as_chain(model)
    act = chain.activation
    if act not in ("relu", "tanh", "gelu"):
        raise ValueError(f"the kernel at initialisation needs one hidden activation among relu, tanh, gelu; the "
                         f"model has {', '.join(chain.hidden_activations) or 'no hidden layer'}")
    widths = chain.widths
    if len(widths) < 3:
        raise ValueError("the kernel at initialisation needs at least one hidden layer")
    if isinstance(n_networks, bool) or not isinstance(n_networks, int) or n_networks < 100:
        raise ValueError(f"n_networks must be an integer >= 100, got {n_networks!r}")
    if isinstance(ntk_networks, bool) or not isinstance(ntk_networks, int) or not (ntk_networks == 0
                                                                                   or ntk_networks >= 100):
        raise ValueError(f"ntk_networks must be 0 or an integer >= 100, got {ntk_networks!r}")
    cw = (2.0 if act == "relu" else 1.0) if C_W is None else float(C_W)
    cb = float(C_b)
    if not (math.isfinite(cw) and cw > 0 and math.isfinite(cb) and cb >= 0):
        raise ValueError(f"C_W must be > 0 and C_b >= 0, got {C_W!r}, {C_b!r}")
    d0 = widths[0]
    if x is None:
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(n_inputs, d0, generator=g, dtype=DTYPE)
        x = x / x.norm(dim=1, keepdim=True) * math.sqrt(d0)
    x = torch.as_tensor(x, dtype=DTYPE).reshape(-1, d0)
    theory = vertex_recursion(act, cw, cb, first_layer_kernel(x.numpy(), cw, cb), widths[1:-1])
    K, dK = theory["K"][-1], theory["dK"][-1]
    with one_thread():
        stats = sample_networks(widths, act, cw, cb, x, n_networks, generator=torch.Generator().manual_seed(seed + 1))
    G = stats.G[:, -1].numpy()
    k = len(x)
    pairs = [(a, b) for a in range(k) for b in range(a, k)]
    z_crit = z_critical(alpha / (len(pairs) * (2 if ntk_networks else 1)))
    entries, worst = [], 0.0
    for a, b in pairs:
        est = mean_se(G[:, a, b])
        z_inf, z_cor = float(est.z(K[a, b])), float(est.z(K[a, b] + dK[a, b]))
        entries.append({"a": a, "b": b, "estimate": float(est.mean), "se": float(est.se),
                        "infinite_width": float(K[a, b]), "corrected": float(K[a, b] + dK[a, b]),
                        "z_infinite_width": z_inf, "z_corrected": z_cor})
        if dK[a, b]:            # entries whose 1/n correction vanishes exactly (ReLU diagonal) resolve nothing
            worst = max(worst, z_crit * float(est.se) / abs(float(dK[a, b])))
    ntk_entries = []
    if ntk_networks:
        theta = ntk_recursion(act, cw, cb, first_layer_kernel(x.numpy(), cw, cb), len(widths) - 1)["Theta"][-1]
        emp = sample_ntk(widths, act, cw, cb, x, ntk_networks,
                         generator=torch.Generator().manual_seed(seed + 2)).numpy()
        for a, b in pairs:
            est = mean_se(emp[:, a, b])
            ntk_entries.append({"a": a, "b": b, "estimate": float(est.mean), "se": float(est.se),
                                "infinite_width": float(theta[a, b]), "z_infinite_width": float(est.z(theta[a, b]))})
    return KernelResult(widths, act, cw, cb, x.tolist(), n_networks, alpha, z_crit, entries,
                        all(abs(e["z_corrected"]) <= z_crit for e in entries),
                        any(abs(e["z_infinite_width"]) > z_crit for e in entries), worst if worst else math.inf,
                        ntk_networks, ntk_entries,
                        all(abs(e["z_infinite_width"]) <= z_crit for e in ntk_entries) if ntk_entries else None)
