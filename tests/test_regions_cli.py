"""`dltv regions count` through the main CLI."""
import json

import pytest
import torch

from dltv.checks.cli import main


def test_count_triangle_text(capsys):
    assert main(["regions", "count", "--depth", "5", "--peaks", "1/3,0.4,0.5,0.6,0.7"]) == 0
    out = capsys.readouterr().out.split()
    assert out == ["activation_regions", "32", "affine_pieces", "32"]


def test_count_triangle_law_json(capsys):
    assert main(["regions", "count", "--depth", "4", "--peaks", "1/3,2/5,1/2,3/5,7/10", "--law", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["activation_regions"] == 16 and out["affine_pieces"] == 16
    assert out["scales"][0] == "2/15"   # default s_0 = a_0 a_1


def test_count_saved_model(tmp_path, capsys):
    m = torch.nn.Sequential(torch.nn.Linear(1, 2), torch.nn.ReLU(), torch.nn.Linear(2, 1))
    with torch.no_grad():
        m[0].weight[:] = torch.tensor([[1.0], [1.0]]); m[0].bias[:] = torch.tensor([-0.25, -0.5])
        m[2].weight[:] = torch.tensor([[1.0, -1.0]]); m[2].bias.zero_()
    for obj, name in ((m, "m.pt"), (m.state_dict(), "sd.pt")):
        torch.save(obj, tmp_path / name)
        assert main(["regions", "count", "--model", str(tmp_path / name), "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["activation_regions"] == 3 and out["affine_pieces"] == 3


@pytest.mark.parametrize("argv", [
    ["regions", "count", "--depth", "0", "--peaks", "1/2"],
    ["regions", "count", "--depth", "2", "--peaks", "1/2"],
    ["regions", "count", "--depth", "2", "--peaks", "1/2,1"],
    ["regions", "count", "--depth", "2", "--peaks", "1/2,1/2", "--scales", "1,-1"],
    ["regions", "count", "--depth", "2", "--peaks", "a,b"],
    ["regions", "count", "--model", "/nonexistent/file.pt"],
    ["regions", "count"],
    ["regions"],
])
def test_bad_input_exits_2(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("dltv: error:") and err.count("\n") == 1


def _save(tmp_path, obj, name="m.pt"):
    path = tmp_path / name
    torch.save(obj, path)
    return str(path)


def _two_kink_net():
    m = torch.nn.Sequential(torch.nn.Linear(1, 2), torch.nn.ReLU(), torch.nn.Linear(2, 1))
    with torch.no_grad():
        m[0].weight[:] = torch.tensor([[1.0], [1.0]]); m[0].bias[:] = torch.tensor([-0.25, -0.5])
        m[2].weight[:] = torch.tensor([[1.0, -1.0]]); m[2].bias.zero_()
    return m


def _count(argv, capsys):
    assert main(["regions", "count", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_state_dict_out_of_forward_order_is_read_in_forward_order(tmp_path, capsys):
    # 12 layers: string order puts "10." before "2."; insertion order here is reversed
    torch.manual_seed(0)
    mods = []
    for i in range(6):
        mods += [torch.nn.Linear(1 if i == 0 else 3, 3), torch.nn.ReLU()]
    m = torch.nn.Sequential(*mods, torch.nn.Linear(3, 1)).double()
    expect = _count(["--model", _save(tmp_path, m), "--lo", "-3", "--hi", "3"], capsys)["activation_regions"]
    sd = m.state_dict()
    shuffled = {k: sd[k] for k in reversed(list(sd))}
    got = _count(["--model", _save(tmp_path, shuffled, "sd.pt"), "--lo", "-3", "--hi", "3"], capsys)
    assert got["activation_regions"] == expect


def test_state_dict_with_named_layers_needs_an_order(tmp_path, capsys):
    m = _two_kink_net()
    sd = {"out.weight": m[2].weight.detach(), "out.bias": m[2].bias.detach(),
          "fc1.weight": m[0].weight.detach(), "fc1.bias": m[0].bias.detach()}
    path = _save(tmp_path, sd)
    assert main(["regions", "count", "--model", path]) == 2
    err = capsys.readouterr().err
    assert "--layers" in err and err.count("\n") == 1
    assert _count(["--model", path, "--layers", "fc1,out"], capsys)["activation_regions"] == 3


def test_bias_free_linear_layers(tmp_path, capsys):
    m = torch.nn.Sequential(torch.nn.Linear(1, 2, bias=False), torch.nn.ReLU(), torch.nn.Linear(2, 1, bias=False))
    for obj, name in ((m, "m.pt"), (m.state_dict(), "sd.pt")):
        out = _count(["--model", _save(tmp_path, obj, name), "--lo", "-1"], capsys)
        assert out["activation_regions"] <= 2     # homogeneous: a kink at 0 only


def test_dropout_flatten_identity_are_skipped(tmp_path, capsys):
    m = _two_kink_net()
    wrapped = torch.nn.Sequential(torch.nn.Flatten(), m[0], torch.nn.Dropout(0.5), m[1], torch.nn.Identity(), m[2])
    assert _count(["--model", _save(tmp_path, wrapped)], capsys)["activation_regions"] == 3


class _Residual(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = torch.nn.Linear(1, 1), torch.nn.Linear(1, 1)

    def forward(self, x):
        return x + self.fc2(torch.relu(self.fc1(x)))


@pytest.mark.parametrize("model, word", [
    (torch.nn.Sequential(torch.nn.Linear(1, 2), torch.nn.LeakyReLU(), torch.nn.Linear(2, 1)), "LeakyReLU"),
    (torch.nn.Sequential(torch.nn.Linear(1, 2), torch.nn.Tanh(), torch.nn.Linear(2, 1)), "Tanh"),
    (_Residual(), "_Residual"),
])
def test_unsupported_layers_are_named(tmp_path, capsys, model, word):
    assert main(["regions", "count", "--model", _save(tmp_path, model)]) == 2
    err = capsys.readouterr().err
    assert word in err and err.count("\n") == 1 and "Unpickling" not in err.split("(")[0]


def test_min_length_reports_both_counts(tmp_path, capsys):
    import dltv.numerics.regions as nr
    net = nr.TriangleNet(6, law=True, generator=torch.Generator().manual_seed(1))
    layers = net.layers(0)
    m = torch.nn.Sequential(*[mod for i, (W, b) in enumerate(layers)
                              for mod in ([torch.nn.Linear(W.shape[1], W.shape[0]).double()]
                                          + ([torch.nn.ReLU()] if i < len(layers) - 1 else []))])
    with torch.no_grad():
        for lin, (W, b) in zip([x for x in m if isinstance(x, torch.nn.Linear)], layers):
            lin.weight[:] = W; lin.bias[:] = b
    out = _count(["--model", _save(tmp_path, m), "--min-length", "1e-12"], capsys)
    assert out["long_regions"] == 64 < out["activation_regions"]
    assert out["long_pieces"] == 64


def test_readme_command_and_min_length_on_the_triangle(capsys):
    out = _count(["--depth", "3", "--peaks", "1/2,1/3,1/4"], capsys)
    assert out["activation_regions"] == out["affine_pieces"] == 8 and out["scales"] == ["1", "1", "1"]
    # the shortest region of peaks 1/2,1/3,1/4 is 1/2 * 1/3 * 1/4 = 1/24 long
    out = _count(["--depth", "3", "--peaks", "1/2,1/3,1/4", "--min-length", "1/24"], capsys)
    assert out["long_regions"] == 8
    out = _count(["--depth", "3", "--peaks", "1/2,1/3,1/4", "--min-length", "1/23"], capsys)
    assert out["long_regions"] < 8


def test_deep_counts_report_progress_at_most_once_per_interval(capsys):
    import dltv.checks.cli_regions as cr

    report = cr._layer_progress(12, every=3600)
    for layer in range(1, 13):
        report(layer, 12, 2 ** layer)
    assert capsys.readouterr().err.count("counting:") == 1
    assert cr._layer_progress(11) is None


def test_regions_rows_count_the_network_and_state_their_target(monkeypatch):
    import dltv.checks.bench_regions as br

    monkeypatch.setattr(br, "DEPTHS", {"quick": (3, 5), "full": (3, 5)})
    monkeypatch.setattr(br, "TARGET_DEPTH", 5)
    rows = br.run(quick=True, device="cpu")
    assert [r["regions"] for r in rows] == [8, 32]
    for r in rows:
        assert r["bench"] == "regions.count" and r["case"].startswith("network")
        for key in ("seconds", "count_seconds", "cpu_seconds", "peak_mb", "generator_seconds", "ratio_to_generator",
                    "target"):
            assert key in r
        assert r["ok"] is True and r["torch_loaded"] is False and 0 < r["peak_mb"] < 1024
    assert "10 s" in rows[-1]["target"] and "1 GB" in rows[-1]["target"]
    monkeypatch.setattr(br, "TARGET_SECONDS", 0.0)           # a target that cannot be met reads as not ok
    assert br.run(quick=True, device="cpu")[-1]["ok"] is False


def test_state_dict_with_its_architecture_and_models_the_counter_cannot_read(tmp_path, capsys):
    m = _two_kink_net()
    sd = {"out.weight": m[2].weight.detach(), "out.bias": m[2].bias.detach(),
          "fc1.weight": m[0].weight.detach(), "fc1.bias": m[0].bias.detach()}
    assert _count(["--model", _save(tmp_path, sd), "--arch", "1,2,1"], capsys)["activation_regions"] == 3
    two_d = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    assert main(["regions", "count", "--model", _save(tmp_path, two_d, "2d.pt")]) == 2
    err = capsys.readouterr().err
    assert "scalar input" in err and "dltv inspect" in err and err.count("\n") == 1
    assert main(["regions", "count", "--model", _save(tmp_path, sd, "sd2.pt"), "--arch", "1,3,1"]) == 2
    assert "cannot be established" in capsys.readouterr().err  # shapes that do not chain 1,3,1


def test_two_linear_layers_without_a_relu_are_refused_not_counted_as_relu(tmp_path, capsys):
    m = torch.nn.Sequential(torch.nn.Linear(1, 2), torch.nn.Linear(2, 1))
    assert main(["regions", "count", "--model", _save(tmp_path, m)]) == 2
    err = capsys.readouterr().err
    assert "without a ReLU" in err and err.count("\n") == 1
