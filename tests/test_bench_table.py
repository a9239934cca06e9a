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
