"""adderhw regress: random GEMM cases, seeded, checked against golden and the cycle model."""
import json
import subprocess
import sys

import pytest

from adderhw.base.errors import BadParameter
from adderhw.regress import draw_cases, regress_gemm


def test_a_seed_names_the_same_cases_and_they_cover_both_pes_and_both_stall_modes():
    cases = draw_cases(30, seed=5)
    assert cases == draw_cases(30, seed=5) and cases != draw_cases(30, seed=6)
    assert {c["pe"] for c in cases} == {"sad", "mac"}
    assert any(c["stall_prob"] == 0 for c in cases) and any(c["stall_prob"] > 0 for c in cases)
    for c in cases:
        lo, hi = -(1 << (c["width"] - 1)), (1 << (c["width"] - 1)) - 1
        values = [v for row in c["a"] + c["b"] for v in row]
        assert lo <= min(values) and max(values) <= hi and c["k"] <= c["k_max"]
        assert len(c["a"]) == c["t"] and len(c["b"]) == c["k"] and len(c["b"][0]) == c["p"]


def test_every_case_passes_on_the_local_pool():
    r = regress_gemm(cases=6, seed=1, jobs=2)
    assert r["passed"] == 6 and r["failed"] == 0 and r["complete"]
    for x in r["results"]:
        if x["stall_prob"] == 0:
            assert x["cycles"] == x["model_cycles"]
        else:
            assert x["cycles"] > x["model_cycles"]


def test_a_broken_drain_fails_the_regression(tmp_path):
    # with a deliberate design bug the cases of more than one row must fail, and the exit code says so
    r = subprocess.run([sys.executable, "-m", "adderhw", "regress", "--cases", "6", "--seed", "1", "--out", "o",
                        "--mutate", "drain-skips-row"], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    doc = json.loads((tmp_path / "o" / "regress.json").read_text())
    assert doc["failed"] >= 1 and "FAIL" in r.stdout
    assert doc["mutation"] == "drain-skips-row" and "on amaranth, MUTATION drain-skips-row (seed 1)" in r.stdout
    assert all(not x["passed"] for x in doc["results"] if x["rows"] > 1 and x["t"] > 1)
    assert not (tmp_path / "o" / "regress.partial.json").exists()


@pytest.mark.parametrize("kwargs, message", [
    ({"cases": 0}, "cases must be a positive integer (or a list of drawn cases), not 0"),
    ({"cases": 2, "backend": "spice"}, "backend must be one of amaranth, icarus, verilator, not 'spice'"),
    ({"cases": 2, "mutation": "acc-long"},
     "mutation must be one of acc-short, drain-skips-row, ready-ignores-backpressure, not 'acc-long'"),
])
def test_bad_input_is_one_sentence(kwargs, message):
    with pytest.raises(BadParameter) as e:
        regress_gemm(**kwargs)
    assert str(e.value) == message


def test_the_cli_refuses_zero_cases(tmp_path):
    r = subprocess.run([sys.executable, "-m", "adderhw", "regress", "--cases", "0"], capture_output=True, text=True,
                       cwd=tmp_path)
    assert r.returncode == 2 and "must be a positive integer, not 0" in r.stderr and "Traceback" not in r.stderr


def test_the_cli_refuses_an_unknown_mutation(tmp_path):
    r = subprocess.run([sys.executable, "-m", "adderhw", "regress", "--mutate", "acc-long"], capture_output=True,
                       text=True, cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "argument --mutate: invalid choice: 'acc-long' (choose from 'acc-short', 'drain-skips-row'" in r.stderr
