"""``adderhw engine`` end to end on a quickly trained digits network (Amaranth's simulator, a few
images): the report's keys and that it checked what it claims."""
import json

import pytest

from adderhw.base.errors import BadParameter
from adderhw.cli import main
from adderhw.golden.engine_cycles import engine_cycles


def test_engine_command_runs_digits_bit_exact(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ADDERHW_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    rc = main(["engine", "--network", "digits", "--sim", "amaranth", "--images", "3", "--epochs", "1",
               "--rows", "4", "--cols", "2", "--mac-rows", "1", "--out", str(out)])
    assert rc == 0
    r = json.loads((out / "engine.json").read_text())
    for key in ("images", "hw_correct", "golden_correct", "bit_exact", "cycles_per_image", "model_cycles_per_image",
                "array_utilisation", "layers"):
        assert key in r
    assert r["images"] == 3 and r["bit_exact"] is True and r["cycles_match_model"] is True
    assert r["hw_correct"] == r["golden_correct"]
    assert [l["kind"] for l in r["layers"]] == ["multiplier", "adder", "adder", "multiplier"]
    assert sum(l["cycles"] for l in r["layers"]) == r["cycles_per_batch_model"]
    assert (out / "engine.md").exists() and (out / "engine.png").stat().st_size > 0


def test_engine_command_refuses_an_unknown_network(capsys):
    assert main(["engine", "--network", "cifar"]) == 2
    err = capsys.readouterr().err
    assert "network must be one of digits, mnist, not 'cifar'" in err and "Traceback" not in err


@pytest.mark.parametrize("post_lanes", [0, 1], ids=["L=C", "L=1"])
def test_the_multiplier_free_engine_runs_digits_bit_exact(tmp_path, monkeypatch, post_lanes):
    """--first-last adder --requant shift: every layer an adder layer, no MAC array, and a
    post-processing that shifts instead of multiplying; still bit-exact and cycle-exact, also with one
    post-processing lane for the two columns (--post-lanes 1)."""
    monkeypatch.setenv("ADDERHW_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    rc = main(["engine", "--network", "digits", "--sim", "amaranth", "--images", "3", "--epochs", "1",
               "--rows", "4", "--cols", "2", "--first-last", "adder", "--requant", "shift",
               "--post-lanes", str(post_lanes), "--out", str(out)])
    assert rc == 0
    r = json.loads((out / "engine.json").read_text())
    assert r["bit_exact"] is True and r["cycles_match_model"] is True and r["hw_correct"] == r["golden_correct"]
    assert [l["kind"] for l in r["layers"]] == ["adder"] * 4
    assert r["multipliers"] == {"mac_array": 0, "postproc": 0} and r["mac_rows"] == 0
    assert r["requant"] == "shift" and r["first_last"] == "adder" and r["shift_terms"] == 2
    assert "--first-last adder --requant shift" in r["command"] and "MAC" not in r["engine"]
    # one lane is the flows' default (DEFAULT_POST_LANES), so only one lane per column is recorded
    assert r["post_lanes"] == (post_lanes or 2) and ("--post-lanes 0" in r["command"]) == (post_lanes == 0)
    assert "--post-lanes 1" not in r["command"]


def test_the_cnn_twin_keeps_its_multipliers(capsys):
    assert main(["engine", "--pe", "mac", "--requant", "shift"]) == 2
    assert "the CNN twin keeps its multipliers" in capsys.readouterr().err


def test_the_engine_command_runs_a_qat_per_group_program_with_the_per_tile_shift(tmp_path, monkeypatch):
    """--quant qat-group: QAT with one scale per --group channels, run with the per-tile input shift;
    bit-exact and cycle-exact, and the result says how it was quantised."""
    monkeypatch.setenv("ADDERHW_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    rc = main(["engine", "--network", "digits", "--sim", "amaranth", "--images", "2", "--width", "4",
               "--rows", "2", "--cols", "2", "--first-last", "adder", "--requant", "shift", "--quant", "qat-group",
               "--group", "2", "--qat-epochs", "1", "--out", str(out)])
    assert rc == 0
    r = json.loads((out / "engine.json").read_text())
    assert r["bit_exact"] is True and r["cycles_match_model"] is True and r["hw_correct"] == r["golden_correct"]
    assert r["quant"] == "qat-group" and r["group"] == 2 and r["tile_shift"] is True
    assert "--quant qat-group --group 2 --qat-epochs 1" in r["command"] and "per-tile input shift" in r["engine"]


@pytest.mark.parametrize("args,msg", [
    (["--pe", "mac", "--quant", "qat"], "quant 'qat' applies to the AdderNet"),
    (["--group", "-1"], "group must be"),
    (["--qat-epochs", "0"], "qat_epochs must be"),
    (["--cols", "4", "--post-lanes", "3"], "post_lanes must divide the array's 4 columns (1 to 4, or 0 for 4), not 3"),
    (["--cols", "4", "--post-lanes", "8"], "post_lanes must be"),
])
def test_the_engine_command_refuses_bad_quantisation_options(args, msg, capsys):
    assert main(["engine", *args]) == 2
    err = capsys.readouterr().err
    assert msg in err and "Traceback" not in err


def test_the_flows_default_to_one_post_processing_lane():
    """The default chosen from adderhw bench lanes (base.engine.DEFAULT_POST_LANES): one lane."""
    from adderhw.cli import build_parser
    parser = build_parser()
    for argv in (["engine"], ["run", "--port", "sim"], ["build", "--top", "engine", "--board", "icebreaker",
                                                       "--out", "x"], ["bench", "engine-fmax"]):
        assert parser.parse_args(argv).post_lanes == 1, argv


@pytest.mark.parametrize("argv, message", [
    (["engine", "--rows", "0"], "rows must be an integer from 1 to 64, not 0"),
    (["engine", "--cols", "65"], "cols must be an integer from 1 to 64, not 65"),
    (["engine", "--width", "17"], "width must be an integer from 2 to 16, not 17"),
    (["engine", "--mac-rows", "9"], "mac_rows must be an integer from 0 to 8, not 9"),
    (["build", "--top", "engine", "--board", "icebreaker", "--rows", "100", "--out", "o"],
     "rows must be an integer from 1 to 64, not 100"),
    (["run", "--port", "sim", "--cols", "0"], "cols must be an integer from 1 to 64, not 0"),
    (["build", "--top", "engine", "--board", "icebreaker", "--sad-stage", "operands", "--out", "o"],
     "--sad-stage operands applies to --top array only"),
    (["build", "--top", "engine", "--board", "icebreaker", "--skew", "memory", "--out", "o"],
     "--skew memory applies to --top array only"),
    (["build", "--top", "engine", "--board", "icebreaker", "--pe", "mac", "--mul-stages", "2", "--out", "o"],
     "--mul-stages 2 applies to --top array only"),
    (["verilog", "--dataflow", "broadcast", "--skew", "memory", "-o", "a.v"],
     "skew applies to the systolic dataflow only; a broadcast array has no skew and takes 'registers', not 'memory'"),
])
def test_a_bad_array_shape_is_refused_before_any_model_is_trained_or_loaded(argv, message, capsys, monkeypatch,
                                                                            tmp_path):
    import adderhw.golden.network_program as network_program

    def no_model(*args, **kwargs):
        raise AssertionError("a model was trained or loaded before the parameters were checked")
    # every flow reaches its model through network_program, which calls this name
    monkeypatch.setattr(network_program, "trained_network", no_model)
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_mac_rows_is_checked_only_where_a_mac_array_is_built():
    """The default --mac-rows 2 must not refuse a one-row all-adder engine (it has no MAC array), while
    an AdderNet with multiplier first and last layers still needs mac_rows <= rows, and no network
    takes a negative one."""
    from adderhw.engine import EngineRunConfig
    EngineRunConfig(network="digits", rows=1, cols=1, mac_rows=2, first_last="adder", requant="shift")
    with pytest.raises(BadParameter, match="mac_rows must be an integer from 0 to 1, not 2"):
        EngineRunConfig(network="digits", rows=1, cols=1, mac_rows=2)
    with pytest.raises(BadParameter, match="mac_rows must be an integer of at least 0, not -1"):
        EngineRunConfig(network="digits", rows=1, cols=1, mac_rows=-1, first_last="adder")


def test_the_board_flow_loads_a_built_in_network():
    """adderhw run --network ...: the board flow's config has no --epochs of its own, and the
    workload takes the network's default (this raised AttributeError before)."""
    from adderhw.engine import workload
    from adderhw.run import BoardRunConfig
    cfg = BoardRunConfig(port="sim", network="digits", rows=1, cols=1, first_last="adder", requant="shift",
                         dataflow="broadcast", images=2)
    w = workload(cfg, progress=lambda *a: None)
    assert w.program.width == 8 and {step.op for step in w.program.layers} == {"add"}
    assert len(w.x) == 449 and cfg.engine_flags.endswith("--dataflow broadcast")


@pytest.mark.parametrize("argv", [["engine", "--dataflow", "diagonal"], ["run", "--port", "sim", "--dataflow", "diagonal"],
                                  ["compare-boards", "--dataflow", "diagonal"]])
def test_an_unknown_dataflow_is_refused_by_the_parser(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "argument --dataflow: invalid choice: 'diagonal'" in err
    assert "Traceback" not in err


def test_run_on_the_simulated_board_with_a_built_in_network(tmp_path):
    """``adderhw run --port sim --network digits`` end to end, as the README shows it (it raised
    AttributeError for a while and no test noticed): the committed digits weights, a 2x1 broadcast
    engine on Verilator behind the UART link, three images. The board's correct count and cycles are
    held to the golden program and the cycle model, computed here apart from the flow."""
    import subprocess
    import sys

    import numpy as np

    from adderhw.engine import workload
    from adderhw.golden.compiler import quantize_images
    from adderhw.golden.network_program import engine_for
    from adderhw.golden.program import run_program
    from adderhw.run import BoardRunConfig
    argv = ["run", "--port", "sim", "--network", "digits", "--rows", "2", "--cols", "1", "--first-last", "adder",
            "--requant", "shift", "--images", "3", "--dataflow", "broadcast", "--out", str(tmp_path)]
    p = subprocess.run([sys.executable, "-m", "adderhw", *argv], capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr
    r = json.loads((tmp_path / "run.json").read_text())
    cfg = BoardRunConfig(port="sim", network="digits", rows=2, cols=1, first_last="adder", requant="shift",
                         dataflow="broadcast", images=3)
    w = workload(cfg, progress=lambda *a: None)
    golden = run_program(w.program, quantize_images(w.program, w.x)[:3])
    assert r["images"] == 3 and r["golden_correct"] == int(np.sum(golden.classes == w.y[:3]))
    assert r["correct"] == r["golden_correct"] and r["classes_equal_golden"] is True
    engine = engine_for(w.program, 2, 1, "sad", 2, 1, dataflow="broadcast")
    assert r["cycles_per_batch"] == [engine_cycles(engine, w.program)["total"]]    # every batch's, as a set
    assert "2x1 broadcast SAD" in r["engine"] and "Traceback" not in p.stderr
