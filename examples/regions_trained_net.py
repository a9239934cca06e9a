# %% [markdown]
# # How many linear regions does my trained net have?
#
# A ReLU network of one input is piecewise linear. dltv counts its activation regions and
# affine pieces on an interval exactly (rational arithmetic on the float64 weights, no
# sampling grid). Here a small net is trained on x ↦ sin(3x) for a moment, then counted,
# and the count is set beside the most any net of that shape can have, ∏(n_l + 1): trained
# (and random) ReLU nets typically have far fewer regions than that.

# %%
import os
from fractions import Fraction

import torch
from torch import nn

import dltv
from dltv.numerics.regions import count_regions

SMALL = os.environ.get("DLTV_EXAMPLES_SMALL") == "1"
torch.manual_seed(4)
net = nn.Sequential(nn.Linear(1, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 1)).double()
x = torch.linspace(-1, 1, 256, dtype=torch.float64).unsqueeze(1)
y = torch.sin(3 * x)
opt = torch.optim.Adam(net.parameters(), lr=1e-2)
for step in range(200 if SMALL else 3000):
    opt.zero_grad()
    loss = ((net(x) - y) ** 2).mean()
    loss.backward()
    opt.step()
print(f"trained: mse = {loss.item():.2e}")

# %%
count = count_regions(net, lo=-1, hi=1, min_length=Fraction(1, 10 ** 9))
bound = int(dltv.get_formula("regions.max-regions-1d").evaluate(widths="1,16,16,1"))
print(f"activation regions on [-1, 1]: {count.activation_regions} "
      f"({count.long_regions} at least 1e-9 long); affine pieces: {count.affine_pieces}")
print(f"most regions any 1-16-16-1 ReLU net can have: {bound}")
print("first kinks:", [float(k) for k in count.kinks[:5]])

# every affine piece agrees with the float network at its midpoint
for left, right, slopes, intercepts in count.pieces[:10]:
    mid = (left + right) / 2
    exact = float(slopes[0] * mid + intercepts[0])
    assert abs(exact - net(torch.tensor([[float(mid)]], dtype=torch.float64)).item()) < 1e-9
assert count.affine_pieces <= count.activation_regions <= bound
