# %% [markdown]
# # The symmetry group and canonical form of my MLP
#
# Permuting the hidden neurons of an MLP (and, for tanh, flipping the sign of a neuron's
# incoming and outgoing weights) leaves its function unchanged (Shen, arXiv 2305.11417).
# Every network therefore has many parameter vectors; the canonical form picks one per
# orbit, and the group order ∏ d_l! (times 2^{d_l} for tanh) is the factor the covering
# bound gains. Here: the group order of a tanh MLP, a scrambled copy, and its canonical form.

# %%
import os

import torch

import dltv
from dltv.numerics.covering import (canonical_mlp, mlp_forward, random_group_element, random_mlp,
                                     transform_mlp)

SMALL = os.environ.get("DLTV_EXAMPLES_SMALL") == "1"
widths = [3, 5, 4, 1] if SMALL else [3, 16, 16, 1]  # d_0 (input), hidden widths, d_{L+1} (output)
g = torch.Generator().manual_seed(2)

order = dltv.get_formula("covering.group_order").evaluate(widths=",".join(map(str, widths)),
                                                          activation="tanh")
print(f"widths {widths}: {order} parameter vectors per generic tanh function")

# %%
net = random_mlp(widths, B=1.0, generator=g)
perms, signs = random_group_element(widths, "tanh", g)
scrambled = transform_mlp(net, perms, signs)
x = 2 * torch.rand(1000, widths[0], generator=g, dtype=torch.float64) - 1

same_function = (mlp_forward(net, x, "tanh") - mlp_forward(scrambled, x, "tanh")).abs().max().item()
c1, c2 = canonical_mlp(net, "tanh"), canonical_mlp(scrambled, "tanh")
same_canonical = all(torch.equal(a, b) for (W1, b1), (W2, b2) in zip(c1, c2) for a, b in ((W1, W2), (b1, b2)))
canonical_error = (mlp_forward(c1, x, "tanh") - mlp_forward(net, x, "tanh")).abs().max().item()
print(f"scrambled net: max |f - f'| = {same_function:.1e}; canonical forms identical: {same_canonical}; "
      f"canonical net computes the same function to {canonical_error:.1e}")
assert same_canonical and same_function < 1e-12 and canonical_error < 1e-12
