"""`dltv allocation check`: the verdict for a user's allocation, and its refusals."""
import json

import pytest

from dltv.checks.cli import main
from dltv.checks.cli_allocation import allocation_check, estimate_match_probability


def _run(capsys, *argv):
    code = main(["allocation", "check", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_a_last_layer_below_the_input_dimension_never_matches(capsys):
    code, out, _ = _run(capsys, "--widths", "4,3,3,2", "--m", "6", "--layers", "W3", "--json")
    r = json.loads(out)
    assert code == 0 and r["equations"] == 8 and r["M"] == 6 and r["rank"] == 6
    assert r["verdict"]["rule"] == "F1" and r["match_probability"] == {"mp": 0, "exact": True}


def test_exact_verdicts_agree_with_the_solver():
    # whole last layer with d_L-1 >= q: MP = 1; a bottleneck: MP = 0 (the solver is independent)
    for widths, m, layers, mp in (([2, 3, 2], 2, "W2", 1), ([4, 2, 4], 6, "W1", 0)):
        r = allocation_check(",".join(map(str, widths)), m, layers=layers)
        assert r["match_probability"]["mp"] == mp
        from dltv.theory.allocation import entries, lffn_shapes
        alloc = entries(lffn_shapes(widths), [layers])
        est = estimate_match_probability(widths, m, alloc, draws=40, seed=1)
        assert est["mp"] == mp


def test_an_open_verdict_is_estimated_with_its_standard_error(tmp_path, capsys):
    mask = tmp_path / "mask.json"
    mask.write_text(json.dumps({"W1": [[1, 0], [0, 1], [0, 0]], "W2": [[0, 1, 0], [0, 0, 1]]}))
    code, out, _ = _run(capsys, "--widths", "2,3,2", "--m", "3", "--mask", str(mask), "--draws", "120", "--json")
    r = json.loads(out)
    assert code == 0 and r["verdict"]["rule"] == "G2" and r["verdict"]["mp"] is None
    mp = r["match_probability"]
    assert mp["exact"] is False and mp["n"] == 120 and 0 < mp["se"] < 0.1
    assert 0.5 < mp["mp"] < 1  # this allocation matches most teachers but not all (derived F6)
    same = allocation_check("2,3,2", 3, entries="W1:0:0,W1:1:1,W2:0:1,W2:1:2", draws="120")
    assert same["match_probability"]["mp"] == mp["mp"]  # the mask and the entry list are one allocation


@pytest.mark.parametrize("argv, word", [
    (["--widths", "4,0,4", "--m", "6", "--layers", "W1"], "widths"),
    (["--widths", "4,3,4", "--m", "0", "--layers", "W1"], "m"),
    (["--widths", "4,3,4", "--m", "6", "--layers", "W7"], "layers"),
    (["--widths", "4,3,4", "--m", "6", "--entries", "W1:9:0"], "entries"),
    (["--widths", "4,3,4", "--m", "6", "--entries", "W1:0"], "entries"),
    (["--widths", "4,3,4", "--m", "6", "--mask", "/nonexistent.json"], "mask"),
    (["--widths", "4,3,4", "--m", "6", "--layers", "W1", "--draws", "-1"], "draws"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, word):
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and word in err


def test_widths_may_be_given_as_a_list_from_python():
    assert allocation_check([4, 3, 3, 2], 6, layers="W3") == allocation_check("4,3,3,2", 6, layers="W3")
