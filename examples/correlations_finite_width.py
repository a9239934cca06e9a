# %% [markdown]
# # Is the 1/n correction needed at my width?
#
# A tanh network at criticality (C_W = 1, C_b = 0), one input with K^(1) = 1. At infinite
# width the output's variance is the kernel K^(ℓ); at width n its mean is
# K^(ℓ) + δK^(ℓ)/n + O(1/n²) (Hanin, arXiv 2204.01058). We sample real-law networks at
# several widths and ask, with standard errors, which prediction the data reject.
# Run as a script, or open it as a notebook with jupytext.

# %%
import os

import numpy as np
import torch

import dltv
from dltv.numerics.correlations import sample_collapsed

SMALL = os.environ.get("DLTV_EXAMPLES_SMALL") == "1"  # the test suite runs it small
widths = (8, 32) if SMALL else (8, 16, 32, 64, 128)
n_networks = 20_000 if SMALL else 200_000
depth = 4  # the layer we look at: the 4th pre-activation (3 hidden layers below it)

theory = dltv.get_formula("correlations.single_input").evaluate(
    activation="tanh", C_W=1, C_b=0, K=1, layer=depth)
K = float(theory["K"])
n_dK = float(theory["n_dK_over_K"]) * K
print(f"K^({depth}) = {K:.6f}, n·δK = {n_dK:.6f} (30-digit theory)")

# %%
g = torch.Generator().manual_seed(0)
print(f"{'n':>5} {'E G (MC)':>12} {'SE':>9} {'z vs K':>8} {'z vs K+δK/n':>12}")
rows = []
for n in widths:
    stats = sample_collapsed((1,) + (n,) * (depth - 1) + (1,), "tanh", 1.0, 0.0, [[1.0]], n_networks,
                             generator=g)
    G = stats.G[:, -1, 0, 0].numpy()  # the output layer's metric: z | past ~ N(0, G)
    mean, se = G.mean(), G.std(ddof=1) / np.sqrt(G.size)
    z_inf, z_nlo = (mean - K) / se, (mean - K - n_dK / n) / se
    rows.append((n, z_inf, z_nlo))
    print(f"{n:5d} {mean:12.6f} {se:9.2e} {z_inf:8.1f} {z_nlo:12.1f}")

# %% [markdown]
# Where |z vs K| is large the infinite-width kernel is rejected at that width and the
# 1/n correction is needed; |z vs K+δK/n| stays of order 1 until the O(1/n²) terms show.

# %%
needed = [n for n, z_inf, _ in rows if abs(z_inf) > 4]
print("the 1/n correction is needed at widths:", needed or "none of those sampled")
assert all(abs(z_nlo) < 5 for n, _, z_nlo in rows if n >= 16), "the 1/n-corrected mean should hold"
