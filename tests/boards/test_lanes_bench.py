"""boards.lanes_bench (``adderhw bench lanes``) with a stand-in for the engine build: which L it
builds, that the baseline L = C is always among them, the ratios against it, the report; and the
CLI's refusals before any build. The cycles come from the real engine cycle model."""
from pathlib import Path

import pytest

from adderhw.base.errors import BadParameter
from adderhw.board_reports import format_bench_lanes, plot_bench_lanes
from adderhw.boards import lanes_bench
from adderhw.boards.lanes_bench import bench_lanes, lane_choices
from adderhw.cli import main


def test_lane_choices_are_divisors_with_the_baseline():
    assert lane_choices(6) == [1, 2, 3, 6]
    assert lane_choices(8, [1, 2]) == [1, 2, 8]
    with pytest.raises(BadParameter, match="--lanes must be divisors of the array's 6 columns .*not 4"):
        lane_choices(6, [4])


def test_bench_lanes_builds_each_l_and_reports_ratios_to_l_equal_c(monkeypatch, tmp_path):
    asked = []

    def build(board, network, pe, rows, cols, mac_rows, dsp, seed, out, progress, first_last, requant,
              breakdown=False, post_lanes=0):
        from adderhw.golden.network_program import engine_for, network_program
        from adderhw.golden.engine_cycles import engine_cycles
        _, _, program, _ = network_program(network, pe, 8, progress=progress, first_last=first_last, requant=requant)
        engine = engine_for(program, rows, cols, pe, mac_rows, post_lanes)
        asked.append((post_lanes, breakdown, Path(out).name))
        lanes = engine.pp_lanes
        luts = 2000 + 500 * lanes
        return {"fits": lanes < 4, "luts": luts, "ffs": 1000, "logic": None, "fmax_mhz": 30.0,
                "blocks": {"post-processing": {"luts": 500 * lanes}}, "engine": engine.describe(),
                "cycles_per_image": engine_cycles(engine, program)["total"] / engine.lanes,
                "reason": None if lanes < 4 else "does not fit"}
    monkeypatch.setattr(lanes_bench, "build_one", build)
    res = bench_lanes("icebreaker", 2, 4, "digits", None, build_dir=tmp_path, progress=lambda *a: None)
    assert [p["lanes"] for p in res["points"]] == [4, 2, 1]
    # L = C is built as the engine of one lane per column (post_lanes 0), the others by their L, each
    # in a build directory of its own, all hierarchical
    assert [a[0] for a in asked] == [0, 2, 1] and all(a[1] for a in asked) and len({a[2] for a in asked}) == 3
    base, half, one = res["points"]
    assert base["luts_ratio"] == 1 and half["luts_ratio"] == 3000 / 4000 and one["post_luts_ratio"] == 500 / 2000
    # fewer lanes: more cycles per image (the drain waits), by the cycle model
    assert one["cycles_per_image"] > half["cycles_per_image"] > base["cycles_per_image"]
    assert base["fmax_mhz"] is None and base["images_per_s_per_klut"] is None     # it did not fit
    assert one["images_per_s_per_klut"] == pytest.approx(30e6 / one["cycles_per_image"] / 2.5)
    text = format_bench_lanes(res)
    assert "| 1 | yes | 2,500 | 500 | 0.62 |" in text and "| 4 | no |" in text
    plot_bench_lanes(res, tmp_path / "lanes.png")
    assert (tmp_path / "lanes.png").stat().st_size > 0


@pytest.mark.parametrize("args,msg", [
    (["--cols", "6", "--lanes", "4"], "--lanes must be divisors of the array's 6 columns (1, 2, 3, 6), not 4"),
    (["--lanes", "x"], "--lanes must be a comma-separated list of integers"),
    (["--board", "nexys"], "board must be one of"),
    (["--network", "cifar"], "network must be one of"),
])
def test_bench_lanes_refuses_bad_options_before_any_build(args, msg, capsys, monkeypatch):
    monkeypatch.setattr(lanes_bench, "build_one", lambda *a, **k: pytest.fail("built before the checks"))
    assert main(["bench", "lanes", *args]) == 2
    err = capsys.readouterr().err
    assert msg in err and "Traceback" not in err
