# %% [markdown]
# # Point dltv at your own network
#
# Train a small 2-d classifier, then ask dltv the exact questions about *it*: how many
# linear regions does it have in a box (exactly, not on a grid) and where is its decision
# boundary; what is its symmetry group and canonical form; what do the spectra of its
# weights and Jacobians say about its rank. The same runs from the command line on a saved
# model: this script saves its net as `inspect_net.pt`, then
# `dltv inspect inspect_net.pt --box=-1.5,1.5,-1.5,1.5 --out inspect` prints the same and writes
# the pictures.

# %%
import os

import matplotlib.pyplot as plt
import torch
from torch import nn

from dltv.checks.inspect import inspect_regions, inspect_spectra, inspect_symmetries, regions_figure

SMALL = os.environ.get("DLTV_EXAMPLES_SMALL") == "1"
width, steps = (8, 200) if SMALL else (32, 2000)
torch.manual_seed(0)
g = torch.Generator().manual_seed(0)
x = 3 * torch.rand(2000, 2, generator=g, dtype=torch.float64) - 1.5
y = torch.sign(torch.sin(3 * x[:, :1]) * torch.cos(2 * x[:, 1:]))       # a checkerboard-like target

net = nn.Sequential(nn.Linear(2, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                    nn.Linear(width, 1)).double()
opt = torch.optim.Adam(net.parameters(), lr=3e-3)
torch.set_num_threads(1)
for _ in range(steps):
    opt.zero_grad()
    loss = ((net(x) - y) ** 2).mean()
    loss.backward()
    opt.step()
print(f"trained {width}-wide net: mse {loss.item():.3f}")
torch.save(net.eval(), "inspect_net.pt")      # for `dltv inspect inspect_net.pt ...`

# %% [markdown]
# ## Linear regions, exactly
# The partition is computed in exact rational arithmetic from the float64 weights as stored,
# layer by layer; every polygon is one activation pattern.

# %%
regions = inspect_regions(net.eval(), box=(-1.5, 1.5, -1.5, 1.5))
print(f"{regions.activation_regions} linear regions in [-1.5, 1.5]^2 (layer by layer: "
      f"{regions.layer_counts}), computed in {regions.seconds:.2f} s")
fig = regions_figure(regions)
fig.savefig("inspect_regions.png")
plt.close(fig)

# %% [markdown]
# ## Symmetries and the canonical form

# %%
sym = inspect_symmetries(net)
print(f"|G| = {sym.group_order:.3e} ({sym.group}); continuous: {sym.continuous}")
print(f"the canonical form computes the same function to {sym.canonical_max_error:.1e}")

# %% [markdown]
# ## Spectra and the bottleneck rank

# %%
spectra = inspect_spectra(net, x=x[:256])
print(f"weight ranks {spectra.weight_ranks}, effective ranks "
      f"{[round(r, 1) for r in spectra.weight_effective_ranks]}; bottleneck rank {spectra.bottleneck_rank:g}")
