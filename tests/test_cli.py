"""The command line: exit codes, one-line errors, JSON output."""
import json

import pytest

from dltv.checks.cli import main


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


def test_formula_eval_kernel_json(capsys):
    code, out, _ = run(capsys, "formula", "eval", "correlations.kernel", "activation=relu", "C_W=2",
                       "C_b=0", "layer=3", "K=1,1/2,1", "--json")
    data = json.loads(out)
    assert code == 0 and set(data) >= {"id", "params", "value"}
    assert set(data["value"]) == {"K_aa", "K_ab", "K_bb"}
    # the ReLU correlation map at C_W=2 from rho=1/2, two steps (table in the correlations notes)
    assert data["value"]["K_ab"] == pytest.approx(0.683906, abs=1e-6)
    assert data["value"]["K_aa"] == 1


def test_formula_show_prints_sympy_and_latex(capsys):
    code, out, _ = run(capsys, "formula", "show", "correlations.kernel", "--json")
    data = json.loads(out)
    assert code == 0 and data["id"] == "correlations.kernel" and data["source"]
    assert all({"sympy", "latex"} <= set(v) for v in data["expression"].values())


@pytest.mark.parametrize("params, name", [
    (["activation=relu", "C_W=0", "C_b=0", "layer=2", "K=1"], "C_W"),
    (["activation=relu", "C_W=2", "C_b=-1", "layer=2", "K=1"], "C_b"),
    (["activation=relu", "C_W=2", "C_b=0", "layer=2.5", "K=1"], "layer"),
    (["activation=relu", "C_W=2", "C_b=0", "layer=2", "K=nan"], "K"),
    (["activation=swish9", "C_W=2", "C_b=0", "layer=2", "K=1"], "activation"),
    (["activation=relu", "C_W=2", "C_b=0", "layer=2"], "K"),
    (["activation=relu", "C_W=2", "C_b=0", "layer=2", "K=1", "depth=3"], "depth"),
])
def test_formula_eval_bad_input_names_the_parameter(capsys, params, name):
    code, _, err = run(capsys, "formula", "eval", "correlations.kernel", *params)
    assert code == 2 and name in err and err.count("\n") == 1


def test_report_writes_four_artefacts_and_survives_a_failed_run(capsys, tmp_path):
    out = tmp_path / "rep"
    code, stdout, _ = run(capsys, "report", "--claims", "correlations.kernel.neural-tangents", "--out", str(out))
    assert code == 0 and "1 of 1 claims pass" in stdout
    for name in ("index.html", "index.md", "results.json"):
        assert (out / name).stat().st_size > 0
    before = (out / "results.json").read_bytes()
    code, _, _ = run(capsys, "report", "--claims", "no-such-*", "--out", str(out))
    assert code == 2 and (out / "results.json").read_bytes() == before
    data = json.loads(before)
    assert data["claims"][0]["verdict"] == "pass" and data["meta"]["versions"]["torch"]


def test_version_and_bare_command(capsys):
    import dltv

    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"dltv {dltv.__version__}"
    code, out, _ = run(capsys)
    assert code == 0 and "usage: dltv" in out and "report" in out


def test_formula_show_latex_and_mathml(capsys):
    code, out, _ = run(capsys, "formula", "show", "bottleneck.linear_cost", "--latex")
    assert code == 0 and "\\sum" in out and "<math" not in out
    code, out, _ = run(capsys, "formula", "show", "correlations.kernel", "--mathml")
    assert code == 0 and out.count("<math") == out.count("</math>") >= 1 and "<sigma" not in out


def test_formula_objects_render_in_notebooks():
    from dltv.theory.formulas import get_formula

    latex = get_formula("bottleneck.linear_cost")._repr_latex_()
    assert latex.startswith("$") and latex.endswith("$") and "\\sum" in latex


@pytest.mark.parametrize("kind", ["file", "readonly"])
def test_unwritable_out_is_refused_before_any_claim_runs(capsys, tmp_path, kind):
    import os

    target = tmp_path / "out"
    if kind == "file":
        target.write_text("not a folder")
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes everywhere")
        target.mkdir(mode=0o500)
    code, out, err = run(capsys, "report", "--claims", "regions.sawtooth.telgarsky", "--out", str(target))
    assert code == 2 and err.startswith("dltv: error: out") and err.count("\n") == 1 and "[1/1]" not in err


def test_partial_run_does_not_replace_the_full_report(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "report", "--claims", "regions.sawtooth.telgarsky")
    assert (tmp_path / "reports" / "partial" / "results.json").exists()
    assert not (tmp_path / "reports" / "results.json").exists()
    assert "a run of some claims" in out and "[1/1] regions.sawtooth.telgarsky …" in err


def test_partial_run_into_a_chosen_folder_keeps_its_full_report(capsys, tmp_path):
    from dltv.checks.report import holds_complete_report

    out = tmp_path / "rep"
    out.mkdir()
    (out / "results.json").write_text(json.dumps({"meta": {"settings": {"claims": None}}, "claims": []}))
    assert holds_complete_report(out)
    before = (out / "results.json").read_bytes()
    code, _, _ = run(capsys, "report", "--claims", "regions.sawtooth.telgarsky", "--out", str(out))
    assert (out / "results.json").read_bytes() == before
    assert (out / "partial" / "results.json").exists()
