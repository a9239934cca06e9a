"""The one loader of a user's model: forward order, every accepted form, and one-line refusals."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dltv.numerics.models import AffineChain, load_model, read_module, read_state_dict

X = torch.randn(64, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


class Reordered(nn.Module):
    """Layers registered in the opposite of their forward order: only the forward pass tells."""

    def __init__(self):
        super().__init__()
        self.out = nn.Linear(5, 2)
        self.mid = nn.Linear(5, 5)
        self.inp = nn.Linear(3, 5)

    def forward(self, x):
        return self.out(torch.tanh(self.mid(F.leaky_relu(self.inp(x.flatten(1)), 0.3))))


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 3)

    def forward(self, x):
        return x + torch.relu(self.a(x))


def _same_function(chain: AffineChain, module: nn.Module) -> float:
    with torch.no_grad():
        return float((chain(X) - module.double().eval()(X)).abs().max())


def test_sequential_read_in_order_and_computes_the_module():
    m = nn.Sequential(nn.Flatten(), nn.Linear(3, 4), nn.ReLU(), nn.Dropout(0.5),
                      nn.Sequential(nn.Linear(4, 4), nn.GELU()), nn.Identity(), nn.Linear(4, 1))
    chain = read_module(m)
    assert chain.widths == [3, 4, 4, 1] and chain.hidden_activations == ["relu", "gelu"]
    assert _same_function(chain, m) == 0.0          # eval mode: dropout off


def test_traced_module_follows_forward_not_registration_order():
    m = Reordered().double()
    chain = read_module(m)
    assert [l.name for l in chain.layers] == ["inp", "mid", "out"]
    assert chain.hidden_activations == ["leaky_relu", "tanh"] and chain.layers[0].negative_slope == 0.3
    assert _same_function(chain, m) == 0.0


def test_exported_program_and_files(tmp_path):
    m = Reordered().double().eval()
    torch.export.save(torch.export.export(m, (X,)), tmp_path / "m.pt2")
    assert _same_function(load_model(tmp_path / "m.pt2"), m) == 0.0
    seq = nn.Sequential(nn.Linear(3, 6), nn.ReLU(), nn.Linear(6, 6), nn.ReLU(), nn.Linear(6, 2))
    torch.save(seq, tmp_path / "seq.pt")
    assert _same_function(load_model(tmp_path / "seq.pt"), seq) == 0.0
    torch.save(m, tmp_path / "custom.pt")        # a pickled custom class: only when trusted
    with pytest.raises(ValueError, match="Reordered"):
        load_model(tmp_path / "custom.pt")
    assert _same_function(load_model(tmp_path / "custom.pt", trust=True), m) == 0.0


def test_state_dict_orders():
    seq = nn.Sequential(nn.Linear(3, 6), nn.ReLU(), nn.Linear(6, 6), nn.ReLU(), nn.Linear(6, 2)).double()
    assert _same_function(read_state_dict(seq.state_dict(), "3,6,6,2", "relu"), seq) == 0.0
    m = Reordered().double()
    sd = m.state_dict()          # names out, mid, inp: order from the unique shape chain
    chain = read_state_dict(sd, [3, 5, 5, 2], "relu")
    assert [l.name for l in chain.layers] == ["inp", "mid", "out"]
    sd2 = {k.replace("mid", "zzz"): v for k, v in sd.items()}
    sd2.update({"extra.weight": torch.zeros(5, 5), "extra.bias": torch.zeros(5)})
    with pytest.raises(ValueError, match="cannot be established"):   # two 5x5 layers, names say nothing
        read_state_dict(sd2, "3,5,5,5,2")
    chain = read_state_dict(sd2, "3,5,5,5,2", layers=["inp", "zzz", "extra", "out"])
    assert [l.name for l in chain.layers] == ["inp", "zzz", "extra", "out"]


@pytest.mark.parametrize("model, match", [
    (nn.Sequential(nn.Linear(3, 4), nn.Sigmoid(), nn.Linear(4, 1)), r"layer 1 \(Sigmoid\) is not supported"),
    (nn.Sequential(nn.Conv1d(3, 4, 1), nn.ReLU()), r"layer 0 \(Conv1d\)"),
    (nn.Sequential(nn.ReLU(), nn.Linear(3, 1)), "follows the input"),
    (nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Tanh(), nn.Linear(4, 1)), "follows the activation"),
    (nn.Sequential(nn.Linear(3, 4), nn.ReLU()), "ends with an activation"),
    (nn.Sequential(nn.Linear(3, 4), nn.GELU(approximate="tanh"), nn.Linear(4, 1)), "exact GELU"),
    (Residual(), "residual"),
])
def test_refusals_name_the_layer(model, match):
    with pytest.raises(ValueError, match=match):
        read_module(model)


def test_bad_files(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    seq = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    torch.save(seq.state_dict(), tmp_path / "sd.pt")
    torch.save(nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1)), tmp_path / "bn.pt")
    cases = [("missing.pt", {}, "not found"), ("junk.pt", {}, "cannot be read"),
             ("sd.pt", {}, "state_dict.*--arch"), ("sd.pt", {"arch": "3,5,1"}, "needs"),
             ("sd.pt", {"arch": "3,4,4,1"}, "has 3 Linear layers"), ("sd.pt", {"arch": "3,x,1"}, "arch"),
             ("bn.pt", {}, "BatchNorm1d")]
    for name, kw, match in cases:
        with pytest.raises(ValueError, match=match) as info:
            load_model(tmp_path / name, **kw)
        assert "\n" not in str(info.value)
