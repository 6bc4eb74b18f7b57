"""The console script: subcommands answer --help, and bad input exits non-zero with one sentence."""
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from tests.sim.test_cocotb import wrong_expectation  # noqa: F401 (a fixture)
from tests.sim.test_waves import is_fst, is_vcd

ROOT = Path(__file__).resolve().parents[2]


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "adderhw", *args], capture_output=True, text=True,
                          env=None if env is None else {**os.environ, **env})


def refused(r, msg):
    """Exit status 2, the message, and no traceback."""
    return r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr


def test_version_is_the_distribution_version():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    r = run("--version")
    assert r.returncode == 0 and r.stdout == f"adderhw {version}\n"


def test_help_on_every_subcommand():
    top = run("--help")
    assert top.returncode == 0 and "demo" in top.stdout and "bench" in top.stdout
    for cmd in (["demo"], ["bench"], ["bench", "golden"]):
        r = run(*cmd, "--help")
        assert r.returncode == 0 and r.stdout.startswith("usage: adderhw " + " ".join(cmd))


@pytest.mark.slow
def test_demo_reports_bit_exact_pass():
    r = run("demo", "--seed", "3")
    assert r.returncode == 0, r.stderr
    assert "golden == reference bit for bit: PASS" in r.stdout


@pytest.mark.parametrize("args,msg", [
    (["bench", "golden", "--repeats", "0"], "--repeats: must be a positive integer, not 0"),
    (["bench", "nothing"], "invalid choice: 'nothing'"),
])
def test_bad_arguments_exit_nonzero_without_traceback(args, msg):
    r = run(*args)
    assert r.returncode == 2
    assert msg in r.stderr
    assert "Traceback" not in r.stderr


def test_simulate_reports_pass_and_cycles():
    r = run("simulate", "--sim", "amaranth", "--rows", "2", "--cols", "3", "--t", "5", "--k", "7", "--p", "4",
            "--seed", "2")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("PASS") and "cycles (equals the cycle model)" in r.stdout


def test_simulate_exits_nonzero_on_a_mismatch(wrong_expectation, capsys):
    # golden's expectation corrupted (the fixture, so in this process): the cocotb test catches it
    from adderhw.cli import main
    code = main(["simulate", "--sim", "icarus", "--rows", "2", "--cols", "2", "--t", "2", "--k", "3", "--p", "2"])
    out = capsys.readouterr().out
    assert code == 1
    assert out.startswith("FAIL") and "differs from golden" in out


@pytest.mark.parametrize("args,msg", [
    (["simulate", "--k", "0"], "K must be an integer of at least 1, not 0"),
    (["simulate", "--stall-prob", "1.5"], "--stall-prob must be at least 0 and below 1, not 1.5"),
    (["simulate", "--k", "20", "--k-max", "10"], "K must be an integer from 1 to 10"),
    (["simulate", "--sim", "spice"], "invalid choice: 'spice'"),
    (["simulate", "--width", "1"], "width must be an integer from 2 to 16, not 1"),
    (["simulate", "--seed", "-1"], "argument --seed: must be a non-negative integer, not -1"),
    (["simulate", "--driver", "cocotb"],
     "driver 'cocotb' applies to the Verilog backends (icarus, verilator) only; Amaranth's simulator drives the "
     "streams itself"),
    (["simulate", "--waves", "run.fst"],
     "--waves names 'run.fst', but amaranth's simulator writes VCD only; name a .vcd file"),
    (["simulate", "--sim", "icarus", "--waves", "run.wav"], "--waves must name a .vcd or .fst file, not 'run.wav'"),
])
def test_simulate_bad_arguments(args, msg):
    r = run(*args)
    assert refused(r, msg), r.stderr


@pytest.mark.parametrize("sim", ["amaranth", "icarus", "verilator"])
@pytest.mark.parametrize("option", ["--waves", "--json"])
def test_simulate_refuses_an_output_file_in_a_missing_directory_on_every_backend(sim, option, tmp_path):
    path = tmp_path / "missing" / ("run.vcd" if option == "--waves" else "run.json")
    r = run("simulate", "--sim", sim, option, str(path))
    assert refused(r, f"{option} names '{path}', whose directory '{path.parent}' does not exist"), r.stderr
    assert not path.parent.exists()


@pytest.mark.parametrize("sim,fmt", [("amaranth", "vcd"), ("icarus", "fst"), ("verilator", "fst"), ("verilator", "vcd")])
def test_simulate_writes_the_waves_the_name_asks_for(sim, fmt, tmp_path):
    path = tmp_path / f"run.{fmt}"
    r = run("simulate", "--sim", sim, "--rows", "1", "--cols", "2", "--width", "4", "--t", "1", "--k", "2", "--p", "2",
            "--waves", str(path))
    assert r.returncode == 0, r.stderr
    assert (is_fst if fmt == "fst" else is_vcd)(path.read_bytes())


@pytest.fixture
def operand_files(tmp_path):
    rng = np.random.default_rng(0)
    files = {"a": rng.integers(-128, 128, (3, 20)), "b": rng.integers(-128, 128, (20, 2)),
             "floats": np.ones((3, 20)), "vector": np.ones(5, dtype=np.int64)}
    for name, arr in files.items():
        np.save(tmp_path / f"{name}.npy", arr)
    (tmp_path / "text.npy").write_text("1 2 3\n")
    (tmp_path / "sub").mkdir()
    return tmp_path


def test_simulate_takes_t_k_p_and_k_max_from_the_operand_files(operand_files):
    d = operand_files
    out = d / "report.json"
    r = run("simulate", "--a", str(d / "a.npy"), "--b", str(d / "b.npy"), "--json", str(out))
    assert r.returncode == 0, r.stderr
    assert "T=3 K=20 P=2" in r.stdout and "K <= 20" in r.stdout
    doc = json.loads(out.read_text())
    assert (doc["T"], doc["K"], doc["P"], doc["passed"], doc["mismatches"]) == (3, 20, 2, True, 0)
    assert doc["cycles"] == doc["model_cycles"]


@pytest.mark.parametrize("a,extra,msg", [
    ("missing.npy", [], "--a names '{d}/missing.npy', which does not exist"),
    ("text.npy", [], "--a names '{d}/text.npy', which is not a .npy file (write it with numpy.save)"),
    ("floats.npy", [], "--a '{d}/floats.npy' must hold integers, not float64 values"),
    ("vector.npy", [], "--a '{d}/vector.npy' must hold a 2-D array, not one of shape (5,)"),
    ("sub", [], "--a names '{d}/sub', which is a directory, not a .npy file"),
    ("a.npy", ["--k", "20"], "--k 20 cannot be combined with --a and --b, whose shapes give T, K and P"),
])
def test_simulate_refuses_bad_operand_files(operand_files, a, extra, msg):
    d = operand_files
    r = run("simulate", "--a", str(d / a), "--b", str(d / "b.npy"), *extra)
    assert refused(r, msg.format(d=d)), r.stderr


def test_simulate_needs_both_operand_files(operand_files):
    r = run("simulate", "--a", str(operand_files / "a.npy"))
    assert refused(r, "give both --a and --b, or neither (then random operands are drawn)")


def test_compare_writes_json_markdown_and_png(tmp_path):
    r = run("compare", "--network", "lenet5", "--rows", "4", "--cols", "4", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "| **total** |" in r.stdout
    doc = __import__("json").loads((tmp_path / "compare.json").read_text())
    assert doc["network"] == "lenet5" and doc["totals"]["addernet"]["cycles"] > 0
    assert (tmp_path / "compare.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "compare.md").read_text().startswith("lenet5")


@pytest.mark.parametrize("content,msg", [
    ('{"layers": [{"name": "a", "op": "add", "cin": 2, "cout": 3}]}', "layers[0] (a).kernel is missing"),
    ('{"layers": [', "is not valid JSON"),
])
def test_compare_bad_network_file(tmp_path, content, msg):
    path = tmp_path / "net.json"
    path.write_text(content)
    r = run("compare", "--network", str(path))
    assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr


def test_compare_bad_report(tmp_path):
    path = tmp_path / "report.json"
    path.write_text('{"config": {"pe": "sad", "rows": 8, "cols": 8, "width": 8}}')
    r = run("compare", "--sad-report", str(path))
    assert r.returncode == 2 and "has no positive fmax_mhz" in r.stderr


@pytest.mark.parametrize("option, config, msg", [
    ("--sad-report", {"pe": "sad", "rows": 4, "cols": 4, "width": 8},
     "--sad-report describes a 4x4 SAD array at 8 bits, but the compared design is an 8x8 SAD array at 8 bits"),
    ("--mac-report", {"pe": "sad", "rows": 8, "cols": 8, "width": 8},
     "--mac-report describes an 8x8 SAD array at 8 bits, but the compared design is an 8x8 MAC array at 8 bits"),
    ("--sad-report", {"pe": "sad", "rows": 8, "cols": 8, "width": 6}, "8x8 SAD array at 6 bits"),
])
def test_compare_refuses_a_report_of_another_array(tmp_path, option, config, msg):
    path = tmp_path / "report.json"
    path.write_text(json.dumps({"config": config, "fmax_mhz": 100.0}))
    r = run("compare", option, str(path))
    assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr


def test_compare_accepts_the_report_of_its_array(tmp_path):
    path = tmp_path / "report.json"
    path.write_text(json.dumps({"config": {"pe": "sad", "rows": 16, "cols": 8, "width": 8}, "fmax_mhz": 150.0}))
    r = run("compare", "--network", "lenet5", "--sad-rows", "16", "--sad-report", str(path))
    assert r.returncode == 0, r.stderr
    assert "150" in r.stdout


@pytest.mark.parametrize("args,msg", [
    (["demo", "digits", "--epochs", "0"], "--epochs must be a positive integer, not 0"),
    (["demo", "digits", "--hw-width", "1"], "width must be an integer from 2 to 16, not 1"),
    (["demo", "cifar"], "invalid choice: 'cifar'"),
    (["demo", "--epochs", "5"], "--epochs 5 applies to 'adderhw demo digits' only, not to the quick demo"),
    (["demo", "quick", "--verilog-backend", "icarus"],
     "--verilog-backend icarus applies to 'adderhw demo digits' only, not to the quick demo"),
    (["demo", "--small-batch", "2"], "--small-batch 2 applies to 'adderhw demo digits' only, not to the quick demo"),
    (["demo", "--seed", "-2"], "argument --seed: must be a non-negative integer, not -2"),
    (["demo", "digits", "--small-batch", "450"],
     "small_batch must be from 1 to 449 (the test set has 449 images), not 450"),
    (["demo", "digits", "--verilog-batch", "500"],
     "verilog_batch must be from 0 to 449 (the test set has 449 images; 0 means all of them), not 500"),
])
def test_demo_digits_bad_arguments(args, msg):
    r = run(*args)
    assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("args,msg", [
    (["sweep", "--board", "icebreaker", "--pe", "adder"], "--pe must list sad and/or mac (or the kinds sad, mac, mac+dsp, mac+lut), not 'adder'"),
    (["sweep", "--board", "icebreaker", "--max-pes", "0"], "--max-pes must be a positive integer, not 0"),
    (["sweep", "--board", "icebreaker", "--start-pes", "0"], "--start-pes must be a positive integer, not 0"),
    (["sweep", "--board", "de10"], "board must be one of icebreaker, hx8k, ulx3s-85f, orangecrab-25f, not 'de10'"),
    (["bench", "pe", "--sizes", "1,2"], "--sizes must be at least three increasing positive integers, not '1,2'"),
    (["bench", "pe", "--boards", "icebreaker,de10"], "board must be one of"),
    (["sweep", "--board", "icebreaker", "--bound", "speed"], "argument --bound: invalid choice: 'speed'"),
])
def test_board_commands_refuse_bad_arguments_before_building(args, msg):
    r = run(*args)
    assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr


#: tools that fail at once, so that a refusal that did not happen cannot start a long build
NO_TOOLS = {"YOSYS": "false", "NEXTPNR_ICE40": "false", "ICEPACK": "false", "NEXTPNR_ECP5": "false",
            "ECPPACK": "false"}


@pytest.mark.parametrize("args,msg", [
    (["build", "--board", "icebreaker", "--pe", "sad", "--dsp"],
     "--dsp applies to MAC arrays only (a SAD PE has no multiplier), not to --pe sad"),
    (["build", "--board", "icebreaker", "--no-dsp"],
     "--no-dsp applies to MAC arrays only (a SAD PE has no multiplier), not to --pe sad"),
    (["build", "--board", "icebreaker", "--mul-stages", "2"], "--mul-stages 2 applies to MAC arrays only, not to --pe sad"),
    (["build", "--board", "icebreaker", "--pe", "mac", "--sad-stage", "operands"],
     "--sad-stage operands applies to SAD arrays only, not to --pe mac"),
    (["build", "--board", "icebreaker", "--seed", "-1"], "--seed must list integers of at least 0, not '-1'"),
    (["build", "--board", "icebreaker", "--breakdown"], "--breakdown applies to --top engine, not --top array"),
])
def test_build_refuses_options_that_do_not_apply(args, msg, tmp_path):
    r = run(*args, "--out", str(tmp_path / "b"), env=NO_TOOLS)
    assert refused(r, msg), r.stderr
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("args", [
    ["compare", "--network", "lenet5", "--out"],
    ["build", "--board", "icebreaker", "--pe", "mac", "--out"],
    ["demo", "--out"],
    ["demo", "digits", "--out"],
    ["sweep", "--board", "icebreaker", "--out"],
    ["sweep", "--board", "icebreaker", "--build-dir"],
    ["bench", "pe", "--out"],
    ["bench", "fmax", "--build-dir"],
    ["bench", "sim", "--out"],
    ["bench", "golden", "--out"],
])
def test_an_output_directory_that_is_a_file_is_refused_before_any_work(args, tmp_path):
    path = tmp_path / "results.txt"
    path.write_text("keep me\n")
    r = run(*args, str(path), env=NO_TOOLS)
    assert refused(r, f"{args[-1]} names '{path}', which is a file, not a directory"), r.stderr
    assert path.read_text() == "keep me\n"


def test_an_output_directory_below_a_file_is_refused(tmp_path):
    path = tmp_path / "results.txt"
    path.write_text("")
    r = run("compare", "--network", "lenet5", "--out", str(path / "sub"))
    assert refused(r, f"--out names '{path / 'sub'}', but '{path}' is a file, not a directory")
