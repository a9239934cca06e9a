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


def test_regions_rows_count_the_network_and_state_their_target(monkeypatch):
    import dltv.checks.bench_regions as br

    monkeypatch.setattr(br, "DEPTHS", {"quick": (3, 5), "full": (3, 5)})
    monkeypatch.setattr(br, "TARGET_DEPTH", 5)
    rows = br.run(quick=True, device="cpu")
    assert [r["regions"] for r in rows] == [8, 32]
    for r in rows:
        assert r["bench"] == "regions.count" and r["case"].startswith("network")
        for key in ("seconds", "count_seconds", "peak_mb", "generator_seconds", "ratio_to_generator", "target"):
            assert key in r
        assert r["ok"] is True and r["torch_loaded"] is False and 0 < r["peak_mb"] < 1024
    assert "10 s" in rows[-1]["target"] and "1 GB" in rows[-1]["target"]
    monkeypatch.setattr(br, "TARGET_SECONDS", 0.0)           # a target that cannot be met reads as not ok
    assert br.run(quick=True, device="cpu")[-1]["ok"] is False
