"""boards.engine_fmax (``adderhw bench engine-fmax``) with stand-ins for the two builds: both are
built for every seed, the array alone from the engine's own ArrayConfig, the medians and their ratio
against the goal, a seed whose array does not fit, and the report."""
import pytest

from adderhw.board_reports import format_bench_engine_fmax
from adderhw.boards import engine_fmax
from adderhw.boards.build import DesignDoesNotFit
from adderhw.boards.engine_fmax import FMAX_GOAL, bench_engine_fmax, per_kluts


def _stubs(monkeypatch, array_mhz, engine_mhz):
    calls = []

    def build_board(board, config, seed=1, progress=None, reuse=False, out_dir=None):
        calls.append(("array", seed, config, out_dir))
        if array_mhz[seed] is None:
            raise DesignDoesNotFit("too big")
        return {"fmax_mhz": array_mhz[seed]}

    def build_one(board, network, pe, rows, cols, mac_rows, dsp, seed, out, progress, first_last, requant,
                  post_lanes=0, dataflow="systolic"):
        calls.append(("engine", seed, (rows, cols, first_last, requant, post_lanes, dataflow), out))
        return {"fits": True, "fmax_mhz": engine_mhz[seed], "luts": 1000,
                "critical_path": {"from_cell": "a", "to_cell": "b", "delay_ns": 1000 / engine_mhz[seed],
                                  "logic_levels": 3}}
    monkeypatch.setattr(engine_fmax, "build_board", build_board)
    monkeypatch.setattr(engine_fmax, "build_one", build_one)
    return calls


def test_medians_and_their_ratio_over_the_seeds(monkeypatch, tmp_path):
    calls = _stubs(monkeypatch, {1: 190.0, 2: 180.0, 3: 200.0}, {1: 70.0, 2: 90.0, 3: 80.0})
    res = bench_engine_fmax("ulx3s-85f", 2, 2, seeds=(1, 2, 3), build_dir=tmp_path, progress=lambda *a: None)
    assert [c[:2] for c in calls] == [("array", 1), ("engine", 1), ("array", 2), ("engine", 2), ("array", 3),
                                      ("engine", 3)]
    # the array alone is the engine's own SAD array; every seed builds in a directory of its own
    cfg = calls[0][2]
    assert (cfg.rows, cfg.cols, cfg.pe) == (2, 2, "sad") and res["array"] == cfg.describe()
    assert len({c[3] for c in calls}) == 6
    assert res["array_fmax_median_mhz"] == 190.0 and res["engine_fmax_median_mhz"] == 80.0
    assert res["ratio"] == pytest.approx(80 / 190) and res["met"] is False and res["goal"] == FMAX_GOAL
    # images/s at each seed's Fmax per 1,000 LUT4 (the stand-in engine has 1,000), and their median
    cycles = res["cycles_per_image"]
    assert cycles > 0
    assert [r["images_per_s_per_kluts"] for r in res["runs"]] == pytest.approx([70e6 / cycles, 90e6 / cycles,
                                                                                80e6 / cycles])
    assert res["images_per_s_per_kluts_median"] == pytest.approx(80e6 / cycles)
    text = format_bench_engine_fmax(res)
    assert "| **median** | 190.0 | 80.0 | **0.42** |" in text and "0.42x, goal >= 0.9: missed" in text
    assert f"| 1 | 190.0 | 70.0 | 0.37 | 1,000 | - | {70e6 / cycles:,.0f} |" in text


def test_the_dataflow_reaches_the_engine_and_the_bare_array(monkeypatch, tmp_path):
    calls = _stubs(monkeypatch, {1: 150.0}, {1: 100.0})
    res = bench_engine_fmax("ulx3s-85f", 2, 4, seeds=(1,), build_dir=tmp_path, progress=lambda *a: None,
                            dataflow="broadcast")
    (_, _, cfg, array_dir), (_, _, engine_args, engine_dir) = calls
    assert cfg.dataflow == "broadcast" and engine_args[-1] == "broadcast" and res["dataflow"] == "broadcast"
    assert array_dir.name == "ulx3s-85f-array-2x4-w8-k144-broadcast-seed1" and "broadcast" in engine_dir.name
    # the systolic default keeps the directories of the builds made before the option
    calls = _stubs(monkeypatch, {1: 150.0}, {1: 100.0})
    bench_engine_fmax("ulx3s-85f", 2, 4, seeds=(1,), build_dir=tmp_path, progress=lambda *a: None)
    assert calls[0][3].name == "ulx3s-85f-array-2x4-w8-k144-seed1" and "broadcast" not in calls[1][3].name


def test_images_per_second_per_thousand_luts():
    # 100 MHz over 1,000 cycles per image is 100,000 images/s, on 2,000 LUT4 50,000 per 1,000
    assert per_kluts(100.0, 1000.0, 2000) == pytest.approx(50_000.0)
    assert per_kluts(None, 1000.0, 2000) is None and per_kluts(100.0, 1000.0, 0) is None


def test_a_seed_whose_array_does_not_fit_leaves_the_median_of_the_others(monkeypatch, tmp_path):
    _stubs(monkeypatch, {1: None, 2: 100.0}, {1: 95.0, 2: 91.0})
    res = bench_engine_fmax("icebreaker", 1, 1, seeds=(1, 2), build_dir=tmp_path, progress=lambda *a: None)
    assert res["runs"][0]["array_fmax_mhz"] is None and res["array_fmax_median_mhz"] == 100.0
    assert res["engine_fmax_median_mhz"] == 93.0 and res["met"] is True


@pytest.mark.parametrize("args,msg", [
    (["--seeds", "x"], "--seeds must be a comma-separated list of integers, not 'x'"),
    (["--board", "hx8k"], "board must be one of icebreaker, ulx3s-85f, not 'hx8k'"),
    (["--cols", "4", "--post-lanes", "3"], "post_lanes must divide the array's 4 columns"),
    (["--network", "cifar"], "network must be one of"),
])
def test_bench_engine_fmax_refuses_bad_options_before_any_build(args, msg, capsys, monkeypatch):
    from adderhw.cli import main
    for name in ("build_board", "build_one"):
        monkeypatch.setattr(engine_fmax, name, lambda *a, **k: pytest.fail("built before the checks"))
    assert main(["bench", "engine-fmax", *args]) == 2
    err = capsys.readouterr().err
    assert msg in err and "Traceback" not in err
