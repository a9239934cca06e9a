"""Finite-width correlations numerically: the exact collapsed sampler, low-variance estimators,
and two-sample validation of the collapsed sampler against real weights.

Collapsed sampler (DESIGN.md "Sampling real networks, fast"; exact fact of correlations.md §1.2):
given layers <= l, the rows (z_i,a^(l+1))_a, i = 1..n_{l+1}, are i.i.d. N(0, G^(l+1)) with
G^(l+1) = C_b e e^T + (C_W/n_l) Phi^T Phi, Phi = (phi_j,a) the post-activations (derived: each row
is b_i + W_i Phi with W_i ~ N(0, C_W/n_l I) independent of Phi, a Gaussian vector with that covariance).
With a tangent direction the columns are (z_1..z_k, dz_1..dz_k), phi = (sigma(z), sigma'(z) dz)
and the bias enters only the z block (correlations.md §2(d)): dz^(l+1) = W^(l+1) (sigma'(z) dz)
uses the same row W_i, so the joint law is again Gaussian with the extended metric.
So z^(l+1) = E S^T with E an (n_{l+1}, m) standard normal matrix and S S^T = G^(l+1): cost
O(n m^2) per layer instead of O(n^2 m), same law.  PSD-singular G (identical inputs, u parallel
to x, dead ReLU layers) is handled by :func:`psd_cholesky`: a column-by-column Cholesky that sets
a column to 0 when its residual (Schur-complement) variance is <= 1e-12 x the largest diagonal
entry, i.e. that variable is an exact linear combination of the previous ones; no jitter is added
(for m = 2 the same rules in closed form, :func:`cholesky_2x2`, fused with the transform).

The sampler is bound by its random numbers: on the CPU they come from numpy's PCG64 ziggurat
(about 2x torch.randn's rate on one core), written in place into one preallocated buffer that torch
works on without copies (:class:`NormalBuffer`); on a GPU from torch.  For one input and a
positively homogeneous sigma, :func:`chi2_forward` is an exact shortcut that needs two or three
random numbers per layer instead of n (``sample_collapsed`` takes it by default where it applies).
For two inputs and a positively homogeneous sigma each hidden layer is one compiled pass over its
noise (:mod:`dltv.numerics.fused`) instead of five torch passes.
"""
from __future__ import annotations

import math
import warnings
from typing import Callable, Sequence

import numpy as np
import torch
from scipy import special
from scipy import stats as sps

from dltv.numerics.estimators import (Estimate, as_samples, covariance, delta_method, mean_se, moment_ratio,
                                 relative_variance, variance)
from dltv.numerics.networks import (DTYPE, LEAKY_SLOPE, Activation, NetworkStats, check_count, check_device,
                                    check_widths, get_activation, metric_of, sample_networks, sampler_args,
                                    stacked_inputs)
from dltv.numerics.threads import one_thread

# ---------------------------------------------------------------- random source

BIT_GENERATOR = np.random.PCG64
"""numpy bit generator of the CPU samplers: its ziggurat draws float64 normals about 2x faster than
torch.randn on one core (measured by ``dltv bench``: the floor rows)."""


def numpy_generator(generator: torch.Generator | np.random.Generator | None) -> np.random.Generator:
    """The numpy generator a CPU sampler draws from.

    A numpy ``Generator`` is used as it is.  A torch ``Generator`` (``None``: torch's global one)
    seeds a fresh :data:`BIT_GENERATOR` with two 62-bit words drawn from it, so a torch seed fixes
    every result, and successive calls sharing one torch generator get independent streams.
    """
    if isinstance(generator, np.random.Generator):
        return generator
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator, a numpy Generator or None, "
                         f"got {type(generator).__name__}")
    device = "cpu" if generator is None else generator.device
    words = torch.randint(0, 1 << 62, (2,), generator=generator, device=device).tolist()
    return np.random.Generator(BIT_GENERATOR(np.random.SeedSequence(words)))


def torch_generator(generator: torch.Generator | np.random.Generator | None,
                    device: torch.device) -> torch.Generator | None:
    """The torch generator a sampler on a GPU draws from (a numpy ``Generator`` seeds a new one)."""
    if isinstance(generator, np.random.Generator):
        return torch.Generator(device=device).manual_seed(int(generator.integers(1 << 62)))
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator, a numpy Generator or None, "
                         f"got {type(generator).__name__}")
    return generator


class NormalBuffer:
    """One preallocated float64 buffer that :meth:`draw` refills with i.i.d. N(0, 1) numbers.

    On the CPU numpy's generator (:func:`numpy_generator`) writes into it in place
    (``standard_normal(out=...)``) and torch sees the same memory (``torch.from_numpy``); on a GPU
    ``Tensor.normal_`` fills it with the torch generator.
    """

    def __init__(self, size: int, device: torch.device,
                 generator: torch.Generator | np.random.Generator | None = None):
        self.device = torch.device(device)
        if self.device.type == "cpu":
            self._rng = numpy_generator(generator)
            self._array = np.empty(size, dtype=np.float64)
            self._tensor = torch.from_numpy(self._array)
        else:
            self._rng, self._gen = None, torch_generator(generator, self.device)
            self._tensor = torch.empty(size, dtype=DTYPE, device=self.device)
        self._views: dict[tuple[int, ...], tuple[np.ndarray | None, torch.Tensor]] = {}

    def draw(self, *shape: int) -> torch.Tensor:
        """Fresh standard normals of ``shape``: a view of the buffer, overwritten by the next draw."""
        if shape not in self._views:
            count = math.prod(shape)
            array = None if self._rng is None else self._array[:count]
            self._views[shape] = array, self._tensor[:count].view(shape)
        array, tensor = self._views[shape]
        if array is not None:
            self._rng.standard_normal(out=array)
        else:
            tensor.normal_(generator=self._gen)
        return tensor


# ---------------------------------------------------------------- collapsed sampler


def psd_cholesky(g: torch.Tensor, rtol: float = 1e-12) -> torch.Tensor:
    """Lower-triangular S with S S^T = g for (batched) symmetric PSD g, singular allowed, no jitter.

    Column j: v = g[j:, j] - S[j:, :j] S[j, :j]; if v_0 (the residual variance) <= rtol * max diag,
    column j is set to 0 (variable j is determined by the earlier ones), else S[j:, j] = v / sqrt(v_0).
    """
    m = g.shape[-1]
    if m == 1:
        return g.clamp(min=0.0).sqrt()
    s = torch.zeros_like(g)
    tol = rtol * g.diagonal(dim1=-2, dim2=-1).amax(-1)
    for j in range(m):
        v = g[..., j:, j]
        if j:
            v = v - torch.matmul(s[..., j:, :j], s[..., j, :j].unsqueeze(-1)).squeeze(-1)
        ok = v[..., 0] > tol
        pivot = torch.where(ok, v[..., 0], 1.0).sqrt()
        s[..., j:, j] = torch.where(ok.unsqueeze(-1), v / pivot.unsqueeze(-1), 0.0)
    return s


def cholesky_2x2(g: torch.Tensor, rtol: float = 1e-12) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(S_00, S_10, S_11), each (N, 1), of the factor S S^T = g for a batch g (N, 2, 2), in closed form.

    The rules of :func:`psd_cholesky` (a column is set to 0 when its residual variance is <= rtol x
    the largest diagonal entry), on (N, 1) columns instead of a loop over (N, 2, 2) blocks:
    S_00 = sqrt(g_00), S_10 = g_10/S_00, S_11 = sqrt(g_11 - S_10^2).  Each entry is a correctly
    rounded square root or the same quotient and difference as in :func:`psd_cholesky`, so none is
    less accurate (equal to it within an ulp or two, the same zero pattern).
    """
    g00, g10, g11 = g[:, 0, 0:1], g[:, 1, 0:1], g[:, 1, 1:2]
    tol = torch.maximum(g00, g11).mul_(rtol)
    ok0 = g00 > tol
    s00 = torch.where(ok0, g00, 0.0).sqrt_()
    s10 = g10 / torch.where(ok0, s00, math.inf)  # 0 where column 0 is dropped
    v = g11 - s10 * s10
    s11 = torch.where(v > tol, v, 0.0).sqrt_()
    return s00, s10, s11


def _rows_with_covariance_(eps: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """S eps with S S^T = g (:func:`psd_cholesky`), for eps (N, m, n) standard normal: column i of the
    result ~ N(0, g).  In place in ``eps`` for m <= 2, where the factor is a scale (m = 1) or the
    closed form :func:`cholesky_2x2` fused with the transform (a batched m x m matmul is slower there).
    """
    m = eps.shape[1]
    if m == 1:
        return eps.mul_(g.clamp(min=0.0).sqrt_())
    if m == 2:
        s00, s10, s11 = cholesky_2x2(g)
        e0, e1 = eps[:, 0], eps[:, 1]
        e1.mul_(s11).addcmul_(e0, s10)
        e0.mul_(s00)
        return eps
    return torch.matmul(psd_cholesky(g), eps)


_IN_PLACE = {  # sigma applied in place, the same values as ACTIVATIONS[name].fn
    "relu": lambda z: z.clamp_(min=0.0),
    "leaky_relu": lambda z: torch.nn.functional.leaky_relu_(z, LEAKY_SLOPE),
    "abs": torch.Tensor.abs_,
    "linear": lambda z: z,
    "tanh": torch.Tensor.tanh_,
    "erf": torch.Tensor.erf_,
    "sin": torch.Tensor.sin_,
}


def _next_metric(z: torch.Tensor, act: Activation, C_W: float, C_b: float, k: int) -> torch.Tensor:
    """G = C_b (z block) + (C_W/n) phi phi^T for columns z (N, m, n) of one layer; may overwrite z."""
    if z.shape[1] == k:
        phi = _IN_PLACE[act.name](z) if act.name in _IN_PLACE else act.fn(z)
    else:  # (sigma(z_a), sigma'(z_a) dz_a): the derivative needs z, so no in-place sigma
        zz = z[:, :k]
        phi = torch.cat([act.fn(zz), act.derivative(zz).mul_(z[:, k:])], dim=1)
    g = torch.matmul(phi, phi.transpose(1, 2)).mul_(C_W / z.shape[-1])
    if C_b:
        g[:, :k, :k] += C_b
    return g


def _fused_step(act: Activation, k: int, m: int, device: torch.device, C_W: float, C_b: float):
    """The one-pass layer step of :mod:`dltv.numerics.fused` where it applies (CPU, two inputs, no
    direction, sigma in :data:`HOMOGENEOUS_SLOPES`): ``step(eps, g)`` -> next metric; else None."""
    if not (device.type == "cpu" and k == m == 2 and act.name in HOMOGENEOUS_SLOPES):
        return None
    from dltv.numerics.fused import homogeneous_metric_2x2

    slopes = HOMOGENEOUS_SLOPES[act.name]

    def step(eps: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        out = np.empty(tuple(g.shape))
        return torch.from_numpy(homogeneous_metric_2x2(eps.numpy(), np.ascontiguousarray(g.numpy()),
                                                       slopes, C_W, C_b, out))
    return step


def collapsed_forward(g1: torch.Tensor, draw: Callable[[int], torch.Tensor], widths: Sequence[int],
                      activation: str, C_W: float, C_b: float, k: int, layers: Sequence[int]) -> NetworkStats:
    """Run the collapsed recursion; ``draw(rows)`` returns fresh standard normals of shape (N, m, rows).

    ``g1`` is the first-layer (extended) metric (m, m).  Deterministic given the draws, network by
    network (so any split of the batch gives the same per-network results).  The draws may be a
    reused buffer: each layer's noise is turned into its pre-activations in place, and the outputs
    are copied out.  On the CPU, for two inputs and a positively homogeneous sigma, the hidden
    layers take the one-pass compiled step (:func:`_fused_step`), which reads the noise once.
    """
    act = get_activation(activation)
    n_layers = len(widths) - 1
    slot = {l: i for i, l in enumerate(layers)}
    metric = g = fused = None
    for l in range(1, n_layers + 1):
        eps = draw(widths[l])  # drawn layer by layer: the noise is still in cache when used
        if metric is None:
            c, m = eps.shape[0], eps.shape[1]
            metric = torch.empty(c, len(layers), m, m, dtype=eps.dtype, device=eps.device)
            g = g1.expand(c, m, m)
            fused = _fused_step(act, k, m, eps.device, C_W, C_b)
        if l in slot:
            metric[:, slot[l]] = g
        if l < n_layers and fused is not None:
            g = fused(eps, g)
            continue
        z = _rows_with_covariance_(eps, g)
        if l < n_layers:
            g = _next_metric(z, act, C_W, C_b, k)
    outputs = z[:, :k].transpose(1, 2).clone()
    tangents = z[:, k:].transpose(1, 2).clone() if z.shape[1] > k else None
    return NetworkStats(tuple(layers), k, metric, outputs, tangents)


def default_collapsed_chunk(widths: Sequence[int], m: int) -> int:
    """Networks per chunk: one layer's noise is about 2^18 float64 values (2 MiB; measured the fastest
    of 2^15..2^19 against the floor on one core: fewer per-layer calls, still cache-resident)."""
    return max(1, (1 << 18) // (max(widths[1:]) * m))


def _chunks(n: int, chunk: int) -> list[int]:
    return [min(chunk, n - start) for start in range(0, n, chunk)]


def collapsed_noise(widths: Sequence[int], m: int, n_networks: int, *, chunk_size: int | None = None,
                    generator: torch.Generator | np.random.Generator | None = None, device="cpu") -> None:
    """Draw exactly the standard normals :func:`sample_collapsed` (``method="rows"``) draws, and nothing
    else: the same buffer, shapes, order and generator.  Its time is the sampler's floor."""
    widths = check_widths(widths)
    chunk = default_collapsed_chunk(widths, m) if chunk_size is None else check_count(chunk_size, "chunk_size")
    noise = NormalBuffer(chunk * m * max(widths[1:]), check_device(device), generator)
    for c in _chunks(check_count(n_networks, "n_networks"), chunk):
        for rows in widths[1:]:
            noise.draw(c, m, rows)


# ---------------------------------------------------------------- exact chi-square shortcut

HOMOGENEOUS_SLOPES = {"relu": (1.0, 0.0), "leaky_relu": (1.0, LEAKY_SLOPE), "abs": (1.0, -1.0),
                      "linear": (1.0, 1.0)}
"""(a, b) of the positively homogeneous activations sigma(z) = a z_+ - b z_-, z_+- = max(+-z, 0)."""


def chi2_forward(g1: float, rng: np.random.Generator, widths: Sequence[int], activation: str, C_W: float,
                 C_b: float, n_networks: int, layers: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Exact single-input sampler for a positively homogeneous sigma: metrics (N, len(layers)) and
    outputs (N, n_{L+1}), numpy float64.

    Derived (correlations.md §1.2, §2(c1)): given layer l, z^(l) = sqrt(G^(l)) g with g_1..g_n i.i.d.
    N(0, 1), and sigma(sqrt(G) g) = sqrt(G) sigma(g), so

        G^(l+1) = C_b + (C_W/n_l) G^(l) (a^2 chi^2_B + b^2 chi^2_{n_l - B}),   B ~ Binomial(n_l, 1/2),

    the two chi-squares independent given B (chi^2_0 = 0): the signs of i.i.d. symmetric normals
    are i.i.d. fair coins independent of their magnitudes, B counts the positive ones, and the sum
    of g_i^2 over a set of m of them is chi^2_m.  Three random numbers per layer instead of n.
    chi^2_m is drawn as 2 Gamma(m/2) (numpy's Gamma(0) = 0); the outputs are sqrt(G^(L+1)) times
    n_{L+1} fresh standard normals.  Every activation draws the same numbers (both chi-squares even
    when b = 0), so runs that differ only in sigma, with the same seed, are driven by the same noise
    (common random numbers: the same signs and magnitudes, as with the row sampler).
    """
    a, b = HOMOGENEOUS_SLOPES[activation]
    n_layers = len(widths) - 1
    slot = {l: i for i, l in enumerate(layers)}
    metric = np.empty((n_networks, len(layers)))
    G = np.full(n_networks, float(g1))
    for l in range(1, n_layers + 1):
        if l in slot:
            metric[:, slot[l]] = G
        if l < n_layers:
            n = widths[l]
            positive = rng.binomial(n, 0.5, size=n_networks)
            norm2 = (2 * a * a) * rng.standard_gamma(positive / 2)
            norm2 += (2 * b * b) * rng.standard_gamma((n - positive) / 2)  # drawn even when b = 0
            G = G * norm2 * (C_W / n) + C_b
    outputs = rng.standard_normal((n_networks, widths[-1])) * np.sqrt(G)[:, None]
    return metric, outputs


def _collapsed_method(method: str, activation: str, k: int, direction) -> str:
    chi2_ok = k == 1 and direction is None and activation in HOMOGENEOUS_SLOPES
    if method == "auto":
        return "chi2" if chi2_ok else "rows"
    if method not in ("rows", "chi2"):
        raise ValueError(f"method must be 'auto', 'rows' or 'chi2', got {method!r}")
    if method == "chi2" and not chi2_ok:
        raise ValueError(f"method 'chi2' needs one input, no direction and an activation among "
                         f"{', '.join(HOMOGENEOUS_SLOPES)}; got k={k}, activation={activation!r}"
                         f"{', a direction' if direction is not None else ''}")
    return method


def sample_collapsed(widths: Sequence[int], activation: str, C_W: float, C_b: float, x, n_networks: int, *,
                     direction=None, layers: Sequence[int] | None = None, chunk_size: int | None = None,
                     generator: torch.Generator | np.random.Generator | None = None, device="cpu",
                     method: str = "auto") -> NetworkStats:
    """Exact collapsed sampler: same arguments, same law and same :class:`NetworkStats` as
    :func:`dltv.numerics.networks.sample_networks`, at cost O(N L n k^2) instead of O(N L n^2 k).

    ``method="rows"`` draws each layer's n x m Gaussian rows (:func:`collapsed_forward`), in chunks
    of networks (default :func:`default_collapsed_chunk`) with a few batched in-place tensor
    operations per layer into one preallocated noise buffer (:class:`NormalBuffer`).
    ``method="chi2"``: the exact shortcut :func:`chi2_forward` (one input, no direction, sigma in
    :data:`HOMOGENEOUS_SLOPES`), O(N L) random numbers in all, unchunked (its memory is that of
    the result).  ``"auto"`` (default) takes "chi2" where it applies, else "rows".

    ``generator``: a torch or numpy generator (or None: torch's global one).  On the CPU the
    normals come from numpy (:func:`numpy_generator`; a torch seed still fixes the result), on a
    GPU from torch on the device; the chi-square shortcut always draws its few numbers with numpy.
    Results are reproducible for a given generator state, method and chunk size.
    """
    widths, cw, cb, n, dev, x, u, layers = sampler_args(widths, activation, C_W, C_b, x, n_networks,
                                                        direction, layers, device)
    k = x.shape[0]
    m = k if u is None else 2 * k
    chunk = None if chunk_size is None else check_count(chunk_size, "chunk_size")
    g1 = metric_of(stacked_inputs(x, u), cw, cb, k)
    if _collapsed_method(method, activation, k, u) == "chi2":
        rng = numpy_generator(generator)
        metric, outputs = chi2_forward(float(g1), rng, widths, activation, cw, cb, n, layers)
        return NetworkStats(layers, 1, torch.from_numpy(metric).to(dev)[..., None, None],
                            torch.from_numpy(outputs).to(dev)[..., None])
    chunk = chunk or default_collapsed_chunk(widths, m)
    noise = NormalBuffer(chunk * m * max(widths[1:]), dev, generator)
    parts = []
    with one_thread():  # per-chunk tensors are small: intra-op threads only contend
        for c in _chunks(n, chunk):
            draw = lambda rows, c=c: noise.draw(c, m, rows)
            parts.append(collapsed_forward(g1, draw, widths, activation, cw, cb, k, layers))
    return parts[0] if len(parts) == 1 else NetworkStats.concat(parts)


# ---------------------------------------------------------------- low-variance estimators
# G below is a 1-D array of per-network metric values G^(l)_aa (or D^(l)_aa): z | past ~ N(0, G).


def double_factorial_odd(k: int) -> int:
    """(2k-1)!! = E[g^(2k)] for g ~ N(0, 1)."""
    return math.prod(range(1, 2 * k, 2))


def output_moment_ratio(G, k: int = 2) -> Estimate:
    """E[z^(2k)]/E[z^2]^k = (2k-1)!! E[G^k]/E[G]^k, estimated from G (correlations.md §1.2)."""
    return moment_ratio(G, k).scaled(double_factorial_odd(k))


def metric_moment(G, k: int, K: float) -> Estimate:
    """E[G^k]/K^k for a known normaliser K (e.g. the exact E[z^2]); plain mean, no ratio bias."""
    if not (isinstance(K, (int, float)) and math.isfinite(K) and K > 0):
        raise ValueError(f"K must be a finite number > 0, got {K!r}")
    a = as_samples(G, "G").reshape(-1)
    return mean_se((a / K) ** k)


def interneuron_covariance(G, normalised: bool = True) -> Estimate:
    """Cov(z_i^2, z_j^2) (i != j, same layer) = Var(G); normalised: divided by E[z^2]^2 = E[G]^2."""
    return relative_variance(G) if normalised else variance(G)


def excess_kurtosis(G) -> Estimate:
    """Single-neuron kappa_4/E[z^2]^2 = E z^4/E[z^2]^2 - 3 = 3 Var(G)/E[G]^2."""
    return relative_variance(G).scaled(3.0)


def mean_shift(G, K: float, n: float) -> Estimate:
    """n (E[G] - K): the 1/n correction to the mean kernel, times n (K = infinite-width kernel)."""
    return mean_se(G).scaled(n, -n * K)


def vertex(G, n: float) -> Estimate:
    """n Var(G)/E[G]^2 = V/K^2 at leading order (PDLT four-point vertex, correlations.md §1.2)."""
    return relative_variance(G).scaled(n)


def vertex_entry(G_p, G_q, n: float) -> Estimate:
    """n Cov(G_p, G_q) = V_(p)(q) at leading order (e.g. V_ab,ab from G_ab twice, V_aa,bb from G_aa, G_bb)."""
    return covariance(G_p, G_q).scaled(n)


def control_variate_mean(y, controls, control_means) -> Estimate:
    """E[y] from paired samples of y and of controls x with exactly known means (control variates).

    y - (x - E x) c has mean E y for any fixed c; c = Cov(x)^{-1} Cov(x, y) (least squares on the
    same samples; its O(1/N) bias is negligible) minimises the variance, by the factor 1 - R^2.
    """
    yv = as_samples(y, "y").reshape(-1)
    x = np.asarray(controls, dtype=float)
    x = x.reshape(-1, 1) if x.ndim == 1 else x
    if x.shape[0] != yv.size:
        raise ValueError(f"controls must have one row per sample of y ({yv.size}), got shape {x.shape}")
    mu = np.broadcast_to(np.asarray(control_means, dtype=float), (x.shape[1],))
    dx = x - mu
    c, *_ = np.linalg.lstsq(dx - dx.mean(0), yv - yv.mean(), rcond=None)
    return mean_se(yv - dx @ c)


def mean_shift_cv(G, K: float, n: float, controls, control_means) -> Estimate:
    """n (E[G] - K) with control variates of known mean (:func:`control_variate_mean`)."""
    return control_variate_mean(G, controls, control_means).scaled(n, -n * K)


def _tanh_pair(z):
    s = np.tanh(z)
    return s, 1.0 - s * s


_SMOOTH_PAIRS = {  # z -> (sigma(z), sigma'(z)) in numpy, for the derivative estimators
    "tanh": _tanh_pair,
    "erf": lambda z: (special.erf(z), (2 / math.sqrt(math.pi)) * np.exp(-z * z)),
    "sin": lambda z: (np.sin(z), np.cos(z)),
    "linear": lambda z: (z, np.ones_like(z)),
}


def _smooth_pair(activation: str):
    if activation not in _SMOOTH_PAIRS:
        raise ValueError(f"activation must be one of {', '.join(_SMOOTH_PAIRS)}, got {activation!r}")
    return _SMOOTH_PAIRS[activation]


def _tangent_metric(metric) -> np.ndarray:
    g = as_samples(metric, "metric")
    if g.ndim != 4 or g.shape[1] < 2 or g.shape[2:] != (2, 2):
        raise ValueError(f"metric must have shape (N, layers >= 2, 2, 2), got {g.shape}")
    return g


def tangent_martingale_increments(metric, activation: str, C_W: float, C_b: float, nodes: int = 100) -> np.ndarray:
    """Zero-mean increments of the joint (z, ∂_u z) metric per network: (N, L-1, 3) over (zz, z∂, ∂∂), for
    metrics (N, L, 2, 2) of one input with a direction (layers 1..L).

    Derived: given the layers below l, the rows (z_j, ∂z_j) of layer l are i.i.d. N(0, Ĝ^(l)), Ĝ = [[K, P], [P, D]],
    so E[Ĝ^(l+1) | past] = (C_b + C_W g(K), C_W P g'(K), C_W (D a(K) + 2 P² a'(K))) exactly (Stein's lemma in ∂z),
    g = <σ²>_K, a = <σ'²>_K, f'(K) = <f (z² − K)>/(2K²) (d/dK of the Gaussian density).  Every increment
    Ĝ^(l+1) − E[Ĝ^(l+1) | past] has mean 0 at any width: control variates for E Ĝ, E D̂.  The averages use
    Gauss-Hermite with ``nodes`` nodes (tanh at K <= 1: error ~1e-10 against 240 nodes, measured; an
    error e in E[.|past] biases a control-variate mean by c e, far below any Monte-Carlo SE here).
    """
    g = _tangent_metric(metric)
    pair = _smooth_pair(activation)
    t, w = np.polynomial.hermite_e.hermegauss(nodes)
    w = w / math.sqrt(2 * math.pi)
    rule = np.stack([w, w * (t * t - 1) / 2], axis=1)  # <f>, and K <f (z² − K)>/(2K²) with z = sqrt(K) t
    out = np.empty(g.shape[:1] + (g.shape[1] - 1, 3))
    for l in range(g.shape[1] - 1):  # one layer at a time: (N, nodes) arrays stay in cache
        K, P, D = g[:, l, 0, 0], g[:, l, 0, 1], g[:, l, 1, 1]
        s, d = pair(np.sqrt(K)[:, None] * t)
        s2, d2 = (s * s) @ rule, (d * d) @ rule
        expected = (C_b + C_W * s2[:, 0], C_W * P * s2[:, 1] / K, C_W * (D * d2[:, 0] + 2 * P * P * d2[:, 1] / K))
        for j, (a, b) in enumerate(((0, 0), (0, 1), (1, 1))):
            out[:, l, j] = g[:, l + 1, a, b] - expected[j]
    return out


def tangent_increment_covariance(metric, widths: Sequence[int], activation: str, C_W: float,
                                 nodes: int = 100) -> np.ndarray:
    """E[M_l M_l^T | past] = (C_W^2/n_l) C(G^(l)) for the increments M_l of :func:`tangent_martingale_increments`:
    (N, L-1, 3, 3) over (zz, z∂, ∂∂); ``widths`` = (n_0, n_1, ..., ) as given to the sampler.

    Derived: G^(l+1) - C_b = (C_W/n_l) sum_j phi_j phi_j^T over the n_l neurons of layer l, i.i.d. given the past,
    phi = (sigma(z), sigma'(z) ∂z), so Cov(G^(l+1) | past) = (C_W^2/n_l) (<phi_a phi_b phi_c phi_d> - F_p F_q).
    The moments <h(z) (∂z)^m> come from ∂z = (P/K) z + w, w ~ N(0, D - P^2/K) independent of z, and one
    Gauss-Hermite rule in z.  M_l M_l^T minus this has mean 0 exactly: quadratic control variates.
    """
    g = _tangent_metric(metric)
    pair = _smooth_pair(activation)
    ws = check_widths(widths)
    if len(ws) < g.shape[1]:
        raise ValueError(f"widths must list n_0..n_{g.shape[1] - 1} at least, got {len(ws)} entries")
    t, w = np.polynomial.hermite_e.hermegauss(nodes)
    rule = (w / math.sqrt(2 * math.pi))[:, None] * t[:, None] ** np.arange(5)  # <h z^i> = K^(i/2) h @ rule[:, i]
    power = {(0, 0): 0, (0, 1): 1, (0, 2): 2, (1, 1): 2, (1, 2): 3, (2, 2): 4}
    out = np.empty(g.shape[:1] + (g.shape[1] - 1, 3, 3))
    for l in range(g.shape[1] - 1):  # one layer at a time: (N, nodes) arrays stay in cache
        K, P, D = g[:, l, 0, 0], g[:, l, 0, 1], g[:, l, 1, 1]
        s, d = pair(np.sqrt(K)[:, None] * t)
        slope, resid = P / K, np.clip(D - P * P / K, 0.0, None)
        gauss = {0: 1.0, 2: resid, 4: 3 * resid * resid}  # E w^k, w ~ N(0, D - P²/K)
        scale = np.sqrt(K)[:, None] ** np.arange(5)

        def moment(h, m):  # <h(z) (∂z)^m>, h given on the nodes
            avg = (h @ rule[:, :m + 1]) * scale[:, :m + 1]
            return sum(math.comb(m, i) * slope**i * gauss[m - i] * avg[:, i] for i in range(m + 1) if (m - i) % 2 == 0)
        ss, sd, dd = s * s, s * d, d * d
        F = [moment(ss, 0), moment(sd, 1), moment(dd, 2)]
        M = [moment(h, m) for m, h in enumerate((ss * ss, ss * sd, ss * dd, sd * dd, dd * dd))]
        for p in range(3):
            for q in range(p, 3):
                out[:, l, p, q] = out[:, l, q, p] = (M[power[(p, q)]] - F[p] * F[q]) * (C_W**2 / ws[l + 1])
    return out


def tangent_quadratic_controls(increments, covariance) -> np.ndarray:
    """Zero-mean quadratic controls (N, k) from increments (N, L-1, 3) and their conditional covariances
    (:func:`tangent_increment_covariance`): M_i,a M_j,b for layers i < j (a martingale: E[M_j | past] = 0),
    and M_i,a M_i,b - E[M_i,a M_i,b | past].  With the linear controls they remove most of the variance of E D^
    (the second-order part of D^'s dependence on the increments; about 8x smaller SE for tanh, measured)."""
    m = as_samples(increments, "increments")
    c = as_samples(covariance, "covariance")
    if m.ndim != 3 or c.shape != m.shape + (m.shape[-1],):
        raise ValueError(f"increments (N, L, k) and covariance (N, L, k, k) must match; got {m.shape}, {c.shape}")
    layers, k = m.shape[1], m.shape[2]
    cols = [m[:, i, a] * m[:, j, b] for i in range(layers) for j in range(i + 1, layers)
            for a in range(k) for b in range(k)]
    cols += [m[:, i, a] * m[:, i, b] - c[:, i, a, b] for i in range(layers) for a in range(k) for b in range(a, k)]
    return np.column_stack(cols)


def gaussian_average(fn: Callable[[np.ndarray], np.ndarray], var, nodes: int = 80) -> np.ndarray:
    """<fn(z)>, z ~ N(0, var), elementwise over an array of variances (Gauss-Hermite, probabilists' nodes)."""
    t, w = np.polynomial.hermite_e.hermegauss(nodes)
    v = np.asarray(var, dtype=float)
    if np.any(v < 0) or not np.all(np.isfinite(v)):
        raise ValueError("var must be finite and >= 0")
    return fn(np.sqrt(v)[..., None] * t) @ (w / math.sqrt(2 * math.pi))


_SECOND_MOMENT = {  # <sigma(z)^2>, z ~ N(0, v), as a function of arrays of variances v
    "tanh": lambda v: gaussian_average(lambda z: np.tanh(z) ** 2, v),
    "erf": lambda v: gaussian_average(lambda z: special.erf(z) ** 2, v),
    "relu": lambda v: 0.5 * v,
    "linear": lambda v: v,
}


def martingale_increments(G, activation: str, C_W: float, C_b: float) -> np.ndarray:
    """M_l = G^(l+1) - C_b - C_W <sigma^2>_{G^(l)} per network, l = 1..L-1, for single-input metrics G (N, L).

    Derived: given the layers below l, the pre-activations of layer l are i.i.d. N(0, G^(l)), so
    E[G^(l+1) | layers < l] = C_b + C_W <sigma^2>_{G^(l)} exactly and every M_l has mean 0 at any
    width: control variates of exactly known mean for E[G^(L)].
    """
    g = as_samples(G, "G")
    if g.ndim != 2 or g.shape[1] < 2:
        raise ValueError(f"G must have shape (N, layers >= 2), got {g.shape}")
    if activation not in _SECOND_MOMENT:
        raise ValueError(f"activation must be one of {', '.join(_SECOND_MOMENT)}, got {activation!r}")
    return g[:, 1:] - C_b - C_W * _SECOND_MOMENT[activation](g[:, :-1])


def mean_correlation(G_aa, G_ab, G_bb) -> Estimate:
    """E[G_ab] / sqrt(E[G_aa] E[G_bb]) with delta-method SE."""
    return delta_method([G_aa, G_ab, G_bb], lambda v: v[1] / math.sqrt(v[0] * v[2]),
                        lambda v: np.array([-0.5 * v[1] / (v[0] * math.sqrt(v[0] * v[2])),
                                            1.0 / math.sqrt(v[0] * v[2]),
                                            -0.5 * v[1] / (v[2] * math.sqrt(v[0] * v[2]))]))


def naive_moment_ratio(z, k: int = 2) -> Estimate:
    """E[z^(2k)]/E[z^2]^k from output neurons z of shape (N, n_out) (networks x neurons).

    Neurons of one network are dependent, so each network's neuron averages are one sample.
    """
    a = as_samples(z, "z")
    a = a.reshape(a.shape[0], -1)
    return delta_method([np.mean(a ** (2 * k), axis=1), np.mean(a ** 2, axis=1)],
                        lambda v: v[0] / v[1] ** k, lambda v: np.array([v[1] ** -k, -k * v[0] * v[1] ** (-k - 1)]))


def naive_interneuron_covariance(z) -> Estimate:
    """Cov(z_i^2, z_j^2), i != j, from output neurons z of shape (N, n_out >= 2), not normalised."""
    a = as_samples(z, "z")
    a = a.reshape(a.shape[0], -1)
    w = a.shape[1]
    if w < 2:
        raise ValueError(f"z must hold at least 2 output neurons per network, got {w}")
    sq = a ** 2
    pairs = (sq.sum(1) ** 2 - (sq ** 2).sum(1)) / (w * (w - 1))  # mean over i != j of z_i^2 z_j^2
    return delta_method([pairs, sq.mean(1)], lambda v: v[0] - v[1] ** 2, lambda v: np.array([1.0, -2 * v[1]]))


# ---------------------------------------------------------------- two-sample validation


def two_sample_z(a: Estimate, b: Estimate) -> float:
    """(a - b) / sqrt(se_a^2 + se_b^2) for independent estimates."""
    se = math.hypot(a.se, b.se)
    return (a.mean - b.mean) / se if se > 0 else (0.0 if a.mean == b.mean else math.inf)


def distribution_tests(a, b) -> dict:
    """Two-sample Kolmogorov-Smirnov and Anderson-Darling tests (scipy.stats) of 1-D samples.

    The scipy Anderson-Darling p-value is interpolated and capped to [0.001, 0.25].
    """
    x = as_samples(a, "a").reshape(-1)
    y = as_samples(b, "b").reshape(-1)
    ks = sps.ks_2samp(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ad = sps.anderson_ksamp([x, y])
    return {"ks_statistic": float(ks.statistic), "ks_pvalue": float(ks.pvalue),
            "ad_statistic": float(ad.statistic), "ad_pvalue": float(ad.pvalue), "n_a": x.size, "n_b": y.size}


def compare_stats(a: NetworkStats, b: NetworkStats) -> dict:
    """Compare two samples of :class:`NetworkStats` (e.g. real weights vs collapsed).

    Returns ``{"comparisons": [row, ...], "tests": {...}}``; each row has ``statistic``,
    ``a``/``b`` (Estimates) and ``z`` (two-sample z of the difference).  Statistics: the mean of
    every metric entry at every shared layer, E[G^2]/E[G]^2 of each diagonal entry at the last
    layer, and the output second moment.  ``tests`` holds KS/AD tests on the last layer's G_00
    (and D_00 when tangents are present).
    """
    layers = [l for l in a.layers if l in b.layers]
    if not layers:
        raise ValueError("a and b must share at least one metric layer")
    m = a.metric.shape[-1]
    if b.metric.shape[-1] != m:
        raise ValueError("a and b must have the same inputs (metric sizes differ)")
    rows = []

    def add(name, ea, eb):
        rows.append({"statistic": name, "a": ea, "b": eb, "z": two_sample_z(ea, eb)})

    for l in layers:
        ga, gb = a.at(l), b.at(l)
        for i in range(m):
            for j in range(i, m):
                add(f"mean G[{l}][{i},{j}]", mean_se(ga[:, i, j]), mean_se(gb[:, i, j]))
    last = layers[-1]
    for i in range(m):
        add(f"E[G^2]/E[G]^2 [{last}][{i},{i}]", moment_ratio(a.at(last)[:, i, i]),
            moment_ratio(b.at(last)[:, i, i]))
    add("mean z^2 (outputs)", mean_se(a.outputs[..., 0].pow(2).mean(1)), mean_se(b.outputs[..., 0].pow(2).mean(1)))
    tests = {"G": distribution_tests(a.at(last)[:, 0, 0], b.at(last)[:, 0, 0])}
    if m > a.k:
        tests["D"] = distribution_tests(a.at(last)[:, a.k, a.k], b.at(last)[:, b.k, b.k])
    return {"comparisons": rows, "tests": tests, "layer": last}


def validate_collapsed(widths: Sequence[int], activation: str, C_W: float, C_b: float, x, n_networks: int, *,
                       direction=None, layers: Sequence[int] | None = None,
                       generator: torch.Generator | None = None, device="cpu", method: str = "auto") -> dict:
    """Sample ``n_networks`` real-weight and ``n_networks`` collapsed networks (``method`` of
    :func:`sample_collapsed`); :func:`compare_stats` of the two.

    The result adds ``max_abs_z`` (over the mean comparisons) and ``n``.  Under the exact-law claim
    each z is N(0, 1) (the statistics are correlated, so use a Bonferroni bound over them).
    """
    real = sample_networks(widths, activation, C_W, C_b, x, n_networks, direction=direction, layers=layers,
                           generator=generator, device=device)
    coll = sample_collapsed(widths, activation, C_W, C_b, x, n_networks, direction=direction, layers=layers,
                            generator=generator, device=device, method=method)
    out = compare_stats(real, coll)
    out["max_abs_z"] = max(abs(r["z"]) for r in out["comparisons"])
    out["n"] = n_networks
    return out


# ---------------------------------------------------------------- higher cumulants of the metric


def third_cumulant(G) -> Estimate:
    """kappa_3(G) = E (G - E G)^3: Fisher's unbiased k-statistic (``scipy.stats.kstat(G, 3)``) with its SE from
    the influence function psi = d^3 - 3 s^2 d - k_3, d = G - mean (delta method; standard).

    For an output z | past ~ N(0, G): kappa_6(z) = 15 kappa_3(G) (correlations.md §1.2, theory
    ``six_point_recursion``), so this is the low-variance estimator of the six-point cumulant.
    """
    a = as_samples(G, "G", min_n=4).reshape(-1)
    d = a - a.mean()
    s2 = float(d @ d) / (a.size - 1)
    k3 = float(sps.kstat(a, 3))
    psi = d**3 - 3 * s2 * d
    return Estimate(k3, float(psi.std(ddof=1) / math.sqrt(a.size)), int(a.size))
