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
