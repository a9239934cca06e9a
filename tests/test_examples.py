"""Every script in examples/ runs, on its small settings, as part of the test suite."""
import os
import runpy
from pathlib import Path

import matplotlib
import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.py"))


def test_there_is_an_example_per_area():
    areas = {p.name.split("_", 1)[0] for p in EXAMPLES}
    assert areas >= {"correlations", "covering", "allocation", "regions", "bottleneck"}


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(path, monkeypatch, tmp_path, capsys):
    matplotlib.use("Agg")
    monkeypatch.setenv("DLTV_EXAMPLES_SMALL", "1")
    monkeypatch.chdir(tmp_path)  # examples write their figures to the working directory
    runpy.run_path(str(path), run_name="__main__")
    assert capsys.readouterr().out.strip(), f"{path.name} printed nothing"
