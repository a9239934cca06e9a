"""The built wheel: one import name, no test files, and it runs from anywhere without the source tree."""
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    had_build = (ROOT / "build").exists()
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        pytest.fail(f"pip wheel failed:\n{proc.stdout}\n{proc.stderr}")
    assert had_build or not (ROOT / "build").exists(), "building the wheel left build/ in the source tree"
    (whl,) = out.glob("dltv-*.whl")
    return whl


def test_only_dltv_is_a_top_level_name(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/", 1)[0] for n in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"dltv"}
    assert not any(n.startswith(("dltv/tests/", "tests/")) for n in names)
    assert {"dltv/theory/correlations.py", "dltv/numerics/regions.py", "dltv/checks/test_regions.py",
            "dltv/checks/pytest_plugin.py", "dltv/claims.py", "dltv/py.typed"} <= set(names)
    meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert "Classifier: Intended Audience :: Science/Research" in meta


def test_installed_wheel_runs_from_any_directory(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = dict(os.environ, PYTHONPATH=str(site))
    run = lambda *args: subprocess.run([sys.executable, *args], cwd=work, env=env, capture_output=True,
                                       text=True, timeout=600)
    where = run("-c", "import dltv, dltv.theory, dltv.checks.claims as c; "
                      "print(dltv.__file__); print(dltv.theory.__file__); print(len(c.load_claims()))")
    assert where.returncode == 0, where.stderr
    files, n_claims = where.stdout.split()[:2], int(where.stdout.split()[2])
    assert all(f.startswith(str(site)) for f in files) and n_claims >= 50
    for name in ("theory", "numerics", "checks"):
        assert run("-c", f"import {name}").returncode != 0, f"a top-level {name!r} module is importable"
    listed = run("-m", "dltv", "list")
    assert listed.returncode == 0 and "regions.sawtooth.telgarsky" in listed.stdout
    rep = run("-m", "dltv", "report", "--claims", "regions.sawtooth.telgarsky", "--out", "rep")
    assert rep.returncode == 0, rep.stdout + rep.stderr
    meta = json.loads((work / "rep" / "results.json").read_text())["meta"]
    assert len(meta["source_sha256"]) == 64 and meta["versions"]["dltv"]
