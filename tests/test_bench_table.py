"""The bench and calibration tables fit a 100-column terminal and keep every number."""
from dltv.checks.bench import format_table


def test_wide_rows_wrap_into_blocks_of_at_most_100_columns():
    rows = [{"bench": "correlations.sampler", "case": f"n={n} L=20 k=2", "seconds": 1.234,
             "target": "collapsed >= 100x real and <= 3x its floor", "ok": True,
             "real_nets_per_s": 29.9 * n, "collapsed_nets_per_s": 3945.0 * n, "speedup": 132.0,
             "real_vs_floor": 40.1, "collapsed_vs_floor": 1.0} for n in (64, 256)]
    rows.append({"bench": "regions.count", "case": "network depth=12", "seconds": 0.5, "regions": 4096})
    text = format_table(rows)
    assert max(len(line) for line in text.splitlines()) <= 100
    for key in rows[0]:
        if key != "bench":
            assert key in text
    assert text.count("n=64 L=20 k=2") >= 2  # the case is repeated in each block
    assert "4096" in text


def test_every_row_states_its_target_and_the_summary_names_the_misses(monkeypatch):
    import types

    import dltv.checks.bench as bench

    fast = types.SimpleNamespace(__name__="dltv.checks.bench_fake", run=lambda quick, device: [
        {"bench": "fake", "case": "met", "seconds": 1.0, "target": "<= 2 s", "ok": 1},
        {"bench": "fake", "case": "missed", "seconds": 3.0, "target": "<= 2 s", "ok": False},
        {"bench": "fake", "case": "reported", "seconds": 0.1}])
    monkeypatch.setattr(bench, "bench_modules", lambda: {"fake": [fast]})
    rows = bench.run_benchmarks(None, quick=True, device="cpu")
    assert [r["ok"] for r in rows] == [True, False, None]
    assert rows[2]["target"] is None
    assert bench.target_summary(rows) == "targets met: 1 of 2 (not met: fake missed)"


def test_the_areas_benchmark_modules_are_found():
    from dltv.checks.bench import bench_modules

    found = bench_modules()
    assert {"correlations", "regions"} <= set(found)
    assert all(hasattr(m, "run") for ms in found.values() for m in ms)


def test_neural_tangents_judgement_says_what_ok_was_judged_on():
    from dltv.checks.bench_correlations import CHI2_NT_TARGET, NT_TARGET, _with_neural_tangents

    measured = {"nt_measured": True, "nt_nets_per_s": 10.0}
    missing = {"nt_measured": False, "nt_note": "neural-tangents not available"}
    row = _with_neural_tangents({"collapsed_nets_per_s": 2400.0}, measured, "collapsed_nets_per_s", NT_TARGET, True)
    assert row["vs_neural_tangents"] == 240.0 and row["ok"] is False and "measured" in row["ok_judged_on"]
    row = _with_neural_tangents({"collapsed_nets_per_s": 2600.0}, measured, "collapsed_nets_per_s", NT_TARGET, False)
    assert row["ok"] is False  # the floor target fails
    row = _with_neural_tangents({"collapsed_nets_per_s": 10.0}, missing, "collapsed_nets_per_s", NT_TARGET, True)
    assert row["ok"] is True and "floor target alone" in row["ok_judged_on"]
    assert "vs_neural_tangents" not in row and "stored reference" in row["nt_reference_source"]
    row = _with_neural_tangents({"chi2_nets_per_s": 5000.0}, missing, "chi2_nets_per_s", CHI2_NT_TARGET, None)
    assert row["ok"] is False and "stored" in row["ok_judged_on"] and "nt_reference_note" in row


def test_formula_rows_compare_every_nlo_entry_with_the_float_recursion():
    """The bench's float64 reference covers every entry correlations.nlo returns (ReLU's exact zeros too)."""
    from dltv.checks import bench_formulas as b
    from dltv.theory import correlations as C

    for name, cw, layer in (("relu", 2, 4), ("tanh", 1, 2)):
        exact = C.nlo_layer(name, cw, 0, b.K1, 32, layer)
        assert set(exact) == set(C.NLO_ENTRIES)
        assert b._digits(exact, b._float_nlo(name, float(cw), 32, layer)) > 12
    row = b._row("gradient", "tanh", 2, lambda: b._last(C.gradient_recursion("tanh", 1, 0, (1, 0.9, 1), 2, mp=True)),
                 b._last(C.gradient_recursion("tanh", 1, 0, (1, 0.9, 1), 2)), inputs="K,P,D=1,0.9,1")
    assert row["float64_digits"] > 12 and row["case"] == "gradient tanh K,P,D=1,0.9,1 layer=2"
