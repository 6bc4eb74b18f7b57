"""Real builds through the YoWASP toolchains (small arrays, so CI stays fast)."""
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from amaranth.sim import Simulator

from adderhw.boards import build as build_module
from adderhw.boards.build import DesignDoesNotFit, build_board, summarise
from adderhw.boards.platforms import board as board_by_name
from adderhw.boards.report import build_report
from adderhw.boards.lfsr import Lfsr
from adderhw.boards.report import at_placement_limit, no_fit_reason
from adderhw.boards.sweep import candidate_shapes, fine_shapes, sweep
from adderhw.base.errors import BadParameter
from adderhw.board_reports import format_sweep
from adderhw.golden import AdderhwError
from adderhw.hw import ArrayConfig

pytestmark = pytest.mark.boards


@pytest.mark.parametrize("board,pe,dsp", [
    ("icebreaker", "sad", True),        # dsp is ignored for SAD: it has no multiplier
    ("icebreaker", "mac", True),
    ("icebreaker", "mac", False),
    ("hx8k", "sad", False),
    ("orangecrab-25f", "sad", False),   # OrangeCrab: builds without dfu-suffix installed
    ("ulx3s-85f", "mac", True),         # ULX3S: builds without openFPGALoader installed
])
def test_small_builds_report_real_numbers(board, pe, dsp, tmp_path):
    before = dict(os.environ)
    cfg = ArrayConfig(rows=1, cols=2, width=6, k_max=16, pe=pe)
    r = build_board(board, cfg, freq_mhz=30, dsp=dsp, out_dir=tmp_path, versions=False)
    assert dict(os.environ) == before                   # the tools went to the build's process only
    assert json.loads((tmp_path / "report.json").read_text()) == r
    assert r["luts"] > 0 and r["ffs"] > 0 and 0 < r["logic"]["used"] < r["logic"]["available"]
    raw = json.loads((tmp_path / "report_nextpnr.json").read_text())
    assert r["fmax_mhz"] == min(c["achieved"] for c in raw["fmax"].values()) and r["target_mhz"] == 30
    # a 1x2 array of 6-bit PEs runs far above 30 MHz on every one of these devices
    assert r["fmax_mhz"] > 45 and r["timing_met"] is True
    if pe == "sad":
        assert r["dsp"]["used"] == 0 and not r["uses_dsp"]
    else:
        assert r["uses_dsp"] == dsp
        assert r["dsp"]["used"] == (cfg.pes if dsp else 0)


def test_a_broadcast_array_builds_with_fewer_flip_flops_than_the_systolic_one(tmp_path):
    # no skew and no forwarding registers. At 2x3 and 6 bits the systolic array's forwarding
    # registers that have a load hold R(C - 1)w + (R - 1)Cw = 42 bits and its skew
    # w(R(R - 1) + C(C - 1))/2 = 24; the broadcast array registers its R + C lanes once, 30 bits:
    # 36 flip-flops fewer, give or take the flags
    cfg = ArrayConfig(rows=2, cols=3, width=6, k_max=16)
    systolic = build_board("icebreaker", cfg, freq_mhz=30, out_dir=tmp_path / "s", versions=False)
    broadcast = build_board("icebreaker", cfg.with_(dataflow="broadcast"), freq_mhz=30, out_dir=tmp_path / "b",
                            versions=False)
    assert systolic["ffs"] - broadcast["ffs"] >= 32, (broadcast["ffs"], systolic["ffs"])
    assert broadcast["timing_met"] and systolic["timing_met"]
    assert broadcast["config"]["dataflow"] == "broadcast" and "dataflow" not in systolic["config"]


def test_an_unreachable_clock_is_reported_as_missed(tmp_path):
    r = build_board("icebreaker", ArrayConfig(rows=1, cols=1, width=4, k_max=4), freq_mhz=900, out_dir=tmp_path,
                    versions=False)
    assert r["fmax_mhz"] < 900 and r["timing_met"] is False


def test_more_multipliers_than_dsp_blocks_does_not_fit(tmp_path, monkeypatch):
    # the UP5K has 8 SB_MAC16 blocks; a 3x3 MAC array asks for 9
    cfg = ArrayConfig(rows=3, cols=3, width=6, k_max=4, pe="mac")   # 6 bits: Yosys maps these to DSPs
    with pytest.raises(DesignDoesNotFit, match="needs 9 ICESTORM_DSP, the device has 8"):
        build_board("icebreaker", cfg, dsp=True, out_dir=tmp_path, versions=False)
    # a resumed sweep does not rebuild it: the outcome is kept with the design's key
    def no_tools(*args, **kwargs):
        raise AssertionError("the tools ran again")
    monkeypatch.setattr(build_module, "run_build", no_tools)
    with pytest.raises(DesignDoesNotFit, match="needs 9 ICESTORM_DSP, the device has 8"):
        build_board("icebreaker", cfg, dsp=True, out_dir=tmp_path, versions=False, reuse=True)
    with pytest.raises(AssertionError, match="the tools ran again"):   # a different design is built
        build_board("icebreaker", cfg.with_(rows=2), dsp=True, out_dir=tmp_path, versions=False, reuse=True)


def test_cli_build_prints_a_summary_and_exits_nonzero_on_bad_input(tmp_path):
    r = subprocess.run([sys.executable, "-m", "adderhw", "build", "--board", "icebreaker", "--rows", "1", "--cols", "1",
                        "--width", "4", "--k-max", "4", "--freq", "20", "--out", str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "icebreaker (iCE40UP5K-SG48): 1x1 SAD array" in r.stdout and "MHz against a 20 MHz target" in r.stdout
    assert "Yosys" in r.stdout                           # tool versions are in the report
    bad = subprocess.run([sys.executable, "-m", "adderhw", "build", "--board", "de10", "--out", str(tmp_path)],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "board must be one of icebreaker, hx8k, ulx3s-85f, orangecrab-25f" in bad.stderr
    assert "Traceback" not in bad.stderr


@pytest.mark.slow
def test_sweep_finds_the_dsp_limited_mac_array(tmp_path):
    # 8 SB_MAC16 blocks: the coarse list (1x1, 1x2, 2x2, 2x3, 3x3, ...) closes between 2x3 and 3x3,
    # and the fine stage finds 2x4, which fills all eight
    r = sweep("icebreaker", kinds=("mac+dsp",), config=ArrayConfig(width=6, k_max=4), freq=20, jobs=2, out_dir=tmp_path)
    best = r["results"][0]["best"]
    assert (best["rows"], best["cols"]) == (2, 4) and best["dsp"] == 8
    assert not any(p["passed"] and p["pes"] > 8 for p in r["results"][0]["probes"])
    assert len(r["results"][0]["probes"]) >= 2


def test_bad_frequency():
    with pytest.raises(AdderhwError, match="freq must be a frequency in MHz from 1 to 1000, not 0"):
        build_board("icebreaker", ArrayConfig(rows=1, cols=1), freq_mhz=0)


def test_fine_shapes_fill_the_gaps_between_coarse_shapes():
    assert fine_shapes(6, 9) == [(2, 4)]                   # 7 has no shape with aspect <= 2
    assert fine_shapes(72, 81) == [(7, 11), (8, 10)]
    fine = fine_shapes(0, 200)
    assert [r * c for r, c in fine] == sorted({r * c for r in range(1, 15) for c in range(r, 2 * r + 1) if r * c < 200})
    assert fine_shapes(9, 9) == [] and fine_shapes(10, 5) == []


def test_candidate_shapes_grow_one_step_at_a_time():
    shapes = candidate_shapes(10)
    pes = [r * c for r, c in shapes]
    assert pes == sorted(pes) and shapes[:4] == [(1, 1), (1, 2), (2, 2), (2, 3)]


def test_lfsr_bits_are_not_delayed_copies_of_each_other():
    lfsr = Lfsr(16)
    seen = []

    async def tb(ctx):
        for _ in range(40):
            seen.append(ctx.get(lfsr.o_state))
            await ctx.tick()

    sim = Simulator(lfsr)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    seen = seen[1:]                                         # o_state is the state one cycle late
    assert len(set(seen)) == 39                            # it keeps changing
    from adderhw.boards.lfsr import xorshift32
    assert seen[0] == lfsr.seeds[0] & 0xFFFF and seen[1] == xorshift32(lfsr.seeds[0]) & 0xFFFF  # xorshift32
    bits = [[(v >> i) & 1 for v in seen] for i in range(16)]
    for i in range(16):
        for j in range(16):
            # no bit equals another bit one cycle earlier (what let synthesis merge registers)
            assert bits[i][1:] != bits[j][:-1]


def test_a_finished_build_is_reused_only_for_the_same_design(tmp_path):
    cfg = ArrayConfig(rows=1, cols=1, width=4, k_max=4)
    first = build_board("icebreaker", cfg, freq_mhz=20, out_dir=tmp_path, versions=False)
    (tmp_path / "marker").write_text("")
    again = build_board("icebreaker", cfg, freq_mhz=20, out_dir=tmp_path, versions=False, reuse=True)
    assert again == first                                  # same design key: no new build
    other = build_board("icebreaker", cfg, freq_mhz=25, out_dir=tmp_path, versions=False, reuse=True)
    assert other["target_mhz"] == 25 and other["design_key"] != first["design_key"]


def _fake_probe(board, kind, shape, template, freq, seed, out_dir, bound):
    """Stands in for a build: each kind passes up to a known number of PEs (runs in a worker)."""
    limit = {"sad": 150, "mac": 30, "mac+dsp": 7}[kind]
    pes = shape[0] * shape[1]
    report = {"fmax_mhz": 100.0, "luts": pes, "logic": {"used": pes, "available": 5280, "cell": "LC"},
              "dsp": {"used": 0}, "ffs": pes}
    return kind, shape, report, None if pes <= limit else "too big"


def _largest_shape_pes(limit):
    """Brute force: the most PEs <= limit of any shape with rows <= cols <= 2 rows."""
    return max(r_ * c for r_ in range(1, 65) for c in range(r_, 2 * r_ + 1) if r_ * c <= limit)


def _fake_build(board, kind, shape, template, freq, seed, out_dir):
    """Stands in for a build's outcome: SAD routes up to 150 PEs and meets the clock up to 40; its
    Fmax falls with size (runs in a worker, through the real verdict)."""
    from types import SimpleNamespace
    pes = shape[0] * shape[1]
    if pes > 150:
        return SimpleNamespace(report=None, why="design does not fit")
    fmax = 200.0 - pes / 4
    report = {"fmax_mhz": fmax, "timing_met": pes <= 40, "luts": pes, "ffs": pes, "dsp": {"used": 0},
              "logic": {"used": pes * 10, "available": 5280, "cell": "LC"}}
    return SimpleNamespace(report=report, why=None)


def test_the_sweep_search_finds_each_kinds_largest_passing_shape(monkeypatch):
    # the search alone, without the tools; the kinds share the pool and finish at different rounds
    import adderhw.boards.sweep as sweep_module
    monkeypatch.setattr(sweep_module, "_probe", _fake_probe)
    r = sweep("icebreaker", jobs=2, config=ArrayConfig(width=8, k_max=16), freq=20)
    for x in r["results"]:
        limit = {"sad": 150, "mac": 30, "mac+dsp": 7}[x["kind"]]
        # brute force: the most PEs <= limit of any shape with rows <= cols <= 2 rows
        expect = max(r_ * c for r_ in range(1, 65) for c in range(r_, 2 * r_ + 1) if r_ * c <= limit)
        assert expect == _largest_shape_pes(limit)
        assert x["best"]["pes"] == expect and x["best"]["rows"] <= x["best"]["cols"] <= 2 * x["best"]["rows"]
        assert all(p["passed"] == (p["pes"] <= limit) for p in x["probes"])
        pes = [p["pes"] for p in x["probes"]]
        assert len(pes) == len(set(pes))                   # nothing is probed twice


@pytest.mark.parametrize("start", [12, 30, 140])
def test_a_sweep_started_at_a_hint_finds_the_same_shape_and_probes_the_hint_first(monkeypatch, start):
    # the hint below the answer (12, 30: sad passes there) and above it (140 > mac's 30, mac+dsp's 7):
    # either way the answer is the brute-force one, and the first round's probes include the hint's shape
    import adderhw.boards.sweep as sweep_module
    monkeypatch.setattr(sweep_module, "_probe", _fake_probe)
    seen = []
    r = sweep("icebreaker", jobs=2, config=ArrayConfig(width=8, k_max=16), freq=20, start_pes=start,
              progress=seen.append)
    for x in r["results"]:
        limit = {"sad": 150, "mac": 30, "mac+dsp": 7}[x["kind"]]
        assert x["best"]["pes"] == _largest_shape_pes(limit)
        assert all(p["passed"] == (p["pes"] <= limit) for p in x["probes"])
        from adderhw.boards.sweep import candidate_shapes
        hinted = max(r_ * c for r_, c in candidate_shapes() if r_ * c <= min(start, _search_cap(x["kind"])))
        first = [m for m in seen if f"] {x['kind']} " in m][:2]
        assert any(f" {x['kind']} " in m and _pes_of(m) == hinted for m in first), (first, hinted)


def _search_cap(kind):
    """The sweep's cap on a kind's PEs on the iCE40UP5K: its logic cells / the kind's floor cost, and
    its DSP blocks."""
    from adderhw.boards.kinds import KINDS
    from adderhw.boards.platforms import board
    b = board("icebreaker")
    cap = b.luts // KINDS[kind].floor_cost
    return min(cap, b.dsps) if KINDS[kind].dsp else cap


def _pes_of(message):
    rows, cols = message.split("] ", 1)[1].split()[1].rstrip(":").split("x")
    return int(rows) * int(cols)


def test_a_start_hint_that_is_not_a_positive_integer_is_refused():
    with pytest.raises(BadParameter, match="start_pes must be a positive integer, not 0"):
        sweep("icebreaker", kinds=("sad",), start_pes=0)


def test_mac_lut_names_the_lut_mac_alone():
    from adderhw.boards.kinds import kinds_from_pe_list
    assert kinds_from_pe_list("mac+lut") == ["mac"]
    assert kinds_from_pe_list("sad,mac+lut") == ["sad", "mac"]
    assert kinds_from_pe_list("mac") == ["mac", "mac+dsp"]


def _fake_verdict(board, kind, shape, template, freq, seed, out_dir, bound):
    """A probe with a faked build and the real verdict (runs in a worker)."""
    from adderhw.boards.sweep import _verdict
    return _verdict(kind, shape, _fake_build(board, kind, shape, template, freq, seed, out_dir), bound)


@pytest.mark.parametrize("bound, limit", [("clock", 40), ("area", 150)])
def test_the_area_bound_ignores_the_clock_and_the_clock_bound_does_not(monkeypatch, bound, limit):
    import adderhw.boards.sweep as sweep_module
    monkeypatch.setattr(sweep_module, "_probe", _fake_verdict)
    r = sweep("icebreaker", kinds=("sad",), jobs=2, config=ArrayConfig(width=8, k_max=16), freq=20, bound=bound)
    (x,) = r["results"]
    assert r["bound"] == bound and x["best"]["pes"] == _largest_shape_pes(limit)
    assert x["throughput_gops"] == pytest.approx(x["best"]["pes"] * (200.0 - x["best"]["pes"] / 4) / 1e3)
    for p in x["probes"]:
        assert p["passed"] == (p["pes"] <= limit)
        if p["pes"] <= 150:
            assert p["fmax_mhz"] == 200.0 - p["pes"] / 4       # routed probes keep their Fmax either way
    assert ("any clock" in format_sweep(r)) == (bound == "area")


def _fake_probe_of_operands_in_memory(board, kind, shape, template, freq, seed, out_dir, bound):
    """``_fake_probe``, after checking the probe's config (runs in a worker: raising fails the sweep)."""
    from adderhw.boards.kinds import KINDS
    config = KINDS[kind].config(template, *shape)
    if config.skew != "memory" or config.sad_stage != ("operands" if kind == "sad" else "difference"):
        raise AssertionError(f"a {kind} probe was built as {config}")
    return _fake_probe(board, kind, shape, template, freq, seed, out_dir, bound)


def test_a_sweep_builds_and_records_the_templates_options(monkeypatch):
    # --sad-stage and --skew reach every probe's config (the SAD stage only the SAD probes') and the
    # result, and the table says them
    import adderhw.boards.sweep as sweep_module
    monkeypatch.setattr(sweep_module, "_probe", _fake_probe_of_operands_in_memory)
    template = ArrayConfig(width=8, k_max=16, sad_stage="operands", skew="memory")
    r = sweep("icebreaker", kinds=("sad", "mac"), jobs=2, config=template, freq=20)
    assert r["sad_stage"] == "operands" and r["skew"] == "memory"
    assert "SAD stage 1: operands, skew in memory" in format_sweep(r)
    assert all(x["best"] for x in r["results"])


def test_an_unknown_bound_is_refused():
    with pytest.raises(BadParameter, match="bound must be one of clock, area, not 'speed'"):
        sweep("icebreaker", kinds=("sad",), bound="speed")


_UTILISATION = """Info: Device utilisation:
Info: \t         ICESTORM_LC:    {lc}/   5280    95%
Info: \t               SB_GB:       8/      8   100%
Info: \t        ICESTORM_DSP:       {dsp}/      8     0%
"""


@pytest.mark.parametrize("lc, dsp, error, expect", [
    (5068, 0, "ERROR: Unable to find legal placement for all cells, design is probably at utilisation limit.",
     "nextpnr found no legal placement with 5068 of its 5280 ICESTORM_LC in use (96 %), the utilisation limit "
     "(another nextpnr seed may place it; else"),
    (900, 9, "ERROR: Unable to place cell", "needs 9 ICESTORM_DSP, the device has 8"),
    (6017, 0, "ERROR: Unable to place cell", "needs 6017 ICESTORM_LC, the device has 5280"),
    (900, 0, "ERROR: something else", None),
])
def test_a_design_that_does_not_fit_is_named_by_the_cells_it_lacks(tmp_path, lc, dsp, error, expect):
    # nextpnr promotes nets to global buffers until all 8 are taken: a full SB_GB is not the reason
    (tmp_path / "top.tim").write_text(_UTILISATION.format(lc=lc, dsp=dsp) + error + "\n")
    message = no_fit_reason("iCE40UP5K-SG48", tmp_path, "top", "ICESTORM_LC")
    if expect is None:
        assert message is None
    else:
        advice = "make the array smaller or pick a larger board)"
        assert message == f"design does not fit iCE40UP5K-SG48: {expect} " + ("" if expect.endswith("else") else "(") + advice
        assert at_placement_limit(tmp_path, "top", "ICESTORM_LC") == (lc <= 5280 and dsp <= 8)


class _PackedTooLarge:
    """A build plan whose "nextpnr" logs the packed utilisation of a design 8 % too large for the
    UP5K and then places for five minutes (as nextpnr did with the iCEBreaker 4x4 engine)."""

    def extract(self, out):
        tim = _UTILISATION.format(lc=5701, dsp=0).replace("95%", "107%")
        (Path(out) / "top.tim").write_text(tim + "Info: Creating initial placement for remaining 5728 cells.\n")
        (Path(out) / "build_top.sh").write_text("sleep 300\n")


def test_a_design_the_packer_finds_too_large_is_refused_at_once(tmp_path):
    b = board_by_name("icebreaker")
    t0 = time.monotonic()
    with pytest.raises(DesignDoesNotFit, match="needs 5701 ICESTORM_LC, the device has 5280"):
        build_module.execute_plan(_PackedTooLarge(), b, tmp_path, "top", "key", dict(os.environ), lambda msg: None)
    assert time.monotonic() - t0 < 60            # not the five minutes of placing
    assert json.loads((tmp_path / "does_not_fit.json").read_text())["design_key"] == "key"


FIRST_RUN = "  first run: YoWASP compiles its tools once ({} now), this takes a minute or two"


def test_a_yowasp_first_run_is_announced_once_per_tool(tmp_path):
    # the lines yowasp_runtime prints while it compiles a tool, written to the log as a build would,
    # one of them split across two writes
    log = tmp_path / "build.log"
    log.write_text("")
    said, stop = [], threading.Event()
    watcher = threading.Thread(target=build_module._progress_thread, args=(tmp_path, "top", said.append, stop, 0.01))
    watcher.start()
    chunks = ["Preparing to run yosys. This might", " take a while...\n", "\n-- Parsing `top.il' --\n" * 50,
              "Preparing to run yosys. This might take a while...\n",
              "Preparing to run nextpnr-ice40. This might take a while...\nInfo: Placed 0 cells\n"]
    for chunk in chunks:
        with open(log, "a") as f:
            f.write(chunk)
        time.sleep(0.05)
    time.sleep(0.1)
    stop.set()
    watcher.join()
    assert [m for m in said if "first run" in m] == [FIRST_RUN.format("yosys"), FIRST_RUN.format("nextpnr-ice40")]


def test_a_warm_build_log_says_nothing_about_first_runs(tmp_path):
    (tmp_path / "build.log").write_text("-- Parsing `top.il' --\nInfo: Placed 0 cells\n")
    watch = build_module._FirstRunWatch(tmp_path / "build.log")
    assert watch.new_tools() == [] and watch.new_tools() == []
    assert build_module._FirstRunWatch(tmp_path / "missing.log").new_tools() == []


@pytest.mark.parametrize("rows,cols,freq,first,clock", [
    (1, 1, 48, "(1 PE)", "against a 48 MHz target"),
    (2, 2, 80, "(4 PEs)", "against an 80 MHz target"),
    (1, 8, 18, "(8 PEs)", "against an 18 MHz target"),
])
def test_the_summary_reads_right_for_every_size(rows, cols, freq, first, clock, tmp_path):
    # the stored tool output of a real build stands in for this one's; only the words are checked
    for name in ("report_nextpnr.json", "stat.json"):
        shutil.copy(Path(__file__).with_name("fixtures") / "ice40_sad_2x2" / name, tmp_path)
    cfg = ArrayConfig(rows=rows, cols=cols, width=8, k_max=16)
    text = summarise(build_report(board_by_name("icebreaker"), cfg, freq, False, 1, tmp_path, 1.0))
    head, *lines = text.splitlines()
    assert head == f"icebreaker (iCE40UP5K-SG48): {rows}x{cols} SAD array, 8-bit, K <= 16 {first}"
    assert clock in next(line for line in lines if "Fmax" in line)


def test_lfsr_ignores_the_reset():
    """The harness's generator takes no reset (a reset net to its state bits spans the chip on large
    arrays): a reset in the middle of the sequence does not restart it."""
    from amaranth.hdl import ClockDomain, Module
    from adderhw.boards.lfsr import xorshift32
    m = Module()
    m.domains.sync = cd = ClockDomain()
    m.submodules.lfsr = lfsr = Lfsr(32)
    seen = []

    async def tb(ctx):
        for i in range(6):
            ctx.set(cd.rst, i in (2, 3))
            seen.append(ctx.get(lfsr.o_state))
            await ctx.tick()

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    state = lfsr.seeds[0]
    for value in seen[1:]:                                  # o_state is the state one cycle late
        assert value == state
        state = xorshift32(state)


def test_bench_fmax_builds_each_option_in_a_directory_of_its_own():
    # the default arrays keep their directories (earlier builds are reused); options get their own
    from adderhw.boards.fmax import _job
    plain = _job("ulx3s-85f", "sad", 16, 2, ArrayConfig(width=8, k_max=144), 100.0, "build/f")
    assert Path(plain.out_dir).name == "ulx3s-85f_sad_16x16_s2" and plain.config.rows == plain.config.cols == 16
    template = ArrayConfig(width=8, k_max=144, sad_stage="operands", skew="memory")
    sad = _job("ulx3s-85f", "sad", 16, 2, template, 100.0, "build/f")
    assert Path(sad.out_dir).name == "ulx3s-85f_sad_16x16_sad-operands_skew-memory_s2"
    assert (sad.config.sad_stage, sad.config.skew) == ("operands", "memory")
    mac = _job("ulx3s-85f", "mac", 4, 1, template, 100.0, "build/f")
    assert Path(mac.out_dir).name == "ulx3s-85f_mac_4x4_skew-memory_s1" and mac.config.sad_stage == "difference"


def test_bench_pe_fits_the_ice40_dsp_mac_over_six_shapes():
    # three shapes determine a three-term fit exactly and gave -8 flip-flops per PE on the UP5K; the
    # ECP5 has DSP blocks for the square shapes (the fit itself: test_bench_widths.py)
    from adderhw.boards.bench import _shapes
    assert _shapes("icebreaker", "mac+dsp", (1, 2, 4)) == [(1, 1), (1, 2), (2, 1), (2, 2), (4, 2), (2, 4)]
    assert _shapes("ulx3s-85f", "mac+dsp", (1, 2, 4)) == [(1, 1), (2, 2), (4, 4)]


def test_the_dsp_mac_kind_keeps_its_multiplier_registers_in_the_blocks():
    from adderhw.boards.kinds import KINDS
    sad_template = ArrayConfig(width=8, k_max=144)
    assert KINDS["mac+dsp"].config(sad_template, 2, 2).mul_stages == 2
    assert KINDS["mac"].config(sad_template, 2, 2).mul_stages == 1
    # a MAC template (bench fmax --pe mac --mul-stages N) chooses for both MAC kinds
    mac_template = ArrayConfig(width=8, k_max=144, pe="mac", mul_stages=3)
    assert KINDS["mac+dsp"].config(mac_template, 2, 2).mul_stages == 3
    assert KINDS["sad"].config(mac_template, 2, 2).mul_stages == 1


def test_ecp5_builds_with_dsp_blocks_instantiate_registered_multipliers():
    # the platform carries the DSP choice to the MAC PE (hw.dsp): MULT18X18D with its own registers
    # on the ECP5 with DSP blocks only; iCE40 (Yosys packs SB_MAC16 registers itself) and --no-dsp
    # builds get the plain description
    from adderhw.boards.platforms import make_platform
    from adderhw.hw.dsp import registered_dsp
    assert registered_dsp(make_platform(board_by_name("ulx3s-85f"), 100e6, dsp=True))
    assert not registered_dsp(make_platform(board_by_name("ulx3s-85f"), 100e6, dsp=False))
    assert not registered_dsp(make_platform(board_by_name("icebreaker"), 48e6, dsp=True))
    cfg = ArrayConfig(rows=2, cols=2, width=8, k_max=16, pe="mac", mul_stages=2)
    ecp5 = build_module._prepare("ulx3s-85f", cfg, None, True, 1, True)[3]
    assert ecp5.files["top.il"].count("cell \\MULT18X18D ") == 4
    for board, dsp in [("ulx3s-85f", False), ("icebreaker", True)]:
        plan = build_module._prepare(board, cfg, None, dsp, 1, True)[3]
        assert "MULT18X18D" not in plan.files["top.il"]


def test_the_build_key_follows_the_design_not_the_source_lines():
    # no source locations in the build's RTLIL: the reuse key (Amaranth's plan digest) does not move
    # when the Python that describes the design moves by a line
    cfg = ArrayConfig(rows=2, cols=2, width=8, k_max=16)
    b, _, _, plan, key, _ = build_module._prepare("icebreaker", cfg, None, True, 1, True)
    assert "attribute \\src" not in plan.files["top.il"]
    assert key == build_module._prepare("icebreaker", cfg, None, True, 1, True)[4]
    assert key != build_module._prepare("icebreaker", cfg.with_(k_max=17), None, True, 1, True)[4]


def test_the_ice40_harness_saves_the_lfsr_copy_and_the_payload_register():
    # boards.bench_top: on the iCE40 the LFSR drives the lanes from its state (no copy register of
    # 8·(R + C) + 1 bits) and the payload is XORed before its first register (no register of the
    # payload's P bits); everything else, the array included, is the same as on the ECP5
    import re
    from amaranth._toolchain.yosys import find_yosys
    from amaranth.hdl import Shape
    from adderhw.hw.array import array_signature

    def flip_flop_bits(il):
        out = find_yosys(lambda v: v >= (0, 40)).run(["-q", "-"], f"read_rtlil <<EOF\n{il}\nEOF\nproc\nwrite_rtlil -\n")
        cells = re.findall(r"cell (\$\w+) \S+\n((?:\s+(?:parameter|connect) .*\n)+)", out)
        return sum(int(re.search(r"parameter \\WIDTH (\d+)", p).group(1)) for kind, p in cells if "dff" in kind)

    cfg = ArrayConfig(rows=3, cols=2, width=8, k_max=16)
    ice = build_module._prepare("icebreaker", cfg, None, True, 1, True)[3].files["top.il"]
    ecp5 = build_module._prepare("ulx3s-85f", cfg, None, True, 1, True)[3].files["top.il"]
    payload = Shape.cast(array_signature(cfg).members["o_sum"].signature.members["payload"].shape).width + 1
    assert flip_flop_bits(ecp5) - flip_flop_bits(ice) == 8 * (3 + 2) + 1 + payload


@pytest.mark.parametrize("register_first", [True, False])
def test_the_harness_xor_tree_is_the_parity_of_every_bit(register_first):
    # the LED pin depends on every output bit, with or without the register in front of the tree
    import random
    from amaranth.hdl import Module, Signal
    from adderhw.boards.bench_top import BenchTop
    m = Module()
    value = Signal(37)
    out = BenchTop._reduce(m, value, register_first=register_first)
    rng = random.Random(3)
    words = [rng.getrandbits(37) for _ in range(12)] + [1 << 36, 0, (1 << 37) - 1]
    seen = []

    async def bench(ctx):
        for w in words:
            ctx.set(value, w)
            for _ in range(6):                    # more cycles than the tree has levels
                await ctx.tick()
            seen.append(ctx.get(out))

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert seen == [bin(w).count("1") % 2 for w in words]
