import json
import re
import subprocess
import sys

import adderhw
from pathlib import Path

import pytest

from adderhw.golden import AdderhwError
from adderhw.hw import ArrayConfig, generate_verilog
from adderhw.hw.verilog import VERILATOR_WAIVERS
from adderhw.sim.toolchain import LintError, lint_verilog


def test_output_is_deterministic_and_has_no_paths():
    cfg = ArrayConfig(rows=2, cols=3, width=5, k_max=9)
    a, b = generate_verilog(cfg), generate_verilog(cfg)
    assert a == b
    here = str(Path(__file__).resolve().parents[2])
    assert here not in a and "src =" not in a and "module adder_array" in a
    assert ".py:" not in a                  # no source locations of any kind


@pytest.mark.parametrize("cfg", [ArrayConfig(rows=3, cols=2, width=8, k_max=144),
                                 ArrayConfig(rows=2, cols=2, width=16, k_max=1152, pe="mac", mul_stages=3),
                                 ArrayConfig(rows=1, cols=1, width=2, k_max=1)])
def test_passes_verilator_lint_with_only_the_named_waivers(cfg, tmp_path):
    path = tmp_path / "adder_array.v"
    path.write_text(generate_verilog(cfg))
    lint_verilog(path, VERILATOR_WAIVERS)


def test_lint_catches_what_is_not_waived(tmp_path):
    # the same file without the waivers must fail: the waivers are needed and the check can fail
    path = tmp_path / "adder_array.v"
    path.write_text(generate_verilog(ArrayConfig(rows=2, cols=2, width=4, k_max=4)))
    with pytest.raises(LintError, match="WIDTHEXPAND|UNUSEDSIGNAL|PROCASSINIT"):
        lint_verilog(path, ())


def test_bad_module_name():
    with pytest.raises(AdderhwError, match="name must be a Verilog identifier"):
        generate_verilog(ArrayConfig(), name="1top")


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "adderhw", *args], capture_output=True, text=True)


def test_cli_writes_verilog_and_summary(tmp_path):
    out = tmp_path / "a.v"
    r = run_cli("verilog", "--rows", "2", "--cols", "3", "--width", "8", "--k-max", "144",
                "--pe", "mac", "-o", str(out), "--name", "mac_top")
    assert r.returncode == 0, r.stderr
    assert "module mac_top" in out.read_text()
    assert "accumulator 23 bits signed; PE latency 2 cycles" in r.stdout
    assert out.read_text() == generate_verilog(ArrayConfig(rows=2, cols=3, width=8, k_max=144, pe="mac"),
                                               name="mac_top")


def test_cli_writes_a_json_record_that_matches_the_verilog(tmp_path):
    out = tmp_path / "a.v"
    r = run_cli("verilog", "--rows", "2", "--cols", "3", "--width", "8", "--k-max", "144",
                "--pe", "mac", "--mul-stages", "2", "-o", str(out), "--name", "mac_top")
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""                                   # no UnusedElaboratable at exit
    rec = json.loads((tmp_path / "a.json").read_text())
    assert rec["generator"] == "adderhw" and rec["version"] == adderhw.__version__ and rec["top"] == "mac_top"
    assert rec["config"] == {"rows": 2, "cols": 3, "width": 8, "k_max": 144, "pe": "mac", "mul_stages": 2}
    assert rec["derived"]["acc_width"] == 23 and rec["derived"]["acc_signed"] is True
    assert rec["derived"]["pe_stages"] == 3
    # every port, with direction and width, as the Verilog declares it
    full = out.read_text()
    start = full.index("module mac_top(")
    text = full[start:full.index("endmodule", start)]
    declared = {}
    for m in re.finditer(r"^\s*(input|output)\s+(?:wire\s+|reg\s+)?(?:\[(\d+):0\]\s+)?(\w+);", text, re.M):
        declared[m.group(3)] = (m.group(1)[:-3] if m.group(1) == "output" else "in",
                                int(m.group(2)) + 1 if m.group(2) else 1)
    assert {p["name"]: (p["dir"], p["width"]) for p in rec["ports"]} == declared
    # payload layouts: lanes packed LSB first, then `last`
    f = rec["payloads"]["i_filter"]
    assert [(x["field"], x["lsb"], x["width"], x["signed"]) for x in f] == [("lane[0]", 0, 8, True),
                                                                            ("lane[1]", 8, 8, True)]
    o = rec["payloads"]["o_sum"]
    assert [x["lsb"] for x in o] == [0, 23, 46, 69] and o[-1]["field"] == "last" and o[0]["signed"]
    assert sum(x["width"] for x in o) == declared["o_sum__payload"][1]


def test_cli_skew_in_memory_reaches_the_verilog_and_the_record(tmp_path):
    out = tmp_path / "a.v"
    r = run_cli("verilog", "--rows", "5", "--cols", "4", "--k-max", "16", "--skew", "memory", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert out.read_text() == generate_verilog(ArrayConfig(rows=5, cols=4, k_max=16, skew="memory"))
    assert out.read_text() != generate_verilog(ArrayConfig(rows=5, cols=4, k_max=16))
    rec = json.loads((tmp_path / "a.json").read_text())
    assert rec["config"] == {"rows": 5, "cols": 4, "width": 8, "k_max": 16, "pe": "sad", "skew": "memory"}
    assert "skew in memory" in r.stdout


def test_cli_ecp5_dsp_target_reaches_the_verilog_and_the_record(tmp_path):
    out = tmp_path / "m.v"
    r = run_cli("verilog", "--pe", "mac", "--mul-stages", "2", "--rows", "2", "--cols", "3", "--k-max", "16",
                "--target", "ecp5-dsp", "-o", str(out))
    assert r.returncode == 0, r.stderr
    cfg = ArrayConfig(rows=2, cols=3, k_max=16, pe="mac", mul_stages=2)
    assert out.read_text() == generate_verilog(cfg, target="ecp5-dsp")
    assert out.read_text().count("MULT18X18D #(") == 6
    assert json.loads((tmp_path / "m.json").read_text())["target"] == "ecp5-dsp"
    assert "MULT18X18D blocks with their own registers" in r.stdout
    r = run_cli("verilog", "--target", "xilinx", "-o", str(out))
    assert r.returncode == 2 and "argument --target: invalid choice: 'xilinx'" in r.stderr
    r = run_cli("verilog", "--target", "ecp5-dsp", "-o", str(out))          # --pe sad: nothing to change
    assert r.returncode == 2 and "--target ecp5-dsp applies to MAC arrays only" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("args,msg", [
    (["--rows", "0"], "rows must be an integer from 1 to 64, not 0"),
    (["--width", "1"], "width must be an integer from 2 to 16, not 1"),
    (["--width", "17"], "width must be an integer from 2 to 16, not 17"),
    (["--k-max", "0"], "k_max must be an integer from 1 to 1048576, not 0"),
    (["--pe", "add"], "pe must be one of 'sad', 'mac', not 'add'"),
    (["--skew", "fifo"], "argument --skew: invalid choice: 'fifo'"),
])
def test_cli_bad_config_exits_nonzero_without_traceback(args, msg, tmp_path):
    r = run_cli("verilog", *args, "-o", str(tmp_path / "x.v"))
    assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr
