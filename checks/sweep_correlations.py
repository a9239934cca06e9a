"""Sweep quantities of the correlations area (Hanin, arXiv 2204.01058): where in (n, L)
the infinite-width, the 1/n-corrected and the exact finite-width predictions hold.

Every network has one input x with K^(1) = C_W x²/n_0 = 1 (C_b = 0), L hidden layers of
width n and one output; the output metric Ĝ = G^(L+1) is sampled with the exact collapsed
sampler (z | past ~ N(0, Ĝ), so Ĝ is a lower-variance stand-in for z²).
"""
from __future__ import annotations

import functools

import numpy as np

from dltv.checks.sweep import Quantity, quantity

_SOURCES = ("dltv.numerics.correlations", "dltv.numerics.networks", "dltv.numerics.estimators")
_WIDTHS = (8, 16, 32, 64, 128)
_DEPTHS = (1, 2, 4, 8, 16, 32)


def _output_metric(activation: str, C_W: float, n: int, L: int, budget: int, seed: int, device: str):
    import torch

    from dltv.numerics.correlations import sample_collapsed

    g = torch.Generator(device=device).manual_seed(seed)
    x0 = float(np.sqrt(1.0 / C_W))  # K^(1) = C_W x0² / n_0 = 1 with n_0 = 1
    stats = sample_collapsed((1,) + (n,) * L + (1,), activation, C_W, 0.0, [[x0]], budget,
                             layers=[L + 1], generator=g, device=device)
    return stats.G[:, 0, 0, 0]


# ------------------------------------------------------------------ mean kernel, smooth σ
@functools.lru_cache(maxsize=None)
def _single_input(activation: str, C_W: float, layers: int) -> dict:
    from dltv.theory.correlations import single_input_recursion

    return single_input_recursion(activation, C_W, 0.0, 1.0, layers)


def _kernel_quantity(activation: str, C_W: float, reads: str) -> Quantity:
    def measure(n, L, budget, seed, device):
        from dltv.numerics.estimators import mean_se

        est = mean_se(_output_metric(activation, C_W, n, L, budget, seed, device))
        return {"estimate": est.mean, "se": est.se}

    def predict(n, L):
        r = _single_input(activation, C_W, max(L + 1, 33))
        K, n_dK = r["K"][L], r["n_dK"][L]  # index L = layer L+1
        return {"infinite-width": K, "1/n-corrected": K + n_dK / n}

    return quantity(Quantity(
        f"correlations.{activation}.kernel", f"mean output kernel E G^(L+1) of {activation} nets "
        f"(C_W={C_W:g}, C_b=0, K^(1)=1): the infinite-width K^(L+1) and K + δK/n",
        measure, predict, ("infinite-width", "1/n-corrected"), _SOURCES,
        _WIDTHS, _DEPTHS, 10_000, (8, 16, 32, 64, 128, 256, 512), (1, 2, 4, 8, 16, 32, 64), 200_000,
        reads=reads))


_kernel_quantity("tanh", 1.0, "The infinite-width kernel is rejected wherever the 1/n shift δK/n exceeds the "
                 "resolution (all but the shallowest cells); the 1/n-corrected kernel holds to larger L/n, "
                 "and fails where the O(L²/n²) terms become visible.")
_kernel_quantity("erf", 1.0, "As for tanh: K + δK/n holds to larger L/n than the infinite-width kernel.")


# ------------------------------------------------------------------ ReLU fourth moment
def _relu_measure(n, L, budget, seed, device):
    from dltv.numerics.correlations import output_moment_ratio

    est = output_moment_ratio(_output_metric("relu", 2.0, n, L, budget, seed, device), 2)
    return {"estimate": est.mean, "se": est.se}


@functools.lru_cache(maxsize=None)
def _relu_exact(n: int, L: int) -> float:
    from dltv.theory.formulas import get_formula, to_float

    return to_float(get_formula("correlations.relu.moment_ratio").evaluate(n=n, L=L, k=2))


quantity(Quantity(
    "correlations.relu.fourth-moment",
    "E[z⁴]/E[z²]² of the output of ReLU nets (C_W=2, C_b=0): the infinite-width value 3, "
    "the 1/n expansion 3(1 + 5L/n), and the exact finite-width law 3(1 + 5/n)^L",
    _relu_measure, lambda n, L: {"infinite-width": 3.0, "1/n": 3.0 * (1 + 5 * L / n), "exact": _relu_exact(n, L)},
    ("infinite-width", "1/n", "exact"), _SOURCES,
    (16, 32, 64, 128, 256), (1, 2, 4, 8), 20_000, (16, 32, 64, 128, 256, 512), (1, 2, 4, 8, 16), 200_000,
    reads="The infinite-width value 3 fails once L/n is not small; the first-order 1/n expansion holds "
          "only while (L/n)² terms stay below the resolution; the exact finite-width law holds everywhere."))


# ------------------------------------------------------------------ four-point vertex, tanh
def _vertex_measure(n, L, budget, seed, device):
    from dltv.numerics.correlations import vertex

    est = vertex(_output_metric("tanh", 1.0, n, L, budget, seed, device), n)
    return {"estimate": est.mean, "se": est.se}


def _vertex_predict(n, L):
    r = _single_input("tanh", 1.0, max(L + 1, 33))
    return {"gaussian": 0.0, "leading 1/n": r["V"][L] / r["K"][L] ** 2}


quantity(Quantity(
    "correlations.tanh.vertex",
    "normalised four-point vertex n·Var(G)/E[G]² of the output of tanh nets (C_W=1, C_b=0, K^(1)=1): "
    "0 for a Gaussian process, V/K² at leading order in 1/n",
    _vertex_measure, _vertex_predict, ("gaussian", "leading 1/n"), _SOURCES,
    _WIDTHS, (2, 4, 8, 16, 32), 10_000, (8, 16, 32, 64, 128, 256, 512), (2, 4, 8, 16, 32, 64), 200_000,
    reads="The Gaussian (infinite-width) prediction of zero fourth cumulant is rejected everywhere; the "
          "leading-order vertex V/K² holds while L/n is small and drifts once the next order in L/n shows."))


# ------------------------------------------------------------------ mean kernel, two inputs
def _two_inputs(C_W: float, rho: float) -> np.ndarray:
    """Two inputs in R² with K^(1)_aa = K^(1)_bb = 1 and K^(1)_ab = rho (C_b = 0, n_0 = 2)."""
    return np.sqrt(2.0 / C_W) * np.array([[1.0, 0.0], [rho, np.sqrt(1.0 - rho * rho)]])


def _output_metrics(activation: str, C_W: float, C_b: float, x, n: int, L: int, budget: int, seed: int,
                    device: str, direction=None) -> np.ndarray:
    """The (extended) output metrics Ĝ^(L+1) of ``budget`` collapsed networks, shape (budget, m, m)."""
    import torch

    from dltv.numerics.correlations import sample_collapsed

    g = torch.Generator(device=device).manual_seed(seed)
    x = np.asarray(x, dtype=float)
    stats = sample_collapsed((x.shape[1],) + (n,) * L + (1,), activation, C_W, C_b, x, budget,
                             direction=direction, layers=[L + 1], generator=g, device=device)
    return stats.metric[:, 0].cpu().numpy()


@functools.lru_cache(maxsize=None)
def _two_input_recursion(activation: str, C_W: float, rho: float, layers: int) -> tuple[np.ndarray, np.ndarray]:
    """K_ab^(ℓ) and n·δK_ab^(ℓ), ℓ = 1..layers+1, of the leading-order 1/n hierarchy at equal widths.

    ``vertex_recursion`` at unit widths: for equal widths n the covariance Σ and the shift δK
    of its recursion are exactly 1/n times their unit-width values (both recursions are linear
    in Σ and δK, with the source C_W² C(K)/n), so one run serves every n.
    """
    from dltv.theory.correlations import vertex_recursion

    r = vertex_recursion(activation, C_W, 0.0, [[1.0, rho], [rho, 1.0]], [1] * layers)
    return r["K"][:, 0, 1], r["dK"][:, 0, 1]


def _two_input_quantity(activation: str, C_W: float, rho: float, reads: str, in_report: bool) -> Quantity:
    x = _two_inputs(C_W, rho)

    def measure(n, L, budget, seed, device):
        from dltv.numerics.correlations import control_variate_mean
        from dltv.numerics.estimators import mean_se

        G = _output_metrics(activation, C_W, 0.0, x, n, L, budget, seed, device)
        if activation == "relu":  # E Ĝ_aa = E Ĝ_bb = K^(1) = 1 exactly (bias-free ReLU): control variates
            est = control_variate_mean(G[:, 0, 1], np.stack([G[:, 0, 0], G[:, 1, 1]], 1), 1.0)
        else:
            est = mean_se(G[:, 0, 1])
        return {"estimate": est.mean, "se": est.se}

    def predict(n, L):
        K, n_dK = _two_input_recursion(activation, C_W, rho, 1 << max(L - 1, 15).bit_length())  # ≥ L, ≥ 16
        return {"infinite-width": float(K[L]), "1/n-corrected": float(K[L] + n_dK[L] / n)}

    return quantity(Quantity(
        f"correlations.{activation}.two-input-kernel",
        f"mean off-diagonal output kernel E Ĝ_ab^(L+1) of {activation} nets for two inputs (C_W={C_W:g}, "
        f"C_b=0, K^(1)_aa = K^(1)_bb = 1, K^(1)_ab = {rho:g}): the infinite-width K_ab^(L+1) and "
        "K_ab + δK_ab/n of the NLO recursion",
        measure, predict, ("infinite-width", "1/n-corrected"), _SOURCES,
        (8, 16, 32, 64), (1, 2, 4, 8, 16), 10_000, (8, 16, 32, 64, 128, 256), (1, 2, 4, 8, 16, 32, 64), 100_000,
        reads=reads, in_report=in_report))


_two_input_quantity(
    "relu", 2.0, 0.0, in_report=True,
    reads="Two orthogonal inputs. At one hidden layer E Ĝ_ab = K_ab exactly and both predictions hold; deeper, "
          "the infinite-width arc-cosine kernel K_ab is rejected as soon as the shift δK_ab/n (negative: the "
          "finite-width mean kernel lags behind K_ab) exceeds the resolution: from the second hidden layer on "
          "at this budget (L/n ≈ 1/32–1/4); K_ab + δK_ab/n holds up to L/n ≈ 1/4–1 and fails from L/n ≈ 1/2–2 "
          "on (16 hidden layers), where the O(L²/n²) terms show.")
_two_input_quantity(
    "tanh", 1.0, 0.5, in_report=True,
    reads="Inputs at correlation 1/2. As for ReLU: exact at one hidden layer; deeper, the infinite-width K_ab "
          "(which decays like 1/L at criticality, as does its shift) is rejected from L/n ≈ 1/8–1/2 on, while "
          "K_ab + δK_ab/n holds up to L/n ≈ 1 and fails beyond it (at width 8, L/n = 2).")
_two_input_quantity(
    "erf", 1.0, 0.5, in_report=False,
    reads="As for tanh: exact at one hidden layer, and K_ab + δK_ab/n holds to larger L/n than the "
          "infinite-width kernel.")


# ------------------------------------------------------------------ input-derivative second moment
def _derivative_ratio(D) -> dict:
    """E D̂²/(E D̂)² with its delta-method SE, D̂ = Ĝ_∂∂ the squared input derivative of the output."""
    from dltv.numerics.estimators import moment_ratio

    est = moment_ratio(D, 2)
    return {"estimate": est.mean, "se": est.se}


def _relu_derivative_measure(n, L, budget, seed, device):
    x, u = np.array([[1.0, -0.5, 0.25]]), np.array([0.3, -0.2, 0.9])  # u not orthogonal to x
    M = _output_metrics("relu", 2.0, 0.2, x, n, L, budget, seed, device, direction=u)
    return _derivative_ratio(M[:, 1, 1])


quantity(Quantity(
    "correlations.relu.derivative-second-moment",
    "E D̂²/(E D̂)² of the squared input derivative D̂ = (∂_u z)² of the output of ReLU nets with biases "
    "(C_W=2, C_b=0.2, u not ⟂ x): the infinite-width value 1, the 1/n expansion 1 + 5L/n and the exact "
    "law (1 + 5/n)^L (the bias-free forward law)",
    _relu_derivative_measure,
    lambda n, L: {"infinite-width": 1.0, "1/n": 1.0 + 5.0 * L / n, "exact": _relu_exact(n, L) / 3.0},
    ("infinite-width", "1/n", "exact"), _SOURCES,
    (16, 32, 64, 128), (1, 2, 4, 8), 10_000, (16, 32, 64, 128, 256, 512), (1, 2, 4, 8, 16), 200_000,
    reads="The input derivative of a biased ReLU net fluctuates exactly like the forward output of a bias-free "
          "one: the exact law (1 + 5/n)^L holds at every cell, the infinite-width value 1 (a deterministic "
          "gradient norm) nowhere, and the first-order 1 + 5L/n only while (L/n)² terms stay below the "
          "resolution.",
    in_report=True))


@functools.lru_cache(maxsize=None)
def _tanh_derivative_vertex(layers: int) -> np.ndarray:
    from dltv.theory.correlations import derivative_vertices

    return derivative_vertices("tanh", 1.0, 0.0, 1.0, layers)["V_DD_over_D2"]


def _tanh_derivative_measure(n, L, budget, seed, device):
    x, u = np.array([[np.sqrt(2.0), 0.0]]), np.array([0.0, np.sqrt(2.0)])  # K^(1) = D^(1) = 1, u ⟂ x
    M = _output_metrics("tanh", 1.0, 0.0, x, n, L, budget, seed, device, direction=u)
    return _derivative_ratio(M[:, 1, 1])


quantity(Quantity(
    "correlations.tanh.derivative-second-moment",
    "E D̂²/(E D̂)² of the squared input derivative D̂ = (∂_u z)² of the output of tanh nets (C_W=1, C_b=0, "
    "K^(1) = D^(1) = 1, u ⟂ x): the infinite-width value 1 and 1 + V_DD/(n D²) of the derivative recursion",
    _tanh_derivative_measure,
    lambda n, L: {"infinite-width": 1.0, "1/n": 1.0 + float(_tanh_derivative_vertex(max(L + 1, 33))[L]) / n},
    ("infinite-width", "1/n"), _SOURCES,
    (8, 16, 32, 64), (1, 2, 4, 8, 16), 10_000, (8, 16, 32, 64, 128, 256, 512), (1, 2, 4, 8, 16, 32, 64), 200_000,
    reads="The squared gradient of a tanh net fluctuates far more than its output (V_DD/D² ≈ 8ℓ/3 against "
          "V/K² ≈ 2ℓ/3): the infinite-width value 1 (a deterministic gradient norm) is rejected almost "
          "everywhere; 1 + V_DD/(nD²) holds while L/n is small and fails once the O(L²/n²) terms show.",
    in_report=False))
