"""The command line: exit codes, one-line errors, JSON output."""
import json

import pytest

from checks.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv", [
    ["nope"],
    ["report", "--claims", "no-such-claim-*"],
    ["report", "--device", "tpu"],
    ["report", "--seed", "x"],
    ["formula", "eval", "no.such.formula"],
    ["formula", "show"],
    ["calibrate", "--claims", "no-such-claim-*"],
    ["bench", "--area", "nowhere"],
])
def test_bad_input_is_one_line_and_status_2(capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("dltv: error:")


def test_formula_list_json_is_valid(capsys):
    code, out, _ = run(capsys, "formula", "list", "--json")
    assert code == 0
    ids = [f["id"] for f in json.loads(out)]
    assert ids == sorted(ids)


def test_list_json_names_areas(capsys):
    code, out, _ = run(capsys, "list", "--json")
    assert code == 0
    for c in json.loads(out):
        assert c["id"].split(".")[0] == c["area"]
