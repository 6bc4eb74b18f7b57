"""The engine behind its UART link as a board bitstream (small configurations, so CI stays fast),
and the command-line refusals of the engine build and the board comparison."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from adderhw.base.config import ArrayConfig
from adderhw.base.engine import EngineConfig
from adderhw.base.errors import BadParameter
from adderhw.boards.engine_build import build_engine_board
from adderhw.boards import engine_compare
from adderhw.boards.engine_compare import largest_fitting, parse_sizes
from adderhw.boards.engine_top import oscillator_hz
from adderhw.boards.platforms import board as board_by_name

from .test_breakdown import check_blocks_add_up

TINY = EngineConfig(array=ArrayConfig(rows=1, cols=2, width=8, k_max=16, pe="sad"), mac_rows=1, act_depth=64,
                    weight_depth=64, const_depth=16, max_layers=4)


@pytest.mark.boards
@pytest.mark.parametrize("board", ["icebreaker", "ulx3s-85f"])
def test_a_tiny_engine_builds_a_bitstream_with_its_memories_in_block_ram(board, tmp_path):
    # built with the per-block breakdown (a hierarchical netlist), which tests/boards/test_breakdown.py checks
    r = build_engine_board(board, TINY, cycles_per_image=1000, out_dir=tmp_path, versions=False, breakdown=True)
    assert json.loads((tmp_path / "report.json").read_text()) == r
    check_blocks_add_up(r, tmp_path / "stat.json")
    assert r["bitstream"] and (tmp_path / r["bitstream"]).stat().st_size > 10_000
    # iCE40: the two activation buffers, weights, constants, descriptors and the frame buffer each
    # take an EBR; ECP5 puts memories this small in LUT RAM, all but the largest
    assert r["bram"]["used"] >= (5 if board == "icebreaker" else 1)
    assert 0 < r["logic"]["used"] < r["logic"]["available"] and r["luts"] > 0 and r["ffs"] > 0
    clk = oscillator_hz(board_by_name(board).platform_class()) / 1e6
    assert r["clock_mhz"] == clk and r["timing_met"] == (r["fmax_mhz"] >= clk)
    assert r["images_per_s_at_fmax"] == pytest.approx(r["fmax_mhz"] * 1e6 / 1000)
    assert r["dsp"]["used"] > 0            # the post-processing's and the MAC array's multipliers


def test_the_engine_build_refuses_a_baud_rate_the_board_clock_cannot_make(tmp_path):
    with pytest.raises(BadParameter, match="baud must be a rate a 12000000 Hz clock makes"):
        build_engine_board("icebreaker", TINY, cycles_per_image=1000, baud=5_000_000, out_dir=tmp_path)
    assert not any(tmp_path.iterdir())              # refused before any work


def test_sizes_parse_and_refuse():
    assert parse_sizes("icebreaker:2x2+1,ulx3s-85f:8x8,ulx3s-85f:4X4+2") == \
        {"icebreaker": [(2, 2, 1)], "ulx3s-85f": [(8, 8, None), (4, 4, 2)]}
    for bad in ("icebreaker", "hx8k:2x2", "icebreaker:2x0", "icebreaker:2by2", "icebreaker:2x2+0", "icebreaker:2x2+a"):
        with pytest.raises(BadParameter, match="--sizes"):
            parse_sizes(bad)


def _fake_builds(monkeypatch, capacity, variants=None):
    """Replace the engine build with a device that fits arrays of at most ``capacity[pe]`` PEs;
    returns the list of (pe, rows, cols, mac_rows) builds asked for; ``variants`` gets each build's
    (pe, first_last, requant, build directory name)."""
    asked = []

    def build(board, network, pe, rows, cols, mac_rows, dsp, seed, out, progress, first_last="mul", requant="mul"):
        asked.append((pe, rows, cols, mac_rows))
        variants.append((pe, first_last, requant, Path(out).name))
        return {"rows": rows, "cols": cols, "fits": rows * cols <= capacity[pe], "reason": "too big",
                "images_per_s_at_fmax": 10.0 * rows * cols, "engine": f"{rows}x{cols} {pe}", "luts": 100 * rows * cols,
                "logic": {"used": 100 * rows * cols, "available": 5280}, "dsp": {"used": 0, "available": 8},
                "bram": {"used": 1, "available": 30}, "fmax_mhz": 50.0, "cycles_per_image": 1000.0}
    variants = [] if variants is None else variants
    monkeypatch.setattr(engine_compare, "_build", build)
    return asked


@pytest.mark.parametrize("capacity,start,max_pes", [(5, (1, 2), 512), (100, (8, 8), 512), (100, (1, 2), 40),
                                                     (40, (8, 8), 512), (1, (2, 2), 512), (0, (1, 2), 512)])
def test_the_largest_array_search_finds_the_largest_fitting_probe(monkeypatch, capacity, start, max_pes):
    asked = _fake_builds(monkeypatch, {"sad": capacity})
    res = largest_fitting("icebreaker", "digits", "sad", start, mac_rows=2, max_pes=max_pes, progress=lambda m: None)
    # brute force over the probe sequence 1x2, 2x2, 2x4, ... (and 1x1 below it)
    shapes = [(1, 1)] + [(1 << (i // 2), 1 << ((i + 1) // 2)) for i in range(1, 21)]
    fitting = [rc for rc in shapes if rc[0] * rc[1] <= min(capacity, max_pes)]
    expected = max(fitting, key=lambda rc: rc[0] * rc[1]) if fitting else None
    got = res["largest"] and (res["largest"]["rows"], res["largest"]["cols"])
    assert got == expected
    assert len(asked) == len(set(asked))                       # no shape built twice
    assert all(mac == min(2, r) for _, r, _, mac in asked)     # the MAC array never has more rows than the SAD
    assert [p["rows"] * p["cols"] for p in res["probes"]] == sorted(p["rows"] * p["cols"] for p in res["probes"])


def test_compare_largest_puts_each_kind_at_its_own_largest_array(monkeypatch):
    _fake_builds(monkeypatch, {"sad": 40, "mac": 8})
    res = engine_compare.compare_largest(starts={"icebreaker": (1, 2)}, max_pes=64, progress=lambda m: None)
    entry, = res["boards"]
    assert (entry["sad"]["largest"]["rows"], entry["sad"]["largest"]["cols"]) == (4, 8)
    assert (entry["mac"]["largest"]["rows"], entry["mac"]["largest"]["cols"]) == (2, 4)
    assert entry["ratio"]["pes"] == 4 and entry["ratio"]["images_per_s_at_fmax"] == 4
    assert entry["sad"]["limit"] == "8x8 does not fit" and entry["mac"]["limit"] == "4x4 does not fit"
    md = engine_compare.format_compare_largest(res)
    assert "| icebreaker | AdderNet | 4x8 sad | 32 | 3,200/5,280 |" in md and "**4.00**" in md
    assert md.count("| no |") == 2                     # the two probes that did not fit


def test_compare_largest_builds_the_addernet_variant_it_is_asked_for(monkeypatch):
    # --largest used to drop --first-last and --requant: its AdderNet side was the multiplier engine
    variants = []
    _fake_builds(monkeypatch, {"sad": 4, "mac": 2}, variants)
    res = engine_compare.compare_largest(starts={"icebreaker": (1, 1)}, max_pes=64, progress=lambda m: None,
                                         first_last="adder", requant="shift")
    assert (res["first_last"], res["requant"]) == ("adder", "shift")
    sad = {v for v in variants if v[0] == "sad"}
    assert sad == {("sad", "adder", "shift", f"icebreaker-digits-sad-{s}-alladder-shift-dsp")
                   for s in ("1x1", "1x2", "2x2", "2x4")}
    # the CNN twin is asked for the same variant; _build keeps its multipliers (a CNN needs them)
    assert {v[3] for v in variants if v[0] == "mac"} == {f"icebreaker-digits-mac-{s}-dsp"
                                                         for s in ("1x1", "1x2", "2x2")}
    md = engine_compare.format_compare_largest({**res, "command": "adderhw compare-boards --largest"})
    assert md.startswith("# The largest digits engine of each kind that fits each board: AdderNet (all-adder, "
                         "shift-only requantisation: no multiplier) against its CNN twin\n\n"
                         "`adderhw compare-boards --largest`\n")
    assert "The AdderNet engine has no MAC array." in md and "min(2, rows)" not in md


def test_the_largest_array_search_refuses_a_cap_below_its_start(monkeypatch):
    _fake_builds(monkeypatch, {"sad": 100})
    with pytest.raises(BadParameter, match="max_pes must be at least the starting array's 64 PEs, not 16"):
        largest_fitting("ulx3s-85f", "digits", "sad", (8, 8), max_pes=16, progress=lambda m: None)


@pytest.mark.parametrize("argv,message", [
    (["build", "--board", "icebreaker", "--top", "engine", "--freq", "50", "--out", "{tmp}"],
     "--freq 50 does not apply to --top engine"),
    (["build", "--board", "hx8k", "--top", "engine", "--out", "{tmp}"], "board must be one of icebreaker, ulx3s-85f"),
    (["build", "--board", "icebreaker", "--top", "chip", "--out", "{tmp}"], "--top must be array or engine"),
    (["compare-boards", "--sizes", "icebreaker:2", "--out", "{tmp}"], "--sizes must be board:RxC"),
    (["compare-boards", "--largest", "--breakdown", "--out", "{tmp}"],
     "--breakdown applies to the equal-array comparison, not to --largest"),
    (["run", "--port", "sim", "--images", "0"], "images must be"),
    (["run", "--port", "sim", "--network", "cifar"], "network must be one of digits, mnist"),
])
def test_cli_refusals_are_one_sentence_without_a_traceback(argv, message, tmp_path):
    argv = [a.replace("{tmp}", str(tmp_path / "o")) for a in argv]
    p = subprocess.run([sys.executable, "-m", "adderhw", *argv], capture_output=True, text=True, timeout=300)
    assert p.returncode == 2, p.stderr
    assert message in p.stderr and "Traceback" not in p.stderr, p.stderr
