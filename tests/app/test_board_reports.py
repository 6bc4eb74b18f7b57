"""The board studies' reports (adderhw.board_reports): compare-boards' per-block breakdown, the table
and the stacked bars from reports that have blocks."""
import json
import re
from pathlib import Path

import pytest

from adderhw import board_reports
from adderhw.board_reports import format_compare_boards, plot_compare_boards
from adderhw.boards.breakdown import BLOCKS


def _report(pe, scale):
    blocks = {b: {"luts": (k + 1) * scale, "ffs": k, "carry_cells": 0, "bram": 0, "dsp": 0, "lutram": 0}
              for k, b in enumerate(BLOCKS)}
    luts = sum(v["luts"] for v in blocks.values())
    return {"fits": True, "engine": f"1x1 {pe}", "luts": luts, "ffs": 100, "dsp": {"used": 0}, "bram": {"used": 18},
            "fmax_mhz": 25.0, "cycles_per_image": 1000.0, "images_per_s_at_fmax": 25000.0, "blocks": blocks}


def _res():
    s, m = _report("SAD", 10), _report("MAC", 20)
    return {"network": "digits", "first_last": "adder", "requant": "shift", "breakdown": True,
            "pairs": [{"board": "icebreaker", "rows": 1, "cols": 1, "mac_rows": 0, "dsp": False, "sad": s, "mac": m,
                       "ratio": {"luts": s["luts"] / m["luts"], "ffs": 1.0, "fmax": 1.0, "images_per_s_at_fmax": 1.0}}]}


def test_the_report_has_a_row_of_block_luts_per_build(tmp_path):
    md = format_compare_boards(_res())
    assert "## Where the logic goes (LUT4 per block)" in md
    # the AdderNet row: 10, 20, ... 70 per block, 280 in all, 270 outside the arrays (written by hand)
    assert "| icebreaker 1x1 no DSP AdderNet | 10 | 20 | 30 | 40 | 50 | 60 | 70 | 280 | 270 |" in md
    assert "| icebreaker 1x1 no DSP CNN twin | 20 | 40 | 60 | 80 | 100 | 120 | 140 | 560 | 540 |" in md
    plot_compare_boards(_res(), tmp_path / "c.png")
    assert (tmp_path / "c.png").stat().st_size > 5_000


def test_without_blocks_there_is_no_breakdown_section():
    res = _res()
    for pe in ("sad", "mac"):
        del res["pairs"][0][pe]["blocks"]
    assert "Where the logic goes" not in format_compare_boards(res)


RESULTS = Path(__file__).resolve().parents[2] / "docs" / "results"


@pytest.mark.parametrize("result, fmt", [
    ("bench_pe", board_reports.format_bench_pe),
    ("bench_pe_widths/bench_pe_widths", board_reports.format_bench_pe_widths),
    ("bench_fmax", board_reports.format_bench_fmax),
    ("sweep_icebreaker_area", board_reports.format_sweep),
    ("compare_boards_blocks_icebreaker/compare_boards", board_reports.format_compare_boards),
])
def test_a_committed_result_renders_its_committed_report_again(result, fmt):
    # each report reads only its result document: the committed JSON gives back the committed
    # Markdown, to the byte, but for the provenance line write_reports adds to the newer ones
    data = json.loads((RESULTS / f"{result}.json").read_text())
    committed = re.sub(r"\n+Made from commit [0-9a-f]+(\+dirty)?\.\s*$", "", (RESULTS / f"{result}.md").read_text())
    assert fmt(data).rstrip("\n") == committed.rstrip("\n")
