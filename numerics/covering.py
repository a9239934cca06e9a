"""The neuron-symmetry group acting on real torch networks (float64), canonical forms,
greedy epsilon-nets and training under the group.

Functional equivalence (Shen, arXiv 2305.11417): permuting the hidden neurons of a layer
-- rows of (A_{l-1}, b_{l-1}) and columns of A_l -- leaves the network function unchanged
for any coordinatewise activation; ReLU also admits positive rescalings, odd activations
(tanh) sign flips.  The same holds for conv channels (with BatchNorm), residual blocks
and the residual stream, and attention heads.

An MLP is a list ``[(W_0, b_0), ..., (W_L, b_L)]`` with ``W_l`` of shape (d_{l+1}, d_l).
"""
from __future__ import annotations

import copy
import itertools
import math

import numpy as np
import torch
from torch import nn

DTYPE = torch.float64
_ACT = {"relu": torch.relu, "tanh": torch.tanh}


# --------------------------------------------------------------------------- validation
def _check_widths(widths) -> list[int]:
    ws = [int(w) for w in widths]
    if len(ws) < 3 or any(w < 1 or w != v for w, v in zip(ws, widths)):
        raise ValueError(f"widths must be >= 3 positive integers d_0,...,d_(L+1), got {widths!r}")
    return ws


def _check_activation(activation: str) -> str:
    if activation not in _ACT:
        raise ValueError(f"activation must be one of {', '.join(_ACT)}, got {activation!r}")
    return activation


def _check_positive(name: str, value) -> float:
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return value


# --------------------------------------------------------------------------- MLPs
def random_mlp(widths, B: float, generator: torch.Generator, batch: tuple = ()) -> list:
    """Weights and biases i.i.d. uniform on [-B, B] (the box of the covering bounds).

    ``batch`` prepends batch dimensions (many networks at once).
    """
    ws = _check_widths(widths)
    B = _check_positive("B", B)
    u = lambda *shape: (2 * torch.rand(*batch, *shape, generator=generator, dtype=DTYPE) - 1) * B  # noqa: E731
    return [(u(ws[i + 1], ws[i]), u(ws[i + 1])) for i in range(len(ws) - 1)]


def widths_of(params) -> list[int]:
    return [params[0][0].shape[-1]] + [W.shape[-2] for W, _ in params]


def mlp_forward(params, x: torch.Tensor, activation: str) -> torch.Tensor:
    """f(x) for inputs ``x`` of shape (..., n, d_0); batched params broadcast over ``...``."""
    act = _ACT[_check_activation(activation)]
    h = x
    for i, (W, b) in enumerate(params):
        h = h @ W.transpose(-1, -2) + b.unsqueeze(-2)
        if i < len(params) - 1:
            h = act(h)
    return h


def mlp_module(params, activation: str) -> nn.Sequential:
    """An ``nn.Sequential`` of ``nn.Linear`` and the activation holding ``params``."""
    act = {"relu": nn.ReLU, "tanh": nn.Tanh}[_check_activation(activation)]
    layers = []
    for i, (W, b) in enumerate(params):
        lin = nn.Linear(W.shape[1], W.shape[0], dtype=DTYPE)
        with torch.no_grad():
            lin.weight.copy_(W)
            lin.bias.copy_(b)
        layers += [lin] + ([act()] if i < len(params) - 1 else [])
    return nn.Sequential(*layers)


def module_params(model: nn.Sequential) -> list:
    """The ``[(W, b), ...]`` list of an ``nn.Sequential`` MLP (detached copies)."""
    return [(m.weight.detach().clone(), m.bias.detach().clone())
            for m in model if isinstance(m, nn.Linear)]


def transform_mlp(params, perms=None, scales=None) -> list:
    """g . theta: hidden layer l (1..L) gets neuron permutation ``perms[l-1]`` and per-neuron
    factors ``scales[l-1]`` (positive: ReLU rescaling; +-1: tanh sign flips).

    New neuron i is old neuron perm[i] with incoming row and bias times c_i and outgoing
    column divided by c_i.  For c = +-1 and permutations no arithmetic rounding occurs.
    """
    out = [(W.clone(), b.clone()) for W, b in params]
    for l in range(1, len(params)):
        n = out[l - 1][1].shape[-1]
        p = torch.arange(n) if perms is None or perms[l - 1] is None else perms[l - 1]
        c = None if scales is None else scales[l - 1]
        Win, bin_ = out[l - 1][0][..., p, :], out[l - 1][1][..., p]
        Wout = out[l][0][..., :, p]
        if c is not None:
            Win, bin_, Wout = Win * c.unsqueeze(-1), bin_ * c, Wout / c.unsqueeze(-2)
        out[l - 1] = (Win, bin_)
        out[l] = (Wout, out[l][1])
    return out


def random_group_element(widths, activation: str, generator: torch.Generator):
    """A uniformly random element of S_{d_1} x ... x S_{d_L} (times sign flips for tanh)."""
    hid = _check_widths(widths)[1:-1]
    perms = [torch.randperm(d, generator=generator) for d in hid]
    signs = None
    if _check_activation(activation) == "tanh":
        signs = [2.0 * torch.randint(0, 2, (d,), generator=generator).to(DTYPE) - 1 for d in hid]
    return perms, signs


def canonical_mlp(params, activation: str, fix_signs: bool | None = None) -> list:
    """The orbit representative: for tanh first make every hidden bias >= 0 (sign flip),
    then order each hidden layer's neurons by decreasing bias.  Batched params (leading
    dimensions) are canonicalised network by network.

    Layers are independent: permuting or flipping layer l never changes another layer's
    biases.  Only indexing and sign changes happen, so canonical(g.theta) == canonical(theta)
    bit for bit at generic theta (distinct biases, none zero).  ``fix_signs=False`` skips the
    sign step (a permutation-only form; used as a control for tanh).
    """
    fix = (_check_activation(activation) == "tanh") if fix_signs is None else fix_signs
    out = [(W.clone(), b.clone()) for W, b in params]
    for l in range(1, len(params)):
        (Win, bin_), (Wout, bout) = out[l - 1], out[l]
        if fix:
            s = torch.where(bin_ < 0, -1.0, 1.0).to(DTYPE)
            Win, bin_, Wout = Win * s.unsqueeze(-1), bin_ * s, Wout * s.unsqueeze(-2)
        order = torch.argsort(bin_, dim=-1, descending=True, stable=True)
        Win = torch.take_along_dim(Win, order.unsqueeze(-1), dim=-2)
        bin_ = torch.take_along_dim(bin_, order, dim=-1)
        Wout = torch.take_along_dim(Wout, order.unsqueeze(-2), dim=-1)
        out[l - 1], out[l] = (Win, bin_), (Wout, bout)
    return out


def is_canonical(params, activation: str) -> torch.Tensor:
    """Whether each (batched) network is already canonical: biases strictly decreasing per
    hidden layer, and >= 0 for tanh."""
    tanh = _check_activation(activation) == "tanh"
    ok = None
    for W, b in params[:-1]:
        good = (b[..., :-1] > b[..., 1:]).all(-1)
        if tanh:
            good &= (b >= 0).all(-1)
        ok = good if ok is None else ok & good
    return ok


def flatten(params) -> torch.Tensor:
    """All weights then biases, layer by layer, as one vector (last dim)."""
    return torch.cat([t.flatten(start_dim=t.dim() - (2 if j == 0 else 1))
                      for W, b in params for j, t in enumerate((W, b))], dim=-1)


def unflatten(vec: torch.Tensor, widths) -> list:
    ws = _check_widths(widths)
    out, k = [], 0
    for i in range(len(ws) - 1):
        nW, nb = ws[i + 1] * ws[i], ws[i + 1]
        W = vec[..., k:k + nW].reshape(*vec.shape[:-1], ws[i + 1], ws[i])
        b = vec[..., k + nW:k + nW + nb]
        out.append((W, b))
        k += nW + nb
    return out


MAX_ORBIT_ENUMERATION = 100_000


def orbit_size(params, activation: str = "relu", max_elements: int = MAX_ORBIT_ENUMERATION) -> int:
    """Number of distinct parameter vectors g.theta over the whole finite group, by applying
    every group element (an independent count, no orbit-stabiliser theorem used).

    The group has prod_l d_l! elements (times 2^{d_l} for tanh); larger groups than
    ``max_elements`` are refused with a ValueError rather than enumerated.
    """
    ws = widths_of(params)
    hid = ws[1:-1]
    tanh = _check_activation(activation) == "tanh"
    order = math.prod(math.factorial(d) * (2 ** d if tanh else 1) for d in hid)
    if order > max_elements:
        raise ValueError(f"params: hidden widths {hid} give a group of {order} elements for "
                         f"{activation}, more than max_elements={max_elements}; orbit_size "
                         "enumerates the group")
    layer_elems = []
    for d in hid:
        perms = [torch.tensor(p) for p in itertools.permutations(range(d))]
        signs = ([torch.tensor(s, dtype=DTYPE) for s in itertools.product((1.0, -1.0), repeat=d)]
                 if tanh else [None])
        layer_elems.append([(p, s) for p in perms for s in signs])
    seen = set()
    for elem in itertools.product(*layer_elems):
        perms = [p for p, _ in elem]
        scales = [s for _, s in elem] if tanh else None
        seen.add(flatten(transform_mlp(params, perms, scales)).numpy().tobytes())
    return len(seen)


def snap_to_grid(theta: torch.Tensor, B: float, m: int) -> torch.Tensor:
    """Each coordinate of ``theta`` (in [-B, B]) moved to the centre -B + (2k+1) B/m of its
    cell k = floor((t + B) m / (2B)) of the m-cell grid: the centres of the grid cover.

    The move is at most B/m per coordinate; the cell index is non-decreasing in t, so
    sorted biases stay sorted (the snapped canonical network is a centre of a sorted cell).
    """
    B = _check_positive("B", B)
    if int(m) != m or m < 1:
        raise ValueError(f"m must be an integer >= 1, got {m!r}")
    if bool((theta.abs() > B).any()):
        raise ValueError(f"theta must lie in [-B, B] = [-{B}, {B}]")
    k = torch.floor((theta + B) * m / (2 * B)).clamp(0, m - 1)
    return -B + (2 * k + 1) * B / m


def input_grid(d0: int, points: int = 2000) -> torch.Tensor:
    """A product grid of about ``points`` inputs on [-1, 1]^{d0}, corners included."""
    d0 = int(d0)
    if d0 < 1:
        raise ValueError(f"d0 must be an integer >= 1, got {d0!r}")
    k = max(2, round(points ** (1 / d0)))
    axis = torch.linspace(-1, 1, k, dtype=DTYPE)
    return torch.cartesian_prod(*[axis] * d0).reshape(-1, d0)


def relative_change(y: torch.Tensor, y2: torch.Tensor) -> float:
    """max |y - y2| / max |y|."""
    return float((y - y2).abs().max() / y.abs().max())


# --------------------------------------------------------------------------- CNN
class SmallCNN(nn.Module):
    """conv-BN-ReLU x 2, average pooling to 2x2, flatten, linear read-out."""

    def __init__(self, channels=(3, 6, 5), n_out=4, kernel=3):
        super().__init__()
        c0, c1, c2 = channels
        self.conv1 = nn.Conv2d(c0, c1, kernel, padding=1, dtype=DTYPE)
        self.bn1 = nn.BatchNorm2d(c1, dtype=DTYPE)
        self.conv2 = nn.Conv2d(c1, c2, kernel, padding=1, dtype=DTYPE)
        self.bn2 = nn.BatchNorm2d(c2, dtype=DTYPE)
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.fc = nn.Linear(c2 * 4, n_out, dtype=DTYPE)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        return self.fc(self.pool(x).flatten(1))


def randomise_batchnorm(model: nn.Module, generator: torch.Generator) -> nn.Module:
    """Random affine parameters and running statistics for every BatchNorm (eval mode)."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            with torch.no_grad():
                m.weight.copy_(torch.rand(n, generator=generator, dtype=DTYPE) + 0.5)
                m.bias.copy_(torch.randn(n, generator=generator, dtype=DTYPE))
                m.running_mean.copy_(torch.randn(n, generator=generator, dtype=DTYPE))
                m.running_var.copy_(torch.rand(n, generator=generator, dtype=DTYPE) + 0.5)
    return model.eval()


def _permute_bn(bn: nn.BatchNorm2d, p):
    for name in ("weight", "bias", "running_mean", "running_var"):
        t = getattr(bn, name)
        t.data = t.data[p].clone()


def permute_cnn(model: SmallCNN, p1, p2) -> SmallCNN:
    """Permute conv1's output channels by ``p1`` and conv2's by ``p2``: filters, biases,
    BatchNorm parameters and statistics, the next conv's input slices, and the read-out's
    column blocks (one block of 4 pooled positions per channel, flatten order C,H,W)."""
    m = copy.deepcopy(model)
    with torch.no_grad():
        m.conv1.weight.data = m.conv1.weight.data[p1].clone()
        m.conv1.bias.data = m.conv1.bias.data[p1].clone()
        _permute_bn(m.bn1, p1)
        m.conv2.weight.data = m.conv2.weight.data[p2][:, p1].clone()
        m.conv2.bias.data = m.conv2.bias.data[p2].clone()
        _permute_bn(m.bn2, p2)
        cols = (p2.unsqueeze(1) * 4 + torch.arange(4)).flatten()
        m.fc.weight.data = m.fc.weight.data[:, cols].clone()
    return m


# --------------------------------------------------------------------------- residual MLP
class ResidualMLP(nn.Module):
    """embed -> blocks x <- x + V act(U LN(x)) -> read-out (pre-LayerNorm residual MLP)."""

    def __init__(self, d_in=3, stream=6, hidden=(5, 4), d_out=2, activation="tanh"):
        super().__init__()
        self.act = _ACT[_check_activation(activation)]
        self.embed = nn.Linear(d_in, stream, dtype=DTYPE)
        self.norms = nn.ModuleList(nn.LayerNorm(stream, dtype=DTYPE) for _ in hidden)
        self.U = nn.ModuleList(nn.Linear(stream, h, dtype=DTYPE) for h in hidden)
        self.V = nn.ModuleList(nn.Linear(h, stream, dtype=DTYPE) for h in hidden)
        self.readout = nn.Linear(stream, d_out, dtype=DTYPE)

    def forward(self, x):
        x = self.embed(x)
        for ln, U, V in zip(self.norms, self.U, self.V):
            x = x + V(self.act(U(ln(x))))
        return self.readout(x)


def permute_residual(model: ResidualMLP, block_perms=None, stream_perm=None) -> ResidualMLP:
    """Hidden-unit permutations inside blocks (rows of U, columns of V) and one residual-
    stream permutation shared by the embedding, every LayerNorm, U's columns, V's rows and
    the read-out's columns."""
    m = copy.deepcopy(model)
    with torch.no_grad():
        for b, p in enumerate(block_perms or []):
            if p is not None:
                m.U[b].weight.data = m.U[b].weight.data[p].clone()
                m.U[b].bias.data = m.U[b].bias.data[p].clone()
                m.V[b].weight.data = m.V[b].weight.data[:, p].clone()
        if stream_perm is not None:
            s = stream_perm
            m.embed.weight.data = m.embed.weight.data[s].clone()
            m.embed.bias.data = m.embed.bias.data[s].clone()
            for ln, U, V in zip(m.norms, m.U, m.V):
                ln.weight.data = ln.weight.data[s].clone()
                ln.bias.data = ln.bias.data[s].clone()
                U.weight.data = U.weight.data[:, s].clone()
                V.weight.data = V.weight.data[s].clone()
                V.bias.data = V.bias.data[s].clone()
            m.readout.weight.data = m.readout.weight.data[:, s].clone()
    return m


def randomise_layernorm(model: nn.Module, generator: torch.Generator) -> nn.Module:
    for m in model.modules():
        if isinstance(m, nn.LayerNorm):
            with torch.no_grad():
                m.weight.copy_(torch.rand(m.weight.shape, generator=generator, dtype=DTYPE) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=generator, dtype=DTYPE))
    return model.eval()


# --------------------------------------------------------------------------- attention
def make_attention(embed_dim: int, heads: int, generator: torch.Generator) -> nn.MultiheadAttention:
    """``nn.MultiheadAttention`` (float64, batch_first) with random weights and biases."""
    mha = nn.MultiheadAttention(embed_dim, heads, batch_first=True, dtype=DTYPE)
    with torch.no_grad():
        for p in mha.parameters():
            p.copy_(torch.randn(p.shape, generator=generator, dtype=DTYPE) / math.sqrt(embed_dim))
    return mha.eval()


def attention_forward(mha: nn.MultiheadAttention, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return mha(x, x, x, need_weights=False)[0]


def _rows_qkv(E: int, H: int, head_perm, within=None, packing="qkv") -> torch.Tensor:
    """Row index of ``in_proj_weight`` for each new row.

    ``packing="qkv"`` is PyTorch's layout: [W_Q; W_K; W_V], each split into H head blocks.
    ``packing="head"`` wrongly reads the 3E rows as H blocks of [q_h; k_h; v_h] (a control).
    ``within``: optional (perm_qk, perm_v) lists of per-head coordinate permutations, or
    (perm_q, perm_k, perm_v): q and k permuted differently (not a symmetry; a control).
    """
    dh = E // H
    rows = []
    if packing == "head":
        blocks = torch.arange(3 * E).reshape(H, 3 * dh)
        return blocks[head_perm].flatten()
    for part in range(3):
        for h_new in range(H):
            h_old = int(head_perm[h_new])
            coords = torch.arange(dh)
            if within is not None:
                qkv = (within[0], within[0], within[1]) if len(within) == 2 else within
                coords = qkv[part][h_old]
            rows.append(part * E + h_old * dh + coords)
    return torch.cat(rows)


def permute_attention(mha: nn.MultiheadAttention, head_perm, within=None,
                      packing: str = "qkv") -> nn.MultiheadAttention:
    """Permute heads (and, with ``within``, the query/key coordinates of each head jointly
    and its value coordinates together with the matching columns of ``out_proj``)."""
    E, H = mha.embed_dim, mha.num_heads
    dh = E // H
    rows = _rows_qkv(E, H, head_perm, within, packing)
    cols = []
    for h_new in range(H):
        h_old = int(head_perm[h_new])
        coords = torch.arange(dh) if within is None else within[-1][h_old]
        cols.append(h_old * dh + coords)
    cols = torch.cat(cols)
    m = copy.deepcopy(mha)
    with torch.no_grad():
        m.in_proj_weight.data = m.in_proj_weight.data[rows].clone()
        m.in_proj_bias.data = m.in_proj_bias.data[rows].clone()
        m.out_proj.weight.data = m.out_proj.weight.data[:, cols].clone()
    return m.eval()


# --------------------------------------------------------------------------- 1-N-1 networks
def shallow_forward(theta: torch.Tensor, x: torch.Tensor, activation: str) -> torch.Tensor:
    """1-N-1 nets, ``theta`` (..., 3N+1) laid out as (w_1..N, b_1..N, a_1..N, c); x (k,) -> (..., k)."""
    act = _ACT[_check_activation(activation)]
    N = (theta.shape[-1] - 1) // 3
    w, b, a, c = theta[..., :N], theta[..., N:2 * N], theta[..., 2 * N:3 * N], theta[..., -1:]
    pre = w.unsqueeze(-1) * x + b.unsqueeze(-1)
    return (a.unsqueeze(-1) * act(pre)).sum(-2) + c


def shallow_orbits(theta: torch.Tensor) -> torch.Tensor:
    """All N! neuron permutations of 1-N-1 vectors: (..., 3N+1) -> (..., N!, 3N+1)."""
    N = (theta.shape[-1] - 1) // 3
    perms = torch.tensor(list(itertools.permutations(range(N))))
    idx = torch.cat([perms, perms + N, perms + 2 * N,
                     torch.full((len(perms), 1), 3 * N)], dim=1)
    return theta[..., idx]


def _all_index_tuples(q: int, S: int) -> np.ndarray:
    """Every tuple in {0..q-1}^S, in lexicographic order, as a (q^S, S) int64 array."""
    return np.stack(np.unravel_index(np.arange(q ** S), (q,) * S), axis=1).astype(np.int64)


def quantised_orbits_bruteforce(levels, N: int) -> int:
    """Number of S_N-orbits of 1-N-1 vectors with entries in ``levels``: enumerate every
    vector, sort its neurons lexicographically (an orbit invariant and complete), count."""
    q = len(levels)
    S = 3 * N + 1
    idx = _all_index_tuples(q, S)
    neurons = np.stack([idx[:, :N], idx[:, N:2 * N], idx[:, 2 * N:3 * N]], axis=-1)
    keys = neurons[..., 0] * q * q + neurons[..., 1] * q + neurons[..., 2]
    canon = np.concatenate([np.sort(keys, axis=1), idx[:, -1:]], axis=1)
    return len(np.unique(canon, axis=0))


def quantised_distinct_functions(levels, N: int, activation: str, x: torch.Tensor,
                                 decimals: int = 9) -> int:
    """Distinct functions (values on ``x`` rounded to ``decimals``) over all 1-N-1 networks
    with entries in ``levels``.  Neurons are summed in sorted order so that networks in one
    orbit give bit-identical values."""
    q = len(levels)
    lv = torch.tensor(levels, dtype=DTYPE)
    idx = torch.from_numpy(_all_index_tuples(q, 3 * N + 1))
    neuron_keys = torch.stack([idx[:, i] * q * q + idx[:, N + i] * q + idx[:, 2 * N + i]
                               for i in range(N)], dim=1)
    order = torch.argsort(neuron_keys, dim=1)
    cols = torch.cat([order, order + N, order + 2 * N, torch.full((len(idx), 1), 3 * N)], dim=1)
    theta = lv[torch.gather(idx, 1, cols)]
    vals = torch.round(shallow_forward(theta, x, activation) * 10 ** decimals).numpy()
    rows = np.ascontiguousarray(vals).view(np.dtype((np.void, vals.dtype.itemsize * vals.shape[1])))
    return len(np.unique(rows))  # one void item per row: a 1-D unique instead of a row-wise one


# --------------------------------------------------------------------------- sorted grid cells
def sorted_cells_bruteforce(m: int, d: int) -> int:
    """Index tuples in {0..m-1}^d that are non-increasing, by enumerating all m^d tuples:
    the grid cells (m per side) that contain a vector with b_1 >= ... >= b_d."""
    if int(m) < 1 or int(d) < 1:
        raise ValueError(f"m and d must be integers >= 1, got {m!r}, {d!r}")
    idx = np.array(list(itertools.product(range(m), repeat=d)), dtype=np.int64).reshape(-1, d)
    return int(np.all(idx[:, :-1] >= idx[:, 1:], axis=1).sum())


def sorted_cells_sampled(m: int, d: int, n: int, generator: torch.Generator) -> int:
    """Distinct grid cells hit by ``n`` uniform vectors of [-1,1]^d sorted decreasingly."""
    v = torch.sort(2 * torch.rand(n, d, generator=generator, dtype=DTYPE) - 1, dim=1,
                   descending=True).values
    cells = ((v + 1) / 2 * m).floor().clamp(0, m - 1).long()
    keys = (cells * m ** torch.arange(d)).sum(1)  # one integer per cell (base-m digits)
    return len(torch.unique(keys))


# --------------------------------------------------------------------------- epsilon-nets
def greedy_net_size(points: torch.Tensor, eps: float, orbits: torch.Tensor | None = None) -> int:
    """Size of the greedy eps-net of ``points`` (M, k) in the l_inf distance.

    A point becomes a centre when it is farther than ``eps`` from every centre, so the
    centres are an eps-packing (size <= N(eps/2)) and an eps-cover of the points.  With
    ``orbits`` (M, G, k) the distance is the quotient metric min_g ||p - g.c||_inf.
    """
    eps = _check_positive("eps", eps)
    M = points.shape[0]
    bank = torch.empty((M,) + (tuple(orbits.shape[1:]) if orbits is not None else (points.shape[1],)),
                       dtype=points.dtype)
    n = 0
    for i in range(M):
        if n:
            diff = (points[i] - bank[:n]).abs().amax(-1)
            dist = diff.amin(-1) if orbits is not None else diff
            if float(dist.min()) <= eps:
                continue
        bank[n] = orbits[i] if orbits is not None else points[i]
        n += 1
    return n


# --------------------------------------------------------------------------- uniform deviation
def ramp_loss(f: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """clip((1 - y f)/2, 0, 1): values in [0, 1], 1/2-Lipschitz in the prediction f."""
    return ((1 - y * f) / 2).clamp(0, 1)


def random_label_deviation(width: int, B: float, n: int, generator: torch.Generator) -> float:
    """A uniform deviation sup_f |R(f) - R_n(f)| attained inside the 1-width-1 tanh class
    with weights in [-B, B], on n samples x ~ U[-1, 1] with labels y = +-1 independent of x.

    Under the ramp loss every f has R(f) = 1/2 exactly (for either label the two losses sum
    to 1), so the deviation of f is |R_n(f) - 1/2|.  The members tried fit the labels by a
    step function: the sorted sample is split into k equal blocks (k = 1..width+1), each
    block gets the sign of its label sum, and the steps become tanh(B (x - t)) units
    (B <= n keeps the units steep between neighbouring samples).  Returns the largest
    deviation of these real networks (a lower bound on the supremum).
    """
    if int(width) < 1 or int(n) < 2:
        raise ValueError(f"width must be >= 1 and n >= 2, got {width!r}, {n!r}")
    B = _check_positive("B", B)
    x = torch.sort(2 * torch.rand(n, generator=generator, dtype=DTYPE) - 1).values
    y = 2.0 * torch.randint(0, 2, (n,), generator=generator).to(DTYPE) - 1
    partial = torch.cat([torch.zeros(1, dtype=DTYPE), torch.cumsum(y, 0)])
    best = 0.0
    for k in range(1, width + 2):
        edges = torch.linspace(0, n, k + 1).round().long()
        sums = partial[edges[1:]] - partial[edges[:-1]]
        s = torch.where(sums >= 0, 1.0, -1.0).to(DTYPE)
        t = (x[edges[1:-1] - 1] + x[edges[1:-1]]) / 2                      # k - 1 thresholds
        a = torch.zeros(width, dtype=DTYPE)
        a[:k - 1] = (s[1:] - s[:-1]) / 2 * min(B, 2.0)
        w = torch.full((width,), B, dtype=DTYPE)
        b = torch.zeros(width, dtype=DTYPE)
        b[:k - 1] = -B * t
        c = (s[0] + s[-1]) / 2 * min(B, 2.0)
        params = [(w.reshape(width, 1), b), (a.reshape(1, width), c.reshape(1))]
        f = mlp_forward(params, x.unsqueeze(1), "tanh")[:, 0]
        best = max(best, abs(float(ramp_loss(f, y).mean()) - 0.5))
    return best


# --------------------------------------------------------------------------- Lipschitz
def lipschitz_quotients(widths, activation: str, B: float, delta: float, pairs: int,
                        n_inputs: int, generator: torch.Generator) -> torch.Tensor:
    """max_x |f_t(x) - f_t'(x)| / ||t - t'||_inf for random t in [-B,B]^S and t' = t +
    delta * sign(grad_t f_t(x*)) clipped to the box (gradient-aligned: near worst case).

    x* is a random corner of [-1,1]^{d_0}; the maximum runs over ``n_inputs`` points of the
    cube plus its corners (up to 64).
    """
    ws = _check_widths(widths)
    delta = _check_positive("delta", delta)
    d0 = ws[0]
    x = 2 * torch.rand(n_inputs, d0, generator=generator, dtype=DTYPE) - 1
    corners = torch.tensor(list(itertools.product((-1.0, 1.0), repeat=min(d0, 6))), dtype=DTYPE)
    if d0 > 6:
        corners = torch.cat([corners, torch.ones(len(corners), d0 - 6, dtype=DTYPE)], 1)
    x = torch.cat([x, corners])
    theta = flatten(random_mlp(ws, B, generator, batch=(pairs,))).requires_grad_(True)
    xs = corners[torch.randint(len(corners), (pairs,), generator=generator)].unsqueeze(1)
    out_idx = torch.randint(ws[-1], (pairs, 1, 1), generator=generator)
    y = mlp_forward(unflatten(theta, ws), xs, activation).gather(-1, out_idx)
    (g,) = torch.autograd.grad(y.sum(), theta)  # per-pair gradients: the pairs are independent
    with torch.no_grad():
        t2 = (theta + delta * torch.sign(g)).clamp(-B, B)
        dist = (t2 - theta).abs().amax(-1)
        df = (mlp_forward(unflatten(theta, ws), x, activation)
              - mlp_forward(unflatten(t2, ws), x, activation)).abs().amax(dim=(-1, -2))
    return df / dist


# --------------------------------------------------------------------------- training
def train_trajectory(theta0: torch.Tensor, widths, activation: str, x: torch.Tensor,
                     y: torch.Tensor, steps: int, lr: float, optimizer: str = "adam") -> torch.Tensor:
    """Full-batch training of the MSE from flat ``theta0`` (..., S); returns (steps+1, ..., S).

    Hand-written GD / Adam (beta 0.9, 0.999, eps 1e-8): both elementwise in the gradient, so
    they commute with neuron permutations and sign flips (the loss is invariant, its
    gradient equivariant) -- but not with ReLU rescalings, which are not isometries.
    """
    if optimizer not in ("gd", "adam"):
        raise ValueError(f"optimizer must be 'gd' or 'adam', got {optimizer!r}")
    ws = _check_widths(widths)
    theta = theta0.detach().clone()
    m = torch.zeros_like(theta)
    v = torch.zeros_like(theta)
    traj = [theta.clone()]
    for t in range(1, steps + 1):
        th = theta.requires_grad_(True)
        loss = ((mlp_forward(unflatten(th, ws), x, activation) - y) ** 2).mean(dim=(-1, -2)).sum()
        (g,) = torch.autograd.grad(loss, th)
        with torch.no_grad():
            if optimizer == "gd":
                theta = th - lr * g
            else:
                m = 0.9 * m + 0.1 * g
                v = 0.999 * v + 0.001 * g * g
                theta = th - lr * (m / (1 - 0.9 ** t)) / ((v / (1 - 0.999 ** t)).sqrt() + 1e-8)
        traj.append(theta.detach().clone())
        theta = theta.detach()
    return torch.stack(traj)


def _shallow_tanh_adam(w, b, a, c, x, y, steps: int, lr: float):
    """Batched full-batch Adam on the MSE of 1-N-1 tanh nets with hand-derived gradients, in
    numpy float64 (w, b, a: (seeds, N); c: (seeds, 1); x, y: (k,)).  Returns the final MSE."""
    params = [w.copy(), b.copy(), a.copy(), c.copy()]
    ms = [np.zeros_like(p) for p in params]
    vs = [np.zeros_like(p) for p in params]
    k = x.shape[0]
    for t in range(1, steps + 1):
        w, b, a, c = params
        th = np.tanh(w[..., None] * x + b[..., None])                  # (s, N, k)
        dr = (2.0 / k) * (np.einsum("sn,snk->sk", a, th) + c - y)       # dMSE/d output
        dz = dr[:, None, :] * a[..., None] * (1 - th * th)
        grads = [dz @ x, dz.sum(-1), np.einsum("sk,snk->sn", dr, th), dr.sum(-1, keepdims=True)]
        b1, b2 = 1 - 0.9 ** t, 1 - 0.999 ** t
        for p, g, m, v in zip(params, grads, ms, vs):
            m *= 0.9
            m += 0.1 * g
            v *= 0.999
            v += 0.001 * g * g
            p -= lr * (m / b1) / (np.sqrt(v / b2) + 1e-8)
    w, b, a, c = params
    out = np.einsum("sn,snk->sk", a, np.tanh(w[..., None] * x + b[..., None])) + c
    return ((out - y) ** 2).mean(-1)


TEACHER = {"w": (1.5, -1.2), "b": (0.5, 0.3), "a": (1.0, 0.8), "c": 0.1}


def teacher_student_success(width: int, seeds: int, rng: np.random.Generator, steps: int = 2000,
                            lr: float = 0.02, threshold: float = 1e-4) -> np.ndarray:
    """Success (final MSE < ``threshold``) of ``seeds`` 1-width-1 tanh students, uniform init on
    [-2, 2], ``steps`` of full-batch Adam (lr 0.02), fitting the 1-2-1 tanh teacher
    ``TEACHER`` on 64 points of [-2, 2].  Returns a bool array (seeds,)."""
    if int(width) < 1 or int(seeds) < 1:
        raise ValueError(f"width and seeds must be integers >= 1, got {width!r}, {seeds!r}")
    x = np.linspace(-2.0, 2.0, 64)
    T = {k: np.asarray(v, dtype=np.float64) for k, v in TEACHER.items()}
    y = (T["a"][:, None] * np.tanh(T["w"][:, None] * x + T["b"][:, None])).sum(0) + T["c"]
    u = lambda *shape: rng.uniform(-2.0, 2.0, shape)  # noqa: E731
    w, b, a, c = u(seeds, width), u(seeds, width), u(seeds, width), u(seeds, 1)
    return _shallow_tanh_adam(w, b, a, c, x, y, steps, lr) < threshold


# --------------------------------------------------------------------------- canonical forms beyond MLPs
def _take(t: torch.Tensor, idx: torch.Tensor, dim: int) -> torch.Tensor:
    """``t`` reordered along ``dim`` (counted from the end) by ``idx`` (batch..., n), where the
    leading batch dimensions of ``idx`` are those of ``t``."""
    t = t.movedim(dim, -1)
    shape = idx.shape[:-1] + (1,) * (t.dim() - idx.dim()) + idx.shape[-1:]
    return torch.gather(t, -1, idx.reshape(shape).expand(t.shape)).movedim(-1, dim)


def _reorder(state: dict, order: torch.Tensor, targets) -> None:
    """Apply one permutation ``order`` to every ``(key, dim, block)`` of ``state`` in place:
    ``block`` > 1 moves contiguous blocks of that many entries (a flatten of C x block)."""
    for key, dim, block in targets:
        idx = order if block == 1 else (order.unsqueeze(-1) * block + torch.arange(block)).flatten(-2)
        state[key] = _take(state[key], idx, dim)


def _require(state: dict, keys, what: str) -> None:
    """A clear refusal of a state dict that lacks the tensors a canonical form reads."""
    missing = [k for k in keys if state.get(k) is None]
    if missing:
        raise ValueError(f"state: {what} needs {', '.join(missing)} (got keys {', '.join(sorted(state))})")


def _descending(key: torch.Tensor) -> torch.Tensor:
    return torch.argsort(key, dim=-1, descending=True, stable=True)


def canonical_cnn_state(state: dict) -> dict:
    """Canonical form of a :class:`SmallCNN` state dict (leading batch dimensions allowed):
    each conv layer's output channels ordered by decreasing conv bias, carrying the filters,
    the bias, the BatchNorm parameters and running statistics, and the next layer's
    input-channel slices (conv2's kernels, the read-out's column block of 4 pooled positions
    per channel).  Only indexing: canonical(g.state) == canonical(state) bit for bit."""
    _require(state, ["conv1.bias", "conv2.bias", "conv2.weight", "fc.weight"],
             "the SmallCNN canonical form (conv biases)")
    out = dict(state)
    bn = lambda i: [(f"bn{i}.{n}", -1, 1) for n in ("weight", "bias", "running_mean", "running_var")]  # noqa: E731
    blocks = state["fc.weight"].shape[-1] // state["conv2.bias"].shape[-1]
    for i, nxt in ((1, ("conv2.weight", -3, 1)), (2, ("fc.weight", -1, blocks))):
        order = _descending(out[f"conv{i}.bias"])
        _reorder(out, order, [(f"conv{i}.weight", -4, 1), (f"conv{i}.bias", -1, 1), *bn(i), nxt])
    return out


def canonical_residual_state(state: dict, stream: bool = True) -> dict:
    """Canonical form of a :class:`ResidualMLP` state dict (leading batch dims allowed).

    The residual stream (one permutation of D coordinates shared by every layer, the D! factor)
    is ordered by decreasing embedding bias: embedding rows and bias, every LayerNorm's
    weight and bias, every block's U columns, V rows and V bias, the read-out's columns.
    Each block's hidden units are ordered by decreasing U bias (rows of U, columns of V).
    ``stream=False`` orders the blocks only (the form of the group without D!)."""
    _require(state, ["embed.bias", "embed.weight", "readout.weight"], "the ResidualMLP canonical form")
    out = dict(state)
    blocks = sorted({int(k.split(".")[1]) for k in state if k.startswith("U.")})
    if stream:
        targets = [("embed.weight", -2, 1), ("embed.bias", -1, 1), ("readout.weight", -1, 1)]
        for b in blocks:
            targets += [(f"norms.{b}.weight", -1, 1), (f"norms.{b}.bias", -1, 1), (f"U.{b}.weight", -1, 1),
                        (f"V.{b}.weight", -2, 1), (f"V.{b}.bias", -1, 1)]
        _reorder(out, _descending(out["embed.bias"]), targets)
    for b in blocks:
        _reorder(out, _descending(out[f"U.{b}.bias"]),
                 [(f"U.{b}.weight", -2, 1), (f"U.{b}.bias", -1, 1), (f"V.{b}.weight", -1, 1)])
    return out


def canonical_attention_state(state: dict, heads: int, within: bool = True) -> dict:
    """Canonical form of an ``nn.MultiheadAttention`` state dict (leading batch dims allowed).

    ``in_proj`` packs [W_Q; W_K; W_V], each of H head blocks of E/H rows.  With ``within``,
    each head's query/key coordinates are first ordered jointly by decreasing query bias and
    its value coordinates by decreasing value bias (with the matching ``out_proj`` columns);
    then the heads are ordered by their largest query bias, a key that in-head permutations
    do not change.  The group: H! (d_k! d_v!)^H with ``within``, H! without."""
    _require(state, ["in_proj_weight", "in_proj_bias", "out_proj.weight"],
             "the attention canonical form (packed in_proj with biases: kdim = vdim = embed_dim, bias=True)")
    bias = state["in_proj_bias"]
    E = bias.shape[-1] // 3
    H = int(heads)
    if H < 1 or E % H:
        raise ValueError(f"heads must divide the embedding dimension {E}, got {heads!r}")
    dh = E // H
    q, _, v = bias.reshape(*bias.shape[:-1], 3, H, dh).unbind(-3)
    ident = torch.arange(dh).expand(q.shape)
    qk_order, v_order = (_descending(q), _descending(v)) if within else (ident, ident)
    head_order = _descending(q.amax(-1))
    hsel = head_order.unsqueeze(-1)

    def rows(coord_order, part):
        coords = torch.take_along_dim(coord_order, hsel, dim=-2)
        return (part * E + hsel * dh + coords).flatten(-2)

    out = dict(state)
    r = torch.cat([rows(qk_order, 0), rows(qk_order, 1), rows(v_order, 2)], dim=-1)
    out["in_proj_weight"] = _take(state["in_proj_weight"], r, -2)
    out["in_proj_bias"] = _take(bias, r, -1)
    out["out_proj.weight"] = _take(state["out_proj.weight"], rows(v_order, 0), -1)
    return out


def load_state(model: nn.Module, state: dict) -> nn.Module:
    """A copy of ``model`` holding ``state`` (e.g. a canonical form), in eval mode."""
    m = copy.deepcopy(model)
    m.load_state_dict(state)
    return m.eval()


def random_states(model: nn.Module, n: int, generator: torch.Generator) -> dict:
    """``n`` independent parameter sets for ``model``'s architecture, batched (n, ...): every
    float entry i.i.d. standard normal (running variances |normal| + 0.5); an exchangeable law
    over the channels, units and heads that the canonical forms order."""
    out = {}
    for k, t in model.state_dict().items():
        if not t.is_floating_point():
            out[k] = t
            continue
        z = torch.randn(int(n), *t.shape, generator=generator, dtype=DTYPE)
        out[k] = z.abs() + 0.5 if k.endswith("running_var") else z
    return out


def fixed_fraction(state: dict, canonical: dict) -> torch.Tensor:
    """Per batched network, whether the canonical form equals the parameters bitwise."""
    ok = None
    for k, t in state.items():
        if t.is_floating_point() and t.dim() > 0:
            same = (canonical[k] == t).flatten(1).all(-1)
            ok = same if ok is None else ok & same
    return ok


# --------------------------------------------------------------------------- ReLU scaling normal form
def relu_scale_to_boundary(params, B: float) -> list:
    """The ReLU rescaling that puts every hidden neuron's incoming vector (w, b) on the boundary
    of the box: ``||(w, b)||_inf = B`` (derived normal form; a dead all-zero neuron is kept).

    Layers are processed from first to last: neuron i of hidden layer l is multiplied by
    c_i = B / ||(w_i, b_i)||_inf >= 1 and its outgoing column divided by c_i, which only
    shrinks entries, so every parameter stays in [-B, B] and f is unchanged (ReLU(c z) =
    c ReLU(z) for c > 0).  Batched params allowed."""
    B = _check_positive("B", B)
    out = [(W.clone(), b.clone()) for W, b in params]
    for l in range(1, len(out)):
        (Win, bin_), (Wout, bout) = out[l - 1], out[l]
        norm = torch.maximum(Win.abs().amax(-1), bin_.abs())
        c = torch.where(norm > 0, B / torch.where(norm > 0, norm, 1.0), 1.0)
        out[l - 1] = (Win * c.unsqueeze(-1), bin_ * c)
        out[l] = (Wout / c.unsqueeze(-2), bout)
    return out


def boundary_cells_sampled(m: int, k: int, n: int, B: float, generator: torch.Generator) -> int:
    """Distinct grid cells (m per side of [-B, B]^k) holding the incoming vectors (w, b) of
    hidden neurons after :func:`relu_scale_to_boundary`, over ``n`` random (k-1)-1-1 ReLU
    networks with uniform box parameters."""
    p = relu_scale_to_boundary(random_mlp([k - 1, 1, 1], B, generator, batch=(int(n),)), B)
    v = torch.cat([p[0][0][:, 0, :], p[0][1]], dim=-1)
    cells = ((v + B) * m / (2 * B)).floor().clamp(0, m - 1).long()
    return len(torch.unique((cells * m ** torch.arange(k)).sum(-1)))


def boundary_cells_bruteforce(m: int, k: int) -> int:
    """Grid cells of [-1, 1]^k (m per side) whose closure meets the boundary of the cube: every
    index tuple enumerated, kept when some index is the first or the last cell."""
    if int(m) < 1 or int(k) < 1:
        raise ValueError(f"m and k must be integers >= 1, got {m!r}, {k!r}")
    idx = np.array(list(itertools.product(range(m), repeat=k)), dtype=np.int64).reshape(-1, k)
    return int(((idx == 0) | (idx == m - 1)).any(axis=1).sum())


def sorted_nonnegative_cells_bruteforce(m: int, d: int) -> int:
    """Grid cells of [-1, 1]^d (m per side) that meet {b_1 >= ... >= b_d >= 0}: every index
    tuple is tested by building a point of the cone inside its cell, from the last coordinate
    up (integer arithmetic in units of half a cell; cell k is [2k, 2k+2), zero is at m, the
    last cell is closed at 2m)."""
    if int(m) < 1 or int(d) < 1:
        raise ValueError(f"m and d must be integers >= 1, got {m!r}, {d!r}")
    idx = np.array(list(itertools.product(range(m), repeat=d)), dtype=np.int64).reshape(-1, d)
    x = np.full(len(idx), m)  # the point may not go below 0 (and below the next coordinate)
    ok = np.ones(len(idx), dtype=bool)
    for i in range(d - 1, -1, -1):
        lo, hi = 2 * idx[:, i], 2 * idx[:, i] + 2
        x = np.maximum(x, lo)
        ok &= (x < hi) | ((idx[:, i] == m - 1) & (x <= hi))
    return int(ok.sum())


def sorted_nonnegative_cells_sampled(m: int, d: int, n: int, generator: torch.Generator) -> int:
    """Distinct grid cells hit by the tanh canonical biases (|b| sorted decreasingly) of ``n``
    uniform vectors of [-1, 1]^d."""
    v = torch.sort((2 * torch.rand(n, d, generator=generator, dtype=DTYPE) - 1).abs(), dim=1,
                   descending=True).values
    cells = ((v + 1) / 2 * m).floor().clamp(0, m - 1).long()
    return len(torch.unique((cells * m ** torch.arange(d)).sum(1)))


# --------------------------------------------------------------------------- plain CNN class
def random_cnn(channels, kernel: int, n_out: int, pooled_side: int, B: float, generator: torch.Generator) -> list:
    """Conv filters (c_{l+1}, c_l, k, k), biases and a read-out (n_out, c_L P), P = pooled_side^2,
    every entry uniform on [-B, B]: a member of the bounded-weight CNN class."""
    B = _check_positive("B", B)
    u = lambda *shape: (2 * torch.rand(*shape, generator=generator, dtype=DTYPE) - 1) * B  # noqa: E731
    cs = [int(c) for c in channels]
    convs = [(u(cs[l + 1], cs[l], kernel, kernel), u(cs[l + 1])) for l in range(len(cs) - 1)]
    return convs + [(u(n_out, cs[-1] * pooled_side ** 2), u(n_out))]


def cnn_forward(params, x: torch.Tensor, activation: str, pooled_side: int) -> torch.Tensor:
    """conv (zero padding k//2) + activation per layer, average pooling to pooled_side^2
    positions, flatten (C, H, W order) and the linear read-out; x of shape (n, c_0, H, W)."""
    act = _ACT[_check_activation(activation)]
    h = x
    for W, b in params[:-1]:
        h = act(nn.functional.conv2d(h, W, b, padding=W.shape[-1] // 2))
    h = nn.functional.adaptive_avg_pool2d(h, pooled_side).flatten(1)
    return h @ params[-1][0].T + params[-1][1]


def cnn_corner_quotient(channels, kernel: int, n_out: int, pooled_side: int, activation: str, B: float,
                        delta: float, image_side: int) -> float:
    """|f_t(x) - f_t'(x)| / delta for the box corner t' (every weight and bias = B), t = t' - delta
    and the all-ones image x: every unit is active and every term adds up, the case that
    drives the fan-in product of the Lipschitz constant (smaller only at zero-padded borders)."""
    B, delta = _check_positive("B", B), _check_positive("delta", delta)
    cs = [int(c) for c in channels]
    ones = [(torch.ones(cs[l + 1], cs[l], kernel, kernel, dtype=DTYPE), torch.ones(cs[l + 1], dtype=DTYPE))
            for l in range(len(cs) - 1)]
    ones.append((torch.ones(n_out, cs[-1] * pooled_side ** 2, dtype=DTYPE), torch.ones(n_out, dtype=DTYPE)))
    x = torch.ones(1, cs[0], image_side, image_side, dtype=DTYPE)
    f = lambda c: cnn_forward([(W * c, b * c) for W, b in ones], x, activation, pooled_side)  # noqa: E731
    return float((f(B) - f(B - delta)).abs().max()) / delta
