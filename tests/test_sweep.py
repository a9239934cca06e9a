"""Validity-map sweeps: Dask gives the serial numbers, the cache resumes, bad input is one line."""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cloudpickle
import dask
import pytest

from dltv.checks import sweep as sw
from dltv.checks.cli import main

Q = "correlations.relu.fourth-moment"
GRID = dict(widths="16,32", depths="1,3", budget=2000)


def _files(root: Path) -> dict:
    return {p: p.read_bytes() for p in root.rglob("*.json")} if root.exists() else {}


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    cache = sw.Cache(tmp_path_factory.mktemp("serial"))
    return sw.run_sweep(Q, GRID["widths"], GRID["depths"], budget=GRID["budget"], workers=0, cache=cache)


def test_cells_are_seeded_by_the_cell_alone():
    assert sw.cell_seed(Q, 16, 3, 0) == sw.cell_seed(Q, 16, 3, 0) != sw.cell_seed(Q, 16, 3, 1)
    assert sw.cell_seed(Q, 16, 3, 0) != sw.cell_seed(Q, 32, 3, 0)


def test_two_worker_cluster_gives_exactly_the_serial_numbers(serial, tmp_path):
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=40) as cluster, Client(cluster) as client:
        par = sw.run_sweep(Q, GRID["widths"], GRID["depths"], budget=GRID["budget"], client=client,
                           cache=sw.Cache(tmp_path))
    key = lambda c: (c["n"], c["L"])
    assert [(key(c), c["estimate"], c["se"]) for c in serial.cells] == \
           [(key(c), c["estimate"], c["se"]) for c in par.cells]
    assert par.computed == 4


def test_rerun_reads_the_cache(serial, tmp_path):
    cache = sw.Cache(tmp_path)
    first = sw.run_sweep(Q, GRID["widths"], GRID["depths"], budget=GRID["budget"], workers=0, cache=cache)
    again = sw.run_sweep(Q, GRID["widths"], GRID["depths"], budget=GRID["budget"], workers=0, cache=cache)
    assert first.computed == 4 and again.computed == 0
    assert [c["estimate"] for c in again.cells] == [c["estimate"] for c in serial.cells]
    other = sw.run_sweep(Q, GRID["widths"], GRID["depths"], budget=GRID["budget"] + 1, workers=0, cache=cache)
    assert other.computed == 4  # a different budget is a different cell


def _dying_quantity(marker: Path) -> sw.Quantity:
    base = sw.get_quantity(Q)

    def measure(n, L, budget, seed, device):
        if n == 32 and L == 3 and marker.exists():
            os._exit(3)  # the worker process dies mid-sweep
        return base.measure(n=n, L=L, budget=budget, seed=seed, device=device)

    return sw.Quantity("test.dying", base.statement, measure, base.predict, base.predictions, base.sources,
                       base.default_widths, base.default_depths, base.default_budget)


def test_killed_worker_sweep_completes_on_rerun_from_the_cache(tmp_path):
    from distributed import Client, LocalCluster

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    marker = tmp_path / "die"
    marker.write_text("")
    q = _dying_quantity(marker)
    cache = sw.Cache(tmp_path / "cache")
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                         silence_logs=50) as cluster, Client(cluster) as client:
        with pytest.raises(sw.SweepError, match="cells failed"):
            sw.run_sweep(q, GRID["widths"], GRID["depths"], budget=GRID["budget"], client=client, cache=cache)
    # the dying cell (and any task queued on the same worker) failed; every finished one is cached
    cached = len(list((tmp_path / "cache").rglob("*.json")))
    assert 1 <= cached <= 3
    marker.unlink()
    again = sw.run_sweep(q, GRID["widths"], GRID["depths"], budget=GRID["budget"], workers=0, cache=cache)
    assert again.computed == 4 - cached
    assert len(list((tmp_path / "cache").rglob("*.json"))) == 4


def test_map_reads_where_each_prediction_holds(serial):
    data = sw.build_map(serial)
    assert data["predictions"] == ["infinite-width", "1/n", "exact"]
    cells = {(c["n"], c["L"]): c for c in data["cells"]}
    assert all(c["exact.holds"] for c in cells.values())
    assert not any(c["infinite-width.holds"] for c in cells.values())
    assert cells[(16, 1)]["1/n.holds"]  # exact at one layer: (1 + 5/n)^1 = 1 + 5/n
    assert data["boundary_L_over_n"]["exact"] == {"16": 3 / 16, "32": 3 / 32}


def test_map_files(serial, tmp_path):
    paths = sw.write_map(sw.build_map(serial), tmp_path)
    assert Path(paths["png"]).read_bytes()[:4] == b"\x89PNG"
    header = Path(paths["csv"]).read_text().splitlines()[0]
    assert "exact.z" in header and "L_over_n" in header
    assert json.loads(Path(paths["json"]).read_text())["quantity"] == Q


def test_sweep_through_a_started_scheduler_and_worker(serial, tmp_path, capsys):
    sched_file = tmp_path / "scheduler.json"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                               "--port", "0", "--no-dashboard", "--scheduler-file", str(sched_file)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        deadline = time.time() + 60
        while not sched_file.exists() and time.time() < deadline:
            time.sleep(0.2)
        address = json.loads(sched_file.read_text())["address"]
        procs.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address,
                                       "--nworkers", "1", "--nthreads", "1", "--no-dashboard"],
                                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        code = main(["sweep", Q, "--widths", GRID["widths"], "--depths", GRID["depths"], "--budget",
                     str(GRID["budget"]), "--scheduler", address, "--cache", str(tmp_path / "c"),
                     "--out", str(tmp_path / "maps"), "--json"])
        out = json.loads(capsys.readouterr().out)
        assert code == 0 and out["computed"] == 4
        assert [c["estimate"] for c in out["cells"]] == [c["estimate"] for c in serial.cells]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)


@pytest.mark.parametrize("args, name", [
    (["--widths", ""], "widths"), (["--widths", "0,8"], "widths"), (["--depths", "2,x"], "depths"),
    (["--budget", "1"], "budget"), (["--scheduler", "tcp://127.0.0.1:9"], "scheduler"),
])
def test_bad_sweep_input_is_one_line_and_keeps_the_cache(args, name, serial, tmp_path, capsys):
    cache = tmp_path / "cache"
    sw.run_sweep(Q, "16", "1", budget=100, workers=0, cache=sw.Cache(cache))
    before = _files(cache)
    code = main(["sweep", Q, "--cache", str(cache), "--out", str(tmp_path / "m"), "--widths", "16",
                 "--depths", "1", "--budget", "100"] + args)
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("dltv: error:") and name in err and err.count("\n") == 1, err
    assert _files(cache) == before


def test_unknown_quantity_is_one_line(capsys):
    assert main(["sweep", "correlations.no-such-thing"]) == 2
    assert "unknown sweep quantity" in capsys.readouterr().err


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA device")
def test_sweep_on_the_gpu_matches_its_statistics(tmp_path):
    r = sw.run_sweep(Q, "16", "1,3", budget=4000, device="cuda", cache=sw.Cache(tmp_path))
    assert all(c["exact.holds"] for c in sw.build_map(r)["cells"])
