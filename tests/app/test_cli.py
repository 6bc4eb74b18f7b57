"""The console script: subcommands answer --help, and bad input exits non-zero with one sentence."""
import json
import subprocess
import sys

import pytest


def run(*args):
    return subprocess.run([sys.executable, "-m", "adderhw", *args], capture_output=True, text=True)


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


def test_simulate_exits_nonzero_on_a_mismatch(monkeypatch):
    # the scoreboard switch corrupts golden's expectation inside the cocotb test
    r = subprocess.run([sys.executable, "-m", "adderhw", "simulate", "--sim", "icarus", "--rows", "2", "--cols", "2",
                        "--t", "2", "--k", "3", "--p", "2"], capture_output=True, text=True,
                       env={**__import__("os").environ, "ADDERHW_BREAK_SCOREBOARD": "1"})
    assert r.returncode == 1
    assert r.stdout.startswith("FAIL") and "differs from golden" in r.stdout


@pytest.mark.parametrize("args,msg", [
    (["simulate", "--k", "0"], "K must be an integer of at least 1, not 0"),
    (["simulate", "--stall-prob", "1.5"], "--stall-prob must be at least 0 and below 1, not 1.5"),
    (["simulate", "--k", "20", "--k-max", "10"], "K must be an integer from 1 to 10"),
    (["simulate", "--sim", "spice"], "invalid choice: 'spice'"),
    (["simulate", "--width", "1"], "width must be an integer from 2 to 16, not 1"),
])
def test_simulate_bad_arguments(args, msg):
    r = run(*args)
    assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr


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
     "--sad-report describes a 4x4 SAD array at 8 bits, but the compared design is a 8x8 SAD array at 8 bits"),
    ("--mac-report", {"pe": "sad", "rows": 8, "cols": 8, "width": 8},
     "--mac-report describes a 8x8 SAD array at 8 bits, but the compared design is a 8x8 MAC array at 8 bits"),
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
])
def test_demo_digits_bad_arguments(args, msg):
    r = run(*args)
    assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("args,msg", [
    (["sweep", "--board", "icebreaker", "--pe", "adder"], "--pe must list sad and/or mac (or the kinds sad, mac, mac+dsp), not 'adder'"),
    (["sweep", "--board", "icebreaker", "--max-pes", "0"], "--max-pes must be a positive integer, not 0"),
    (["sweep", "--board", "de10"], "board must be one of icebreaker, hx8k, ulx3s-85f, orangecrab-25f, not 'de10'"),
    (["bench", "pe", "--sizes", "1,2"], "--sizes must be at least three increasing positive integers, not '1,2'"),
    (["bench", "pe", "--boards", "icebreaker,de10"], "board must be one of"),
])
def test_board_commands_refuse_bad_arguments_before_building(args, msg):
    r = run(*args)
    assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr
