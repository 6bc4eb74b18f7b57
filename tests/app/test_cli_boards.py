"""The command line of the board flows: what `adderhw build --top engine` and `adderhw compare-boards`
pass to boards.engine_build and boards.engine_compare, and what they print, with the builds replaced
by stand-ins (no toolchain runs)."""
import json
import subprocess
import sys

import pytest

from adderhw.base.provenance import source_commit
from adderhw.boards import engine_build, engine_compare
from adderhw.cli import main


def test_clock_auto_builds_through_the_automatic_clock_with_the_margin_asked_for(monkeypatch, tmp_path, capsys):
    seen = {}

    def auto(board, engine, per_image, margin_pct, **options):
        seen.update(board=board, margin=margin_pct, **options)
        return {"board": board, "device": "iCE40UP5K-SG48", "engine": engine.describe(), "logic": {
            "used": 3000, "available": 5280, "cell": "ICESTORM_LC"}, "luts": 2900, "ffs": 1200,
            "dsp": {"used": 0, "available": 8}, "bram": {"used": 20, "available": 30}, "clock_mhz": 22.5,
            "pll": {"primitive": "SB_PLL40_PAD", "dividers": {"DIVR": 0, "DIVF": 59, "DIVQ": 5}},
            "oscillator_mhz": 12.0, "clock_target_mhz": 22.5, "baud_choice": "1500000 baud: ...", "baud": 1500000,
            "fmax_mhz": 24.0, "timing_met": True, "cycles_per_image": 1000.0, "images_per_s_at_clock": 22500.0,
            "images_per_s_at_fmax": 24000.0, "bitstream": "top.bin", "placer": "sa", "router": "router1",
            "build_seconds": 61.0, "auto_clock": {
                "margin_pct": margin_pct, "target_mhz": 22.77, "why": "Fmax 25.30 MHz less 10 % is 22.77 MHz",
                "first_build": {"dir": "oscillator", "clock_mhz": 12.0, "fmax_mhz": 25.3, "timing_met": True,
                                "build_seconds": 60.0},
                "second_build": {"dir": ".", "clock_mhz": 22.5, "fmax_mhz": 24.0, "timing_met": True,
                                 "build_seconds": 61.0},
                "pll_builds": [{"dir": ".", "clock_mhz": 22.5, "fmax_mhz": 24.0, "timing_met": True,
                                "build_seconds": 61.0}],
                "clock_mhz": 22.5, "timing_met": True}}
    monkeypatch.setattr(engine_build, "build_engine_board_auto_clock", auto)
    rc = main(["build", "--board", "icebreaker", "--top", "engine", "--rows", "1", "--cols", "1", "--mac-rows", "1",
               "--clock-mhz", "auto", "--pll-margin", "12.5", "--placer", "sa", "--out", str(tmp_path / "b")])
    assert rc == 0
    assert seen["board"] == "icebreaker" and seen["margin"] == 12.5
    assert (seen["placer"], seen["router"], seen["out_dir"]) == ("sa", None, tmp_path / "b")
    out = capsys.readouterr().out
    assert "clock auto: Fmax 25.3 MHz at the 12 MHz oscillator; Fmax 25.30 MHz less 10 % is 22.77 MHz; Fmax 24.0 " \
           "MHz at 22.5 MHz through the PLL: timing met at 22.5 MHz" in out
    assert "nextpnr placer sa, router router1, 61 s" in out
    # the report says how it was made: the command as typed and the code's commit (base.provenance)
    report = json.loads((tmp_path / "b" / "report.json").read_text())
    assert report["command"].startswith("adderhw build --board icebreaker --top engine --rows 1 --cols 1")
    assert report["commit"] == source_commit() and report["fmax_mhz"] == 24.0


def test_compare_boards_largest_passes_the_fine_stage_and_nextpnr_options(monkeypatch, tmp_path):
    seen = {}

    def largest(network, starts, mac_rows, seed, max_pes, build_dir, progress, **options):
        seen.update(starts=starts, **options)
        return {"network": network, "mac_rows": mac_rows, "max_pes": max_pes, "boards": [], **options}
    monkeypatch.setattr(engine_compare, "compare_largest", largest)
    assert main(["compare-boards", "--largest", "--sizes", "ulx3s-85f:8x8", "--max-fine-probes", "3",
                 "--router", "router2", "--dataflow", "broadcast", "--out", str(tmp_path / "a")]) == 0
    assert seen == {"starts": {"ulx3s-85f": (8, 8)}, "first_last": "mul", "requant": "mul", "fine": True,
                    "max_fine_probes": 3, "placer": None, "router": "router2", "post_lanes": 0,
                    "dataflow": "broadcast", "aspect": engine_compare.FINE_ASPECT}
    text = (tmp_path / "a" / "compare_largest.md").read_text()
    assert "--dataflow broadcast --max-fine-probes 3 --router router2`" in text and "at most 3 probes per kind and board" in text
    assert main(["compare-boards", "--largest", "--sizes", "ulx3s-85f:8x8", "--no-fine", "--out",
                 str(tmp_path / "b")]) == 0
    assert seen["fine"] is False and seen["max_fine_probes"] == engine_compare.MAX_FINE_PROBES
    assert "--no-fine`" in (tmp_path / "b" / "compare_largest.md").read_text()
    # one post-processing lane for every probe, named in the command
    assert main(["compare-boards", "--largest", "--sizes", "icebreaker:4x3", "--post-lanes", "1", "--out",
                 str(tmp_path / "c")]) == 0
    assert seen["post_lanes"] == 1 and "--post-lanes 1 " in (tmp_path / "c" / "compare_largest.md").read_text()
    # the fine stage's aspect, named in the command when it is not the default
    assert main(["compare-boards", "--largest", "--sizes", "icebreaker:1x1", "--aspect", "4", "--dataflow",
                 "broadcast", "--out", str(tmp_path / "d")]) == 0
    assert seen["aspect"] == 4 and "--max-fine-probes 6 --aspect 4`" in (tmp_path / "d" / "compare_largest.md").read_text()


def test_compare_boards_passes_the_post_lanes_to_both_engines(monkeypatch, tmp_path):
    built = []

    def build_one(board, network, pe, rows, cols, mac_rows, dsp, seed, out, progress, first_last="mul",
                  requant="mul", breakdown=False, placer=None, router=None, post_lanes=0, dataflow="systolic"):
        built.append((pe, post_lanes, dataflow, out.name))
        return {"fits": False, "luts": 100, "ffs": 100, "engine": "e", "board": board, "pe": pe, "rows": rows,
                "cols": cols, "reason": "stand-in"}
    monkeypatch.setattr(engine_compare, "build_one", build_one)
    res = engine_compare.compare_boards("digits", {"icebreaker": [(2, 4, 1)]}, dsp_modes=(True,), post_lanes=2,
                                        progress=lambda *a: None, build_dir=tmp_path)
    assert [b[:3] for b in built] == [("sad", 2, "systolic"), ("mac", 2, "systolic")]
    assert all(b[3].endswith("-l2") for b in built)
    assert res["post_lanes"] == 2 and res["dataflow"] == "systolic"
    # the dataflow reaches both engines and names their build directories
    built.clear()
    res = engine_compare.compare_boards("digits", {"icebreaker": [(2, 4, 1)]}, dsp_modes=(True,), post_lanes=2,
                                        progress=lambda *a: None, build_dir=tmp_path, dataflow="broadcast")
    assert [b[:3] for b in built] == [("sad", 2, "broadcast"), ("mac", 2, "broadcast")]
    assert all(b[3].endswith("-l2-broadcast") for b in built) and res["dataflow"] == "broadcast"


@pytest.mark.parametrize("argv,message", [
    (["build", "--board", "icebreaker", "--top", "engine", "--placer", "fast"],
     "--placer must be one of heap, sa, static (nextpnr's placers), not 'fast'"),
    (["build", "--board", "ulx3s-85f", "--top", "engine", "--router", "router3"],
     "--router must be one of router1, router2 (nextpnr's routers), not 'router3'"),
    (["build", "--board", "icebreaker", "--top", "engine", "--clock-mhz", "fast"],
     "--clock-mhz must be a number of MHz or auto, not 'fast'"),
    (["build", "--board", "icebreaker", "--top", "engine", "--clock-mhz", "auto", "--pll-margin", "100"],
     "--pll-margin must be a percentage from 0 up to (not including) 100, not 100"),
    (["build", "--board", "icebreaker", "--top", "engine", "--clock-mhz", "auto", "--pll-margin", "-5"],
     "--pll-margin must be a percentage from 0 up to (not including) 100, not -5"),
    (["build", "--board", "icebreaker", "--top", "engine", "--clock-mhz", "30", "--pll-margin", "5"],
     "--pll-margin 5 applies to --clock-mhz auto only, not to a fixed clock"),
    (["build", "--board", "icebreaker", "--placer", "sa"], "--placer sa applies to --top engine only"),
    (["build", "--board", "icebreaker", "--clock-mhz", "auto"], "--clock-mhz auto applies to --top engine only"),
    (["compare-boards", "--no-fine"], "--no-fine applies to --largest only, not to the equal-array comparison"),
    (["compare-boards", "--largest", "--post-lanes", "2"],
     "post_lanes of a largest-engine search must be 0 (one lane per column) or 1 (one lane), which divide every "
     "probe's columns, not 2"),
    (["compare-boards", "--sizes", "icebreaker:2x3", "--post-lanes", "2"],
     "post_lanes must divide the array's 3 columns (1 to 3, or 0 for 3), not 2"),
    (["compare-boards", "--largest", "--max-fine-probes", "0"],
     "--max-fine-probes must be an integer of at least 1, not 0"),
    (["compare-boards", "--largest", "--no-fine", "--max-fine-probes", "2"],
     "--max-fine-probes 2 applies to the fine stage, which --no-fine turns off"),
    (["compare-boards", "--largest", "--placer", "x"], "--placer must be one of heap, sa, static"),
    (["compare-boards", "--largest", "--aspect", "0"], "--aspect must be an integer of at least 1, not 0"),
    (["compare-boards", "--aspect", "4"], "--aspect 4 applies to --largest only, not to the equal-array comparison"),
    (["compare-boards", "--largest", "--no-fine", "--aspect", "4"],
     "--aspect 4 applies to the fine stage, which --no-fine turns off"),
])
def test_the_new_board_options_are_refused_in_one_sentence(argv, message, tmp_path):
    p = subprocess.run([sys.executable, "-m", "adderhw", *argv, "--out", str(tmp_path / "o")], capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 2, p.stderr
    assert message in p.stderr and "Traceback" not in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert not (tmp_path / "o").exists()
