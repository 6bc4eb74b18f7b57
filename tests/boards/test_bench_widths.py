"""`bench pe --widths`: one bench_pe run per width, put side by side (the builds faked; the real
builds are test_bench.py's)."""
import pytest

from adderhw.board_reports import format_bench_pe_widths


def _fake_bench_pe(width, **kw):
    """A bench_pe result whose SAD PE costs 5W LUT4s and whose MAC PE costs W^2 (made-up numbers,
    so that the ratio per width is known)."""
    rows = [{"board": b, "variant": v, "luts_per_pe": cost, "ffs_per_pe": 2.0 * width, "logic_per_pe": cost + 1,
             "fmax_mhz": 100.0 - width, "fmax_size": "4x4", "points": [{"luts": int(16 * cost) + 100}]}
            for b in kw["boards"] for v, cost in (("sad", 5.0 * width), ("mac", float(width * width)),
                                                  ("mac+dsp", 1.0))]
    ratios = {b: {"sad_over_mac_luts": 5.0 / width, "sad_over_mac_logic": (5 * width + 1) / (width * width + 1),
                  "sad_over_mac_fmax": 1.0} for b in kw["boards"]}
    return {"width": width, "k_max": 144, "sizes": [1, 2, 4], "seed": 1, "rows": rows, "ratios": ratios}


def test_bench_pe_widths_puts_one_row_per_board_and_width(monkeypatch):
    from adderhw.boards import bench
    monkeypatch.setattr(bench, "bench_pe", _fake_bench_pe)
    res = bench.bench_pe_widths((4, 8), boards=("icebreaker", "ulx3s-85f"))
    table = {(t["board"], t["width"]): t for t in res["table"]}
    assert set(table) == {(b, w) for b in ("icebreaker", "ulx3s-85f") for w in (4, 8)}
    assert table[("icebreaker", 4)]["sad_luts_per_pe"] == 20 and table[("icebreaker", 4)]["mac_luts_per_pe"] == 16
    assert table[("ulx3s-85f", 8)]["sad_over_mac_luts"] == 5 / 8
    assert table[("ulx3s-85f", 8)]["sad_largest_luts"] == 16 * 40 + 100
    md = format_bench_pe_widths(res)
    assert "| icebreaker | 4 | 20.0 | 8.0 | 16.0 | 8.0 | **1.250** | 1.235 | 420 / 356 = 1.18 | 96.0 | 96.0 |" in md


@pytest.mark.parametrize("argv,message", [
    (["bench", "pe", "--widths", "4,1"], "--widths must list integers of at least 2"),
    (["bench", "pe", "--widths", "4,17"], "width"),
    (["bench", "pe", "--widths", "4,6", "--baseline", "tests/boards/baselines/bench_pe.json"],
     "--baseline checks one width"),
])
def test_bench_pe_widths_refusals(argv, message, capsys):
    from adderhw.cli import main
    assert main(argv) != 0
    assert message in capsys.readouterr().err


def test_the_per_pe_fit_separates_rows_from_columns_when_the_shapes_allow():
    from adderhw.boards.bench import _per_pe, _shapes
    # the UP5K's 8 DSP blocks: the DSP-MAC is fitted over small shapes and their transposes
    shapes = _shapes("icebreaker", "mac+dsp", (1, 2, 4))
    assert shapes == [(1, 1), (1, 2), (2, 1), (2, 2), (4, 2), (2, 4)]
    # a per-column harness cost (7 per column) must not leak into the per-PE coefficient
    assert _per_pe(shapes, [10 + 3 * r + 7 * c + 50 * r * c for r, c in shapes]) == pytest.approx(50)
    # square shapes cannot tell R from C: the R + C model
    squares = _shapes("icebreaker", "sad", (1, 2, 4))
    assert squares == [(1, 1), (2, 2), (4, 4)]
    assert _per_pe(squares, [10 + 5 * (r + c) + 61 * r * c for r, c in squares]) == pytest.approx(61)
