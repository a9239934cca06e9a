"""Real random fully connected networks in torch float64, one at a time or many at once.

Conventions (Hanin arXiv 2204.01058, Def. of a random fully connected network; PDLT
arXiv 2106.10165 eqs. (4.2)-(4.4)): ``widths = (n_0, n_1, ..., n_L, n_{L+1})``,

    z^(1)   = b^(1)   + W^(1) x,                 W^(l)_ij ~ N(0, C_W / n_{l-1}),
    z^(l+1) = b^(l+1) + W^(l+1) sigma(z^(l)),    b^(l)_i  ~ N(0, C_b)  (omitted when C_b = 0),

so layer 1 is the first pre-activation, there are L hidden layers and the output is
z^(L+1).  The stochastic metric of layer l (PDLT "stochastic metric", DESIGN.md)

    G^(l)_ab = C_b + (C_W / n_{l-1}) sum_j phi_j,a phi_j,b,   phi^(0) = x,  phi^(l) = sigma(z^(l)),

is exactly the conditional covariance of each row of z^(l) given the layers below.
With a tangent direction u the forward-mode derivatives dz = d/dt z(x + t u) are
carried as extra "inputs": phi = (sigma(z), sigma'(z) dz), the bias enters only the
z block, and D^(l) = the dz block of the extended metric (correlations.md §2(d)).

:class:`MLP` is an ordinary ``nn.Module`` with this initialisation; :func:`sample_networks`
draws many networks as batched weight tensors and returns per-network statistics
(:class:`NetworkStats`), in chunks to bound memory.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, NamedTuple, Sequence

import numpy as np
import torch
from torch import nn

from dltv.numerics.threads import one_thread

DTYPE = torch.float64
LEAKY_SLOPE = 0.1
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)


class Activation(NamedTuple):
    """A named activation: ``fn`` and its derivative ``derivative`` (torch, elementwise)."""

    name: str
    fn: Callable[[torch.Tensor], torch.Tensor]
    derivative: Callable[[torch.Tensor], torch.Tensor]


def _gelu(z):  # exact form z * Phi(z)
    return 0.5 * z * (1.0 + torch.erf(z * _INV_SQRT_2))


def _gelu_d(z):  # Phi(z) + z phi(z)
    return 0.5 * (1.0 + torch.erf(z * _INV_SQRT_2)) + z * torch.exp(-0.5 * z * z) * _INV_SQRT_2PI


def _silu_d(z):
    s = torch.sigmoid(z)
    return s * (1.0 + z * (1.0 - s))


ACTIVATIONS: dict[str, Activation] = {a.name: a for a in (
    Activation("relu", torch.relu, lambda z: (z > 0).to(z.dtype)),
    Activation("leaky_relu", lambda z: torch.where(z > 0, z, LEAKY_SLOPE * z),
               lambda z: torch.where(z > 0, torch.ones_like(z), torch.full_like(z, LEAKY_SLOPE))),
    Activation("abs", torch.abs, torch.sign),
    Activation("linear", lambda z: z, torch.ones_like),
    Activation("erf", torch.erf, lambda z: (2.0 / math.sqrt(math.pi)) * torch.exp(-z * z)),
    Activation("tanh", torch.tanh, lambda z: 1.0 - torch.tanh(z) ** 2),
    Activation("gelu", _gelu, _gelu_d),
    Activation("silu", nn.functional.silu, _silu_d),
    Activation("sin", torch.sin, torch.cos),
)}


def get_activation(activation: str | Activation) -> Activation:
    """The :class:`Activation` called ``activation`` (one of :data:`ACTIVATIONS`)."""
    if isinstance(activation, Activation):
        return activation
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
    return ACTIVATIONS[activation]


# ---------------------------------------------------------------- input checks

def check_widths(widths) -> tuple[int, ...]:
    """``widths`` as a tuple of ints >= 1 with at least two entries (n_0 and the output)."""
    try:
        w = tuple(widths)
    except TypeError:
        raise ValueError(f"widths must be a sequence of integers >= 1, got {widths!r}") from None
    if len(w) < 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1 for v in w):
        raise ValueError(f"widths must be a sequence of at least two integers >= 1 "
                         f"(n_0, ..., n_(L+1)), got {widths!r}")
    return tuple(int(v) for v in w)


def check_variances(C_W, C_b) -> tuple[float, float]:
    """``(C_W, C_b)`` as floats with C_W > 0 and C_b >= 0, both finite."""
    try:
        cw, cb = float(C_W), float(C_b)
    except (TypeError, ValueError):
        raise ValueError(f"C_W and C_b must be real numbers, got C_W={C_W!r}, C_b={C_b!r}") from None
    if not (math.isfinite(cw) and cw > 0):
        raise ValueError(f"C_W must be a finite number > 0, got {C_W!r}")
    if not (math.isfinite(cb) and cb >= 0):
        raise ValueError(f"C_b must be a finite number >= 0, got {C_b!r}")
    return cw, cb


def check_count(value, name: str, low: int = 1) -> int:
    """An integer >= ``low``."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def check_device(device) -> torch.device:
    try:
        return torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be a torch device name such as 'cpu' or 'cuda', got {device!r}") from None


def as_inputs(x, n0: int, device, name: str = "x") -> torch.Tensor:
    """Inputs as a (k, n_0) float64 tensor on ``device``; a 1-D input is one row."""
    try:
        t = torch.as_tensor(np.asarray(x.cpu() if torch.is_tensor(x) else x, dtype=np.float64),
                            dtype=DTYPE, device=device)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of real numbers, got {type(x).__name__}") from None
    if t.ndim == 1:
        t = t.unsqueeze(0)
    if t.ndim != 2 or t.shape[1] != n0 or t.shape[0] < 1:
        raise ValueError(f"{name} must have shape (k, n_0) or (n_0,) with n_0 = {n0}, got {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return t


def check_layers(layers, n_layers: int) -> tuple[int, ...]:
    """Requested metric layers: ints in 1..L+1 (``None`` = all)."""
    if layers is None:
        return tuple(range(1, n_layers + 1))
    out = tuple(layers)
    if not out or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                          and 1 <= v <= n_layers for v in out):
        raise ValueError(f"layers must be integers in 1..{n_layers} (L+1), got {layers!r}")
    return tuple(int(v) for v in out)


class SamplerArgs(NamedTuple):
    """Validated arguments shared by the samplers (see :func:`sampler_args`)."""

    widths: tuple[int, ...]
    C_W: float
    C_b: float
    n_networks: int
    device: torch.device
    x: torch.Tensor
    direction: torch.Tensor | None
    layers: tuple[int, ...]


def sampler_args(widths, activation, C_W, C_b, x, n_networks, direction, layers, device) -> SamplerArgs:
    """Check the arguments every sampler takes; ValueError naming the first bad parameter."""
    widths = check_widths(widths)
    get_activation(activation)
    cw, cb = check_variances(C_W, C_b)
    n = check_count(n_networks, "n_networks")
    dev = check_device(device)
    x = as_inputs(x, widths[0], dev)
    u = None if direction is None else as_inputs(direction, widths[0], dev, "direction")[0]
    return SamplerArgs(widths, cw, cb, n, dev, x, u, check_layers(layers, len(widths) - 1))


# ---------------------------------------------------------------- one network

class MLP(nn.Module):
    """A fully connected network with the (C_W, C_b) initialisation, in float64.

    ``MLP((n_0, ..., n_L, n_out), "tanh", C_W=1, C_b=0)``; ``forward(x)`` returns z^(L+1),
    :meth:`preactivations` all z^(l).  Layers have no bias when C_b = 0.
    """

    def __init__(self, widths: Sequence[int], activation: str = "relu", C_W: float = 1.0,
                 C_b: float = 0.0, *, generator: torch.Generator | None = None, device="cpu"):
        super().__init__()
        self.widths = check_widths(widths)
        self.activation = get_activation(activation)
        cw, cb = check_variances(C_W, C_b)
        dev = check_device(device)
        self.linears = nn.ModuleList(
            nn.Linear(a, b, bias=cb > 0, dtype=DTYPE, device=dev)
            for a, b in zip(self.widths[:-1], self.widths[1:]))
        self.init_(cw, cb, generator)

    @torch.no_grad()
    def init_(self, C_W: float, C_b: float, generator: torch.Generator | None = None) -> "MLP":
        """Redraw W ~ N(0, C_W/n_in) and b ~ N(0, C_b) in place (PyTorch's default init is replaced)."""
        cw, cb = check_variances(C_W, C_b)
        if cb > 0 and self.linears[0].bias is None:
            raise ValueError("C_b must be 0 for a network built without biases (built with C_b = 0)")
        for lin in self.linears:
            lin.weight.normal_(0.0, math.sqrt(cw / lin.in_features), generator=generator)
            if lin.bias is not None:
                lin.bias.normal_(0.0, math.sqrt(cb), generator=generator) if cb > 0 else lin.bias.zero_()
        self.C_W, self.C_b = cw, cb
        return self

    def preactivations(self, x: torch.Tensor) -> list[torch.Tensor]:
        """[z^(1), ..., z^(L+1)] for inputs ``x`` of shape (..., n_0)."""
        out, h = [], x
        for i, lin in enumerate(self.linears):
            z = lin(h)
            out.append(z)
            if i + 1 < len(self.linears):
                h = self.activation.fn(z)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.preactivations(x)[-1]

    @classmethod
    def from_batch(cls, params: "NetworkBatch", index: int, activation: str = "relu") -> "MLP":
        """Network number ``index`` of a :class:`NetworkBatch` as an ``MLP`` (same weights)."""
        widths = params.widths
        net = cls(widths, activation, C_W=params.C_W, C_b=params.C_b, device=params.weights[0].device)
        with torch.no_grad():
            for l, lin in enumerate(net.linears):
                lin.weight.copy_(params.weights[l][index])
                if lin.bias is not None:
                    lin.bias.copy_(params.biases[l][index])
        return net


# ---------------------------------------------------------------- many networks

@dataclass
class NetworkBatch:
    """Weights of N networks: ``weights[l-1]`` has shape (N, n_l, n_{l-1}); ``biases[l-1]`` (N, n_l) or None."""

    widths: tuple[int, ...]
    C_W: float
    C_b: float
    weights: list[torch.Tensor]
    biases: list[torch.Tensor | None]

    @property
    def n_networks(self) -> int:
        return self.weights[0].shape[0]


def sample_params(widths: Sequence[int], n_networks: int, C_W: float = 1.0, C_b: float = 0.0, *,
                  generator: torch.Generator | None = None, device="cpu") -> NetworkBatch:
    """Draw N networks' weights W ~ N(0, C_W/n_in) and biases b ~ N(0, C_b) as batched tensors."""
    widths = check_widths(widths)
    cw, cb = check_variances(C_W, C_b)
    n = check_count(n_networks, "n_networks")
    dev = check_device(device)
    weights, biases = [], []
    for a, b in zip(widths[:-1], widths[1:]):
        w = torch.empty(n, b, a, dtype=DTYPE, device=dev)
        weights.append(w.normal_(0.0, math.sqrt(cw / a), generator=generator))
        if cb > 0:
            bias = torch.empty(n, b, dtype=DTYPE, device=dev)
            biases.append(bias.normal_(0.0, math.sqrt(cb), generator=generator))
        else:
            biases.append(None)
    return NetworkBatch(widths, cw, cb, weights, biases)


@dataclass
class NetworkStats:
    """Per-network statistics of N sampled networks on k inputs (all float64 tensors).

    ``metric[:, i]`` is the (extended) stochastic metric at layer ``layers[i]``, shape
    (N, m, m) with m = k (no tangent) or 2k (inputs then their tangents).
    ``outputs`` are the output pre-activations z^(L+1), shape (N, n_{L+1}, k);
    ``output_tangents`` the matching derivatives along the direction (or None).
    """

    layers: tuple[int, ...]
    k: int
    metric: torch.Tensor
    outputs: torch.Tensor
    output_tangents: torch.Tensor | None = None

    @property
    def n_networks(self) -> int:
        return self.metric.shape[0]

    @property
    def G(self) -> torch.Tensor:
        """Forward metric G^(l)_ab, shape (N, n_layers, k, k)."""
        return self.metric[..., :self.k, :self.k]

    @property
    def D(self) -> torch.Tensor | None:
        """Derivative metric D^(l)_ab = (C_W/n) sum sigma'(z_a) dz_a sigma'(z_b) dz_b, shape (N, n_layers, k, k)."""
        if self.metric.shape[-1] == self.k:
            return None
        return self.metric[..., self.k:, self.k:]

    def at(self, layer: int) -> torch.Tensor:
        """The extended metric at ``layer`` (one of ``layers``), shape (N, m, m)."""
        if layer not in self.layers:
            raise ValueError(f"layer must be one of the sampled layers {self.layers}, got {layer!r}")
        return self.metric[:, self.layers.index(layer)]

    @staticmethod
    def concat(parts: Sequence["NetworkStats"]) -> "NetworkStats":
        first = parts[0]
        tang = None if first.output_tangents is None else torch.cat([p.output_tangents for p in parts])
        return NetworkStats(first.layers, first.k, torch.cat([p.metric for p in parts]),
                            torch.cat([p.outputs for p in parts]), tang)


def features(z: torch.Tensor, act: Activation, k: int) -> torch.Tensor:
    """phi = (sigma(z_a), sigma'(z_a) dz_a) from stacked columns (z_1..z_k, dz_1..dz_k), shape (..., n, m)."""
    if z.shape[-1] == k:
        return act.fn(z)
    zz = z[..., :k]
    return torch.cat([act.fn(zz), act.derivative(zz) * z[..., k:]], dim=-1)


def metric_of(phi: torch.Tensor, C_W: float, C_b: float, k: int) -> torch.Tensor:
    """G = C_b e e^T (z block only) + (C_W/n) phi^T phi for phi of shape (..., n, m)."""
    g = torch.matmul(phi.transpose(-1, -2), phi).mul_(C_W / phi.shape[-2])
    if C_b:
        g[..., :k, :k] += C_b
    return g


def stacked_inputs(x: torch.Tensor, direction: torch.Tensor | None) -> torch.Tensor:
    """Columns (x_1..x_k[, u..u]) of shape (n_0, m): every input carries its tangent along u."""
    cols = x.T
    if direction is not None:
        cols = torch.cat([cols, direction.reshape(-1, 1).expand(-1, x.shape[0])], dim=1)
    return cols.contiguous()


def forward_batch(params: NetworkBatch, x, activation: str = "relu", *, direction=None,
                  layers: Sequence[int] | None = None) -> NetworkStats:
    """Evaluate every network of ``params`` on the k inputs ``x`` (and tangents along ``direction``)."""
    act = get_activation(activation)
    dev = params.weights[0].device
    x = as_inputs(x, params.widths[0], dev)
    u = None if direction is None else as_inputs(direction, params.widths[0], dev, "direction")[0]
    n_layers = len(params.widths) - 1
    layers = check_layers(layers, n_layers)
    k, cw, cb = x.shape[0], params.C_W, params.C_b
    phi = stacked_inputs(x, u)  # (n_0, m), shared by all networks
    metrics = {}
    z = None
    for l in range(1, n_layers + 1):
        if l in layers:
            g = metric_of(phi, cw, cb, k)
            metrics[l] = g.expand(params.n_networks, -1, -1) if g.ndim == 2 else g
        z = torch.matmul(params.weights[l - 1], phi)  # (N, n_l, m)
        if params.biases[l - 1] is not None:
            z[..., :k] += params.biases[l - 1].unsqueeze(-1)
        if l < n_layers:
            phi = features(z, act, k)
    metric = torch.stack([metrics[l] for l in layers], dim=1)
    tangents = None if u is None else z[..., k:]
    return NetworkStats(layers, k, metric, z[..., :k], tangents)


def default_chunk(per_network_elements: int, budget: int = 1 << 23) -> int:
    """Networks per chunk so that one chunk's largest tensor holds about ``budget`` float64 values."""
    return max(1, budget // max(per_network_elements, 1))


def sample_networks(widths: Sequence[int], activation: str, C_W: float, C_b: float, x, n_networks: int, *,
                    direction=None, layers: Sequence[int] | None = None, chunk_size: int | None = None,
                    generator: torch.Generator | None = None, device="cpu") -> NetworkStats:
    """Draw ``n_networks`` real networks (batched weights) and return their :class:`NetworkStats`.

    Memory is bounded by drawing ``chunk_size`` networks at a time (default: about 64 MB of
    weights per layer).  Cost O(N L n^2 k).  Reproducible for a given ``generator`` and chunk size.
    """
    widths, cw, cb, n, dev, x, u, layers = sampler_args(widths, activation, C_W, C_b, x, n_networks,
                                                        direction, layers, device)
    chunk = default_chunk(max(a * b for a, b in zip(widths[:-1], widths[1:]))) if chunk_size is None \
        else check_count(chunk_size, "chunk_size")
    parts = []
    with one_thread():  # batched small matrices: intra-op threads only contend
        for start in range(0, n, chunk):
            params = sample_params(widths, min(chunk, n - start), cw, cb, generator=generator, device=dev)
            parts.append(forward_batch(params, x, activation, direction=u, layers=layers))
    return NetworkStats.concat(parts)


# ---------------------------------------------------------------- empirical neural tangent kernel

def empirical_ntk(params: NetworkBatch, x, activation: str = "relu", *, parameterization: str = "ntk",
                  output: int = 0) -> torch.Tensor:
    """Per-network empirical NTK Theta_ab = sum_theta df(x_a)/dtheta df(x_b)/dtheta, shape (N, k, k), by autograd.

    ``f`` is output neuron ``output`` of each network.  ``parameterization="ntk"``: theta are the
    standard-normal parameters of W = sqrt(C_W/n_in) omega, b = sqrt(C_b) beta (neural-tangents
    stax.Dense, Jacot et al. 2018), so each layer's weight gradients carry the factor C_W/n_in and
    its bias gradients C_b; this is the NTK whose infinite-width limit is
    Theta^(l+1) = K^(l+1) + C_W <s'_a s'_b>_{K^(l)} Theta^(l).  ``"standard"``: theta = (W, b)
    themselves (unit learning rate).  The N networks are independent, so one backward pass of the
    sum over networks gives every network's gradient.
    """
    if parameterization not in ("ntk", "standard"):
        raise ValueError(f"parameterization must be 'ntk' or 'standard', got {parameterization!r}")
    act = get_activation(activation)
    dev = params.weights[0].device
    x = as_inputs(x, params.widths[0], dev)
    output = check_count(output, "output", 0)
    if output >= params.widths[-1]:
        raise ValueError(f"output must be < the output width {params.widths[-1]}, got {output}")
    leaves = [w.detach().requires_grad_(True) for w in params.weights]
    biases = [None if b is None else b.detach().requires_grad_(True) for b in params.biases]
    h = x.T.expand(params.n_networks, -1, -1)  # (N, n_0, k)
    for l, (w, b) in enumerate(zip(leaves, biases)):
        h = torch.matmul(w, h)
        if b is not None:
            h = h + b.unsqueeze(-1)
        if l + 1 < len(leaves):
            h = act.fn(h)
    f = h[:, output, :]  # (N, k)
    scale_w = [params.C_W / w.shape[-1] if parameterization == "ntk" else 1.0 for w in leaves]
    scale_b = params.C_b if parameterization == "ntk" else 1.0
    grads = []  # per input a: list of per-layer gradients
    for a in range(x.shape[0]):
        tensors = leaves + [b for b in biases if b is not None]
        grads.append(torch.autograd.grad(f[:, a].sum(), tensors, retain_graph=a + 1 < x.shape[0]))
    k, n_w = x.shape[0], len(leaves)
    theta = torch.zeros(params.n_networks, k, k, dtype=DTYPE, device=dev)
    for a in range(k):
        for c in range(a, k):
            tot = sum(s * (ga * gc).sum((-1, -2)) for s, ga, gc in zip(scale_w, grads[a][:n_w], grads[c][:n_w]))
            tot = tot + sum(scale_b * (ga * gc).sum(-1) for ga, gc in zip(grads[a][n_w:], grads[c][n_w:]))
            theta[:, a, c] = theta[:, c, a] = tot
    return theta.detach()


def sample_ntk(widths: Sequence[int], activation: str, C_W: float, C_b: float, x, n_networks: int, *,
               parameterization: str = "ntk", chunk_size: int | None = None,
               generator: torch.Generator | None = None, device="cpu") -> torch.Tensor:
    """Empirical NTKs (N, k, k) of ``n_networks`` real networks (:func:`empirical_ntk`), drawn in chunks."""
    widths, cw, cb, n, dev, x, _, _ = sampler_args(widths, activation, C_W, C_b, x, n_networks, None, None, device)
    chunk = default_chunk(max(a * b for a, b in zip(widths[:-1], widths[1:])), 1 << 21) if chunk_size is None \
        else check_count(chunk_size, "chunk_size")
    with one_thread():
        parts = [empirical_ntk(sample_params(widths, min(chunk, n - s), cw, cb, generator=generator, device=dev),
                               x, activation, parameterization=parameterization) for s in range(0, n, chunk)]
    return torch.cat(parts)
