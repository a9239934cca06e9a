"""Claims that live outside dltv: `dltv report --claims-from` and pytest in the user's own package."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dltv.checks.cli import main

CLAIMS = textwrap.dedent('''
    import numpy as np
    from dltv.claims import Measurement, assert_result, claim, mean_point, proportion_point

    @claim("mylab.gauss.mean", source="derived: E N(0,1) = 0", statement="a standard normal has mean 0",
           seed=11, stochastic=True, predicted="mean 0", measured="mean of 2e4 draws")
    def _mean(ctx):
        x = ctx.rng.standard_normal(20_000)
        return Measurement([mean_point("N=2e4", x, prediction=0.0, control=0.1)])

    @claim("mylab.gauss.sign", source="derived: symmetry", statement="P(x > 0) = 1/2",
           seed=12, stochastic=True)
    def _sign(ctx):
        x = ctx.rng.standard_normal(20_000)
        return Measurement([proportion_point("N=2e4", int((x > 0).sum()), x.size, 0.5, control=0.6)])

    def test_claim(claim_result):
        assert_result(claim_result)
''')


@pytest.fixture
def user_package(tmp_path):
    pkg = tmp_path / "proj" / "mylabclaims"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "test_myclaims.py").write_text(CLAIMS)
    return tmp_path / "proj"


def test_claims_from_a_module_outside_dltv_go_into_the_report(user_package, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(user_package)
    out = tmp_path / "rep"
    code = main(["report", "--claims-from", "mylabclaims.test_myclaims", "--claims", "mylab.*", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    data = json.loads((out / "results.json").read_text())
    ids = {c["id"]: c for c in data["claims"]}
    assert set(ids) == {"mylab.gauss.mean", "mylab.gauss.sign"}
    assert all(c["verdict"] == "pass" and c["area"] == "mylab" and c["resolution"] for c in ids.values())
    assert "mylab" in (out / "index.html").read_text()


def test_unknown_claims_module_is_one_line(capsys):
    assert main(["report", "--claims-from", "no_such_module_xyz"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dltv: error: claims-from") and err.count("\n") == 1


def test_the_same_claims_run_under_pytest_in_the_users_package(user_package, tmp_path):
    reports = tmp_path / "pyrep"
    env = dict(os.environ, DLTV_REPORTS=str(reports))
    env.pop("PYTEST_ADDOPTS", None)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "mylabclaims"],
                          cwd=user_package, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout
    data = json.loads((reports / "results.json").read_text())
    assert {c["id"] for c in data["claims"]} == {"mylab.gauss.mean", "mylab.gauss.sign"}
    # a part of the collected claims goes to partial/, leaving that report in place
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "mylabclaims",
                           "-k", "sign"], cwd=user_package, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads((reports / "results.json").read_text()) == data
    part = json.loads((reports / "partial" / "results.json").read_text())
    assert [c["id"] for c in part["claims"]] == ["mylab.gauss.sign"]


def test_claims_listed_under_the_entry_point_group_are_discovered(user_package, monkeypatch):
    from importlib.metadata import EntryPoint

    from dltv.checks import claims as C

    monkeypatch.syspath_prepend(str(user_package))
    ep = EntryPoint(name="mylab", value="mylabclaims.test_myclaims", group=C.ENTRY_POINT_GROUP)
    monkeypatch.setattr(C, "_entry_points", lambda: [ep])
    ids = set(C.load_claims())
    assert {"mylab.gauss.mean", "mylab.gauss.sign"} <= ids


def test_one_area_of_dltvs_claims_under_pytest_is_a_partial_run(tmp_path):
    """`pytest checks/test_covering.py` must not replace the report of all claims."""
    root = Path(__file__).resolve().parents[1]
    reports = tmp_path / "rep"
    env = dict(os.environ, DLTV_REPORTS=str(reports))
    env.pop("PYTEST_ADDOPTS", None)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "checks/test_covering.py"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not (reports / "results.json").exists()
    part = json.loads((reports / "partial" / "results.json").read_text())["claims"]
    assert len(part) >= 10 and all(c["area"] == "covering" for c in part)
