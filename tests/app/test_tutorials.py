"""The tutorials' files and commands run as written (docs/tutorials/)."""
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

from adderhw.cli import main

TUTORIALS = Path(__file__).resolve().parents[2] / "docs" / "tutorials"


def _files(page):
    """{title: code} of the page's ```python title="..." blocks."""
    return dict(re.findall(r'```python title="([^"]+)"\n(.*?)```', page, re.S))


def _commands(page):
    """The page's ```sh blocks' lines, in order."""
    return [line for block in re.findall(r"```sh\n(.*?)```", page, re.S) for line in block.splitlines() if line]


def test_bring_your_own_model_trains_compiles_and_runs_bit_exact(tmp_path, monkeypatch, capsys):
    page = (TUTORIALS / "bring-your-own-model.md").read_text()
    files = _files(page)
    assert set(files) == {"mynet.py", "train.py"}
    for name, code in files.items():
        (tmp_path / name).write_text(code)
    commands = _commands(page)
    assert commands[0] == "python train.py"
    r = subprocess.run([sys.executable, "train.py"], cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    float_acc = float(r.stdout.split(":")[-1])
    assert float_acc > 0.85, r.stdout           # eight epochs give about 0.94 here
    monkeypatch.chdir(tmp_path)
    compile_cmd = shlex.split(commands[1])
    assert compile_cmd[:2] == ["adderhw", "compile"]
    assert main(compile_cmd[1:]) == 0
    err = capsys.readouterr().err
    program_acc = float(re.search(r"the 8-bit program ([\d.]+) %", err).group(1)) / 100
    assert program_acc > 0.85, err
    engine_cmd = shlex.split(commands[2])
    assert engine_cmd[:4] == ["adderhw", "engine", "--program", "mynet.npz"]
    # step 4 on Amaranth's simulator, two images on a 2x2 array (the page runs 64 on Verilator)
    assert main(["engine", "--program", "mynet.npz", "--data", "test.npz", "--rows", "2", "--cols", "2",
                 "--sim", "amaranth", "--images", "2", "--out", "out/mynet"]) == 0
    res = json.loads((tmp_path / "out/mynet/engine.json").read_text())
    assert res["bit_exact"] is True and res["cycles_match_model"] is True
    assert res["hw_correct"] == res["golden_correct"] and res["images"] == 2
