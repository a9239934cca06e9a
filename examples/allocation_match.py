# %% [markdown]
# # Does my allocation of learnable weights match the teacher?
#
# Subset learning (Schlisselberg & Darshan, arXiv 2502.06300): a linear student with the
# teacher's architecture may change only M of its weights, the rest fixed at random values.
# It can match the teacher on m samples only if its M weights reach the E(m) independent
# equations — and, when they all sit in one layer, the counting rules decide exactly
# whether they do. We take an allocation, ask the theory for its verdict, then try to
# match random teachers by least squares.

# %%
import os

import numpy as np
import torch

import dltv
from dltv.numerics import allocation as num
from dltv.theory.allocation import lffn_verdict

SMALL = os.environ.get("DLTV_EXAMPLES_SMALL") == "1"
widths, m = [3, 4, 2], 3  # d_in, hidden, d_out; m samples
teachers = 20 if SMALL else 200
E = int(dltv.get_formula("allocation.equations").evaluate(widths=",".join(map(str, widths)), m=m))
shapes = num.lffn_shapes(widths)
print(f"widths {widths}, m = {m}: E = {E} equations")

# %%
rng, g = np.random.default_rng(3), torch.Generator().manual_seed(3)
allocations = {"last layer, 3 per row": [("W2", i, j) for i in range(2) for j in range(3)],
               "last layer, 4 + 2": [("W2", 0, j) for j in range(4)] + [("W2", 1, j) for j in range(2)],
               "first layer, random": num.random_allocation(shapes, E, rng, names=["W1"])}
for name, alloc in allocations.items():
    verdict = lffn_verdict(widths, m, alloc)
    matched = 0
    for _ in range(teachers):
        teacher, student = num.sample_weights(shapes, g), num.sample_weights(shapes, g)
        X = num.sample_inputs((widths[0], m), g)
        _, residual = num.solve_affine(num.lffn_forward, student, X, alloc, num.lffn_forward(teacher, X))
        matched += residual < 1e-8
    print(f"{name:32s} M={len(alloc)}: theory MP = {verdict.mp} ({verdict.reason}); "
          f"matched {matched}/{teachers} teachers")
    if verdict.mp in (0, 1):
        assert matched == verdict.mp * teachers, "the least-squares match contradicts the verdict"
