"""The console script: subcommands answer --help, and bad input exits non-zero with one sentence."""
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
